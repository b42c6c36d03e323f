"""Exit statuses of the shim.

The shim's own refusals use small fixed numbers so a supervisor's `exitcodes=` can tell them
from a daemon's death; a daemon's or COMMAND's status is passed through unchanged, and death
by signal N becomes 128+N as a shell reports it.
"""
import os
import signal

from . import signals

OK = 0
USAGE = 2             # bad option or argument
REFUSED = 3           # pidfile or daemon identity refused (reason on stderr)
START_TIMEOUT = 4     # no acceptable daemon within --start-timeout
AMBIGUOUS = 5         # several daemon candidates and no --exe to choose
PRE_START_FAILED = 6  # --pre-start exited non-zero or was killed
INTERNAL = 70         # the shim itself failed (EX_SOFTWARE); should not happen
CANNOT_EXECUTE = 126  # COMMAND found but not executable
NOT_FOUND = 127       # COMMAND not found
TERMINATED = 128 + signal.SIGTERM  # stopped before any daemon was found

STATUS_TABLE = (
    (USAGE, "usage error (bad option, unknown signal, missing COMMAND)"),
    (REFUSED, "pidfile refused: garbage, pid 1, a process outside the shim's tree or\n"
              "      older than the shim, a symlink owned by another user, world-writable\n"
              "      while the shim runs as root"),
    (START_TIMEOUT, "no acceptable pid in --pidfile within --start-timeout, or\n"
                    "      COMMAND's tree ended without one"),
    (AMBIGUOUS, "COMMAND left several candidate daemons; pick one with --exe"),
    (PRE_START_FAILED, "--pre-start command failed"),
    (CANNOT_EXECUTE, "COMMAND is not executable"),
    (NOT_FOUND, "COMMAND not found"),
    (INTERNAL, "the shim itself failed (cannot become a subreaper)"),
)


def from_wait_status(status):
    """Shell-style exit code of a raw waitpid() status: 0-255, or 128+N for signal N."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def describe_wait_status(status):
    if os.WIFSIGNALED(status):
        return f"killed by {signal_name(os.WTERMSIG(status))}"
    return f"exit status {os.WEXITSTATUS(status)}"


# Kept under their old names for the shim's callers; the table is signals.py's.
signal_name = signals.name


def parse_signal(text):
    """'TERM', 'SIGTERM', 'term' or '15' -> signal number; 0/'NONE' means 'drop it'.

    Raises ValueError with a short reason.
    """
    return signals.number(text, allow_none=True)
