"""Adopting a daemon that is already running (started by an init script) without a restart:
supervisor-side part, through the wrapctl.adoptRunning method."""
import os
import signal
import subprocess
import sys
import xmlrpc.client

import pytest

from harness import alive, wait_for


@pytest.fixture
def outside_daemon():
    """A daemon started as an init script would: its own session, not the core's child."""
    p = subprocess.Popen(["setsid", "sleep", "1000"])
    wait_for(lambda: alive(p.pid))
    yield p.pid
    if alive(p.pid):
        os.kill(p.pid, signal.SIGKILL)
    p.wait()


def test_adopt_running_then_restart_the_supervised_way(wrapctld, outside_daemon):
    d = wrapctld("[program:svc]\ncommand=sleep 1001\nautostart=false\nstartsecs=0\n"
                 "autorestart=true\n")
    assert d.proxy().wrapctl.adoptRunning("svc", outside_daemon) is True
    info = d.info("svc")
    assert (info["statename"], info["pid"]) == ("RUNNING", outside_daemon)
    os.kill(outside_daemon, signal.SIGKILL)
    new = wait_for(lambda: (i := d.info("svc"))["statename"] == "RUNNING" and
                   i["pid"] not in (0, outside_daemon) and i, what="supervised restart")
    with open(f"/proc/{new['pid']}/cmdline") as f:
        assert f.read().split("\0")[:2] == ["sleep", "1001"]
    d.rpc().stopProcess("svc")
    assert not alive(new["pid"])


def test_adopt_running_stop_signals_the_adopted_daemon(wrapctld, outside_daemon):
    d = wrapctld("[program:svc]\ncommand=sleep 1001\nautostart=false\n")
    d.proxy().wrapctl.adoptRunning("svc", outside_daemon)
    d.rpc().stopProcess("svc")
    wait_for(lambda: not alive(outside_daemon), what="adopted daemon stopped")
    assert d.info("svc")["statename"] == "STOPPED"


def test_adopt_running_refusals(wrapctld, outside_daemon):
    d = wrapctld("[program:svc]\ncommand=sleep 1001\nstartsecs=0\n"
                 "[program:off]\ncommand=sleep 1001\nautostart=false\n")
    d.wait_state("svc", "RUNNING")
    w = d.proxy().wrapctl
    for name, pid, fault in (("svc", outside_daemon, 60), ("nosuch", outside_daemon, 10),
                             ("off", 1, 30), ("off", 4194303, 30)):
        with pytest.raises(xmlrpc.client.Fault) as e:
            w.adoptRunning(name, pid)
        assert e.value.faultCode == fault
    assert alive(outside_daemon)


def test_cli_adopt_running_from_a_pidfile(wrapctld, outside_daemon, tmp_path):
    pidfile = tmp_path / "svc.pid"
    pidfile.write_text(f"{outside_daemon}\n")
    pidfile.chmod(0o644)
    d = wrapctld("[program:svc]\ncommand=sleep 1001\nautostart=false\n")
    r = d.wrapctl("adopt", "--running", str(pidfile), "--name", "svc")
    assert (r.returncode, r.stdout.strip()) == (0, f"svc: attached to running pid {outside_daemon}")
    assert d.info("svc")["pid"] == outside_daemon
    again = d.wrapctl("adopt", "--running", str(outside_daemon), "--name", "svc")
    assert again.returncode == 1 and again.stderr.count("\n") == 1
    assert "ALREADY_STARTED" in again.stderr
    pidfile.write_text("garbage\n")
    bad = d.wrapctl("adopt", "--running", str(pidfile), "--name", "svc")
    assert bad.returncode == 2 and "garbage" in bad.stderr and "Traceback" not in bad.stderr
