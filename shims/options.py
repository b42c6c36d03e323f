"""Command line of the shim.

Parsed by hand: argparse and dataclasses together cost the shim about 4 MiB resident and
a few milliseconds of start-up, for ten options.
"""
import signal

from . import signals
from . import status as st

FORWARDED = tuple(getattr(signal, "SIG" + n) for n in
                  ("HUP", "INT", "QUIT", "USR1", "USR2", "WINCH", "TERM", "CONT", "TSTP"))

USAGE = "usage: wrapctl-shim [OPTIONS] -- COMMAND [ARGS...]"

HELP = USAGE + """

Run COMMAND, find the daemon it starts, stay in the foreground while it lives, forward
signals to it, and exit with its status.

options:
  --pidfile PATH         the daemon writes its pid here (waited for via inotify)
  --exe NAME             the daemon's program name: picks among several candidates,
                         and must match the pidfile's process
  --start-timeout SECS   how long to wait for an acceptable pid in --pidfile (default 30)
  --stop-timeout SECS    after TERM, how long before SIGKILL to the whole tree (default 10)
  --signal FROM:TO       rewrite a forwarded signal, e.g. TERM:QUIT (TO may be 0 to drop
                         it); repeatable
  --stop-command CMD     run CMD (via /bin/sh -c) on TERM instead of signalling the daemon
  --reload-command CMD   run CMD (via /bin/sh -c) on HUP instead of forwarding it
  --pre-start CMD        run CMD (via /bin/sh -c) first, e.g. a config test; COMMAND runs
                         only if it succeeds
  -q, --quiet            report only errors, not the daemon's pid and moves
  -h, --help             show this help and exit

signals HUP INT QUIT USR1 USR2 WINCH TERM CONT TSTP go to the daemon's main pid
(rewritten by --signal); TERM stops the whole tree (see docs/shim.md).

exit status:
  the daemon's (or COMMAND's) own status; 128+N when it died of signal N
""" + "\n".join(f"  {code:<3} {text}" for code, text in st.STATUS_TABLE) + "\n"


class UsageError(Exception):
    pass


class Help(Exception):
    pass


class Options:
    __slots__ = ("command", "pidfile", "exe", "start_timeout", "stop_timeout", "sigmap",
                 "stop_command", "reload_command", "pre_start", "quiet")

    def __init__(self, command, pidfile=None, exe=None, start_timeout=30.0,
                 stop_timeout=10.0, sigmap=None, stop_command=None, reload_command=None,
                 pre_start=None, quiet=False):
        self.command, self.pidfile, self.exe = command, pidfile, exe
        self.start_timeout, self.stop_timeout = start_timeout, stop_timeout
        self.sigmap = sigmap or {}
        self.stop_command, self.reload_command = stop_command, reload_command
        self.pre_start, self.quiet = pre_start, quiet


_VALUED = {"--pidfile": "pidfile", "--exe": "exe", "--start-timeout": "start_timeout",
           "--stop-timeout": "stop_timeout", "--signal": "signal",
           "--stop-command": "stop_command", "--reload-command": "reload_command",
           "--pre-start": "pre_start"}


def parse(argv):
    """Options from argv; raises UsageError (one-line reason) or Help."""
    o = Options(command=[])
    args = list(argv)
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            o.command = args[i + 1:]
            break
        if a in ("-h", "--help"):
            raise Help()
        if a in ("-q", "--quiet"):
            o.quiet = True
            i += 1
            continue
        if not a.startswith("-") or a == "-":
            o.command = args[i:]          # COMMAND without "--"
            break
        name, eq, value = a.partition("=")
        if name not in _VALUED:
            raise UsageError(f"unknown option {name!r} (see --help)")
        if not eq:
            if i + 1 >= len(args) or args[i + 1] == "--":
                raise UsageError(f"{name} needs a value")
            value = args[i + 1]
            i += 1
        i += 1
        _set(o, name, value)
    if not o.command:
        raise UsageError("missing COMMAND (" + USAGE[7:] + ")")
    return o


def _set(o, name, value):
    field = _VALUED[name]
    if field in ("start_timeout", "stop_timeout"):
        setattr(o, field, _seconds(name, value))
    elif field == "signal":
        src, sep, dst = value.partition(":")
        if not sep:
            raise UsageError(f"--signal {value!r}: expected FROM:TO, e.g. TERM:QUIT")
        try:
            a, b = signals.number(src), signals.number(dst, allow_none=True)
        except ValueError as e:
            raise UsageError(f"--signal {value!r}: {e}") from None
        if a not in FORWARDED:
            raise UsageError(f"--signal {value!r}: FROM must be one of "
                             + " ".join(signals.name(s)[3:] for s in FORWARDED))
        o.sigmap[a] = b
    else:
        if not value.strip():
            raise UsageError(f"{name} must not be empty")
        setattr(o, field, value)


def _seconds(name, text):
    try:
        v = float(text)
    except ValueError:
        raise UsageError(f"{name} {text!r}: not a number of seconds") from None
    if not 0 < v < float("inf"):
        raise UsageError(f"{name} {text!r}: must be a positive number of seconds")
    return v
