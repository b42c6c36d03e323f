"""Process states on the real daemon: every transition, against wrapctl and supervisord 4.3.

Each scenario runs on both daemons (the `kind` fixture) and asserts the same observable
outcome: states through the API, spawnerr texts, exit statuses and the main log lines.
"""
import os
import time
import xmlrpc.client

import pytest

from harness import alive, log_seconds, read_text, script, wait_for

KINDS = ["wrapctl", "supervisord"]


@pytest.fixture(params=KINDS)
def kind(request):
    return request.param


IGNORE_TERM = """\
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print('ready', flush=True)
time.sleep(1000)
"""

# Appends a line to argv[1] (one per start), sleeps argv[3] seconds, exits with argv[2].
COUNT_AND_EXIT = """\
import sys, time
with open(sys.argv[1], 'a') as f:
    f.write('start\\n')
time.sleep(float(sys.argv[3]))
sys.exit(int(sys.argv[2]))
"""


def fault_code(call):
    with pytest.raises(xmlrpc.client.Fault) as e:
        call()
    return e.value.faultCode


def test_stopped_not_started_then_starting_then_running(wrapctld, kind):
    d = wrapctld("[program:x]\ncommand=sleep 1000\nstartsecs=1\nautostart=false\n", kind=kind)
    info = d.info("x")
    assert (info["statename"], info["pid"]) == ("STOPPED", 0)
    assert d.rpc().getAllProcessInfo()[0]["description"] == "Not started"
    assert d.rpc().startProcess("x", False) is True
    assert d.info("x")["statename"] == "STARTING"
    info = d.wait_state("x", "RUNNING")
    assert alive(info["pid"])
    d.wait_log(r"^success: x entered RUNNING state, process has stayed up for > than 1 "
               r"seconds \(startsecs\)$")
    assert d.rpc().getAllProcessInfo()[0]["description"].startswith(f"pid {info['pid']}, uptime ")


def test_start_with_wait_returns_once_running(wrapctld, kind):
    d = wrapctld("[program:x]\ncommand=sleep 1000\nstartsecs=1\nautostart=false\n", kind=kind)
    assert d.rpc().startProcess("x") is True
    assert d.info("x")["statename"] == "RUNNING"
    assert fault_code(lambda: d.rpc().startProcess("x")) == 60      # ALREADY_STARTED


def test_stop_running_to_stopped(wrapctld, kind):
    d = wrapctld("[program:x]\ncommand=sleep 1000\nstartsecs=0\n", kind=kind)
    pid = d.wait_state("x", "RUNNING")["pid"]
    assert d.rpc().stopProcess("x") is True
    info = d.info("x")
    assert (info["statename"], info["pid"]) == ("STOPPED", 0)
    assert not alive(pid)
    d.wait_log(r"^stopped: x \(terminated by SIGTERM\)$")
    assert fault_code(lambda: d.rpc().stopProcess("x")) == 70       # NOT_RUNNING


def test_stopping_then_sigkill_after_stopwaitsecs(wrapctld, kind, tmp_path):
    cmd = script(tmp_path, "ignore_term", IGNORE_TERM)
    d = wrapctld(f"[program:x]\ncommand={cmd}\nstartsecs=0\nstopwaitsecs=1\n"
                 "stdout_logfile=%(here)s/x.out\n", kind=kind)
    pid = d.wait_state("x", "RUNNING")["pid"]
    wait_for(lambda: "ready" in read_text(os.path.join(d.root, "x.out")), what="handler set")
    assert d.rpc().stopProcess("x", False) is True
    assert d.info("x")["statename"] == "STOPPING"
    assert alive(pid)
    d.wait_state("x", "STOPPED")
    assert not alive(pid)
    d.wait_log(rf"^killing 'x' \({pid}\) with SIGKILL$")
    d.wait_log(r"^stopped: x \(terminated by SIGKILL\)$")


@pytest.mark.parametrize("code,spawnerr", [(0, ""), (3, "Bad exit code 3")])
def test_exited_expected_and_unexpected(wrapctld, kind, tmp_path, code, spawnerr):
    cmd = script(tmp_path, "count", COUNT_AND_EXIT)
    d = wrapctld(f"[program:x]\ncommand={cmd} %(here)s/starts {code} 0.2\nstartsecs=0\n"
                 "autorestart=false\nexitcodes=0\n", kind=kind)
    info = d.wait_state("x", "EXITED")
    assert info["exitstatus"] == code
    assert info["spawnerr"] == spawnerr
    assert info["pid"] == 0
    tail = "expected" if code == 0 else "not expected"
    d.wait_log(rf"^exited: x \(exit status {code}; {tail}\)$")


@pytest.mark.parametrize("autorestart,code,restarts", [
    ("true", 0, True), ("false", 3, False), ("unexpected", 0, False), ("unexpected", 3, True)])
def test_autorestart(wrapctld, kind, tmp_path, autorestart, code, restarts):
    cmd = script(tmp_path, "count", COUNT_AND_EXIT)
    d = wrapctld(f"[program:x]\ncommand={cmd} %(here)s/starts {code} 0.2\nstartsecs=0\n"
                 f"autorestart={autorestart}\nexitcodes=0\nstartretries=0\n", kind=kind)
    starts = os.path.join(d.root, "starts")
    if restarts:
        wait_for(lambda: read_text(starts).count("start") >= 3, what="three starts")
        d.rpc().stopProcess("x")
    else:
        d.wait_state("x", "EXITED")
        time.sleep(1.5)     # supervisord decides on its next tick: give it more than one
        assert d.info("x")["statename"] == "EXITED"
        assert read_text(starts).count("start") == 1


def test_exited_too_quickly_gives_up(wrapctld, kind):
    d = wrapctld("[program:x]\ncommand=false\nstartsecs=1\nstartretries=0\n", kind=kind)
    info = d.wait_state("x", "FATAL")
    assert info["spawnerr"] == "Exited too quickly (process log may have details)"
    assert d.rpc().getAllProcessInfo()[0]["description"] == info["spawnerr"]
    d.wait_log(r"^gave up: x entered FATAL state, too many start retries too quickly$")
    assert len(d.log_matches(r"^spawned: 'x' with pid")) == 1


def test_startretries_backoff_then_fatal(wrapctld, kind):
    d = wrapctld("[program:x]\ncommand=false\nstartsecs=1\nstartretries=2\n", kind=kind)
    seen = d.seen_states("x", "FATAL")
    assert "BACKOFF" in seen and seen[-1] == "FATAL"
    d.wait_log(r"^gave up: x")
    events = [m for _, _, m in d.log_matches(r"^(spawned: 'x'|exited: x|gave up: x)")]
    kinds = [m.split(":")[0] for m in events]
    assert kinds == ["spawned", "exited"] * 3 + ["gave up"], events
    assert all(m.endswith("(exit status 1; not expected)") for m in events if
               m.startswith("exited"))
    if kind == "wrapctl":
        # The waits grow (1 s, then 2 s): the second gap is longer than the first.
        stamps = [log_seconds(s) for s, _, _ in d.log_matches(r"^spawned: 'x'")]
        assert stamps[2] - stamps[1] > stamps[1] - stamps[0]


def test_stop_in_backoff_goes_stopped(wrapctld, kind):
    d = wrapctld("[program:x]\ncommand=false\nstartsecs=1\nstartretries=100\n", kind=kind)
    d.wait_state("x", "BACKOFF")
    assert d.rpc().stopProcess("x") is True
    assert d.info("x")["statename"] == "STOPPED"


def test_start_from_fatal_and_exited(wrapctld, kind, tmp_path):
    cmd = script(tmp_path, "count", COUNT_AND_EXIT)
    d = wrapctld(f"[program:x]\ncommand={cmd} %(here)s/starts 0 0\nstartsecs=0\n"
                 "autorestart=false\n"
                 "[program:y]\ncommand=false\nstartsecs=1\nstartretries=0\n", kind=kind)
    d.wait_state("x", "EXITED")
    d.wait_state("y", "FATAL")
    d.rpc().startProcess("x", False)
    wait_for(lambda: read_text(os.path.join(d.root, "starts")).count("start") == 2)
    d.wait_state("x", "EXITED")
    d.rpc().startProcess("y", False)
    d.wait_log(r"^spawned: 'y'", count=2)
    d.wait_state("y", "FATAL")


# case: (command, spawnerr, fault of a later startProcess: NO_FILE 20 or NOT_EXECUTABLE 21)
SPAWN_ERRORS = {
    "missing": ("{t}/nope", "can't find command '{t}/nope'", 20),
    "not-in-path": ("wrapctl-no-such-command-x",
                    "can't find command 'wrapctl-no-such-command-x'", 20),
    "not-executable": ("{t}/plain.sh", "command at '{t}/plain.sh' is not executable", 21),
    "directory": ("{t}/adir", "command at '{t}/adir' is a directory", 21),
}


@pytest.mark.parametrize("case", sorted(SPAWN_ERRORS))
def test_spawn_error_goes_fatal(wrapctld, kind, tmp_path, case):
    (tmp_path / "plain.sh").write_text("#!/bin/sh\nexit 0\n")
    os.chmod(tmp_path / "plain.sh", 0o644)
    (tmp_path / "adir").mkdir()
    command, err, fault = SPAWN_ERRORS[case]
    command, err = command.format(t=tmp_path), err.format(t=tmp_path)
    d = wrapctld(f"[program:x]\ncommand={command}\nstartsecs=1\nstartretries=0\n", kind=kind)
    info = d.wait_state("x", "FATAL")
    assert info["spawnerr"] == err
    assert d.rpc().getAllProcessInfo()[0]["description"] == err
    d.wait_log("^spawnerr: " + err.replace("(", r"\(").replace(")", r"\)") + "$")
    assert fault_code(lambda: d.rpc().startProcess("x")) == fault
    assert d.info("x")["statename"] == "FATAL"


def test_spawn_error_retries_with_backoff(wrapctld, kind, tmp_path):
    d = wrapctld(f"[program:x]\ncommand={tmp_path}/nope\nstartsecs=0\nstartretries=2\n",
                 kind=kind)
    seen = d.seen_states("x", "FATAL")
    assert "BACKOFF" in seen
    assert len(d.log_matches(r"^spawnerr: can't find command")) == 3
