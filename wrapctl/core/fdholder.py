"""The fd holder: keeps the programs' pipes open while the core is down.

A child writing to a pipe whose every read end is closed gets SIGPIPE; output written while
nobody reads is lost. So the core hands a duplicate of each pipe end to this small process
(SCM_RIGHTS over a unix socket), which only holds them. If the core is killed, the pipes stay
open: a program that writes blocks once the pipe buffer is full, and loses nothing. The core
that starts next takes the fds back and reads on where the old one stopped.

Protocol (one request per datagram on a SOCK_SEQPACKET socket, text in UTF-8):
    PUT key              + the fds to hold under key (replacing what key held)
    DROP key
    GET                  -> one reply per key: "FD key" + its fds; then "END"
    EXIT                 -> the holder closes everything and exits
The core binds the (abstract) socket and passes it: `python -m wrapctl.core.fdholder --fd FD`.
The holder imports only the stdlib, and
sleeps in select() between requests: no timers, no wakeups.

Who may talk to whom (anyone can connect to, or bind, an abstract name): the holder serves
only a peer whose uid (SO_PEERCRED) is its own euid, the core's; anyone else is disconnected
before a byte is read. The core, in turn, sends nothing to a listener it finds bound by
another uid (keeper.py). Same-uid peers are not told apart further: they could ptrace the
core anyway, and a core started after a SIGKILL has a new pid.
"""
from __future__ import annotations

import array
import os
import selectors
import signal
import socket
import struct
import sys

MAX_FDS = 200
SEND_TIMEOUT = 10.0     # a GET reply the core does not read: the connection is dropped


def address(name: str) -> bytes:
    """The abstract-namespace address for a holder name (no length limit on the path it is
    derived from, no stale socket file)."""
    return b"\0" + name.encode()


def send(sock: socket.socket, text: str, fds=()) -> None:
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    sock.sendmsg([text.encode()], anc)


def peer(sock: socket.socket) -> tuple[int, int]:
    """(pid, uid) of the other end: the connecting process for a listener's connection;
    for the connecting side, the process that called listen() on the listener."""
    pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                         struct.calcsize("3i")))
    return pid, uid


def close_all(fds) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def recv(sock: socket.socket) -> tuple[str, list[int]]:
    fds = array.array("i")
    msg, anc, _flags, _addr = sock.recvmsg(4096, socket.CMSG_SPACE(MAX_FDS * fds.itemsize))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - (len(data) % fds.itemsize)])
    return msg.decode(), list(fds)


class Holder:
    def __init__(self, listener: socket.socket):
        self.held: dict[str, list[int]] = {}
        self.sel = selectors.DefaultSelector()
        self.listener = listener
        self.sel.register(self.listener, selectors.EVENT_READ)
        self.running = True

    def serve(self) -> None:
        while self.running:
            for key, _ in self.sel.select():
                if key.fileobj is self.listener:
                    self._accept()
                else:
                    self._request(key.fileobj)
        self.close()

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        try:
            _pid, uid = peer(conn)
        except OSError:
            uid = -1
        if uid != os.geteuid():
            conn.close()
            return
        conn.settimeout(SEND_TIMEOUT)
        self.sel.register(conn, selectors.EVENT_READ)

    def _request(self, conn: socket.socket) -> None:
        try:
            text, fds = recv(conn)
        except OSError:
            text, fds = "", []
        if not text:
            self._hang_up(conn)
            return
        verb, _, key = text.partition(" ")
        if verb == "PUT":
            self._drop(key)
            self.held[key] = fds
            return
        close_all(fds)          # nothing else carries fds: never leak what was sent
        if verb == "DROP":
            self._drop(key)
        elif verb == "GET":
            try:
                for k, held in self.held.items():
                    send(conn, f"FD {k}", held)
                send(conn, "END")
            except OSError:     # a core gone or stuck mid-reply: the holder carries on
                self._hang_up(conn)
        elif verb == "EXIT":
            self.running = False

    def _hang_up(self, conn: socket.socket) -> None:
        self.sel.unregister(conn)
        conn.close()

    def _drop(self, key: str) -> None:
        close_all(self.held.pop(key, ()))

    def close(self) -> None:
        for key in list(self.held):
            self._drop(key)
        self.listener.close()


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "--fd" and args[1].isdigit():
        listener = socket.socket(fileno=int(args[1]))     # bound and listening already
    elif len(args) == 1:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        listener.bind(address(args[0]))
        listener.listen(8)
    else:
        print("usage: python -m wrapctl.core.fdholder NAME | --fd FD", file=sys.stderr)
        return 2
    # The core's signals are not ours: a Ctrl-C or a TERM meant for the core's process
    # group must not close the pipes it left with us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # Each request wakes us; as a normal task we would preempt the core that sent it (on
    # its CPU), and a start-up of 500 programs sends 500 requests. Nothing here is urgent.
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        os.nice(10)
    except (OSError, AttributeError):
        pass
    Holder(listener).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
