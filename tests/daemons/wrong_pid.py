"""A daemon whose pidfile names another process (--pid: a reused or outside pid)."""
import common


def extra(p):
    p.add_argument("--pid", required=True)


a = common.args(extra)
common.daemonize()
with open(a.pidfile, "w") as f:
    f.write(a.pid + "\n")
common.serve(a.log)
