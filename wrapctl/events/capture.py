"""Capture mode of a process's output channel, sans-IO (supervisord's POutputDispatcher).

Output between <!--XSUPERVISOR:BEGIN--> and <!--XSUPERVISOR:END--> is kept out of the log
file and becomes one PROCESS_COMMUNICATION event; the capture buffer holds at most
capture_maxbytes, dropping from the front as supervisord's BoundIO does. A token split
across reads is held back until it is complete.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from wrapctl.events.payloads import BEGIN_TOKEN, END_TOKEN


@dataclass(frozen=True)
class Output:
    """Output to log (to_file False: captured, so not written to the log file; supervisord
    still announces it as PROCESS_LOG_* when *_events_enabled)."""
    data: bytes
    to_file: bool


@dataclass(frozen=True)
class Comm:
    """A completed capture: the payload of a PROCESS_COMMUNICATION event."""
    data: bytes


Item = Union[Output, Comm]


def prefix_at_end(haystack: bytes, needle: bytes) -> int:
    """Length of the longest proper prefix of needle that haystack ends with."""
    n = len(needle) - 1
    while n and not haystack.endswith(needle[:n]):
        n -= 1
    return n


class Capture:
    def __init__(self, maxbytes: int):
        self.maxbytes = maxbytes
        self.capturing = False
        self.pending = b""      # bytes not yet examined (may hold a partial token)
        self.captured = b""

    def feed(self, data: bytes) -> list[Item]:
        out: list[Item] = []
        self.pending += data
        while True:
            token = END_TOKEN if self.capturing else BEGIN_TOKEN
            if len(self.pending) <= len(token):
                return out
            data, self.pending = self.pending, b""
            before, sep, after = data.partition(token)
            if not sep:
                keep = prefix_at_end(data, token)
                if keep:
                    self.pending, data = data[-keep:], data[:-keep]
                self._out(data, out)
                return out
            self._out(before, out)
            self._toggle(out)
            self.pending = after
            if not after:
                return out

    def flush(self) -> list[Item]:
        """The channel closed: what is held back goes where the mode says."""
        out: list[Item] = []
        data, self.pending = self.pending, b""
        self._out(data, out)
        return out

    def _out(self, data: bytes, out: list) -> None:
        if not data:
            return
        if self.capturing:
            if len(self.captured) + len(data) > self.maxbytes:
                self.captured = self.captured[len(data):]
            self.captured += data
        out.append(Output(data, not self.capturing))

    def _toggle(self, out: list) -> None:
        self.capturing = not self.capturing
        if not self.capturing:
            out.append(Comm(self.captured))
            self.captured = b""
