"""Double-forks, then writes its pidfile after --delay seconds; exits 0 on TERM/INT/QUIT.

--exit-after S: die on its own with status --status after S seconds (crash simulation).
"""
import signal
import sys

import common


def extra(p):
    p.add_argument("--exit-after", type=float)
    p.add_argument("--status", type=int, default=3)


a = common.args(extra)
common.daemonize()
if a.pidfile:
    common.write_pidfile(a.pidfile, delay=a.delay)
if a.exit_after is not None:
    signal.signal(signal.SIGALRM, lambda *_: sys.exit(a.status))
    signal.setitimer(signal.ITIMER_REAL, a.exit_after)
common.serve(a.log)
