"""What lets the core survive its own death: the state file and the fd holder.

The state file records, for every live process, who it is (pid and start time), its
instance marker and its log files; the fd holder (fdholder.py) keeps a copy of its pipe
ends. A core started after a SIGKILL reads the file, takes the pipes back, and re-attaches
to each process that is still the same process (pid and start time), instead of starting
a duplicate. The state file is rewritten at the end of the loop pass that started a
process, and at most every 50 ms for exits: a burst of spawns or exits costs one write.

Both may sit where other users can reach them (`pidfile=/tmp/supervisord.pid` puts the
state file in /tmp; abstract socket names are open to all), and a root core acts on them:
it signals the processes the file names and appends to its log paths. So:
- the file is believed only if no other user could have written it, field by field
  checked (statefile.py); otherwise one warning, and the programs start afresh;
- a recorded process is re-attached to, or stopped as no longer configured, only if it
  carries the record's instance marker or sits in the program's own cgroup (carries());
  a recorded log is used only if it is an AUTO log name of that program (process.py);
- the holder is told apart by its listener's uid (SO_PEERCRED); requests to it never block
  the core (a queue, sent when its socket is writable; given up after SEND_STALL).
"""
from __future__ import annotations

import collections
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Optional

from wrapctl.core import cgroups, fdholder, tree
from wrapctl.core.statefile import STATE_VERSION, read_state, write_state  # noqa: F401
from wrapctl.digest import sha1
from wrapctl.shims import identity

FLUSH_DELAY = 0.05
HOLDER_NAMES = 8
HOLDER_TIMEOUT = 5.0            # the holder's answer to GET; a close's last requests
SEND_STALL = 10.0               # no request taken for this long: the holder is given up
MAX_QUEUED = 4096


def config_digest(pc) -> str:
    """Identity of a process's configuration across restarts (where it was read is not)."""
    return sha1(repr(dataclasses.replace(pc, where=None)).encode()).hexdigest()


def holder_name(statefile: str) -> str:
    return "wrapctl-fdholder-" + sha1(os.path.abspath(statefile).encode()).hexdigest()[:16]


def holder_names(statefile: str) -> list[str]:
    """Where this core's holder may listen, in order. Anyone may bind an abstract name, so
    a name another user took first (its listener's uid says so) is skipped for the next."""
    base = holder_name(statefile)
    return [base] + [f"{base}.{i}" for i in range(1, HOLDER_NAMES)]


def same_process(pid: int, create_time: float) -> bool:
    """The shared identity rule (wrapctl.shims.identity): alive and created then."""
    return identity.same_process(pid, create_time)


def carries(pid: int, marker: Optional[str], cgroup: Optional[str]) -> bool:
    """pid is a process a core of ours started for this record: it carries the instance
    marker in its environment, or sits in the program's own cgroup (cgroup must already be
    checked to be that). Never pid 1, never this core."""
    if pid <= 1 or pid == os.getpid():
        return False
    if marker and tree._environ_marker(pid) == marker:
        return True
    return cgroup is not None and pid in cgroups.members(cgroup)


class Keeper:
    def __init__(self, statefile: str, loop, logger):
        self.path = statefile
        self.loop = loop
        self.logger = logger
        self.names = holder_names(statefile)
        self.name = self.names[0]           # the one in use, once connected
        self.sock: Optional[socket.socket] = None
        self.records: dict[str, dict] = {}
        self._dirty = ""          # "", "soon" (end of this loop pass) or "later" (timer)
        self._queue: collections.deque = collections.deque()   # (text, dup'd fds)
        self._progress = 0.0      # monotonic time the holder last took a request
        self._stall_timer = None
        self._holder_pidfd: Optional[int] = None    # a holder this core started

    # ---- the holder ------------------------------------------------------------------
    def connect(self) -> dict[str, list[int]]:
        """Connect to a running holder of ours (taking back what it holds) or start one.
        Only a listener bound by this core's euid is ours: a name anyone else bound first
        is skipped, and is never sent a request (let alone a pipe). OSError if no name is
        left."""
        notes: list[str] = []
        free: list[str] = []
        for name in self.names:
            held = self._try_connect(name, notes, free)
            if held is not None:
                break
        else:
            held = None
            for name in free:
                try:
                    self._start_holder(name)
                except OSError as e:
                    notes.append(f"@{name}: {e.strerror or e}")
                    continue
                held = self._try_connect(name, notes, [])
                if held is not None:
                    break
        if held is None:
            raise OSError("no usable name: " + "; ".join(notes))
        if notes:
            self.logger.warn(f"fd holder: {'; '.join(notes)}: using @{self.name}")
        return held

    def _try_connect(self, name: str, notes: list, free: list):
        """What the holder at name holds, if it is ours; None (and why in notes, or name
        in free when nothing listens there) if not."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.setblocking(False)      # a full backlog (a squatter that never accepts): no wait
        try:
            s.connect(fdholder.address(name))
        except ConnectionRefusedError:
            s.close()
            free.append(name)
            return None
        except OSError as e:
            s.close()
            notes.append(f"@{name}: {e.strerror or e}")
            return None
        pid, uid = fdholder.peer(s)
        if uid != os.geteuid():
            s.close()
            notes.append(f"@{name} is held by uid {uid} (pid {pid}), not by this core's user")
            return None
        s.settimeout(HOLDER_TIMEOUT)
        held: dict[str, list[int]] = {}
        try:
            fdholder.send(s, "GET")
            while True:
                text, fds = fdholder.recv(s)
                if text == "END" or not text:
                    break
                if not text.startswith("FD ") or text[3:] in held:
                    fdholder.close_all(fds)
                    continue
                held[text[3:]] = fds
        except OSError as e:
            s.close()
            for fds in held.values():
                fdholder.close_all(fds)
            notes.append(f"@{name} did not answer ({e.strerror or 'timed out'})")
            return None
        s.setblocking(False)      # from now on the core never waits for the holder
        self.sock = s
        self.name = name
        return held

    def _start_holder(self, name: str) -> None:
        # Bind and listen here, then hand the socket to the new holder: connecting right
        # after needs no waiting for the holder to come up (the backlog queues us).
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            listener.bind(fdholder.address(name))
            listener.listen(8)
            popen = subprocess.Popen(
                [sys.executable, "-m", "wrapctl.core.fdholder", "--fd",
                 str(listener.fileno())],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True,
                pass_fds=(listener.fileno(),))
        finally:
            listener.close()
        try:
            self._holder_pidfd = os.pidfd_open(popen.pid)
        except OSError:
            pass

    def put(self, key: str, fds: list[int]) -> None:
        self._send(f"PUT {key}", fds)

    def drop(self, key: str) -> None:
        self._send(f"DROP {key}")

    def _send(self, text: str, fds=()) -> None:
        """Send without ever blocking: what the holder cannot take now waits in a queue
        (fds duplicated: the originals may be closed, their numbers reused, before it goes)
        and is sent when the socket is writable."""
        if self.sock is None:
            return
        if not self._queue:
            try:
                fdholder.send(self.sock, text, fds)
                return
            except BlockingIOError:
                self._progress = time.monotonic()
                self.loop.add_writer(self.sock.fileno(), self._send_queued)
                self._stall_timer = self.loop.call_later(SEND_STALL, self._check_stall)
            except OSError as e:
                self._give_up(e.strerror or str(e))
                return
        if len(self._queue) >= MAX_QUEUED:
            self._give_up(f"{MAX_QUEUED} requests are waiting")
            return
        self._queue.append((text, [os.dup(fd) for fd in fds]))

    def _send_queued(self) -> None:
        while self._queue:
            text, fds = self._queue[0]
            try:
                fdholder.send(self.sock, text, fds)
            except BlockingIOError:
                return
            except OSError as e:
                self._give_up(e.strerror or str(e))
                return
            self._queue.popleft()
            fdholder.close_all(fds)
            self._progress = time.monotonic()
        self._stop_queueing()

    def _check_stall(self) -> None:
        self._stall_timer = None
        if not self._queue:
            return
        idle = time.monotonic() - self._progress
        if idle >= SEND_STALL:
            self._give_up(f"it has taken no request for {SEND_STALL:g} s")
        else:
            self._stall_timer = self.loop.call_later(SEND_STALL - idle, self._check_stall)

    def _stop_queueing(self) -> None:
        if self.sock is not None:
            self.loop.remove_writer(self.sock.fileno())
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
        while self._queue:
            fdholder.close_all(self._queue.popleft()[1])

    def _give_up(self, why: str) -> None:
        self.logger.warn(f"fd holder @{self.name}: {why}: no longer used; output written "
                         "while the core is down will be lost")
        self._stop_queueing()
        self.sock.close()
        self.sock = None
        if self._holder_pidfd is not None:
            # Ours and useless now: it must not linger holding copies of the pipes.
            try:
                signal.pidfd_send_signal(self._holder_pidfd, signal.SIGKILL)
            except OSError:
                pass
            os.close(self._holder_pidfd)
            self._holder_pidfd = None

    def close(self, stop_holder: bool) -> None:
        """stop_holder: every program has stopped, nothing is left to keep."""
        if self.sock is not None:
            # Bounded waits from here: the loop is ending, and what is queued must reach
            # the holder (a restart re-attaches with it) unless nothing is left to keep.
            queued = [] if stop_holder else list(self._queue)
            self._queue.clear()
            self.loop.remove_writer(self.sock.fileno())
            if self._stall_timer is not None:
                self._stall_timer.cancel()
                self._stall_timer = None
            self.sock.settimeout(HOLDER_TIMEOUT)
            try:
                for text, fds in queued:
                    fdholder.send(self.sock, text, fds)
                if stop_holder:
                    fdholder.send(self.sock, "EXIT")
            except OSError as e:
                self.logger.warn(f"fd holder @{self.name}: {e.strerror or 'timed out'} "
                                 "while closing")
            for _text, fds in queued:
                fdholder.close_all(fds)
            self.sock.close()
            self.sock = None
        if self._holder_pidfd is not None:
            os.close(self._holder_pidfd)
            self._holder_pidfd = None
        self._flush()
        if stop_holder:
            try:
                os.unlink(self.path)
            except OSError:
                pass

    # ---- the state file ----------------------------------------------------------------
    def record(self, key: str, rec: Optional[dict]) -> None:
        if rec is None:
            self.records.pop(key, None)
        else:
            self.records[key] = rec
        if self._dirty == "soon" or (self._dirty and rec is None):
            return
        # A new process is written at the end of this loop pass (a start-up's spawns all
        # happen in one pass: one write); that must not wait, or a core killed right after
        # a spawn would start a duplicate. A removal can wait: a stale record is harmless
        # (the next core checks pid and start time), and a stop of everything is one write.
        if rec is not None:
            self._dirty = "soon"
            self.loop.call_soon(self._flush)
        else:
            self._dirty = "later"
            self.loop.call_later(FLUSH_DELAY, self._flush)

    def _flush(self) -> None:
        if not self._dirty:
            return
        self._dirty = ""
        data = json.dumps({"version": STATE_VERSION, "daemon": os.getpid(),
                           "processes": self.records}).encode()
        try:
            write_state(self.path, data)
        except OSError as e:
            self.logger.warn(f"cannot write state file {self.path}: {e.strerror or e}")
