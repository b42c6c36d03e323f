"""ready= and healthcheck=: when a program is up, and whether it still answers.

A spec is parsed once into a Check (pure data); probing is a coroutine on the daemon's loop.
Nothing here spins: a probe that has to be retried (a port not yet listening) runs again
when the program's tree calls listen() (listening.py, where the kernel offers the event),
and otherwise on a timer that starts at 1 ms and grows to 100 ms, so a slow daemon costs
ten wakeups a second at most while it starts. A pidfile is watched with inotify; a log
line is matched as the output is read.
The specs are in wrapctl/config/checks.py.
"""
from __future__ import annotations

import asyncio
import os
import socket
import urllib.parse
from typing import Optional

from wrapctl.config.checks import Check, SpecError, parse  # noqa: F401 (re-exported)
from wrapctl.core import listening
from wrapctl.shims import identity
from wrapctl.shims import pidfile as pidfile_rules

FIRST_RETRY = 0.001
MAX_RETRY = 0.1


# ---- probes: one attempt each, True when up ----------------------------------------------

async def probe_once(check: Check, timeout: float, run_exec=None) -> bool:
    try:
        if check.kind == "tcp":
            _, w = await asyncio.wait_for(asyncio.open_connection(check.host, check.port), timeout)
            w.close()
            return True
        if check.kind == "unix":
            _, w = await asyncio.wait_for(asyncio.open_unix_connection(check.path), timeout)
            w.close()
            return True
        if check.kind == "http":
            return await asyncio.wait_for(_http_ok(check.url, timeout), timeout)
        if check.kind == "pidfile":
            return pidfile_alive(check.path)
        if check.kind == "exec":
            return await asyncio.wait_for(run_exec(check.argv), timeout) == 0
    except (OSError, asyncio.TimeoutError, ValueError):
        return False
    return False


def pidfile_alive(path: str) -> bool:
    """The pidfile names a live process; read with the shim's rules (wrapctl.shims.pidfile),
    so a symlink planted by another user or a world-writable file read by root says no."""
    pid = pidfile_rules.read(path, os.geteuid()).pid
    return pid is not None and identity.alive(pid)


def _request(u) -> bytes:
    target = (u.path or "/") + (f"?{u.query}" if u.query else "")
    return f"GET {target} HTTP/1.0\r\nHost: {u.netloc}\r\nUser-Agent: wrapctl\r\n\r\n" \
        .encode("latin-1")


def _status_ok(line: bytes) -> bool:
    parts = line.split()
    return len(parts) >= 2 and parts[1][:1] in (b"2", b"3")


async def _http_ok(url: str, timeout: float = 5.0) -> bool:
    u = urllib.parse.urlsplit(url)
    if u.scheme == "https":
        # The daemon's asyncio is loaded without ssl (daemon_main.py: OpenSSL costs ~4 MiB
        # of RSS), so TLS probes run blocking in a worker thread, bounded by the timeout.
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, _https_ok, u, timeout)
    r, w = await asyncio.open_connection(u.hostname, u.port or 80)
    try:
        w.write(_request(u))
        await w.drain()
        return _status_ok(await r.readline())
    finally:
        w.close()


def _https_ok(u, timeout: float) -> bool:
    import ssl
    ctx = ssl.create_default_context()
    # A probe of our own child, usually on loopback: certificate names rarely match.
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((u.hostname, u.port or 443), timeout) as raw, \
                ctx.wrap_socket(raw, server_hostname=u.hostname) as s:
            s.sendall(_request(u))
            line = s.makefile("rb").readline(8192)
    except (OSError, ValueError):
        return False
    return _status_ok(line)


async def wait_ready(check: Check, run_exec=None, pid: int = 0, on_listen=None) -> None:
    """Return once the check passes (cancel to give up). A tcp:/unix: check of process
    `pid` also runs whenever that process or one it forks calls listen() (listening.py);
    the growing retry timer stays, for listens no event reports."""
    if check.kind == "pidfile":
        await _wait_pidfile(check.path)
        return
    listened = asyncio.Event()

    def heard() -> None:
        listened.set()
        if on_listen is not None:
            on_listen()
    watch = listening.watch(pid, heard) if pid > 0 and check.kind in ("tcp", "unix") else None
    try:
        delay = FIRST_RETRY
        while True:
            listened.clear()
            if await probe_once(check, max(1.0, delay * 10), run_exec):
                return
            delay = await _event_or_timer(listened, delay)
    finally:
        if watch is not None:
            watch.close()


async def _event_or_timer(event: asyncio.Event, delay: float) -> float:
    """Until `event` is set or `delay` has passed; the next retry delay."""
    try:
        await asyncio.wait_for(event.wait(), delay)
    except asyncio.TimeoutError:
        pass
    return min(MAX_RETRY, delay * 2)


async def _wait_pidfile(path: str) -> None:
    """Until `path` names a live process."""
    await watch_file(path, lambda: pidfile_alive(path))


async def watch_file(path: str, check, poked: Optional[asyncio.Event] = None):
    """check() again whenever something changes in the directory of `path` (inotify; a
    timer only where inotify is refused), or `poked` is set; return its first true value."""
    from inotify_simple import INotify, flags
    loop = asyncio.get_running_loop()
    changed = poked if poked is not None else asyncio.Event()
    try:
        ino = INotify()
        ino.add_watch(os.path.dirname(path) or ".",
                      flags.CREATE | flags.MOVED_TO | flags.CLOSE_WRITE | flags.MODIFY)
        loop.add_reader(ino.fileno(), changed.set)
    except OSError:
        ino = None          # no inotify here, or no directory yet: fall back to a timer
    try:
        delay = FIRST_RETRY
        while True:
            result = check()        # after the watch is set: no event is lost
            if result:
                return result
            if ino is None:
                delay = await _event_or_timer(changed, delay)
            else:
                await changed.wait()
                ino.read(timeout=0)
            changed.clear()
    finally:
        if ino is not None:
            loop.remove_reader(ino.fileno())
            ino.close()
