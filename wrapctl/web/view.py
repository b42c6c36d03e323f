"""What the page shows: plain dicts (JSON) built from the supervisor's processes."""
from __future__ import annotations

import os
import time
from typing import Optional

from wrapctl import __version__
from wrapctl.core.states import ProcessState as S
from wrapctl.rpc.api import describe, make_namespec
from wrapctl.web.stats import TreeStats


def process_row(proc, now: float, stats: Optional[TreeStats]) -> dict:
    info = proc.info(now)
    state = proc.state
    ran = bool(info["start"])
    if not info["pid"]:
        stats = None    # the last sample's numbers belong to a process that is gone
    return {
        "id": make_namespec(proc.group, proc.name),
        "name": proc.name,
        "group": proc.group,
        "state": state.name,
        "pid": info["pid"] or None,
        "start": info["start"] or None,
        "uptime": max(0, info["now"] - info["start"]) if state == S.RUNNING else None,
        # the last exit while it is the current story (-1: killed by a signal); a process
        # stopped on request has no story to tell
        "exitstatus": (info["exitstatus"] if ran and info["stop"] and
                       state in (S.EXITED, S.FATAL, S.BACKOFF) else None),
        "description": describe(info),
        "cpu": stats.cpu_percent if stats else None,
        "rss": stats.rss if stats else None,
        "procs": stats.procs if stats else None,
        "logs": [ch for ch, c in proc.channels.items() if c.logfile],
        "redirect_stderr": bool(proc.config.redirect_stderr),
    }


def snapshot(daemon, stats: dict, now: Optional[float] = None) -> dict:
    """The whole page state; `stats` maps a process id to its TreeStats."""
    now = time.time() if now is None else now
    sup = daemon.supervisor
    rows = []
    groups = []
    for g in sup.ordered_groups():
        groups.append(g.name)
        for p in g.ordered():
            ident = make_namespec(p.group, p.name)
            rows.append(process_row(p, now, stats.get(ident)))
    return {
        "now": now,
        "identification": daemon.config.daemon.identifier,
        "state": daemon.mood.name,
        "pid": os.getpid(),
        "version": __version__,
        "groups": groups,
        "processes": rows,
    }
