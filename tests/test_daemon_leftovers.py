"""What a crashed main process leaves behind, and a daemon that closes its output early.

- A master killed with SIGKILL leaves its worker holding the port; the restart waits until
  the worker has gone (stop signal, then SIGKILL after stopwaitsecs), or the new master
  could not bind and the program would end FATAL (found by bench/adopt_live.py with apache2
  and zabbix-agent).
- A stop while that restart waits cancels it.
- A forking daemon that sends its output to /dev/null before writing its pidfile is
  followed and recorded (its closed pipes are held as stand-ins), and re-attached after a
  SIGKILL of the core.
"""
import os
import signal
import socket
import time

import psutil
import pytest

from harness import PY, alive, wait_for

pytestmark = pytest.mark.timeout(90)
HERE = os.path.dirname(__file__)
MASTERWORKER = os.path.join(HERE, "daemons", "masterworker.py")
QUIETFORK = os.path.join(HERE, "daemons", "quietfork.py")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def crash_master(wrapctld, options):
    """Run masterworker.py as program mw, kill -9 its master: (daemon, master, worker)."""
    d = wrapctld(f"[program:mw]\ncommand={PY} {MASTERWORKER} {free_port()}\nstartsecs=1\n"
                 + options)
    d.wait_state("mw", "RUNNING")
    master = d.info("mw")["pid"]
    wait_for(lambda: psutil.Process(master).children(), what="the worker")
    worker = psutil.Process(master).children()[0].pid
    os.kill(master, signal.SIGKILL)
    return d, master, worker


def test_restart_waits_for_the_workers_the_crashed_master_left(wrapctld):
    d, master, worker = crash_master(wrapctld, "startretries=0\nstopwaitsecs=1\n")
    wait_for(lambda: (i := d.info("mw"))["statename"] in ("RUNNING", "FATAL") and
             i["pid"] not in (0, master) or i["statename"] == "FATAL", what="restart")
    d.wait_state("mw", "RUNNING")
    assert not alive(worker)
    d.wait_log("restarting once what it left behind has exited")


def test_a_stop_cancels_the_waiting_restart(wrapctld):
    d, master, worker = crash_master(wrapctld, "stopwaitsecs=2\n")
    d.wait_log("restarting once what it left behind has exited")
    assert d.rpc().stopProcess("mw") is True
    wait_for(lambda: not alive(worker), what="the worker killed after stopwaitsecs")
    time.sleep(0.5)     # a restart, if one were still coming, comes at once
    info = d.info("mw")
    assert info["pid"] == 0 and info["statename"] != "RUNNING"
    assert open(d.mainlog).read().count("spawned: 'mw'") == 1
    d.wait_log("pending restart cancelled")


def test_daemon_that_closed_its_output_is_followed_and_reattached(wrapctld, tmp_path):
    pidf = tmp_path / "q.pid"
    d = wrapctld(f"[program:q]\ncommand={PY} {QUIETFORK} {pidf} 0.5\npidfile={pidf}\n"
                 "startsecs=0\n")
    d.wait_state("q", "RUNNING")
    daemon = int(pidf.read_text())
    assert d.info("q")["pid"] == daemon
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(timeout=30)
    d.start()
    assert d.info("q")["pid"] == daemon
    assert d.info("q")["statename"] == "RUNNING"
    d.rpc().stopProcess("q")
    wait_for(lambda: not alive(daemon), what="daemon stopped")
