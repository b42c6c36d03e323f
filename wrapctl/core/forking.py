"""pidfile=: follow the daemon a forking COMMAND leaves behind, in the core itself; and
which running process may be tied to a program at all (pidfile=, adoptRunning).

The pidfile is read with the shim's rules (wrapctl.shims.pidfile: a regular file, not
writable by others as root, no symlink owned by someone else) and the pid it names passes
the shim's identity rule (wrapctl.shims.identity: alive, not a zombie, inside the core's
process tree, started no earlier than COMMAND). On top, the core runs many programs, and a
program may be another user's: the pid must be this program instance's own (belongs()),
never a process of a sibling program. Its pidfd is opened before the checks and kept, so
the process judged is the one followed and signalled, even if the pid is reused at once.

The pidfile is watched with inotify on its directory; nothing polls.
"""
from __future__ import annotations

import asyncio
import os
import select
from collections import namedtuple
from typing import Callable, Optional

from wrapctl.core import cgroups
from wrapctl.core.spawn import SpawnError, execv_args
from wrapctl.core.tree import MARKER
from wrapctl.shims import identity, procfs
from wrapctl.shims import pidfile as pidfile_rules


class Verdict:
    """What the pidfile says now: a pid to follow (with its pidfd, which the taker owns),
    a refusal, or nothing yet."""
    __slots__ = ("pid", "refusal", "pidfd")

    def __init__(self, pid: Optional[int] = None, refusal: Optional[str] = None,
                 pidfd: Optional[int] = None):
        self.pid = pid
        self.refusal = refusal
        self.pidfd = pidfd

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


def open_pidfd(pid: int) -> tuple[Optional[int], bool]:
    """(pidfd or None, gone). No pidfd where the kernel refuses them: the caller then
    judges by pid alone, as before pidfds."""
    try:
        return os.pidfd_open(pid), False
    except ProcessLookupError:
        return None, True
    except OSError:
        return None, False


def exited(pidfd: Optional[int]) -> bool:
    """The process behind pidfd has exited (a pidfd polls readable from then on)."""
    if pidfd is None:
        return False
    return bool(select.select([pidfd], [], [], 0)[0])


# What the core knows about one program instance, to tell its processes from others'.
# cgroup: the program's group directory, when it has one; others: {pid: program name} of
# every pid another program (or a helper command) of this core holds; foreign: the process
# groups and sessions other programs' instances are known by.
Instance = namedtuple("Instance", "cgroup marker launcher groups sessions others foreign")


def belongs(pid: int, snap, inst: Instance) -> Optional[str]:
    """None when pid is one of this instance's processes, else the reason (completes
    "pidfile PATH ...").

    With a cgroup, membership is exact and nothing else counts: a daemon that clears its
    environment stays in its group, and no unprivileged program can move a process into
    a group. Without one, evidence first: the instance marker in its environment
    (inherited by all it starts, unforgeable for another user's process), a descendant of
    the launcher, the process group or session of the instance (neither can be joined from
    outside). Then by elimination, for the daemon that double-forked after its launcher
    exited and overwrote its environment with its process title (nginx does): an orphan
    re-parented to the core (the subreaper), carrying no other instance's marker and in no
    other program's process group or session. A sibling's main pid, its children and its
    marked orphans are never taken; only an orphan of a sibling that also wiped its
    environment could be, which only cgroups can tell apart.
    """
    holder = inst.others.get(pid)
    if holder is not None:
        return f"names pid {pid} ({snap.name}), which is {holder}'s"
    if inst.cgroup is not None:
        if pid in cgroups.members(inst.cgroup):
            return None
        return f"names pid {pid} ({snap.name}), which is not in the program's cgroup"
    if inst.marker is not None and procfs.environ(pid, MARKER) == inst.marker:
        return None
    if inst.launcher and inst.launcher in snap.ancestors:
        return None
    try:
        pgid, sid = os.getpgid(pid), os.getsid(pid)
    except OSError:
        pgid = sid = None
    core = (os.getpgrp(), os.getsid(0))      # every program shares these: no evidence
    if (pgid in inst.groups and pgid not in core) or (sid in inst.sessions and sid not in core):
        return None
    marker = procfs.environ(pid, MARKER)
    if marker is not None:
        return (f"names pid {pid} ({snap.name}), which carries another program instance's "
                f"{MARKER} ({marker})")
    orphan = bool(snap.ancestors) and snap.ancestors[0] == os.getpid()
    if orphan and not ({pgid, sid} - set(core)) & inst.foreign:
        return None
    return (f"names pid {pid} ({snap.name}), which is not one of the program's processes "
            f"(no {MARKER} of this instance, not below its launcher)")


def judge_pidfile(path: str, launcher_ticks: Optional[int], exe: Optional[str] = None,
                  claim: Optional[Callable] = None, stale=None) -> Verdict:
    """stale: the file's stamp at launch; while it is unchanged, a refusal means "a
    leftover, wait for the rewrite" (the shim's rule, decide.on_pidfile)."""
    reading = pidfile_rules.read(path, os.geteuid())
    leftover = stale is not None and reading.stamp == stale
    if reading.refusal is not None:
        return Verdict() if leftover else Verdict(refusal=f"pidfile {path} {reading.refusal}")
    if reading.pid is None:
        return Verdict()
    pid = reading.pid
    fd, gone = open_pidfd(pid)
    if gone:
        return Verdict()    # stale: a previous run's pid; wait for the rewrite
    try:
        snap = identity.snapshot(pid)
        if snap is None or snap.zombie:
            return Verdict()
        why = identity.judge(pid, snap, os.getpid(),
                             launcher_ticks if launcher_ticks is not None else 0, exe)
        if why is None and claim is not None:
            why = claim(pid, snap)
        if exited(fd):
            return Verdict()    # what was judged may be a newer process with that pid
        if why is not None:
            if leftover:
                return Verdict()
            return Verdict(refusal=f"pidfile {path} {why.replace('the shim', 'wrapctl')}")
        v, fd = Verdict(pid=pid, pidfd=fd), None
        return v
    finally:
        if fd is not None:
            os.close(fd)


class Follower:
    """One forking program's pidfile watch for the current instance."""

    def __init__(self, path: str, exe: Optional[str] = None,
                 claim: Optional[Callable] = None):
        self.path = path
        self.exe = exe
        self.claim = claim          # claim(pid, snapshot): None if the instance's, or why not
        self.launcher = 0
        self.launcher_ticks: Optional[int] = None
        self.stale = None
        self.daemon = 0
        self._changed: Optional[asyncio.Event] = None

    def launching(self) -> None:
        """Before the spawn: whatever the pidfile holds now is a leftover."""
        self.stale = pidfile_rules.read(self.path, os.geteuid()).stamp

    def launched(self, pid: int) -> None:
        self.launcher = pid
        self.launcher_ticks = identity.start_ticks(pid)
        self.daemon = 0

    def verdict(self, keep_pidfd: bool = False) -> Verdict:
        v = judge_pidfile(self.path, self.launcher_ticks, self.exe, self.claim, self.stale)
        if not keep_pidfd:
            v.close()
        return v

    async def wait_daemon(self) -> Verdict:
        """Until the pidfile names a pid to follow (its pidfd is the caller's), or is
        refused."""
        from wrapctl.core.ready import watch_file

        def decided():
            v = self.verdict(keep_pidfd=True)
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


# ---- adoptRunning: may this process be taken as the program? ---------------------------

def tie(pid: int, snap, command: str, env_path: Optional[str],
        pidfile: Optional[str]) -> Optional[str]:
    """None when pid runs the program's command (the same executable, or the interpreter
    running the same script; through wrapctl-shim, the command it wraps) or is the pid the
    program's pidfile names (read with the shim's rules); else why not, in one line."""
    pidfiles = [pidfile] if pidfile else []
    try:
        targets = _targets(command, env_path, pidfiles)
    except SpawnError as e:
        targets, bad = [], str(e)
    else:
        bad = None
    for path in pidfiles:
        if pidfile_rules.read(path, os.geteuid()).pid == pid:
            return None
    running = procfs.exe(pid)
    if running is None:
        return f"pid {pid} ({snap.name}): its executable cannot be read"
    running = running.removesuffix(" (deleted)")     # upgraded since it started
    argv = procfs.cmdline(pid) or []
    for exe, script in targets:
        if running != exe:
            continue
        if script is None or any(_same_file(pid, a, script) for a in argv[1:3]):
            return None
    wanted = bad or " or ".join(f"{s} run by {e}" if s else e for e, s in targets)
    via = f", and {' or '.join(pidfiles)} does not name it" if pidfiles else ""
    return (f"pid {pid} ({snap.name}) runs {running}, not the program's command "
            f"({wanted}){via}")


def _targets(command: str, env_path: Optional[str], pidfiles: list) -> list:
    """[(executable, script or None)] a process running `command` may show; pidfiles a
    wrapping shim names are appended to `pidfiles`."""
    filename, argv = execv_args(command, env_path)
    name = os.path.basename(argv[0])
    inner = None
    if name == "wrapctl-shim":
        inner = argv[1:]
    elif name == "wrapctl" and argv[1:2] == ["shim"]:
        inner = argv[2:]
    if inner is not None:
        from wrapctl.shims.options import Help, UsageError, parse
        try:
            opts = parse(inner)
        except (UsageError, Help):
            opts = None
        if opts is not None:
            if opts.pidfile:
                pidfiles.append(opts.pidfile)
            import shlex
            return _targets(shlex.join(opts.command), env_path, pidfiles)
    real = os.path.realpath(filename)
    interp = _interpreter(real, env_path)
    return [(real, None)] if interp is None else [(interp, real)]


def _interpreter(path: str, env_path: Optional[str]) -> Optional[str]:
    """The real path of the interpreter a '#!' script runs under (through env), or None."""
    try:
        with open(path, "rb") as f:
            line = f.read(256).split(b"\n", 1)[0]
    except OSError:
        return None
    if not line.startswith(b"#!"):
        return None
    words = line[2:].decode(errors="replace").split()
    if not words:
        return None
    if os.path.basename(words[0]) == "env":
        rest = [w for w in words[1:] if not w.startswith("-")]
        if not rest:
            return None
        try:
            found, _ = execv_args(rest[0], env_path)
        except SpawnError:
            return None
        return os.path.realpath(found)
    return os.path.realpath(words[0])


def _same_file(pid: int, arg: str, script: str) -> bool:
    where = arg if arg.startswith("/") else os.path.join(f"/proc/{pid}/cwd", arg)
    return os.path.realpath(where) == script
