"""Shared pieces of the suite's test daemons (plain stdlib, run as scripts)."""
import argparse
import os
import signal
import sys
import time

LOGGED = ("HUP", "INT", "QUIT", "USR1", "USR2", "WINCH", "TERM", "CONT", "TSTP")


def args(extra=None):
    p = argparse.ArgumentParser()
    p.add_argument("--pidfile")
    p.add_argument("--delay", type=float, default=0.0, help="seconds before the pidfile")
    p.add_argument("--log", help="append one line per event here")
    if extra:
        extra(p)
    return p.parse_args()


def log(path, line):
    if path:
        with open(path, "a") as f:
            f.write(f"{os.getpid()} {line}\n")


def daemonize():
    """Classic double fork: the launcher returns to its caller only in the daemon."""
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)


def write_pidfile(path, pid=None, delay=0.0):
    if delay:
        time.sleep(delay)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{os.getpid() if pid is None else pid}\n")
    os.rename(tmp, path)


def serve(logpath, on=None, default_exit=("TERM", "INT", "QUIT")):
    """Log each signal; exit 0 on the default_exit ones unless `on` handles them."""
    on = on or {}
    pending = []

    def handler(signum, frame):
        pending.append(signum)
    for name in LOGGED:
        signal.signal(getattr(signal, "SIG" + name), handler)
    log(logpath, "ready")
    while True:
        signal.pause()
        while pending:
            name = signal.Signals(pending.pop(0)).name[3:]
            log(logpath, name)
            if name in on:
                on[name]()
            elif name in default_exit:
                sys.exit(0)
