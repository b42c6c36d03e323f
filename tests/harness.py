"""Run a real daemon (supervisord 4.3 or `wrapctl daemon`) on a config in a temp dir.

    s = Daemon("wrapctl", tmp_path).start("[program:x]\ncommand=sleep 1000\n")
    s.wait_state("x", "RUNNING"); s.rpc().stopProcess("x"); s.stop()

The daemon runs in the foreground as a child of the test; stop() shuts it down over the API
and waits (SIGKILL only if it hangs). Waits are bounded by generous deadlines; no test
asserts a wall-clock time.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import xmlrpc.client

import pytest

from wrapctl.rpc.client import ClientError

PY = sys.executable

BASE_INI = """\
[unix_http_server]
file={sock}

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

# A program body (write it to a file) that ignores SIGTERM, says 'ready' and sleeps.
IGNORE_TERM = """\
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print('ready', flush=True)
time.sleep(1000)
"""

UPTIME = re.compile(r"uptime \d+:\d\d:\d\d")


def normalize(text):
    return UPTIME.sub("uptime H:MM:SS", text)


def py(code):
    """A command line running a Python snippet (double quotes inside must be avoided)."""
    return f"{PY} -u -c \"{code}\""


def wait_for(pred, deadline=30, what="condition"):
    end = time.monotonic() + deadline
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def alive(pid):
    """True if pid is a live, non-zombie process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Daemon:
    def __init__(self, kind, root):
        self.kind = kind
        self.root = str(root)
        # AF_UNIX paths are limited to 108 bytes; pytest's tmp_path may be longer.
        self.sockdir = self.root if len(self.root) < 80 else tempfile.mkdtemp(prefix="wc")
        self.sock = os.path.join(self.sockdir, "s.sock")
        self.conf = os.path.join(self.root, "supervisord.conf")
        self.proc = None
        self.log = None
        os.makedirs(os.path.join(self.root, "logs"), exist_ok=True)

    @property
    def url(self):
        return "unix://" + self.sock

    @property
    def mainlog(self):
        return os.path.join(self.root, "supervisord.log")

    def write(self, programs, base=True, loglevel="info", daemon_options=""):
        """daemon_options: more [supervisord] lines."""
        head = BASE_INI.format(sock=self.sock).replace("loglevel=info", f"loglevel={loglevel}")
        head = head.replace("nodaemon=true\n", "nodaemon=true\n" + daemon_options)
        with open(self.conf, "w") as f:
            f.write((head if base else "") + programs)

    def command(self):
        if self.kind == "supervisord":
            return [PY, "-m", "supervisor.supervisord", "-n", "-c", self.conf]
        return [PY, "-m", "wrapctl", "daemon", "-n", "-c", self.conf]

    def start(self, programs=None, deadline=30, base=True, loglevel="info", daemon_options=""):
        if programs is not None:
            self.write(programs, base=base, loglevel=loglevel, daemon_options=daemon_options)
        self.log = open(os.path.join(self.root, "daemon.out"), "ab")
        self.proc = subprocess.Popen(self.command(), stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=self.root)
        end = time.monotonic() + deadline
        while True:
            try:
                self.rpc().getState()
                return self
            except (OSError, ClientError, xmlrpc.client.Error):
                if self.proc.poll() is not None or time.monotonic() > end:
                    raise RuntimeError(f"{self.kind} did not come up: {self.output()}")
                time.sleep(0.02)

    def output(self):
        with open(os.path.join(self.root, "daemon.out"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def proxy(self):
        from wrapctl.rpc.client import make_proxy
        return make_proxy(self.url)

    def rpc(self):
        return self.proxy().supervisor

    def info(self, name):
        return self.rpc().getProcessInfo(name)

    def wait_state(self, name, statename, deadline=30):
        def check():
            info = self.info(name)
            return info if info["statename"] == statename else None
        try:
            return wait_for(check, deadline, f"{name} {statename}")
        except AssertionError:
            raise AssertionError(f"{name} is {self.info(name)['statename']}, not {statename}")

    def ctl(self, *args, timeout=60):
        return subprocess.run([PY, "-m", "supervisor.supervisorctl", "-c", self.conf, *args],
                              capture_output=True, text=True, timeout=timeout)

    def wrapctl(self, *args, timeout=60):
        return subprocess.run([PY, "-m", "wrapctl", "-c", self.conf, *args],
                              capture_output=True, text=True, timeout=timeout)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=60):
        return self.proc.wait(timeout=timeout)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.rpc().shutdown()
            except (OSError, ClientError, xmlrpc.client.Error):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        self.proc = None

    # ---- main log and state observation (test_daemon_*.py) ---------------------------
    def mainlog_text(self):
        return read_text(self.mainlog)

    def log_matches(self, pattern):
        """Main-log entries (stamp, level, message) whose message matches pattern, in order."""
        rx = re.compile(pattern)
        return [e for e in mainlog_entries(self.mainlog_text()) if rx.search(e[2])]

    def wait_log(self, pattern, count=1, deadline=30):
        """Wait until the main log holds at least count messages matching pattern."""
        try:
            return wait_for(lambda: (m := self.log_matches(pattern)) and len(m) >= count and m,
                            deadline, f"main log {pattern!r}")
        except AssertionError:
            raise AssertionError(f"main log lacks {count} x {pattern!r}:\n{self.mainlog_text()}")

    def seen_states(self, name, until, deadline=30):
        """Poll name's state; the distinct successive statenames seen until `until`."""
        seen = []

        def check():
            s = self.info(name)["statename"]
            if not seen or seen[-1] != s:
                seen.append(s)
            return s == until
        try:
            wait_for(check, deadline, f"{name} {until}")
        except AssertionError:
            raise AssertionError(f"{name} went through {seen}, never {until}")
        return seen

    def settle(self, deadline=30):
        """Wait until every process that has a pid has exec'd its command."""
        wait_for(lambda: all(_execd(i["pid"]) for i in self.rpc().getAllProcessInfo()
                             if i["pid"]), deadline, "every process exec'd")


# ---- additions for the daemon integration tests (test_daemon_*.py) -------------------------

LOGLINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (\w+) (.*)$")


def script(directory, name, code):
    """Write a Python script into directory; return the command line that runs it."""
    path = os.path.join(str(directory), name + ".py")
    with open(path, "w") as f:
        f.write(code)
    return f"{PY} -u {path}"


def read_text(path):
    """The file's text, or "" if it does not exist (yet)."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def mainlog_entries(text):
    """[(timestamp, level, message)] of a supervisord-format main log."""
    out = []
    for line in text.splitlines():
        m = LOGLINE.match(line)
        if m:
            out.append(m.groups())
    return out


def log_seconds(stamp):
    """A main-log timestamp as seconds (for comparing intervals, never absolute times)."""
    import datetime
    return datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def kill_tree(pid):
    """SIGKILL pid and every descendant (a killed wrapctl daemon leaves its fd holder)."""
    import psutil
    try:
        p = psutil.Process(pid)
        procs = p.children(recursive=True) + [p]
    except psutil.Error:
        return
    for q in procs:
        try:
            q.kill()
        except psutil.Error:
            pass



def _execd(pid):
    """False while pid is still the daemon's forked copy, before exec (supervisord's child
    runs Python between fork and exec; a signal it gets then is lost)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read()
    except OSError:
        return True
    return b"supervisor.supervisord" not in cmd and b"wrapctl\0daemon" not in cmd


def _settled_wrapctld(wrapctld):
    """conftest's wrapctld; before its teardown, waits for every process to have exec'd, so
    the shutdown's TERM is not lost in supervisord's fork-exec window (which would cost a
    stopwaitsecs wait and a SIGKILL). Use: `from harness import settled_wrapctld`."""
    made = []

    def make(*args, **kw):
        d = wrapctld(*args, **kw)
        made.append(d)
        return d
    yield make
    for d in made:
        if d.proc is not None and d.proc.poll() is None:
            try:
                d.settle(deadline=10)
            except Exception:
                pass


settled_wrapctld = pytest.fixture(name="wrapctld")(_settled_wrapctld)


def load_bench(name):
    """bench/NAME.py as a module (the bench scripts are not a package)."""
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "bench", f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def numbers(result, *keys):
    """Each of result[key] is a finite number (a bench produced figures, whatever they are)."""
    import math
    for k in keys:
        assert isinstance(result[k], (int, float)) and math.isfinite(result[k]), (k, result)


def nobody_or_skip():
    """pwd entry of user nobody; skips unless this is root (tests that hand files or
    programs to another user) and nobody exists."""
    import pwd
    if os.geteuid() != 0:
        pytest.skip("acting for another user needs root")
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")


def ctx_switches(pid):
    """Context switches of every thread of pid so far (each wakeup makes one)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if "ctxt_switches" in line:
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def wait_quiet(pid, window=0.5, deadline=30):
    """Until pid makes no wakeup for `window` s: the work a test just caused is done (on a
    slow machine that takes longer than a fixed sleep). A periodic timer still shows up in
    the measurement that follows, as long as its period is longer than `window`."""
    end = time.monotonic() + deadline
    while True:
        before = ctx_switches(pid)
        time.sleep(window)
        if ctx_switches(pid) == before:
            return
        if time.monotonic() > end:
            raise AssertionError(f"pid {pid} did not go quiet for {window} s")
