"""Live page updates: one hub per daemon fans events out to the open event streams.

While at least one page is connected the hub listens to the supervisor's state changes
(pushed at once) and keeps one timer that refreshes CPU/RSS every `interval` seconds. When
the last page goes, it unhooks and cancels the timer: an idle daemon wakes up for nothing.
"""
from __future__ import annotations

import asyncio
import json
import time

from wrapctl.rpc.api import make_namespec
from wrapctl.web import stats as statsmod
from wrapctl.web.view import process_row, snapshot

INTERVAL = 3.0
MAX_BACKLOG = 1000   # events queued for one slow page before it is cut off


def sse(event: str, data) -> bytes:
    # compact JSON has no newline, so one data: line carries it
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class Hub:
    def __init__(self, daemon, interval: float = INTERVAL):
        self.daemon = daemon
        self.interval = interval
        self.sampler = statsmod.TreeSampler()
        self.stats: dict = {}           # process id -> TreeStats of the last sample
        self._queues: set[asyncio.Queue] = set()
        self._sup = None
        self._timer = None

    @property
    def active(self) -> bool:
        """Whether anything is hooked or scheduled (false whenever no page is open)."""
        return self._sup is not None or self._timer is not None

    # ---- subscribers -------------------------------------------------------------------
    def subscribe(self) -> asyncio.Queue:
        """A queue of encoded events (None: the stream must end)."""
        q: asyncio.Queue = asyncio.Queue()
        self._queues.add(q)
        self._attach()
        if self._timer is None:
            self._arm()
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self._queues.discard(q)
        if not self._queues:
            self._detach()

    def _attach(self) -> None:
        """Listen to the current supervisor (a HUP replaces it)."""
        sup = self.daemon.supervisor
        if sup is self._sup:
            return
        self._detach_listener()
        sup.listeners.append(self._on_change)
        self._sup = sup

    def _detach_listener(self) -> None:
        if self._sup is not None:
            try:
                self._sup.listeners.remove(self._on_change)
            except ValueError:
                pass
            self._sup = None

    def _detach(self) -> None:
        self._detach_listener()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.interval, self._tick)

    # ---- events --------------------------------------------------------------------------
    def _broadcast(self, data: bytes) -> None:
        for q in list(self._queues):
            if q.qsize() >= MAX_BACKLOG:
                # a page that does not read is dropped rather than buffered without end
                self._queues.discard(q)
                q.put_nowait(None)
            else:
                q.put_nowait(data)
        if not self._queues:
            self._detach()

    def _on_change(self, proc, old, new, expected) -> None:
        # called from inside the supervisor's state change: a fault here must stay here
        try:
            ident = make_namespec(proc.group, proc.name)
            row = process_row(proc, time.time(), self.stats.get(ident))
            self._broadcast(sse("process", row))
        except Exception as e:
            self._error(f"web UI: cannot send a state change: {e!r}")

    def _tick(self) -> None:
        self._timer = None
        if not self._queues:
            return
        try:
            self._attach()
            self._broadcast(self.snapshot_event())
        except Exception as e:
            self._error(f"web UI: cannot send a snapshot: {e!r}")
        if self._queues:
            self._arm()

    def _error(self, message: str) -> None:
        self.daemon.logger.error(message)

    def sample(self) -> dict:
        now = time.time()
        roots = {}
        for p in self.daemon.supervisor.all_processes():
            if p.pid:
                roots[make_namespec(p.group, p.name)] = p.pid
        table = statsmod.scan() if roots else {}
        self.stats = self.sampler.sample(roots, table, now)
        return self.stats

    def snapshot(self) -> dict:
        return snapshot(self.daemon, self.sample())

    def snapshot_event(self) -> bytes:
        return sse("snapshot", self.snapshot())
