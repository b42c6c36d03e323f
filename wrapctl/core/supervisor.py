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

from wrapctl.config.records import Config, GroupConfig
from wrapctl.core.bus import Bus
from wrapctl.core.process import Process
from wrapctl.core.states import (ProcessState as S, SupervisorState, STOPPED_STATES)


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
        return sorted(self.processes.values(), key=lambda p: (p.config.priority, p.name))

    def unstopped(self) -> list[Process]:
        return [p for p in self.processes.values() if p.state not in STOPPED_STATES]

    def stop_all(self) -> None:
        """Stop in descending priority order; BACKOFF gives up (supervisord's stop_all)."""
        for p in reversed(self.ordered()):
            if p.state in (S.RUNNING, S.STARTING):
                p.stop()
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

    # ---- logging & notification ------------------------------------------------------
    def log(self, level: str, message: str) -> None:
        getattr(self.logger, level if level != "warning" else "warn")(message)

    def state_changed(self, proc: Process, old: S, new: S, expected: bool) -> None:
        self.bus.process_state(proc, old, new, expected)
        for fn in self.listeners:
            fn(proc, old, new, expected)
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
        return sorted(self.groups.values(), key=lambda g: (g.config.priority, g.name))

    def add_group(self, gconfig: GroupConfig) -> bool:
        if gconfig.name in self.groups:
            return False
        group = Group(gconfig, self)
        self.groups[gconfig.name] = group
        self.log("info", f"added process group {gconfig.name}")
        self.bus.group_added(gconfig.name)
        if self.state == SupervisorState.RUNNING:
            for p in group.ordered():
                p.autostart()
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
    def start(self) -> None:
        self.loop.add_signal_handler(signal.SIGCHLD, self.reap)
        for gc in self.config.groups:
            self.groups[gc.name] = Group(gc, self)
        self.bus.supervisor_started(self)
        self.autostart_all()
        self.reap()     # a child may have exited before the handler was installed

    def autostart_all(self) -> None:
        for g in self.ordered_groups():
            for p in g.ordered():
                p.autostart()

    def register_pid(self, pid: int, proc: Process) -> None:
        self.pids[pid] = proc

    def reap(self) -> None:
        while True:
            try:
                pid, sts = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            proc = self.pids.pop(pid, None)
            if proc is None:
                self.log("info", f"reaped unknown pid {pid} (exit status {sts})")
            else:
                proc.reaped(sts)

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
        while self._stop_queue:
            group = self._stop_queue[-1]
            if group.name not in self.groups:
                self._stop_queue.pop()
                continue
            group.stop_all()
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

    def reopen_logs(self) -> None:
        for p in self.all_processes():
            p.reopen_logs()
        self.logger.reopen()

    # ---- config changes ------------------------------------------------------------------
    def diff(self, new: Config) -> tuple[list[str], list[str], list[str]]:
        """(added, changed, removed) group names, as supervisord's diff_to_active."""
        cur = {name: g.config for name, g in self.groups.items()}
        nxt = {g.name: g for g in new.groups}
        added = [n for n in nxt if n not in cur]
        removed = [n for n in cur if n not in nxt]
        changed = [n for n in nxt if n in cur and nxt[n] != cur[n]]
        return added, changed, removed
