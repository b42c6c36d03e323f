"""Command line of the shim (argparse: stdlib, fast to import)."""
import argparse
import signal
from dataclasses import dataclass, field

from . import status as st

FORWARDED = tuple(getattr(signal, "SIG" + n) for n in
                  ("HUP", "INT", "QUIT", "USR1", "USR2", "WINCH", "TERM", "CONT", "TSTP"))


class UsageError(Exception):
    pass


@dataclass
class Options:
    command: list
    pidfile: str | None = None
    exe: str | None = None
    start_timeout: float = 30.0
    stop_timeout: float = 10.0
    sigmap: dict = field(default_factory=dict)
    stop_command: str | None = None
    reload_command: str | None = None
    pre_start: str | None = None
    quiet: bool = False


def _epilog():
    lines = ["exit status:",
             "  the daemon's (or COMMAND's) own status; 128+N when it died of signal N"]
    lines += [f"  {code:<3} {text}" for code, text in st.STATUS_TABLE]
    lines += ["",
              "signals HUP INT QUIT USR1 USR2 WINCH TERM CONT TSTP go to the daemon's main",
              "pid (rewritten by --signal); TERM stops the whole tree (see docs/shim.md)."]
    return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def build_parser():
    p = _Parser(
        prog="wrapctl-shim",
        usage="wrapctl-shim [OPTIONS] -- COMMAND [ARGS...]",
        description="Run COMMAND, find the daemon it starts, stay in the foreground while it "
                    "lives, forward signals to it, and exit with its status.",
        epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pidfile", metavar="PATH",
                   help="the daemon writes its pid here (waited for via inotify)")
    p.add_argument("--exe", metavar="NAME",
                   help="the daemon's program name: picks among several candidates, and "
                        "must match the pidfile's process")
    p.add_argument("--start-timeout", metavar="SECS", type=_seconds, default=30.0,
                   help="how long to wait for an acceptable pid in --pidfile (default 30)")
    p.add_argument("--stop-timeout", metavar="SECS", type=_seconds, default=10.0,
                   help="after TERM, how long before SIGKILL to the whole tree (default 10)")
    p.add_argument("--signal", metavar="FROM:TO", action="append", default=[],
                   dest="signals", help="rewrite a forwarded signal, e.g. TERM:QUIT "
                                        "(TO may be 0 to drop it); repeatable")
    p.add_argument("--stop-command", metavar="CMD",
                   help="run CMD (via /bin/sh -c) on TERM instead of signalling the daemon")
    p.add_argument("--reload-command", metavar="CMD",
                   help="run CMD (via /bin/sh -c) on HUP instead of forwarding it")
    p.add_argument("--pre-start", metavar="CMD",
                   help="run CMD (via /bin/sh -c) first, e.g. a config test; "
                        "COMMAND runs only if it succeeds")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="report only errors, not the daemon's pid and moves")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND",
                   help="the program that starts the daemon, and its arguments")
    return p


def _seconds(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not v > 0 or v != v or v == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return v


def parse(argv):
    ns = build_parser().parse_args(argv)
    cmd = list(ns.command)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise UsageError("missing COMMAND (usage: wrapctl-shim [OPTIONS] -- COMMAND [ARGS...])")
    sigmap = {}
    for item in ns.signals:
        src, sep, dst = item.partition(":")
        if not sep:
            raise UsageError(f"--signal {item!r}: expected FROM:TO, e.g. TERM:QUIT")
        try:
            a, b = st.parse_signal(src), st.parse_signal(dst)
        except ValueError as e:
            raise UsageError(f"--signal {item!r}: {e}") from None
        if a not in FORWARDED:
            raise UsageError(f"--signal {item!r}: FROM must be one of "
                             + " ".join(st.signal_name(s)[3:] for s in FORWARDED))
        sigmap[a] = b
    for name in ("pidfile", "exe", "stop_command", "reload_command", "pre_start"):
        v = getattr(ns, name)
        if v is not None and not v.strip():
            raise UsageError(f"--{name.replace('_', '-')} must not be empty")
    return Options(command=cmd, pidfile=ns.pidfile, exe=ns.exe,
                   start_timeout=ns.start_timeout, stop_timeout=ns.stop_timeout,
                   sigmap=sigmap, stop_command=ns.stop_command,
                   reload_command=ns.reload_command, pre_start=ns.pre_start, quiet=ns.quiet)
