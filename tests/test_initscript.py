"""The init-script reader: shell words, LSB header, start-stop-daemon, styles, oneshots; and
that it never runs anything."""
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wrapctl.initscript import ScriptError, parse_lsb, read_script
from wrapctl.launch import parse_ssd
from wrapctl.shellwords import UNRESOLVED, Expander, split_commands

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "fixtures", "initd", "scripts")
ROOT = os.path.join(HERE, "fixtures", "initd", "root")


def expand(word, **env):
    return Expander(env.get).word_fields(word)


@pytest.mark.parametrize("word,env,want", [
    ("$A", {"A": "x y"}, ["x", "y"]),
    ('"$A"', {"A": "x y"}, ["x y"]),
    ("'$A'", {"A": "x"}, ["$A"]),
    ("${A:-/run/d.pid}", {}, ["/run/d.pid"]),
    ("${A:-/run/d.pid}", {"A": ""}, ["/run/d.pid"]),
    ("${A-/run/d.pid}", {"A": ""}, []),
    ("${A:+-n $A}", {"A": "5"}, ["-n", "5"]),
    ("${A:+-n $A}", {}, []),
    ("${F#/etc/}", {"F": "/etc/memcached_a.conf"}, ["memcached_a.conf"]),
    ("${F%.conf}", {"F": "memcached_a.conf"}, ["memcached_a"]),
    ("${F##*/}", {"F": "/a/b/c.conf"}, ["c.conf"]),
    ("${F%%.*}", {"F": "c.conf.old"}, ["c"]),
    ("pre${A}post", {"A": "-"}, ["pre-post"]),
    ('"${A:-a b}"', {}, ["a b"]),
    ("$(cat /x)", {}, [UNRESOLVED]),
    ("`cat /x`", {}, [UNRESOLVED]),
    ("${A:-$(cat /x)}", {"A": "ok"}, ["ok"]),
    ("\\$A", {"A": "no"}, ["$A"]),
])
def test_expansion(word, env, want):
    assert expand(word, **env) == want


def test_split_commands_keeps_substitutions_and_operators():
    cmds = split_commands('R=$(start-stop-daemon --start -x "$D" 2>&1) || echo "a;b" && x &')
    assert [c[0] for c in cmds] == [['R=$(start-stop-daemon --start -x "$D" 2>&1)'],
                                    ["echo", '"a;b"'], ["x"]]
    assert [c[1] for c in cmds] == ["", "||", "&&"]
    assert cmds[-1][2] is True
    assert split_commands("start) do_start ;; # comment") == [
        (["start)", "do_start"], "", False), ([";;"], ";", False)]


def test_lsb_header_with_continuation():
    text = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          a b
# Required-Start:    $network $remote_fs
# Should-Start:      c
# Default-Start:     2 3 4 5
# Short-Description: short
# Description:       long text
#                    that goes on
# X-Interactive:     true
### END INIT INFO
"""
    lsb = parse_lsb(text)
    assert lsb["Provides"] == "a b"
    assert lsb["Required-Start"] == "$network $remote_fs"
    assert lsb["Description"] == "long text that goes on"
    assert lsb["X-Interactive"] == "true"


@pytest.mark.parametrize("args,field,value", [
    (["--start", "--exec", "/usr/sbin/d", "--", "-a", "b"], "args", ["-a", "b"]),
    (["-S", "-x", "/usr/sbin/d"], "exec", "/usr/sbin/d"),
    (["-oqS", "-x/usr/sbin/d", "-p/run/d.pid"], "pidfile", "/run/d.pid"),
    (["--start", "--exec=/usr/sbin/d", "--pidfile=/run/d.pid"], "pidfile", "/run/d.pid"),
    (["--start", "--chuid", "u:g", "-x", "/d"], "user", "u"),
    (["--start", "--chuid", "u:g", "-x", "/d"], "group", "g"),
    (["--start", "-b", "-m", "-p", "/p", "-x", "/d"], "background", True),
    (["--start", "--startas", "/usr/bin/python3", "--exec", "/usr/bin/python3", "--",
      "/opt/app.py"], "args", ["/opt/app.py"]),
    (["--start", "--startas", "/opt/run.sh", "--name", "appd"], "name", "appd"),
    (["--start", "--chdir", "/srv", "--umask", "027", "-x", "/d"], "chdir", "/srv"),
    (["--start", "--nicelevel", "--exec", "/d"], "exec", "/d"),    # empty $NICE left behind
])
def test_start_stop_daemon_options(args, field, value):
    la = parse_ssd(args)
    assert getattr(la, field) == value


def test_start_stop_daemon_test_and_stop_are_not_starts():
    assert parse_ssd(["--start", "--test", "-x", "/d"]) is None
    assert parse_ssd(["--stop", "-x", "/d"]) is None


def test_fixture_frontproxy_reads_defaults_and_signals():
    info = read_script(os.path.join(SCRIPTS, "frontproxy"), root=ROOT)
    assert info.kind == "daemon" and info.daemon == "/usr/sbin/nginx"
    assert info.args == ["-c", "/etc/frontproxy/nginx.conf"]
    # the awk'd pid directive is unknown: the script's own fallback applies
    assert info.pidfile == "/run/frontproxy.pid"
    assert (info.stop_signal, info.stop_timeout) == ("QUIT", 5)
    assert info.reload_signal == "HUP" and info.reopen_signal == "USR1"
    assert info.lsb_list("Should-Start") == ["appserver"]


def test_fixture_styles():
    def r(name):
        return read_script(os.path.join(SCRIPTS, name), root=ROOT)
    assert r("metricsd").launch.style == "init-d-script"
    assert r("metricsd").launch.background and r("metricsd").launch.user == "metrics"
    assert r("lsbdaemon").launch.style == "start_daemon"
    assert r("lsbdaemon").pidfile == "/var/run/exampled.pid"
    assert r("webserver").launch.wrapper == "apache2ctl"
    assert r("dbsafe").launch.wrapper == "mysqld_safe"
    appsvc = r("appsvc")
    assert appsvc.launch.user == "app" and appsvc.daemon == "/opt/app/bin/appd"
    assert appsvc.args[-2:] == ["--port", "8080"]
    for name in ("clock", "firewall", "modules-load", "sysctl-tune"):
        assert r(name).kind == "oneshot", name


def test_defaults_option_overrides_root(tmp_path):
    d = tmp_path / "d"
    d.write_text("DAEMON_ARGS=/srv/kv.conf\n")
    info = read_script(os.path.join(SCRIPTS, "kvstore"), root=ROOT, defaults=str(d))
    assert info.args == ["/srv/kv.conf"]
    with pytest.raises(ScriptError):
        read_script(os.path.join(SCRIPTS, "kvstore"), defaults=str(tmp_path / "missing"))


def test_guarded_default_does_not_override(tmp_path):
    s = tmp_path / "svc"
    s.write_text("""#!/bin/sh
PIDFILE=/run/a.pid
[ -r /etc/default/svc ] && . /etc/default/svc
[ -z "$PIDFILE" ] && PIDFILE=/run/fallback.pid
if [ "$NICE" ]; then NICE="-N $NICE"; fi
case "$1" in start) start-stop-daemon --start $NICE -p $PIDFILE -x /usr/sbin/svcd ;; esac
""")
    info = read_script(str(s), root=str(tmp_path / "none"))
    assert info.pidfile == "/run/a.pid" and info.daemon == "/usr/sbin/svcd"


def test_reader_never_executes(tmp_path):
    marker = tmp_path / "ran"
    s = tmp_path / "evil"
    s.write_text(f"""#!/bin/sh
X=$(touch {marker}a)
Y=`touch {marker}b`
touch {marker}c
case "$1" in start) start-stop-daemon --start -x /usr/sbin/d -- $(touch {marker}d) ;; esac
""")
    read_script(str(s))
    assert not list(tmp_path.glob("ran*"))


@pytest.mark.parametrize("script,daemon,pidfile", [
    ("/etc/init.d/nginx", "/usr/sbin/nginx", "/run/nginx.pid"),
    ("/etc/init.d/redis-server", "/usr/bin/redis-server", "/run/redis/redis-server.pid"),
])
def test_installed_debian_scripts(script, daemon, pidfile):
    if not os.path.exists(script):
        pytest.skip(f"{script} not installed")
    info = read_script(script)
    assert info.kind == "daemon" and info.daemon == daemon and info.pidfile == pidfile


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list("ab $(){}[]'\"`\\;&|#=-:\n\tstart)case esacfi")),
               max_size=300))
def test_arbitrary_text_never_crashes(tmp_path_factory, text):
    d = tmp_path_factory.mktemp("fuzz")
    p = d / "s"
    p.write_text(text)
    info = read_script(str(p), root=str(d))
    assert info.kind in ("daemon", "oneshot")


# -- a service switched off in /etc/default ------------------------------------------------
SWITCHED = """#!/bin/sh
NAME=relay
DAEMON=/usr/sbin/relay
ENABLED=yes
[ -r /etc/default/relay ] && . /etc/default/relay
%s
case "$1" in
  start)
%s
    start-stop-daemon --start --pidfile /run/relay.pid --exec $DAEMON
    ;;
  stop)
    [ "$ENABLED" = yes ] || exit 0
    start-stop-daemon --stop --pidfile /run/relay.pid
    ;;
esac
exit 0
"""


def _switched(tmp_path, top="", start="", defaults="ENABLED=no\n"):
    d = tmp_path / "etc" / "default"
    d.mkdir(parents=True, exist_ok=True)
    if defaults is None:
        (d / "relay").unlink(missing_ok=True)
    else:
        (d / "relay").write_text(defaults)
    return read_script("/etc/init.d/relay", text=SWITCHED % (top, start), root=str(tmp_path))


@pytest.mark.parametrize("top,start", [
    ('[ "$ENABLED" = yes ] || exit 0', ""),
    ('test "$ENABLED" != yes && exit 0', ""),
    ("", '    if [ "$ENABLED" != "yes" ]; then\n      echo disabled; exit 0\n    fi'),
    ("", '    if [ "$ENABLED" = "yes" ]; then\n      echo starting\n    else\n'
         '      exit 0\n    fi'),
])
def test_start_guarded_by_a_switch_in_etc_default(tmp_path, top, start):
    info = _switched(tmp_path, top, start)
    assert info.kind == "daemon" and info.daemon == "/usr/sbin/relay"
    assert "ENABLED=no" in info.disabled and info.disabled.startswith("line ")
    assert not _switched(tmp_path, top, start, defaults="ENABLED=yes\n").disabled


def test_start_guard_that_is_not_known_does_not_disable(tmp_path):
    # No guard at all (the script's final `exit 0`, the stop branch's own guard).
    assert not _switched(tmp_path).disabled
    # The defaults file is missing: the script's own default is not the machine's setting.
    top = 'ENABLED=no\n[ "$ENABLED" = yes ] || exit 0'
    assert not _switched(tmp_path, top, defaults=None).disabled
    # A value found at run time by a loop (jetty's JAVA_HOME search) is not known.
    top = ('HOME_DIR=\nfor d in /opt/a /opt/b; do\n  if [ -d "$d" ]; then HOME_DIR="$d"; fi\n'
           'done\n[ -z "$HOME_DIR" ] && exit 0')
    assert not _switched(tmp_path, top, defaults="").disabled
    # A test of something else than a variable (a file) is not evaluated.
    assert not _switched(tmp_path, "[ -x /usr/sbin/relay ] || exit 0").disabled
    # Exit with a failure status is an error path, not a switch.
    assert not _switched(tmp_path, '[ "$ENABLED" = yes ] || exit 1').disabled


def test_start_through_a_helper_library_is_named_not_guessed():
    info = read_script(os.path.join(SCRIPTS, "uwsgi"), root=ROOT)
    assert info.kind == "oneshot"       # the reader finds no daemon in the script itself
    assert info.library_calls == ["do_command"]
    assert "/usr/share/uwsgi/init/do_command" in info.sourced
    # A real oneshot sources no helper library: nothing is named.
    assert read_script(os.path.join(SCRIPTS, "sysctl-tune"), root=ROOT).library_calls == []


def test_start_inside_a_true_or_false_switch(tmp_path):
    # rsync: the start itself is inside `if "$RSYNC_ENABLE"; then`, with no exit.
    text = SWITCHED.replace(
        "    start-stop-daemon --start --pidfile /run/relay.pid --exec $DAEMON\n",
        '    if "$ENABLED"; then\n'
        "      start-stop-daemon --start --pidfile /run/relay.pid --exec $DAEMON\n"
        "    else\n      echo disabled\n    fi\n") % ("", "")
    d = tmp_path / "etc" / "default"
    d.mkdir(parents=True, exist_ok=True)
    for value, off in (("false", True), ("true", False)):
        (d / "relay").write_text(f"ENABLED={value}\n")
        info = read_script("/etc/init.d/relay", text=text, root=str(tmp_path))
        assert info.kind == "daemon" and info.daemon == "/usr/sbin/relay"
        assert bool(info.disabled) == off, info.disabled
        if off:
            assert '"$ENABLED" is false (ENABLED=false)' in info.disabled
