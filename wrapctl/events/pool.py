"""One [eventlistener:x] pool's event buffer and serials, sans-IO (supervisord's
EventListenerPool).

accept() buffers an event (oldest dropped when full, with supervisord's error line);
dispatch(send) hands buffered events, oldest first, to `send`, which writes the event to a
READY listener of the pool and says whether it found one; an event nobody took goes back
to the head and dispatch stops.
"""
from __future__ import annotations

import sys
from typing import Callable

from wrapctl.events import types
from wrapctl.events.payloads import Event


class Serial:
    """A serial counter starting at 0 and wrapping at sys.maxsize, as supervisord's."""

    def __init__(self):
        self.serial = -1

    def next(self) -> int:
        if self.serial == sys.maxsize:
            self.serial = -1
        self.serial += 1
        return self.serial


class Pool:
    def __init__(self, name: str, events, buffer_size: int, global_serial: Serial):
        self.name = name
        self.events = tuple(events)
        self.buffer_size = buffer_size
        self.global_serial = global_serial
        self.serial = Serial()
        self.buffer: list[Event] = []

    def subscribes(self, event_name: str) -> bool:
        return types.wants(self.events, event_name)

    def accept(self, event: Event, head: bool = False) -> list[tuple[str, str]]:
        """Buffer an event; (level, message) log lines."""
        logs = []
        if event.serial is None:
            event.serial = self.global_serial.next()
        if self.name not in event.pool_serials:
            event.pool_serials[self.name] = self.serial.next()
        else:
            logs.append(("debug", "rebuffering event %s for pool %s (buf size=%d, max=%d)" % (
                event.serial, self.name, len(self.buffer), self.buffer_size)))
        if len(self.buffer) >= self.buffer_size and self.buffer:
            dropped = self.buffer.pop(0)
            logs.append(("error", "pool %s event buffer overflowed, discarding event %s" % (
                self.name, dropped.serial)))
        if head:
            self.buffer.insert(0, event)
        else:
            self.buffer.append(event)
        return logs

    def dispatch(self, send: Callable[[Event], bool]) -> list[tuple[str, str]]:
        logs = []
        while self.buffer:
            event = self.buffer.pop(0)
            if not send(event):
                logs += self.accept(event, head=True)
                break
        return logs
