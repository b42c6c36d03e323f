"""forking=auto (the default): a command that forks into the background and exits is
adopted from an unchanged config, the daemon found by a pidfile or as the process tree's
top; two unrelated daemons are refused; forking=off is supervisord's behaviour; stale
pidfiles are removed before a start, and never waited for."""
import os
import signal
import socket
import subprocess
import sys

import psutil
import pytest

from harness import alive, wait_for
from test_shim_nginx import NGINX, free_port, get, write_conf

pytestmark = pytest.mark.timeout(120)
DAEMONS = os.path.join(os.path.dirname(__file__), "daemons")
FORKLISTEN = os.path.join(DAEMONS, "forklisten.py")
REDIS = "/usr/bin/redis-server"


def two_free_ports():
    while True:
        port = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def answer(port):
    """The pid the daemon on port answers with, or None."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as c:
            return int(c.makefile().readline())
    except (OSError, ValueError):
        return None


def tree_of(pid):
    try:
        return {pid} | {c.pid for c in psutil.Process(pid).children(recursive=True)}
    except psutil.Error:
        return set()


def running_forked(d, name, how=None):
    info = d.wait_state(name, "RUNNING")
    assert "(forked; " in info["description"], info["description"]
    assert info["description"].startswith(f"pid {info['pid']}, uptime ")
    if how:
        assert how in info["description"], info["description"]
    return info


def kill9_comes_back(d, name, pid, check):
    os.kill(pid, signal.SIGKILL)
    new = wait_for(lambda: (i := d.info(name))["statename"] == "RUNNING" and
                   i["pid"] not in (0, pid) and i, deadline=30, what=f"{name} back")
    wait_for(lambda: check(new["pid"]), what="answering again")
    return new


@pytest.mark.parametrize("cgroups", ["auto", "false"])
def test_double_forking_daemon_without_pidfile(wrapctld, cgroups):
    port = free_port()
    d = wrapctld(f"[program:df]\ncommand={sys.executable} {FORKLISTEN} {port}\n"
                 "autorestart=true\nstopwaitsecs=5\n",
                 daemon_options=f"cgroups={cgroups}\n")
    info = running_forked(d, "df", "the process tree's top")
    assert answer(port) == info["pid"]                  # the daemon's own pid
    assert psutil.Process(info["pid"]).ppid() == d.proc.pid     # re-parented to the core
    ctl = d.ctl("status", "df").stdout
    assert f"pid {info['pid']}, uptime" in ctl and "forked;" in ctl
    new = kill9_comes_back(d, "df", info["pid"], lambda pid: answer(port) == pid)
    assert "Exited too quickly" not in d.mainlog_text()
    d.rpc().stopProcess("df")
    wait_for(lambda: not alive(new["pid"]), what="the daemon stopped")
    assert answer(port) is None
    d.rpc().startProcess("df")
    last = d.wait_state("df", "RUNNING")["pid"]
    d.stop()                                            # shutdown
    assert not alive(last)


def test_two_unrelated_daemons_are_refused_and_killed(wrapctld):
    port = two_free_ports()
    d = wrapctld(f"[program:two]\ncommand={sys.executable} {FORKLISTEN} {port} --pair\n"
                 "startretries=0\n")
    info = d.wait_state("two", "FATAL")
    lines = d.log_matches("cannot tell the daemon among 2 unrelated processes")
    assert len(lines) == 1, d.mainlog_text()
    assert "python" in lines[0][2]
    assert "cannot tell the daemon" in info["description"]
    wait_for(lambda: answer(port) is None and answer(port + 1) is None,
             what="both daemons killed")


def test_forking_off_is_supervisords_behaviour(wrapctld):
    port = free_port()
    d = wrapctld(f"[program:off]\ncommand={sys.executable} {FORKLISTEN} {port}\n"
                 "forking=off\nstartretries=1\n")
    info = d.wait_state("off", "FATAL")
    assert info["description"] == "Exited too quickly (process log may have details)"
    assert d.log_matches("exited: off .*not expected")
    wait_for(lambda: answer(port) is None, what="nothing left behind")
    assert "forked" not in d.mainlog_text()


def test_launcher_that_stays_a_while_is_still_a_fork(wrapctld):
    # The launcher exits 0.3 s after forking, within startsecs: a fork, RUNNING after
    # startsecs counted from the launch.
    port = free_port()
    d = wrapctld(f"[program:slow]\ncommand={sys.executable} {FORKLISTEN} {port} --stay 0.3\n"
                 "startsecs=2\n")
    info = running_forked(d, "slow")
    assert answer(port) == info["pid"]
    assert info["now"] - info["start"] >= 1


@pytest.mark.skipif(not os.access(NGINX, os.X_OK), reason="nginx not installed")
def test_plain_nginx_runs_on_its_master(wrapctld, tmp_path):
    port = free_port()
    write_conf(tmp_path, port, "plain")
    d = wrapctld(f"[program:nginx]\ncommand={NGINX} -c {tmp_path}/nginx.conf "
                 f"-e {tmp_path}/error.log\nautorestart=true\nstopsignal=QUIT\n")
    info = running_forked(d, "nginx")
    master = info["pid"]
    wait_for(lambda: (tmp_path / "nginx.pid").exists(), what="nginx's pidfile")
    assert int((tmp_path / "nginx.pid").read_text()) == master
    assert " ".join(psutil.Process(master).cmdline()).startswith("nginx: master")
    assert get(port) == "plain"
    seen = tree_of(master)
    new = kill9_comes_back(d, "nginx", master, lambda pid: get(port) == "plain")
    seen |= tree_of(new["pid"])
    d.rpc().stopProcess("nginx")
    wait_for(lambda: not any(alive(p) for p in seen), deadline=15, what="no nginx left")
    assert get(port) is None


@pytest.mark.skipif(not os.access(REDIS, os.X_OK), reason="redis-server not installed")
def test_redis_that_daemonizes(wrapctld, tmp_path):
    port = free_port()
    conf = tmp_path / "redis.conf"
    conf.write_text(f"daemonize yes\nport {port}\nbind 127.0.0.1\n"
                    f"pidfile {tmp_path}/redis.pid\ndir {tmp_path}\n"
                    f"logfile {tmp_path}/redis.log\nsave \"\"\n")
    d = wrapctld(f"[program:redis]\ncommand={REDIS} {conf}\nautorestart=true\n")
    info = running_forked(d, "redis")

    def pong(pid):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as c:
                c.sendall(b"PING\r\n")
                return c.recv(64).startswith(b"+PONG") and \
                    int((tmp_path / "redis.pid").read_text()) == pid
        except (OSError, ValueError):
            return False
    wait_for(lambda: pong(info["pid"]), what="redis answering")
    new = kill9_comes_back(d, "redis", info["pid"], pong)
    d.stop()
    assert not alive(new["pid"])


def test_stale_pidfile_in_a_private_dir_is_removed(wrapctld, open_tmp):
    pidfile = os.path.join(open_tmp, "df.pid")         # 0755: only root writes there
    dead = subprocess.Popen(["true"])
    dead.wait()
    with open(pidfile, "w") as f:
        f.write(f"{dead.pid}\n")
    port = free_port()
    # The pidfile is named on the command line, never written.
    d = wrapctld(f"[program:df]\ncommand={sys.executable} {FORKLISTEN} {port} "
                 f"--pidfile {pidfile}\nstartretries=0\n")
    info = running_forked(d, "df", "the process tree's top")
    assert answer(port) == info["pid"]
    assert not os.path.exists(pidfile)
    assert d.log_matches(f"removed stale pidfile {pidfile} \\(pid {dead.pid} is dead\\)")


def test_stale_pidfile_in_a_shared_dir_is_left_and_does_not_block(wrapctld, shared_tmp,
                                                                   tmp_path):
    pidfile = os.path.join(shared_tmp, "df.pid")       # 1777, the file nobody's
    dead = subprocess.Popen(["true"])
    dead.wait()
    with open(pidfile, "w") as f:
        f.write(f"{dead.pid}\n")
    os.chown(pidfile, 65534, 65534)
    port = free_port()
    d = wrapctld(f"[program:df]\ncommand={sys.executable} {FORKLISTEN} {port}\n"
                 f"pidfile={pidfile}\nstartretries=0\nready_timeout=60\n")
    info = running_forked(d, "df", "the process tree's top")
    assert answer(port) == info["pid"]
    assert open(pidfile).read() == f"{dead.pid}\n"    # left in place
    assert d.log_matches(f"stale pidfile {pidfile} .* left in place")
    assert d.log_matches(f"pidfile {pidfile} is stale")


def test_stop_runs_the_stop_command_then_waits_for_the_daemon(wrapctld, tmp_path):
    port = free_port()
    ran = tmp_path / "stop-ran"
    stopper = tmp_path / "stopper.py"
    stopper.write_text(
        "import os, signal, socket\n"
        f"c = socket.create_connection(('127.0.0.1', {port}))\n"
        "pid = int(c.makefile().readline())\n"
        f"open({str(ran)!r}, 'w').write(str(pid))\n"
        "os.kill(pid, signal.SIGTERM)\n")
    d = wrapctld(f"[program:df]\ncommand={sys.executable} {FORKLISTEN} {port}\n"
                 f"stopcommand={sys.executable} {stopper}\nstopwaitsecs=60\n")
    info = running_forked(d, "df")
    d.rpc().stopProcess("df")           # returns once STOPPED: long before stopwaitsecs
    assert ran.read_text() == str(info["pid"])
    assert not alive(info["pid"])
    assert d.info("df")["statename"] == "STOPPED"
    assert "SIGKILL" not in d.mainlog_text()


def test_a_bad_forking_value_is_one_config_line(tmp_path):
    conf = tmp_path / "s.conf"
    conf.write_text("[supervisord]\n[program:x]\ncommand=/bin/true\nforking=maybe\n")
    r = subprocess.run([sys.executable, "-m", "wrapctl", "daemon", "-n", "-c", str(conf)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "forking" in lines[0] and "'maybe' is not auto or off" in lines[0]
    assert f"{conf}:4" in lines[0]
