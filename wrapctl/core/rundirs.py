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
            os.makedirs(d.path, mode=0o755, exist_ok=True)
            st = os.lstat(d.path)
            if not stat.S_ISDIR(st.st_mode):
                # A link or a file in its place: chown/chmod would act on something else.
                raise OSError(f"couldn't make run dir {d.path}: not a directory")
            if (st.st_uid, st.st_gid) != (uid, gid):
                os.lchown(d.path, uid, gid)
            if st.st_mode & 0o7777 != d.mode:
                os.chmod(d.path, d.mode)
        except OSError as e:
            if e.strerror is None:
                raise
            raise OSError(f"couldn't make run dir {d.path}: {e.strerror}") from None
