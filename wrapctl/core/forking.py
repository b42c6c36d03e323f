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
import re
import select
import stat
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


# ---- forking=auto: pidfiles a command names or writes, stale pidfiles, the tree's top ---

_PID_OPTION = re.compile(r"-{0,2}(?:pid|pidfile|pid[-_]file)", re.I)
_PID_WORD = re.compile(r"\bpid(?:file|_file|-file)?\s+([^\s;'\"]+)", re.I)


def named_pidfiles(argv: list, cwd: Optional[str]) -> list:
    """Pidfiles a command line names, generically: `--pidfile F`, `--pid-file=F`, `-p F.pid`,
    `pidfile F` / `pid F;` inside an argument (nginx's -g), or any argument that is a path
    ending in .pid. Relative paths are the command's working directory's."""
    found = []

    def add(value: str, strict: bool = False) -> None:
        if not value or value.startswith("-"):
            return
        if strict and "/" not in value and not value.endswith(".pid"):
            return      # `--pid 1234` names a process, not a file
        path = os.path.normpath(os.path.join(cwd or os.getcwd(), value))
        if path not in found:
            found.append(path)
    for i, arg in enumerate(argv[1:], 1):
        nxt = argv[i + 1] if i + 1 < len(argv) else ""
        key, eq, value = arg.partition("=")
        if eq and _PID_OPTION.fullmatch(key):
            add(value, key.lstrip("-").lower() == "pid")
        elif _PID_OPTION.fullmatch(arg) and arg.startswith("-") or arg.lower() == "pidfile":
            add(nxt, arg.lstrip("-").lower() == "pid")
        elif arg == "-p" and nxt.endswith(".pid"):
            add(nxt)
        elif arg.endswith(".pid") and "/" in arg:
            add(arg)
        else:
            for m in _PID_WORD.finditer(arg):
                if "/" in m.group(1) or m.group(1).endswith(".pid"):
                    add(m.group(1))
    return found


def remove_stale(path: str, owner_uid: int) -> Optional[str]:
    """Remove the pidfile at path if it names a dead pid, and only if its directory is not
    writable by others or the file is the program's user's (owner_uid): another user's file
    in /tmp may be there to make root delete it. All through the directory's fd (no symlink
    at the last step followed, the file unlinked is the file read). A line to log, or None
    when there was nothing stale."""
    directory, name = os.path.split(path)
    try:
        dfd = os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW |
                      os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=dfd)
        except OSError:
            return None
        try:
            if os.fstat(fd).st_ino != st.st_ino:
                return None
            data = os.read(fd, pidfile_rules.MAX_SIZE + 1)
        finally:
            os.close(fd)
        pid = pidfile_rules.parse(data)
        if not isinstance(pid, int) or identity.alive(pid):
            return None
        dst = os.fstat(dfd)
        if dst.st_mode & stat.S_IWOTH and st.st_uid != owner_uid:
            return (f"stale pidfile {path} (pid {pid} is dead) left in place: its directory "
                    f"is writable by others and the file is uid {st.st_uid}'s")
        try:
            if os.stat(name, dir_fd=dfd, follow_symlinks=False).st_ino != st.st_ino:
                return None
            os.unlink(name, dir_fd=dfd)
        except OSError as e:
            return f"stale pidfile {path} (pid {pid} is dead) cannot be removed: {e.strerror}"
        return f"removed stale pidfile {path} (pid {pid} is dead)"
    finally:
        os.close(dfd)


# One survivor of a launcher: its pid, parent, session, name and executable.
Survivor = namedtuple("Survivor", "pid ppid sid name exe")


def shells() -> frozenset:
    """The login shells this system lists (/etc/shells), by real path: a shell left at the
    launcher's exit is finishing the script, not the daemon."""
    out = set()
    try:
        with open("/etc/shells") as f:
            for line in f:
                line = line.strip()
                if line.startswith("/"):
                    out.add(os.path.realpath(line))
    except OSError:
        pass
    return frozenset(out)


def guess_main(survivors: list, shell_paths: frozenset) -> list:
    """The candidates for the daemon among what a launcher left, in the spirit of systemd's
    GuessMainPID: the tops of the remaining trees (survivors whose parent is not one);
    among several, those that are not shells, then those that lead a session. One
    candidate is the daemon; more are unrelated daemons nobody can tell apart."""
    pids = {s.pid for s in survivors}
    tops = [s for s in survivors if s.ppid not in pids]
    if len(tops) > 1:
        tops = [t for t in tops if t.exe not in shell_paths] or tops
    if len(tops) > 1:
        tops = [t for t in tops if t.sid == t.pid] or tops
    return tops


def survivor(pid: int) -> Optional[Survivor]:
    facts = procfs.stat(pid)
    if facts is None or facts[0] in ("Z", "X"):
        return None
    try:
        sid = os.getsid(pid)
    except OSError:
        return None
    exe = procfs.exe(pid)
    name = identity.snapshot(pid)
    return Survivor(pid, facts[1], sid, name.name if name else facts[3],
                    os.path.realpath(exe.removesuffix(" (deleted)")) if exe else None)


class DirWatch:
    """One inotify instance for the whole core: *.pid files created or written in watched
    directories, reported to the processes that asked (subscribe/unsubscribe). One instance,
    not one per program: the kernel allows 128 per user by default."""

    def __init__(self, loop):
        from inotify_simple import INotify
        self.loop = loop
        self.ino = INotify()
        self.wds: dict[str, int] = {}          # directory -> watch descriptor
        self.dirs: dict[int, str] = {}
        self.subs: dict[str, set] = {}         # directory -> callbacks(path)
        loop.add_reader(self.ino.fileno(), self._read)

    def subscribe(self, directories, callback) -> list:
        from inotify_simple import flags
        taken = []
        for d in directories:
            if d not in self.wds:
                try:
                    wd = self.ino.add_watch(d, flags.CREATE | flags.MOVED_TO |
                                            flags.CLOSE_WRITE | flags.MODIFY)
                except OSError:
                    continue        # no such directory (yet): nothing written there
                self.wds[d] = wd
                self.dirs[wd] = d
            self.subs.setdefault(d, set()).add(callback)
            taken.append(d)
        return taken

    def unsubscribe(self, directories, callback) -> None:
        for d in directories:
            subs = self.subs.get(d)
            if subs is None:
                continue
            subs.discard(callback)
            if not subs:
                del self.subs[d]
                wd = self.wds.pop(d, None)
                if wd is not None:
                    self.dirs.pop(wd, None)
                    try:
                        self.ino.rm_watch(wd)
                    except OSError:
                        pass

    def _read(self) -> None:
        for ev in self.ino.read(timeout=0):
            d = self.dirs.get(ev.wd)
            if d is None or not ev.name.endswith(".pid"):
                continue
            path = os.path.join(d, ev.name)
            for cb in list(self.subs.get(d, ())):
                cb(path)

    def close(self) -> None:
        self.loop.remove_reader(self.ino.fileno())
        self.ino.close()
