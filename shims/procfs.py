"""Just enough of /proc for the shim: one process's facts and the process tree.

Read directly rather than through psutil: importing psutil costs the shim about 4 MiB of
resident memory, a quarter of its budget, for four fields of /proc/PID/stat.
"""
import os


def stat(pid):
    """(state, ppid, starttime in clock ticks since boot, comm) or None if no such pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return None
    # comm is in parentheses and may itself contain ') ': split at the last one.
    lp, rp = data.find(b"("), data.rfind(b")")
    fields = data[rp + 2:].split()
    return (fields[0].decode(), int(fields[1]), int(fields[19]),
            data[lp + 1:rp].decode(errors="replace"))


def argv0(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            data = f.read(4096)
    except OSError:
        return None
    first = data.split(b"\0", 1)[0]
    return first.decode(errors="replace") if first else None


def parents(live_only=False):
    """{pid: ppid} of every process (live_only: zombies left out), from one pass over /proc."""
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            s = stat(int(name))
            if s is not None and not (live_only and s[0] in ("Z", "X")):
                out[int(name)] = s[1]
    return out


def children(pid, recursive=False, live_only=False):
    """Pids whose parent is pid (and, if recursive, their descendants), parents first.

    A zombie has no children left (they were re-parented when it died), so leaving zombies
    out loses no descendant.
    """
    ppids = parents(live_only)
    kids = {}
    for p, pp in ppids.items():
        kids.setdefault(pp, []).append(p)
    out, todo = [], sorted(kids.get(pid, ()))
    while todo:
        p = todo.pop(0)
        out.append(p)
        if recursive:
            todo.extend(sorted(kids.get(p, ())))
    return out
