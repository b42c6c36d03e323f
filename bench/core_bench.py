"""Side-by-side benchmark of the supervisor core: supervisord 4.3 vs `wrapctl daemon`.

    python bench/core_bench.py            # full run (about 6-8 minutes)
    python bench/core_bench.py --quick    # smoke run: 100 programs, few repeats
    python bench/core_bench.py --only 1,4 --json out.json

It benchmarks the `wrapctl` that Python imports (printed in the header). To measure a
commit rather than a working tree in flux: `git archive HEAD wrapctl shims | tar -x -C DIR`,
copy DIR/shims to DIR/wrapctl/shims, `python -m compileall -q DIR` (supervisord's .pyc
are installed; with PYTHONDONTWRITEBYTECODE=1 an uncompiled wrapctl would be compiled at
every daemon start), and run with PYTHONPATH=DIR.

Both daemons run in the foreground (`-n`) on the same generated config, one after the
other, in a short temp dir under /tmp (AF_UNIX paths must stay under 108 bytes). Scenarios:

1. crash to RUNNING: kill -9 of a program (startsecs=0, autorestart=true) until its new pid
   is live and the daemon has declared it RUNNING. Nobody calls the API during the wait: the
   program writes its pid into a FIFO on start, and the daemon's "entered RUNNING state" line
   is read from its stdout (both echo the main log in the foreground). The API is read after
   each sample, only to confirm the new pid is RUNNING.
2. N `sleep` programs (startsecs=0) from daemon launch until getAllProcessInfo shows all
   RUNNING; median and best of 5 daemon starts. This one polls the API (one call after the
   other, 50 ms apart), which wakes supervisord's loop early; the time of the last
   "entered RUNNING" log line is kept too.
   2b (full run only): the same with stdout/stderr_logfile=NONE (no AUTO log files).
   The daemon's own CPU time (utime+stime) at that moment is kept too: on a shared machine
   it varies far less than the wall-clock figure.
3. getAllProcessInfo latency with those N programs (one kept-alive connection, median):
   request sent to last byte of the answer, and the whole call with the client's decode
   (the stdlib decoder, identical for both, takes ~50 ms on a 500-entry answer here).
4. idle wakeups: a few programs running and nothing happening; context switches of every
   thread of the daemon (/proc/PID/task/*/status) over a window, read from outside.
5. slow stop: a program ignoring TERM (stopwaitsecs=10), stopProcess(wait=False), then the
   daemon's CPU time (/proc/PID/stat utime+stime, all threads) over the next 5 s; 5b the
   same with a stopProcess(wait=True) call pending meanwhile (what `supervisorctl stop` does).
6. VmRSS of the daemon with the N programs RUNNING (after the calls of scenario 3).

Every daemon is shut down over the API; anything it started that is still alive after
that is killed by pid.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import re
import resource
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xmlrpc.client

import psutil

from wrapctl.rpc.client import ClientError, Endpoint, make_proxy

PY = sys.executable
KINDS = ("supervisord", "wrapctl")
CLK_TCK = os.sysconf("SC_CLK_TCK")

BASE_INI = """\
[unix_http_server]
file={sock}

[supervisord]
logfile=%(here)s/main.log
pidfile=%(here)s/daemon.pid
childlogdir=%(here)s/logs
loglevel=info
nodaemon=true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{sock}

"""


class BenchError(Exception):
    pass


class Daemon:
    """One foreground daemon on a config in its own short temp dir.

    Its stdout (the main log echo) is drained by a thread that stamps every line with
    time.monotonic(), so log lines can be waited for without asking the API.
    """

    def __init__(self, kind: str, programs: str):
        self.kind = kind
        self.root = tempfile.mkdtemp(prefix=f"wcb{kind[0]}", dir="/tmp")
        self.sock = os.path.join(self.root, "s.sock")
        self.conf = os.path.join(self.root, "d.conf")
        os.makedirs(os.path.join(self.root, "logs"))
        with open(self.conf, "w") as f:
            f.write(BASE_INI.format(sock=self.sock) + programs.replace("{root}", self.root))
        self.proc = None
        self.launched = None            # monotonic time of Popen
        self.lines: list[tuple[float, str]] = []
        self.cond = threading.Condition()
        self._proxy = None
        self._known: dict[int, psutil.Process] = {}

    def command(self):
        if self.kind == "supervisord":
            return [PY, "-m", "supervisor.supervisord", "-n", "-c", self.conf]
        return [PY, "-m", "wrapctl", "daemon", "-n", "-c", self.conf]

    # ---- life ----------------------------------------------------------------------
    def launch(self):
        enough_fds()
        self.launched = time.monotonic()
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, cwd=self.root)
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self):
        for raw in self.proc.stdout:
            now = time.monotonic()
            with self.cond:
                self.lines.append((now, raw.decode("utf-8", "replace")))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_api(self, deadline=60):
        end = time.monotonic() + deadline
        while True:
            try:
                self.rpc().getState()
                return self
            except (OSError, ClientError, xmlrpc.client.Error):
                self._proxy = None
                if self.proc.poll() is not None or time.monotonic() > end:
                    raise BenchError(f"{self.kind} did not come up:\n{self.output()[-2000:]}")
                time.sleep(0.02)

    def start(self):
        return self.launch().wait_api()

    def rpc(self):
        if self._proxy is None:
            self._proxy = make_proxy("unix://" + self.sock, timeout=120)
        return self._proxy.supervisor

    @property
    def pid(self):
        return self.proc.pid

    def output(self):
        with self.cond:
            return "".join(line for _, line in self.lines)

    def remember_children(self):
        """Note every descendant now alive, so stop() can kill survivors by pid."""
        try:
            for p in psutil.Process(self.pid).children(recursive=True):
                self._known.setdefault(p.pid, p)
        except psutil.Error:
            pass

    def stop(self):
        if self.proc is None:
            return
        self.remember_children()
        if self.proc.poll() is None:
            try:
                self.rpc().shutdown()
            except (OSError, ClientError, xmlrpc.client.Error):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.remember_children()
                self.proc.kill()
                self.proc.wait()
        for p in self._known.values():
            try:
                if p.is_running():          # compares create_time: no stray pid reuse
                    p.kill()
            except psutil.Error:
                pass
        self.proc.stdout.close()
        self.proc = None
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # ---- waiting on the log echo -------------------------------------------------------
    def mark(self) -> int:
        with self.cond:
            return len(self.lines)

    def wait_line(self, pattern: re.Pattern, since: int, count=1, deadline=60) -> float:
        """Time of the count-th line matching pattern at index >= since."""
        end = time.monotonic() + deadline
        seen, i = 0, since
        with self.cond:
            while True:
                while i < len(self.lines):
                    if pattern.search(self.lines[i][1]):
                        seen += 1
                        if seen >= count:
                            return self.lines[i][0]
                    i += 1
                left = end - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise BenchError(f"{self.kind}: no {pattern.pattern!r} (x{count}) "
                                     f"in the log; got {seen}")
                self.cond.wait(left)


def enough_fds(want=8192):
    """Give the daemons (through inheritance) room for 5 fds per program without a minfds
    setting: supervisord's child closes every fd below minfds one by one in Python before
    exec, so a large minfds would slow its spawns; the config keeps the default 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


# ---- /proc readings -------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """utime+stime of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def ctxt_switches(pid: int) -> dict[int, int]:
    """Voluntary + nonvoluntary context switches per thread (tid -> count)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                text = f.read()
        except OSError:
            continue        # thread ended meanwhile
        n = sum(int(m) for m in re.findall(r"^(?:non)?voluntary_ctxt_switches:\s+(\d+)",
                                           text, re.M))
        out[int(tid)] = n
    return out


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        kb = int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1))
    return kb / 1024


# ---- scenarios --------------------------------------------------------------------------

RUNNING_LINE = r"success: {name} entered RUNNING state"


def crash_to_running(kind: str, repeats: int = 20, jitter: float = 1.1) -> dict:
    """Scenario 1. Returns ms figures: median kill -> new pid RUNNING, and its two parts.

    Each kill waits a random 0..jitter s first, so that kills do not stay in phase with
    supervisord's 1 s loop (its samples are 1, 2 or 3 s depending on that phase).
    """
    rng = random.Random(2)
    fifo_prog = ("[program:crash]\n"
                 "command=sh -c 'echo $$ > {root}/pid.fifo; exec sleep 100000'\n"
                 "startsecs=0\nautorestart=true\n")
    with Daemon(kind, fifo_prog) as d:
        fifo = os.path.join(d.root, "pid.fifo")
        os.mkfifo(fifo)
        # Read-write: writers never block on open and the reader never sees EOF.
        fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
        try:
            d.start()
            pat = re.compile(RUNNING_LINE.format(name="crash"))
            pid = _read_pid(fd, 60)
            d.wait_line(pat, 0)
            _confirm(d, "crash", pid)
            total, spawned, declared = [], [], []
            for _ in range(repeats):
                time.sleep(rng.uniform(0, jitter))
                since = d.mark()
                t0 = time.monotonic()
                os.kill(pid, signal.SIGKILL)
                new = _read_pid(fd, 60)
                t_pid = time.monotonic()
                t_run = d.wait_line(pat, since)
                _confirm(d, "crash", new)       # only now is the API read
                spawned.append((t_pid - t0) * 1000)
                declared.append((t_run - t0) * 1000)
                total.append((max(t_pid, t_run) - t0) * 1000)
                pid = new
        finally:
            os.close(fd)
    return {"ms": statistics.median(total), "pid_live_ms": statistics.median(spawned),
            "running_logged_ms": statistics.median(declared), "samples_ms": total}


def _read_pid(fd: int, deadline: float) -> int:
    buf = b""
    end = time.monotonic() + deadline
    while not buf.endswith(b"\n"):
        left = end - time.monotonic()
        if left <= 0:
            raise BenchError("no pid arrived in the FIFO")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            buf += os.read(fd, 4096)
    return int(buf.split()[-1])


def _confirm(d: Daemon, name: str, pid: int):
    info = d.rpc().getProcessInfo(name)
    if info["pid"] != pid or info["statename"] != "RUNNING":
        raise BenchError(f"{d.kind}: expected {name} RUNNING with pid {pid}, "
                         f"API says {info['statename']} pid {info['pid']}")


def many_programs(kind: str, n: int = 500, calls: int = 20, logs: bool = True) -> dict:
    """Scenarios 2, 3 and 6 on one daemon with n `sleep` programs.

    logs=False sets stdout_logfile=NONE and stderr_logfile=NONE: no AUTO log file is
    created, which shows what the 2*n log-file creations cost at start.
    """
    extra = "" if logs else "stdout_logfile=NONE\nstderr_logfile=NONE\n"
    progs = "".join(f"[program:s{i:03d}]\ncommand=sleep 100000\nstartsecs=0\n{extra}"
                    for i in range(n))
    pat = re.compile(r"success: s\d+ entered RUNNING state")
    with Daemon(kind, progs) as d:
        d.launch()
        t0 = d.launched
        d.wait_api(deadline=120)
        end = time.monotonic() + 300
        polls = 0
        while True:
            infos = d.rpc().getAllProcessInfo()
            polls += 1
            if len(infos) == n and all(i["statename"] == "RUNNING" for i in infos):
                t_api = time.monotonic()
                cpu = cpu_seconds(d.pid)
                break
            if time.monotonic() > end:
                raise BenchError(f"{kind}: not all {n} RUNNING after 300 s")
            time.sleep(0.05)
        t_log = d.wait_line(pat, 0, count=n, deadline=60)
        t_first = d.wait_line(re.compile(r"spawned: "), 0)
        d.remember_children()
        answer, decode = getall_latency(d, n, calls)
        rss = rss_mib(d.pid)
    total = [a + b for a, b in zip(answer, decode)]
    return {"start_s": t_api - t0, "last_running_logged_s": t_log - t0,
            "first_spawn_s": t_first - t0, "start_cpu_s": cpu, "api_polls": polls,
            "getall_ms": statistics.median(answer), "getall_call_ms": statistics.median(total),
            "getall_samples_ms": answer, "rss_mib": rss}


GETALL = xmlrpc.client.dumps((), "supervisor.getAllProcessInfo").encode()


def getall_latency(d: Daemon, n: int, calls: int) -> tuple[list, list]:
    """Scenario 3: ms from sending the request to the last byte of the answer (the daemon's
    part), and ms the client then spends decoding it (the same stdlib decoder for both)."""
    conn = Endpoint("unix://" + d.sock).connection(timeout=120)
    answer, decode = [], []
    try:
        for _ in range(calls):
            c0 = time.perf_counter()
            conn.request("POST", "/RPC2", GETALL, {"Content-Type": "text/xml"})
            body = conn.getresponse().read()
            c1 = time.perf_counter()
            (infos,), _ = xmlrpc.client.loads(body, use_builtin_types=True)
            c2 = time.perf_counter()
            answer.append((c1 - c0) * 1000)
            decode.append((c2 - c1) * 1000)
            if len(infos) != n:
                raise BenchError(f"{d.kind}: getAllProcessInfo returned {len(infos)} entries")
    finally:
        conn.close()
    return answer, decode


def idle_wakeups(kind: str, programs: int = 3, seconds: float = 20) -> dict:
    """Scenario 4: context switches per second of an idle daemon, all threads summed."""
    progs = "".join(f"[program:i{i}]\ncommand=sleep 100000\nstartsecs=0\n"
                    for i in range(programs))
    pat = re.compile(r"success: i\d+ entered RUNNING state")
    with Daemon(kind, progs) as d:
        d.start()
        d.wait_line(pat, 0, count=programs)
        infos = d.rpc().getAllProcessInfo()
        if not all(i["statename"] == "RUNNING" for i in infos):
            raise BenchError(f"{kind}: idle programs not all RUNNING")
        d.remember_children()
        d._proxy = None         # close our connection: nothing of ours stays open
        time.sleep(1.0)         # let the last response and connection close settle
        before = ctxt_switches(d.pid)
        t0 = time.monotonic()
        time.sleep(seconds)
        after = ctxt_switches(d.pid)
        span = time.monotonic() - t0
    # A thread that ended during the window is missed; one that started counts fully.
    delta = sum(c - before.get(tid, 0) for tid, c in after.items())
    return {"wakeups_per_s": delta / span, "switches": delta, "seconds": span,
            "threads": len(after)}


def slow_stop(kind: str, window: float = 5, wait: bool = False) -> dict:
    """Scenario 5: the daemon's CPU use while a TERM-ignoring program is being stopped.

    wait=False is the plain request. wait=True keeps a stopProcess(wait=True) call pending
    during the window, as `supervisorctl stop` does; supervisord answers such a call from a
    deferred that its loop re-checks.
    """
    prog = ("[program:stubborn]\ncommand=sh -c \"trap '' TERM; exec sleep 100000\"\n"
            "startsecs=0\nstopwaitsecs=10\n")
    with Daemon(kind, prog) as d:
        d.start()
        d.wait_line(re.compile(RUNNING_LINE.format(name="stubborn")), 0)
        info = d.rpc().getProcessInfo("stubborn")
        d.remember_children()
        caller = None
        if wait:
            url = "unix://" + d.sock
            caller = threading.Thread(target=_stop_and_wait, args=(url,), daemon=True)
            caller.start()
            time.sleep(0.3)     # let the call arrive; the window starts after it
        else:
            d.rpc().stopProcess("stubborn", False)
        cpu0, sw0, t0 = cpu_seconds(d.pid), ctxt_switches(d.pid), time.monotonic()
        time.sleep(window)
        cpu1, sw1, t1 = cpu_seconds(d.pid), ctxt_switches(d.pid), time.monotonic()
        state = d.rpc().getProcessInfo("stubborn")["statename"]
        os.kill(info["pid"], signal.SIGKILL)    # end the wait instead of sitting out 10 s
        if caller is not None:
            caller.join(30)
        if state != "STOPPING":
            raise BenchError(f"{kind}: stubborn is {state} during the window, not STOPPING")
    span = t1 - t0
    switches = sum(c - sw0.get(tid, 0) for tid, c in sw1.items())
    return {"cpu_percent": 100 * (cpu1 - cpu0) / span, "cpu_s": cpu1 - cpu0,
            "wakeups_per_s": switches / span, "seconds": span}


def _stop_and_wait(url: str):
    try:
        make_proxy(url, timeout=60).supervisor.stopProcess("stubborn", True)
    except (OSError, ClientError, xmlrpc.client.Error):
        pass    # the SIGKILL may end it as ABNORMAL; only the wait mattered


def _bytecode(source: str) -> str:
    """Whether the daemon will import from cached .pyc or compile its source at each start
    (PYTHONDONTWRITEBYTECODE=1 and no __pycache__: scenario 2 then includes compiling)."""
    import importlib.util
    cached = os.path.exists(importlib.util.cache_from_source(source))
    return "cached .pyc" if cached else "NO cached .pyc: compiled at every start"


# ---- report ----------------------------------------------------------------------------

def machine() -> dict:
    with open("/proc/cpuinfo") as f:
        m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
    with open("/proc/meminfo") as f:
        kb = int(re.search(r"^MemTotal:\s+(\d+)", f.read(), re.M).group(1))
    osname = "?"
    try:
        with open("/etc/os-release") as f:
            osname = re.search(r'^PRETTY_NAME="?([^"\n]*)', f.read(), re.M).group(1)
    except (OSError, AttributeError):
        pass
    import supervisor.options
    import wrapctl.core.daemon
    return {"nproc": os.cpu_count(), "cpu": m.group(1) if m else "?",
            "ram_gib": round(kb / 1024 / 1024, 1), "os": osname,
            "kernel": platform.release(), "python": platform.python_version(),
            "supervisor": supervisor.options.VERSION,
            "wrapctl": os.path.dirname(wrapctl.__file__),
            "wrapctl_bytecode": _bytecode(wrapctl.core.daemon.__file__),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def ratio(a, b) -> str:
    if b == 0:
        return "inf" if a > 0 else "- (both 0)"
    return f"{a / b:.1f}x"


def rows(res: dict, n: int) -> list[tuple]:
    """(label, supervisord, wrapctl, ratio, target) for the scenarios that ran."""
    out = []

    def add(key, label, field, fmt, target):
        if key in res:
            s, w = res[key]["supervisord"][field], res[key]["wrapctl"][field]
            out.append((label, fmt.format(s), fmt.format(w), ratio(s, w), target(s, w)))

    met = lambda ok: "met" if ok else "not met"         # noqa: E731
    add("crash", "1. kill -9 to new pid RUNNING (median, ms)", "ms", "{:.1f}",
        lambda s, w: met(w <= 20))
    add("crash", "   ... new pid live (FIFO), ms", "pid_live_ms", "{:.1f}", lambda s, w: "")
    add("crash", "   ... RUNNING in the log, ms", "running_logged_ms", "{:.1f}", lambda s, w: "")
    add("many", f"2. {n} programs to all RUNNING (API poll, s)", "start_s", "{:.2f}",
        lambda s, w: met(s >= 6 * w))
    add("many", "   ... best run, s", "start_s_best", "{:.2f}", lambda s, w: met(s >= 6 * w))
    add("many", "   ... last RUNNING in the log, s", "last_running_logged_s", "{:.2f}",
        lambda s, w: "")
    add("many", "   ... daemon CPU time until then, s", "start_cpu_s", "{:.2f}",
        lambda s, w: "")
    add("many_nolog", "2b. same, child logs NONE (API poll, s)", "start_s", "{:.2f}",
        lambda s, w: met(s >= 6 * w))
    add("many_nolog", "   ... best run, s", "start_s_best", "{:.2f}",
        lambda s, w: met(s >= 6 * w))
    add("many_nolog", "   ... daemon CPU time until then, s", "start_cpu_s", "{:.2f}",
        lambda s, w: "")
    add("many", f"3. getAllProcessInfo, {n} programs: answer (median, ms)", "getall_ms",
        "{:.1f}", lambda s, w: met(s >= 10 * w))
    add("many", "   ... whole call incl. client decode, ms", "getall_call_ms", "{:.1f}",
        lambda s, w: met(s >= 10 * w))
    add("idle", "4. idle wakeups per second", "wakeups_per_s", "{:.2f}",
        lambda s, w: met(w == 0))
    add("slow", "5. CPU during a slow stop (% of a core)", "cpu_percent", "{:.1f}",
        lambda s, w: met(w < 1))
    add("slow", "   ... wakeups per second meanwhile", "wakeups_per_s", "{:.1f}",
        lambda s, w: "")
    add("slow_wait", "5b. same, stopProcess(wait=True) pending (% of a core)", "cpu_percent",
        "{:.1f}", lambda s, w: met(w < 1))
    add("slow_wait", "   ... wakeups per second meanwhile", "wakeups_per_s", "{:.1f}",
        lambda s, w: "")
    add("many", f"6. RSS with {n} programs RUNNING (MiB)", "rss_mib", "{:.1f}",
        lambda s, w: met(w <= s))
    return out


def table(res: dict, n: int) -> str:
    head = ("scenario", "supervisord 4.3", "wrapctl", "ratio (sd/wc)", "target")
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows(res, n):
        lines.append("| " + " | ".join(r) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 100 programs, 5 crash repeats, 5 s idle window")
    ap.add_argument("--only", default="1,2,4,5",
                    help="scenarios to run: 1 crash, 2 many (also 3 and 6), 4 idle, 5 slow stop")
    ap.add_argument("--json", metavar="FILE", help="also write the raw results here")
    args = ap.parse_args(argv)
    only = {s.strip() for s in args.only.split(",")}
    n = 100 if args.quick else 500
    repeats = 5 if args.quick else 20
    many_runs = 1 if args.quick else 5
    idle_s = 5 if args.quick else 20

    plan = []
    if "1" in only:
        plan.append(("crash", lambda k: crash_to_running(k, repeats)))
    if only & {"2", "3", "6"}:
        plan.append(("many", lambda k: _median_runs([many_programs(k, n) for _ in
                                                     range(many_runs)])))
        if not args.quick:
            plan.append(("many_nolog", lambda k: _median_runs(
                [many_programs(k, n, logs=False) for _ in range(many_runs)])))
    if "4" in only:
        plan.append(("idle", lambda k: idle_wakeups(k, 3, idle_s)))
    if "5" in only:
        plan.append(("slow", lambda k: slow_stop(k, 5)))
        plan.append(("slow_wait", lambda k: slow_stop(k, 5, wait=True)))

    res: dict = {}
    info = machine()
    print(f"# {info['nproc']} x {info['cpu']}, {info['ram_gib']} GiB, {info['os']}, "
          f"Python {info['python']}, supervisor {info['supervisor']}, {info['date']}",
          flush=True)
    print(f"# wrapctl from {info['wrapctl']} ({info['wrapctl_bytecode']})", flush=True)
    for key, fn in plan:
        res[key] = {}
        for kind in KINDS:
            t = time.monotonic()
            try:
                res[key][kind] = fn(kind)
            except BenchError as e:
                print(f"{key}/{kind}: FAILED: {e}", file=sys.stderr)
                return 1
            print(f"{key}/{kind} ({time.monotonic() - t:.0f} s): "
                  + json.dumps({k: _round(v) for k, v in res[key][kind].items()
                                if not k.endswith("samples_ms")}),
                  flush=True)
    print()
    print(table(res, n))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "programs": n, "results": res}, f, indent=1)
    return 0


def _round(x):
    if isinstance(x, float):
        return round(x, 3)
    if isinstance(x, list):
        return [_round(v) for v in x]
    return x


def _median_runs(runs: list[dict]) -> dict:
    out = {"runs": len(runs)}
    for key, v in runs[0].items():
        if isinstance(v, (int, float)):
            out[key] = statistics.median(r[key] for r in runs)
    out["start_s_runs"] = [r["start_s"] for r in runs]
    out["start_s_best"] = min(out["start_s_runs"])
    return out


if __name__ == "__main__":
    sys.exit(main())
