"""command=<dir>/init.d/X start, unchanged, under `wrapctl daemon` (issue 10, item 2): real
nginx by a fixture init script (its recipe runs it in the foreground) and a made-up daemon no
recipe knows (the script's start, followed through the script's pidfile). Everything lives in
tmp_path: scripts, configs, pidfiles, a high loopback port."""
import os
import signal
import socket
import sys

import psutil
import pytest

from harness import alive, wait_for
from test_config_initcmd import NGINX_SCRIPT, initd, toyd_script
from test_shim_nginx import NGINX, free_port, get, write_conf

TOYD = """\
#!{py}
import signal, socket, sys
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
while True:
    c, _ = s.accept()
    c.sendall(b"toyd\\n")
    c.close()
"""


def toyd_answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as c:
            return c.recv(16) == b"toyd\n"
    except OSError:
        return False


def tree(pid):
    try:
        p = psutil.Process(pid)
        return {pid} | {c.pid for c in p.children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def kill_left(pids):
    for p in pids:
        if alive(p):
            os.kill(p, signal.SIGKILL)


@pytest.mark.timeout(120)
@pytest.mark.skipif(not os.access(NGINX, os.X_OK), reason="nginx not installed")
def test_nginx_init_script_runs_nginx_in_the_foreground(wrapctld, tmp_path):
    port = free_port()
    write_conf(tmp_path, port, "initcmd")
    script = initd(tmp_path, "nginx", NGINX_SCRIPT.format(d=tmp_path))
    d = wrapctld(f"[program:nginx]\ncommand={script} start\nautorestart=true\n")
    seen = set()
    try:
        master = d.wait_state("nginx", "RUNNING")["pid"]
        seen |= tree(master)
        wait_for(lambda: get(port) == "initcmd", what="nginx answering")
        seen |= tree(master)
        # the recipe's foreground command: nginx is the core's own child, not forked off
        p = psutil.Process(master)
        assert p.ppid() == d.proc.pid and "daemon off;" in " ".join(p.cmdline())
        assert "by recipe nginx" in d.output()
        os.kill(master, signal.SIGKILL)
        new = wait_for(lambda: (i := d.info("nginx"))["statename"] == "RUNNING"
                       and i["pid"] not in (0, master) and i, what="nginx restarted")
        wait_for(lambda: get(port) == "initcmd", what="serving again")
        seen |= tree(new["pid"])
        d.rpc().stopProcess("nginx")
        wait_for(lambda: not any(alive(x) for x in seen), deadline=15, what="no nginx left")
        assert get(port) is None
    finally:
        kill_left(seen)


def _toyd(tmp_path, port):
    (tmp_path / "bin").mkdir()
    daemon = tmp_path / "bin" / "toyd"
    daemon.write_text(TOYD.format(py=os.path.realpath(sys.executable)))
    daemon.chmod(0o755)
    return initd(tmp_path, "toyd", toyd_script(tmp_path, port=port))


@pytest.mark.timeout(120)
def test_script_without_recipe_is_followed_by_its_pidfile(wrapctld, tmp_path):
    port = free_port()
    script = _toyd(tmp_path, port)
    pidfile = tmp_path / "toyd.pid"
    d = wrapctld(f"[program:toyd]\ncommand={script} start\nautorestart=true\n")
    seen = set()
    try:
        pid = d.wait_state("toyd", "RUNNING")["pid"]
        seen.add(pid)
        assert int(pidfile.read_text()) == pid
        assert psutil.Process(pid).cmdline()[-1] == str(port)
        wait_for(lambda: toyd_answers(port), what="toyd answering")
        out = d.output()
        assert "no recipe for toyd" in out and f"`{script} stop`" in out
        os.kill(pid, signal.SIGKILL)
        new = wait_for(lambda: (i := d.info("toyd"))["statename"] == "RUNNING"
                       and i["pid"] not in (0, pid) and i, what="toyd restarted")
        seen.add(new["pid"])
        wait_for(lambda: toyd_answers(port), what="answering again")
        d.rpc().stopProcess("toyd")
        wait_for(lambda: not any(alive(x) for x in seen), deadline=15, what="no toyd left")
        assert not toyd_answers(port)
        # stopped by the script's stop action (stopcommand=), which removes the pidfile
        # once the daemon is gone; a stop signal alone would leave it
        wait_for(lambda: not pidfile.exists(), deadline=10, what="the stop action's cleanup")
    finally:
        kill_left(seen)
