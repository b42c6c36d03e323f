"""Helpers for the shim tests: start the shim, wait for conditions, inspect process trees."""
import os
import signal
import subprocess
import sys
import time

import psutil

HERE = os.path.dirname(os.path.abspath(__file__))
SHIM = [sys.executable, "-m", "wrapctl.shims.main"]


def daemon(name, *args):
    return [sys.executable, os.path.join(HERE, name), *map(str, args)]


def start_shim(opts, command, tmp_path, **kw):
    err = open(tmp_path / "shim.err", "ab")
    return subprocess.Popen(SHIM + list(opts) + ["--"] + list(command), cwd=tmp_path,
                            stdin=subprocess.DEVNULL, stderr=err, **kw)


def stderr_of(tmp_path):
    p = tmp_path / "shim.err"
    return p.read_text() if p.exists() else ""


def wait_for(pred, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def read_pid(path):
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def wait_pidfile(path, timeout=15.0, other_than=None):
    return wait_for(lambda: (lambda p: p if p and p != other_than else None)(read_pid(path)),
                    timeout, f"pid in {path}")


def alive(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def tree(pid):
    """Live descendants of pid (pids)."""
    try:
        return {p.pid for p in psutil.Process(pid).children(recursive=True)
                if p.status() != psutil.STATUS_ZOMBIE}
    except psutil.NoSuchProcess:
        return set()


def log_lines(path):
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


def wait_logged(path, pid, word, timeout=15.0):
    wait_for(lambda: f"{pid} {word}" in log_lines(path), timeout, f"{pid} {word} in {path}")


def finish(proc, timeout=20.0):
    """Wait for the shim to exit; returns its exit status."""
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        kill_all({proc.pid} | tree(proc.pid))
        raise


def kill_all(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
