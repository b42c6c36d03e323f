"""Real forking daemons in temp dirs, for tests/test_forking_unchanged.py and
bench/forking_bench.py.

Each builder writes what its daemon needs under a temp root (config, pid, logs, a high
loopback port) and returns a Case: the [program:x] lines an operator would write, unchanged
(no pidfile=, no recipe=), plus the facts a test identifies the daemon by: the port it
listens on and its executable. Nothing here writes to /etc or /run; nginx's init script is a
copy of Debian's, adapted only in the two paths it reads (/etc/default/nginx and
/etc/nginx/nginx.conf). Processes are found by the listening socket (/proc/net/tcp and the
socket inodes in /proc/PID/fd), never by name: other nginx/redis instances may run here.
"""
import glob
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from harness import Daemon  # noqa: E402

NGINX = "/usr/sbin/nginx"
REDIS = "/usr/bin/redis-server"
APACHE = "/usr/sbin/apache2"
APACHECTL = "/usr/sbin/apachectl"
PHP_FPM = (sorted(glob.glob("/usr/sbin/php-fpm[0-9]*")) or ["/usr/sbin/php-fpm"])[-1]
NGINX_INITD = os.path.join(HERE, "fixtures", "forking", "nginx.initd")
PY = os.path.realpath(sys.executable)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- who holds a port ----------------------------------------------------------------------

def _listen_inodes(port):
    """Inodes of the TCP sockets listening on port (any address)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
                found.add(f[9])
    return found


def holders(port):
    """Pids with a listening socket on port open (a master and the workers that inherited
    it alike). psutil.net_connections names one pid per socket, so /proc/PID/fd is read."""
    inodes = {f"socket:[{i}]" for i in _listen_inodes(port)}
    if not inodes:
        return set()
    pids = set()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{d}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{d}/fd/{fd}") in inodes:
                    pids.add(int(d))
                    break
            except OSError:
                pass
    return {p for p in pids if alive(p)}


def ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def port_owner(port):
    """The one holder of port whose parent does not hold it (the master), or None when
    nobody listens or the holders form more than one tree (old workers still around)."""
    h = holders(port)
    tops = [p for p in h if ppid(p) not in h]
    return tops[0] if len(tops) == 1 else None


def exe(pid):
    try:
        return os.path.realpath(f"/proc/{pid}/exe")
    except OSError:
        return ""


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def descendants(pid):
    """pid and every live descendant (from /proc/*/stat parent links)."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            p = ppid(int(d))
            if p is not None:
                kids.setdefault(p, []).append(int(d))
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        if p not in out and alive(p):
            out.add(p)
            todo.extend(kids.get(p, []))
    return out


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def environ_has(pid, text):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return text.encode() in f.read()
    except OSError:
        return False


def _left(root, ports):
    me = os.getpid()
    found = set()
    for port in ports:
        found |= holders(port)
    for d in os.listdir("/proc"):
        if d.isdigit() and alive(int(d)):
            if root in cmdline(int(d)) or environ_has(int(d), root):
                found.add(int(d))
    found.discard(me)
    return found


def reap(root, ports):
    """SIGKILL what a run left: processes holding one of ports, or naming root in their
    command line or environment (a daemon supervisord orphaned, or one a failed test left;
    php-fpm's workers clear their environment, nginx's master rewrites its own). Each round
    stops them all before killing any (a master would fork a new worker for each one killed)
    and looks again. Returns the pids killed."""
    root = str(root)
    killed = set()
    for _ in range(10):
        victims = _left(root, ports)
        if not victims:
            break
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for p in victims:
                try:
                    os.kill(p, sig)
                except OSError:
                    pass
        killed |= victims
        end = time.monotonic() + 10
        while any(alive(p) for p in victims) and time.monotonic() < end:
            time.sleep(0.02)
    return killed


# ---- probes: does the daemon answer on its port ---------------------------------------------

def _talk(port, data, want, n=64):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            if data:
                s.sendall(data)
            got = b""
            while len(got) < n:
                chunk = s.recv(n - len(got))
                if not chunk:
                    break
                got += chunk
                if want(got):
                    return True
            return want(got)
    except OSError:
        return False


def http_answers(port):
    return _talk(port, b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
                 lambda b: b.startswith(b"HTTP/1."), 12)


def redis_answers(port):
    return _talk(port, b"PING\r\n", lambda b: b.startswith(b"+PONG"), 7)


def fcgi_answers(port):
    # FCGI_GET_VALUES (type 9) with no body: php-fpm's master answers FCGI_GET_VALUES_RESULT.
    return _talk(port, bytes([1, 9, 0, 0, 0, 0, 0, 0]),
                 lambda b: len(b) >= 2 and b[1] == 10, 8)


def line_answers(port):
    return _talk(port, b"", lambda b: b.startswith(b"hello"), 5)


# ---- the cases ------------------------------------------------------------------------------

@dataclass
class Case:
    name: str
    root: str
    program: str                    # the [program:x] body, as an operator writes it
    exe: str                        # the daemon's executable (realpath)
    ports: list = field(default_factory=list)
    probe: Optional[Callable[[int], bool]] = None
    ns_initd: str = ""              # run the supervisor with this dir as /etc/init.d
    note: str = ""

    @property
    def port(self):
        return self.ports[0]

    def answers(self):
        return self.probe(self.port)

    def owner(self):
        return port_owner(self.port)

    def section(self, name="x", extra=""):
        return f"[program:{name}]\n{self.program}{extra}"


def _mkdir(root, *parts, mode=0o755):
    p = os.path.join(str(root), *parts)
    os.makedirs(p, exist_ok=True)
    os.chmod(p, mode)
    return p


def nginx_conf(root, port):
    root = str(root)
    temps = "\n".join(f"    {k}_temp_path {root}/{k};"
                      for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    user = "user root;" if os.geteuid() == 0 else ""
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, "nginx.conf")
    with open(path, "w") as f:
        f.write(f"""{user}
worker_processes 2;
pid {root}/nginx.pid;
error_log {root}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {root}/access.log;
{temps}
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "up\\n"; }}
    }}
}}
""")
    return path


def nginx_initd_script(root, port, initd_dir):
    """Debian's /etc/init.d/nginx with its two config paths moved into root; its
    DAEMON_OPTS (in the defaults file, as Debian documents) name the temp nginx.conf."""
    root = str(root)
    conf = nginx_conf(root, port)
    defaults = os.path.join(root, "default.nginx")
    with open(defaults, "w") as f:
        f.write(f'DAEMON_OPTS="-c {conf} -e {root}/error.log"\n')
    text = open(NGINX_INITD).read()
    for old, new in (("/etc/default/nginx", defaults), ("/etc/nginx/nginx.conf", conf)):
        assert old in text, f"{NGINX_INITD} no longer reads {old}"
        text = text.replace(old, new)
    os.makedirs(initd_dir, exist_ok=True)
    path = os.path.join(initd_dir, "nginx")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)
    return path


def nginx_initd(root):
    port = free_port()
    script = nginx_initd_script(root, port, _mkdir(root, "init.d"))
    return Case("nginx-initd", str(root), f"command={script} start\n", os.path.realpath(NGINX),
                [port], http_answers)


def nginx_service(root):
    """`service nginx start`: service(8) only looks in /etc/init.d, so the supervisor runs in
    a private mount namespace where the temp init.d dir is mounted there (see NsDaemon)."""
    port = free_port()
    initd = _mkdir(root, "init.d")
    nginx_initd_script(root, port, initd)
    return Case("nginx-service", str(root), "command=service nginx start\n",
                os.path.realpath(NGINX), [port], http_answers, ns_initd=initd)


def nginx_plain(root):
    port = free_port()
    conf = nginx_conf(root, port)
    return Case("nginx-plain", str(root), f"command={NGINX} -c {conf} -e {root}/error.log\n",
                os.path.realpath(NGINX), [port], http_answers)


def redis(root):
    """Debian's redis.conf (daemonize yes) when readable, with its paths and port moved
    into root; else the same directives on their own."""
    port = free_port()
    root = str(root)
    moved = {"bind": "127.0.0.1", "port": str(port), "daemonize": "yes",
             "pidfile": f"{root}/redis-server.pid", "logfile": f"{root}/redis-server.log",
             "dir": root, "supervised": "no"}
    try:
        base = open("/etc/redis/redis.conf").read().splitlines()
    except OSError:
        base = []
    out = []
    for line in base:
        key = line.split(None, 1)[0].lower() if line.strip() else ""
        if key in moved or key == "include" or line.startswith("unixsocket"):
            continue
        out.append(line)
    out += [f"{k} {v}" for k, v in moved.items()]
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, "redis.conf")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    return Case("redis", root, f"command={REDIS} {path}\n", os.path.realpath(REDIS), [port],
                redis_answers)


def apache(root):
    """`apachectl start` on a temp APACHE_CONFDIR: apache2ctl reads $APACHE_CONFDIR/envvars
    (Debian's layout), which moves the pid, run, lock and log dirs into root.
    APACHE_STARTED_BY_SYSTEMD keeps apache2ctl from handing the start to systemctl on a
    systemd host (it would start the packaged service instead)."""
    port = free_port()
    root = str(root)
    conf = _mkdir(root, "apache2")
    run, lock, log, www = (_mkdir(root, d) for d in ("run", "lock", "log", "www"))
    with open(os.path.join(conf, "envvars"), "w") as f:
        f.write(f"""export APACHE_RUN_USER=www-data
export APACHE_RUN_GROUP=www-data
export APACHE_PID_FILE={run}/apache2.pid
export APACHE_RUN_DIR={run}
export APACHE_LOCK_DIR={lock}
export APACHE_LOG_DIR={log}
export LANG=C
""")
    mods = "/usr/lib/apache2/modules"
    with open(os.path.join(conf, "apache2.conf"), "w") as f:
        f.write(f"""ServerName 127.0.0.1
DefaultRuntimeDir ${{APACHE_RUN_DIR}}
PidFile ${{APACHE_PID_FILE}}
Mutex file:${{APACHE_LOCK_DIR}} default
User ${{APACHE_RUN_USER}}
Group ${{APACHE_RUN_GROUP}}
LoadModule mpm_event_module {mods}/mod_mpm_event.so
LoadModule authz_core_module {mods}/mod_authz_core.so
ErrorLog ${{APACHE_LOG_DIR}}/error.log
Listen 127.0.0.1:{port}
StartServers 1
ServerLimit 1
ThreadsPerChild 4
MaxRequestWorkers 4
DocumentRoot {www}
""")
    return Case("apache2", root, f"command={APACHECTL} start\n"
                f"environment=APACHE_CONFDIR=\"{conf}\",APACHE_STARTED_BY_SYSTEMD=\"1\"\n",
                os.path.realpath(APACHE), [port], http_answers)


def php_fpm(root):
    port = free_port()
    root = str(root)
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, "php-fpm.conf")
    with open(path, "w") as f:
        f.write(f"""[global]
pid = {root}/php-fpm.pid
error_log = {root}/php-fpm.log
daemonize = yes
[www]
user = www-data
group = www-data
listen = 127.0.0.1:{port}
pm = static
pm.max_children = 2
""")
    return Case("php-fpm", root, f"command={PHP_FPM} --fpm-config {path}\n",
                os.path.realpath(PHP_FPM), [port], fcgi_answers)


# A daemon in the classic shape: double fork, setsid, stdio to /dev/null, then listen;
# no pidfile. Each start is noted in $FORKTEST_TRACE (a file the command line does not
# name, in words a pidfile reader cannot take for a pid) so a test knows pids it could not
# otherwise see, e.g. daemons the supervisor refused and killed at once.
PYFORK = r'''
import os, socket, sys, time
port = int(sys.argv[1])
if os.fork():
    os._exit(0)
os.setsid()
if os.fork():
    os._exit(0)
trace = os.environ.get("FORKTEST_TRACE")
if trace:
    with open(trace, "a") as f:
        f.write(f"started pid={os.getpid()} port={port}\n")
null = os.open("/dev/null", os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(null, fd)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", port))
except OSError:
    os._exit(1)
s.listen(16)
while True:
    c, _ = s.accept()
    c.sendall(b"hello\n")
    c.close()
'''

# Starts two unrelated daemons (each its own session) and exits once both have noted their
# pids: no single tree to adopt.
TWO = r'''
import os, subprocess, sys, time
trace = os.environ["FORKTEST_TRACE"]
def count():
    try:
        return open(trace).read().count("started")
    except OSError:
        return 0
want = count() + len(sys.argv[2:])
for port in sys.argv[2:]:
    subprocess.run([sys.executable, sys.argv[1], port], check=True)
end = time.monotonic() + 10
while count() < want and time.monotonic() < end:
    time.sleep(0.01)
'''

# Like webfsd: refuses to start over an existing pidfile, else daemonizes and writes it.
STALE = r'''
import os, socket, sys
pidfile, port = sys.argv[2], int(sys.argv[4])
if os.path.exists(pidfile):
    sys.stderr.write(f"{pidfile} exists, not starting\n")
    sys.exit(1)
if os.fork():
    os._exit(0)
os.setsid()
if os.fork():
    os._exit(0)
null = os.open("/dev/null", os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(null, fd)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(16)
with open(pidfile + ".tmp", "w") as f:
    f.write(f"{os.getpid()}\n")
os.rename(pidfile + ".tmp", pidfile)
while True:
    c, _ = s.accept()
    c.sendall(b"hello\n")
    c.close()
'''


def _script(root, name, code):
    os.makedirs(str(root), exist_ok=True)
    path = os.path.join(str(root), name)
    with open(path, "w") as f:
        f.write(code)
    return path


def trace_env(root):
    return os.path.join(_mkdir(root, "trace"), "starts.log")


def traced_pids(root):
    """Pids the python test daemons noted, in start order."""
    try:
        lines = open(trace_env(root)).read().split()
    except OSError:
        return []
    return [int(w.split("=")[1]) for w in lines if w.startswith("pid=")]


def pyfork(root):
    port = free_port()
    path = _script(root, "forkd.py", PYFORK)
    return Case("pyfork", str(root), f"command={PY} {path} {port}\n"
                f"environment=FORKTEST_TRACE=\"{trace_env(root)}\"\n", PY, [port], line_answers)


def two_daemons(root):
    ports = [free_port(), free_port()]
    d = _script(root, "forkd.py", PYFORK)
    two = _script(root, "two.py", TWO)
    return Case("two", str(root), f"command={PY} {two} {d} {ports[0]} {ports[1]}\n"
                f"environment=FORKTEST_TRACE=\"{trace_env(root)}\"\n", PY, ports, line_answers)


def stale_pidfile(root):
    """A daemon that refuses to start over an existing pidfile, whose pidfile names a pid
    that is dead (a process this helper started and reaped)."""
    port = free_port()
    run = _mkdir(root, "run")
    pidfile = os.path.join(run, "staled.pid")
    dead = subprocess.Popen(["true"])
    dead.wait()
    with open(pidfile, "w") as f:
        f.write(f"{dead.pid}\n")
    path = _script(root, "staled.py", STALE)
    return Case("stale", str(root), f"command={PY} {path} --pidfile {pidfile} --port {port}\n",
                PY, [port], line_answers, note=pidfile)


# A Debian-style init script for a daemon no recipe knows (the stale-pidfile daemon above):
# its start is the forking command, its pidfile the script's, its stop action the stop.
STALED_INITD = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          staled
# Required-Start:    $local_fs $network
# Required-Stop:     $local_fs $network
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: test daemon that refuses to start over its pidfile
### END INIT INFO

PATH=/sbin:/bin:/usr/sbin:/usr/bin
DAEMON={py}
SCRIPT={root}/staled.py
PIDFILE={root}/run/staled.pid
PORT={port}

. /lib/lsb/init-functions

case "$1" in
  start)
    log_daemon_msg "Starting test daemon" "staled"
    start-stop-daemon --start --quiet --pidfile $PIDFILE --exec $DAEMON -- \\
        $SCRIPT --pidfile $PIDFILE --port $PORT
    log_end_msg $?
    ;;
  stop)
    log_daemon_msg "Stopping test daemon" "staled"
    start-stop-daemon --stop --quiet --retry=TERM/5/KILL/5 --pidfile $PIDFILE
    log_end_msg $?
    rm -f $PIDFILE
    ;;
  *)
    echo "Usage: $0 {{start|stop}}" >&2
    exit 3
    ;;
esac
"""


def staled_initd(root):
    """`<root>/init.d/staled start`: an init script with no recipe."""
    port = free_port()
    root = str(root)
    _mkdir(root, "run")
    _script(root, "staled.py", STALE)
    path = os.path.join(_mkdir(root, "init.d"), "staled")
    with open(path, "w") as f:
        f.write(STALED_INITD.format(py=PY, root=root, port=port))
    os.chmod(path, 0o755)
    return Case("staled-initd", root, f"command={path} start\n", PY, [port], line_answers,
                note=os.path.join(root, "run", "staled.pid"))


CASES = {"nginx-initd": (nginx_initd, NGINX), "nginx-service": (nginx_service, NGINX),
         "nginx-plain": (nginx_plain, NGINX), "redis": (redis, REDIS),
         "apache2": (apache, APACHE), "php-fpm": (php_fpm, PHP_FPM), "pyfork": (pyfork, PY),
         "staled-initd": (staled_initd, PY)}


def missing(binary):
    return not os.access(binary, os.X_OK)


# ---- a supervisor that sees the temp init.d dir as /etc/init.d --------------------------------

def namespaces_work():
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                       capture_output=True)
    return r.returncode == 0


class NsDaemon(Daemon):
    """harness.Daemon run in a private mount namespace where `initd` is /etc/init.d (so
    `service X start` finds the fixture script) and, on a systemd host, /run/systemd is an
    empty tmpfs (else service(8) hands the start to systemctl and the packaged unit). The
    host's /etc and /run are untouched. unshare and sh exec: proc.pid is the supervisor."""

    def __init__(self, kind, root, initd):
        super().__init__(kind, root)
        self.initd = initd

    def command(self):
        inner = " ".join(shlex.quote(a) for a in super().command())
        sh = (f"mount --bind {shlex.quote(self.initd)} /etc/init.d && "
              "{ [ ! -d /run/systemd/system ] || mount -t tmpfs none /run/systemd; } && "
              f"exec {inner}")
        return ["unshare", "-m", "--propagation", "private", "sh", "-c", sh]


def supervisor(case, kind, root):
    """The Daemon object (not started) to run case under kind."""
    os.makedirs(str(root), exist_ok=True)
    if case.ns_initd:
        return NsDaemon(kind, root, case.ns_initd)
    return Daemon(kind, root)
