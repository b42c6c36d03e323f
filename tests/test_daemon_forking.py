"""Forking programs in the core (pidfile=): the core itself follows the daemon COMMAND
leaves behind, with the shim's identity rules; no shim process per daemon."""
import os
import signal
import sys

import psutil
import pytest

from harness import alive, wait_for
from test_shim_nginx import NGINX, free_port, get, write_conf

DAEMONS = os.path.join(os.path.dirname(__file__), "daemons")


def daemon_cmd(name, *args):
    return f"{sys.executable} {os.path.join(DAEMONS, name)} " + " ".join(args)


def read_pid(path):
    """The pid in path, or None while it is missing (mover.py renames it away to .oldbin
    before the new master writes it anew)."""
    try:
        return int(open(path).read().split()[0])
    except FileNotFoundError:
        return None


def test_double_forking_daemon_is_followed_and_restarted(wrapctld, tmp_path):
    pidfile = tmp_path / "d.pid"
    d = wrapctld(f"[program:df]\ncommand={daemon_cmd('doublefork.py', '--pidfile', str(pidfile), '--delay', '0.3')}\n"
                 f"pidfile={pidfile}\nautorestart=true\nstopwaitsecs=5\n")
    info = d.wait_state("df", "RUNNING")
    assert info["pid"] == read_pid(pidfile)
    # the core is a subreaper: the double-forked daemon is its child
    assert psutil.Process(info["pid"]).ppid() == d.proc.pid
    os.kill(info["pid"], signal.SIGKILL)
    new = wait_for(lambda: (i := d.info("df"))["statename"] == "RUNNING" and
                   i["pid"] not in (0, info["pid"]) and i, what="restart")
    wait_for(lambda: read_pid(pidfile) == new["pid"], what="new pidfile")
    d.rpc().stopProcess("df")
    assert not alive(new["pid"])


def test_real_exit_status_of_the_daemon(wrapctld, tmp_path):
    pidfile = tmp_path / "d.pid"
    d = wrapctld(f"[program:df]\ncommand={daemon_cmd('doublefork.py', '--pidfile', str(pidfile), '--exit-after', '1.5', '--status', '3')}\n"
                 f"pidfile={pidfile}\nautorestart=false\nstartsecs=0\n")
    d.wait_state("df", "RUNNING")
    info = d.wait_state("df", "EXITED")
    assert info["exitstatus"] == 3
    assert info["description"] != ""


def test_pid_move_is_followed(wrapctld, tmp_path):
    pidfile = tmp_path / "m.pid"
    d = wrapctld(f"[program:mv]\ncommand={daemon_cmd('mover.py', '--pidfile', str(pidfile))}\n"
                 f"pidfile={pidfile}\nstopwaitsecs=5\n")
    old = d.wait_state("mv", "RUNNING")["pid"]
    os.kill(old, signal.SIGUSR2)
    wait_for(lambda: os.path.exists(f"{pidfile}.oldbin") and read_pid(pidfile) not in (None, old),
             what="new master")
    new = read_pid(pidfile)
    os.kill(old, signal.SIGQUIT)            # the old master leaves, as after nginx's upgrade
    wait_for(lambda: not alive(old), what="old master gone")
    info = wait_for(lambda: (i := d.info("mv"))["pid"] == new and i, what="followed")
    assert info["statename"] == "RUNNING"
    d.rpc().stopProcess("mv")
    assert not alive(new)


def test_pidfile_naming_an_outside_process_is_refused(wrapctld, tmp_path):
    outsider = psutil.Process(os.getpid())     # the test itself: outside the core's tree
    pidfile = tmp_path / "w.pid"
    d = wrapctld(f"[program:w]\ncommand={daemon_cmd('wrong_pid.py', '--pidfile', str(pidfile), '--pid', str(outsider.pid))}\n"
                 f"pidfile={pidfile}\nstartretries=0\n")
    info = d.wait_state("w", "FATAL")
    assert "outside" in info["description"]
    assert outsider.is_running()
    assert f"pidfile {pidfile}" in open(d.mainlog).read()


@pytest.mark.skipif(not os.access(NGINX, os.X_OK), reason="nginx not installed")
def test_real_nginx_forking_in_the_core(wrapctld, tmp_path):
    port = free_port()
    write_conf(tmp_path, port, "core")
    conf = tmp_path / "nginx.conf"
    d = wrapctld(f"[program:nginx]\ncommand={NGINX} -c {conf} -e {tmp_path}/error.log "
                 f"-p {tmp_path}\npidfile={tmp_path}/nginx.pid\nstopsignal=QUIT\n"
                 f"ready=tcp:127.0.0.1:{port}\nautorestart=true\nstopwaitsecs=10\n")
    master = d.wait_state("nginx", "RUNNING")["pid"]
    assert get(port) == "core"
    workers = [c.pid for c in psutil.Process(master).children()]
    assert workers
    os.kill(master, signal.SIGKILL)
    new = wait_for(lambda: (i := d.info("nginx"))["statename"] == "RUNNING" and
                   i["pid"] not in (0, master) and i, deadline=30, what="nginx restarted")
    wait_for(lambda: get(port) == "core", what="serving again")
    seen = {master, new["pid"], *workers, *[c.pid for c in psutil.Process(new["pid"]).children()]}
    d.rpc().stopProcess("nginx")
    wait_for(lambda: not any(alive(p) for p in seen), deadline=15, what="no nginx left")
    assert get(port) is None
