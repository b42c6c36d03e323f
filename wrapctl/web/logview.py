"""The log view's stream: the end of the log file, then output as the supervisor reads it.

Like /logtail, nothing polls the file: a listener on the process's output channel gets each
chunk as it is read from the child's pipe (and written to the log). A view of a group or of
everything merges its processes line by line, each line prefixed with the process name.
"""
from __future__ import annotations

import asyncio
import codecs
import os

TAIL_ONE = 16384     # bytes of history for one process
TAIL_MANY = 4096     # ... per process when several are merged
MAX_PENDING = 4 * 1024 * 1024   # bytes queued for a slow page before output is dropped


def read_tail(path, size: int, whole_lines: bool) -> bytes:
    try:
        with open(path, "rb") as f:
            end = os.fstat(f.fileno()).st_size
            start = max(0, end - size)
            f.seek(start)
            data = f.read(size)
    except (OSError, TypeError):
        return b""
    if whole_lines and start > 0:
        cut = data.find(b"\n")
        data = data[cut + 1:] if cut >= 0 else b""
    return data


class Text:
    """Bytes to text across chunk boundaries; with a prefix, whole lines only."""

    def __init__(self, prefix: str = ""):
        self.prefix = prefix
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._partial = ""

    def feed(self, data: bytes) -> str:
        text = self._decoder.decode(data)
        if not self.prefix:
            return text
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        return "".join(f"{self.prefix}{line}\n" for line in lines)


class Follow:
    """Listeners on the channels of `procs`; chunks arrive on `queue` as (index, bytes)."""

    def __init__(self, procs, channel: str):
        self.procs = procs
        self.channel = channel
        self.queue: asyncio.Queue = asyncio.Queue()
        self.pending = 0
        self.dropped = 0
        self._subs = []

    def __enter__(self):
        for i, proc in enumerate(self.procs):
            ch = proc.channels[self.channel]

            def fn(data, i=i):
                if self.pending + len(data) > MAX_PENDING:
                    self.dropped += len(data)
                    return
                self.pending += len(data)
                self.queue.put_nowait((i, data))
            ch.listeners.append(fn)
            self._subs.append((ch, fn))
        return self

    def __exit__(self, *exc):
        for ch, fn in self._subs:
            try:
                ch.listeners.remove(fn)
            except ValueError:
                pass
        self._subs = []

    async def get(self):
        i, data = await self.queue.get()
        self.pending -= len(data)
        return i, data
