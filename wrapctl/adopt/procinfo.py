"""What /proc says about the processes an observation found: each one's facts (Proc) and
the sockets they listen on (Socket), read directly, as wrapctl.shims.procfs does."""
from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from typing import Optional

from wrapctl.shims import procfs


@dataclass
class Proc:
    pid: int
    ppid: int
    exe: str
    argv: list[str]
    uid: int
    user: str
    cwd: str
    start: int = 0          # start time in clock ticks since boot


@dataclass
class Socket:
    kind: str               # tcp | unix
    pid: int
    host: str = ""
    port: int = 0
    path: str = ""

    @property
    def ready(self) -> str:
        if self.kind == "unix":
            return f"unix:{self.path}"
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        return f"tcp:[{host}]:{self.port}" if ":" in host else f"tcp:{host}:{self.port}"


def proc_facts(pid: int) -> Optional[Proc]:
    st = procfs.stat(pid)
    argv = procfs.cmdline(pid)
    if st is None or argv is None:
        return None
    uid = -1
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    uid = int(line.split()[2])      # effective
                    break
    except (OSError, ValueError, IndexError):
        pass
    try:
        user = pwd.getpwuid(uid).pw_name
    except (KeyError, OverflowError):
        user = str(uid)
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        cwd = ""
    while argv and not argv[-1]:
        argv = argv[:-1]        # a rewritten title's padding (nginx: worker process)
    exe = procfs.exe(pid) or ""
    if exe.endswith(" (deleted)"):
        exe = exe[:-len(" (deleted)")]
    return Proc(pid=pid, ppid=st[1], exe=exe, argv=argv, uid=uid, user=user, cwd=cwd,
                start=st[2])


def _socket_inodes(pid: int) -> set[int]:
    out = set()
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return out
    for n in names:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{n}")
        except OSError:
            continue
        if link.startswith("socket:["):
            out.add(int(link[8:-1]))
    return out


def _addr(hexaddr: str) -> tuple[str, int]:
    import ipaddress
    host, port = hexaddr.split(":")
    raw = bytes.fromhex(host)
    # /proc/net/tcp{,6} prints each 32-bit word of the address in host (little-endian) order.
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(raw)), int(port, 16)


def listening(pids: set[int]) -> list[Socket]:
    """Listening TCP and unix sockets held by `pids`, read from /proc/PID/net of each
    network namespace they are in, matched by socket inode."""
    owner: dict[int, int] = {}
    netns: dict[str, int] = {}
    for pid in sorted(pids):
        for ino in _socket_inodes(pid):
            owner.setdefault(ino, pid)
        try:
            netns.setdefault(os.readlink(f"/proc/{pid}/ns/net"), pid)
        except OSError:
            pass
    out: list[Socket] = []
    seen: set[tuple] = set()
    for pid in netns.values():
        for table in ("tcp", "tcp6"):
            for fields in _rows(f"/proc/{pid}/net/{table}"):
                if len(fields) < 10 or fields[3] != "0A":        # TCP_LISTEN
                    continue
                ino = int(fields[9])
                if ino in owner:
                    host, port = _addr(fields[1])
                    key = ("tcp", host, port)
                    if key not in seen:
                        seen.add(key)
                        out.append(Socket("tcp", owner[ino], host=host, port=port))
        for fields in _rows(f"/proc/{pid}/net/unix"):
            # Flags __SO_ACCEPTCON (0x10000): a listening socket.
            if len(fields) < 8 or not int(fields[3], 16) & 0x10000:
                continue
            ino = int(fields[6])
            if ino in owner and ("unix", fields[7]) not in seen:
                seen.add(("unix", fields[7]))
                out.append(Socket("unix", owner[ino], path=fields[7]))
    return sorted(out, key=lambda s: (s.kind != "tcp", s.port, s.path))


def _rows(path: str) -> list[list[str]]:
    try:
        with open(path) as f:
            return [line.split() for line in f.read().splitlines()[1:]]
    except OSError:
        return []
