"""`wrapctl adopt --observe`: run an init script's start once and record what stays.

The start runs as root in a cgroup v2 group of its own (made under the observer's own group,
as the core makes a program's: wrapctl.core.cgroups' pure helpers), the observer being a
child subreaper, so a double-forked daemon is still found and, at the end, killed. Where no
group can be made, the subreaper alone holds the tree (a process that another service
manager starts for the script escapes it: said in the notes).

Every wait is on fds with a deadline: the launcher's pidfd for its exit, inotify on the
directories a pidfile may appear in, the group's cgroup.events for "empty". After the start
exits, the tree settles: the observer waits until nothing has happened (no process of the
tree exited, no file written in a watched directory) for QUIET seconds, never longer than
the settle deadline, and longer only while a pidfile the script names is not written yet.

Nothing of the running core is imported: this runs from the command line, once.
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from wrapctl.adopt.procinfo import Proc, Socket, listening, proc_facts
from wrapctl.core import cgroups
from wrapctl.shims import identity, inotify, procfs, reaper
from wrapctl.shims import pidfile as pidfile_rules

# Exit statuses of `wrapctl adopt --observe` beyond adopt's own (docs/adopt.md).
EXIT_REFUSED = 6        # not root, or the service is already running: nothing was run
EXIT_FAILED = 7         # the start hung past the time limit or failed: all of it was killed

TIME_LIMIT = 60.0       # seconds the start action may take
SETTLE = 5.0            # at most this long after the start exits, for the tree to be quiet
QUIET = 0.5             # nothing happening for this long is quiet
STATUS_LIMIT = 10.0     # seconds for the status action (asked before anything is started)
STOP_LIMIT = 30.0
EMPTY_LIMIT = 5.0       # for a killed group to empty
# The environment `service` gives a script (service(8) keeps only these).
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_WATCH_MASK = inotify.CREATE | inotify.CLOSE_WRITE | inotify.MOVED_TO
_IN_ISDIR = 0x40000000


class ObserveRefused(Exception):
    """Nothing was run (one line)."""


class ObserveFailed(Exception):
    """The observation ran and failed; everything it started is gone (one line)."""


@dataclass
class Observation:
    script: str
    containment: str = ""                   # "cgroup PATH" or "subreaper"
    start_status: Optional[int] = None
    output: str = ""                        # the start's last lines of output
    procs: list[Proc] = field(default_factory=list)
    pidfiles: dict[str, int] = field(default_factory=dict)     # path -> pid of the tree
    sockets: list[Socket] = field(default_factory=list)
    stop_status: Optional[int] = None
    left_after_stop: list[Proc] = field(default_factory=list)  # killed by the observer
    notes: list[str] = field(default_factory=list)

    def proc(self, pid: int) -> Optional[Proc]:
        return next((p for p in self.procs if p.pid == pid), None)

    def tops(self) -> list[Proc]:
        """Processes whose parent is not in the tree (the observer, or gone): what the
        start left behind on its own."""
        pids = {p.pid for p in self.procs}
        return [p for p in self.procs if p.ppid not in pids]

    def main(self, prefer_pidfile: str = "") -> Optional[Proc]:
        """The process a config follows: the one a pidfile names (the script's own first),
        else the top process that listens, else the oldest top process."""
        for path in [prefer_pidfile] + sorted(self.pidfiles):
            if path in self.pidfiles and self.proc(self.pidfiles[path]):
                return self.proc(self.pidfiles[path])
        tops = self.tops()
        listening = {s.pid for s in self.sockets}
        for p in sorted(tops, key=lambda p: p.start):
            if p.pid in listening or set(self.descendants(p.pid)) & listening:
                return p
        return min(tops, key=lambda p: p.start) if tops else None

    def descendants(self, pid: int) -> list[int]:
        out, todo = [], [pid]
        while todo:
            parent = todo.pop()
            kids = [p.pid for p in self.procs if p.ppid == parent]
            out += kids
            todo += kids
        return out

    def to_dict(self) -> dict:
        return {"containment": self.containment, "start_status": self.start_status,
                "procs": [p.__dict__ for p in self.procs], "pidfiles": self.pidfiles,
                "sockets": [s.__dict__ for s in self.sockets],
                "stop_status": self.stop_status,
                "left_after_stop": [p.__dict__ for p in self.left_after_stop],
                "notes": self.notes}


# -- the tree: a cgroup, or the subreaper alone ---------------------------------------------
class _Group:
    """A cgroup v2 group of the observer's own group: exact membership, cgroup.kill."""

    def __init__(self, path: str, home: str):
        self.path, self.home = path, home

    @classmethod
    def make(cls) -> Optional["_Group"]:
        (mount, _), own = cgroups._cgroup2_mount(), cgroups._own_cgroup()
        if mount is None or own is None:
            return None
        home = os.path.normpath(mount + "/" + own)
        path = os.path.join(home, f"wrapctl-observe.{os.getpid()}")
        try:
            os.mkdir(path)
        except OSError:
            return None
        if not os.access(os.path.join(home, "cgroup.procs"), os.W_OK):
            cgroups.remove(path)
            return None
        return cls(path, home)

    def spawn(self, argv: list[str], **kw) -> subprocess.Popen:
        # Born inside: the observer steps in, forks, steps out (no code runs in the child
        # before exec, and a child that forks at once cannot fork outside).
        cgroups._write(os.path.join(self.path, "cgroup.procs"), "0")
        try:
            return subprocess.Popen(argv, **kw)
        finally:
            cgroups._write(os.path.join(self.home, "cgroup.procs"), "0")

    def members(self) -> list[int]:
        return cgroups.members(self.path)

    def kill(self) -> None:
        try:
            cgroups._write(os.path.join(self.path, "cgroup.kill"), "1")
        except OSError:         # before Linux 5.14: one by one (none can leave the group)
            for pid in self.members():
                _kill(pid)

    def wait_empty(self, deadline: float) -> bool:
        events = os.path.join(self.path, "cgroup.events")
        try:
            w = inotify.Watch(events, inotify.MODIFY)
        except OSError:
            return not self.members()
        try:
            while not self._empty(events):
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([w], [], [], left)[0]:
                    return self._empty(events)
                w.read()
            return True
        finally:
            w.close()
            reaper.reap_all()

    @staticmethod
    def _empty(events: str) -> bool:
        try:
            with open(events) as f:
                return "populated 0" in f.read().split("\n")
        except OSError:
            return True

    def close(self) -> None:
        cgroups.remove(self.path)


class _Tree:
    """No group: the observer's descendants (a subreaper's orphans are its children)."""
    path = ""

    def spawn(self, argv: list[str], **kw) -> subprocess.Popen:
        return subprocess.Popen(argv, **kw)

    def members(self) -> list[int]:
        return procfs.children(os.getpid(), recursive=True, live_only=True)

    def kill(self) -> None:
        reaper.kill_tree(signal.SIGKILL)

    def wait_empty(self, deadline: float) -> bool:
        while True:
            reaper.reap_all()
            pids = self.members()
            if not pids:
                return True
            fds = [fd for fd in (_pidfd(p) for p in pids) if fd is not None]
            try:
                left = deadline - time.monotonic()
                if left <= 0 or not fds or not select.select(fds, [], [], left)[0]:
                    reaper.reap_all()
                    return not self.members()
            finally:
                for fd in fds:
                    os.close(fd)
            self.kill()         # what they forked meanwhile

    def close(self) -> None:
        pass


def _pidfd(pid: int) -> Optional[int]:
    try:
        return os.pidfd_open(pid)
    except OSError:
        return None


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class _Zombies:
    """SIGCHLD as an fd (the signal wakeup fd): orphans re-parented to the observer are
    reaped as they die. Unreaped, a daemon the stop action killed stays a zombie, and
    start-stop-daemon --retry (kill(pid, 0)) sees it alive until its whole schedule ends.
    Launchers are left to their Popen, which wants their status."""

    def __init__(self):
        self.r, self.w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.old_fd = signal.set_wakeup_fd(self.w, warn_on_full_buffer=False)
        self.old = signal.signal(signal.SIGCHLD, lambda *_: None)
        self.keep: set[int] = set()

    def fileno(self) -> int:
        return self.r

    def reap(self) -> None:
        try:
            while os.read(self.r, 4096):
                pass
        except BlockingIOError:
            pass
        for pid in procfs.children(os.getpid()):
            st = procfs.stat(pid)
            if pid not in self.keep and st is not None and st[0] in ("Z", "X"):
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass

    def close(self) -> None:
        signal.signal(signal.SIGCHLD, self.old)
        signal.set_wakeup_fd(self.old_fd)
        os.close(self.r)
        os.close(self.w)


_zombies: Optional[_Zombies] = None


def _select(fds: list[int], timeout: float, dirs: Optional["_Dirs"] = None) -> list[int]:
    """select() on fds, the directory watches and SIGCHLD; the directory events and the
    reaping are handled here. The ready fds of `fds`, and whether anything happened."""
    extra = (dirs.fds() if dirs else []) + ([_zombies.r] if _zombies else [])
    ready = select.select(list(fds) + extra, [], [], max(0.0, timeout))[0]
    for fd in ready:
        if dirs and fd in dirs.watches:
            dirs.handle(fd)
        elif _zombies and fd == _zombies.r:
            _zombies.reap()
    return ready


# -- watching directories for pidfiles ------------------------------------------------------
class _Dirs:
    """inotify on the directories a pidfile may appear in, and on the directories made in
    them while watched (a script's mkdir /run/NAME, then NAME.pid in it)."""

    def __init__(self, dirs: list[str], depth: int = 2):
        self.watches: dict[int, tuple[str, int, inotify.Watch]] = {}
        self.written: list[str] = []
        self.made: list[str] = []
        self.depth = depth
        for d in dirs:
            self.add(d, 0)

    def add(self, d: str, level: int) -> None:
        d = os.path.realpath(d)
        if any(w[0] == d for w in self.watches.values()) or not os.path.isdir(d):
            return
        try:
            w = inotify.Watch(d, _WATCH_MASK)
        except OSError:
            return
        self.watches[w.fileno()] = (d, level, w)
        if level:       # made while watched: what is in it came before the watch
            try:
                self.written += [os.path.join(d, n) for n in os.listdir(d)]
            except OSError:
                pass

    def fds(self) -> list[int]:
        return list(self.watches)

    def handle(self, fd: int) -> None:
        d, level, w = self.watches[fd]
        for mask, name in w.read():
            if not name:
                continue
            path = os.path.join(d, name)
            if mask & _IN_ISDIR:
                if mask & inotify.CREATE:
                    self.made.append(path)
                    if level < self.depth:
                        self.add(path, level + 1)
            elif path not in self.written:
                self.written.append(path)

    def close(self) -> None:
        for _, _, w in self.watches.values():
            w.close()
        self.watches.clear()


# -- the observation ------------------------------------------------------------------------
def observe(script: str, *, pidfile: str = "", watch: list[str] = (),
            time_limit: float = TIME_LIMIT, settle: float = SETTLE,
            user_check: Callable[[], int] = os.geteuid) -> Observation:
    """Run `script start`, record what stayed, run `script stop`, kill what is left.
    `pidfile`: the pidfile the reading found ("" for none), waited for and checked first;
    `watch`: directories to watch for pidfiles (the caller names /run and the script's)."""
    if user_check() != 0:
        raise ObserveRefused("--observe runs the script's start as root: run it as root")
    try:
        reaper.set_child_subreaper(True)      # before the status action runs, too
    except OSError as e:
        raise ObserveFailed(f"cannot become a child subreaper: {e.strerror}") from None
    running = _running(script, pidfile)
    if running:
        raise ObserveRefused(f"the service is already running ({running}): stop it first, "
                             "or adopt it without --observe")
    obs = Observation(script=script)
    tree = _Group.make()
    if tree is None:
        tree = _Tree()
        obs.containment = "subreaper"
        obs.notes.append("no cgroup could be made here: the start's tree was held by a child "
                         "subreaper only (a process started through another service manager "
                         "would not be seen)")
    else:
        obs.containment = f"cgroup {tree.path}"
    global _zombies
    dirs = _Dirs(list(watch) + ([os.path.dirname(pidfile)] if pidfile else []))
    _zombies = _Zombies()
    old_term = signal.signal(signal.SIGTERM, _terminated)    # still kill what was started
    try:
        _start(script, tree, dirs, obs, pidfile, time_limit, settle)
        _record(tree, dirs, obs, pidfile)
        _stop(script, tree, obs)
    except BaseException:
        tree.kill()
        tree.wait_empty(time.monotonic() + EMPTY_LIMIT)
        raise
    finally:
        signal.signal(signal.SIGTERM, old_term)
        _zombies.close()
        _zombies = None
        dirs.close()
        tree.close()
    return obs


def _terminated(signum, frame):
    raise ObserveFailed("terminated (SIGTERM): killed what the script had started")


def _env() -> dict[str, str]:
    env = {"PATH": PATH, "LANG": os.environ.get("LANG", "C")}
    if os.environ.get("TERM"):
        env["TERM"] = os.environ["TERM"]
    return env


def _launch(tree, argv: list[str], out) -> tuple[subprocess.Popen, Optional[int]]:
    try:
        p = tree.spawn(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                       env=_env(), cwd="/", close_fds=True)
    except OSError as e:
        raise ObserveFailed(f"{argv[0]}: cannot run: {e.strerror}") from None
    if _zombies:
        _zombies.keep.add(p.pid)
    return p, _pidfd(p.pid)


def _wait(p: subprocess.Popen, pidfd: Optional[int], deadline: float,
          dirs: Optional[_Dirs] = None) -> bool:
    """Wait for the launcher's exit until deadline, handling directory events meanwhile;
    True if it exited."""
    while True:
        if p.poll() is not None:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if pidfd is None and _zombies is None:
            left = min(left, QUIET)     # neither pidfd nor SIGCHLD fd: looked at again
        _select([pidfd] if pidfd is not None else [], left, dirs)


def _run(tree, argv: list[str], out, limit: float,
         dirs: Optional[_Dirs] = None) -> tuple[subprocess.Popen, bool]:
    """Run one action of the script in the tree for at most `limit` seconds: the process
    and whether it exited in time."""
    p, pidfd = _launch(tree, argv, out)
    try:
        return p, _wait(p, pidfd, time.monotonic() + limit, dirs)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _tail(f) -> str:
    f.seek(0)
    lines = f.read().decode("utf-8", "replace").strip().splitlines()
    return "\n".join(lines[-5:])


def _running(script: str, pidfile: str) -> str:
    """Why the service is already running, or "": the script's pidfile names a live
    process, or the script's own status action says so (exit 0). A status action that
    starts anything is stopped and counts as running: the script cannot be trusted here."""
    if pidfile and os.path.isabs(pidfile):
        reading = pidfile_rules.read(pidfile, 0)
        if reading.pid is not None and identity.alive(reading.pid):
            return f"{pidfile} names live pid {reading.pid}"
    tree = _Group.make() or _Tree()
    try:
        with tempfile.TemporaryFile() as out:
            p, done = _run(tree, [script, "status"], out, STATUS_LIMIT)
            left = [x for x in tree.members() if x != p.pid] if isinstance(tree, _Group) \
                else []
            if not done or left:
                tree.kill()
                tree.wait_empty(time.monotonic() + EMPTY_LIMIT)
                p.wait()
                return ("its status action " + ("did not finish" if not done else
                                                "started processes"))
            if p.returncode == 0:
                return f"`{os.path.basename(script)} status` exits 0"
    finally:
        tree.close()
    return ""


def _start(script, tree, dirs: _Dirs, obs: Observation, pidfile: str, time_limit: float,
           settle: float) -> None:
    with tempfile.TemporaryFile() as out:
        p, done = _run(tree, [script, "start"], out, time_limit, dirs)
        if not done:
            n = len(tree.members())
            tree.kill()
            tree.wait_empty(time.monotonic() + EMPTY_LIMIT)
            p.wait()
            raise ObserveFailed(f"{script} start did not finish within {time_limit:g}s:"
                                f" killed it and the {n} process(es) of its tree")
        obs.start_status = p.returncode
        obs.output = _tail(out)
    reaper.reap_all()
    _settle(tree, dirs, pidfile, settle)


def _settle(tree, dirs: _Dirs, pidfile: str, settle: float) -> None:
    """Until nothing happened for QUIET seconds (longer while the script's pidfile is not
    written), at most `settle` seconds."""
    end = time.monotonic() + settle
    last = time.monotonic()
    while True:
        now = time.monotonic()
        waiting_pidfile = pidfile and not os.path.exists(pidfile)
        until = end if waiting_pidfile else min(end, last + QUIET)
        if now >= until:
            return
        pidfds = [fd for fd in (_pidfd(pid) for pid in tree.members()) if fd is not None]
        try:
            ready = _select(pidfds, until - now, dirs)
        finally:
            for fd in pidfds:
                os.close(fd)
        if ready:
            last = time.monotonic()
            reaper.reap_all()


def _record(tree, dirs: _Dirs, obs: Observation, pidfile: str) -> None:
    pids = [p for p in tree.members() if identity.alive(p)]
    obs.procs = [x for x in (proc_facts(p) for p in sorted(pids)) if x is not None]
    alive = {p.pid for p in obs.procs}
    for path in ([pidfile] if pidfile else []) + dirs.written:
        if path in obs.pidfiles or not os.path.isfile(path):
            continue
        reading = pidfile_rules.read(path, 0)
        if reading.pid in alive:
            obs.pidfiles[path] = reading.pid
    obs.sockets = listening(alive)


def _stop(script: str, tree, obs: Observation) -> None:
    """Run the script's stop (only when the start left something: a oneshot's stop may do
    real work, halt's or networking's), note what it left, then kill the whole group."""
    p = None
    if not obs.procs:
        obs.notes.append("the start left nothing running: its stop action was not run")
    else:
        with tempfile.TemporaryFile() as out:
            p, done = _run(tree, [script, "stop"], out, STOP_LIMIT)
            if done:
                obs.stop_status = p.returncode
            else:
                obs.notes.append(f"its stop did not finish within {STOP_LIMIT:g}s: killed")
        reaper.reap_all()
        obs.left_after_stop = _left_over(tree, p.pid)
    tree.kill()
    if not tree.wait_empty(time.monotonic() + EMPTY_LIMIT):
        raise ObserveFailed(f"processes of {script}'s tree survived SIGKILL: "
                            + " ".join(map(str, tree.members())))
    if p is not None:
        p.wait()
    # A pidfile the killed daemon could not remove would make the script's next start
    # (and the next --observe) think it runs.
    if obs.left_after_stop:
        for path, pid in obs.pidfiles.items():
            if pidfile_rules.read(path, 0).pid == pid:
                try:
                    os.unlink(path)
                except OSError:
                    pass


def _left_over(tree, launcher: int) -> list[Proc]:
    """What still runs once the processes the stop signalled have had SETTLE seconds to
    exit (a stop may signal and return before its daemon is gone)."""
    end = time.monotonic() + SETTLE
    while True:
        left = [pid for pid in tree.members() if pid != launcher and identity.alive(pid)]
        fds = [fd for fd in (_pidfd(pid) for pid in left) if fd is not None]
        try:
            wait = end - time.monotonic()
            if not left or wait <= 0 or not fds or not _select(fds, wait):
                break
        finally:
            for fd in fds:
                os.close(fd)
        reaper.reap_all()
    return [x for x in (proc_facts(pid) for pid in left) if x is not None]
