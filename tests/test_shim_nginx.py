"""The shim with the real nginx from apt: own config, pidfile and logs in tmp_path.

Other nginx processes may run on this machine, so every check is by the pids this test saw,
never by name.
"""
import os
import signal
import socket
import urllib.request

import pytest

from daemons.shimkit import (alive, finish, kill_all, read_pid, start_shim, stderr_of, tree,
                             wait_for, wait_pidfile)

NGINX = "/usr/sbin/nginx"
pytestmark = pytest.mark.skipif(not os.access(NGINX, os.X_OK), reason="nginx not installed")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_conf(tmp_path, port, body):
    temps = "\n".join(f"    {k}_temp_path {tmp_path}/{k};"
                      for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    user = "user root;" if os.geteuid() == 0 else ""
    (tmp_path / "nginx.conf").write_text(f"""
{user}
worker_processes 2;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {tmp_path}/access.log;
{temps}
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "{body}\\n"; }}
    }}
}}
""")


def get(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
            return r.read().decode().strip()
    except OSError:
        return None


@pytest.fixture
def nginx_shim(tmp_path):
    port = free_port()
    write_conf(tmp_path, port, "v1")
    base = [NGINX, "-c", str(tmp_path / "nginx.conf"), "-e", str(tmp_path / "error.log"),
            "-p", str(tmp_path)]
    seen = set()
    shim = start_shim(["--pidfile", tmp_path / "nginx.pid", "--signal", "TERM:QUIT",
                       "--stop-timeout", "10", "--pre-start", " ".join(base + ["-t", "-q"])],
                      base, tmp_path)
    master = wait_pidfile(tmp_path / "nginx.pid")
    wait_for(lambda: f"daemon is pid {master}" in stderr_of(tmp_path), what="adoption")
    wait_for(lambda: get(port) == "v1", what="nginx answering")
    seen |= tree(shim.pid)
    yield shim, port, master, seen
    seen |= tree(shim.pid)
    if shim.poll() is None:
        kill_all(seen | {shim.pid})
        shim.wait()
    kill_all(seen)


@pytest.mark.timeout(90)
def test_nginx_reload_upgrade_and_kill9(tmp_path, nginx_shim):
    shim, port, master, seen = nginx_shim
    pf = tmp_path / "nginx.pid"

    write_conf(tmp_path, port, "v2")
    shim.send_signal(signal.SIGHUP)                       # forwarded: nginx reloads
    wait_for(lambda: get(port) == "v2", what="reloaded config served")
    assert alive(master) and read_pid(pf) == master

    shim.send_signal(signal.SIGUSR2)                      # binary upgrade: new master
    new = wait_pidfile(pf, other_than=master)
    wait_for(lambda: read_pid(tmp_path / "nginx.pid.oldbin") == master, what=".oldbin")
    seen |= tree(shim.pid)
    os.kill(master, signal.SIGQUIT)                       # retire the old master
    wait_for(lambda: f"moved from pid {master} to {new}" in stderr_of(tmp_path), what="move")
    assert shim.poll() is None
    wait_for(lambda: get(port) == "v2", what="new master serving")
    seen |= tree(shim.pid)

    os.kill(new, signal.SIGKILL)                          # the new master dies hard
    assert finish(shim) == 137
    assert "killed by SIGKILL" in stderr_of(tmp_path)
    assert not [p for p in seen if alive(p)]              # its orphaned workers went too
    assert get(port) is None


@pytest.mark.timeout(90)
def test_nginx_stop_leaves_nothing(tmp_path, nginx_shim):
    shim, port, master, seen = nginx_shim
    assert len(seen) >= 3                                 # master + 2 workers
    shim.send_signal(signal.SIGTERM)                      # -> QUIT: graceful
    assert finish(shim) == 0
    assert not [p for p in seen if alive(p)]
    with socket.socket() as s:                            # nothing listens on the port
        # SO_REUSEADDR: the test's own closed connections may linger in TIME_WAIT; only a
        # listening socket still bound there would make this bind fail.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()
