"""run_dirs=: directories the core makes before each start (wrapctl-only).

An init script makes /run/NAME as root before it starts a daemon that then drops to its
user; /run is empty after a boot, and a program with user= cannot make it itself. The core
(root) makes each directory before the spawn, as `install -d -o OWNER -g GROUP -m MODE`.

    run_dirs = /run/nut root:nut 0770, /run/redis redis

Entries are separated by commas: PATH, then optionally OWNER or OWNER:GROUP, then
optionally an octal MODE. OWNER defaults to the program's user= (else root), GROUP to
OWNER's primary group, MODE to 0755. Missing parents are made root-owned 0755.
"""
from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class RunDir:
    path: str
    owner: str = ""         # "" = the program's user
    group: str = ""         # "" = the owner's primary group
    mode: int = 0o755


def parse(value: str) -> tuple[RunDir, ...]:
    """The entries of a run_dirs= value; ValueError names the bad entry."""
    out = []
    for entry in value.split(","):
        words = entry.split()
        if not words:
            raise ValueError("empty entry")
        path, rest = words[0], words[1:]
        if not path.startswith("/") or "/../" in path + "/" or path.rstrip("/") == "":
            raise ValueError(f"{path!r} is not an absolute path below /")
        mode = 0o755
        if rest and re.fullmatch(r"0?[0-7]{3,4}", rest[-1]):
            mode = int(rest.pop(), 8)
        owner = group = ""
        if rest:
            owner, _, group = rest.pop(0).partition(":")
            if not owner or not re.fullmatch(r"[\w.-]+", owner) or (
                    group and not re.fullmatch(r"[\w.-]+", group)):
                raise ValueError(f"{entry.strip()!r}: OWNER[:GROUP] is not a user name")
        if rest:
            raise ValueError(f"{entry.strip()!r}: want PATH [OWNER[:GROUP]] [MODE]")
        out.append(RunDir(os.path.normpath(path), owner, group, mode))
    return tuple(out)


def ids(d: RunDir, default_uid: Optional[int]) -> tuple[int, int]:
    """uid and gid for d; KeyError names an unknown user or group."""
    import grp
    import pwd
    if d.owner:
        pw = pwd.getpwuid(int(d.owner)) if d.owner.isdigit() else pwd.getpwnam(d.owner)
    else:
        pw = pwd.getpwuid(default_uid if default_uid is not None else os.geteuid())
    if not d.group:
        return pw.pw_uid, pw.pw_gid
    gid = int(d.group) if d.group.isdigit() else grp.getgrnam(d.group).gr_gid
    return pw.pw_uid, gid


def make(dirs: tuple[RunDir, ...], default_uid: Optional[int]) -> None:
    """Make, own and chmod each directory; OSError says which and why."""
    for d in dirs:
        try:
            uid, gid = ids(d, default_uid)
        except (KeyError, ValueError):
            raise OSError(f"couldn't make run dir {d.path}: unknown user or group "
                          f"{d.owner or default_uid}{':' + d.group if d.group else ''}")
        try:
            _make_one(d.path, uid, gid, d.mode)
        except _Refused as e:
            raise OSError(f"couldn't make run dir {d.path}: {e}") from None
        except OSError as e:
            if e.strerror is None:
                raise
            raise OSError(f"couldn't make run dir {d.path}: {e.strerror}") from None


class _Refused(Exception):
    """A component the walk will not go through (its text is the reason)."""


_DIR = os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_LINKS = 40     # as the kernel's own limit on links in one lookup


def _make_one(path: str, uid: int, gid: int, mode: int) -> None:
    """Walk down from / one component at a time through open directory fds, so a name
    swapped for a link (or a file) after it was checked is never followed: every chown and
    chmod acts on the directory the walk holds, whatever its name points at by then.

    A directory owned by a user other than root (or the core's own) lets that user rename
    and plant things under it; like systemd's "unsafe path transition", the walk refuses to
    go from such a directory to anything that will not belong to that same user. The run
    dir itself, if it already exists, must belong to root, the core, or its owner-to-be:
    one made by someone else (a squatter in /tmp) may hold their links. A link is followed
    only in a parent component and only where no one else could have made or swapped it
    (/var/run -> /run); the run dir itself is never a link."""
    me = os.geteuid()
    todo = [c for c in path.split("/") if c]
    fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    here, links = "/", 0
    try:
        owner = os.fstat(fd).st_uid
        while todo:
            name = todo.pop(0)
            last = not todo
            child = os.path.normpath(os.path.join(here, name))
            trusted = owner in (0, me)
            # Below another user's directory, only what will be that user's: checked
            # before any mkdir (a missing parent would be root's; the run dir, uid's).
            if not trusted and (uid != owner if last else _kind(fd, name) == "none"):
                raise _Refused(f"{here} is owned by {_user(owner)}")
            try:
                sub = _open_or_make(fd, name, last)
            except _Link:
                target = _trusted_link(fd, name) if not last else None
                if target is None:
                    raise _Refused(f"not a directory ({child} is a symbolic link)")
                links += 1
                if links > _MAX_LINKS:
                    raise _Refused(f"too many symbolic links ({child})")
                todo[:0] = [c for c in target.split("/") if c]
                if target.startswith("/"):
                    os.close(fd)
                    fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                    here, owner = "/", os.fstat(fd).st_uid
                continue
            except NotADirectoryError:
                raise _Refused(f"not a directory ({child})")
            os.close(fd)
            fd = sub
            sub_owner = os.fstat(fd).st_uid
            if not trusted and sub_owner != owner and not last:
                raise _Refused(f"{here} is owned by {_user(owner)}")
            if last and sub_owner not in (0, me, uid):
                raise _Refused(f"{child} is owned by {_user(sub_owner)}")
            here, owner = child, sub_owner
        st = os.fstat(fd)
        if (st.st_uid, st.st_gid) != (uid, gid):
            os.fchown(fd, uid, gid)
            st = os.fstat(fd)
        if st.st_mode & 0o7777 != mode:
            os.fchmod(fd, mode)
    finally:
        os.close(fd)


class _Link(Exception):
    """The component is a symbolic link."""


def _open_or_make(parent: int, name: str, last: bool) -> int:
    """An fd of directory `name` in `parent`, made when missing (a parent root's 0755,
    whatever the umask). Existing parents are opened O_PATH: one the core may search but
    not read is no obstacle; the run dir itself is opened for reading, as fchown/fchmod
    refuse an O_PATH fd. _Link or NotADirectoryError when something else is there."""
    flags = _DIR | (os.O_RDONLY if last else os.O_PATH)
    for _ in range(3):
        try:
            return os.open(name, flags, dir_fd=parent)
        except FileNotFoundError:
            pass
        except OSError as e:
            if e.errno not in (errno.ENOTDIR, errno.ELOOP):
                raise
            kind = _kind(parent, name)
            if kind == "link":
                raise _Link() from None
            if kind == "other":
                raise NotADirectoryError() from None
            continue        # a directory again, or gone: swapped meanwhile
        try:
            os.mkdir(name, 0o755, dir_fd=parent)
        except FileExistsError:
            continue        # made meanwhile: the open and the owner checks judge it
        fd = os.open(name, _DIR | os.O_RDONLY, dir_fd=parent)
        if not last:
            os.fchmod(fd, 0o755)
        return fd
    raise OSError(errno.EAGAIN, "it keeps changing")    # one line, next start


def _trusted_link(parent: int, name: str) -> Optional[str]:
    """The target of link `name` if only root (or the core) could have put it there: the
    link and its directory theirs, the directory writable by no one else."""
    me = os.geteuid()
    try:
        dst = os.fstat(parent)
        lst = os.lstat(name, dir_fd=parent)
        if dst.st_uid not in (0, me) or dst.st_mode & 0o022 or lst.st_uid not in (0, me):
            return None
        return os.readlink(name, dir_fd=parent)
    except OSError:
        return None


def _kind(parent: int, name: str) -> str:
    try:
        mode = os.lstat(name, dir_fd=parent).st_mode
    except FileNotFoundError:
        return "none"
    return "link" if stat.S_ISLNK(mode) else "dir" if stat.S_ISDIR(mode) else "other"


def _user(uid: int) -> str:
    import pwd
    try:
        return f"user {pwd.getpwuid(uid).pw_name}"
    except KeyError:
        return f"uid {uid}"
