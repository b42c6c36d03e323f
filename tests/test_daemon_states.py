"""Process states on the real daemon: every transition, against wrapctl and supervisord 4.3.

Each scenario runs on both daemons (the `kind` fixture) and asserts the same observable
outcome: states through the API, spawnerr texts, exit statuses and the main log lines.
"""
import os
import subprocess
import time
import xmlrpc.client

import pytest

from harness import (IGNORE_TERM, Daemon, alive, kill_tree, log_seconds, read_text, script,
                     wait_for)
from harness import settled_wrapctld  # noqa: F401  (overrides conftest's wrapctld)


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
    # startsecs long enough that a stalled machine still reads STARTING right after the start
    d = wrapctld("[program:x]\ncommand=sleep 1000\nstartsecs=4\nautostart=false\n", kind=kind)
    info = d.info("x")
    assert (info["statename"], info["pid"]) == ("STOPPED", 0)
    assert d.rpc().getAllProcessInfo()[0]["description"] == "Not started"
    assert d.rpc().startProcess("x", False) is True
    assert d.info("x")["statename"] == "STARTING"
    info = d.wait_state("x", "RUNNING")
    assert alive(info["pid"])
    d.wait_log(r"^success: x entered RUNNING state, process has stayed up for > than 4 "
               r"seconds \(startsecs\)$")
    assert d.rpc().getAllProcessInfo()[0]["description"].startswith(f"pid {info['pid']}, uptime ")
    assert fault_code(lambda: d.rpc().startProcess("x")) == 60      # ALREADY_STARTED
    d.rpc().stopProcess("x")
    # with wait=True, startProcess returns once the process is RUNNING
    assert d.rpc().startProcess("x") is True
    assert d.info("x")["statename"] == "RUNNING"


def test_stop_running_to_stopped(wrapctld, kind):
    d = wrapctld("[program:x]\ncommand=sleep 1000\nstartsecs=0\n", kind=kind)
    pid = d.wait_state("x", "RUNNING")["pid"]
    d.settle()
    assert d.rpc().stopProcess("x") is True
    info = d.info("x")
    assert (info["statename"], info["pid"]) == ("STOPPED", 0)
    assert not alive(pid)
    d.wait_log(r"^stopped: x \(terminated by SIGTERM\)$")
    assert fault_code(lambda: d.rpc().stopProcess("x")) == 70       # NOT_RUNNING


def test_stop_while_starting(wrapctld, kind):
    d = wrapctld("[program:x]\ncommand=sleep 1000\nstartsecs=30\n", kind=kind)
    pid = d.wait_state("x", "STARTING")["pid"]
    d.settle()
    assert d.rpc().stopProcess("x") is True
    assert d.info("x")["statename"] == "STOPPED"
    assert not alive(pid)


def test_stopping_then_sigkill_after_stopwaitsecs(wrapctld, kind, tmp_path):
    cmd = script(tmp_path, "ignore_term", IGNORE_TERM)
    # stopwaitsecs long enough that a stalled machine still reads STOPPING right after
    d = wrapctld(f"[program:x]\ncommand={cmd}\nstartsecs=0\nstopwaitsecs=4\n"
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


def test_exited_expected_and_unexpected(wrapctld, kind, tmp_path):
    cmd = script(tmp_path, "count", COUNT_AND_EXIT)
    d = wrapctld("".join(f"[program:x{code}]\ncommand={cmd} %(here)s/starts {code} 0.2\n"
                         f"startsecs=0\nautorestart=false\nexitcodes={codes}\n"
                         for code, codes in ((0, "0"), (3, "0"), (5, "2,5"))), kind=kind)
    for code, spawnerr, tail in ((0, "", "expected"), (3, "Bad exit code 3", "not expected"),
                                 (5, "", "expected")):
        info = d.wait_state(f"x{code}", "EXITED")
        assert (info["exitstatus"], info["spawnerr"], info["pid"]) == (code, spawnerr, 0)
        d.wait_log(rf"^exited: x{code} \(exit status {code}; {tail}\)$")


# program: (autorestart, exit code, restarted?)
AUTORESTART = {"t0": ("true", 0, True), "f3": ("false", 3, False),
               "u0": ("unexpected", 0, False), "u3": ("unexpected", 3, True)}


def test_autorestart(wrapctld, kind, tmp_path):
    cmd = script(tmp_path, "count", COUNT_AND_EXIT)
    d = wrapctld("".join(f"[program:{n}]\ncommand={cmd} %(here)s/{n}.starts {code} 0.2\n"
                         f"startsecs=0\nautorestart={ar}\nexitcodes=0\nstartretries=0\n"
                         for n, (ar, code, _) in AUTORESTART.items()), kind=kind)

    def starts(n):
        return read_text(os.path.join(d.root, f"{n}.starts")).count("start")
    for n, (_, _, restarts) in AUTORESTART.items():
        if restarts:
            wait_for(lambda: starts(n) >= 3, what=f"three starts of {n}")
            d.rpc().stopProcess(n)
        else:
            d.wait_state(n, "EXITED")
    time.sleep(1.2)     # supervisord decides on its next tick: give it more than one
    for n, (_, _, restarts) in AUTORESTART.items():
        if not restarts:
            assert d.info(n)["statename"] == "EXITED"
            assert starts(n) == 1


def test_exited_too_quickly_gives_up(wrapctld, kind):
    # Before startsecs even an expected exit code is "too quickly" (z exits 0).
    d = wrapctld("[program:x]\ncommand=false\nstartsecs=1\nstartretries=0\n"
                 "[program:z]\ncommand=true\nstartsecs=1\nstartretries=0\n", kind=kind)
    for name in ("x", "z"):
        info = d.wait_state(name, "FATAL")
        assert info["spawnerr"] == "Exited too quickly (process log may have details)"
        desc = {i["name"]: i["description"] for i in d.rpc().getAllProcessInfo()}
        assert desc[name] == info["spawnerr"]
        d.wait_log(rf"^gave up: {name} entered FATAL state, too many start retries too quickly$")
        assert len(d.log_matches(rf"^spawned: '{name}' with pid")) == 1


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
    try:
        d.rpc().startProcess("y", False)
    except xmlrpc.client.Fault as f:
        # supervisord reaps at once and reports SPAWN_ERROR if `false` already exited
        assert kind == "supervisord" and f.faultCode == 50
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


def test_spawn_errors_go_fatal(wrapctld, kind, tmp_path):
    (tmp_path / "plain.sh").write_text("#!/bin/sh\nexit 0\n")
    os.chmod(tmp_path / "plain.sh", 0o644)
    (tmp_path / "adir").mkdir()
    cases = {case: [s.format(t=tmp_path) if isinstance(s, str) else s for s in v]
             for case, v in SPAWN_ERRORS.items()}
    d = wrapctld("".join(f"[program:{case}]\ncommand={command}\nstartsecs=1\nstartretries=0\n"
                         for case, (command, _, _) in cases.items()), kind=kind)
    for case, (command, err, fault) in cases.items():
        info = d.wait_state(case, "FATAL")
        assert info["spawnerr"] == err
        desc = {i["name"]: i["description"] for i in d.rpc().getAllProcessInfo()}
        assert desc[case] == err
        d.wait_log("^spawnerr: " + err.replace("(", r"\(").replace(")", r"\)") + "$")
        assert fault_code(lambda: d.rpc().startProcess(case)) == fault
        assert d.info(case)["statename"] == "FATAL"


def test_spawn_error_retries_with_backoff(wrapctld, kind, tmp_path):
    d = wrapctld(f"[program:x]\ncommand={tmp_path}/nope\nstartsecs=0\nstartretries=1\n",
                 kind=kind)
    seen = d.seen_states("x", "FATAL")
    assert "BACKOFF" in seen
    assert len(d.log_matches(r"^spawnerr: can't find command")) == 2


@pytest.mark.timeout(60)
def test_crash_looping_programs_do_not_starve_the_daemon(tmp_path):
    """Programs that exit at once and are restarted at once must not stop the daemon from
    answering its API (supervisord restarts them on its next tick)."""
    from wrapctl.rpc.client import ClientError, make_proxy
    d = Daemon("wrapctl", tmp_path)
    d.write("".join(f"[program:t{n}]\ncommand=true\nstartsecs=0\nautorestart=true\n"
                    for n in range(4)))
    proc = subprocess.Popen(d.command(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            cwd=d.root)

    def up():
        try:
            return make_proxy(d.url, timeout=2).supervisor.getState()["statename"] == "RUNNING"
        except (ClientError, OSError) as e:
            assert "timed out" not in str(e), "the daemon does not answer its API"
            return False
    try:
        wait_for(up, deadline=30, what="the API")
        make_proxy(d.url, timeout=5).supervisor.shutdown()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            kill_tree(proc.pid)
            proc.wait()
