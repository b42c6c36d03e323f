"""Surviving its own restart: after a SIGKILL of the core, the next core re-attaches to the
programs still running (pid and start time from the state file), starts no duplicates, keeps
supervising them and loses no output written while no core was running."""
import os
import signal
import time

import xmlrpc.client

import psutil

from harness import alive, py, wait_for
from wrapctl.rpc.client import ClientError

N = 50
WRITERS = 10
# Prints a counter as fast as a tick allows, forever: a gap in the log would show.
WRITER = py("import itertools,time; "
            "[(print(i, flush=True), time.sleep(0.002)) for i in itertools.count()]")


def programs():
    out = []
    for i in range(N):
        cmd = WRITER if i < WRITERS else "sleep 1000"
        out.append(f"[program:p{i:02d}]\ncommand={cmd}\nstartsecs=0\nautorestart=true\n"
                   "stdout_logfile_maxbytes=0\n")
    return "".join(out)


def api_running(d):
    """True once the daemon answers as RUNNING (during a restart it answers SHUTDOWN_STATE
    faults, and between its sockets it may refuse connections)."""
    try:
        return d.rpc().getState()["statename"] == "RUNNING"
    except (OSError, ClientError, xmlrpc.client.Fault):
        return False


def snapshot(d):
    return {i["name"]: i for i in d.rpc().getAllProcessInfo()}


def kill_core(d):
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(timeout=30)


def counted_lines(path):
    with open(path) as f:
        return [int(x) for x in f.read().split()]


def test_core_sigkill_reattaches_without_duplicates_or_gaps(wrapctld):
    d = wrapctld(programs())
    wait_for(lambda: all(i["statename"] == "RUNNING" for i in snapshot(d).values()) and
             len(snapshot(d)) == N, what="all RUNNING")
    before = snapshot(d)
    pids = {n: i["pid"] for n, i in before.items()}
    time.sleep(0.3)                     # let the writers write
    kill_core(d)
    time.sleep(0.5)                     # output piles up in the pipes meanwhile
    assert all(alive(p) for p in pids.values())
    d.start()
    after = snapshot(d)
    assert {n: i["pid"] for n, i in after.items()} == pids
    assert all(i["statename"] == "RUNNING" for i in after.values())
    # No duplicates: exactly one process per program command among the machine's processes.
    mine = [p for p in psutil.process_iter(["pid", "cmdline"])
            if p.info["cmdline"] and p.info["cmdline"][:1] == ["sleep"]
            and p.info["cmdline"][1:] == ["1000"] and p.pid in pids.values()]
    assert len(mine) == N - WRITERS
    # Keeps supervising: a kill -9 of a re-attached program is seen and it is restarted.
    victim = pids["p20"]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: (i := d.info("p20"))["pid"] not in (0, victim) and
             i["statename"] == "RUNNING", what="p20 restarted")
    # No gap in the logs: every writer's counter runs on without a missing number.
    time.sleep(0.3)
    for i in range(WRITERS):
        logfile = after[f"p{i:02d}"]["stdout_logfile"]
        wait_for(lambda: len(counted_lines(logfile)) > 10, what="output")
        nums = counted_lines(logfile)
        assert nums == list(range(len(nums))), f"gap in {logfile}"
    d.stop()
    assert not any(alive(p) for n, p in pids.items() if n != "p20")


def test_restart_with_a_changed_program_restarts_only_that_one(wrapctld):
    d = wrapctld("[program:a]\ncommand=sleep 1000\nstartsecs=0\n"
                 "[program:b]\ncommand=sleep 1001\nstartsecs=0\n")
    a = d.wait_state("a", "RUNNING")["pid"]
    b = d.wait_state("b", "RUNNING")["pid"]
    kill_core(d)
    text = open(d.conf).read().replace("sleep 1001", "sleep 1002")
    with open(d.conf, "w") as f:
        f.write(text)
    d.start()
    assert d.info("a")["pid"] == a
    wait_for(lambda: (i := d.info("b"))["pid"] not in (0, b) and i["statename"] == "RUNNING",
             what="b restarted with its new command")
    assert not alive(b)


def test_program_that_died_while_core_was_down_is_started_again(wrapctld):
    d = wrapctld("[program:a]\ncommand=" + py("print('last words', flush=True); "
                                              "import time; time.sleep(1000)") +
                 "\nstartsecs=0\n")
    a = d.wait_state("a", "RUNNING")["pid"]
    wait_for(lambda: "last words" in d.rpc().tailProcessStdoutLog("a", 0, 100)[0])
    kill_core(d)
    os.kill(a, signal.SIGKILL)
    wait_for(lambda: not alive(a), what="a dead")
    d.start()
    info = d.wait_state("a", "RUNNING")
    assert info["pid"] != a
    wait_for(lambda: d.rpc().tailProcessStdoutLog("a", 0, 1000)[0].count("last words") == 2,
             what="both outputs in one log")


def test_planned_restart_keeps_unchanged_programs_when_asked(wrapctld):
    """reload_keeps_unchanged=true (wrapctl-only): HUP and supervisor.restart apply the
    changes as update does; the default restarts every program (test_daemon_signals)."""
    d = wrapctld("[program:a]\ncommand=sleep 1000\nstartsecs=0\n"
                 "[program:b]\ncommand=sleep 1001\nstartsecs=0\n",
                 daemon_options="reload_keeps_unchanged=true\n")
    a = d.wait_state("a", "RUNNING")["pid"]
    b = d.wait_state("b", "RUNNING")["pid"]
    text = open(d.conf).read().replace("sleep 1001", "sleep 1002")
    with open(d.conf, "w") as f:
        f.write(text + "[program:c]\ncommand=sleep 1003\nstartsecs=0\n")
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "restarted with the re-read configuration" in open(d.mainlog).read(),
             what="restart done")
    wait_for(lambda: api_running(d), what="API back")
    d.wait_state("c", "RUNNING")
    assert d.info("a")["pid"] == a
    assert d.info("b")["pid"] not in (0, b)
    assert d.rpc().restart() is True
    wait_for(lambda: open(d.mainlog).read().count("restarted with the re-read") == 2,
             what="API restart done")
    wait_for(lambda: api_running(d), what="API back")
    assert d.info("a")["pid"] == a


def test_restart_that_cannot_serve_keeps_the_old_socket(wrapctld):
    d = wrapctld("[program:a]\ncommand=sleep 1000\nstartsecs=0\n")
    a = d.wait_state("a", "RUNNING")["pid"]
    text = open(d.conf).read().replace(f"file={d.sock}", "file=/nonexistent/dir/s.sock", 1)
    with open(d.conf, "w") as f:
        f.write(text)
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "serving the previous one's sockets" in open(d.mainlog).read(),
             what="fallback")
    wait_for(lambda: api_running(d), what="API back")
    # The restart went on: every program restarted (the default), under the old socket.
    info = d.wait_state("a", "RUNNING")
    assert info["pid"] != a and not alive(a)
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(timeout=30) == 0
