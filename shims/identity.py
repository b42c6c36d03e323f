"""Daemon identity, sans-IO: is this pid ours to adopt?

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


def start_ticks(pid):
    """Creation time of pid in clock ticks since boot (the clock snapshot() uses)."""
    s = procfs.stat(pid)
    return s[2] if s else None


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
