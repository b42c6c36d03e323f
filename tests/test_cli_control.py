"""start, stop, restart, signal, pid, clear, version: wrapctl against supervisorctl.

A command that changes state is run by supervisorctl, the state is put back, then the same
command is run by wrapctl: both must print the same text and exit with the same status.
"""
import pytest

from test_cli_server import PY, chatty, normalize, server, wait_for  # noqa: F401

D_CMD = chatty("out\n", "err\n")
PROGRAMS = f"""
[program:a]
command=sleep 1000
startsecs=0

[program:b]
command=sleep 1000
autostart=false
startsecs=0

[program:fails]
command=sh -c "exit 1"
autostart=false
startsecs=1
startretries=0

[program:missing]
command=/nonexistent/wrapctl-test-binary
autostart=false

[program:sig]
command={PY} -u -c "import signal,sys,time; signal.signal(signal.SIGHUP, lambda *a: print('hup', flush=True)); print('ready', flush=True); time.sleep(1000)"
startsecs=0

[group:g]
programs=c,d

[program:c]
command=sleep 1000
startsecs=0

[program:d]
command={D_CMD}
startsecs=0
"""


@pytest.fixture
def s(server):
    s = server(PROGRAMS)
    for name in ("a", "sig", "g:c", "g:d"):
        s.wait_state(name, "RUNNING")
    return s


def both(s, args, reset, any_order=False):
    """Run args with supervisorctl, reset(), then with wrapctl; compare. any_order: the
    daemon reports a group's stop results in completion order, so compare them sorted."""
    a = s.ctl(*args)
    reset()
    b = s.wrapctl(*args)

    def text(r):
        t = normalize(r.stdout)
        return sorted(t.splitlines()) if any_order else t
    assert (text(b), b.returncode) == (text(a), a.returncode), \
        f"{args}: supervisorctl={a!r} wrapctl={b!r}"
    assert "Traceback" not in b.stderr
    return b


def test_start_stop_restart(s):
    rpc = s.rpc()
    # idempotent errors and no-ops first
    for args in [("start", "a"), ("start", "nope"), ("start", "zz:*"), ("start",),
                 ("stop", "b"), ("stop", "nope"), ("stop", "zz:*"), ("stop",),
                 ("restart",), ("start", "missing"), ("start", "a", "nope", "g:*")]:
        s.same(*args)
    assert s.wrapctl("start", "zz:*").returncode == 2      # INVALID_ARGS, as supervisorctl
    assert s.wrapctl("start", "a").returncode == 0         # already started is success
    assert s.wrapctl("stop", "b").returncode == 0          # not running is success

    b = both(s, ("stop", "a"), lambda: rpc.startProcess("a"))
    assert b.stdout == "a: stopped\n" and b.returncode == 0
    rpc.startProcess("a")
    b = both(s, ("start", "b"), lambda: rpc.stopProcess("b"))
    assert b.stdout == "b: started\n"
    b = both(s, ("stop", "g:*"), lambda: rpc.startProcessGroup("g"), any_order=True)
    assert sorted(b.stdout.splitlines()) == ["g:c: stopped", "g:d: stopped"]
    b = both(s, ("start", "g:c", "g:d"), lambda: rpc.stopProcessGroup("g"))
    assert b.stdout == "g:c: started\ng:d: started\n"
    b = both(s, ("restart", "a", "g:*"), lambda: None, any_order=True)
    assert b.stdout.startswith("a: stopped\n") and b.stdout.endswith(
        "a: started\ng:c: started\ng:d: started\n")
    b = both(s, ("start", "fails"), lambda: None)
    assert b.returncode == 7 and b.stdout == "fails: ERROR (spawn error)\n"
    both(s, ("stop", "all"), lambda: rpc.startAllProcesses(), any_order=True)
    # start all: results come in completion order, and like supervisorctl the last failure
    # sets the status (spawn error 7, no such file 1)
    a = s.ctl("start", "all")
    rpc.stopAllProcesses()
    b = s.wrapctl("start", "all")
    assert sorted(a.stdout.splitlines()) == sorted(b.stdout.splitlines())
    last = [line for line in b.stdout.splitlines() if "ERROR" in line][-1]
    assert b.returncode == (7 if "spawn error" in last else 1)
    s.wait_state("a", "RUNNING")


def test_signal(s):
    for args in [("signal", "HUP"), ("signal",), ("signal", "FOO", "a"), ("signal", "HUP", "b"),
                 ("signal", "HUP", "nope"), ("signal", "HUP", "zz:*"),
                 ("signal", "HUP", "sig"), ("signal", "1", "g:*")]:
        s.same(*args)
    assert s.wrapctl("signal", "HUP", "b").returncode == 7
    r = s.wrapctl("signal", "SIGHUP", "sig")
    assert (r.stdout, r.returncode) == ("sig: signalled\n", 0)
    # the handler's output reaches the log a moment later
    wait_for(lambda: s.rpc().readProcessStdoutLog("sig", 0, 0).count("hup") == 3)
    r = s.same("signal", "CONT", "all")         # only running processes are signalled
    assert r.returncode == 0 and "g:c: signalled" in r.stdout and "b:" not in r.stdout


def test_pid(s):
    for args in [("pid",), ("pid", "a"), ("pid", "b"), ("pid", "nope"), ("pid", "all"),
                 ("pid", "a", "g:c")]:
        s.same(*args)
    r = s.wrapctl("pid")
    assert int(r.stdout) == s.proc.pid and r.returncode == 0
    assert s.wrapctl("pid", "b").returncode == 7
    assert s.wrapctl("pid", "nope").stdout == "No such process nope\n"


def test_clear_and_version(s):
    for args in [("clear",), ("clear", "nope"), ("clear", "a"), ("clear", "g:d", "nope"),
                 ("clear", "all"), ("version",), ("version", "x")]:
        s.same(*args)
    r = s.wrapctl("version")
    assert (r.stdout, r.returncode) == ("4.3.0\n", 0) or s.kind != "supervisord"
