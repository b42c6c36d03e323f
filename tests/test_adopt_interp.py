"""wrapctl.adopt.interp and .recognize: what each action of an init script runs, read
without running it. Scripts are made-up text in the shapes real ones take; settings files
live under a temporary root (pure: no process is started)."""
from __future__ import annotations

import os

import pytest

from wrapctl.adopt.interp import interpret
from wrapctl.adopt.recognize import recognize
from wrapctl.adopt.records import UNKNOWN
from wrapctl.initscript import read_script

pytestmark = pytest.mark.timeout(60)

HEAD = "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: {provides}\n### END INIT INFO\n"


def put(root, path, text):
    p = os.path.join(str(root), path.lstrip("/"))
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        f.write(text)
    return p


def read(tmp_path, body, name="svc", provides="svc", files=None):
    for path, text in (files or {}).items():
        put(tmp_path, path, text)
    text = HEAD.format(provides=provides) + body
    path = put(tmp_path, f"/etc/init.d/{name}", text)
    it = interpret(path, text, root=str(tmp_path))
    return it, recognize(it, provides=[provides], script=path), path


def test_bare_daemon_in_a_function_is_the_launch(tmp_path):
    it, rec, _ = read(tmp_path, """
DAEMON=/usr/sbin/zeroconfd
d_start() {
    $DAEMON -D
}
d_stop() {
    $DAEMON -k
}
case "$1" in
  start) d_start ;;
  stop) d_stop ;;
esac
""")
    la = rec.launch
    assert la is not None and la.style == "direct"
    assert (la.exec, la.args) == ("/usr/sbin/zeroconfd", ["-D"])
    assert rec.run.funcs == ("d_start",)


def test_loader_started_and_stopped_by_verb_is_not_a_daemon(tmp_path):
    # named like its Provides, stopped by verb, no process looked for: a oneshot
    _, rec, _ = read(tmp_path, """
case "$1" in
  start) /usr/sbin/rulesload start ;;
  stop) /usr/sbin/rulesload stop ;;
esac
""", name="rulesload", provides="rulesload")
    assert rec.launch is None


def test_launch_is_what_the_command_is_not_the_scripts_name(tmp_path):
    _, rec, _ = read(tmp_path, """
case "$1" in
  start) start-stop-daemon --start --exec /usr/bin/other-binary -- -x ;;
  stop) start-stop-daemon --stop --exec /usr/bin/other-binary ;;
esac
""", name="mysvc", provides="mysvc")
    assert rec.launch.exec == "/usr/bin/other-binary" and rec.launch.args == ["-x"]


def test_or_default_prepends_an_option(tmp_path):
    # `cmd || OPTIONS="--daemon $OPTIONS"`: the test cannot be decided, the default is taken
    _, rec, _ = read(tmp_path, """
DAEMON=/usr/sbin/tftpsrv
OPTIONS="--port 69"
[ -r /etc/default/tftpsrv ] && . /etc/default/tftpsrv
grep -q '^USE_INETD=false' /etc/default/tftpsrv || OPTIONS="--daemon $OPTIONS"
case "$1" in
  start) start-stop-daemon --start --exec $DAEMON -- $OPTIONS ;;
  stop) start-stop-daemon --stop --exec $DAEMON ;;
esac
""")
    assert rec.launch.args == ["--daemon", "--port", "69"]


def test_appends_under_decided_tests_with_settings_from_defaults(tmp_path):
    it, rec, _ = read(tmp_path, """
CONF=/etc/webd.conf
. $CONF
ARGS="-r $web_root"
test "$web_port" != "" && ARGS="$ARGS -p $web_port"
test "$web_user" != "" && ARGS="$ARGS -u $web_user"
test "$web_group" != "" && ARGS="$ARGS -g $web_group"
if [ "$web_syslog" = "true" ]; then ARGS="$ARGS -s"; fi
case "$1" in
  start) start-stop-daemon --start --pidfile /run/webd.pid --exec /usr/bin/webd -- $ARGS ;;
  stop) start-stop-daemon --stop --pidfile /run/webd.pid ;;
esac
""", files={"/etc/webd.conf": "web_root=/srv\nweb_port=8000\nweb_user=www\n"
                              "web_syslog=false\n"})
    assert rec.launch.args == ["-r", "/srv", "-p", "8000", "-u", "www"]


def test_pidfile_only_in_stop_and_status(tmp_path):
    for stop, status in (
            ("start-stop-daemon --stop --pidfile /run/acd.pid --exec $DAEMON", "true"),
            ("killproc -p /run/acd.pid $DAEMON", "true"),
            ("killproc $DAEMON", "status_of_proc -p /run/acd.pid $DAEMON acd")):
        _, rec, _ = read(tmp_path, f"""
DAEMON=/usr/sbin/acd
case "$1" in
  start) start-stop-daemon --start --exec $DAEMON ;;
  stop) {stop} ;;
  status) {status} ;;
esac
""")
        assert rec.launch.pidfile == "/run/acd.pid", stop
        assert rec.pidfile_from.split()[0] == ("stop" if status == "true" else "status")


def test_pidfile_of_another_program_is_not_taken(tmp_path):
    _, rec, _ = read(tmp_path, """
case "$1" in
  start) start-stop-daemon --start --exec /usr/sbin/main ;;
  stop) start-stop-daemon --stop --pidfile /run/helper.pid --exec /usr/sbin/helper
        start-stop-daemon --stop --exec /usr/sbin/main ;;
esac
""")
    assert rec.launch.pidfile == ""


def test_stop_signal_from_the_normal_path_not_the_escalation(tmp_path):
    _, rec, _ = read(tmp_path, """
PIDFILE=/run/app.pid
case "$1" in
  start) start-stop-daemon --start --background --make-pidfile --pidfile $PIDFILE \\
             --exec /usr/bin/appd ;;
  stop)
    if start-stop-daemon --test --start --pidfile $PIDFILE --exec /usr/bin/appd; then
        echo not running
    else
        start-stop-daemon --stop --pidfile $PIDFILE --startas /usr/bin/appd
        while ! start-stop-daemon --test --start --pidfile $PIDFILE; do
            sleep 1
            if [ $LEFT -ge 0 ]; then
                start-stop-daemon --stop --oknodo --pidfile $PIDFILE
            else
                start-stop-daemon --stop --signal 9 --pidfile $PIDFILE
            fi
        done
    fi ;;
esac
""")
    assert rec.stop_signal == "TERM"
    _, rec, _ = read(tmp_path, """
case "$1" in
  start) start-stop-daemon --start --pidfile /run/c.pid --exec /usr/sbin/c ;;
  stop)
    FORCE=$(cat /run/c.force)
    if [ -n "$FORCE" ]; then
        start-stop-daemon --stop --signal KILL --pidfile /run/c.pid
    fi
    start-stop-daemon --stop --signal QUIT --pidfile /run/c.pid ;;
esac
""")
    assert rec.stop_signal == "QUIT"
    _, rec, _ = read(tmp_path, """
case "$1" in
  start) start-stop-daemon --start --pidfile /run/b.pid --exec /usr/sbin/b ;;
  stop) start-stop-daemon --stop --retry TERM/30/KILL/5 --pidfile /run/b.pid ;;
esac
""")
    assert (rec.stop_signal, rec.stop_timeout) == ("TERM", 30)


def test_decided_branch_is_taken_and_the_fallback_is_not(tmp_path):
    _, rec, _ = read(tmp_path, """
[ -r /etc/default/svc ] && . /etc/default/svc
if [ "$USE_WRAP" = "yes" ]; then
    CMD="/usr/bin/wrapbind --deep /usr/sbin/svcd"
else
    CMD="/usr/sbin/svcd"
fi
case "$1" in
  start) start-stop-daemon --start --pidfile /run/svc.pid --startas $CMD ;;
  stop) start-stop-daemon --stop --pidfile /run/svc.pid ;;
esac
""", files={"/etc/default/svc": "USE_WRAP=no\n"})
    assert rec.launch.startas == "/usr/sbin/svcd"


def test_disabled_start_is_still_seen_and_said(tmp_path):
    it, rec, _ = read(tmp_path, """
ENABLED=0
[ -r /etc/default/svc ] && . /etc/default/svc
case "$1" in
  start)
    if [ "$ENABLED" = 1 ]; then
        start-stop-daemon --start --pidfile /run/s.pid --exec /usr/sbin/sd
    fi ;;
  stop) start-stop-daemon --stop --pidfile /run/s.pid ;;
esac
""")
    assert rec.launch.exec == "/usr/sbin/sd"
    assert rec.run.dead and "ENABLED" in rec.run.dead


def test_per_instance_settings_sourced_from_a_loop(tmp_path):
    # settings read per instance by `. $1` in a function, instances from a glob under root
    it, rec, _ = read(tmp_path, """
load() {
    unset PIDFILE OPTS
    . $1
}
case "$1" in
  start)
    for conf in /etc/authd/*.conf; do
        load $conf
        start-stop-daemon --start --pidfile $PIDFILE --exec /usr/sbin/authd -- $OPTS
    done ;;
  stop) start-stop-daemon --stop --exec /usr/sbin/authd ;;
esac
""", files={"/etc/authd/a.conf": "PIDFILE=/run/authd-a.pid\nOPTS='-a pam'\n",
            "/etc/authd/b.conf": "PIDFILE=/run/authd-b.pid\nOPTS='-a ldap -c'\n"})
    ssd = [r for r in it.runs("start") if r.head == "start-stop-daemon"]
    assert [r.argv[3] for r in ssd] == ["/run/authd-a.pid", "/run/authd-b.pid"]
    assert ssd[1].argv[-3:] == ["-a", "ldap", "-c"]
    assert ssd[0].loop == (("conf", "/etc/authd/a.conf"),)
    assert rec.launch.pidfile == "/run/authd-a.pid"


def test_user_from_wrappers(tmp_path):
    it, rec, _ = read(tmp_path, """
DAEMON=/usr/bin/queued
RUNAS=queue
case "$1" in
  start) su -s /bin/sh -c "exec $DAEMON --detach" $RUNAS ;;
  stop) killall queued ;;
esac
""")
    assert (rec.launch.exec, rec.launch.args, rec.launch.user) == \
        ("/usr/bin/queued", ["--detach"], "queue")
    assert rec.run.via[0] == "su"
    it, rec, _ = read(tmp_path, """
case "$1" in
  start) runuser -u cache -- /usr/sbin/cached -d & ;;
  stop) pkill -x cached ;;
esac
""")
    assert (rec.launch.exec, rec.launch.user, rec.launch.background) == \
        ("/usr/sbin/cached", "cache", True)
    _, rec, _ = read(tmp_path, """
case "$1" in
  start) start-stop-daemon --start --chuid mail:mail --exec /usr/sbin/mq ;;
  stop) start-stop-daemon --stop --exec /usr/sbin/mq ;;
esac
""")
    assert (rec.launch.user, rec.launch.group) == ("mail", "mail")


def test_function_positional_arguments_and_case_dispatch(tmp_path):
    it, rec, _ = read(tmp_path, """
run_ssd() {
    start-stop-daemon "$@" --pidfile /run/m.pid --exec /usr/sbin/m
}
case "$1" in
  start) run_ssd --start --chdir /srv ;;
  stop) run_ssd --stop --signal INT ;;
  reload) run_ssd --stop --signal HUP ;;
  status) status_of_proc -p /run/m.pid /usr/sbin/m m ;;
esac
""")
    la = rec.launch
    assert (la.pidfile, la.chdir, la.exec) == ("/run/m.pid", "/srv", "/usr/sbin/m")
    assert rec.stop_signal == "INT" and rec.reload_signal == "HUP"
    assert [r.head for r in it.runs("status")] == ["status_of_proc"]
    assert it.runs("restart") == []


def test_unknown_values_stay_symbolic_and_are_reported(tmp_path):
    it, rec, path = read(tmp_path, """
PORT=$(awk '/^port/ {print $2}' /etc/q.conf)
case "$1" in
  start) start-stop-daemon --start --exec /usr/sbin/q -- --port $PORT ;;
  stop) start-stop-daemon --stop --exec /usr/sbin/q ;;
esac
""")
    assert rec.launch.args == ["--port", UNKNOWN]
    whats = {(u.what, u.line) for u in it.unresolved if u.file == path}
    assert ("$(awk '/^port/ {print $2}' /etc/q.conf)", 6) in whats


def test_defaults_guard_and_colon_equals(tmp_path):
    _, rec, _ = read(tmp_path, """
[ -r /etc/default/svc ] && . /etc/default/svc
[ -n "$PIDFILE" ] || PIDFILE=/run/default.pid
: ${USER_NAME:=nobody}
case "$1" in
  start) start-stop-daemon --start -c $USER_NAME -p $PIDFILE -x /usr/sbin/s ;;
  stop) start-stop-daemon --stop -p $PIDFILE ;;
esac
""", files={"/etc/default/svc": "PIDFILE=/run/fromdefaults.pid\n"})
    assert (rec.launch.pidfile, rec.launch.user) == ("/run/fromdefaults.pid", "nobody")


def test_read_script_takes_what_the_line_reader_missed(tmp_path):
    """Through read_script (what adopt and migrate use): a daemon started in a function by
    a bare `$DAEMON -D` and a pidfile named only by the stop action."""
    path = put(tmp_path, "/etc/init.d/zc", HEAD.format(provides="zc") + """
DAEMON=/usr/sbin/zcd
do_it() { $DAEMON -D; }
case "$1" in
  start) do_it ;;
  stop) $DAEMON -k ;;
esac
""")
    info = read_script(path, root=str(tmp_path))
    assert info.kind == "daemon" and info.daemon == "/usr/sbin/zcd" and info.args == ["-D"]
    path = put(tmp_path, "/etc/init.d/ups", HEAD.format(provides="ups") + """
case "$1" in
  start) start-stop-daemon --start --exec /sbin/upsd ;;
  stop) start-stop-daemon --stop --pidfile /run/upsd.pid --exec /sbin/upsd ;;
esac
""")
    info = read_script(path, root=str(tmp_path))
    assert info.pidfile == "/run/upsd.pid" and info.pidfile_from.startswith("stop")


def test_library_that_sources_the_script(tmp_path):
    """`set "$0" "$@"; SOURCED=true . LIB`, LIB sourcing the script back: the shape of
    scripts on a helper library that runs them (made-up library under the root)."""
    put(tmp_path, "/usr/lib/svclib/run-script", """
__script="$1"
shift
. "$__script"
: ${NAME:=${DAEMON##*/}}
[ -z "$PIDFILE" ] && PIDFILE=/run/$NAME.pid
do_start() { start-stop-daemon --start --pidfile $PIDFILE --exec $DAEMON -- $DAEMON_ARGS; }
do_stop() { start-stop-daemon --stop --pidfile $PIDFILE --exec $DAEMON; }
case "$1" in
  start) do_start ;;
  stop) do_stop ;;
esac
exit 0
""")
    _, rec, _ = read(tmp_path, """
if [ true != "$LIB_SOURCED" ]; then
    set "$0" "$@"; LIB_SOURCED=true . /usr/lib/svclib/run-script
fi
DAEMON=/usr/sbin/libd
DAEMON_ARGS="-q"
""")
    la = rec.launch
    assert (la.exec, la.pidfile, la.args) == ("/usr/sbin/libd", "/run/libd.pid", ["-q"])
