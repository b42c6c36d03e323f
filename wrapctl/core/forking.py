"""pidfile=: follow the daemon a forking COMMAND leaves behind, in the core itself.

The rules are the shim's (wrapctl.shims.pidfile, wrapctl.shims.identity): a pidfile is read
only if it is a regular file not writable by others (as root) and not a symlink owned by
someone else; the pid it names must be alive, not a zombie, inside the daemon's own process
tree and started no earlier than COMMAND. The daemon is a child subreaper, so a
double-forked daemon becomes its child and its exit status is real.

The pidfile is watched with inotify on its directory; nothing polls.
"""
from __future__ import annotations

import asyncio
import os
from typing import Optional

from wrapctl.shims import identity
from wrapctl.shims import pidfile as pidfile_rules


class Verdict:
    """What the pidfile says now: a pid to follow, a refusal, or nothing yet."""
    __slots__ = ("pid", "refusal")

    def __init__(self, pid: Optional[int] = None, refusal: Optional[str] = None):
        self.pid = pid
        self.refusal = refusal


def judge_pidfile(path: str, launcher_ticks: Optional[int], exe: Optional[str] = None) -> Verdict:
    reading = pidfile_rules.read(path, os.geteuid())
    if reading.refusal is not None:
        return Verdict(refusal=f"pidfile {path} {reading.refusal}")
    if reading.pid is None:
        return Verdict()
    snap = identity.snapshot(reading.pid)
    if snap is None:
        return Verdict()    # stale: a previous run's pid; wait for the rewrite
    why = identity.judge(reading.pid, snap, os.getpid(),
                         launcher_ticks if launcher_ticks is not None else 0, exe)
    if why is not None:
        if snap.zombie or "not running" in why:
            return Verdict()
        return Verdict(refusal=f"pidfile {path} {why.replace('the shim', 'wrapctl')}")
    return Verdict(pid=reading.pid)


class Follower:
    """One forking program's pidfile watch for the current instance."""

    def __init__(self, path: str, exe: Optional[str] = None):
        self.path = path
        self.exe = exe
        self.launcher = 0
        self.launcher_ticks: Optional[int] = None
        self.daemon = 0
        self._ino = None
        self._changed: Optional[asyncio.Event] = None

    def launched(self, pid: int) -> None:
        self.launcher = pid
        self.launcher_ticks = identity.start_ticks(pid)
        self.daemon = 0

    def verdict(self) -> Verdict:
        return judge_pidfile(self.path, self.launcher_ticks, self.exe)

    async def wait_daemon(self) -> Verdict:
        """Until the pidfile names a pid to follow, or is refused."""
        from wrapctl.core.ready import watch_file

        def decided():
            v = self.verdict()
            return v if v.pid is not None or v.refusal is not None else None
        self._changed = asyncio.Event()
        try:
            return await watch_file(self.path, decided, self._changed)
        finally:
            self._changed = None

    def poke(self) -> None:
        """Something happened (the launcher exited): look at the pidfile again."""
        if self._changed is not None:
            self._changed.set()
