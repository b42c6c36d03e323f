"""command=/etc/init.d/X start (service X start, invoke-rc.d X restart) read at load (issue
10, item 2): fixture init scripts in temp dirs, never the machine's /etc/init.d; the loader
only, no process is started."""
import os

import pytest

from wrapctl import config as configmod
from wrapctl.config import ConfigError

SIGQUIT, SIGTERM, SIGINT = 3, 15, 2

NGINX_SCRIPT = """\
#!/bin/sh
### BEGIN INIT INFO
# Provides:          nginx
# Required-Start:     $local_fs $remote_fs $network
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: nginx, for a test
### END INIT INFO
PATH=/sbin:/usr/sbin:/bin:/usr/bin
DAEMON=/usr/sbin/nginx
NAME=nginx
PID={d}/nginx.pid
DAEMON_OPTS="-c {d}/nginx.conf -e {d}/error.log"

case "$1" in
  start)
    start-stop-daemon --start --quiet --pidfile $PID --exec $DAEMON -- $DAEMON_OPTS
    ;;
  stop)
    start-stop-daemon --stop --quiet --retry=QUIT/5/TERM/5/KILL/5 --pidfile $PID --name $NAME
    ;;
  reload)
    start-stop-daemon --stop --signal HUP --quiet --pidfile $PID --name $NAME
    ;;
  rotate)
    start-stop-daemon --stop --signal USR1 --quiet --pidfile $PID --name $NAME
    ;;
  restart)
    $0 stop
    $0 start
    ;;
esac
"""

# A daemon no recipe knows; start-stop-daemon backgrounds it and writes its pidfile.
TOYD_SCRIPT = """\
#!/bin/sh
### BEGIN INIT INFO
# Provides:          {name}
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: a made-up daemon, for a test
### END INIT INFO
PATH=/sbin:/usr/sbin:/bin:/usr/bin
NAME={name}
DAEMON={d}/bin/{name}
PIDFILE={d}/{name}.pid
PORT={port}

case "$1" in
  start)
    start-stop-daemon --start --quiet --background {pidopts} --exec $DAEMON -- $PORT
    ;;
  stop)
    start-stop-daemon --stop --quiet --retry TERM/20/KILL/5 {stopopts}
    ;;
  restart)
    $0 stop
    $0 start
    ;;
esac
"""


def toyd_script(d, name="toyd", port=1, pidfile=True):
    pidopts = "--make-pidfile --pidfile $PIDFILE" if pidfile else ""
    stopopts = "--remove-pidfile --pidfile $PIDFILE" if pidfile else "--exec $DAEMON"
    return TOYD_SCRIPT.format(d=d, name=name, port=port, pidopts=pidopts, stopopts=stopopts)


def initd(tmp_path, name, text):
    d = tmp_path / "init.d"
    d.mkdir(exist_ok=True)
    p = d / name
    p.write_text(text)
    p.chmod(0o755)
    return str(p)


def load(tmp_path, programs, environ=None):
    conf = tmp_path / "s.conf"
    conf.write_text(f"[supervisord]\nlogfile={tmp_path}/s.log\npidfile={tmp_path}/s.pid\n\n"
                    + programs)
    env = {"PATH": os.environ.get("PATH", ""), **(environ or {})}
    return configmod.load(str(conf), environ=env)


def proc(cfg, name):
    return next(p for p in cfg.processes() if p.name == name)


def warning(cfg, name):
    lines = [w for w in cfg.warnings if f"[program:{name}] command:" in w]
    assert len(lines) == 1, cfg.warnings
    return lines[0]


# -- with a recipe ------------------------------------------------------------------------

def test_recipe_runs_the_daemon_in_the_foreground(tmp_path):
    script = initd(tmp_path, "nginx", NGINX_SCRIPT.format(d=tmp_path))
    cfg = load(tmp_path, f"[program:web]\ncommand={script} start\n")
    p = proc(cfg, "web")
    assert p.command == (f"/usr/sbin/nginx -g 'daemon off;' -c {tmp_path}/nginx.conf "
                         f"-e {tmp_path}/error.log")
    assert p.extra_get("recipe") == "nginx"
    assert p.stopsignal == SIGQUIT and p.stopasgroup and p.killasgroup
    assert p.stopcommand is None and p.extra_get("pidfile") is None
    w = warning(cfg, "web")
    assert w.startswith(f"{tmp_path}/s.conf:6: [program:web] command: ")
    assert "in the foreground by recipe nginx" in w
    assert "reload HUP" in w and "log reopen USR1" in w and "stop QUIT" in w
    assert f"`wrapctl adopt {script} --format wrapctl`" in w
    assert "\n" not in w


def test_recipe_explicit_options_win(tmp_path):
    script = initd(tmp_path, "nginx", NGINX_SCRIPT.format(d=tmp_path))
    cfg = load(tmp_path, f"[program:web]\ncommand={script} restart\nstopsignal=TERM\n"
                         f"stopasgroup=false\nkillasgroup=false\npidfile={tmp_path}/own.pid\n"
                         "ready=tcp:127.0.0.1:1\n")
    p = proc(cfg, "web")
    assert p.command.startswith("/usr/sbin/nginx -g 'daemon off;'")
    assert p.stopsignal == SIGTERM and not p.stopasgroup and not p.killasgroup
    assert p.extra_get("pidfile") == f"{tmp_path}/own.pid"
    assert p.extra_get("ready") == "tcp:127.0.0.1:1"
    assert "stop as set" in warning(cfg, "web")


def test_section_with_recipe_is_left_alone(tmp_path):
    script = initd(tmp_path, "nginx", NGINX_SCRIPT.format(d=tmp_path))
    cfg = load(tmp_path, f"[program:web]\ncommand={script} start\nrecipe=nginx\n")
    assert proc(cfg, "web").command == f"{script} start"
    assert not [w for w in cfg.warnings if "command:" in w]


# -- without a recipe -----------------------------------------------------------------------

def test_no_recipe_keeps_the_start_with_pidfile_and_stop_action(tmp_path):
    script = initd(tmp_path, "toyd", toyd_script(tmp_path))
    cfg = load(tmp_path, f"[program:toyd]\ncommand={script} start\n")
    p = proc(cfg, "toyd")
    assert p.command == f"{script} start"
    assert p.extra_get("pidfile") == f"{tmp_path}/toyd.pid"
    assert p.stopcommand == f"{script} stop"
    assert p.stopwaitsecs == 20             # the script's own --retry TERM/20
    assert p.extra_get("recipe") is None
    w = warning(cfg, "toyd")
    assert "no recipe for toyd" in w and "forking command" in w
    assert f"pid from {tmp_path}/toyd.pid" in w and f"`{script} stop`" in w


def test_no_recipe_no_pidfile_takes_the_tree(tmp_path):
    script = initd(tmp_path, "toyd", toyd_script(tmp_path, pidfile=False))
    cfg = load(tmp_path, f"[program:toyd]\ncommand={script} start\n")
    p = proc(cfg, "toyd")
    assert p.extra_get("pidfile") is None and p.stopcommand == f"{script} stop"
    assert "pid from the process tree it leaves" in warning(cfg, "toyd")


@pytest.mark.parametrize("extra,pidfile,stopcommand,stopsignal", [
    ("stopsignal=INT\n", "PIDFILE", None, SIGINT),
    ("stopcommand=/bin/true\n", "PIDFILE", "/bin/true", SIGTERM),
    ("pidfile=/elsewhere.pid\nstopwaitsecs=3\n", "/elsewhere.pid", "SCRIPT stop", SIGTERM),
])
def test_no_recipe_explicit_options_win(tmp_path, extra, pidfile, stopcommand, stopsignal):
    script = initd(tmp_path, "toyd", toyd_script(tmp_path))
    p = proc(load(tmp_path, f"[program:toyd]\ncommand={script} start\n{extra}"), "toyd")
    assert p.extra_get("pidfile") == pidfile.replace("PIDFILE", f"{tmp_path}/toyd.pid")
    assert p.stopcommand == (stopcommand.replace("SCRIPT", script) if stopcommand else None)
    assert p.stopsignal == stopsignal
    if "stopwaitsecs" in extra:
        assert p.stopwaitsecs == 3


def test_lsb_library_script_is_kept_off_systemctl(tmp_path):
    # /lib/lsb/init-functions hands `X start` to systemctl on a systemd host unless told
    text = toyd_script(tmp_path).replace("PATH=", ". /lib/lsb/init-functions\nPATH=", 1)
    script = initd(tmp_path, "toyd", text)
    cfg = load(tmp_path, f"[program:a]\ncommand={script} start\n"
                         f"[program:b]\ncommand={script} start\nenvironment=A=1,\n")
    for name, env in (("a", {}), ("b", {"A": "1"})):
        p = proc(cfg, name)
        assert p.env == {**env, "SYSTEMCTL_SKIP_REDIRECT": "true"}
        assert p.stopcommand == f"env SYSTEMCTL_SKIP_REDIRECT=true {script} stop"
    plain = initd(tmp_path, "plain", toyd_script(tmp_path, name="plain"))
    p = proc(load(tmp_path, f"[program:c]\ncommand={plain} start\n"), "c")
    assert p.env == {} and p.stopcommand == f"{plain} stop"


# -- service and invoke-rc.d ------------------------------------------------------------------

def test_service_form_finds_the_script_in_the_initd_dir(tmp_path):
    initd(tmp_path, "nginx", NGINX_SCRIPT.format(d=tmp_path))
    cfg = load(tmp_path, "[program:web]\ncommand=service nginx start\n",
               {"WRAPCTL_INITD_DIR": str(tmp_path / "init.d")})
    p = proc(cfg, "web")
    assert p.command.startswith("/usr/sbin/nginx -g 'daemon off;'")
    assert f"wrapctl adopt {tmp_path}/init.d/nginx" in warning(cfg, "web")


def test_invoke_rc_d_restart_runs_the_script_not_the_tool(tmp_path):
    script = initd(tmp_path, "toyd", toyd_script(tmp_path))
    cfg = load(tmp_path, "[program:toyd]\ncommand=/usr/sbin/invoke-rc.d toyd restart\n",
               {"WRAPCTL_INITD_DIR": str(tmp_path / "init.d")})
    p = proc(cfg, "toyd")
    # invoke-rc.d would ask policy-rc.d, service would hand over to systemctl
    assert p.command == f"{script} restart"
    assert p.stopcommand == f"{script} stop"
    assert f"runs `{script} restart`" in warning(cfg, "toyd")


# -- left as written --------------------------------------------------------------------------

def test_missing_script_is_a_warning_not_an_error(tmp_path):
    cfg = load(tmp_path, "[program:a]\ncommand=service nosuchd start\n"
                         f"[program:b]\ncommand={tmp_path}/init.d/nosuchd start\n",
               {"WRAPCTL_INITD_DIR": str(tmp_path / "init.d")})
    assert proc(cfg, "a").command == "service nosuchd start"
    assert proc(cfg, "b").command == f"{tmp_path}/init.d/nosuchd start"
    for n in "ab":
        w = warning(cfg, n)
        assert "no such init script; the command is left as written" in w
        assert proc(cfg, n).stopcommand is None


def test_binary_script_is_a_warning(tmp_path):
    d = tmp_path / "init.d"
    d.mkdir()
    (d / "blob").write_bytes(b"\x7fELF\x00\x00\x01")
    cfg = load(tmp_path, f"[program:b]\ncommand={d}/blob start\n")
    assert proc(cfg, "b").command == f"{d}/blob start"
    assert "not a shell script" in warning(cfg, "b")


def test_oneshot_script_is_left_as_written(tmp_path):
    script = initd(tmp_path, "tune", "#!/bin/sh\ncase \"$1\" in\n  start) sysctl -p ;;\nesac\n")
    cfg = load(tmp_path, f"[program:t]\ncommand={script} start\n")
    assert proc(cfg, "t").command == f"{script} start"
    assert "left as written" in warning(cfg, "t")


@pytest.mark.parametrize("command", [
    "{d}/init.d/nginx status", "{d}/init.d/nginx start now", "sudo service nginx start",
    "service ../nginx start", "/usr/sbin/nginx", "{d}/other/nginx start",
    "{d}/init.d/%(program_name)s start",
])
def test_other_commands_are_not_touched(tmp_path, command):
    initd(tmp_path, "nginx", NGINX_SCRIPT.format(d=tmp_path))
    command = command.format(d=tmp_path)
    cfg = load(tmp_path, f"[program:nginx]\ncommand={command}\n",
               {"WRAPCTL_INITD_DIR": str(tmp_path / "init.d")})
    assert proc(cfg, "nginx").command == command.replace("%(program_name)s", "nginx")
    assert not [w for w in cfg.warnings if "command:" in w]


# -- stopcommand= -----------------------------------------------------------------------------

def test_stopcommand_is_expanded_and_checked(tmp_path):
    cfg = load(tmp_path, "[program:x]\ncommand=sleep 1\nstopcommand=/bin/kill %(program_name)s\n")
    assert proc(cfg, "x").stopcommand == "/bin/kill x"
    assert not cfg.warnings
    with pytest.raises(ConfigError, match=r"s.conf:7: \[program:x\] stopcommand: cannot split"):
        load(tmp_path, "[program:x]\ncommand=sleep 1\nstopcommand=/bin/kill 'x\n")


def test_stopcommand_with_stopsignal_says_which_is_used(tmp_path):
    cfg = load(tmp_path, "[program:x]\ncommand=sleep 1\nstopcommand=/bin/true\nstopsignal=INT\n")
    assert any("[program:x] stopsignal: not used: stopcommand= stops the program" in w
               for w in cfg.warnings)
    cfg = load(tmp_path, "[program:x]\ncommand=sleep 1\nrecipe=nginx\nstopcommand=/bin/true\n")
    assert not any("not used" in w for w in cfg.warnings)
