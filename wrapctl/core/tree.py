"""The whole process tree of one program instance, for stop and crash clean-up.

The daemon is a child subreaper, so a process that a program leaves behind (a double-forked
daemon, a setsid() grandchild whose parent died) is re-parented to the daemon, not to init.
Each spawned instance carries a marker in its environment, inherited by everything it
starts; a re-parented orphan is attributed to its instance by that marker. An instance's
tree is its main pid's descendants plus the daemon's marked orphans and their descendants:
only processes the daemon launched, never anything outside its own tree.

A descendant that clears its environment *and* is orphaned cannot be attributed: where the
daemon may create cgroups this would be exact; see docs/architecture.md.
"""
from __future__ import annotations

import os
from typing import Iterable

import psutil

MARKER = "WRAPCTL_INSTANCE"


def instance_marker(key: str, serial: int) -> str:
    return f"{os.getpid()}/{key}/{serial}"


def members(main_pid: int, marker: str, known_mains: Iterable[int] = (),
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
    roots: list[psutil.Process] = []
    if main_pid:
        try:
            roots.append(psutil.Process(main_pid))
        except psutil.Error:
            pass
    try:
        orphans = list(psutil.process_iter()) if everywhere else psutil.Process().children()
    except psutil.Error:
        orphans = []
    for child in orphans:
        if child.pid == main_pid or child.pid in known:
            continue
        try:
            if ((marker is not None and child.environ().get(MARKER) == marker) or
                    (groups or sessions) and _in(child.pid, groups, sessions)):
                roots.append(child)
        except (psutil.Error, OSError):
            continue
    found: dict[int, psutil.Process] = {}
    for root in roots:
        found[root.pid] = root
        try:
            for d in root.children(recursive=True):
                found[d.pid] = d
        except psutil.Error:
            pass
    alive = []
    for p in found.values():
        try:
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
