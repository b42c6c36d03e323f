"""The life of one process as a pure state machine (sans-IO).

It is fed events (start/stop requests, "spawned", "spawn failed", "exited", "timer fired",
"the launcher exited leaving processes", "forked"...), each with the current wall-clock time,
and answers with effects for the edge to carry out: spawn, send a signal, arm the one timer
of this process, log a line, announce a state change, find the daemon a launcher left, kill
the instance's whole tree, run the stop command, finish an exit. The rules are supervisord's
(supervisor/process.py), turned from a 1-second poll into events: what supervisord notices on
its next tick, this machine schedules as a timer at the exact deadline (RUNNING after
startsecs, respawn after the backoff delay, SIGKILL after stopwaitsecs).

TRANSITIONS below is the state x event table: for each state, the states an event may lead
to (guards such as startsecs, exitcodes, autorestart and startretries choose among them). An
event not listed for a state leaves the state as it is. tests/test_machine.py drives the
machine through every (state, event) pair and checks the outcome against this table, and
docs/architecture.md prints table_text().

Forking (forking=auto, the default; wrapctl-only): the exit of the launcher (the command the
core spawned) with an expected status while processes it started are still alive is not the
process's exit but a fork: launcher_exited(survivors=True) answers FindMain, and the edge
answers forked(pid, how) (a pidfile's pid, or the process tree's top) or fork_refused(line)
(two unrelated daemons: they are killed and the start failed). The window is STARTING (before
startsecs, counted from launch); with startsecs=0, which has no window, it is the launcher's
own exit. A main pid taken from the tree that again exits with an expected status leaving
processes (the middle process of a double fork) is a fork again, in the same window.
"""
from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Optional, Union

from wrapctl.core.states import ProcessState as S, signame


# The state x event table (see the module docstring). Every event of ProcessMachine is a key
# somewhere; tests/test_machine.py checks the machine against it.
TRANSITIONS: dict[S, dict[str, frozenset]] = {
    S.STOPPED: {
        "start": frozenset({S.STARTING}),
        "autostart": frozenset({S.STOPPED, S.STARTING}),
        "give_up": frozenset({S.FATAL}),
        "adopted": frozenset({S.RUNNING}),
    },
    S.STARTING: {
        "start": frozenset({S.STARTING}),
        "stop": frozenset({S.STOPPING, S.STOPPED}),
        "kill": frozenset({S.STOPPING, S.STOPPED}),
        "give_up": frozenset({S.FATAL}),
        "spawned": frozenset({S.STARTING, S.RUNNING}),
        "spawn_failed": frozenset({S.BACKOFF, S.FATAL, S.STARTING}),
        "ready": frozenset({S.RUNNING}),
        "not_ready": frozenset({S.STARTING, S.BACKOFF, S.FATAL}),
        "exited": frozenset({S.BACKOFF, S.FATAL, S.EXITED, S.STARTING}),
        "launcher_exited": frozenset({S.STARTING, S.BACKOFF, S.FATAL, S.EXITED}),
        "forked": frozenset({S.STARTING, S.RUNNING}),
        "fork_refused": frozenset({S.BACKOFF, S.FATAL, S.EXITED, S.STARTING}),
        "kill_failed": frozenset({S.UNKNOWN}),
        "timer": frozenset({S.STARTING, S.RUNNING}),
    },
    S.RUNNING: {
        "start": frozenset({S.RUNNING}),
        "stop": frozenset({S.STOPPING}),
        "kill": frozenset({S.STOPPING}),
        "give_up": frozenset({S.FATAL}),
        "exited": frozenset({S.EXITED, S.STARTING}),
        "launcher_exited": frozenset({S.RUNNING, S.EXITED, S.STARTING}),
        "fork_refused": frozenset({S.EXITED, S.STARTING}),
        "forked": frozenset({S.RUNNING}),
        "unhealthy": frozenset({S.STOPPING}),
        "kill_failed": frozenset({S.UNKNOWN}),
    },
    S.BACKOFF: {
        "start": frozenset({S.STARTING}),
        "stop": frozenset({S.STOPPED}),
        "kill": frozenset({S.STOPPED}),
        "give_up": frozenset({S.FATAL}),
        "adopted": frozenset({S.RUNNING}),
        "timer": frozenset({S.BACKOFF, S.STARTING, S.FATAL}),
    },
    S.STOPPING: {
        "stop": frozenset({S.STOPPING}),
        "kill": frozenset({S.STOPPING}),
        "give_up": frozenset({S.FATAL}),
        "exited": frozenset({S.STOPPED, S.STARTING}),
        "launcher_exited": frozenset({S.STOPPED, S.STARTING}),
        "kill_failed": frozenset({S.UNKNOWN}),
        "timer": frozenset({S.STOPPING}),
        "stop_command_done": frozenset({S.STOPPING}),
    },
    S.EXITED: {
        "start": frozenset({S.STARTING}),
        "stop": frozenset({S.EXITED}),
        "kill": frozenset({S.EXITED}),
        "give_up": frozenset({S.FATAL}),
        "adopted": frozenset({S.RUNNING}),
        "leftovers_gone": frozenset({S.EXITED, S.STARTING}),
        "timer": frozenset({S.EXITED, S.STARTING}),
    },
    S.FATAL: {
        "start": frozenset({S.STARTING}),
        "give_up": frozenset({S.FATAL}),
        "adopted": frozenset({S.RUNNING}),
    },
    S.UNKNOWN: {
        "stop": frozenset({S.STOPPING}),
        "kill": frozenset({S.STOPPING}),
        "kill_failed": frozenset({S.UNKNOWN}),
        "give_up": frozenset({S.FATAL}),
        "exited": frozenset({S.STOPPED, S.EXITED, S.STARTING}),
        "launcher_exited": frozenset({S.STOPPED, S.EXITED, S.STARTING}),
    },
}
# Events that never change the state by themselves (bookkeeping for the edge), taken in
# every state. Any other event not listed for the current state is ignored: no effect.
NEUTRAL_EVENTS = ("moved", "cancel_restart")


def _event(method):
    """Run `method` only where TRANSITIONS lists it for the current state."""
    name = method.__name__

    def guarded(self, *args, **kw):
        if name not in TRANSITIONS[self.state]:
            return self._take()
        return method(self, *args, **kw)
    guarded.__name__ = name
    guarded.__doc__ = method.__doc__
    guarded.event = True
    return guarded



# A program that keeps dying as soon as it starts (within QUICK_EXIT, twice in a row) is
# restarted at most once a second; and one that keeps exiting by itself is restarted
# automatically at most AUTO_RESTARTS times in MIN_RESTART_INTERVAL, however long its runs.
# The second bound does not depend on the machine's speed: under load, fork, exec and reap
# of `true` take over QUICK_EXIT, and a tight loop of them starves the API. A death by a
# signal (kill -9 from outside) is not counted: it is restarted at once.
MIN_RESTART_INTERVAL = 1.0
QUICK_EXIT = 0.1
AUTO_RESTARTS = 2


# Effects ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Spawn:
    """Fork/exec the command now; answer with spawned() or spawn_failed()."""


@dataclass(frozen=True)
class Kill:
    pid: int
    sig: int
    as_group: bool


@dataclass(frozen=True)
class Timer:
    """Arm this process's timer at `at` (wall clock), replacing any armed one; None disarms."""
    at: Optional[float]


@dataclass(frozen=True)
class Log:
    level: str      # "info" | "warn" | "debug" | "critical"
    message: str


@dataclass(frozen=True)
class StateChange:
    old: S
    new: S
    expected: bool = True


@dataclass(frozen=True)
class FindMain:
    """The launcher is gone and left processes: find the daemon among them (a pidfile, or
    the tree's top); answer with forked() or fork_refused(), or, for a pidfile= that is not
    written yet, wait for it (forked() or not_ready() follows)."""


@dataclass(frozen=True)
class KillTree:
    """Send sig to every live process of the current instance (its cgroup, or its tree)."""
    sig: int


@dataclass(frozen=True)
class Finish:
    """The main process is gone for good: clean up what it left, close its pipes, and
    answer with exited(status, message, leftovers=...)."""
    status: int
    message: str


@dataclass(frozen=True)
class RunStopCommand:
    """Run the program's stopcommand=; answer with stop_command_done(returncode)."""


Effect = Union[Spawn, Kill, Timer, Log, StateChange, FindMain, KillTree, Finish, RunStopCommand]


def table_text() -> str:
    """TRANSITIONS as a Markdown table (docs/architecture.md prints this)."""
    rows = ["| state | event | may lead to |", "|---|---|---|"]
    for state, row in TRANSITIONS.items():
        for event in sorted(row):
            new = " ".join(n.name for n in sorted(row[event]))
            rows.append(f"| {state.name} | {event} | {new} |")
    return "\n".join(rows)


def _option(config, name: str) -> Optional[str]:
    get = getattr(config, "extra_get", None)
    return get(name) if get else getattr(config, name, None)


class ProcessMachine:
    """One process's state. `config` needs: name, startsecs, startretries, autostart,
    autorestart ("true"/"false"/"unexpected"), exitcodes, stopsignal, stopwaitsecs,
    stopasgroup, killasgroup; optional: stopcommand, and forking, pidfile, ready,
    backoff_max (wrapctl-only, through extra_get)."""

    def __init__(self, config):
        self.config = config
        self.state = S.STOPPED
        self.pid = 0
        self.laststart = 0.0
        self.laststop = 0.0
        self.spawnerr: Optional[str] = None
        self.exitstatus: Optional[int] = None
        self.backoff = 0
        self.delay = 0.0            # deadline of the pending timer's purpose
        self.killing = False
        self.administrative_stop = False
        self.system_stop = False
        # False while the supervisor shuts down or reloads: no automatic (re)starts then.
        self.may_autostart = True
        self._out: list[Effect] = []
        # backoff_max= (wrapctl-only) switches the wait between retries from supervisord's
        # 1, 2, 3... seconds to 1, 2, 4, 8... capped at backoff_max.
        raw = _option(config, "backoff_max")
        self.backoff_max: Optional[float] = float(raw) if raw else None
        # ready= (wrapctl-only): RUNNING when the readiness check passes, not after startsecs;
        # dying before that is a failed start, whatever the time.
        self.needs_ready = bool(_option(config, "ready") or _option(config, "pidfile"))
        # pidfile= without ready=: RUNNING once the daemon is found and startsecs have passed
        self.pidfile_only = bool(_option(config, "pidfile")) and not _option(config, "ready")
        self.ready_how: Optional[str] = None    # found before startsecs had passed
        self.not_ready_reason: Optional[str] = None
        self.restart_pending = False    # an autorestart waiting (crash-loop pace, leftovers)
        self.restart_at: Optional[float] = None    # when the crash-loop pace allows it
        # Processes the main one left are being stopped (exited(leftovers=True)). A restart
        # waits for leftovers_gone(): workers of a crashed master still hold its port, and a
        # new master started at once would fail to bind.
        self.leftovers = False
        self.quick_exits = 0            # autorestarts in a row of runs shorter than that
        self.auto_starts: list[float] = []  # times of the last AUTO_RESTARTS autorestarts
        # forking= (wrapctl-only): "auto" adopts what a launcher leaves; "off" is
        # supervisord's rule (the launcher's exit is the process's exit). pidfile= follows
        # its daemon either way.
        self.forking_auto = (_option(config, "forking") or "auto").strip().lower() != "off"
        self.has_pidfile = bool(_option(config, "pidfile"))
        self.stopcommand: Optional[str] = getattr(config, "stopcommand", None)
        # The main pid is still the launcher, or a process the fork rule took from the tree
        # (which may be the middle of a double fork): its exit may be a fork.
        self.handed_over = False
        self.awaiting_main = False      # the launcher is gone, the daemon not found yet
        self.forked_how: Optional[str] = None   # how the daemon's pid was found
        self.restart_when_stopped = False   # a restart (health failure, changed config)

    # ---- helpers --------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.config.name

    def _emit(self, effect: Effect) -> None:
        self._out.append(effect)

    def _take(self) -> list[Effect]:
        out, self._out = self._out, []
        return out

    def _change(self, new: S, now: float, expected: bool = True) -> None:
        old = self.state
        if new == old:
            return
        self.state = new
        if new == S.BACKOFF:
            self.backoff += 1
            self.delay = now + self.backoff_wait()
        self._emit(StateChange(old, new, expected))

    def _arm(self, at: Optional[float]) -> None:
        self._emit(Timer(at))

    def backoff_wait(self) -> float:
        """Seconds before the next try, self.backoff tries having failed."""
        if self.backoff_max is None:
            return float(self.backoff)
        return min(self.backoff_max, 2.0 ** (self.backoff - 1))

    # ---- requests -------------------------------------------------------------------
    @_event
    def start(self, now: float) -> list[Effect]:
        """Ask for a spawn (API start, autostart, autorestart, backoff retry)."""
        self.restart_pending = False
        self.restart_at = None
        if self.pid:
            self._emit(Log("warn", f"process '{self.name}' already running"))
            return self._take()
        self.killing = False
        self.spawnerr = None
        self.exitstatus = None
        self.system_stop = False
        self.administrative_stop = False
        self.laststart = now
        self._change(S.STARTING, now)
        self._emit(Spawn())
        return self._take()

    @_event
    def autostart(self, now: float) -> list[Effect]:
        """At daemon start-up: STOPPED and never started -> spawn if autostart."""
        if (self.may_autostart and self.state == S.STOPPED and not self.laststart
                and self.config.autostart):
            return self.start(now)
        return self._take()

    @_event
    def stop(self, now: float) -> list[Effect]:
        """Administrative stop."""
        self.administrative_stop = True
        if (self.stopcommand and self.pid and not self.awaiting_main
                and self.state in (S.STARTING, S.RUNNING)):
            # The command first (an init script's stop action); the main pid's exit ends
            # the stop, and the tree is killed after stopwaitsecs as after a stop signal.
            self._emit(Log("debug", f"stopping {self.name} (pid {self.pid}) with its stop "
                                    f"command: {self.stopcommand}"))
            self.killing = True
            self.delay = now + self.config.stopwaitsecs
            self._change(S.STOPPING, now)
            self._arm(self.delay)
            self._emit(RunStopCommand())
            return self._take()
        return self.kill(self.config.stopsignal, now)

    @_event
    def stop_command_done(self, returncode: int, now: float) -> list[Effect]:
        """The stop command finished. A failed one falls back to the stop signal."""
        if self.state == S.STOPPING and self.killing and self.pid and returncode != 0:
            self._emit(Log("warn", f"stop command of {self.name} exited {returncode}: "
                                   f"sending {signame(self.config.stopsignal)} to pid "
                                   f"{self.pid}"))
            self._emit(Kill(self.pid, self.config.stopsignal, self.config.stopasgroup))
        return self._take()

    @_event
    def unhealthy(self, reason: str, now: float) -> list[Effect]:
        """The health check failed too often: stop, then start again."""
        if self.state != S.RUNNING:
            return self._take()
        self._emit(Log("warn", f"healthcheck of {self.name} failed ({reason}): restarting"))
        self.restart_when_stopped = True
        return self.stop(now)

    @_event
    def give_up(self, now: float) -> list[Effect]:
        self.delay = 0
        self.backoff = 0
        self.system_stop = True
        self._arm(None)
        self._change(S.FATAL, now)
        return self._take()

    @_event
    def kill(self, sig: int, now: float) -> list[Effect]:
        if self.state == S.BACKOFF:
            self._emit(Log("debug", f"Attempted to kill {self.name}, which is in BACKOFF state."))
            self._arm(None)
            self._change(S.STOPPED, now)
            return self._take()
        if not self.pid:
            self._emit(Log("debug", f"attempted to kill {self.name} with sig {signame(sig)} "
                                    "but it wasn't running"))
            self._cancel_restart()
            return self._take()
        if self.awaiting_main:
            # Only the launcher ran, and it is gone: no pid to signal (it may be anyone's by
            # now); what it left is killed and the process is stopped.
            self._emit(Log("info", f"stopping {self.name}: its launcher has exited and no "
                                   "daemon was found yet; killing what it left"))
            self.killing = True
            self._change(S.STOPPING, now)
            self._emit(KillTree(signal.SIGKILL))
            self._emit(Finish(-1, "terminated by SIGKILL"))
            return self._take()
        # The stop signal goes by stopasgroup; the SIGKILL after stopwaitsecs by killasgroup.
        as_group = self.config.killasgroup if self.state == S.STOPPING else self.config.stopasgroup
        self._emit(Log("debug", f"killing {self.name} (pid {self.pid}) "
                                f"{'process group ' if as_group else ''}with signal {signame(sig)}"))
        self.killing = True
        self.delay = now + self.config.stopwaitsecs
        self._change(S.STOPPING, now)
        self._arm(self.delay)
        self._emit(Kill(self.pid, sig, as_group))
        return self._take()

    @_event
    def adopted(self, pid: int, laststart: float, now: float) -> list[Effect]:
        """Re-attached after a core restart to a process that still runs: RUNNING."""
        self.pid = pid
        self.handed_over = self.awaiting_main = False
        self.laststart = laststart
        self.killing = False
        self.spawnerr = None
        self._change(S.RUNNING, now)
        self._emit(Log("info", f"re-attached: '{self.name}' with pid {pid}"))
        return self._take()

    @_event
    def kill_failed(self, message: str, now: float) -> list[Effect]:
        """The edge could not deliver a kill for a reason other than ESRCH."""
        self._emit(Log("critical", f"unknown problem killing {self.name} ({self.pid}):{message}"))
        self.killing = False
        self.delay = 0
        self._arm(None)
        self._change(S.UNKNOWN, now)
        return self._take()

    # ---- outcomes from the edge -----------------------------------------------------
    @_event
    def spawned(self, pid: int, now: float) -> list[Effect]:
        self.pid = pid
        self.not_ready_reason = None
        self.handed_over = True
        self.awaiting_main = False
        self.forked_how = None
        self.ready_how = None
        self._emit(Log("info", f"spawned: '{self.name}' with pid {pid}"))
        self.delay = self.laststart + self.config.startsecs
        if self.needs_ready:
            pass    # the edge runs the check; ready() or not_ready() follows
        elif self.config.startsecs <= 0:
            self._enter_running(now)
        else:
            self._arm(self.delay)
        return self._take()

    @_event
    def spawn_failed(self, message: str, now: float) -> list[Effect]:
        self.spawnerr = message
        self._emit(Log("info", f"spawnerr: {message}"))
        self._change(S.BACKOFF, now)
        self._after_backoff(now)
        return self._take()

    @_event
    def ready(self, now: float, how: str) -> list[Effect]:
        """The readiness check passed."""
        if self.state == S.STARTING and self.pid and not self.not_ready_reason:
            if self.pidfile_only and now < self.delay:
                # pidfile= alone: the daemon found, RUNNING still startsecs after the launch
                # (a daemon that writes its pidfile and dies at once has failed to start).
                self.ready_how = how
                self._arm(self.delay)
                return self._take()
            self._ready_now(now, how)
        return self._take()

    def _ready_now(self, now: float, how: str) -> None:
        self.delay = 0
        self.backoff = 0
        self._change(S.RUNNING, now)
        self._emit(Log("info", f"success: {self.name} entered RUNNING state, ready ({how})"))

    def moved(self, pid: int, why: str) -> list[Effect]:
        """The main pid is now `pid` (the daemon's pidfile moved on: nginx's USR2)."""
        if pid != self.pid:
            self._emit(Log("info", f"{self.name}: following pid {pid} ({why})"))
            self.pid = pid
            self.handed_over = False
        return self._take()

    # ---- forking ---------------------------------------------------------------------
    def in_fork_window(self, status: int) -> bool:
        """May the main pid's exit with `status` be a fork? (Then the edge looks for
        survivors and calls launcher_exited; otherwise it finishes the exit.)"""
        if not (self.forking_auto or self.has_pidfile) or not self.handed_over:
            return False
        if self.killing or self.not_ready_reason or status not in self.config.exitcodes:
            return False
        if self.state == S.STARTING:
            return True
        # startsecs=0 has no STARTING window: the launcher's own exit (and the middle of a
        # double fork taken from the tree) still counts.
        return self.state == S.RUNNING and self.config.startsecs <= 0

    @_event
    def launcher_exited(self, status: int, message: str, now: float,
                        survivors: bool) -> list[Effect]:
        """The main pid exited while it was the launcher (or a process taken from the tree);
        survivors: processes of the instance are still alive."""
        if not self.in_fork_window(status):
            self._emit(Finish(status, message))
            return self._take()
        if not survivors:
            if self.has_pidfile:
                self._emit(Log("info", f"{self.name}: launcher {self.pid} exited {status} and "
                                       "left no process: no daemon to wait for"))
            self._emit(Finish(status, message))
            return self._take()
        self._emit(Log("debug", f"{self.name}: pid {self.pid} exited ({message}) leaving "
                                "processes: looking for the daemon"))
        self.awaiting_main = True
        self._emit(FindMain())
        return self._take()

    @_event
    def forked(self, pid: int, how: str, now: float) -> list[Effect]:
        """The daemon is `pid`, found `how` ("pid from /run/x.pid", "the process tree's
        top"). RUNNING still comes after startsecs from the launch (or with ready=)."""
        if self.state not in (S.STARTING, S.RUNNING) or not self.pid:
            return self._take()
        from_tree = not how.startswith("pid from")
        if pid != self.pid or self.forked_how != how:
            self._emit(Log("info", f"{self.name}: forked; following pid {pid} ({how})"))
        self.pid = pid
        self.forked_how = how
        self.awaiting_main = False
        self.handed_over = from_tree
        if self.state == S.STARTING and not self.needs_ready and now >= self.delay:
            self._enter_running(now)
        return self._take()

    @_event
    def fork_refused(self, line: str, now: float) -> list[Effect]:
        """The daemon cannot be told among what the launcher left: kill all of it; the
        start failed (or, with startsecs=0, the process exited)."""
        if self.state not in (S.STARTING, S.RUNNING) or not self.pid:
            return self._take()
        self._emit(Log("warn", line))
        self.not_ready_reason = line
        self.awaiting_main = False
        self._emit(KillTree(signal.SIGKILL))
        self._emit(Finish(-1, "refused: cannot tell the daemon"))
        return self._take()

    @_event
    def not_ready(self, reason: str, now: float) -> list[Effect]:
        """The readiness check timed out: kill it; its exit is a failed start."""
        if self.state != S.STARTING or not self.pid:
            return self._take()
        self.not_ready_reason = reason
        if self.awaiting_main:
            self._emit(Log("warn", f"{self.name}: {reason}; killing what its launcher left"))
            self.awaiting_main = False
            self._emit(KillTree(signal.SIGKILL))
            self._emit(Finish(-1, "terminated by SIGKILL"))
            return self._take()
        self._emit(Log("warn", f"{self.name}: {reason}; killing pid {self.pid}"))
        self._emit(Kill(self.pid, signal.SIGKILL, True))
        return self._take()

    @_event
    def exited(self, status: int, message: str, now: float,
               leftovers: bool = False) -> list[Effect]:
        """The process was reaped: status as decode_wait_status gives it (-1 for a signal).
        leftovers: what it left behind is still being stopped."""
        self.laststop = now
        self.leftovers = leftovers
        self.awaiting_main = self.handed_over = False
        if self.needs_ready:
            too_quickly = self.state == S.STARTING
        else:
            too_quickly = (now - self.laststart) < self.config.startsecs if now > self.laststart else False
        exit_expected = status in self.config.exitcodes
        self._arm(None)
        if self.killing:
            self.killing = False
            self.delay = 0
            self.exitstatus = status
            self._change(S.STOPPED, now)
            self._emit(Log("info" if exit_expected else "warn", f"stopped: {self.name} ({message})"))
            if self.restart_when_stopped:
                self.restart_when_stopped = False
                self.pid = 0
                if self.may_autostart:
                    return self._take() + self.start(now)
                return self._take()
        elif too_quickly and self.state == S.STARTING:
            self.exitstatus = None
            self.spawnerr = (self.not_ready_reason or
                             "Exited too quickly (process log may have details)")
            self._change(S.BACKOFF, now)
            self._emit(Log("warn", f"exited: {self.name} ({message}; not expected)"))
            self.pid = 0
            self._after_backoff(now)
            return self._take()
        else:
            self.delay = 0
            self.backoff = 0
            self.exitstatus = status
            if self.state == S.STARTING:
                self._change(S.RUNNING, now)
            if exit_expected:
                self._change(S.EXITED, now, expected=True)
                self._emit(Log("info", f"exited: {self.name} ({message}; expected)"))
            else:
                self.spawnerr = f"Bad exit code {status}"
                self._change(S.EXITED, now, expected=False)
                self._emit(Log("warn", f"exited: {self.name} ({message}; not expected)"))
        self.pid = 0
        if self.state == S.EXITED and self.may_autostart and self._wants_restart():
            short = now - self.laststart < QUICK_EXIT
            self.quick_exits = self.quick_exits + 1 if short else 0
            busy = (status >= 0 and len(self.auto_starts) == AUTO_RESTARTS
                    and self.auto_starts[0] > now - MIN_RESTART_INTERVAL)
            if (short and self.quick_exits > 1) or busy:
                # Again it died as soon as it started, or it is restarted too often: a crash
                # loop. Restart when a second has passed (supervisord's tick gives the same
                # pace), not in a tight loop; any other exit is restarted at once.
                self.restart_pending = True
                self.restart_at = (self.auto_starts[0] if busy and not short
                                   else self.laststart) + MIN_RESTART_INTERVAL
                self._arm(self.restart_at)
                return self._take()
            if self.leftovers:
                self.restart_pending = True
                self._emit(Log("info", f"{self.name}: restarting once what it left behind "
                                       "has exited"))
                return self._take()
            return self._take() + self._auto_start(now)
        return self._take()

    def _auto_start(self, now: float) -> list[Effect]:
        self.auto_starts = (self.auto_starts + [now])[-AUTO_RESTARTS:]
        return self.start(now)

    @_event
    def leftovers_gone(self, now: float) -> list[Effect]:
        """What the last main process left behind has exited (or was killed)."""
        self.leftovers = False
        if (self.state == S.EXITED and self.restart_pending and self.may_autostart
                and (self.restart_at is None or now >= self.restart_at)):
            return self._take() + self._auto_start(now)
        return self._take()

    def cancel_restart(self) -> list[Effect]:
        """A stop while an autorestart waits: it does not happen."""
        self._cancel_restart()
        return self._take()

    def _cancel_restart(self) -> None:
        if self.restart_pending:
            self.restart_pending = False
            self.restart_at = None
            self._arm(None)
            self._emit(Log("info", f"{self.name}: pending restart cancelled"))

    @_event
    def timer(self, now: float) -> list[Effect]:
        """This process's timer fired."""
        if self.state == S.EXITED and self.restart_pending:
            self.restart_at = None
            if self.leftovers:
                return self._take()     # leftovers_gone() starts it
            self.restart_pending = False
            return self._take() + (self._auto_start(now) if self.may_autostart else [])
        if self.state == S.STARTING and self.pid and now >= self.delay:
            if not self.needs_ready:
                self._enter_running(now)
            elif self.ready_how is not None:
                self._ready_now(now, self.ready_how)
        elif self.state == S.BACKOFF:
            self._after_backoff(now)
        elif self.state == S.STOPPING and now >= self.delay:
            self._emit(Log("warn", f"killing '{self.name}' ({self.pid}) with SIGKILL"))
            return self._take() + self.kill(signal.SIGKILL, now)
        return self._take()

    # ---- internal transitions -------------------------------------------------------
    def _enter_running(self, now: float) -> None:
        self.delay = 0
        self.backoff = 0
        self._change(S.RUNNING, now)
        self._emit(Log("info", f"success: {self.name} entered RUNNING state, process has stayed "
                               f"up for > than {self.config.startsecs} seconds (startsecs)"))

    def _after_backoff(self, now: float) -> None:
        """In BACKOFF: give up after startretries, else retry once the delay has passed."""
        if 0 <= self.config.startretries < self.backoff:   # -1: retry for ever
            self.delay = 0
            self.backoff = 0
            self.system_stop = True
            self._arm(None)
            self._change(S.FATAL, now)
            self._emit(Log("info", f"gave up: {self.name} entered FATAL state, too many start "
                                   "retries too quickly"))
        elif not self.may_autostart:
            self._arm(None)
        elif now >= self.delay:
            started = self.start(now)   # start() drains self._out: re-queue what it took
            self._out.extend(started)
        else:
            self._arm(self.delay)

    def _wants_restart(self) -> bool:
        ar = self.config.autorestart
        if ar == "true":
            return True
        if ar == "unexpected":
            return self.exitstatus not in self.config.exitcodes
        return False
