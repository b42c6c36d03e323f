"""Moves to a new pid on USR2, as nginx's binary upgrade does.

The old master renames the pidfile to PIDFILE.oldbin and forks a new master, which writes
PIDFILE; the old one exits on QUIT (or TERM) and the new one carries on.
"""
import os

import common

a = common.args()
common.daemonize()
common.write_pidfile(a.pidfile, delay=a.delay)


def upgrade():
    os.rename(a.pidfile, a.pidfile + ".oldbin")
    if os.fork() == 0:
        common.write_pidfile(a.pidfile)
        common.serve(a.log, on={"USR2": upgrade})


common.serve(a.log, on={"USR2": upgrade})
