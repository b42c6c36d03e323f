"""One cgroup v2 group per program, where the daemon may create them: the exact tree.

A process cannot leave its cgroup by forking, setsid() or clearing its environment, so the
group's member list is the program's whole tree with nothing guessed; tree.py's attribution
(markers, process groups, sessions) is used only where there are no groups.

Layout: <cgroup2 mount><the daemon's own cgroup>/wrapctl.<id>/<program>, where <id> comes
from the daemon's state file (or pidfile) path, so a core started again after a SIGKILL
finds the groups of the programs it re-attaches to. No controller is enabled: the groups
only track membership.

A child is put in its group before it execs, without Python code in the child: the daemon
moves itself into the group, forks, and moves back (two writes to cgroup.procs; Python 3.11
cannot pass CLONE_INTO_CGROUP). Moving after the fork would let a quick child fork outside.
"""
from __future__ import annotations

import os
import re
from typing import Optional

from wrapctl.digest import sha1

SAFE = re.compile(r"[^A-Za-z0-9_:@+=-]")


def _cgroup2_mount() -> tuple[Optional[str], str]:
    """(mount point, superblock options) of the cgroup2 hierarchy."""
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                sep = fields.index("-")
                if fields[sep + 1] == "cgroup2":
                    return fields[4], fields[sep + 3] if len(fields) > sep + 3 else ""
    except (OSError, ValueError, IndexError):
        pass
    return None, ""


def _own_cgroup() -> Optional[str]:
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                if line.startswith("0::"):
                    return line[3:].strip()
    except OSError:
        pass
    return None


def leaf_name(key: str) -> str:
    """A directory name for a process key ("group:name"); never an interface file's name
    (those all contain a dot)."""
    safe = SAFE.sub("_", key)
    if safe != key:
        safe += "-" + sha1(key.encode()).hexdigest()[:8]
    return safe


class Cgroups:
    """The daemon's groups. create() returns None where they cannot be made."""

    def __init__(self, base: str, home: str, loop, favordynmods: bool = False):
        self.base = base        # .../wrapctl.<id>
        self.home = home        # the daemon's own cgroup directory, to move back to
        self.loop = loop
        self.current: Optional[str] = None     # the group the daemon is in; None: home
        self._home_soon = False
        self._made: set[str] = set()
        # Without this mount option a migration into a group may wait for an RCU grace
        # period: 8-16 ms for a lone spawn on a busy machine (docs/architecture.md).
        self.favordynmods = favordynmods

    @classmethod
    def create(cls, ident: str, loop) -> Optional["Cgroups"]:
        (mount, options), own = _cgroup2_mount(), _own_cgroup()
        if mount is None or own is None:
            return None
        home = os.path.normpath(mount + "/" + own)
        tag = sha1(ident.encode()).hexdigest()[:12]
        base = os.path.join(home, f"wrapctl.{tag}")
        try:
            os.makedirs(base, exist_ok=True)
            probe = os.path.join(base, "probe")
            os.makedirs(probe, exist_ok=True)
            os.rmdir(probe)
            if not os.access(os.path.join(home, "cgroup.procs"), os.W_OK):
                return None
        except OSError:
            return None
        return cls(base, home, loop, "favordynmods" in options.split(","))

    def path(self, key: str) -> str:
        return os.path.join(self.base, leaf_name(key))

    def enter(self, key: str) -> Optional[str]:
        """Put the daemon in `key`'s group, so that what it forks next is born there. It
        stays there until the end of the loop pass (go_home), so the spawns of a start-up
        cost one migration each, not two; any other fork of the daemon calls go_home()
        first. The group's path, or None if it could not be entered (the daemon is then at
        home, and what it forks is followed as where there are no groups)."""
        path = self.path(key)
        if self.current != path:
            try:
                self._enter(path)
            except OSError:
                self.go_home()
                return None
        return path

    def _enter(self, path: str) -> None:
        if path not in self._made:
            os.makedirs(path, exist_ok=True)
            self._made.add(path)
        procs = os.path.join(path, "cgroup.procs")
        try:
            _write(procs, "0")
        except FileNotFoundError:       # removed behind our back: make it again
            os.makedirs(path, exist_ok=True)
            _write(procs, "0")
        self.current = path
        if not self._home_soon:
            self._home_soon = True
            self.loop.call_soon(self.go_home)

    def go_home(self) -> None:
        """Back to the daemon's own group (before a fork that is not a program's)."""
        self._home_soon = False
        if self.current is not None:
            self.current = None
            try:
                _write(os.path.join(self.home, "cgroup.procs"), "0")
            except OSError:
                pass    # the home group is gone: nowhere better to be

    def close(self) -> None:
        """Remove the groups that are empty (a group with members stays: killtree=false or
        a process that would not die)."""
        self.go_home()
        for d, _, _ in os.walk(self.base, topdown=False):    # groups below groups first
            remove(d)


def members(path: str) -> list[int]:
    """Pids in a group and in the groups a program made below it (a nested supervisor, a
    container runtime), never the daemon itself (it visits groups to fork); empty if the
    group is gone."""
    pids: list[int] = []
    for d, _, _ in os.walk(path):
        try:
            with open(os.path.join(d, "cgroup.procs")) as f:
                pids.extend(int(x) for x in f.read().split())
        except (OSError, ValueError):
            continue
    me = os.getpid()
    return [p for p in pids if p != me]


def remove(path: str) -> bool:
    try:
        os.rmdir(path)
        return True
    except OSError:
        return False


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
