"""One supervised process at the I/O edge: carries out the machine's effects on a real loop.

The machine decides; this class forks, signals, arms the one timer, moves output from the
child's pipes into its log files, and feeds outcomes back to the machine.
"""
from __future__ import annotations

import asyncio
import errno
import os
import re
import shlex
import signal
import random
import time
from typing import Callable, Optional

import psutil

from wrapctl.config.records import AUTO
from wrapctl.core import machine as m
from wrapctl.core import cgroups, forking, ready, rundirs, tree
from wrapctl.core.keeper import config_digest as keeper_digest
from wrapctl.core.logs import RotatingFile, strip_ansi
from wrapctl.core.spawn import SpawnError, spawn
from wrapctl.core.states import ProcessState, decode_wait_status
from wrapctl.shims import identity, procfs
from wrapctl.shims import pidfile as pidfile_rules

READ_CHUNK = 65536
# sendProcessStdin bytes the child has not read yet, per process: a request that would take
# more is refused (a fault), never a blocking write that freezes the core.
STDIN_BUFFER = 1 << 20
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"
_RANDOM = random.SystemRandom()


class OutputChannel:
    """One of stdout/stderr: the parent end of the pipe and the log it feeds."""

    def __init__(self, name: str, logcfg, logfile: Optional[str]):
        self.name = name
        self.logcfg = logcfg
        self.logfile = logfile
        self.log: Optional[RotatingFile] = None
        self.fd: Optional[int] = None
        self.file = None        # the pipe's file object; closing it closes fd
        self.failing = False    # the last log write failed
        self.listeners: list[Callable[[bytes], None]] = []   # fg / tail -f / events
        # AUTO logs are named when the process is made (getProcessInfo reports the paths,
        # as supervisord's), but created only at the first open: creating a thousand files
        # before the first fork was most of a large start-up's time. Until then the name is
        # `unmade`, and reading it gives nothing.
        self.auto: Optional[Callable[[], str]] = None   # picks a fresh AUTO name
        self.unmade = False

    def open_log(self) -> None:
        if self.logfile and self.log is None:
            if self.unmade:
                self._make_auto()
            self.log = RotatingFile(self.logfile, self.logcfg.maxbytes, self.logcfg.backups)

    def _make_auto(self) -> None:
        """Create the AUTO file exclusively, as supervisord's mkstemp does: a name that
        exists already (childlogdir is often /tmp) was not made by us and is not written
        through; another name is picked."""
        for _ in range(8):
            try:
                os.close(os.open(self.logfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL |
                                 os.O_NOFOLLOW | os.O_CLOEXEC, 0o666))
                break
            except FileExistsError:
                self.logfile = self.auto()
        else:
            raise FileExistsError(errno.EEXIST, "no free AUTO log name", self.logfile)
        self.unmade = False


class Process:
    def __init__(self, config, supervisor):
        self.config = config
        self.sup = supervisor
        self.machine = m.ProcessMachine(config)
        self.popen = None
        self._timer = None
        self._ready_task = None
        self._health_task = None
        self._restart_when_stopped = False
        self._pidfd: Optional[int] = None
        self.adopted = False            # started by a previous core (no waitpid for it)
        self.groups: set = set()        # process groups and sessions of this instance,
        self.sessions: set = set()      # to recognise orphans that dropped the marker
        self.serial = 0                 # spawns so far: part of the instance marker
        self.marker: Optional[str] = None
        self.cgroup: Optional[str] = None   # this program's cgroup (cgroups.py), if any
        self._leftovers: dict[int, int] = {}    # pidfd -> pid, left by a crashed main
        raw = config.extra_get("killtree")
        # killtree=false keeps supervisord's behaviour: only the main pid (or its group).
        self.killtree = raw is None or raw.strip().lower() in ("true", "yes", "on", "1")
        self.ready_check = self._check("ready")
        raw = config.extra_get("run_dirs")
        self.run_dirs = rundirs.parse(raw) if raw else ()
        pidfile = config.extra_get("pidfile")
        self.follower = forking.Follower(pidfile, config.extra_get("exe"), self._claim) \
            if pidfile else None
        # A pidfd for the main pid when it was taken from a pidfile or adopted: signals go
        # through it, so a pid reused after the process exits is never signalled.
        self._sigfd: Optional[int] = None
        self._sigpid = 0
        self._launcher = 0              # the pid spawned for the current instance
        self._launch_ticks: Optional[int] = None
        # forking=auto: the pidfiles the command names (and pidfile=), each one's stamp at
        # launch (unchanged since then: a leftover), and the *.pid files written since.
        self._named: list[str] = []
        self._stamps: dict = {}
        self._written: list[str] = []
        self._watching: list[str] = []
        self._stop_task = None
        self.health_check = self._check("healthcheck")
        self.stdin = None
        self._stdin_pending = bytearray()   # what write_stdin queued; flushed by a writer
        self.channels = {
            "stdout": OutputChannel("stdout", config.stdout, None),
            "stderr": OutputChannel("stderr", config.stderr, None),
        }
        for name, ch in self.channels.items():
            if name == "stderr" and config.redirect_stderr:
                continue
            if ch.logcfg.logfile == AUTO:
                ch.auto = (lambda n=name: self._auto_logname(n))
                ch.logfile, ch.unmade = ch.auto(), True
            else:
                ch.logfile = ch.logcfg.logfile

    def _check(self, option: str):
        spec = self.config.extra_get(option)
        if not spec:
            return None
        return ready.parse(spec, pidfile=self.config.extra_get("pidfile"))

    @property
    def _restart_when_stopped(self) -> bool:
        return self.machine.restart_when_stopped

    @_restart_when_stopped.setter
    def _restart_when_stopped(self, value: bool) -> None:
        self.machine.restart_when_stopped = value

    def fork_note(self) -> Optional[str]:
        """"forked; pid from /run/x.pid" while a daemon found by the fork rule runs."""
        how = self.machine.forked_how
        return f"forked; {how}" if how and self.machine.pid else None

    def _float(self, option: str, default: float) -> float:
        raw = self.config.extra_get(option)
        return float(raw) if raw else default

    # ---- naming --------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.config.name

    @property
    def group(self) -> str:
        return self.config.group

    @property
    def state(self) -> ProcessState:
        return self.machine.state

    @property
    def pid(self) -> int:
        return self.machine.pid

    def _auto_logname(self, channel: str) -> str:
        """supervisord's AUTO name: NAME-CHANNEL---IDENTIFIER-XXXXXXXX.log in childlogdir."""
        d = self.sup.config.daemon
        suffix = "".join(_RANDOM.choice(_NAME_CHARS) for _ in range(8))
        return os.path.join(d.childlogdir,
                            f"{self.config.name}-{channel}---{d.identifier}-{suffix}.log")

    # ---- requests (from the supervisor / API) ----------------------------------------
    def start(self) -> None:
        self._apply(self.machine.start(time.time()))

    def autostart(self) -> None:
        self._apply(self.machine.autostart(time.time()))

    def stop(self) -> None:
        self._apply(self.machine.stop(time.time()))

    def cancel_restart(self) -> bool:
        """An autorestart was waiting (crash-loop pace, leftovers): it will not happen."""
        if not self.machine.restart_pending:
            return False
        self._apply(self.machine.cancel_restart())
        return True

    def give_up(self) -> None:
        self._apply(self.machine.give_up(time.time()))

    def signal(self, sig: int) -> Optional[str]:
        """Send a signal without intent to stop; return an error string or None."""
        pid = self.machine.pid
        if not pid:
            return f"attempted to send {self.name} sig {sig} but it wasn't running"
        try:
            self._send(pid, sig)
        except ProcessLookupError:
            pass
        except OSError as e:
            return str(e)
        return None

    def write_stdin(self, data: bytes) -> None:
        """Queue data for the child's stdin, never blocking the core: what the pipe takes
        now is written, the rest waits (in order) for the loop to see the pipe writable.
        OSError(EPIPE) when there is no stdin or the child closed it; BufferError, with
        nothing of data taken, when it does not fit in STDIN_BUFFER with what is queued."""
        if self.stdin is None:
            raise OSError(errno.EPIPE, "Process has no stdin channel")
        pending = self._stdin_pending
        if len(pending) + len(data) > STDIN_BUFFER:
            raise BufferError(f"stdin buffer full: {len(pending)} bytes not read yet by "
                              f"{self.name}, {len(data)} more would exceed "
                              f"{STDIN_BUFFER} bytes")
        if not data:
            return
        fd = self.stdin.fileno()
        if pending:
            pending += data
            return
        os.set_blocking(fd, False)      # shared with the fd holder's copy: it never writes
        try:
            n = os.write(fd, data)
        except BlockingIOError:
            n = 0
        if n < len(data):
            pending += memoryview(data)[n:]
            self.sup.loop.add_writer(fd, self._flush_stdin)

    def _flush_stdin(self) -> None:
        fd = self.stdin.fileno()
        try:
            n = os.write(fd, self._stdin_pending)
        except BlockingIOError:
            return
        except OSError as e:
            # The child closed its stdin (EPIPE) but runs on: what it will never read goes.
            self.sup.log("warn", f"{self.name}: dropped {len(self._stdin_pending)} bytes "
                                 f"queued for its stdin ({e.strerror})")
            self._drop_stdin_queue()
            return
        del self._stdin_pending[:n]
        if not self._stdin_pending:
            self.sup.loop.remove_writer(fd)

    def _drop_stdin_queue(self) -> None:
        if self._stdin_pending and self.stdin is not None:
            self.sup.loop.remove_writer(self.stdin.fileno())
        self._stdin_pending = bytearray()

    # ---- outcomes (from the loop) --------------------------------------------------
    def reaped(self, sts: int, pid: int = 0) -> None:
        mc = self.machine
        if pid and pid != mc.pid:
            # The launcher of a daemon already found: its exit is no news.
            self.sup.log("debug", f"{self.name}: launcher {pid} exited ({sts})")
            self._release_popen(pid, sts)
            return
        status, message = decode_wait_status(sts)
        if mc.in_fork_window(status):
            self._release_popen(pid, sts)
            left = self._survivors()
            # pidfile= without a cgroup: a daemon that cleared its environment and left the
            # session would be missed by parentage; only a cgroup says "nothing left".
            f = self.follower
            known = bool(left) or (f is not None and (
                self.cgroup is None or self._pidfile_decided(f)))
            self._apply(mc.launcher_exited(status, message, time.time(), known))
            return
        f = self.follower
        if f is not None and f.daemon and pid == f.daemon:
            v = f.verdict(keep_pidfd=True)
            if v.pid is not None and v.pid != pid:
                self._follow(v.pid, "the pidfile moved on", v.pidfd, moved=True)  # nginx USR2
                return
            self._not_followed(v)
        self._main_exited(sts)

    @staticmethod
    def _pidfile_decided(f) -> bool:
        """The pidfile already names a pid (to follow, or to refuse with its reason)."""
        v = f.verdict()
        return v.pid is not None or v.refusal is not None

    def _main_exited(self, sts: int) -> None:
        if self.popen is not None:
            self._release_popen(self.popen.pid, sts)
        self._finish(*decode_wait_status(sts))

    def _finish(self, status: int, message: str) -> None:
        """The main process is gone: clean up its tree, drain and close its pipes, forget
        its record, and tell the machine."""
        self._cancel_tasks()
        self._release_sigfd()
        if self.killtree:
            self._clean_up_tree(stopping=self.machine.killing)
        self._drain()
        self._close_pipes()
        self._forget()
        self._unwatch()
        if self.follower is not None:
            self.follower.daemon = 0
        self._apply(self.machine.exited(status, message, time.time(),
                                        leftovers=bool(self._leftovers)))

    def _release_popen(self, pid: int, sts: int) -> None:
        """Tell Popen its child is gone so it never waits on the pid itself."""
        if self.popen is not None and self.popen.pid == pid:
            self.popen.returncode = sts
            self.popen = None

    def _follow(self, pid: int, how: str, pidfd: Optional[int], moved: bool = False) -> None:
        """Make `pid` the main process (found `how`, accepted with `pidfd`, which this
        takes over; None: a pidfd is opened now)."""
        f = self.follower
        if f is not None:
            f.daemon = pid
        if pidfd is None:
            pidfd, _ = forking.open_pidfd(pid)
        g, sid = tree.ids(pid)
        self.groups |= g
        self.sessions |= sid
        old = self.machine.pid
        self._apply(self.machine.moved(pid, how) if moved else
                    self.machine.forked(pid, how, time.time()))
        if self.machine.pid != pid:
            if pidfd is not None:
                os.close(pidfd)
            return
        if old == pid and self._sigpid == pid:
            if pidfd is not None:
                os.close(pidfd)     # the same daemon, found again another way
            return
        if self._pidfd is not None:     # the watch of the pid that was main before
            self.sup.loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        self._take_sigfd(pid, pidfd)
        facts = procfs.stat(pid)
        if facts is not None and facts[1] == os.getpid():
            self.sup.register_pid(pid, self)    # the subreaper gets its real exit status
        else:
            self._watch_pidfd(pid)
        self._keep(pid)

    # ---- forking=auto: finding the daemon a launcher left ---------------------------
    def _survivors(self) -> list:
        """Live processes of the instance whose main pid has just exited: its cgroup's
        members; without one, its tree (marker, process group, session) and the core's
        orphans that are the instance's by elimination (forking.belongs)."""
        if self.cgroup is not None:
            return tree.alive(cgroups.members(self.cgroup))
        found = {p.pid: p for p in self._members(0)}
        for pid in tree.direct_children(os.getpid()):
            if pid in found or pid in self.sup.pids:
                continue
            snap = identity.snapshot(pid)
            if snap is None or snap.zombie or self._launch_ticks is None or \
                    snap.create_time < self._launch_ticks:
                continue        # not started by this launch (the fd holder, another's)
            if self._claim(pid, snap) is not None:
                continue
            for p in tree.alive([pid] + tree.descendants(pid)):
                found.setdefault(p.pid, p)
        return list(found.values())

    def _find_main(self) -> None:
        """machine.FindMain: a pidfile's pid, else the one tree's top, else refuse."""
        f = self.follower
        if f is not None:
            v = f.verdict(keep_pidfd=True)
            if v.pid is not None:
                self._follow(v.pid, f"pid from {f.path}", v.pidfd)
                return
            v.close()
            reading = pidfile_rules.read(f.path, os.geteuid())
            if reading.stamp is None or reading.stamp != f.stale or \
                    not self.machine.forking_auto:
                # Not written yet: the daemon writes it (_await_start waits, up to
                # ready_timeout).
                f.poke()
                return
            # Stale (unchanged since before the launch): never wait on it.
            self.sup.log("info", f"{self.name}: pidfile {f.path} is stale; the daemon is "
                                 "taken from the process tree")
        if self._from_pidfiles():
            return
        left = [s for s in (forking.survivor(p.pid) for p in self._survivors()) if s]
        tops = forking.guess_main(left, forking.shells())
        if len(tops) == 1:
            self._follow(tops[0].pid, "the process tree's top", None)
            if f is not None:
                self._gate_without_pidfile()
            return
        if not tops:
            line = f"{self.name}: its launcher exited and what it left has exited too"
        else:
            names = ", ".join(f"{t.pid} ({t.name})" for t in tops)
            line = (f"{self.name}: cannot tell the daemon among {len(tops)} unrelated "
                    f"processes its command left: {names}; killing them (set pidfile= to "
                    "name the daemon, or forking=off)")
        self._apply(self.machine.fork_refused(line, time.time()))

    def _from_pidfiles(self) -> bool:
        """The first pidfile the command named or wrote since the launch that names one of
        the instance's processes: followed. A pidfile unchanged since the launch is a
        leftover and never waited for."""
        f = self.follower
        for path in self._named + [p for p in self._written if p not in self._named]:
            if f is not None and path == f.path:
                continue
            v = forking.judge_pidfile(path, self._launch_ticks, None, self._claim,
                                      self._stamps.get(path))
            if v.pid is not None:
                self._follow(v.pid, f"pid from {path}", v.pidfd)
                return True
            if v.refusal is not None:
                self.sup.log("warn", f"{self.name}: {v.refusal}; not followed")
        return False

    def _pidfile_written(self, path: str) -> None:
        """inotify: a *.pid file was created or written in a watched directory."""
        if path not in self._written:
            self._written.append(path)
        mc = self.machine
        if mc.state != ProcessState.STARTING or not mc.forked_how or \
                mc.forked_how == f"pid from {path}":
            return
        # Found from the tree: the pidfile the daemon writes now names it for sure.
        self._from_pidfiles()

    def _watch_dirs(self) -> None:
        dirs = {os.path.dirname(p) for p in self._named}
        if os.path.isdir("/run"):
            dirs.add("/run")
        watch = self.sup.dirwatch
        if watch is None:
            try:
                watch = self.sup.dirwatch = forking.DirWatch(self.sup.loop)
            except OSError as e:
                self.sup.log("warn", f"no inotify for pidfiles ({e.strerror}): only the "
                                     "pidfiles a command names are read")
                return
        self._watching = watch.subscribe(sorted(dirs), self._pidfile_written)

    def _unwatch(self) -> None:
        if self._watching and self.sup.dirwatch is not None:
            self.sup.dirwatch.unsubscribe(self._watching, self._pidfile_written)
        self._watching = []

    def _gate_without_pidfile(self) -> None:
        """pidfile= was stale and the daemon came from the tree: the start no longer waits
        for the pidfile, only for ready= if there is one."""
        if self._ready_task is not None and not self._ready_task.done():
            self._ready_task.cancel()
        self._ready_task = None
        if self.ready_check is not None:
            self._ready_task = self.sup.loop.create_task(
                self._await_start(self.serial, with_pidfile=False))
        else:
            self._apply(self.machine.ready(time.time(), self.machine.forked_how))

    def _run_stop_command(self) -> None:
        import shlex
        mc = self.machine
        try:
            argv = shlex.split(mc.stopcommand)
        except ValueError as e:
            self.sup.log("warn", f"{self.name}: stopcommand cannot be parsed ({e})")
            self._apply(mc.stop_command_done(127, time.time()))
            return
        run = getattr(self.sup, "run_helper", None) or self.sup.run_command

        async def go() -> None:
            try:
                rc = await run(argv)
            except OSError as e:
                self.sup.log("warn", f"{self.name}: stopcommand failed: {e}")
                rc = 127
            self._stop_task = None
            self._apply(mc.stop_command_done(rc, time.time()))
        self._stop_task = self.sup.loop.create_task(go())

    def _not_followed(self, v) -> None:
        v.close()
        if v.refusal is not None:
            self.sup.log("warn", f"{self.name}: {v.refusal}; not followed")

    def _claim(self, pid: int, snap) -> Optional[str]:
        """None when pid is this instance's (forking.belongs), else why not."""
        f = self.follower
        foreign = set()
        for p in self.sup.all_processes():
            if p is not self:
                foreign |= p.groups | p.sessions
        return forking.belongs(pid, snap, forking.Instance(
            self.cgroup, self.marker, f.launcher if f is not None else self._launcher,
            frozenset(self.groups), frozenset(self.sessions), self._held_elsewhere(),
            frozenset(foreign)))

    def _held_elsewhere(self) -> dict:
        """{pid: whose} for every pid another program or a helper command of this core
        holds: main pids and the children the core waits for."""
        out = {}
        for pid, holder in self.sup.pids.items():
            if holder is not self:
                name = getattr(holder, "name", None)
                out[pid] = f"program {name}" if name else "a helper command of wrapctl"
        for p in self.sup.all_processes():
            if p is not self and p.pid:
                out[p.pid] = f"program {p.name}"
        return out

    def _take_sigfd(self, pid: int, pidfd: Optional[int]) -> None:
        self._release_sigfd()
        self._sigfd, self._sigpid = pidfd, pid

    def _release_sigfd(self) -> None:
        if self._sigfd is not None:
            os.close(self._sigfd)
        self._sigfd, self._sigpid = None, 0

    def _send(self, pid: int, sig: int) -> None:
        """kill(pid, sig), through the pidfd taken when pid was accepted if there is one
        (a child of ours cannot be reused before we reap it; any other pid can)."""
        if self._sigfd is not None and pid == self._sigpid:
            signal.pidfd_send_signal(self._sigfd, sig)
        else:
            os.kill(pid, sig)

    def _on_timer(self) -> None:
        self._timer = None
        self._apply(self.machine.timer(time.time()))

    # ---- effects -------------------------------------------------------------------
    def _apply(self, effects) -> None:
        for e in effects:
            if isinstance(e, m.Spawn):
                self._spawn()
            elif isinstance(e, m.Kill):
                self._kill(e)
            elif isinstance(e, m.Timer):
                self._arm(e.at)
            elif isinstance(e, m.Log):
                self.sup.log(e.level, e.message)
            elif isinstance(e, m.StateChange):
                self._on_state(e.new)
                self.sup.state_changed(self, e.old, e.new, e.expected)
            elif isinstance(e, m.FindMain):
                self._find_main()
            elif isinstance(e, m.KillTree):
                tree.signal_all(self._survivors(), e.sig)
            elif isinstance(e, m.Finish):
                if self.popen is not None:
                    self._release_popen(self.popen.pid, 0)
                self._finish(e.status, e.message)
            elif isinstance(e, m.RunStopCommand):
                self._run_stop_command()

    # ---- readiness and health ------------------------------------------------------
    def _on_state(self, new: ProcessState) -> None:
        if new == ProcessState.RUNNING and self.health_check is not None:
            self._health_task = self.sup.loop.create_task(self._watch_health(self.pid))
        elif new not in (ProcessState.RUNNING, ProcessState.STARTING):
            self._cancel_tasks()
        if new != ProcessState.STARTING:
            self._unwatch()

    def _cancel_tasks(self) -> None:
        for t in (self._ready_task, self._health_task):
            if t is not None and not t.done() and t is not asyncio.current_task():
                t.cancel()
        self._ready_task = self._health_task = None

    async def _probe_until_ready(self, check) -> None:
        if check.kind == "log":
            await self._wait_log(re.compile(check.pattern))
        else:
            await ready.wait_ready(
                check, self.sup.run_command, self.pid,
                lambda: self.sup.log("debug", f"{self.name}: listen() seen, probing "
                                              f"{check.describe()}"))

    async def _await_start(self, serial: int, with_pidfile: bool = True) -> None:
        """STARTING until the forking daemon is found (pidfile=) and the ready= check
        passes; RUNNING then, or a failed start after ready_timeout."""
        check, f = self.ready_check, (self.follower if with_pidfile else None)
        what = check.describe() if check is not None else f"pidfile {f.path}"
        timeout = self._float("ready_timeout", 60.0)

        def current() -> bool:
            return self.serial == serial and self.state == ProcessState.STARTING

        async def steps() -> Optional[str]:
            if f is not None:
                v = await f.wait_daemon()
                if v.refusal is not None:
                    return v.refusal
                if current():
                    self._follow(v.pid, f"pid from {f.path}", v.pidfd)
                else:
                    v.close()
            if check is not None:
                await self._probe_until_ready(check)
            return None
        try:
            refusal = await asyncio.wait_for(steps(), timeout)
        except asyncio.TimeoutError:
            if current():
                self._apply(self.machine.not_ready(f"not ready after {timeout:g} s ({what})",
                                                   time.time()))
            return
        except Exception as e:      # a bug here must not leave the program STARTING for ever
            self.sup.log("critical", f"{self.name}: start check failed: {e!r}")
            refusal = f"start check failed ({type(e).__name__})"
        if not current():
            return
        if refusal is not None:
            # One line: not_ready() logs the reason with the kill of the launcher.
            self._apply(self.machine.not_ready(refusal, time.time()))
        else:
            self._apply(self.machine.ready(time.time(), what))

    async def _wait_log(self, regex) -> None:
        found = self.sup.loop.create_future()
        partial = {"stdout": b"", "stderr": b""}

        def feeder(channel):
            def feed(data: bytes) -> None:
                buf = partial[channel] + data
                *lines, partial[channel] = buf.split(b"\n")
                for line in lines:
                    if regex.search(line.decode("utf-8", "replace")) and not found.done():
                        found.set_result(None)
            return feed
        feeders = {ch: feeder(ch) for ch in self.channels}
        for ch, fn in feeders.items():
            self.channels[ch].listeners.append(fn)
        try:
            await found
        finally:
            for ch, fn in feeders.items():
                if fn in self.channels[ch].listeners:
                    self.channels[ch].listeners.remove(fn)

    async def _watch_health(self, pid: int) -> None:
        check = self.health_check
        interval = self._float("healthcheck_interval", 10.0)
        limit = int(self._float("healthcheck_failures", 3))
        failures = 0
        while self.pid == pid and self.state == ProcessState.RUNNING:
            await asyncio.sleep(interval)
            if check.kind == "log":
                continue    # a log line cannot be asked for again: log: is for ready= only
            ok = await ready.probe_once(check, interval, self.sup.run_command)
            failures = 0 if ok else failures + 1
            if failures >= limit and self.pid == pid:
                self._apply(self.machine.unhealthy(
                    f"{failures} times, {check.describe()}", time.time()))
                return

    def _spawn(self) -> None:
        try:
            for ch in self.channels.values():
                ch.open_log()
            self.serial += 1
            self.marker = tree.instance_marker(f"{self.group}:{self.name}", self.serial)
            rundirs.make(self.run_dirs, self.config.uid)
            groups = self.sup.cgroups if self.killtree else None
            self.cgroup = groups.enter(self.key) if groups is not None else None
            self._before_launch()
            popen = spawn(self.config, self.sup.serverurl, self.marker)
        except (SpawnError, OSError) as e:
            self._apply(self.machine.spawn_failed(str(e), time.time()))
            return
        self.popen = popen
        self._launcher = popen.pid
        self._launch_ticks = identity.start_ticks(popen.pid)
        self.groups, self.sessions = {popen.pid}, set()     # process_group=0: pgid == pid
        self.sup.register_pid(popen.pid, self)
        if self.follower is not None:
            self.follower.launched(popen.pid)
        if self.ready_check is not None or self.follower is not None:
            self._ready_task = self.sup.loop.create_task(self._await_start(self.serial))
        self._attach_pipes(popen.stdin, popen.stdout, popen.stderr)
        self._apply(self.machine.spawned(popen.pid, time.time()))
        self._keep(popen.pid)

    def _before_launch(self) -> None:
        """Stale pidfiles go (forking.remove_stale); what each known pidfile holds now is a
        leftover; *.pid files written from now on are watched (forking=auto, startsecs>0:
        the daemon is looked for only in that window)."""
        mc = self.machine
        named = []
        if mc.forking_auto or mc.has_pidfile:
            try:
                named = forking.named_pidfiles(shlex.split(self.config.command),
                                               self.config.directory)
            except ValueError:
                named = []
            if self.follower is not None and self.follower.path not in named:
                named.insert(0, self.follower.path)
        owner = self.config.uid if self.config.uid is not None else os.geteuid()
        for path in named:
            line = forking.remove_stale(path, owner)
            if line is not None:
                self.sup.log("info", f"{self.name}: {line}")
        self._named = named
        self._stamps = {p: pidfile_rules.read(p, os.geteuid()).stamp for p in named}
        self._written = []
        if self.follower is not None:
            self.follower.launching()
        self._unwatch()
        if mc.forking_auto and self.config.startsecs > 0:
            self._watch_dirs()

    def _attach_pipes(self, stdin, stdout, stderr) -> None:
        self.stdin = stdin
        for ch, f in (("stdout", stdout), ("stderr", stderr)):
            if f is None:
                continue
            fd = f.fileno()
            os.set_blocking(fd, False)
            self.channels[ch].fd = fd
            self.channels[ch].file = f
            self.sup.loop.add_reader(fd, self._on_readable, ch)

    # ---- surviving a core restart (keeper.py) ---------------------------------------
    @property
    def key(self) -> str:
        return f"{self.group}:{self.name}"

    def _keep(self, pid: int) -> None:
        """Hand the pipes to the fd holder and record who this instance is."""
        keeper = self.sup.keeper
        if keeper is None:
            return
        # The holder keeps three fds per program. A pipe already closed (a daemon that sent
        # its output to /dev/null before its pidfile appeared) is held as a stand-in that
        # reads EOF at once (or, for stdin, fails to write), as the pipe would.
        spares: list[int] = []

        def stand_in(fd: Optional[int], write_end: bool) -> int:
            if fd is not None:
                return fd
            r, w = os.pipe()
            keep, drop = (w, r) if write_end else (r, w)
            os.close(drop)
            spares.append(keep)
            return keep
        stdin = stand_in(self.stdin.fileno() if self.stdin is not None else None, True)
        out = stand_in(self.channels["stdout"].fd, False)
        err = self.channels["stderr"].fd
        try:
            keeper.put(self.key, [stdin, out, err if err is not None else out])
        finally:
            for fd in spares:
                os.close(fd)
        try:
            create_time = psutil.Process(pid).create_time()
        except psutil.Error:
            create_time = 0.0
        keeper.record(self.key, {
            "pid": pid, "create_time": create_time, "laststart": self.machine.laststart,
            "serial": self.serial, "marker": self.marker, "cgroup": self.cgroup,
            "digest": keeper_digest(self.config),
            "groups": sorted(self.groups), "sessions": sorted(self.sessions),
            "logs": {ch: c.logfile for ch, c in self.channels.items()}})

    def _forget(self) -> None:
        keeper = self.sup.keeper
        if keeper is not None:
            keeper.drop(self.key)
            keeper.record(self.key, None)

    def use_logs(self, logs: dict) -> None:
        """Carry on in the log files the previous core wrote (AUTO names are random). Only
        a name this program's AUTO log could have: root appends to it."""
        for ch, path in logs.items():
            c = self.channels.get(ch)
            if c is None or c.log is not None or not path or c.auto is None:
                continue
            if self._auto_log_pattern(ch).fullmatch(path):
                c.logfile, c.unmade = path, False
            else:
                self.sup.log("warn", f"{self.name}: state file names {path!r} as its {ch} "
                                     "log, not an AUTO log name of it: a new log is used")

    def _auto_log_pattern(self, channel: str):
        prefix = self._auto_logname(channel)[:-len("XXXXXXXX.log")]
        return re.compile(re.escape(prefix) + "[" + _NAME_CHARS + "]{8}" + re.escape(".log"))

    def adopt_running(self, pid: int) -> None:
        """Attach to a daemon something else started (an init script): RUNNING without a
        restart; its exit is seen through a pidfd, and then the program is started the
        supervised way (its own command). Only a process tied to the program is taken
        (forking.tie: the command's executable, or named by its pidfile=), never one
        another program holds: it will be signalled and killed as this program. Raises
        ValueError with the reason to refuse."""
        if pid == 1:
            raise ValueError("pid 1 (init) cannot be adopted")
        if pid == os.getpid():
            raise ValueError(f"pid {pid} is the wrapctl daemon itself")
        if pid <= 0:
            raise ValueError(f"pid {pid} cannot be adopted")
        if self.pid or self.state in (ProcessState.STARTING, ProcessState.RUNNING,
                                      ProcessState.STOPPING):
            raise ValueError(f"{self.name} is already running (pid {self.pid})")
        fd, gone = forking.open_pidfd(pid)
        try:
            snap = None if gone else identity.snapshot(pid)
            if snap is None:
                raise ValueError(f"no process with pid {pid}")
            if snap.zombie:
                raise ValueError(f"pid {pid} is a zombie")
            holder = self._holder_of(pid)
            if holder is not None:
                raise ValueError(f"pid {pid} ({snap.name}) is {holder}'s")
            why = forking.tie(pid, snap, self.config.command,
                              self.config.env.get("PATH"), self.config.extra_get("pidfile"))
            if why is not None:
                raise ValueError(why)
            laststart = identity.create_time(pid)
            if laststart is None or forking.exited(fd):
                raise ValueError(f"no process with pid {pid}")
        except ValueError:
            if fd is not None:
                os.close(fd)
            raise
        # Its tree: descendants, and its process group if it leads one (daemons do).
        self.marker = None
        self.cgroup = None
        try:
            self.groups = {pid} if os.getpgid(pid) == pid else set()
        except OSError:
            self.groups = set()     # gone already: the pidfd tells at once
        self.sessions = set()
        self.adopted = True
        for ch in self.channels.values():
            ch.open_log()
        self._take_sigfd(pid, fd)
        self._apply(self.machine.adopted(pid, laststart, time.time()))
        self._watch_pidfd(pid)

    def _holder_of(self, pid: int) -> Optional[str]:
        """Which other program (or helper) of this core pid belongs to, if any: its main
        pid, a child the core waits for, a member of its cgroup, or a carrier of its
        instance marker."""
        held = self._held_elsewhere().get(pid)
        if held is not None:
            return held
        marker = procfs.environ(pid, tree.MARKER)
        for p in self.sup.all_processes():
            if p is self:
                continue
            if (marker is not None and marker == p.marker) or \
                    (p.cgroup is not None and pid in cgroups.members(p.cgroup)):
                return f"program {p.name}"
        return None

    def _recorded_cgroup(self, path) -> Optional[str]:
        """A state file's group, only if it is this program's group under this daemon's
        base: every process in it gets signalled at a stop, so a stale or edited state
        file must not name another group."""
        groups = self.sup.cgroups
        if not isinstance(path, str) or groups is None or path != groups.path(self.key):
            return None
        return path

    def adopt(self, rec: dict, fds: list[int]) -> Optional[str]:
        """Re-attach to a process the previous core started (rec: a checked record); None,
        or why not. Only to the same process (pid and start time) that also proves it is
        this program's: its instance marker in its environment, or its own cgroup."""
        from wrapctl.core.keeper import carries, same_process
        pid = rec["pid"]
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            pidfd = None
        cgroup = self._recorded_cgroup(rec.get("cgroup"))
        why = None
        if not same_process(pid, rec["create_time"]):
            why = "died while the core was down"
        elif not carries(pid, rec["marker"], cgroup):
            why = ("carries neither its instance marker nor its cgroup: not re-attached, "
                   "left alone")
        if why is not None:
            if pidfd is not None:
                os.close(pidfd)
            return why
        for ch in self.channels.values():
            ch.open_log()
        self.serial = rec["serial"]
        self.marker = rec["marker"]
        self.cgroup = cgroup
        self.groups = set(rec.get("groups", ()))
        self.sessions = set(rec.get("sessions", ()))
        stdin = open(fds[0], "wb", buffering=0)
        stdout = open(fds[1], "rb", buffering=0)
        if self.config.redirect_stderr:
            os.close(fds[2])
            stderr = None
        else:
            stderr = open(fds[2], "rb", buffering=0)
        self._attach_pipes(stdin, stdout, stderr)
        self.adopted = True
        self._apply(self.machine.adopted(pid, rec["laststart"], time.time()))
        self._keep(pid)
        if pidfd is not None:
            self._pidfd = pidfd
            self.sup.loop.add_reader(pidfd, self._unchild_exited)
        # else: no pidfd on this kernel; the exit goes unseen until a stop (documented)
        return None

    def drain_orphaned_pipes(self, fds: list[int]) -> None:
        """The previous core's process died while nobody read: keep what it wrote."""
        for ch in self.channels.values():
            ch.open_log()
        names = ["stdin", "stdout", "stderr"]
        for i, fd in enumerate(fds):
            if i > 0 and not (i == 2 and self.config.redirect_stderr):
                os.set_blocking(fd, False)
                ch = self.channels[names[i]]
                while True:
                    try:
                        data = os.read(fd, READ_CHUNK)
                    except OSError:
                        break
                    if not data:
                        break
                    self._output(ch, data)
            os.close(fd)

    def _watch_pidfd(self, pid: int) -> None:
        """Exit of a main process that is not our child: a pidfd becomes readable."""
        try:
            # The pidfd of the process that was judged, not a new one for whatever has
            # the pid now.
            self._pidfd = os.dup(self._sigfd) if self._sigfd is not None and \
                pid == self._sigpid else os.pidfd_open(pid)
        except OSError as e:
            self.sup.log("warn", f"{self.name}: cannot watch pid {pid} ({e.strerror}); "
                                 "its exit will be seen only when it is stopped")
            return
        self.sup.loop.add_reader(self._pidfd, self._unchild_exited)

    def _unchild_exited(self) -> None:
        self.sup.loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = None
        f = self.follower
        if f is not None and f.daemon:
            v = f.verdict(keep_pidfd=True)
            if v.pid is not None and v.pid != f.daemon:
                self._follow(v.pid, "the pidfile moved on", v.pidfd)
                return
            self._not_followed(v)
        # Not our child (a previous core's, or below a launcher that stayed): no status.
        self._finish(-1, "exit status unknown (not a child of wrapctl)")
        self.adopted = False

    def tree(self) -> list:
        """Live processes of the current instance (main pid, descendants, marked orphans;
        or its cgroup's members)."""
        return self._members(self.machine.pid)

    def _members(self, main_pid: int) -> list:
        if self.cgroup is not None:
            return tree.alive(cgroups.members(self.cgroup))
        if self.marker is None and not self.adopted and not self.groups:
            return []
        return tree.members(main_pid, self.marker, self.sup.pids.keys(),
                            everywhere=self.adopted, groups=self.groups,
                            sessions=self.sessions)

    def _clean_up_tree(self, stopping: bool) -> None:
        """The main process is gone; what it left must not outlive it. On a stop, whatever
        remains is killed now; after a crash it gets the stop signal, and SIGKILL after
        stopwaitsecs (by identity: a pid reused meanwhile is not touched)."""
        left = self._members(0)
        if not left:
            return
        names = ", ".join(str(p.pid) for p in left)
        if stopping:
            self.sup.log("info", f"killing what {self.name} left behind: {names}")
            tree.signal_all(left, signal.SIGKILL)
            return
        self.sup.log("info", f"{self.name} left processes behind ({names}): sending "
                             f"{signal.Signals(self.config.stopsignal).name}")
        tree.signal_all(left, self.config.stopsignal)
        self.sup.loop.call_later(self.config.stopwaitsecs, tree.signal_all, left, signal.SIGKILL)
        self._await_leftovers(left)

    def _await_leftovers(self, left: list) -> None:
        """Note when every process in `left` has exited (pidfds), so that a restart can wait
        for them (machine.leftovers_gone)."""
        for p in left:
            try:
                fd = os.pidfd_open(p.pid)
            except OSError:
                continue            # already gone
            if not p.is_running():  # the pid was reused between the scan and the pidfd
                os.close(fd)
                continue
            self._leftovers[fd] = p.pid
            self.sup.loop.add_reader(fd, self._leftover_exited, fd)

    def _leftover_exited(self, fd: int) -> None:
        self.sup.loop.remove_reader(fd)
        os.close(fd)
        self._leftovers.pop(fd, None)
        if not self._leftovers:
            # A double fork under way when the tree was scanned leaves a process the scan
            # missed (its parent was swept before it forked): look again before calling it
            # gone. Not while a new instance runs: its processes share the group.
            if not self.machine.pid and self.killtree and self._members(0):
                self._clean_up_tree(stopping=self.machine.killing)
                if self._leftovers:
                    return
            self.sup.log("debug", f"{self.name}: what it left behind has exited")
            self._apply(self.machine.leftovers_gone(time.time()))

    def _kill(self, e: m.Kill) -> None:
        if self.killtree and e.sig == signal.SIGKILL:
            # After stopwaitsecs: the whole tree, setsid() descendants included.
            tree.signal_all([p for p in self.tree() if p.pid != e.pid], signal.SIGKILL)
        try:
            if e.as_group:
                if e.pid == self._sigpid and forking.exited(self._sigfd):
                    raise ProcessLookupError     # its group id may be anyone's by now
                os.killpg(e.pid, e.sig)
            else:
                self._send(e.pid, e.sig)
        except ProcessLookupError:
            # It exited on its own; SIGCHLD handling will finish it.
            self.sup.log("debug", f"unable to signal {self.name} (pid {e.pid}), it probably "
                                  "just exited on its own")
        except OSError as err:
            self._apply(self.machine.kill_failed(str(err), time.time()))

    def _arm(self, at: Optional[float]) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if at is not None:
            self._timer = self.sup.loop.call_later(max(0.0, at - time.time()), self._on_timer)

    # ---- output --------------------------------------------------------------------
    def _on_readable(self, channel: str) -> None:
        ch = self.channels[channel]
        try:
            data = os.read(ch.fd, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close_channel(ch)
            return
        self._output(ch, data)

    def _output(self, ch: OutputChannel, data: bytes) -> None:
        if self.sup.config.daemon.strip_ansi:
            data = strip_ansi(data)
        data = self.sup.bus.process_output(self, ch.name, data)
        if ch.log is not None and data:
            try:
                ch.log.write(data)
            except OSError as e:
                # Once per failure spell, not once per chunk: a full disk must not flood
                # the main log. The bytes wait in the file's pending buffer.
                if not ch.failing:
                    self.sup.log("error", f"cannot write {ch.name} log of {self.name}: {e}")
                ch.failing = True
            else:
                if ch.failing:
                    self.sup.log("info", f"{ch.name} log of {self.name} writable again")
                ch.failing = False
        if ch.logcfg.syslog:
            import syslog
            for line in data.decode("utf-8", "replace").splitlines():
                syslog.syslog(f"{self.name} {line}")
        for listener in list(ch.listeners):
            listener(data)

    def _drain(self) -> None:
        for ch in self.channels.values():
            while ch.fd is not None:
                try:
                    data = os.read(ch.fd, READ_CHUNK)
                except BlockingIOError:
                    break
                except OSError:
                    data = b""
                if not data:
                    self._close_channel(ch)
                    break
                self._output(ch, data)

    def _close_channel(self, ch: OutputChannel) -> None:
        if ch.fd is None:
            return
        self.sup.loop.remove_reader(ch.fd)
        ch.file.close()
        ch.fd = ch.file = None

    def _close_pipes(self) -> None:
        for ch in self.channels.values():
            self._close_channel(ch)
        if self.stdin is not None:
            self._drop_stdin_queue()
            try:
                self.stdin.close()
            except OSError:
                pass    # EPIPE flushing nothing: the child is gone
            self.stdin = None

    def clear_logs(self) -> None:
        """Remove the log files (and backups stay) and start them afresh, as supervisord."""
        for ch in self.channels.values():
            if ch.log is not None:
                ch.log.clear()
            elif ch.logfile and os.path.exists(ch.logfile):
                os.remove(ch.logfile)

    def reopen_logs(self) -> None:
        for ch in self.channels.values():
            if ch.log is not None:
                ch.log.reopen()

    def close(self) -> None:
        """Forget this process (group removed, or the daemon exits): release logs and
        timer; what a finished instance left and is still being swept goes now (a daemon
        that exits must leave nothing of a stopped program behind)."""
        self._arm(None)
        self._cancel_tasks()
        if self.killtree and not self.machine.pid:
            tree.signal_all(self._members(0), signal.SIGKILL)
        for fd in self._leftovers:
            self.sup.loop.remove_reader(fd)
            os.close(fd)
        self._leftovers.clear()
        if self._pidfd is not None:
            self.sup.loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        self._release_sigfd()
        self._close_pipes()
        for ch in self.channels.values():
            if ch.log is not None:
                ch.log.close()
                ch.log = None

    # ---- info ----------------------------------------------------------------------
    def info(self, now: float) -> dict:
        mc = self.machine
        return {
            "name": self.name,
            "group": self.group,
            "start": int(mc.laststart),
            "stop": int(mc.laststop),
            "now": int(now),
            "state": int(mc.state),
            "statename": mc.state.name,
            "spawnerr": mc.spawnerr or "",
            "exitstatus": mc.exitstatus or 0,
            "logfile": self.channels["stdout"].logfile or "",
            "stdout_logfile": self.channels["stdout"].logfile or "",
            "stderr_logfile": self.channels["stderr"].logfile or "",
            "pid": mc.pid,
        }
