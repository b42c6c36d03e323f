"""Helpers for the end-to-end adoption tests: run `wrapctl adopt`, run real supervisord 4.3
on the result in a temp dir, and watch processes by the pids the test observed."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time

import psutil

from harness import wait_for  # noqa: F401 (the tests import it from here)

BIN = os.path.dirname(sys.executable)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrapctl(*args, check=True) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "wrapctl", *args], capture_output=True,
                       text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError(f"wrapctl {' '.join(args)} -> {p.returncode}\n{p.stderr}")
    return p


def tree(pid: int) -> set[tuple[int, float]]:
    """(pid, create_time) of pid and its descendants."""
    try:
        p = psutil.Process(pid)
        procs = [p] + p.children(recursive=True)
    except psutil.Error:
        return set()
    out = set()
    for q in procs:
        try:
            out.add((q.pid, q.create_time()))
        except psutil.Error:
            pass
    return out


def alive(procs: set[tuple[int, float]]) -> list[int]:
    left = []
    for pid, ctime in procs:
        try:
            p = psutil.Process(pid)
            if p.create_time() == ctime and p.status() != psutil.STATUS_ZOMBIE:
                left.append(pid)
        except psutil.Error:
            pass
    return left


def kill_all(procs: set[tuple[int, float]]) -> None:
    for pid in alive(procs):
        try:
            os.kill(pid, 9)
        except OSError:
            pass


class Supervisord:
    """Real supervisord 4.3 (or `wrapctl daemon`, core="wrapctl") in the foreground on a
    unix socket in `d`, driven by supervisor's own supervisorctl."""

    def __init__(self, d, programs: str, core: str = "supervisord"):
        self.core = core
        self.d = str(d)
        self.conf = os.path.join(self.d, "supervisord.conf")
        with open(self.conf, "w") as f:
            f.write(f"""[unix_http_server]
file=%(here)s/s.sock

[supervisord]
logfile=%(here)s/supervisord.log
pidfile=%(here)s/supervisord.pid
childlogdir=%(here)s
nodaemon=true
environment=PATH="{BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://%(here)s/s.sock

{programs}
""")
        self.proc = None
        self.seen: set[tuple[int, float]] = set()

    def start(self):
        cmd = ([sys.executable, "-m", "supervisor.supervisord", "-n", "-c", self.conf]
               if self.core == "supervisord" else
               [sys.executable, "-m", "wrapctl", "daemon", "-n", "-c", self.conf])
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(os.path.join(self.d, "s.sock")), 30, "supervisord")

    def ctl(self, *args) -> str:
        p = subprocess.run([sys.executable, "-m", "supervisor.supervisorctl", "-c", self.conf,
                            *args], capture_output=True, text=True, timeout=60)
        return p.stdout

    def status(self, name: str) -> tuple[str, int]:
        out = self.ctl("status", name)
        m = re.search(rf"^{re.escape(name)}\s+(\w+)(?:\s+pid (\d+))?", out, re.M)
        if not m:
            return "", 0
        return m.group(1), int(m.group(2) or 0)

    def wait_running(self, name: str, not_pid: int = 0, timeout=60.0) -> int:
        def ok():
            state, pid = self.status(name)
            if state == "RUNNING" and pid and pid != not_pid:
                return pid
            return 0
        pid = wait_for(ok, timeout, f"{name} RUNNING")
        self.seen |= tree(pid)
        return pid

    def log(self, name: str) -> str:
        out = []
        for fn in sorted(os.listdir(self.d)):
            if fn.startswith(name) and fn.endswith(".log") or fn == "supervisord.log":
                with open(os.path.join(self.d, fn), errors="replace") as f:
                    out.append(f"--- {fn}\n{f.read()[-3000:]}")
        return "\n".join(out)

    def shutdown(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.ctl("shutdown")
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        mine = {s for s in self.seen if s[1]}
        kill_all(mine)
        deadline = time.monotonic() + 10
        while alive(mine) and time.monotonic() < deadline:
            time.sleep(0.05)
