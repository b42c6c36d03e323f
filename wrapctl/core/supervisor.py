"""The supervisor: process groups, start and shutdown order, reaping, config changes.

Runs on an asyncio loop. A child's exit arrives as SIGCHLD through the loop's signal wakeup
fd and is reaped at once; every other wait is a timer armed by a process's state machine.
With nothing scheduled the loop sleeps in epoll with no timeout: zero wakeups when idle.
"""
from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Callable, Optional

from wrapctl.config import deps as depsmod
from wrapctl.config.records import Config, GroupConfig
from wrapctl.core.bus import Bus
from wrapctl.core.process import Process
from wrapctl.core.states import (ProcessState as S, SupervisorState, STOPPED_STATES)


class _CommandWaiter:
    """A helper command's pid in the reaper's table (exec: readiness checks)."""

    def __init__(self, popen, future):
        self.popen = popen
        self.future = future

    def reaped(self, sts: int, pid: int = 0) -> None:
        self.popen.returncode = os.waitstatus_to_exitcode(sts)
        if not self.future.done():
            self.future.set_result(self.popen.returncode)


class Group:
    def __init__(self, config: GroupConfig, sup: "Supervisor"):
        self.config = config
        self.processes: dict[str, Process] = {}
        for pc in config.processes:
            self.processes[pc.name] = Process(pc, sup)

    @property
    def name(self) -> str:
        return self.config.name

    def ordered(self) -> list[Process]:
        """By priority, then the configuration's order (config.loader: supervisord's)."""
        place = {pc.name: i for i, pc in enumerate(self.config.processes)}
        return sorted(self.processes.values(),
                      key=lambda p: (p.config.priority, place.get(p.name, len(place))))

    def unstopped(self) -> list[Process]:
        return [p for p in self.processes.values() if p.state not in STOPPED_STATES]

    def stop_all(self, sup: Optional["Supervisor"] = None) -> None:
        """Stop in descending priority order; BACKOFF gives up (supervisord's stop_all).
        With dependencies, a process is stopped only once its dependants have stopped."""
        for p in reversed(self.ordered()):
            if sup is not None:
                sup.cancel_wait(p)
            p.cancel_restart()
            if p.state in (S.RUNNING, S.STARTING):
                if sup is None:
                    p.stop()
                else:
                    sup.stop_after_dependants(p)
            elif p.state == S.BACKOFF:
                p.give_up()


class Supervisor:
    def __init__(self, config: Config, loop: asyncio.AbstractEventLoop,
                 logger, serverurl: Optional[str] = None, bus: Optional[Bus] = None):
        self.config = config
        self.bus = bus if bus is not None else Bus()
        self.loop = loop
        self.logger = logger
        self.serverurl = serverurl
        self.state = SupervisorState.RUNNING
        self.groups: dict[str, Group] = {}
        self.pids: dict[int, Process] = {}
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future]] = []
        self.listeners: list[Callable] = []      # state-change observers (events, web UI)
        self.stopped = asyncio.Event()           # set when shutdown/restart has stopped all
        self._stop_queue: list[Group] = []
        self._advancing_stop = False
        self.deps: dict[str, tuple[str, ...]] = depsmod.dependency_map(config)
        self.waiting: dict[str, tuple[Process, bool]] = {}   # key -> (process, autostart?)
        self.keeper = None          # keeper.Keeper when re-attachment is on
        self.cgroups = None         # cgroups.Cgroups where the daemon may create groups
        self.dirwatch = None        # forking.DirWatch: *.pid files written (forking=auto)

    # ---- logging & notification ------------------------------------------------------
    def log(self, level: str, message: str) -> None:
        getattr(self.logger, level if level != "warning" else "warn")(message)

    def state_changed(self, proc: Process, old: S, new: S, expected: bool) -> None:
        self.bus.process_state(proc, old, new, expected)
        for fn in self.listeners:
            fn(proc, old, new, expected)
        if self.waiting and (new == S.RUNNING or new == S.FATAL):
            self._start_waiting()
        self._check_waiters()
        if self._stop_queue and new in STOPPED_STATES:
            self._advance_stop()

    def _check_waiters(self) -> None:
        if not self._waiters:
            return
        keep = []
        for pred, fut in self._waiters:
            if fut.done():
                continue
            try:
                if pred():
                    fut.set_result(True)
                    continue
            except Exception as e:   # the predicate raised an RPC error: deliver it
                fut.set_exception(e)
                continue
            keep.append((pred, fut))
        self._waiters = keep

    async def wait_until(self, pred: Callable[[], bool]) -> None:
        """Wait until pred() is true (or raises) after some state change; no polling."""
        if pred():
            return
        fut = self.loop.create_future()
        self._waiters.append((pred, fut))
        await fut

    # ---- groups ----------------------------------------------------------------------
    def ordered_groups(self) -> list[Group]:
        """supervisord's order: by priority, then in the order the groups were added (the
        configuration's, by name; a group added or changed later comes after its peers)."""
        return sorted(self.groups.values(), key=lambda g: g.config.priority)

    def add_group(self, gconfig: GroupConfig) -> bool:
        if gconfig.name in self.groups:
            return False
        group = Group(gconfig, self)
        self.groups[gconfig.name] = group
        self.log("info", f"added process group {gconfig.name}")
        self.bus.group_added(gconfig.name)
        if self.state == SupervisorState.RUNNING:
            for p in group.ordered():
                if p.config.autostart:
                    self.start_when_ready(p, auto=True)
        return True

    def remove_group(self, name: str) -> bool:
        group = self.groups.get(name)
        if group is None or group.unstopped():
            return False
        for p in group.processes.values():
            p.close()
        del self.groups[name]
        self.log("info", f"removed process group {name}")
        self.bus.group_removed(name)
        return True

    def find(self, group_name: str, process_name: Optional[str]):
        """(group, process) for an API name; process is None for group:* or a bare group."""
        group = self.groups.get(group_name)
        if group is None:
            return None, None
        if process_name is None:
            return group, None
        return group, group.processes.get(process_name)

    def all_processes(self) -> list[Process]:
        out = []
        for g in self.ordered_groups():
            out.extend(g.ordered())
        return out

    # ---- life cycle --------------------------------------------------------------------
    def start(self, records: Optional[dict] = None, held: Optional[dict] = None) -> None:
        """Create the groups, re-attach to what a previous core left running (records
        from its state file, pipes from the fd holder), then autostart the rest."""
        self.loop.add_signal_handler(signal.SIGCHLD, self.reap)
        for gc in self.config.groups:
            self.groups[gc.name] = Group(gc, self)
        self.bus.supervisor_started(self)
        if records or held:
            self.restore(records or {}, held or {})
        self.autostart_all()
        self.reap()     # a child may have exited before the handler was installed

    def autostart_all(self) -> None:
        for g in self.ordered_groups():
            for p in g.ordered():
                if p.config.autostart:
                    self.start_when_ready(p, auto=True)

    # ---- dependencies ----------------------------------------------------------------------
    @staticmethod
    def key(proc: Process) -> str:
        return f"{proc.group}:{proc.name}"

    def lookup(self, key: str) -> Optional[Process]:
        gname, pname = key.split(":", 1)
        group = self.groups.get(gname)
        return group.processes.get(pname) if group is not None else None

    def unmet(self, proc: Process) -> list[Process]:
        """Dependencies of proc that are not RUNNING (and so not ready) now."""
        out = []
        for k in self.deps.get(self.key(proc), ()):
            dep = self.lookup(k)
            if dep is not None and dep.state != S.RUNNING:
                out.append(dep)
        return out

    def dependants(self, proc: Process) -> list[Process]:
        me = self.key(proc)
        return [p for k, ds in self.deps.items() if me in ds
                for p in [self.lookup(k)] if p is not None]

    def waiting_description(self, proc: Process) -> Optional[str]:
        if self.key(proc) not in self.waiting:
            return None
        names = [d.name if d.name == d.group else f"{d.group}:{d.name}" for d in self.unmet(proc)]
        failed = [d for d in self.unmet(proc) if d.state in (S.FATAL, S.BACKOFF)]
        text = "waiting for " + ", ".join(names)
        if failed:
            text += " (" + ", ".join(f"{d.name} is {d.state.name}" for d in failed) + ")"
        return text

    def start_when_ready(self, proc: Process, auto: bool) -> bool:
        """Start now if every dependency is RUNNING, else wait for them (True: started)."""
        if auto and self.state == SupervisorState.SHUTDOWN:
            return False
        if not self.unmet(proc):
            self.waiting.pop(self.key(proc), None)
            proc.autostart() if auto else proc.start()
            return True
        if self.key(proc) not in self.waiting:
            self.waiting[self.key(proc)] = (proc, auto)
            self.log("info", f"{proc.name}: {self.waiting_description(proc)}")
        return False

    def cancel_wait(self, proc: Process) -> bool:
        return self.waiting.pop(self.key(proc), None) is not None

    def _start_waiting(self) -> None:
        if self.state != SupervisorState.RUNNING:
            return
        for key, (proc, auto) in list(self.waiting.items()):
            if key in self.waiting and not self.unmet(proc):
                self.start_when_ready(proc, auto)

    def stop_after_dependants(self, proc: Process) -> None:
        """Stop proc, but first whatever depends on it; proc itself once they have stopped
        (state_changed() brings the shutdown back here)."""
        blocking = [d for d in self.dependants(proc) if d.state not in STOPPED_STATES]
        for d in blocking:
            if d.state in (S.RUNNING, S.STARTING):
                self.stop_after_dependants(d)
            elif d.state == S.BACKOFF:
                d.give_up()
        if not blocking and proc.state in (S.RUNNING, S.STARTING):
            proc.stop()

    def restore(self, records: dict, held: dict) -> None:
        """Re-attach to what the previous core left (records: keeper.read_state's checked
        records; held: the fd holder's pipes)."""
        from wrapctl.core.keeper import config_digest, same_process
        for key in sorted(set(records) | set(held)):
            rec = records.get(key)
            fds = held.get(key, [])
            proc = self.lookup(key) if ":" in key else None
            if proc is None:
                for fd in fds:
                    os.close(fd)
                if rec:
                    self._stop_unconfigured(key, rec)
                continue
            if rec:
                proc.use_logs(rec["logs"])
            if rec and len(fds) == 3:
                why = proc.adopt(rec, fds)
            elif rec and same_process(rec["pid"], rec["create_time"]):
                why = "cannot be re-attached: the fd holder did not keep its pipes"
            else:
                why = "died while the core was down"
            if why is None:
                if rec["digest"] != config_digest(proc.config):
                    self.log("info", f"{key}: configuration changed while the core was down:"
                                     " restarting it")
                    proc._restart_when_stopped = True
                    proc.stop()
                continue
            if len(fds) == 3:
                proc.drain_orphaned_pipes(fds)
            else:
                for fd in fds:
                    os.close(fd)
            if rec:
                self.log("info", f"{key} (pid {rec['pid']}) {why}")
                if self.keeper is not None:
                    self.keeper.drop(key)

    def _stop_unconfigured(self, key: str, rec: dict) -> None:
        """A recorded program no longer configured: stop what the old core left, but only
        a process that proves it is that program's (its marker, its own cgroup)."""
        from wrapctl.core import cgroups, tree as treemod
        from wrapctl.core.keeper import carries, same_process
        pid = rec["pid"]
        cgroup = rec["cgroup"]
        if self.cgroups is None or cgroup != self.cgroups.path(key):
            cgroup = None
        if not same_process(pid, rec["create_time"]):
            return
        if not carries(pid, rec["marker"], cgroup):
            self.log("warn", f"{key} (pid {pid}) is no longer configured, but pid {pid} "
                             "carries neither its instance marker nor its cgroup: left alone")
            return
        self.log("warn", f"{key} (pid {pid}) is no longer configured: stopping it")
        procs = (treemod.alive(cgroups.members(cgroup)) if cgroup is not None
                 else treemod.members(pid, rec["marker"]))
        treemod.signal_all([p for p in procs if p.pid > 1 and p.pid != os.getpid()],
                           signal.SIGTERM)

    def register_pid(self, pid: int, proc: Process) -> None:
        self.pids[pid] = proc

    def reap(self) -> None:
        """Collect every exited child first, then handle them: a handler may spawn (an
        autorestart), and a child that exits at once must wait for the next SIGCHLD, not
        keep this loop going while the API and signals starve."""
        exited = []
        while True:
            try:
                pid, sts = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            exited.append((pid, sts))
        for pid, sts in exited:
            proc = self.pids.pop(pid, None)
            if proc is None:
                # An orphan re-parented to us (we are a subreaper) that has now exited.
                self.log("debug", f"reaped unknown pid {pid} (exit status {sts})")
            else:
                proc.reaped(sts, pid)

    async def run_command(self, argv) -> int:
        """Run a helper command to completion; its exit code. Reaped by our own reaper
        (a waitpid elsewhere would race it); killed with its group if cancelled."""
        import subprocess
        if self.cgroups is not None:
            self.cgroups.go_home()     # a helper command is nobody's program
        popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, process_group=0, close_fds=True)
        fut = self.loop.create_future()
        self.pids[popen.pid] = _CommandWaiter(popen, fut)
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            try:
                os.killpg(popen.pid, signal.SIGKILL)
            except OSError:
                pass
            raise

    def begin_stop_all(self, mood: SupervisorState) -> None:
        """Shutdown or restart: no more automatic starts; stop groups one at a time,
        highest priority first, each fully stopped before the next (as supervisord)."""
        self.state = mood
        self.bus.supervisor_state("STOPPING")
        for p in self.all_processes():
            p.machine.may_autostart = False
            if p.state == S.BACKOFF:
                p.give_up()
        self._stop_queue = self.ordered_groups()
        self._advance_stop()

    def _advance_stop(self) -> None:
        # stop_all() can stop a process synchronously (a forking program whose launcher
        # already exited goes straight to STOPPED), and state_changed() then calls back in
        # here: the outer pass must stay the only one that pops, or it pops a group that is
        # still stopping (and then an empty queue).
        if self._advancing_stop:
            return
        self._advancing_stop = True
        try:
            self._advance_stop_pass()
        finally:
            self._advancing_stop = False

    def _advance_stop_pass(self) -> None:
        while self._stop_queue:
            group = self._stop_queue[-1]
            if group.name not in self.groups:
                self._stop_queue.pop()
                continue
            group.stop_all(self)
            if group.unstopped():
                return          # state_changed() resumes here when it has stopped
            self._stop_queue.pop()
        self.stopped.set()

    def close(self) -> None:
        try:
            self.loop.remove_signal_handler(signal.SIGCHLD)
        except Exception:
            pass
        for g in self.groups.values():
            for p in g.processes.values():
                p.close()
        if self.dirwatch is not None:
            self.dirwatch.close()
            self.dirwatch = None

    def reopen_logs(self) -> None:
        for p in self.all_processes():
            p.reopen_logs()
        self.logger.reopen()

    # ---- config changes ------------------------------------------------------------------
    def set_config(self, config: Config) -> None:
        self.config = config
        self.deps = depsmod.dependency_map(config)

    def diff(self, new: Config) -> tuple[list[str], list[str], list[str]]:
        """(added, changed, removed) group names, as supervisord's diff_to_active."""
        cur = {name: g.config for name, g in self.groups.items()}
        nxt = {g.name: g for g in new.groups}
        added = [n for n in nxt if n not in cur]
        removed = [n for n in cur if n not in nxt]
        changed = [n for n in nxt if n in cur and nxt[n] != cur[n]]
        return added, changed, removed
