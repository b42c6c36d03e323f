"""An event when a process of a program's tree calls listen(), so that a tcp:/unix: ready=
probe runs right then instead of on its next retry timer.

Linux has no plain wait for "another process's socket now listens": sock_diag and
/proc/net/tcp can only be read. The syscall tracepoint syscalls:sys_exit_listen can be
opened with perf_event_open(2) for one task and the children it forks later (inherit=1);
each listen() that returns then writes a record to a ring buffer, and the ring buffer's fd
becomes readable. The tracepoint fires after the socket is listening, so the probe that
follows the event finds the port open.

Constraints that shape this module:
- the kernel refuses to mmap an inherited per-task event that counts on all CPUs, so a
  watch is one event per CPU, each with its own two-page ring buffer;
- registering the tracepoint (first event) and unregistering it (last event closed) each
  wait for an RCU grace period (15-35 ms here); an anchor event on the daemon itself keeps
  it registered while watches come and go, and is dropped from a worker thread after a
  quiet spell so the loop never waits for it;
- while any event is open, every syscall on the machine takes the kernel's tracing entry
  path (a small cost), hence the anchor's release.

Where tracefs is not mounted, perf_event_open is refused, or the machine has very many CPUs,
watch() returns None and the probe keeps only its retry timer (core/ready.py).
"""
from __future__ import annotations

import asyncio
import ctypes
import errno
import mmap
import os
import platform
import struct
from typing import Callable, Optional

TRACEPOINT_IDS = ("/sys/kernel/tracing/events/syscalls/sys_exit_listen/id",
                  "/sys/kernel/debug/tracing/events/syscalls/sys_exit_listen/id")
SYSCALL_NR = {"x86_64": 298, "aarch64": 241, "riscv64": 241, "ppc64le": 319, "s390x": 331}
MAX_CPUS = 32           # one fd and 8 KiB per CPU per waiting program: beyond this, no events
ANCHOR_LINGER = 10.0    # seconds without watches before the tracepoint is released

PERF_TYPE_TRACEPOINT = 2
PERF_FLAG_FD_CLOEXEC = 8
INHERIT = 1 << 1
DATA_HEAD, DATA_TAIL = 1024, 1032       # offsets in struct perf_event_mmap_page


def _attr(tracepoint: int, sample: bool) -> bytes:
    # perf_event_attr, first 64 bytes (PERF_ATTR_SIZE_VER0): type, size, config,
    # sample_period, sample_type, read_format, flag bits, wakeup_events, bp_type, config1
    return struct.pack("IIQQQQQIIQ", PERF_TYPE_TRACEPOINT, 64, tracepoint,
                       1 if sample else 0, 0, 0, INHERIT if sample else 0,
                       1 if sample else 0, 0, 0)


class _Tracer:
    """The open tracepoint: its id, the anchor event, and how to open per-task events."""

    def __init__(self, tracepoint: int, nr: int):
        self.tracepoint, self.nr = tracepoint, nr
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.sample_attr = _attr(tracepoint, True)
        self.anchor = -1
        self.watches = 0
        self.release_timer: Optional[asyncio.TimerHandle] = None

    def open(self, attr: bytes, pid: int, cpu: int) -> int:
        fd = self.libc.syscall(self.nr, attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return fd

    def open_anchor(self) -> None:
        if self.anchor < 0:
            self.anchor = self.open(_attr(self.tracepoint, False), 0, -1)

    def hold(self) -> None:
        if self.release_timer is not None:
            self.release_timer.cancel()
            self.release_timer = None
        self.open_anchor()
        self.watches += 1

    def unhold(self, loop: asyncio.AbstractEventLoop) -> None:
        self.watches -= 1
        if self.watches == 0 and self.anchor >= 0 and self.release_timer is None:
            self.release_timer = loop.call_later(ANCHOR_LINGER, self._release, loop)

    def _release(self, loop: asyncio.AbstractEventLoop) -> None:
        self.release_timer = None
        if self.watches == 0 and self.anchor >= 0:
            fd, self.anchor = self.anchor, -1
            loop.run_in_executor(None, os.close, fd)


_tracer: Optional[_Tracer] = None
_tried = False


def _get_tracer() -> Optional[_Tracer]:
    global _tracer, _tried
    if _tried:
        return _tracer
    _tried = True
    nr = SYSCALL_NR.get(platform.machine())
    if nr is None or (os.cpu_count() or 1) > MAX_CPUS:
        return None
    for path in TRACEPOINT_IDS:
        try:
            with open(path) as f:
                tracer = _Tracer(int(f.read()), nr)
            break
        except (OSError, ValueError):
            continue
    else:
        return None
    try:
        tracer.open_anchor()    # also proves perf_event_open is allowed here
    except OSError:
        return None
    _tracer = tracer
    return tracer


def available() -> bool:
    return _get_tracer() is not None


class Watch:
    """listen() calls of `pid` and of the children it forks from now on call `on_listen`."""

    def __init__(self, tracer: _Tracer, pid: int, on_listen: Callable[[], None]):
        self.tracer = tracer
        self.loop = asyncio.get_running_loop()
        self.on_listen = on_listen
        self.events: list[tuple[int, mmap.mmap]] = []
        tracer.hold()
        try:
            for cpu in range(os.cpu_count() or 1):
                try:
                    fd = tracer.open(tracer.sample_attr, pid, cpu)
                except OSError as e:
                    if e.errno == errno.ENODEV:
                        continue    # an offline CPU: nothing of ours runs there
                    raise
                try:
                    ring = mmap.mmap(fd, 2 * mmap.PAGESIZE)
                except OSError:
                    os.close(fd)
                    raise
                self.events.append((fd, ring))
                self.loop.add_reader(fd, self._readable, ring)
        except OSError:
            self.close()
            raise

    def _readable(self, ring: mmap.mmap) -> None:
        # Mark the records read so the buffer never fills; the fd stays quiet until the
        # next listen() (the kernel clears its poll flag when epoll looks at it).
        ring[DATA_TAIL:DATA_TAIL + 8] = ring[DATA_HEAD:DATA_HEAD + 8]
        self.on_listen()

    def close(self) -> None:
        events, self.events = self.events, []
        for fd, ring in events:
            self.loop.remove_reader(fd)
            ring.close()
            os.close(fd)
        if self.tracer is not None:
            self.tracer.unhold(self.loop)
            self.tracer = None


def watch(pid: int, on_listen: Callable[[], None]) -> Optional[Watch]:
    """A Watch, or None where listen events are not available (the caller keeps its timer)."""
    tracer = _get_tracer()
    if tracer is None:
        return None
    try:
        return Watch(tracer, pid, on_listen)
    except OSError:
        return None     # the task already exited, or a limit on perf events was reached
