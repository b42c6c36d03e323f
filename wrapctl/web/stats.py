"""CPU% and RSS of each supervised process's whole tree.

`scan()` reads the process table once (the I/O edge); `TreeSampler.sample()` is pure: it
walks each root's descendants in that table and turns CPU seconds into a rate against the
previous sample. Nothing here runs on its own: the web UI samples only while a page is open.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Optional

import psutil


@dataclass(frozen=True)
class Row:
    pid: int
    ppid: int
    create_time: float
    cpu: float      # user + system seconds
    rss: int


@dataclass(frozen=True)
class TreeStats:
    cpu_percent: float  # 100 = one core busy
    rss: int
    procs: int


def scan() -> dict[int, Row]:
    """One pass over /proc; processes we may not read (or that vanish) are left out."""
    rows = {}
    for p in psutil.process_iter(["ppid", "create_time", "cpu_times", "memory_info"]):
        i = p.info
        if i["cpu_times"] is None or i["memory_info"] is None or i["create_time"] is None:
            continue
        t = i["cpu_times"]
        rows[p.pid] = Row(p.pid, i["ppid"] or 0, i["create_time"], t.user + t.system,
                          i["memory_info"].rss)
    return rows


class TreeSampler:
    def __init__(self):
        self._prev: dict[tuple[int, float], float] = {}   # (pid, create_time) -> cpu s
        self._at: Optional[float] = None

    def sample(self, roots: dict[Hashable, int], table: dict[int, Row],
               now: float) -> dict[Hashable, TreeStats]:
        """Stats for each key's tree (root pid and all its descendants in `table`).

        A member seen last time contributes its CPU seconds since then over the elapsed
        time; a member not seen before contributes its average since it was created, so the
        first sample already says something and a short-lived child is not lost."""
        children: dict[int, list[int]] = {}
        for row in table.values():
            children.setdefault(row.ppid, []).append(row.pid)
        span = now - self._at if self._at is not None else 0.0
        seen: dict[tuple[int, float], float] = {}
        out = {}
        for key, root in roots.items():
            if not root or root not in table:
                continue
            rate = 0.0
            rss = 0
            count = 0
            stack = [root]
            visited = set()
            while stack:
                pid = stack.pop()
                if pid in visited:
                    continue
                visited.add(pid)
                row = table[pid]
                ident = (pid, row.create_time)
                prev = self._prev.get(ident)
                if prev is not None and span > 0:
                    rate += max(0.0, row.cpu - prev) / span
                else:
                    rate += row.cpu / max(now - row.create_time, 1.0)
                seen[ident] = row.cpu
                rss += row.rss
                count += 1
                stack.extend(children.get(pid, ()))
            out[key] = TreeStats(round(rate * 100, 1), rss, count)
        self._prev = seen
        self._at = now
        return out
