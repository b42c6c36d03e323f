"""Test daemon: forks, the launcher exits 0 at once; the daemon sends its output to /dev/null,
then after DELAY seconds writes PIDFILE and sleeps.

    quietfork.py PIDFILE DELAY
"""
import os
import sys
import time

pidfile, delay = sys.argv[1], float(sys.argv[2])
if os.fork():
    os._exit(0)
os.setsid()
null = os.open("/dev/null", os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(null, fd)
time.sleep(delay)
with open(pidfile + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename(pidfile + ".tmp", pidfile)
time.sleep(1000)
