"""Double-forks, listens on a loopback port, writes no pidfile; answers each connection
with its own pid. --pair: the launcher leaves two unrelated daemons (two double forks), the
second one listening on port+1. --stay S: the launcher stays S seconds before exiting 0.
--pidfile F: named, never written (as a daemon whose pidfile option is ignored)."""
import argparse
import os
import socket
import sys
import time


def daemon(port):
    if os.fork():
        return
    os.setsid()
    if os.fork():
        os._exit(0)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(8)
    while True:
        c, _ = s.accept()
        c.sendall(f"{os.getpid()}\n".encode())
        c.close()


p = argparse.ArgumentParser()
p.add_argument("port", type=int)
p.add_argument("--pair", action="store_true")
p.add_argument("--stay", type=float, default=0.0)
p.add_argument("--pidfile")
a = p.parse_args()
daemon(a.port)
if a.pair:
    daemon(a.port + 1)
time.sleep(a.stay)
sys.exit(0)
