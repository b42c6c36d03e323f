"""`wrapctl adopt --format wrapctl` for a daemon whose init script names no pidfile (issue
10, item 4; tinyproxy, nsd, icecast2, transmission-daemon were seen live): the section is
the forking command alone, for the core to follow from the tree the command leaves."""
import os
import re
import signal
import socket
import subprocess
import sys

import psutil
import pytest

from harness import alive, wait_for

DAEMON = """\
#!{py}
import os, signal, socket, sys
port = int(sys.argv[sys.argv.index("--port") + 1])
if os.fork():
    os._exit(0)
os.setsid()
if os.fork():
    os._exit(0)
fd = os.open(os.devnull, os.O_RDWR)
for n in (0, 1, 2):
    os.dup2(fd, n)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen()
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    c, _ = s.accept()
    c.sendall(b"streamd\\n")
    c.close()
"""

SCRIPT = """\
#!/bin/sh
### BEGIN INIT INFO
# Provides:          streamd
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: forks, writes no pidfile
### END INIT INFO
PATH=/sbin:/usr/sbin:/bin:/usr/bin
NAME=streamd
DAEMON={d}/bin/streamd
case "$1" in
  start)
    start-stop-daemon --start --quiet --exec $DAEMON -- --port {port}
    ;;
  stop)
    start-stop-daemon --stop --quiet --retry 10 --name $NAME
    ;;
esac
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as c:
            return c.recv(64) == b"streamd\n"
    except OSError:
        return False


def fixture(tmp_path, port):
    (tmp_path / "bin").mkdir()
    (tmp_path / "init.d").mkdir()
    daemon = tmp_path / "bin" / "streamd"
    daemon.write_text(DAEMON.format(py=os.path.realpath(sys.executable)))
    daemon.chmod(0o755)
    script = tmp_path / "init.d" / "streamd"
    script.write_text(SCRIPT.format(d=tmp_path, port=port))
    script.chmod(0o755)
    return str(script)


def adopt(*args):
    p = subprocess.run([sys.executable, "-m", "wrapctl", "adopt", *args],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_wrapctl_format_is_the_forking_command_without_pidfile(tmp_path):
    from wrapctl import config as configmod
    script = fixture(tmp_path, 1)
    out = adopt(script, "--format", "wrapctl")
    assert f"\ncommand={tmp_path}/bin/streamd --port 1\n" in out
    # nothing that keeps the core from finding the daemon by itself
    assert not re.search(r"^(pidfile|forking|exe|ready)=", out, re.M)
    assert "wrapctl-shim" not in out
    assert "; review: no pidfile found: wrapctl daemon takes the daemon's pid from the " \
           "process tree the command leaves" in out
    assert "the shim identifies" not in out
    conf = tmp_path / "w.conf"
    conf.write_text(f"[supervisord]\nlogfile={tmp_path}/s.log\npidfile={tmp_path}/s.pid\n\n"
                    + out)
    (p,) = configmod.load(str(conf)).processes()
    assert p.extra_get("pidfile") is None and p.command == f"{tmp_path}/bin/streamd --port 1"


def test_supervisord_format_keeps_the_shim_and_its_note(tmp_path):
    out = adopt(fixture(tmp_path, 1))
    assert "command=wrapctl-shim --stop-timeout 10 --exe streamd -- " in out
    assert "; review: no pidfile found: the shim identifies the daemon as 'streamd'" in out
    assert "process tree" not in out


def test_migrate_report_matches_the_format(tmp_path):
    fixture(tmp_path, 1)
    for fmt, said in (("wrapctl", "wrapctl daemon follows streamd from the process tree"),
                      ("supervisord", "shim follows streamd")):
        out = tmp_path / f"out-{fmt}"
        p = subprocess.run([sys.executable, "-m", "wrapctl", "migrate", str(tmp_path / "init.d"),
                            "--out", str(out), "--format", fmt], capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert said in p.stdout
        assert ("process tree the command leaves" in p.stdout) == (fmt == "wrapctl")


def _forking_core():
    from wrapctl.config import WRAPCTL_PROGRAM_OPTIONS
    return "forking" in WRAPCTL_PROGRAM_OPTIONS


@pytest.mark.timeout(120)
@pytest.mark.skipif(not _forking_core(), reason="needs the core's forking detection "
                    "(issue 10, item 1: forking=auto)")
def test_adopted_section_runs_under_wrapctl_daemon(wrapctld, tmp_path):
    port = free_port()
    out = adopt(fixture(tmp_path, port), "--format", "wrapctl")
    d = wrapctld(out.replace("autorestart=true", "autorestart=true\nstopwaitsecs=5"))
    seen = set()
    try:
        info = d.wait_state("streamd", "RUNNING")
        pid = info["pid"]
        seen.add(pid)
        wait_for(lambda: answers(port), what="streamd answering")
        # the daemon itself (what listens), not the launcher that exited
        assert any(c.laddr.port == port and c.status == psutil.CONN_LISTEN
                   for c in psutil.Process(pid).net_connections(kind="tcp"))
        os.kill(pid, signal.SIGKILL)
        new = wait_for(lambda: (i := d.info("streamd"))["statename"] == "RUNNING"
                       and i["pid"] not in (0, pid) and i, what="restart")
        seen.add(new["pid"])
        wait_for(lambda: answers(port), what="answering again")
        d.rpc().stopProcess("streamd")
        wait_for(lambda: not any(alive(p) for p in seen), deadline=15, what="nothing left")
        assert not answers(port)
    finally:
        for p in seen:
            if alive(p):
                os.kill(p, signal.SIGKILL)
