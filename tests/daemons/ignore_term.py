"""A daemon that ignores TERM (logs it and carries on): only SIGKILL ends it."""
import common

a = common.args()
common.daemonize()
common.write_pidfile(a.pidfile, delay=a.delay)
common.serve(a.log, on={"TERM": lambda: None}, default_exit=("QUIT",))
