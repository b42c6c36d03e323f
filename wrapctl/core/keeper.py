"""What lets the core survive its own death: the state file and the fd holder.

The state file records, for every live process, who it is (pid and start time), its
instance marker and its log files; the fd holder (fdholder.py) keeps a copy of its pipe
ends. A core started after a SIGKILL reads the file, takes the pipes back, and re-attaches
to each process that is still the same process (pid and start time), instead of starting
a duplicate. The state file is rewritten at the end of the loop pass that started a
process, and at most every 50 ms for exits: a burst of spawns or exits costs one write.
"""
from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
from typing import Optional

import psutil

from wrapctl.core import fdholder
from wrapctl.digest import sha1

STATE_VERSION = 1
FLUSH_DELAY = 0.05


def config_digest(pc) -> str:
    """Identity of a process's configuration across restarts (where it was read is not)."""
    return sha1(repr(dataclasses.replace(pc, where=None)).encode()).hexdigest()


def holder_name(statefile: str) -> str:
    return "wrapctl-fdholder-" + sha1(os.path.abspath(statefile).encode()).hexdigest()[:16]


def read_state(path: str) -> dict:
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        return {}
    procs = data.get("processes")
    return procs if isinstance(procs, dict) else {}


def same_process(pid: int, create_time: float) -> bool:
    try:
        p = psutil.Process(pid)
        return abs(p.create_time() - create_time) < 0.01 and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class Keeper:
    def __init__(self, statefile: str, loop, logger):
        self.path = statefile
        self.loop = loop
        self.logger = logger
        self.name = holder_name(statefile)
        self.sock: Optional[socket.socket] = None
        self.records: dict[str, dict] = {}
        self._dirty = ""          # "", "soon" (end of this loop pass) or "later" (timer)

    # ---- the holder ------------------------------------------------------------------
    def connect(self) -> dict[str, list[int]]:
        """Connect to a running holder (taking back what it holds) or start one."""
        held = self._try_connect()
        if held is not None:
            return held
        # Bind and listen here, then hand the socket to the new holder: connecting right
        # after needs no waiting for the holder to come up (the backlog queues us).
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            listener.bind(fdholder.address(self.name))
            listener.listen(8)
            subprocess.Popen([sys.executable, "-m", "wrapctl.core.fdholder", "--fd",
                              str(listener.fileno())],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True,
                             pass_fds=(listener.fileno(),))
        finally:
            listener.close()
        held = self._try_connect()
        if held is None:
            raise OSError("cannot connect to the fd holder it just started")
        return held

    def _try_connect(self) -> Optional[dict[str, list[int]]]:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            s.connect(fdholder.address(self.name))
        except OSError:
            s.close()
            return None
        fdholder.send(s, "GET")
        held = {}
        while True:
            text, fds = fdholder.recv(s)
            if text == "END" or not text:
                break
            held[text[3:]] = fds
        self.sock = s
        return held

    def put(self, key: str, fds: list[int]) -> None:
        if self.sock is not None:
            try:
                fdholder.send(self.sock, f"PUT {key}", fds)
            except OSError as e:
                self.logger.warn(f"fd holder: cannot hand over pipes of {key}: {e}")

    def drop(self, key: str) -> None:
        if self.sock is not None:
            try:
                fdholder.send(self.sock, f"DROP {key}")
            except OSError:
                pass

    def close(self, stop_holder: bool) -> None:
        """stop_holder: every program has stopped, nothing is left to keep."""
        if self.sock is None:
            return
        if stop_holder:
            try:
                fdholder.send(self.sock, "EXIT")
            except OSError:
                pass
            self._flush()
            try:
                os.unlink(self.path)
            except OSError:
                pass
        else:
            self._flush()
        self.sock.close()
        self.sock = None

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
        tmp = f"{self.path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w") as f:
                json.dump({"version": STATE_VERSION, "daemon": os.getpid(),
                           "processes": self.records}, f)
            os.replace(tmp, self.path)
        except OSError as e:
            self.logger.warn(f"cannot write state file {self.path}: {e.strerror}")
