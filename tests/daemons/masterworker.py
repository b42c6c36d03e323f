"""Test daemon: a master that binds 127.0.0.1:PORT (exit 1 at once if it cannot, as a daemon
whose port is taken does) and forks one worker that shares the listening socket and ignores
SIGTERM (as zabbix's children ignore a TERM not sent by their parent); both sleep.

    masterworker.py PORT
"""
import os
import signal
import socket
import sys
import time

s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError as e:
    print(f"cannot bind: {e}", flush=True)
    sys.exit(1)
s.listen()
if os.fork() == 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(1000)
    os._exit(0)
print("master up", flush=True)
time.sleep(1000)
