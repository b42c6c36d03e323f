#!/usr/bin/env python3
"""A classic forking daemon, as an init script would start it: double-forks, writes its
pidfile, and returns to the shell at once. Logs a heartbeat line every 5 s to a file.
Under plain supervisord this would be "Exited too quickly"; under wrapctl-shim it is kept
alive (kill -9 the pid in the pidfile and watch it come back)."""
import os
import sys
import time

pidfile, logfile = sys.argv[1], sys.argv[2]
if os.fork():
    os._exit(0)
os.setsid()
if os.fork():
    os._exit(0)
with open(pidfile, "w") as f:
    f.write(f"{os.getpid()}\n")
n = 0
while True:
    with open(logfile, "a") as f:
        f.write(f"forkd {os.getpid()} heartbeat {n}\n")
    n += 1
    time.sleep(5)
