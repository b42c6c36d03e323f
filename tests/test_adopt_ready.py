"""`wrapctl adopt` / `migrate` write ready= from the recipe's [ready] hint (docs/adopt.md,
"Readiness"): only where adopt can see the hint holds, only with --format wrapctl; the
supervisord format stays loadable by supervisor 4.3. End to end: an adopted redis-server
under `wrapctl daemon` is RUNNING because its port answered, not because startsecs passed.
"""
import json
import os
import re
import socket
import subprocess
import sys

import pytest

from adopt_support import Supervisord, alive, free_port, wait_for, wrapctl
from wrapctl.adopt import adopt, render_ini, to_json
from wrapctl.initscript import read_script
from wrapctl.recipes import RecipeBook

HERE = os.path.dirname(os.path.abspath(__file__))
KVSTORE = os.path.join(HERE, "fixtures", "initd", "scripts", "kvstore")

RECIPE = """name = "{name}"
description = "test daemon {name}"
source = "https://example.invalid/{name}"
[match]
executables = ["{name}d"]
[run]
mode = "{mode}"
command = "{command}"
daemon = "/usr/sbin/{name}d"
{run_extra}
{ready}
"""


def book(tmp_path, **recipes):
    """A RecipeBook of the bundled recipes plus test recipes NAME=(mode, command, ready, run)."""
    d = tmp_path / "recipes"
    d.mkdir(exist_ok=True)
    for name, (mode, command, ready, run_extra) in recipes.items():
        (d / f"{name}.toml").write_text(RECIPE.format(
            name=name, mode=mode, command=command, run_extra=run_extra,
            ready=f"[ready]\n{ready}" if ready else ""))
    return RecipeBook.load([str(d)], system=False)


def script(tmp_path, name, args, pidfile=""):
    s = tmp_path / name
    pid = f"--pidfile {pidfile} " if pidfile else ""
    s.write_text(f"""#!/bin/sh
case "$1" in
  start) start-stop-daemon --start {pid}--exec /usr/sbin/{name}d -- {args} ;;
  stop) start-stop-daemon --stop {pid}--exec /usr/sbin/{name}d ;;
esac
""")
    return str(s)


def adopted(tmp_path, rb, name, args, pidfile="", root="/"):
    ad = adopt(read_script(script(tmp_path, name, args, pidfile), root=root), rb, root=root)
    assert ad.decision == "recipe" and ad.recipe.name == name
    return ad


def wrapctl_opts(ad):
    text = render_ini(ad, "wrapctl")
    return text, dict(re.findall(r"^(\w+)=(.*)$", text, re.M))


FG = "{daemon} -f {args}"


def test_port_pinned_by_the_command(tmp_path):
    rb = book(tmp_path, portd=("foreground", FG, "port = 7000", ""))
    ad = adopted(tmp_path, rb, "portd", "-p 7123 -l 127.0.0.5")
    text, opts = wrapctl_opts(ad)
    assert opts["ready"] == "tcp:127.0.0.5:7123" and opts["ready_timeout"] == "300"
    assert not re.search(r"^ready", render_ini(ad, "supervisord"), re.M)
    j = to_json(ad)["programs"][0]
    assert j["ready"] == "tcp:127.0.0.5:7123" and "from the command" in j["ready_why"]


def test_port_from_the_config_file_the_command_names(tmp_path):
    conf = tmp_path / "portd.conf"
    conf.write_text("# a comment: port 1\nbind 0.0.0.0\nport 7444\n")
    rb = book(tmp_path, portd=("foreground", FG, "port = 7000", ""))
    _, opts = wrapctl_opts(adopted(tmp_path, rb, "portd", str(conf)))
    assert opts["ready"] == "tcp:127.0.0.1:7444"      # wildcard bind: connect to loopback
    # --port on the command line wins over the file, as for redis
    _, opts = wrapctl_opts(adopted(tmp_path, rb, "portd", f"{conf} --port 7555"))
    assert opts["ready"] == "tcp:127.0.0.1:7555"


@pytest.mark.parametrize("conf_text,why", [
    (None, "neither the command nor a config file"),                   # no such file
    ("listen 8080\n", "neither the command nor a config file"),        # not a port line
    ("port 7001\nport 7002\n", "several ports"),
    ("port 7001\ninclude /etc/other.conf\n", "includes other files"),
    ("port 0\nunixsocket /run/x.sock\n", "no TCP listener"),
])
def test_port_default_alone_writes_nothing(tmp_path, conf_text, why):
    conf = tmp_path / "portd.conf"
    if conf_text is not None:
        conf.write_text(conf_text)
    rb = book(tmp_path, portd=("foreground", FG, "port = 7000", ""))
    ad = adopted(tmp_path, rb, "portd", str(conf))
    _, opts = wrapctl_opts(ad)
    assert "ready" not in opts and "ready_timeout" not in opts
    assert ad.programs[0].ready == "" and why in ad.programs[0].ready_why
    assert any("no ready=" in e and "by hand" in e for e in ad.explain)


def test_unusable_address_writes_nothing(tmp_path):
    conf = tmp_path / "portd.conf"
    conf.write_text("port 7001\nbind myhost.example\n")
    rb = book(tmp_path, portd=("foreground", FG, "port = 7000", ""))
    ad = adopted(tmp_path, rb, "portd", str(conf))
    assert ad.programs[0].ready == "" and "address" in ad.programs[0].ready_why


def test_config_read_under_root(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "portd.conf").write_text("port 7666\n")
    rb = book(tmp_path, portd=("foreground", FG, "port = 7000", ""))
    _, opts = wrapctl_opts(adopted(tmp_path, rb, "portd", "/etc/portd.conf", root=str(root)))
    assert opts["ready"] == "tcp:127.0.0.1:7666"


def test_socket_hint(tmp_path):
    rb = book(tmp_path, sockd=("foreground", FG, 'socket = "/run/sockd/s.sock"', ""))
    _, opts = wrapctl_opts(adopted(tmp_path, rb, "sockd", "-v"))
    assert opts["ready"] == "unix:/run/sockd/s.sock"
    _, opts = wrapctl_opts(adopted(tmp_path, rb, "sockd", "--socket=/srv/other.sock"))
    assert opts["ready"] == "unix:/srv/other.sock"


def test_pidfile_hint_shim_recipe_uses_its_pidfile_option(tmp_path):
    rb = book(tmp_path, pidd=("shim", "{daemon} --pid {pidfile} {args}", "pidfile = true",
                              'pidfile = "/run/pidd.pid"'))
    ad = adopted(tmp_path, rb, "pidd", "-x")
    _, opts = wrapctl_opts(ad)
    assert opts["pidfile"] == "/run/pidd.pid" and opts["ready"] == "pidfile"
    sv = render_ini(ad, "supervisord")
    assert "ready" not in sv and "wrapctl-shim --pidfile /run/pidd.pid" in sv


def test_pidfile_hint_foreground_recipe_names_the_path(tmp_path):
    rb = book(tmp_path, pidd=("foreground", "{daemon} -f --pid {pidfile} {args}",
                              "pidfile = true", 'pidfile = "/run/pidd.pid"'))
    _, opts = wrapctl_opts(adopted(tmp_path, rb, "pidd", "-x", pidfile="/run/pidd/own.pid"))
    assert "pidfile" not in opts            # pidfile= would make the core treat it as forking
    assert opts["ready"] == "pidfile:/run/pidd/own.pid"   # the script's, passed by {pidfile}
    rb = book(tmp_path, pidd=("foreground", FG, "pidfile = true", ""))
    ad = adopted(tmp_path, rb, "pidd", "-x")
    assert ad.programs[0].ready == "" and "says where" in ad.programs[0].ready_why


def test_no_hint(tmp_path):
    rb = book(tmp_path, plaind=("foreground", FG, "", ""))
    ad = adopted(tmp_path, rb, "plaind", "-p 7000")
    _, opts = wrapctl_opts(ad)
    assert "ready" not in opts and "no readiness hint" in ad.programs[0].ready_why


def _supervisord_loads(tmp_path, text):
    options = pytest.importorskip("supervisor.options")
    conf = tmp_path / "supervisord.conf"
    conf.write_text(f"[supervisord]\nlogfile={tmp_path}/s.log\npidfile={tmp_path}/s.pid\n\n"
                    + text)
    opts = options.ServerOptions()
    opts.realize(args=["-c", str(conf)], doc="")
    return [p.name for g in opts.process_group_configs for p in g.process_configs]


def _core_loads(tmp_path, text):
    from wrapctl import config as configmod
    conf = tmp_path / "wrapctl.conf"
    conf.write_text(f"[supervisord]\nlogfile={tmp_path}/s.log\npidfile={tmp_path}/s.pid\n\n"
                    + text)
    return {p.name: p.extra_get("ready") for p in configmod.load(str(conf)).processes()}


def test_every_kind_loads_in_supervisord_and_the_core(tmp_path, monkeypatch):
    monkeypatch.setenv("WRAPCTL_RECIPES", str(tmp_path / "recipes"))   # for the core's recipe=
    conf = tmp_path / "portd.conf"
    conf.write_text("port 7444\n")
    rb = book(tmp_path, portd=("foreground", FG, "port = 7000", ""),
              sockd=("foreground", FG, 'socket = "/run/sockd/s.sock"', ""),
              pidd=("shim", "{daemon} {args}", "pidfile = true", 'pidfile = "/run/pidd.pid"'),
              plaind=("foreground", FG, "", ""))
    ads = [adopted(tmp_path, rb, "portd", str(conf)), adopted(tmp_path, rb, "sockd", "-v"),
           adopted(tmp_path, rb, "pidd", "-x"), adopted(tmp_path, rb, "plaind", "-v")]
    sv = "".join(render_ini(a, "supervisord") for a in ads)
    assert not re.search(r"^ready", sv, re.M)
    assert _supervisord_loads(tmp_path, sv) == ["pidd", "plaind", "portd", "sockd"]
    got = _core_loads(tmp_path, "".join(render_ini(a, "wrapctl") for a in ads))
    assert got == {"portd": "tcp:127.0.0.1:7444", "sockd": "unix:/run/sockd/s.sock",
                   "pidd": "pidfile", "plaind": None}


def test_cli_explain_and_json(tmp_path):
    conf = tmp_path / "kv.conf"
    conf.write_text("port 7777\nbind 127.0.0.1\n")
    d = tmp_path / "default-kvstore"
    d.write_text(f"DAEMON_ARGS={conf}\n")
    p = wrapctl("adopt", KVSTORE, "--defaults", str(d), "--explain")
    assert "ready:    tcp:127.0.0.1:7777 (with --format wrapctl)" in p.stdout
    assert f"port 7777 from {conf} (port line)" in p.stdout
    assert "ready=" not in p.stdout.split("[program:kvstore]")[1]    # supervisord format
    p = wrapctl("adopt", KVSTORE, "--defaults", str(d), "--format", "json")
    prog = json.loads(p.stdout)["programs"][0]
    assert prog["ready"] == prog["wrapctl"]["ready"] == "tcp:127.0.0.1:7777"


def test_migrate_files_carry_ready(tmp_path):
    src = tmp_path / "init.d"
    src.mkdir()
    (src / "kvstore").write_text(open(KVSTORE).read())
    root = tmp_path / "root"
    (root / "etc" / "redis").mkdir(parents=True)
    (root / "etc" / "redis" / "redis.conf").write_text("port 7888\n")   # the script's default
    for fmt in ("wrapctl", "supervisord"):
        out = tmp_path / fmt
        p = subprocess.run([sys.executable, "-m", "wrapctl", "migrate", str(src), "--out",
                            str(out), "--root", str(root), "--format", fmt],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        text = (out / "programs" / "kvstore.conf").read_text()
        if fmt == "wrapctl":
            assert "\nready=tcp:127.0.0.1:7888\n" in text
        else:
            assert not re.search(r"^ready", text, re.M)
            assert _supervisord_loads(tmp_path, re.sub(r"^user=.*\n", "", text, flags=re.M)) \
                == ["kvstore"]


def _pong(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return b"+PONG" in s.recv(64)
    except OSError:
        return False


@pytest.mark.timeout(150)
def test_adopted_redis_is_running_once_its_port_answers(tmp_path):
    if not os.path.exists("/usr/bin/redis-server"):
        pytest.skip("/usr/bin/redis-server is not installed (.ci/run installs it)")
    port = free_port()
    conf = tmp_path / "redis.conf"
    conf.write_text(f"bind 127.0.0.1\nport {port}\ndir {tmp_path}\ndaemonize yes\n"
                    f"pidfile {tmp_path}/redis.pid\nsave \"\"\nappendonly no\n")
    defaults = tmp_path / "default-kvstore"
    defaults.write_text(f"DAEMON_ARGS={conf}\n")
    out = wrapctl("adopt", KVSTORE, "--defaults", str(defaults), "--format", "wrapctl").stdout
    assert f"\nready=tcp:127.0.0.1:{port}\n" in out and "\nstartsecs=1\n" in out
    cmd = f"command=/usr/bin/redis-server {conf} --daemonize no\n"
    assert "recipe=redis" in out and cmd in out
    # A window where the process lives but the port is closed: the adopted command behind a
    # 2 s delay (longer than startsecs=1, which alone would say RUNNING inside the window).
    out = out.replace(cmd, "command=/bin/sh -c 'sleep 2 && exec \"$0\" \"$@\"' "
                           + cmd[len("command="):])
    # tmp_path is root-only: run as root here instead of the recipe's redis user.
    out = out.replace("[program:kvstore]\n", "[program:kvstore]\nuser=root\n")
    sup = Supervisord(tmp_path, out, core="wrapctl")
    try:
        sup.start()
        seen = []

        def running():
            state, _ = sup.status("kvstore")
            seen.append((state, _pong(port)))
            return state == "RUNNING"
        wait_for(running, 30, "kvstore RUNNING")
        assert ("STARTING", False) in seen, seen
        assert all(up for state, up in seen if state == "RUNNING"), seen
        pid = sup.wait_running("kvstore", timeout=30)
        log = open(tmp_path / "supervisord.log").read()
        assert f"kvstore entered RUNNING state, ready (tcp:127.0.0.1:{port})" in log, log
        assert "stopped" in sup.ctl("stop", "kvstore")
        wait_for(lambda: not alive(sup.seen), 30, "redis gone after stop")
        assert not _pong(port) and pid
    finally:
        sup.shutdown()
