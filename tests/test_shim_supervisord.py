"""The shim under real supervisord 4.3, and supervisord's own pidproxy as the comparison.

Same program config for both: a double-forking daemon, autorestart=unexpected, exitcodes=0.
With the shim, kill -9 of the daemon is an unexpected exit (137) and supervisord restarts it;
`supervisorctl stop` ends the whole tree. With pidproxy, the proxy exits 0 on its own once the
launcher has gone, so supervisord reports an expected exit while the daemon runs on orphaned,
and `stop` then cannot reach it.
"""
import os
import re
import signal
import subprocess
import sys

import psutil
import pytest

from daemons.shimkit import HERE, alive, kill_all, read_pid, wait_for

pytest.importorskip("supervisor")


def conf(tmp_path, command):
    path = tmp_path / "supervisord.conf"
    path.write_text(f"""
[unix_http_server]
file=%(here)s/s.sock
[supervisord]
logfile=%(here)s/supervisord.log
pidfile=%(here)s/supervisord.pid
childlogdir=%(here)s
nodaemon=true
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl=unix://%(here)s/s.sock
[program:d]
command={command}
directory=%(here)s
startsecs=1
startretries=3
autorestart=unexpected
exitcodes=0
stopwaitsecs=15
redirect_stderr=true
stdout_logfile=%(here)s/d.log
""")
    return path


def ctl(cfg, *args):
    r = subprocess.run([sys.executable, "-m", "supervisor.supervisorctl", "-c", str(cfg),
                        *args], capture_output=True, text=True, timeout=30)
    return r.stdout


def state(cfg):
    """(STATE, pid or None) of program d."""
    m = re.search(r"^d\s+(\w+)(?:\s+pid (\d+))?", ctl(cfg, "status", "d"), re.M)
    if not m:
        return None, None
    return m.group(1), int(m.group(2)) if m.group(2) else None


def daemons(pidfile):
    """Live test daemons started with this pidfile (unique to the test's tmp_path)."""
    out = set()
    for p in psutil.process_iter(["pid", "cmdline", "status"]):
        cmd = p.info["cmdline"] or []
        if (p.info["status"] != psutil.STATUS_ZOMBIE and str(pidfile) in cmd
                and len(cmd) > 1 and cmd[1].endswith("doublefork.py")):
            out.add(p.pid)
    return out


@pytest.fixture
def supervisord(tmp_path):
    procs, seen = [], set()

    def start(command):
        cfg = conf(tmp_path, command)
        p = subprocess.Popen([sys.executable, "-m", "supervisor.supervisord", "-n", "-c",
                              str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
        return cfg, seen
    yield start
    for p in procs:
        seen |= {c.pid for c in psutil.Process(p.pid).children(recursive=True)} \
            if p.poll() is None else set()
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    seen |= daemons(tmp_path / "d.pid")
    kill_all(seen)


def daemon_cmd(pidfile):
    return f"{sys.executable} {HERE}/doublefork.py --pidfile {pidfile} --delay 0.2"


@pytest.mark.timeout(120)
def test_shim_under_supervisord(tmp_path, supervisord):
    pf = tmp_path / "d.pid"
    cfg, seen = supervisord(f"{sys.executable} -m wrapctl.shims.main --pidfile {pf} "
                            f"--stop-timeout 5 -- {daemon_cmd(pf)}")
    wait_for(lambda: state(cfg)[0] == "RUNNING", 30, "RUNNING")
    shim1 = state(cfg)[1]
    d1 = wait_for(lambda: read_pid(pf) if alive(read_pid(pf) or 0) else None, 15, "daemon")
    seen |= {shim1, d1}

    os.kill(d1, signal.SIGKILL)
    wait_for(lambda: state(cfg)[0] == "RUNNING" and state(cfg)[1] != shim1, 30, "restart")
    shim2 = state(cfg)[1]
    d2 = wait_for(lambda: (lambda p: p if p not in (None, d1) and alive(p) else None)(
        read_pid(pf)), 15, "new daemon")
    seen |= {shim2, d2}
    assert not alive(shim1) and not alive(d1)
    # exactly one daemon runs (once the launcher's short-lived forks are gone)
    wait_for(lambda: daemons(pf) == {d2}, 15, f"only {d2} running, not {daemons(pf)}")
    assert d2 in {c.pid for c in psutil.Process(shim2).children(recursive=True)}
    log = (tmp_path / "supervisord.log").read_text()
    assert "exited: d (exit status 137; not expected)" in log

    assert "stopped" in ctl(cfg, "stop", "d")
    assert state(cfg)[0] == "STOPPED"
    assert not alive(shim2) and not alive(d2) and not daemons(pf)


@pytest.mark.timeout(120)
def test_pidproxy_comparison_what_fails_there(tmp_path, supervisord):
    pf = tmp_path / "d.pid"
    cfg, seen = supervisord(f"{sys.executable} -m supervisor.pidproxy {pf} {daemon_cmd(pf)}")
    wait_for(lambda: state(cfg)[0] == "RUNNING", 30, "RUNNING")
    proxy = state(cfg)[1]
    d1 = wait_for(lambda: read_pid(pf) if alive(read_pid(pf) or 0) else None, 15, "daemon")
    seen |= {proxy, d1}
    # The daemon is not in the proxy's tree: it was orphaned to init (no subreaper).
    assert d1 not in {c.pid for c in psutil.Process(proxy).children(recursive=True)}

    os.kill(d1, signal.SIGKILL)
    # pidproxy only notices its launcher (gone long ago) on its next 5 s tick, then exits 0:
    # supervisord takes the daemon's death for an expected, successful exit.
    wait_for(lambda: state(cfg)[0] == "EXITED", 30, "EXITED")
    log = (tmp_path / "supervisord.log").read_text()
    assert "exited: d (exit status 0; expected)" in log
    assert not daemons(pf)                        # nothing restarted it

    # Second round: started again, the proxy exits while the daemon is alive and well...
    ctl(cfg, "start", "d")
    d2 = wait_for(lambda: (lambda p: p if p not in (None, d1) and alive(p) else None)(
        read_pid(pf)), 15, "second daemon")
    seen.add(d2)
    wait_for(lambda: state(cfg)[0] == "EXITED", 30, "EXITED again")
    assert alive(d2)
    # ...so `stop` has nothing to stop and the daemon survives it.
    ctl(cfg, "stop", "d")
    assert state(cfg)[0] == "EXITED" and alive(d2)
    assert daemons(pf) == {d2}
