"""Files the core writes at paths other users may reach: its pidfile, its state file, logs.

A core running as root often writes into a directory others can write too
(`pidfile=/tmp/supervisord.pid`, `logfile=/tmp/supervisord.log`, AUTO logs in /tmp). There a
user can plant a symlink (or a hard link, where fs.protected_hardlinks is off) at the name
root is about to open, and root then writes through it into any file. Two rules close that:

- a small file that is rewritten whole goes to a fresh mkstemp name (O_EXCL: nothing planted
  can be opened) in the same directory, gets its mode on the fd, and is renamed over the
  target (rename replaces a link, never writes through it);
- a file opened for append follows a symlink only when the link belongs to root or to us,
  and is refused when it is someone else's file with other names (a planted hard link).
"""
from __future__ import annotations

import errno
import os
import stat
import tempfile


def write_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    """Replace path by a new file holding data; OSError on failure (nothing half-written
    is left under path or under a temporary name)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def untrusted_link(path: str, euid: int | None = None) -> str | None:
    """Why opening path would write through someone else's link, or None.

    Only a link whose owner is root or us is followed: anyone else could re-point it at any
    file. /dev/stdout (root's link to /proc/self/fd/1) stays usable as a log file.
    """
    euid = os.geteuid() if euid is None else euid
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode) and st.st_uid not in (0, euid):
        return f"is a symlink owned by uid {st.st_uid}, not by root or uid {euid}"
    return None


def untrusted_file(st: os.stat_result, euid: int | None = None) -> str | None:
    """Why an opened file must not be written by us, or None: another user's regular file
    with more than one name may be a hard link they made to a file of ours."""
    euid = os.geteuid() if euid is None else euid
    if stat.S_ISREG(st.st_mode) and st.st_nlink > 1 and st.st_uid not in (0, euid):
        return f"is a hard link owned by uid {st.st_uid}"
    return None


def open_append(path: str, flags: int, mode: int = 0o666) -> int:
    """os.open(path, flags, mode) under the link rules above; a refusal is a
    PermissionError whose strerror says why."""
    why = untrusted_link(path)
    if why is not None:
        raise PermissionError(errno.EPERM, f"refused: it {why}", path)
    try:
        # Not following first: a name that is no link (the usual case) is opened with no
        # window between the look and the open.
        fd = os.open(path, flags | os.O_CLOEXEC | os.O_NOFOLLOW, mode)
    except OSError:
        # ELOOP, or EACCES where O_CREAT meets a link: a link, trusted only if it still is
        # root's or ours now.
        if not os.path.islink(path):
            raise
        why = untrusted_link(path)
        if why is not None:
            raise PermissionError(errno.EPERM, f"refused: it {why}", path) from None
        fd = os.open(path, flags | os.O_CLOEXEC, mode)
    try:
        why = untrusted_file(os.fstat(fd))
        if why is not None:
            raise PermissionError(errno.EPERM, f"refused: it {why}", path)
    except BaseException:
        os.close(fd)
        raise
    return fd
