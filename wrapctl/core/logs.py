"""Log files: child output with size rotation, the daemon's own log, ANSI stripping.

Pure, synchronous file I/O: no threads, no event loop. The core hands bytes read from a
child's pipe to `RotatingFile.write`; the RPC layer reads files with `read_log`/`tail_log`
(in `logread`, re-exported here). See docs/logs.md for the guarantees.
"""
from __future__ import annotations

import errno
import os
import re
import stat
import sys
import time
from typing import IO, Optional

from wrapctl.core.logread import LogReadError, read_log, tail_log
from wrapctl.core.rootfiles import open_append

__all__ = [
    "RotatingFile", "MainLog", "strip_ansi", "LEVELS", "level_number",
    "LogReadError", "read_log", "tail_log",
]

# Data that could not reach the disk (ENOSPC, EIO, open refused) is kept for the next
# write; beyond this many bytes the oldest of it is dropped and counted in `dropped`.
PENDING_LIMIT = 1 << 20


class RotatingFile:
    """An append-only log file rotated by size, supervisord style, without losing bytes.

    maxbytes <= 0 disables rotation. When a write would take the file past maxbytes,
    path.N-1 -> path.N, ..., path -> path.1 and a fresh path is started (backups=0:
    path is truncated in place, as supervisord does). Cuts fall on a line boundary when one
    is available (see docs/logs.md); one chunk may span several files.
    """

    def __init__(self, path: str, maxbytes: int = 0, backups: int = 0,
                 pending_limit: int = PENDING_LIMIT):
        self.path = path
        self.maxbytes = maxbytes
        self.backups = max(0, backups)
        self.pending_limit = pending_limit
        self.pending = b""   # bytes accepted by write() but not yet on disk
        self.dropped = 0     # bytes discarded because `pending` overflowed
        self._fd: Optional[int] = None
        self._size = 0
        self._rotatable = False
        self._open(truncate=False)

    # -- public -------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Current size of the file at `path` as we have it open."""
        if self._fd is not None and self._rotatable:
            try:
                self._size = os.fstat(self._fd).st_size
            except OSError:
                pass
        return self._size

    @property
    def closed(self) -> bool:
        return self._fd is None

    def write(self, data: bytes) -> None:
        """Append `data`, rotating as needed. On OSError the unwritten rest stays in
        `pending` (retried first by the next write/flush) and the error is raised."""
        if not isinstance(data, bytes):
            data = bytes(data)
        if self.pending:
            data = self.pending + data
            self.pending = b""
        if not data:
            return
        done = [0]
        try:
            if self._fd is None:
                self._open(truncate=False)
            if self.maxbytes > 0 and self._rotatable:
                self._write_rotating(data, done)
            else:
                self._write_all(data, done)
        except OSError:
            self._keep(data[done[0]:])
            raise

    def flush(self) -> None:
        """Retry writing `pending` (raises OSError if it still cannot be written)."""
        if self.pending:
            self.write(b"")

    def reopen(self) -> None:
        """Close and open `path` again (USR2, logrotate after it renamed the file)."""
        self._close_fd()
        self._open(truncate=False)
        self.flush()

    def clear(self) -> None:
        """clearProcessLogs: unlink `path` (backups stay), start an empty file.
        Data still pending is discarded too: the caller asked for the log to go."""
        self._close_fd()
        self.pending = b""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        self._open(truncate=False)

    def close(self) -> None:
        """Close the file. Pending data is tried once more; if that fails the file is still
        closed, the data stays in `pending` and the OSError is raised."""
        try:
            if self.pending and self._fd is not None:
                self.flush()
        finally:
            self._close_fd()

    # -- internals ----------------------------------------------------------------------

    def _open(self, truncate: bool) -> None:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        if truncate:
            flags |= os.O_TRUNC
        # Read access lets us look at the last byte of an existing file (line boundary);
        # write-only is enough for everything else.
        try:
            fd = open_append(self.path, (flags & ~os.O_WRONLY) | os.O_RDWR, 0o666)
        except OSError as e:
            if e.errno not in (errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENXIO):
                raise
            fd = open_append(self.path, flags, 0o666)
        try:
            st = os.fstat(fd)
        except OSError:
            os.close(fd)
            raise
        self._fd = fd
        # /dev/stdout, a fifo, a tty: nothing to rename or measure.
        self._rotatable = stat.S_ISREG(st.st_mode)
        self._size = st.st_size if self._rotatable else 0

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def _keep(self, rest: bytes) -> None:
        rest = bytes(rest)
        over = len(rest) - self.pending_limit
        if over > 0:
            self.dropped += over
            rest = rest[over:]
        self.pending = rest

    def _write_all(self, data: bytes, done: list, end: Optional[int] = None) -> None:
        """Write data[done[0]:end], advancing done[0] as bytes reach the kernel."""
        end = len(data) if end is None else end
        view = memoryview(data)
        while done[0] < end:
            n = os.write(self._fd, view[done[0]:end])
            if n <= 0:
                raise OSError(errno.EIO, "short write", self.path)
            done[0] += n

    def _write_rotating(self, data: bytes, done: list) -> None:
        limit = self.maxbytes
        while done[0] < len(data):
            pos = done[0]
            rest = len(data) - pos
            size = self.size
            room = limit - size
            if rest <= room:
                self._write_all(data, done)
                return
            if room > 0:
                nl = data.rfind(b"\n", pos, pos + room)
                if nl >= 0:
                    # The last newline that still fits: the file ends on a whole line.
                    self._write_all(data, done, nl + 1)
                elif not (size > 0 and self._ends_with_newline()
                          and self._next_line_fits(data, pos)):
                    # No line boundary to cut at without splitting a line anyway.
                    self._write_all(data, done, pos + room)
                # else: the file already ends on a line boundary and the next line fits
                # a fresh file whole, so rotate before writing any of it.
            self._rotate()

    def _next_line_fits(self, data: bytes, pos: int) -> bool:
        first_nl = data.find(b"\n", pos, pos + self.maxbytes)
        return first_nl >= 0 or len(data) - pos <= self.maxbytes

    def _ends_with_newline(self) -> bool:
        try:
            return os.pread(self._fd, 1, self._size - 1) == b"\n"
        except OSError:   # opened write-only: cannot tell, cut at maxbytes
            return False

    def _rotate(self) -> None:
        self._close_fd()
        if self.backups > 0:
            for i in range(self.backups - 1, 0, -1):
                self._rename(f"{self.path}.{i}", f"{self.path}.{i + 1}")
            self._rename(self.path, f"{self.path}.1")
        self._open(truncate=True)

    @staticmethod
    def _rename(src: str, dst: str) -> None:
        try:
            os.rename(src, dst)   # replaces dst atomically
        except FileNotFoundError:
            pass                  # that generation does not exist (yet, or was removed)


# -- ANSI escapes --------------------------------------------------------------------------

# supervisord's stripEscapes: from ESC [ up to and including the first of these terminators
# (or to the end of the chunk when none follows); everything else is kept.
_ANSI = re.compile(rb"\x1b\[[^HfABCDRsuJKhlpm]*[HfABCDRsuJKhlpm]?")


def strip_ansi(data: bytes) -> bytes:
    """Remove ANSI escape sequences like supervisord does for strip_ansi=true."""
    if b"\x1b[" not in data:
        return data
    return _ANSI.sub(b"", data)


# -- the daemon's own log ------------------------------------------------------------------

# supervisord's level names (as written in the log) and numbers, highest first.
LEVELS = {
    "critical": (50, "CRIT"),
    "error": (40, "ERRO"),
    "warn": (30, "WARN"),
    "info": (20, "INFO"),
    "debug": (10, "DEBG"),
    "trace": (5, "TRAC"),
    "blather": (3, "BLAT"),
}


def level_number(name: str) -> int:
    """loglevel= value (case-insensitive, as supervisord) -> number; ValueError if unknown."""
    try:
        return LEVELS[str(name).lower()][0]
    except KeyError:
        raise ValueError(f"bad logging level name {name!r}") from None


def _timestamp(now: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + \
        ",%03d" % int((now - int(now)) * 1000)


class MainLog:
    """supervisord.log: 'YYYY-MM-DD HH:MM:SS,mmm LEVL message' lines.

    path None: no file (echo only). path 'syslog': lines go to syslog instead, like
    supervisord's logfile=syslog. A message below `level` is dropped. Writing never raises:
    a failing file keeps the line pending in the RotatingFile and sets `last_error`.
    """

    def __init__(self, path: Optional[str], maxbytes: int = 0, backups: int = 0,
                 level: str = "info", echo: Optional[IO] = None):
        self.level = level_number(level)
        self.echo = echo
        self.last_error: Optional[OSError] = None
        self.listeners: list = []   # callables given each line as bytes (/mainlogtail)
        self._syslog = None
        self.file: Optional[RotatingFile] = None
        if path == "syslog":
            import syslog
            self._syslog = syslog
        elif path is not None:
            self.file = RotatingFile(path, maxbytes, backups)

    def critical(self, msg: str) -> None:
        self.log(50, msg)

    def error(self, msg: str) -> None:
        self.log(40, msg)

    def warn(self, msg: str) -> None:
        self.log(30, msg)

    warning = warn

    def info(self, msg: str) -> None:
        self.log(20, msg)

    def debug(self, msg: str) -> None:
        self.log(10, msg)

    def trace(self, msg: str) -> None:
        self.log(5, msg)

    def blather(self, msg: str) -> None:
        self.log(3, msg)

    def enabled(self, level: int) -> bool:
        return level >= self.level

    def log(self, level: int, msg: str) -> None:
        if level < self.level:
            return
        if isinstance(msg, (bytes, bytearray)):
            msg = bytes(msg).decode("utf-8", "replace")
        name = _LEVEL_NAMES[level]
        line = f"{_timestamp(time.time())} {name} {msg}\n"
        if self.echo is not None:
            self._echo(line)
        for fn in self.listeners:
            fn(line.encode("utf-8", "surrogateescape"))
        if self._syslog is not None:
            for part in msg.rstrip("\n").split("\n"):
                self._syslog.syslog(f"{name} {part}")
        if self.file is not None:
            try:
                self.file.write(line.encode("utf-8", "surrogateescape"))
                self.last_error = None
            except OSError as e:
                self.last_error = e

    def _echo(self, line: str) -> None:
        try:
            if hasattr(self.echo, "encoding"):
                self.echo.write(line)
            else:
                self.echo.write(line.encode("utf-8", "surrogateescape"))
            self.echo.flush()
        except (OSError, ValueError):
            pass   # a closed or broken terminal must not stop the daemon

    def reopen(self) -> None:
        """USR2: open the log path again. Raises OSError if it cannot be opened."""
        if self.file is not None:
            self.file.reopen()

    def clear(self) -> None:
        """clearLog: remove the file and start a fresh one."""
        if self.file is not None:
            self.file.clear()

    def close(self) -> None:
        if self.file is not None:
            try:
                self.file.close()
            except OSError as e:
                self.last_error = e


_LEVEL_NAMES = {num: name for num, name in LEVELS.values()}
