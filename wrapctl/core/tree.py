"""The whole process tree of one program instance, for stop and crash clean-up.

The daemon is a child subreaper, so a process that a program leaves behind (a double-forked
daemon, a setsid() grandchild whose parent died) is re-parented to the daemon, not to init.
Each spawned instance carries a marker in its environment, inherited by everything it
starts; a re-parented orphan is attributed to its instance by that marker. An instance's
tree is its main pid's descendants plus the daemon's marked orphans and their descendants:
only processes the daemon launched, never anything outside its own tree.

A descendant that clears its environment *and* is orphaned cannot be attributed; where the
daemon may create cgroups (cgroups.py) the group's member list is used instead.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Iterable, Optional

import psutil

from wrapctl.shims import procfs

MARKER = "WRAPCTL_INSTANCE"


def instance_marker(key: str, serial: int) -> str:
    return f"{os.getpid()}/{key}/{serial}"


def _children_files_work() -> bool:
    return os.path.exists(f"/proc/self/task/{threading.get_native_id()}/children")


_HAVE_CHILDREN_FILES = _children_files_work()


def direct_children(pid: int) -> list[int]:
    """Children of pid from /proc/PID/task/*/children: no scan of every process."""
    if not _HAVE_CHILDREN_FILES:
        try:
            return [c.pid for c in psutil.Process(pid).children()]
        except psutil.Error:
            return []
    out: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(x) for x in f.read().split())
        except (OSError, ValueError):
            pass
    return out


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for c in direct_children(todo.pop()):
            if c not in out:
                out.append(c)
                todo.append(c)
    return out


_SCAN_TTL = 0.05
_scan: tuple[float, list[int]] = (0.0, [])


def _all_pids() -> list[int]:
    """Every pid; one listing of /proc serves all the exits handled within 50 ms (a
    shutdown of hundreds of re-attached programs would otherwise list /proc for each)."""
    global _scan
    now = time.monotonic()
    if now - _scan[0] > _SCAN_TTL:
        _scan = (now, [int(n) for n in os.listdir("/proc") if n.isdigit()])
    return _scan[1]


def _environ_marker(pid: int) -> Optional[str]:
    return procfs.environ(pid, MARKER)


def members(main_pid: int, marker: Optional[str], known_mains: Iterable[int] = (),
            everywhere: bool = False, groups: Iterable[int] = (),
            sessions: Iterable[int] = ()) -> list[psutil.Process]:
    """Live processes of one instance (main pid included if alive).

    everywhere: look for marked processes among all processes, not only the daemon's
    children. For an instance started by a previous core, whose orphans went to init while
    no core was running; the marker names that core's pid and the instance's serial."""
    known = set(known_mains)
    # Also ours: an orphan in the instance's process group or (own) session. Some daemons
    # clear their environment (nginx's workers keep only TZ); their session stays.
    mine = os.getpgrp(), os.getsid(0)
    groups = set(groups) - set(mine)
    sessions = set(sessions) - set(mine)
    roots: list[int] = [main_pid] if main_pid else []
    candidates = _all_pids() if everywhere else direct_children(os.getpid())
    for pid in candidates:
        if pid == main_pid or pid in known or pid == os.getpid():
            continue
        try:
            if ((marker is not None and _environ_marker(pid) == marker) or
                    (groups or sessions) and _in(pid, groups, sessions)):
                roots.append(pid)
        except OSError:
            continue
    found: list[int] = []
    for root in roots:
        for pid in [root] + descendants(root):
            if pid not in found:
                found.append(pid)
    return alive(found)


def alive(pids: Iterable[int]) -> list[psutil.Process]:
    """The pids that are live processes (not zombies), as psutil handles (identity kept)."""
    alive = []
    for pid in pids:
        try:
            p = psutil.Process(pid)
            if p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.Error:
            pass
    return alive


def _in(pid: int, groups: set, sessions: set) -> bool:
    return os.getpgid(pid) in groups or os.getsid(pid) in sessions


def ids(pid: int) -> tuple[set, set]:
    """The process group and session of pid, to recognise its orphans later."""
    try:
        return {os.getpgid(pid)}, {os.getsid(pid)}
    except OSError:
        return set(), set()


def signal_all(procs: Iterable[psutil.Process], sig: int) -> int:
    """Send sig to each process that is still the same process (pid and start time)."""
    sent = 0
    for p in procs:
        try:
            if p.is_running():
                p.send_signal(sig)
                sent += 1
        except psutil.Error:
            pass
    return sent
