"""The I/O edge of the event system: a core Bus that turns hooks into events for
[eventlistener:x] pools and talks to the listener processes.

Pure pieces do the deciding (payloads, ListenerProtocol, Capture, Pool); this class feeds
them from the core's hooks, writes envelopes to listeners' stdin without ever blocking the
loop, and arms TICK timers only while some pool subscribes to a TICK type.
"""
from __future__ import annotations

import errno
import functools
import importlib
import os
import time
import traceback
from typing import Optional

from wrapctl.config.records import EventListenerConfig
from wrapctl.core.bus import Bus
from wrapctl.core.states import ProcessState as S
from wrapctl.events import payloads as P
from wrapctl.events import types
from wrapctl.events.capture import Capture, Comm, Output
from wrapctl.events.pool import Pool, Serial
from wrapctl.events.protocol import (ListenerProtocol, Log, Processed, Ready, Rejected,
                                     default_handler)

DEFAULT_HANDLER = "supervisor.dispatchers:default_handler"
# States after which the listener process is gone (reaped) when its pid is 0.
_GONE = (S.STOPPED, S.EXITED, S.BACKOFF, S.FATAL, S.UNKNOWN)
_LIVE = (S.STARTING, S.RUNNING, S.STOPPING)


def _guarded(hook):
    """A failure in the event system is logged; it must never break supervision itself."""
    @functools.wraps(hook)
    def run(self, *args):
        try:
            return hook(self, *args)
        except Exception as e:
            where = traceback.extract_tb(e.__traceback__)[-1]
            self._log("critical", f"event system error in {hook.__name__}: {e!r} "
                                  f"({os.path.basename(where.filename)}:{where.lineno})")
            if hook.__name__ == "process_output":
                return args[2]
    return run


class _Listener:
    """One listener process: its protocol, the event it is working on, pending stdin bytes."""

    def __init__(self, proc, handler):
        self.proc = proc
        self.protocol = ListenerProtocol(proc.name, handler)
        self.event: Optional[P.Event] = None
        self.fd: Optional[int] = None       # our dup of the child's stdin
        self.pending = b""


class _PoolState:
    def __init__(self, group, pool: Pool, handler):
        self.group = group
        self.config = group.config
        self.pool = pool
        self.handler = handler


def _handler_for(spec: str, log):
    """A protocol handler (bytes -> 'ok'|'reject'|'error') for a result_handler spec."""
    if spec == DEFAULT_HANDLER:
        return None
    module, _, attr = spec.partition(":")
    try:
        fn = importlib.import_module(module)
        for part in attr.split("."):
            fn = getattr(fn, part)
    except Exception as e:
        log("error", f"result_handler {spec} cannot be resolved ({e}); "
                     "using supervisor.dispatchers:default_handler")
        return None
    return fn


class EventBus(Bus):
    def __init__(self):
        self.daemon = None
        self.loop = None
        self.sup = None
        self.serial = Serial()                  # global event serial, kept across restarts
        self.pools: dict[str, _PoolState] = {}
        self.listeners: dict[object, _Listener] = {}
        self.captures: dict[tuple, Capture] = {}
        self.pids: dict[object, int] = {}       # last pid seen per process
        self.running_sent = False
        self.ticks: dict[int, tuple] = {}       # period -> (last slice, TimerHandle)
        self._dispatch_pending = False

    # ---- logging ------------------------------------------------------------------
    def _log(self, level: str, message: str) -> None:
        logger = self.daemon.logger if self.daemon is not None else None
        if logger is not None:
            getattr(logger, level)(message)

    # ---- core hooks ------------------------------------------------------------------
    def attach(self, daemon) -> None:
        self.daemon = daemon
        self.loop = daemon.loop

    @_guarded
    def supervisor_started(self, supervisor) -> None:
        # A new Supervisor (start-up): pools start afresh, as after supervisord's events.clear().
        for ls in self.listeners.values():
            self._close_fd(ls)
        self.sup = supervisor
        self.loop = supervisor.loop
        self.pools, self.listeners, self.captures, self.pids = {}, {}, {}, {}
        # supervisord adds each group (a pool subscribes as it is made, so it sees its own
        # PROCESS_GROUP_ADDED and those after it), then announces RUNNING, then starts.
        for name in list(supervisor.groups):
            self._group_added(name)
        self.notify(P.supervisor_state("RUNNING"))
        self.running_sent = True
        self._update_ticks()

    @_guarded
    def supervisor_state(self, statename: str) -> None:
        if statename == "RUNNING":
            if self.running_sent:
                return
            self.running_sent = True
        self.notify(P.supervisor_state(statename))

    @_guarded
    def group_added(self, name: str) -> None:
        self._group_added(name)
        self._update_ticks()

    @_guarded
    def group_removed(self, name: str) -> None:
        self.pools.pop(name, None)
        for proc in [p for p in self.listeners if p.group == name]:
            self._close_fd(self.listeners.pop(proc))
        for key in [k for k in self.captures if k[0].group == name]:
            del self.captures[key]
        self.notify(P.process_group(False, name))
        self._update_ticks()

    @_guarded
    def remote_comm(self, type, data) -> None:
        self.notify(P.remote_communication(type, data))

    @_guarded
    def process_state(self, proc, old, new, expected: bool) -> None:
        m = proc.machine
        pid = proc.pid or (self.pids.get(proc, 0) if old in _LIVE else 0)
        tries = m.backoff
        if new == S.BACKOFF and proc.state != S.BACKOFF:
            # The machine went on to FATAL in the same step and reset its counter; that
            # happens exactly when the count passed startretries.
            tries = proc.config.startretries + 1
        self.notify(P.process_state(new.name, proc.name, proc.group, old.name,
                                    tries=tries, pid=pid, expected=expected))
        if proc.pid:
            self.pids[proc] = proc.pid
        if new == S.STARTING:
            # The spawn follows this hook in the same step: learn the new pid right after.
            self.pids.pop(proc, None)
            self.loop.call_soon(self._learn_pid, proc)
            for ch in ("stdout", "stderr"):
                self.captures.pop((proc, ch), None)
        gone = new in _GONE and not proc.pid
        if gone:
            self.pids.pop(proc, None)
        ls = self._listener(proc)
        if ls is None:
            if gone:
                self._flush_captures(proc)
            return
        if new == S.STARTING:
            self._close_fd(ls)
            ls.protocol.reset()
            self._reject(ls)
        elif new == S.RUNNING:
            if old != S.STARTING:       # re-attached, not spawned by this core
                ls.protocol.reattached()
                # Two loop turns: what the listener wrote while no core ran is read first.
                self.loop.call_soon(self.loop.call_soon, self._resume, proc)
            self._schedule_dispatch()
        elif gone:
            self._close_fd(ls)
            self._flush_captures(proc)
            self._reject(ls)

    @_guarded
    def process_output(self, proc, channel: str, data: bytes) -> bytes:
        ls = self._listener(proc) if channel == "stdout" else None
        if ls is not None:
            if self.daemon.logger.enabled(10):
                self._log("debug", "%r %s output:\n%s" % (proc.name, channel, data))
            self._apply(ls, ls.protocol.feed(data))
            return data
        cfg = proc.config.stdout if channel == "stdout" else proc.config.stderr
        if not cfg.capture_maxbytes:
            if cfg.events_enabled:
                self.notify(P.process_log(channel, proc.name, proc.group, proc.pid, data))
            return data
        cap = self.captures.get((proc, channel))
        if cap is None:
            cap = self.captures[(proc, channel)] = Capture(cfg.capture_maxbytes)
        return self._captured(proc, channel, cfg, cap.feed(data))

    # ---- events ----------------------------------------------------------------------
    def notify(self, event: P.Event) -> None:
        """Offer an event to every pool that subscribes to it."""
        taken = False
        for ps in list(self.pools.values()):
            self._refresh(ps)
            if ps.pool.subscribes(event.name):
                for level, msg in ps.pool.accept(event):
                    self._log(level, msg)
                taken = True
        if taken:
            self._schedule_dispatch()

    def _captured(self, proc, channel, cfg, items) -> bytes:
        keep = []
        for item in items:
            if isinstance(item, Output):
                if cfg.events_enabled:
                    self.notify(P.process_log(channel, proc.name, proc.group, proc.pid,
                                              item.data))
                if item.to_file:
                    keep.append(item.data)
            elif isinstance(item, Comm):
                self.notify(P.process_communication(channel, proc.name, proc.group, proc.pid,
                                                    item.data))
                self._log("debug", "%r %s emitted a comm event" % (proc.name, channel))
        return b"".join(keep)

    def _flush_captures(self, proc) -> None:
        """The process is gone: bytes held back for a possible token go to the log."""
        for ch in ("stdout", "stderr"):
            cap = self.captures.pop((proc, ch), None)
            if cap is None:
                continue
            cfg = proc.config.stdout if ch == "stdout" else proc.config.stderr
            data = self._captured(proc, ch, cfg, cap.flush())
            log = getattr(proc.channels.get(ch), "log", None)
            if data and log is not None:
                try:
                    log.write(data)
                except OSError:
                    pass

    @_guarded
    def _resume(self, proc) -> None:
        ls = self.listeners.get(proc)
        if ls is not None and proc.state == S.RUNNING:
            self._apply(ls, ls.protocol.resume())

    def _learn_pid(self, proc) -> None:
        if proc.pid:
            self.pids[proc] = proc.pid

    # ---- pools -----------------------------------------------------------------------
    def _group_added(self, name: str) -> None:
        group = self.sup.groups.get(name) if self.sup is not None else None
        if group is not None and group.config.kind == "eventlistener" and group.config.processes:
            ps = _PoolState(group, None, None)
            self.pools[name] = ps
            self._refresh(ps)
        self.notify(P.process_group(True, name))

    def _refresh(self, ps: _PoolState) -> None:
        """Follow the group's config when an update replaced it (same group, new records)."""
        if ps.config is ps.group.config and ps.pool is not None:
            return
        ps.config = ps.group.config
        lc: EventListenerConfig = ps.config.processes[0]
        ps.handler = _handler_for(lc.result_handler, self._log)
        if ps.pool is None:
            ps.pool = Pool(ps.group.name, lc.events, lc.buffer_size, self.serial)
        else:
            ps.pool.events = tuple(lc.events)
            ps.pool.buffer_size = lc.buffer_size
        self._update_ticks()

    def _listener(self, proc) -> Optional[_Listener]:
        if not isinstance(proc.config, EventListenerConfig):
            return None
        ls = self.listeners.get(proc)
        if ls is None:
            ps = self.pools.get(proc.group)
            if ps is None:
                return None
            ls = self.listeners[proc] = _Listener(proc, self._result_handler(ps, proc))
        return ls

    def _result_handler(self, ps: _PoolState, proc):
        def handle(result: bytes) -> str:
            fn = ps.handler
            if fn is None:
                return default_handler(result)
            ls = self.listeners.get(proc)
            try:
                fn(ls.event if ls else None, result)
            except Exception as e:
                # supervisor.dispatchers.RejectEvent, or any class of that name
                return "reject" if type(e).__name__ == "RejectEvent" else "error"
            return "ok"
        return handle

    def _apply(self, ls: _Listener, effects) -> None:
        for e in effects:
            if isinstance(e, Log):
                self._log(e.level, e.message)
            elif isinstance(e, Ready):
                self._schedule_dispatch()
            elif isinstance(e, Processed):
                ls.event = None
            elif isinstance(e, Rejected):
                self._reject(ls)

    def _reject(self, ls: _Listener) -> None:
        event, ls.event = ls.event, None
        ps = self.pools.get(ls.proc.group)
        if event is not None and ps is not None:
            for level, msg in ps.pool.accept(event, head=True):
                self._log(level, msg)
            self._schedule_dispatch()

    # ---- dispatch --------------------------------------------------------------------
    def _schedule_dispatch(self) -> None:
        if not self._dispatch_pending and self.loop is not None:
            self._dispatch_pending = True
            self.loop.call_soon(self._dispatch)

    @_guarded
    def _dispatch(self) -> None:
        self._dispatch_pending = False
        for ps in list(self.pools.values()):
            if not ps.pool.buffer:
                continue
            procs = list(ps.group.processes.values())
            if not any(p.state == S.RUNNING and (ls := self._listener(p)) is not None
                       and ls.protocol.ready for p in procs):
                continue
            for level, msg in ps.pool.dispatch(lambda ev: self._send(ps, procs, ev)):
                self._log(level, msg)

    def _send(self, ps: _PoolState, procs, event: P.Event) -> bool:
        server = self.sup.config.daemon.identifier
        for proc in procs:
            if proc.state != S.RUNNING:
                continue
            ls = self._listener(proc)
            if ls is None or not ls.protocol.ready:
                continue
            try:
                self._write(ls, P.envelope(event, server, ps.group.name))
            except OSError:
                # EPIPE (or a stdin already closed): try the next listener, as supervisord
                self._log("debug", "epipe occurred while sending event %s to listener %s, "
                                   "listener state unchanged" % (event.serial, proc.name))
                continue
            ls.protocol.sent()
            ls.event = event
            self._log("debug", "event %s sent to listener %s" % (event.serial, proc.name))
            return True
        return False

    # ---- stdin -----------------------------------------------------------------------
    def _write(self, ls: _Listener, data: bytes) -> None:
        """Write without blocking; what the pipe cannot take now waits for writability."""
        if ls.fd is None:
            stdin = ls.proc.stdin
            if stdin is None:
                raise OSError(errno.EPIPE, "listener has no stdin")
            ls.fd = os.dup(stdin.fileno())   # ours to close, whatever the core does with its own
            os.set_blocking(ls.fd, False)
        if ls.pending:
            ls.pending += data
            return
        try:
            n = os.write(ls.fd, data)
        except BlockingIOError:
            n = 0
        if n < len(data):
            ls.pending = data[n:]
            self.loop.add_writer(ls.fd, self._flush_stdin, ls)

    def _flush_stdin(self, ls: _Listener) -> None:
        try:
            n = os.write(ls.fd, ls.pending)
        except BlockingIOError:
            return
        except OSError:
            # EPIPE: the listener is going away; its exit rebuffers the event.
            n = len(ls.pending)
        ls.pending = ls.pending[n:]
        if not ls.pending:
            self.loop.remove_writer(ls.fd)

    def _close_fd(self, ls: _Listener) -> None:
        if ls.fd is not None:
            if ls.pending and self.loop is not None:
                self.loop.remove_writer(ls.fd)
            os.close(ls.fd)
            ls.fd = None
        ls.pending = b""

    # ---- ticks -----------------------------------------------------------------------
    def _update_ticks(self) -> None:
        """Arm a period's timer while some pool subscribes to it; disarm it otherwise."""
        if self.loop is None:
            return
        for name, period in types.TICK_PERIODS.items():
            wanted = any(ps.pool is not None and ps.pool.subscribes(name)
                         for ps in self.pools.values())
            armed = period in self.ticks
            if wanted and not armed:
                last = P.timeslice(period, time.time())
                self.ticks[period] = (last, self._arm_tick(period, last))
            elif armed and not wanted:
                self.ticks.pop(period)[1].cancel()

    def _arm_tick(self, period: int, last: int):
        return self.loop.call_later(max(0.0, last + period - time.time()), self._tick, period)

    @_guarded
    def _tick(self, period: int) -> None:
        entry = self.ticks.get(period)
        if entry is None:
            return
        last = entry[0]
        current = P.timeslice(period, time.time())
        # The loop's clock is monotonic, slices are wall clock: an early wake only re-arms.
        self.ticks[period] = (current, self._arm_tick(period, current))
        if current != last:
            self.notify(P.tick(period, current))
