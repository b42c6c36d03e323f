"""Issue 13, the operator's daily use, against supervisord 4.3 and real supervisorctl:
reload restarts every program (keeping unchanged ones is the opt-in
reload_keeps_unchanged=true), child logs reopened after a logrotate-style rename on HUP
and USR2, AUTO log paths of a never-started program, the order of start all / stop all
results, and the start-up lines (warnings once, the stale socket, "started" after the bind).
"""
import os
import re
import signal
import socket
import subprocess
import xmlrpc.client

import pytest

from harness import IGNORE_TERM, LOGLINE, PY, alive, read_text, script, wait_for
from harness import settled_wrapctld  # noqa: F401  (overrides conftest's wrapctld)
from wrapctl.rpc.client import ClientError

# Prints each line it reads: output on demand, through sendProcessStdin.
ECHO = "import sys\nfor line in sys.stdin:\n    print(line.strip(), flush=True)\n"


def up(d):
    """The daemon answers as RUNNING (during a restart it refuses or faults)."""
    try:
        return d.rpc().getState()["statename"] == "RUNNING"
    except (OSError, ClientError, xmlrpc.client.Fault):
        return False


def running_anew(d, name, old_pid):
    """Wait until name is RUNNING under a pid other than old_pid (across a restart)."""
    def check():
        if not up(d):
            return None
        try:
            info = d.info(name)
        except xmlrpc.client.Fault:
            return None
        return info if info["statename"] == "RUNNING" and info["pid"] != old_pid else None
    return wait_for(check, what=f"{name} running again")


# ---- 1. reload restarts every program ---------------------------------------------------

@pytest.mark.parametrize("how", ["supervisorctl reload", "HUP"])
def test_reload_restarts_every_program(wrapctld, kind, how):
    d = wrapctld("[program:a]\ncommand=sleep 1000\nstartsecs=0\n", kind=kind)
    old = d.wait_state("a", "RUNNING")["pid"]
    d.settle()
    if how == "HUP":
        d.signal(signal.SIGHUP)
    else:
        r = d.ctl("reload")
        assert (r.returncode, r.stdout) == (0, "Restarted supervisord\n"), r.stdout + r.stderr
    running_anew(d, "a", old)
    assert not alive(old)


def test_reload_keeps_unchanged_programs_when_asked(wrapctld, tmp_path):
    """reload_keeps_unchanged=true (wrapctl-only): unchanged programs keep running, changed
    ones are restarted, and the kept program's log is reopened after a rename."""
    echo = script(tmp_path, "echo", ECHO)
    d = wrapctld(f"[program:a]\ncommand={echo}\nstartsecs=0\n"
                 "stdout_logfile=%(here)s/a.log\n"
                 "[program:b]\ncommand=sleep 1001\nstartsecs=0\n",
                 daemon_options="reload_keeps_unchanged=true\n")
    a = d.wait_state("a", "RUNNING")["pid"]
    b = d.wait_state("b", "RUNNING")["pid"]
    log = os.path.join(d.root, "a.log")
    d.rpc().sendProcessStdin("a", "before\n")
    wait_for(lambda: "before" in read_text(log), what="before in a.log")
    os.rename(log, log + ".1")
    text = open(d.conf).read().replace("sleep 1001", "sleep 1002")
    with open(d.conf, "w") as f:
        f.write(text)
    r = d.ctl("reload")
    assert r.returncode == 0, r.stdout + r.stderr
    d.wait_log(r"^restarted with the re-read configuration$")
    wait_for(lambda: up(d), what="API back")
    assert d.info("a")["pid"] == a
    running_anew(d, "b", b)
    d.rpc().sendProcessStdin("a", "after\n")
    wait_for(lambda: "after" in read_text(log), what="after in a new a.log")
    assert "after" not in read_text(log + ".1")


# ---- 2. child logs reopened after a logrotate-style rename ----------------------------------

@pytest.mark.parametrize("sig", ["HUP", "USR2"])
def test_logrotate_rename_then_signal(wrapctld, kind, tmp_path, sig):
    """mv x.log x.log.1; kill -SIG supervisord: what x writes next goes to a new x.log."""
    echo = script(tmp_path, "echo", ECHO)
    d = wrapctld(f"[program:x]\ncommand={echo}\nstartsecs=0\n"
                 "stdout_logfile=%(here)s/x.log\nstderr_logfile=%(here)s/x.err\n", kind=kind)
    pid = d.wait_state("x", "RUNNING")["pid"]
    d.settle()
    log = os.path.join(d.root, "x.log")
    d.rpc().sendProcessStdin("x", "before\n")
    wait_for(lambda: "before" in read_text(log), what="before in x.log")
    os.rename(log, log + ".1")
    d.signal(getattr(signal, "SIG" + sig))
    if sig == "HUP":
        running_anew(d, "x", pid)
    else:
        d.wait_log("^received SIGUSR2 indicating log reopen request$")
        assert d.info("x")["pid"] == pid
    d.rpc().sendProcessStdin("x", "after\n")
    wait_for(lambda: "after" in read_text(log), what="after in a new x.log")
    assert read_text(log + ".1") == "before\n"


# ---- 4. AUTO logs of a never-started program -------------------------------------------------

def test_never_started_program_has_its_auto_log_paths(wrapctld, kind):
    d = wrapctld("[program:idle]\ncommand=echo hello\nautostart=false\nstartsecs=0\n"
                 "autorestart=false\n", kind=kind)
    logs = os.path.join(d.root, "logs")
    info = d.info("idle")
    for ch in ("stdout", "stderr"):
        assert re.fullmatch(re.escape(logs) + rf"/idle-{ch}---supervisor-\S+\.log",
                            info[f"{ch}_logfile"]), info
    assert info["logfile"] == info["stdout_logfile"]
    if kind == "wrapctl":
        # Named, not created: thousands of programs do not make thousands of files at start.
        assert os.listdir(logs) == []
    for args in (("tail", "idle"), ("tail", "idle", "stderr"), ("tail", "-100", "idle")):
        r = d.ctl(*args)
        assert (r.returncode, r.stdout.strip(), r.stderr) == (0, "", ""), args
    assert d.rpc().readProcessStdoutLog("idle", 0, 0) == ""
    assert d.rpc().readProcessStderrLog("idle", -100, 0) == ""
    assert d.rpc().tailProcessStdoutLog("idle", 0, 100) == ["", 0, False]
    # Started, it writes where the paths said.
    d.rpc().startProcess("idle")
    d.wait_state("idle", "EXITED")
    assert d.info("idle")["stdout_logfile"] == info["stdout_logfile"]
    assert read_text(info["stdout_logfile"]) == "hello\n"
    r = d.ctl("tail", "idle")
    assert (r.returncode, r.stdout) == (0, "hello\n\n")


def test_auto_name_taken_meanwhile_is_not_written_through(wrapctld):
    """The AUTO file is made exclusively at the first start (as supervisord's mkstemp): a
    file planted at the reported name is left alone and another name is used."""
    d = wrapctld("[program:idle]\ncommand=echo hello\nautostart=false\nstartsecs=0\n"
                 "autorestart=false\n")
    planted = d.info("idle")["stdout_logfile"]
    with open(planted, "w") as f:
        f.write("planted\n")
    d.rpc().startProcess("idle")
    d.wait_state("idle", "EXITED")
    now = d.info("idle")["stdout_logfile"]
    assert now != planted and os.path.dirname(now) == os.path.dirname(planted)
    assert read_text(planted) == "planted\n"
    assert read_text(now) == "hello\n"


# ---- 5. start all / stop all in supervisord's order ------------------------------------------

# Exits a while after SIGTERM (argv[1] seconds): stops that end at known, distinct times.
SLOW_STOP = """\
import signal, sys, time
def bye(*a):
    time.sleep(float(sys.argv[1]))
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
print('ready', flush=True)
time.sleep(1000)
"""

ORDER = """\
[program:late]
command={late}
priority=1
startsecs=3
stopwaitsecs=6
autostart=false
[program:mid]
command={slow} 4.5
priority=5
startsecs=1
autostart=false
[group:g]
programs=zb,za
priority=10
[program:zb]
command={slow} 1.5
startsecs=0
autostart=false
[program:za]
command=sleep 1000
startsecs=0
autostart=false
[program:n]
command=sleep 1000
process_name=n_%(process_num)s
numprocs=2
numprocs_start=9
priority=10
startsecs=0
autostart=false
[program:aa]
command={slow} 3
priority=10
startsecs=0
autostart=false
"""


@pytest.mark.timeout(180)
def test_start_all_and_stop_all_in_supervisords_order(wrapctld, kind, tmp_path):
    """Groups by priority (then name), a [group:] in its programs= order, a program's
    processes by name (n_10 before n_9); the results of those started or stopped at once
    first, then the others' as they finish: mid (startsecs=1) before late (3); at the stop
    za at once, then zb, aa, mid as their TERM handlers end, late by SIGKILL last.

    supervisord looks at the unfinished ones when its loop wakes, at least once a second
    when idle, and reports those done by then in priority order: only finishes more than a
    second apart have one order there, hence the 1.5 s steps. (Stops of processes that die
    at once are reported in an order that depends on whether each was reaped before its
    stopProcess returned: not compared.)"""
    late = script(tmp_path, "late", IGNORE_TERM)
    slow = script(tmp_path, "slow", SLOW_STOP)
    d = wrapctld(ORDER.format(late=late, slow=slow), kind=kind)
    clients = [d.ctl] if kind == "supervisord" else [d.ctl, d.wrapctl]
    for client in clients:
        r = client("start", "all")
        assert r.stdout.splitlines() == [
            "aa: started", "g:zb: started", "g:za: started", "n:n_10: started",
            "n:n_9: started", "mid: started", "late: started"], r.stdout + r.stderr
        d.settle()
        for name in ("late", "mid", "aa", "g:zb"):
            wait_for(lambda: "ready" in d.rpc().readProcessStdoutLog(name, 0, 0),
                     what=f"{name}'s TERM handler set")
        r = client("stop", "n:*")
        assert sorted(r.stdout.splitlines()) == ["n:n_10: stopped", "n:n_9: stopped"]
        r = client("stop", "all")
        assert r.stdout.splitlines() == [
            "g:za: stopped", "g:zb: stopped", "aa: stopped", "mid: stopped",
            "late: stopped"], r.stdout + r.stderr


# ---- 9. start-up lines ------------------------------------------------------------------------

def test_config_warning_said_once_in_the_foreground(wrapctld):
    d = wrapctld("[program:a]\ncommand=sleep 1000\nbogus_option=1\n")
    d.wait_state("a", "RUNNING")
    out = d.output()
    lines = [ln for ln in out.splitlines() if "bogus_option: unknown option" in ln]
    assert len(lines) == 1 and LOGLINE.match(lines[0]), out
    assert len(d.log_matches("bogus_option: unknown option")) == 1


def test_config_warning_said_once_on_the_terminal_when_detaching(tmp_path):
    sock = os.path.join(tmp_path, "s.sock")
    conf = tmp_path / "supervisord.conf"
    conf.write_text(f"[unix_http_server]\nfile={sock}\n[supervisord]\n"
                    f"logfile={tmp_path}/main.log\npidfile={tmp_path}/d.pid\n"
                    f"childlogdir={tmp_path}\nbogus_option=1\n"
                    "[program:a]\ncommand=sleep 1000\n")
    r = subprocess.run([PY, "-m", "wrapctl", "daemon", "-c", str(conf)], capture_output=True,
                       text=True, timeout=60)
    try:
        assert r.returncode == 0, r.stderr
        assert r.stderr.count("bogus_option: unknown option") == 1, r.stderr
        assert r.stderr.startswith("wrapctl daemon: warning: "), r.stderr
        assert r.stdout == ""
        wait_for(lambda: "started with pid" in read_text(tmp_path / "main.log"))
        assert read_text(tmp_path / "main.log").count("bogus_option: unknown option") == 1
    finally:
        pid = wait_for(lambda: read_text(tmp_path / "d.pid").strip(), what="pidfile")
        os.kill(int(pid), signal.SIGTERM)
        wait_for(lambda: not alive(int(pid)), what="daemon gone")


def test_stale_socket_through_the_main_log_before_started(wrapctld, tmp_path):
    from harness import Daemon
    d = Daemon("wrapctl", tmp_path / "d")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(d.sock)
    stale.close()                       # the file stays: a crashed daemon's socket
    try:
        d.start("[program:a]\ncommand=sleep 1000\nstartsecs=0\n")
        d.wait_state("a", "RUNNING")
        out = [ln for ln in d.output().splitlines() if "stale socket" in ln]
        assert len(out) == 1 and LOGLINE.match(out[0]), d.output()
        msgs = [m for _, _, m in d.log_matches(".")]
        first = next(i for i, m in enumerate(msgs) if m.startswith("removing stale socket"))
        started = next(i for i, m in enumerate(msgs) if "started with pid" in m)
        spawned = next(i for i, m in enumerate(msgs) if m.startswith("spawned: 'a'"))
        assert first < started < spawned, msgs
    finally:
        d.stop()


def test_no_started_line_when_the_socket_is_taken(wrapctld, kind, tmp_path):
    """Another daemon serves the socket: the second exits without a pidfile, and its log
    never said it had started (supervisord logs that line only after binding, too)."""
    from harness import Daemon
    first = wrapctld("[program:a]\ncommand=sleep 1000\nstartsecs=0\n", kind=kind)
    d = Daemon(kind, tmp_path / "second")
    d.write("[program:b]\ncommand=sleep 1000\nstartsecs=0\n")
    with open(d.conf) as f:
        text = f.read().replace(f"file={d.sock}", f"file={first.sock}")
    with open(d.conf, "w") as f:
        f.write(text)
    r = subprocess.run(d.command(), capture_output=True, text=True, timeout=60, cwd=d.root)
    assert r.returncode != 0
    assert "started with pid" not in read_text(d.mainlog)
    assert not os.path.exists(os.path.join(d.root, "supervisord.pid"))
    assert "Traceback" not in r.stdout + r.stderr
    if kind == "wrapctl":
        assert r.stderr.strip().splitlines()[-1].startswith("wrapctl daemon: cannot listen on")
    assert up(first)
