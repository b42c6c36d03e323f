"""Pidfile rules, sans-IO: feed plain data (bytes, stat fields, uid), get a pid or a reason.

`read()` at the bottom is the only function touching the file system; the core can call
`parse()` and `check_meta()` on data it gathered itself.
"""
import os
import stat
from collections import namedtuple

MAX_SIZE = 64          # a pid is at most 7 digits; anything longer is not a pidfile
PID_MAX = 4194304      # Linux's hard ceiling (PID_MAX_LIMIT on 64-bit)


class Refusal:
    """Why a pidfile is not trusted (one line, completes "pidfile PATH ...")."""
    __slots__ = ("reason",)

    def __init__(self, reason):
        self.reason = reason

    def __str__(self):
        return self.reason

    def __repr__(self):
        return f"Refusal({self.reason!r})"

    def __eq__(self, other):
        return isinstance(other, Refusal) and other.reason == self.reason

    __hash__ = None


# link_uid: owner of the symlink itself (when is_symlink); mode, uid: of the file opened.
Meta = namedtuple("Meta", "is_symlink link_uid mode uid")


def check_meta(meta, euid):
    """Refusal for an untrustworthy pidfile, or None.

    A symlink owned by someone other than us or root could be re-pointed by that user at
    any file; a world-writable pidfile read by root lets anyone choose the pid root signals.
    """
    if meta.is_symlink and meta.link_uid not in (euid, 0):
        return Refusal(f"is a symlink owned by uid {meta.link_uid}, not by uid {euid} or root")
    if not stat.S_ISREG(meta.mode):
        return Refusal("is not a regular file")
    if euid == 0 and meta.mode & stat.S_IWOTH:
        return Refusal("is world-writable and the shim runs as root")
    return None


def parse(data):
    """pid from pidfile bytes, None when empty (not written yet), or a Refusal."""
    if len(data) > MAX_SIZE:
        return Refusal(f"holds {len(data)} bytes, not a pid")
    text = data.strip()
    if not text:
        return None
    # Some daemons write "pid\n" plus more lines (e.g. a port); only the first line counts.
    first = text.split(b"\n", 1)[0].strip()
    if not first.isdigit() or not first.isascii():
        shown = first[:20].decode("ascii", "backslashreplace")
        return Refusal(f"holds garbage {shown!r}, not a pid")
    pid = int(first)
    if pid == 0 or pid > PID_MAX:
        return Refusal(f"holds {pid}, not a valid pid")
    if pid == 1:
        return Refusal("names pid 1 (init)")
    return pid


# Outcome of read(): at most one of pid / refusal is set; neither means "not there yet".
# stamp = (st_dev, st_ino, st_mtime_ns, st_size) tells a rewrite from the file seen before.
Reading = namedtuple("Reading", "pid refusal stamp", defaults=(None, None, None))


def read(path, euid):
    """Open and judge the pidfile at path. Missing or empty -> Reading() (wait for it)."""
    try:
        lst = os.lstat(path)
    except FileNotFoundError:
        return Reading()
    # O_NONBLOCK: a FIFO planted at the path must not hang the shim on open().
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError:
        return Reading()
    except OSError as e:
        return Reading(refusal=Refusal(f"cannot be opened: {e.strerror}"))
    try:
        st = os.fstat(fd)
        stamp = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
        bad = check_meta(Meta(stat.S_ISLNK(lst.st_mode), lst.st_uid, st.st_mode, st.st_uid),
                         euid)
        if bad:
            return Reading(refusal=bad, stamp=stamp)
        data = os.read(fd, MAX_SIZE + 1)
    finally:
        os.close(fd)
    got = parse(data)
    if isinstance(got, Refusal):
        return Reading(refusal=got, stamp=stamp)
    return Reading(pid=got, stamp=stamp)
