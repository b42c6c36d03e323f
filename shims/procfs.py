"""Just enough of /proc for the shim and the core: one process's facts and the process tree.

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


def cmdline(pid):
    """argv of pid as text, [] for a kernel thread or a zombie, None if no such pid."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return [a.decode(errors="replace") for a in data.split(b"\0")[:-1]] if data else []


def exe(pid):
    """The path the kernel executed for pid (a deleted binary ends in ' (deleted)'), or
    None when unreadable: gone, a kernel thread, or another user's and we are not root."""
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def environ(pid, key):
    """The value of environment variable key in pid (as it was at exec), or None: unset,
    or unreadable (another user's process and we are not root)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            data = f.read()
    except OSError:
        return None
    prefix = key.encode() + b"="
    for item in data.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix):].decode("utf-8", "replace")
    return None


def cgroup(pid):
    """pid's cgroup v2 path, relative to the cgroup2 mount ('/a/b'), or None."""
    try:
        with open(f"/proc/{pid}/cgroup", "rb") as f:
            for line in f:
                if line.startswith(b"0::"):
                    return line[3:].strip().decode(errors="replace")
    except OSError:
        pass
    return None


def boot_time():
    """Seconds since the epoch at boot (btime in /proc/stat). Read each time, as psutil
    does: the kernel moves it when the wall clock is set, and create times computed by
    either must agree."""
    with open("/proc/stat", "rb") as f:
        for line in f:
            if line.startswith(b"btime"):
                return float(line.split()[1])
    raise OSError("no btime in /proc/stat")


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
