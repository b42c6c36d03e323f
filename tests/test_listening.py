"""listen() events for tcp:/unix: readiness (wrapctl/core/listening.py), on real processes.

The events need the syscalls:sys_exit_listen tracepoint (tracefs mounted, perf_event_open
allowed). .ci/run mounts tracefs; where the kernel still refuses, these tests skip (the
daemon then uses its retry timer alone, which the other ready= tests cover).
"""
import asyncio
import socket
import subprocess

import pytest

from harness import PY, py
from wrapctl.core import listening

pytestmark = pytest.mark.timeout(60)

if not listening.available():
    pytest.skip("listen events unavailable here (tracefs not mounted?)", allow_module_level=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# A child that waits for a line on stdin, then (optionally in a forked grandchild) listens.
LISTENER = """
import os, socket, sys
sys.stdin.readline()
if {fork} and os.fork():
    os.wait(); sys.exit(0)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', {port})); s.listen()
print('listening', flush=True)
sys.stdin.readline()
"""


async def _watch_child(fork: bool):
    port = free_port()
    child = subprocess.Popen([PY, "-c", LISTENER.format(fork=fork, port=port)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    heard = asyncio.Event()
    answered = []

    def on_listen():
        # The tracepoint fires as listen() returns: the port must already accept here.
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            answered.append(True)
        except OSError:
            answered.append(False)
        heard.set()
    w = listening.watch(child.pid, on_listen)
    try:
        assert w is not None
        assert not heard.is_set()
        child.stdin.write("go\n")
        child.stdin.flush()
        await asyncio.wait_for(heard.wait(), 20)
        assert answered[0] is True
    finally:
        if w is not None:
            w.close()
        child.stdin.close()
        child.wait(10)
        child.stdout.close()


def test_listen_of_the_watched_process_is_an_event():
    asyncio.run(_watch_child(fork=False))


def test_listen_of_a_child_forked_later_is_an_event():
    asyncio.run(_watch_child(fork=True))


def test_listen_outside_the_watched_tree_is_not_an_event():
    async def main():
        port = free_port()
        watched = subprocess.Popen(["sleep", "60"])
        other = subprocess.Popen([PY, "-c", LISTENER.format(fork=False, port=port)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        heard = []
        w = listening.watch(watched.pid, lambda: heard.append(1))
        try:
            other.stdin.write("go\n")
            other.stdin.flush()
            loop = asyncio.get_running_loop()
            line = await loop.run_in_executor(None, other.stdout.readline)
            assert line == "listening\n"
            await asyncio.sleep(0.3)    # let a (wrong) event arrive, if one were coming
            assert heard == []
        finally:
            w.close()
            watched.kill()
            watched.wait()
            other.stdin.close()
            other.wait(10)
            other.stdout.close()
    asyncio.run(main())


def test_ready_tcp_runs_on_the_listen_event(wrapctld):
    """The daemon probes when listen() is seen (its debug log says so), not only on timers."""
    port = free_port()
    d = wrapctld(f"""
[program:srv]
command={py("import socket,time; time.sleep(0.4); s=socket.socket(); "
            "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
            f"s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(600)")}
ready=tcp:127.0.0.1:{port}
startsecs=0
""", loglevel="debug")
    d.wait_state("srv", "RUNNING")
    log = open(d.mainlog).read()
    assert "srv: listen() seen, probing tcp:127.0.0.1:%d" % port in log
    assert "ready (tcp:127.0.0.1:%d)" % port in log
