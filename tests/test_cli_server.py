"""The server under test for the control client, and helpers to compare with supervisorctl.

`server` is a factory fixture: server(programs_ini) writes a config in tmp_path, starts the
daemon in the foreground and waits until its socket answers; teardown shuts it down and
waits for it (killing it only if it hangs). Every test runs against supervisord 4.3 and
against `wrapctl daemon`; WRAPCTL_CLI_SERVERS=supervisord (or =wrapctl) picks one.

`run_ctl` runs real supervisorctl and `run_wrapctl` runs `python -m wrapctl`, both as
subprocesses with the same config, so tests compare text and exit status one to one.
"""
import os
import re
import subprocess
import sys
import tempfile
import time
import xmlrpc.client

import psutil
import pytest

SERVERS = os.environ.get("WRAPCTL_CLI_SERVERS", "supervisord,wrapctl").split(",")

BASE_INI = """\
[unix_http_server]
file={sock}
{auth}
[supervisord]
logfile=%(here)s/supervisord.log
pidfile=%(here)s/supervisord.pid
childlogdir=%(here)s/logs
loglevel=info
nodaemon=true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{sock}

"""

PY = sys.executable
# A program that prints what it reads (fg, tail), and one that prints a line then sleeps.
ECHO = (f"{PY} -u -c \"import sys; "
        "[sys.stdout.write('got ' + l) for l in iter(sys.stdin.readline, '')]\"")


def chatty(text, err=""):
    """A command that writes `text` to stdout (and `err` to stderr), then sleeps."""
    code = f"import sys,time; sys.stdout.write({text!r}); sys.stderr.write({err!r}); " \
           "sys.stdout.flush(); sys.stderr.flush(); time.sleep(1000)"
    return f"{PY} -u -c \"{code}\""


def run(args, conf=None, input=None, timeout=60, env=None):
    return subprocess.run(args, input=input, capture_output=True, text=True,
                           timeout=timeout, env=env)


def run_ctl(conf, *args, **kw):
    return run([PY, "-m", "supervisor.supervisorctl", "-c", conf, *args], **kw)


def run_wrapctl(conf, *args, **kw):
    pre = ["-c", conf] if conf else []
    return run([PY, "-m", "wrapctl", *pre, *args], **kw)


UPTIME = re.compile(r"uptime \d+:\d\d:\d\d")


def normalize(text):
    return UPTIME.sub("uptime H:MM:SS", text)


def wait_for(predicate, deadline=30, what="condition"):
    end = time.monotonic() + deadline
    while not predicate():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


class Server:
    """A daemon on a unix socket in a temp dir, with its config file."""

    def __init__(self, kind, root):
        self.kind = kind
        self.root = root
        # AF_UNIX paths are limited to 108 bytes; pytest's tmp_path may be longer.
        self.sockdir = root if len(str(root)) < 80 else tempfile.mkdtemp(prefix="wc")
        self.sock = os.path.join(self.sockdir, "s.sock")
        self.conf = os.path.join(root, "supervisord.conf")
        self.proc = None
        self.auth = None            # (username, password) on the socket
        self.rpcinterface = True    # False: supervisord serves no supervisor.* methods
        os.makedirs(os.path.join(root, "logs"), exist_ok=True)

    @property
    def url(self):
        return "unix://" + self.sock

    def write(self, programs):
        auth = "username={}\npassword={}\n".format(*self.auth) if self.auth else ""
        text = BASE_INI.format(sock=self.sock, auth=auth)
        if not self.rpcinterface:
            text = text.replace("[rpcinterface:supervisor]", "[x_disabled_rpcinterface]")
        with open(self.conf, "w") as f:
            f.write(text + programs)

    def start(self, programs, deadline=30, auth=None, rpcinterface=True):
        self.auth = auth
        self.rpcinterface = rpcinterface
        self.write(programs)
        if self.kind == "supervisord":
            cmd = [PY, "-m", "supervisor.supervisord", "-n", "-c", self.conf]
        else:
            cmd = [PY, "-m", "wrapctl", "daemon", "-n", "-c", self.conf]
        self.log = open(os.path.join(self.root, "daemon.out"), "wb")
        # Everything the daemon starts inherits this tag, so teardown can find and kill
        # what a crashed daemon left behind.
        env = dict(os.environ, WRAPCTL_CLI_TEST_SERVER=self.root)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=self.root, env=env)
        return self.wait_up(deadline)

    def wait_up(self, deadline=30):
        """Wait until the daemon answers and is RUNNING (after start or reload)."""
        end = time.monotonic() + deadline
        while True:
            try:
                if not self.rpcinterface:
                    self.rpc_system().listMethods()
                    return self
                if self.rpc().getState()["statename"] == "RUNNING":
                    return self
            except (OSError, xmlrpc.client.Error):
                pass
            if self.proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"{self.kind} did not come up: "
                                   f"{open(self.log.name).read()}")
            time.sleep(0.05)

    def proxy(self):
        from supervisor.xmlrpc import SupervisorTransport
        return xmlrpc.client.ServerProxy(
            "http://127.0.0.1", transport=SupervisorTransport(*(self.auth or (None, None)),
                                                              self.url))

    def rpc(self):
        return self.proxy().supervisor

    def rpc_system(self):
        return self.proxy().system

    def wait_state(self, name, statename, deadline=30):
        end = time.monotonic() + deadline
        while True:
            info = self.rpc().getProcessInfo(name)
            if info["statename"] == statename:
                return info
            assert time.monotonic() < end, f"{name} is {info['statename']}, not {statename}"
            time.sleep(0.05)

    def ctl(self, *args, **kw):
        return run_ctl(self.conf, *args, **kw)

    def wrapctl(self, *args, **kw):
        return run_wrapctl(self.conf, *args, **kw)

    def same(self, *args, **kw):
        """Run one command with supervisorctl then wrapctl; assert the same text and status.
        Only for commands whose effect does not change what the second run prints."""
        a, b = self.ctl(*args, **kw), self.wrapctl(*args, **kw)
        assert (normalize(b.stdout), b.returncode) == (normalize(a.stdout), a.returncode), \
            f"{args}: supervisorctl={a!r} wrapctl={b!r}"
        assert "Traceback" not in b.stderr, b.stderr
        return b

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.rpc().shutdown()
            except (OSError, xmlrpc.client.Error):
                self.proc.terminate()       # no supervisor.* API: SIGTERM is its shutdown
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        clean = self.proc.returncode == 0
        self.log.close()
        self.proc = None
        left = []
        for p in psutil.process_iter():
            try:
                if p.environ().get("WRAPCTL_CLI_TEST_SERVER") == self.root:
                    left.append(p)
                    p.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(left, timeout=10)
        # a daemon that exited cleanly must not leave anything running
        assert not (clean and left), f"{self.kind} left {[p.pid for p in left]} running"


@pytest.fixture(params=SERVERS)
def server(request, tmp_path):
    made = []

    def make(programs, sub=None, **kw):
        root = tmp_path / sub if sub else tmp_path
        root.mkdir(exist_ok=True)
        s = Server(request.param, str(root))
        made.append(s)
        return s.start(programs, **kw)

    yield make
    for s in made:
        s.stop()


# A few checks of the harness itself, so a broken harness is not mistaken for a broken CLI.

def test_harness_starts_and_stops(server):
    s = server("[program:sleeper]\ncommand=sleep 1000\nstartsecs=0\n")
    info = s.wait_state("sleeper", "RUNNING")
    assert info["pid"] > 0
    s.stop()
    assert not os.path.exists("/proc/%d" % info["pid"]) or \
        open(f"/proc/{info['pid']}/stat").read().split()[2] == "Z"
