"""depends_on=, ready=, healthcheck=, backoff: real daemons on real processes."""
import os
import signal
import socket

import pytest

from harness import alive, py, wait_for


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listener(port, delay, mark=None):
    """A program that listens on port after `delay` seconds (and appends to `mark`)."""
    note = f"open({mark!r},'a').write('{port} up' + chr(10)); " if mark else ""
    return py(f"import socket,time; time.sleep({delay}); s=socket.socket(); "
              "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
              f"s.bind(('127.0.0.1',{port})); s.listen(); {note}time.sleep(1000)")


def test_dependant_starts_only_after_dependency_is_ready(wrapctld, tmp_path):
    port = free_port()
    mark = str(tmp_path / "order.txt")
    app = py(f"open({mark!r},'a').write('app started' + chr(10)); import time; time.sleep(1000)")
    d = wrapctld(f"""
[program:db]
command={listener(port, 0.5, mark)}
ready=tcp:127.0.0.1:{port}
[program:app]
command={app}
depends_on=db
startsecs=0
""")
    info = d.info("app")
    assert info["statename"] in ("STOPPED", "RUNNING")
    if info["statename"] == "STOPPED":
        assert info["description"] == "waiting for db"
    d.wait_state("app", "RUNNING")
    assert d.info("db")["statename"] == "RUNNING"
    wait_for(lambda: "app started" in open(mark).read())
    assert open(mark).read().splitlines() == [f"{port} up", "app started"]


def test_ready_tcp_keeps_starting_until_listening(wrapctld):
    port = free_port()
    d = wrapctld(f"[program:srv]\ncommand={listener(port, 1.5)}\nready=tcp:127.0.0.1:{port}\n")
    assert d.info("srv")["statename"] == "STARTING"
    d.wait_state("srv", "RUNNING")
    socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_ready_log_line(wrapctld):
    d = wrapctld("[program:w]\ncommand=" +
                 py("import time; time.sleep(0.5); print('booting'); print('server is READY now');"
                    " time.sleep(1000)") + "\nready=log:is READY\n")
    d.wait_state("w", "RUNNING")
    assert "READY" in d.rpc().tailProcessStdoutLog("w", 0, 1000)[0]


def test_ready_exec_and_pidfile(wrapctld, tmp_path):
    flag = tmp_path / "flag"
    pidfile = tmp_path / "x.pid"
    e = py(f"import time; time.sleep(0.3); open({str(flag)!r},'w').close(); time.sleep(1000)")
    p = py(f"import os,time; time.sleep(0.3); open({str(pidfile)!r},'w').write(str(os.getpid()));"
           " time.sleep(1000)")
    d = wrapctld(f"""
[program:e]
command={e}
ready=exec:test -e {flag}
[program:p]
command={p}
pidfile={pidfile}
ready=pidfile
""")
    d.wait_state("e", "RUNNING")
    info = d.wait_state("p", "RUNNING")
    assert open(pidfile).read() == str(info["pid"])


def test_not_ready_in_time_is_a_failed_start(wrapctld):
    port = free_port()
    d = wrapctld(f"[program:never]\ncommand=sleep 1000\nready=tcp:127.0.0.1:{port}\n"
                 "ready_timeout=0.5\nstartretries=0\n")
    info = d.wait_state("never", "FATAL")
    assert "not ready after 0.5 s" in d.rpc().getProcessInfo("never")["spawnerr"] or \
        "not ready" in info["description"]


def test_healthcheck_restarts_a_program_that_stops_answering(wrapctld, tmp_path):
    port = free_port()
    # Listens, then closes its socket after 1 s but keeps running: only the check notices.
    cmd = py("import socket,time; s=socket.socket(); "
             "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
             f"s.bind(('127.0.0.1',{port})); s.listen(); time.sleep(1); s.close(); "
             "time.sleep(1000)")
    d = wrapctld(f"[program:h]\ncommand={cmd}\nready=tcp:127.0.0.1:{port}\n"
                 f"healthcheck=tcp:127.0.0.1:{port}\nhealthcheck_interval=0.3\n"
                 "healthcheck_failures=2\n")
    first = d.wait_state("h", "RUNNING")["pid"]
    info = wait_for(lambda: (i := d.info("h"))["pid"] not in (0, first) and
                    i["statename"] == "RUNNING" and i, deadline=30, what="restart")
    assert not alive(first)
    assert "healthcheck of h failed" in open(d.mainlog).read()


def test_dependency_failure_leaves_dependant_waiting(wrapctld):
    d = wrapctld("""
[program:db]
command=/nonexistent/db
startretries=0
[program:app]
command=sleep 1000
depends_on=db
""")
    d.wait_state("db", "FATAL")
    info = d.info("app")
    assert info["statename"] == "STOPPED"
    assert info["description"].startswith("waiting for db")
    assert "FATAL" in info["description"]


def test_shutdown_stops_dependants_first(wrapctld, tmp_path):
    mark = str(tmp_path / "stops.txt")

    def prog(name):
        return py(f"import signal,sys,time; "
                  f"signal.signal(signal.SIGTERM, lambda *a: (open({mark!r},'a').write("
                  f"'{name}' + chr(10)), sys.exit(0))); print('handler set'); "
                  f"[time.sleep(1) for _ in iter(int, 1)]")
    # Priorities would stop db first (highest priority stops first); depends_on overrides.
    d = wrapctld(f"""
[program:db]
command={prog('db')}
priority=900
ready=log:handler set
[program:app]
command={prog('app')}
priority=100
depends_on=db
ready=log:handler set
""")
    d.wait_state("app", "RUNNING")
    d.stop()
    assert open(mark).read().splitlines() == ["app", "db"]


def test_api_start_brings_up_dependencies(wrapctld):
    d = wrapctld("""
[program:db]
command=sleep 1000
autostart=false
startsecs=0
[program:app]
command=sleep 1000
autostart=false
depends_on=db
startsecs=0
""")
    assert d.rpc().startProcess("app") is True
    assert d.info("db")["statename"] == "RUNNING"
    assert d.info("app")["statename"] == "RUNNING"


def test_exponential_backoff_and_unlimited_retries(wrapctld):
    d = wrapctld("[program:f]\ncommand=false\nstartretries=-1\nbackoff_max=1\n")
    wait_for(lambda: open(d.mainlog).read().count("spawned: 'f'") >= 5, deadline=30,
             what="5 tries")
    assert d.info("f")["statename"] in ("BACKOFF", "STARTING")
