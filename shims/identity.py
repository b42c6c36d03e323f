"""Daemon identity, sans-IO: is this pid ours to adopt?

A pid is accepted only when the process is alive, not a zombie, a descendant of the shim
(re-parented to it or below something it launched), and created no earlier than the shim.
`snapshot()` gathers the facts with psutil; `judge()` decides on plain data, so the core can
feed it facts about its own tree.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Snapshot:
    pid: int
    name: str
    zombie: bool
    create_time: float
    ancestors: tuple        # parent, grandparent, ... up to pid 1 (or 0)


def judge(pid, snap, root_pid, root_create_time, exe=None):
    """None when pid may be adopted, else a one-line reason.

    root_pid/root_create_time describe the shim (or the core); create times must come from
    the same clock (psutil's create_time()) to be comparable.
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


def snapshot(pid, max_depth=64):
    """Facts about pid from /proc, or None when there is no such process."""
    import psutil
    try:
        p = psutil.Process(pid)
        with p.oneshot():
            info = (p.name(), p.status(), p.create_time(), p.ppid())
    except psutil.Error:
        return None
    name, status, ctime, ppid = info
    ancestors = []
    cur = ppid
    while cur > 0 and len(ancestors) < max_depth:
        ancestors.append(cur)
        if cur == 1:
            break
        try:
            cur = psutil.Process(cur).ppid()
        except psutil.Error:
            break
    return Snapshot(pid, _exe_name(p, name), status == psutil.STATUS_ZOMBIE, ctime,
                    tuple(ancestors))


def _exe_name(p, name):
    """The program's base name: /proc's comm is cut at 15 chars and can be renamed, so
    prefer argv[0] ('nginx: master process' style titles keep their first word)."""
    import os
    try:
        argv0 = p.cmdline()[0]
    except Exception:
        return name
    base = os.path.basename(argv0.split(" ")[0].rstrip(":"))
    return base or name
