"""Issue 11, item 3: `wrapctl adopt --observe` runs an init script's start once (as root, in a
cgroup of its own under a subreaper, with a time limit), records what stayed, runs its stop,
kills what is left, and writes the config from what it saw.

The init scripts are fixtures written into temp dirs; their daemons (real nginx, a made-up
double-forking python daemon) keep their config, pidfiles and ports (high loopback) there.
The observer is told to watch the temp dir for pidfiles instead of /run (--watch). The script
runs with a clean environment (as service(8) gives it), so the session's leftover marker does
not reach its daemons: each test checks itself that nothing of its temp dir still runs.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap

import psutil
import pytest

from adopt_support import free_port
from forking_support import nginx_conf
from harness import wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="--observe runs scripts as root")

HEADER = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          {name}
# Required-Start:    $remote_fs
# Required-Stop:     $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: {name} (a fixture of tests/test_adopt_observe.py)
### END INIT INFO
"""

# Double-forks, listens on --port, writes no pidfile; --hang makes it never detach.
PYD = """#!/usr/bin/python3
import os, socket, sys, time
port = int(sys.argv[sys.argv.index("--port") + 1])
if "--hang" in sys.argv:
    time.sleep(1000)
if os.fork():
    os._exit(0)
os.setsid()
if os.fork():
    os._exit(0)
os.chdir("/")
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(8)
fd = os.open("/dev/null", os.O_RDWR)
for i in (0, 1, 2):
    os.dup2(fd, i)
while True:
    c, _ = s.accept()
    c.close()
"""


def write(path, text, mode=0o755):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return str(path)


def script(top, name, body):
    return write(os.path.join(top, name), HEADER.format(name=name) + textwrap.dedent(body))


def pyd(top):
    return write(os.path.join(top, "pyd"), PYD)


def observe(path, top, *extra, fmt="json", timeout=60, cgroups=True):
    argv = [sys.executable, "-m", "wrapctl", "adopt", path, "--observe", "--watch", str(top),
            "--format", fmt, *extra]
    if not cgroups:
        # A private mount namespace where the cgroup2 mount point is an empty tmpfs: no
        # group can be made, the observer falls back to its subreaper alone.
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount -t tmpfs none "$0" && exec "$@"', CGROUP2] + argv
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def cgroup2_mount():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[fields.index("-") + 1] == "cgroup2":
                return fields[4]
    return None


CGROUP2 = cgroup2_mount()
no_cgroup2 = pytest.mark.skipif(CGROUP2 is None or not shutil.which("unshare"),
                                reason="needs a cgroup2 mount to hide and unshare")


def running_from(top):
    """Live processes whose command line or exe names the test's temp dir."""
    top = str(top)
    out = []
    for p in psutil.process_iter(["pid", "cmdline", "status"]):
        if p.info["status"] == psutil.STATUS_ZOMBIE or p.pid == os.getpid():
            continue
        if top in " ".join(p.info["cmdline"] or []):
            out.append(p)
    return out


def listening(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def nothing_left(top, port=None):
    assert running_from(top) == []
    if port:
        assert not listening(port)
    if CGROUP2:
        assert not [d for d in os.listdir(CGROUP2) if d.startswith("wrapctl-observe.")]


def nginx_script(top, port):
    conf = nginx_conf(top, port)
    return script(top, "webfront", f"""\
        DAEMON=/usr/sbin/nginx
        PIDFILE={top}/nginx.pid
        case "$1" in
          start) start-stop-daemon --start --quiet --pidfile $PIDFILE --exec $DAEMON -- \\
                   -c {conf} -e {top}/error.log ;;
          stop) start-stop-daemon --stop --quiet --retry QUIT/5/TERM/5/KILL/5 \\
                   --pidfile $PIDFILE --exec $DAEMON ;;
          status) start-stop-daemon --status --pidfile $PIDFILE --exec $DAEMON ;;
          *) exit 1 ;;
        esac
        """)


def test_nginx_observed_uses_the_recipe_of_its_exe(tmp_path):
    port = free_port()
    path = nginx_script(tmp_path, port)
    p = observe(path, tmp_path)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    obs = got["observed"]
    master = next(x for x in obs["procs"] if x["ppid"] not in {y["pid"] for y in obs["procs"]})
    assert master["exe"] == "/usr/sbin/nginx"
    assert obs["pidfiles"] == {f"{tmp_path}/nginx.pid": master["pid"]}
    assert [(s["kind"], s["port"], s["pid"]) for s in obs["sockets"]] == [
        ("tcp", port, master["pid"])]
    assert obs["containment"].startswith("cgroup ")
    assert got["decision"] == "recipe" and got["recipe"] == "nginx"
    prog = got["programs"][0]["wrapctl"]
    assert prog["ready"] == f"tcp:127.0.0.1:{port}"
    assert prog["command"].startswith("/usr/sbin/nginx -g 'daemon off;' -c ")
    assert obs["left_after_stop"] == []
    nothing_left(tmp_path, port)
    assert not os.path.exists(f"{tmp_path}/nginx.pid")


def pyd_script(top, port, status=""):
    daemon = pyd(top)
    return script(top, "pyserv", f"""\
        DAEMON={daemon}
        case "$1" in
          start) start-stop-daemon --start --quiet --exec $DAEMON -- --port {port} ;;
          stop) pkill -TERM -f "^/usr/bin/python3 $DAEMON --port" ;;
          status) {status or 'exit 3'} ;;
          *) exit 1 ;;
        esac
        """)


def test_double_forking_daemon_without_pidfile_gets_forking_command_and_ready(
        tmp_path, wrapctld):
    port = free_port()
    path = pyd_script(tmp_path, port)
    p = observe(path, tmp_path)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    obs = got["observed"]
    assert [x["argv"][1:] for x in obs["procs"]] == [[f"{tmp_path}/pyd", "--port", str(port)]]
    assert obs["procs"][0]["exe"].startswith("/usr/bin/python3")
    assert obs["pidfiles"] == {}
    assert got["decision"] == "shim"
    prog = got["programs"][0]["wrapctl"]
    assert prog["command"] == f"{tmp_path}/pyd --port {port}"
    assert "pidfile" not in prog
    assert prog["ready"] == f"tcp:127.0.0.1:{port}"
    assert not [r for r in got["review_wrapctl"] if r.startswith("observed:")]
    nothing_left(tmp_path, port)
    # What was written runs: the core follows the daemon the command forks and waits for
    # the observed port.
    p = observe(path, tmp_path, fmt="wrapctl")
    ini = p.stdout[p.stdout.index("[program:"):]
    d = wrapctld(ini + "autorestart=false\n")
    d.wait_state("pyserv", "RUNNING")
    assert listening(port)
    d.ctl("stop", "pyserv")
    wait_for(lambda: not running_from(f"{tmp_path}/pyd"), what="the daemon stopped")


def test_reading_and_observing_disagree_review_line(tmp_path):
    # The start goes through a helper program the reader cannot follow: it reads `helper`
    # (or no daemon); the observer sees the python daemon that stayed.
    port = free_port()
    daemon = pyd(tmp_path)
    helper = write(os.path.join(tmp_path, "helper"),
                   f"#!/bin/sh\nexec {daemon} --port \"$1\"\n")
    path = script(tmp_path, "viahelper", f"""\
        case "$1" in
          start) {helper} {port} ;;
          stop) pkill -TERM -f "^/usr/bin/python3 {daemon} --port" ;;
          *) exit 1 ;;
        esac
        """)
    p = observe(path, tmp_path)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    review = got["review_wrapctl"]
    assert any(r.startswith("observed: the reading found") and f"{daemon} --port {port}" in r
               for r in review), review
    prog = got["programs"][0]["wrapctl"]
    assert prog["command"] == f"{daemon} --port {port}"
    assert prog["ready"] == f"tcp:127.0.0.1:{port}"
    nothing_left(tmp_path, port)


def as_nobody_in_process(argv):
    """wrapctl's CLI in a process that is nobody: imported as root (the interpreter lives
    under /root, which nobody cannot read), then setuid before the command runs."""
    code = textwrap.dedent(f"""
        import os, pwd, sys
        import wrapctl.entry, wrapctl.cli, wrapctl.cli.recipes_cmd, wrapctl.adopt
        import wrapctl.adopt.observe, wrapctl.adopt.observed, wrapctl.initscript
        import wrapctl.recipes, json, tempfile, shutil
        # Loaded lazily on the first read of package data (the bundled recipes): from a
        # non-editable install that happens after the setuid, where /root is out of reach.
        import importlib.readers, importlib.resources.readers
        pw = pwd.getpwnam("nobody")
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
        sys.exit(wrapctl.entry.main({argv!r}))
        """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd="/")


def test_refused_when_not_root(open_tmp):
    port = free_port()
    path = pyd_script(open_tmp, port)
    p = as_nobody_in_process(["adopt", path, "--observe", "--watch", open_tmp])
    assert p.returncode == 6, p.stderr
    assert p.stderr.count("\n") == 1 and "refused" in p.stderr and "root" in p.stderr
    assert p.stdout == ""
    nothing_left(open_tmp, port)


def test_refused_when_its_pidfile_names_a_live_process(tmp_path):
    port = free_port()
    path = nginx_script(tmp_path, port)
    subprocess.run([path, "start"], check=True, timeout=30)
    try:
        wait_for(lambda: listening(port), what="nginx started by its script")
        p = observe(path, tmp_path)
        assert p.returncode == 6
        assert p.stderr.count("\n") == 1
        assert f"already running ({tmp_path}/nginx.pid names live pid" in p.stderr
    finally:
        subprocess.run([path, "stop"], timeout=30)
    wait_for(lambda: not running_from(tmp_path), what="nginx stopped")


def test_refused_when_its_status_action_says_running(tmp_path):
    port = free_port()
    path = pyd_script(tmp_path, port, status=f'pgrep -f "^/usr/bin/python3 {tmp_path}/pyd"')
    subprocess.run([path, "start"], check=True, timeout=30)
    try:
        wait_for(lambda: listening(port), what="the daemon started by its script")
        p = observe(path, tmp_path)
        assert p.returncode == 6
        assert "already running (`pyserv status` exits 0)" in p.stderr
    finally:
        subprocess.run([path, "stop"], timeout=30)
    wait_for(lambda: not running_from(tmp_path), what="the daemon stopped")


@pytest.mark.parametrize("cgroups", [True, pytest.param(False, marks=no_cgroup2)],
                         ids=["cgroup", "subreaper"])
def test_start_that_hangs_is_killed_after_the_time_limit(tmp_path, cgroups):
    port = free_port()
    daemon = pyd(tmp_path)
    # The start leaves a background child and then hangs in the foreground.
    path = script(tmp_path, "hangs", f"""\
        case "$1" in
          start) {daemon} --port {port} --hang --bg & {daemon} --port {port} --hang ;;
          *) exit 3 ;;
        esac
        """)
    p = observe(path, tmp_path, "--observe-timeout", "2", cgroups=cgroups)
    assert p.returncode == 7
    assert p.stderr.count("\n") == 1
    assert f"{path} start did not finish within 2s: killed it and the 3 process(es)" in \
        p.stderr, p.stderr
    nothing_left(tmp_path)


def test_migrate_observes_each_daemon_script(tmp_path):
    initd = tmp_path / "init.d"
    initd.mkdir()
    web, py = free_port(), free_port()
    os.rename(nginx_script(tmp_path, web), initd / "webfront")
    os.rename(pyd_script(tmp_path, py), initd / "pyserv")
    script(str(initd), "clock", """\
        case "$1" in
          start) date > /dev/null ;;
        esac
        """)
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "wrapctl", "migrate", str(initd), "--observe",
                        "--watch", str(tmp_path), "--out", str(out), "--format", "wrapctl"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    rows = {os.path.basename(r["script"]): r for r in json.load(open(out / "report.json"))}
    assert rows["webfront"]["observed"] == rows["pyserv"]["observed"] == "yes"
    assert rows["clock"]["observed"].startswith("not observed: read as a oneshot")
    assert f"\nready=tcp:127.0.0.1:{web}\n" in (out / "programs" / "webfront.conf").read_text()
    assert f"\nready=tcp:127.0.0.1:{py}\n" in (out / "programs" / "pyserv.conf").read_text()
    assert "[observed]" in p.stdout
    nothing_left(tmp_path, web)
    assert not listening(py)


def test_migrate_observe_refused_when_not_root(open_tmp):
    p = as_nobody_in_process(["migrate", open_tmp, "--observe", "--out",
                              os.path.join(open_tmp, "out")])
    assert p.returncode == 6
    assert p.stderr.count("\n") == 1 and "refused" in p.stderr
    assert not os.path.exists(os.path.join(open_tmp, "out"))


@no_cgroup2
def test_without_cgroups_the_subreaper_holds_the_tree_and_says_so(tmp_path):
    port = free_port()
    path = nginx_script(tmp_path, port)
    p = observe(path, tmp_path, cgroups=False)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert got["observed"]["containment"] == "subreaper"
    assert any("no cgroup could be made here" in n for n in got["observed"]["notes"])
    assert got["recipe"] == "nginx"
    assert got["programs"][0]["wrapctl"]["ready"] == f"tcp:127.0.0.1:{port}"
    nothing_left(tmp_path, port)
