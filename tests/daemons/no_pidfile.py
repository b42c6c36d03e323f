"""A daemon that double-forks and never writes the pidfile it is told about."""
import common

a = common.args()
common.daemonize()
common.serve(a.log)
