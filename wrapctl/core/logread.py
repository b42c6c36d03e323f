"""Reading log files for the RPC API: supervisor's readLog/readProcess*Log and tail*Log.

Semantics follow supervisor.options.readFile/tailFile and the existence checks of
supervisor.rpcinterface, returning bytes (the RPC layer decodes). Reads are capped at the
file's size, so a huge `length` from a client never allocates more than the file holds.
"""
from __future__ import annotations

import os
from typing import Optional, Tuple


class LogReadError(ValueError):
    """A read the RPC layer answers with a fault; `kind` names it (and is args[0], like
    supervisor's ValueError('BAD_ARGUMENTS'), so getattr(Faults, e.args[0]) works)."""

    KINDS = ("BAD_ARGUMENTS", "NO_FILE", "FAILED")

    def __init__(self, kind: str, detail: str = ""):
        assert kind in self.KINDS
        super().__init__(kind, detail)
        self.kind = kind
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}" if self.detail else self.kind


def _ints(offset, length) -> Tuple[int, int]:
    try:
        return int(offset), int(length)
    except (TypeError, ValueError, OverflowError):
        raise LogReadError("BAD_ARGUMENTS", f"offset/length must be integers: "
                                            f"{offset!r}, {length!r}") from None


def read_log(path: Optional[str], offset, length) -> bytes:
    """`length` bytes of `path` from `offset` (length 0: to the end). offset < 0 with
    length 0: the last -offset bytes. Missing file -> NO_FILE (the RPC check), bad
    combination -> BAD_ARGUMENTS, unreadable -> FAILED."""
    offset, length = _ints(offset, length)
    if path is None or not os.path.exists(path):
        raise LogReadError("NO_FILE", str(path))
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if offset < 0:
                if length:
                    raise LogReadError("BAD_ARGUMENTS",
                                       "a negative offset needs length 0")
                start = max(0, size - -offset)
                count = min(-offset, size - start)
            else:
                if length < 0:
                    raise LogReadError("BAD_ARGUMENTS", "negative length")
                start = offset
                available = max(0, size - offset)
                count = available if length == 0 else min(length, available)
            if count <= 0:
                return b""
            f.seek(start)
            return f.read(count)
    except OSError as e:
        raise LogReadError("FAILED", f"{path}: {e.strerror or e}") from None


def tail_log(path: Optional[str], offset, length) -> Tuple[bytes, int, bool]:
    """(bytes, new_offset, overflow) as tailProcess*Log: at most `length` bytes ending at
    the end of the file; overflow when the file holds more than offset+length; new_offset
    is the file size. Missing file -> (b'', 0, False); unreadable -> (b'', offset, False)."""
    offset, length = _ints(offset, length)
    if path is None or not os.path.exists(path):
        return b"", 0, False
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            overflow = False
            start, count = offset, length
            if size > start + count:
                overflow = True
                start = size - 1
            if start + count > size:
                if start > size - 1:
                    count = 0
                start = size - count
            start = max(start, 0)
            count = max(count, 0)
            data = b""
            if count:
                f.seek(start)
                data = f.read(min(count, max(0, size - start)))
            return data, size, overflow
    except OSError:
        return b"", offset, False
