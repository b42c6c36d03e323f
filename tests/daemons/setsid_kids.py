"""A daemon that starts --kids grandchildren which call setsid() and ignore TERM and HUP.

The grandchildren's pids go to --kids-file; they outlive the daemon unless SIGKILLed.
"""
import os
import signal
import time

import common


def extra(p):
    p.add_argument("--kids", type=int, default=2)
    p.add_argument("--kids-file")


a = common.args(extra)
common.daemonize()
pids = []
for _ in range(a.kids):
    pid = os.fork()
    if pid == 0:
        os.setsid()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        while True:
            time.sleep(3600)
    pids.append(pid)
if a.kids_file:
    with open(a.kids_file + ".tmp", "w") as f:
        f.write(" ".join(map(str, pids)) + "\n")
    os.rename(a.kids_file + ".tmp", a.kids_file)
common.write_pidfile(a.pidfile, delay=a.delay)
common.serve(a.log)
