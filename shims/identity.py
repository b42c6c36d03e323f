"""Process identity and liveness, and the daemon identity rule: is this pid ours to adopt?

Identity is (pid, start time): a pid alone may be reused the moment its process is reaped.
start_ticks()/create_time() read the start time, alive() and same_process() answer
"is it still that live process?" for the shim and the core alike.

A pid is accepted only when the process is alive, not a zombie, a descendant of the shim
(re-parented to it or below something it launched), and created no earlier than the shim.
`snapshot()` gathers the facts from /proc; `judge()` decides on plain data, so the core can
feed it facts about its own tree (create times from any one clock, e.g. psutil's).
"""
import os
from collections import namedtuple

from . import procfs

Snapshot = namedtuple("Snapshot", "pid name zombie create_time ancestors")
Snapshot.__doc__ = """Facts about one process: ancestors is (parent, grandparent, ... 1)."""


def judge(pid, snap, root_pid, root_create_time, exe=None):
    """None when pid may be adopted, else a one-line reason.

    root_pid/root_create_time describe the shim (or the core); create times must come from
    the same clock as snap.create_time to be comparable.
    """
    if pid == 1:
        return "names pid 1 (init)"
    if pid == root_pid:
        return f"names the shim itself ({pid})"
    if snap is None:
        return f"names pid {pid}, which is not running"
    if snap.zombie:
        return f"names pid {pid} ({snap.name}), which is a zombie"
    if root_pid not in snap.ancestors:
        parent = snap.ancestors[0] if snap.ancestors else "?"
        return (f"names pid {pid} ({snap.name}, parent {parent}), which is outside "
                f"the shim's process tree")
    if snap.create_time < root_create_time:
        return f"names pid {pid} ({snap.name}), which started before the shim"
    if exe is not None and snap.name != exe:
        return f"names pid {pid} ({snap.name}), not the --exe {exe}"
    return None


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Create times in seconds (psutil's, in the state file) are compared to this precision:
# two processes with one pid cannot both start within one clock tick (10 ms at 100 Hz).
SAME_TIME = 0.01


def start_ticks(pid):
    """Creation time of pid in clock ticks since boot (the clock snapshot() uses)."""
    s = procfs.stat(pid)
    return s[2] if s else None


def create_time(pid):
    """Creation time of pid in seconds since the epoch, the number psutil's create_time()
    gives (boot time + start ticks / CLK_TCK), or None if there is no such process."""
    ticks = start_ticks(pid)
    if ticks is None:
        return None
    try:
        return procfs.boot_time() + ticks / CLOCK_TICKS
    except OSError:
        return None


def alive(pid):
    """pid is a process that has not exited (a zombie has)."""
    s = procfs.stat(pid)
    return s is not None and s[0] not in ("Z", "X")


def same_process(pid, created):
    """pid is alive and is the process created at `created` (seconds since the epoch)."""
    s = procfs.stat(pid)
    if s is None or s[0] in ("Z", "X"):
        return False
    try:
        now = procfs.boot_time() + s[2] / CLOCK_TICKS
    except OSError:
        return False
    return abs(now - created) < SAME_TIME


def snapshot(pid, max_depth=64):
    """Facts about pid from /proc, or None when there is no such process."""
    s = procfs.stat(pid)
    if s is None:
        return None
    state, ppid, ticks, comm = s
    ancestors = []
    cur = ppid
    while cur > 0 and len(ancestors) < max_depth:
        ancestors.append(cur)
        if cur == 1:
            break
        ps = procfs.stat(cur)
        if ps is None:
            break
        cur = ps[1]
    return Snapshot(pid, _exe_name(pid, comm), state in ("Z", "X"), ticks, tuple(ancestors))


def _exe_name(pid, comm):
    """The program's base name: comm is cut at 15 chars and may be renamed, so prefer
    argv[0] ('nginx: master process' style titles keep their first word)."""
    a0 = procfs.argv0(pid)
    if not a0:
        return comm
    base = os.path.basename(a0.split(" ")[0].rstrip(":"))
    return base or comm
