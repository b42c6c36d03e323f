"""Signals and life cycle of the daemon itself: shutdown, reload, pidfile, daemonizing."""
import os
import signal
import subprocess
import xmlrpc.client

import pytest

from harness import IGNORE_TERM, PY, Daemon, alive, kill_tree, read_text, script, wait_for
from harness import settled_wrapctld  # noqa: F401  (overrides conftest's wrapctld)



@pytest.mark.parametrize("how", ["TERM", "INT", "QUIT", "api"])
def test_shutdown(wrapctld, kind, how):
    if kind == "supervisord" and how in ("INT", "QUIT"):
        pytest.skip("TERM and the API are enough to compare with supervisord")
    d = wrapctld("[program:a]\ncommand=sleep 1000\nstartsecs=0\n"
                 "[program:b]\ncommand=sleep 1000\nstartsecs=0\nnumprocs=2\n"
                 "process_name=b%(process_num)s\n", kind=kind)
    pids = [d.wait_state(n, "RUNNING")["pid"] for n in ("a", "b:b0", "b:b1")]
    d.settle()
    pidfile = os.path.join(d.root, "supervisord.pid")
    assert int(read_text(pidfile)) == d.proc.pid
    if how == "api":
        assert d.rpc().shutdown() is True
    else:
        d.signal(getattr(signal, "SIG" + how))
    assert d.wait_exit() == 0
    assert not any(map(alive, pids))
    assert not os.path.exists(pidfile)
    assert not os.path.exists(d.sock)
    if how != "api":
        d.wait_log(f"^received SIG{how} indicating exit request$")


def test_shutdown_kills_a_term_ignoring_program_after_stopwaitsecs(wrapctld, kind, tmp_path):
    cmd = script(tmp_path, "ignore_term", IGNORE_TERM)
    d = wrapctld(f"[program:x]\ncommand={cmd}\nstartsecs=0\nstopwaitsecs=1\n"
                 "stdout_logfile=%(here)s/x.log\n", kind=kind)
    pid = d.wait_state("x", "RUNNING")["pid"]
    wait_for(lambda: "ready" in read_text(os.path.join(d.root, "x.log")), what="handler set")
    d.signal(signal.SIGTERM)
    assert d.wait_exit() == 0
    assert not alive(pid)
    d.wait_log(r"^stopped: x \(terminated by SIGKILL\)$")


def _reload_scenario(d, trigger, kind):
    """Reload on a changed config: `gone` removed, `n` added, `a` unchanged. Both restart
    every program, `a` too (wrapctl keeps it only with reload_keeps_unchanged=true:
    tests/test_compat_daily.py)."""
    old = d.wait_state("a", "RUNNING")["pid"]
    gone = d.wait_state("gone", "RUNNING")["pid"]
    d.settle()
    d.write("[program:a]\ncommand=sleep 1000\nstartsecs=0\n"
            "[program:n]\ncommand=sleep 1000\nstartsecs=0\n")
    trigger()
    # The API is back once the re-read config's programs spawn; asking earlier races the
    # restart (see test_requests_during_restart_never_hang).
    d.wait_log(r"^spawned: 'n'")
    d.wait_log(r"^spawned: 'a'", count=2)
    if kind == "wrapctl":
        d.wait_log(r"^restarted with the re-read configuration$")
    new = d.wait_state("a", "RUNNING")["pid"]
    d.wait_state("n", "RUNNING")
    assert new != old and not alive(old)
    assert not alive(gone)
    assert d.proc.poll() is None and d.rpc().getPID() == d.proc.pid
    assert sorted(i["name"] for i in d.rpc().getAllProcessInfo()) == ["a", "n"]


PAIR = ("[program:a]\ncommand=sleep 1000\nstartsecs=0\n"
        "[program:gone]\ncommand=sleep 1000\nstartsecs=0\n")


def test_hup_reloads(wrapctld, kind):
    d = wrapctld(PAIR, kind=kind)
    _reload_scenario(d, lambda: d.signal(signal.SIGHUP), kind)
    d.wait_log("^received SIGHUP indicating restart request$")


def test_api_restart_reloads(wrapctld, kind):
    d = wrapctld(PAIR, kind=kind)
    _reload_scenario(d, lambda: d.rpc().restart(), kind)


@pytest.mark.timeout(60)
def test_requests_during_restart_never_hang(wrapctld):
    """Every request made while the daemon restarts is answered or refused, never left
    hanging: each call has a 3 s client timeout, and a timeout fails the test. (On the
    earlier restart path, stop all then close the servers, 4 restarts in 10 left a request
    unanswered: HTTPServer.close() cancels a _Channel task that has not started yet, so its
    `finally: writer.close()` never runs.)"""
    from wrapctl.rpc.client import ClientError, make_proxy
    d = wrapctld("[program:a]\ncommand=sleep 1000\nstartsecs=0\n")
    for k in range(1, 11):
        make_proxy(d.url, timeout=3).supervisor.restart()
        while True:
            try:
                up = make_proxy(d.url, timeout=3).supervisor.getState()["statename"] == "RUNNING"
            except (ClientError, OSError) as e:
                assert "timed out" not in str(e), f"request hung during restart {k}"
                up = False
            except xmlrpc.client.Fault as f:
                assert f.faultCode == 6         # SHUTDOWN_STATE while stopping
                up = False
            if up and len(d.log_matches(r"^restarted with the re-read configuration$")) >= k:
                break


def test_hup_with_a_bad_config(wrapctld, kind):
    """supervisord stops everything and exits 2; wrapctl logs one line naming the error and
    goes on with the running configuration."""
    d = wrapctld("[program:a]\ncommand=sleep 1000\nstartsecs=0\n", kind=kind)
    pid = d.wait_state("a", "RUNNING")["pid"]
    d.settle()
    d.write("[program:a]\ncommand=sleep 1000\nstartsecs=later\n")
    d.signal(signal.SIGHUP)
    if kind == "supervisord":
        assert d.wait_exit() == 2
        assert not alive(pid)
    else:
        n = open(d.conf).read().splitlines().index("startsecs=later") + 1
        d.wait_log(rf"^cannot restart: {d.conf}:{n}: \[program:a\] startsecs: ")
        assert d.info("a")["pid"] == pid and alive(pid)
        assert d.rpc().getState()["statename"] == "RUNNING"
    assert "Traceback" not in d.output()


def test_second_daemon_refused_while_pidfile_held(wrapctld, tmp_path):
    first = wrapctld("[program:a]\ncommand=sleep 1000\nstartsecs=0\n")
    first.wait_state("a", "RUNNING")
    pidfile = os.path.join(first.root, "supervisord.pid")
    second = Daemon("wrapctl", tmp_path / "second")
    second.write("[program:b]\ncommand=sleep 1000\nstartsecs=0\n")
    text = open(second.conf).read().replace("%(here)s/supervisord.pid", pidfile)
    with open(second.conf, "w") as f:
        f.write(text)
    r = subprocess.run(second.command(), capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and pidfile in lines[0] and str(first.proc.pid) in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert int(read_text(pidfile)) == first.proc.pid
    assert first.info("a")["statename"] == "RUNNING"
    assert not os.path.exists(second.sock)


def test_stale_pidfile_is_replaced(wrapctld, tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    root = tmp_path / "d0"
    root.mkdir()
    (root / "supervisord.pid").write_text(f"{dead.pid}\n")
    d = wrapctld("[program:a]\ncommand=sleep 1000\nstartsecs=0\n")
    assert int(read_text(root / "supervisord.pid")) == d.proc.pid


def test_daemonizes_without_n(tmp_path):
    d = Daemon("wrapctl", tmp_path)
    pidfile = tmp_path / "daemon.pid"
    d.write(f"[unix_http_server]\nfile={d.sock}\n"
            f"[supervisord]\nlogfile=%(here)s/supervisord.log\npidfile={pidfile}\n"
            "childlogdir=%(here)s/logs\nnodaemon=false\n"
            "[program:x]\ncommand=sleep 1000\nstartsecs=0\n", base=False)
    launcher = subprocess.run([PY, "-m", "wrapctl", "daemon", "-c", d.conf],
                              capture_output=True, text=True, timeout=30, cwd=tmp_path)
    pid = None
    try:
        assert launcher.returncode == 0, launcher.stderr
        pid = int(wait_for(lambda: read_text(pidfile).strip(), what="pidfile"))
        assert pid != os.getpid() and alive(pid)
        assert os.getsid(pid) != os.getsid(0)           # detached: a session of its own
        wait_for(lambda: os.path.exists(d.sock), what="control socket")
        assert d.rpc().getPID() == pid
        child = d.wait_state("x", "RUNNING")["pid"]
        assert d.rpc().shutdown() is True
        wait_for(lambda: not alive(pid), what="daemon exit")
        assert not alive(child)
        wait_for(lambda: not pidfile.exists(), what="pidfile removed")
    finally:
        if pid is not None and alive(pid):
            kill_tree(pid)
