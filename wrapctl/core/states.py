"""Process and supervisor states, with supervisord's numeric codes (they travel over XML-RPC)."""
from enum import IntEnum


class ProcessState(IntEnum):
    STOPPED = 0
    STARTING = 10
    RUNNING = 20
    BACKOFF = 30
    STOPPING = 40
    EXITED = 100
    FATAL = 200
    UNKNOWN = 1000


# States in which a process has (or may have) a live pid.
RUNNING_STATES = (ProcessState.RUNNING, ProcessState.BACKOFF, ProcessState.STARTING)
# States from which a process is considered stopped by supervisorctl and the API.
STOPPED_STATES = (ProcessState.STOPPED, ProcessState.EXITED, ProcessState.FATAL,
                  ProcessState.UNKNOWN)
# States in which a start request is accepted.
STARTABLE_STATES = (ProcessState.EXITED, ProcessState.FATAL, ProcessState.BACKOFF,
                    ProcessState.STOPPED)


class SupervisorState(IntEnum):
    FATAL = 2
    RUNNING = 1
    RESTARTING = 0
    SHUTDOWN = -1


def signame(sig: int) -> str:
    import signal
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def decode_wait_status(sts: int) -> tuple[int, str]:
    """(exitstatus, message) from a waitpid status; exitstatus is -1 for a signal, as supervisord."""
    import os
    if os.WIFEXITED(sts):
        es = os.WEXITSTATUS(sts)
        return es, f"exit status {es}"
    if os.WIFSIGNALED(sts):
        msg = f"terminated by {signame(os.WTERMSIG(sts))}"
        if os.WCOREDUMP(sts):
            msg += " (core dumped)"
        return -1, msg
    return -1, "unknown termination cause 0x%04x" % sts
