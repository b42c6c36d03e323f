"""Recipes: the bundled set, validation on load, user overrides, resolve_program, the CLI."""
import os
import shlex
import shutil
import subprocess
import sys

import pytest

from wrapctl.recipes import (RecipeBook, RecipeError, load_file, program_options,
                             resolve_program, signal_number)

# The daemons issue 4 names, and the recipe that covers each.
REQUIRED = {
    "nginx": "nginx", "apache2": "apache2", "httpd": "httpd", "tomcat": "tomcat",
    "redis": "redis", "memcached": "memcached", "postgresql": "postgresql",
    "mariadb": "mariadb", "mysql": "mysql", "haproxy": "haproxy", "php-fpm": "php-fpm",
    "sshd": "sshd", "cron": "cron", "rsyslog": "rsyslog", "lighttpd": "lighttpd",
    "dnsmasq": "dnsmasq", "squid": "squid", "vsftpd": "vsftpd", "openvpn": "openvpn",
    "bind9": "bind9", "postfix": "postfix", "exim4": "exim4", "dovecot": "dovecot",
    "unbound": "unbound", "chrony": "chrony", "ntpsec": "ntpsec", "cups": "cups",
    "mongodb": "mongodb", "elasticsearch": "elasticsearch", "rabbitmq": "rabbitmq",
    "varnish": "varnish", "zabbix-agent": "zabbix-agent", "gunicorn": "gunicorn",
    "uwsgi": "uwsgi", "slapd": "slapd", "keepalived": "keepalived", "samba": "smbd",
    "proftpd": "proftpd", "tor": "tor", "privoxy": "privoxy", "mosquitto": "mosquitto",
    "snmpd": "snmpd",
}

GOOD = """
name = "{name}"
description = "test daemon"
source = "its manual"
[run]
mode = "foreground"
command = "{{daemon}} --foreground {{args}}"
daemon = "/usr/sbin/{name}"
[stop]
signal = "QUIT"
timeout = 7
"""


@pytest.fixture(scope="module")
def book():
    return RecipeBook.load(system=False)


def test_at_least_forty_and_every_named_daemon(book):
    assert len(book.names()) >= 40
    missing = [d for d, r in REQUIRED.items() if book.get(r) is None]
    assert not missing


def test_every_bundled_recipe_is_complete(book):
    for name in book.names():
        r = book.get(name)
        assert r.bundled and r.source.strip(), name
        assert r.daemon.startswith("/"), name
        assert r.scripts or r.provides or r.executables, name
        opts = program_options(r)
        words = shlex.split(opts["command"])
        assert words and "{" not in opts["command"] or r.instances, name
        assert signal_number(opts["stopsignal"]), name
        if r.mode == "shim":
            assert opts["command"].startswith("wrapctl-shim --"), name
            assert ("--pidfile " in opts["command"]) != ("--exe " in opts["command"]), name


def test_foreground_flags_of_the_three_installed_daemons(book):
    assert "daemon off;" in book.get("nginx").command
    assert "--daemonize no" in book.get("redis").command
    assert "-d" in book.get("memcached").drop_args


def write(d, name, text):
    p = os.path.join(str(d), name)
    with open(p, "w") as f:
        f.write(text)
    return p


@pytest.mark.parametrize("mutate,key,reason", [
    (lambda t: 'colour = "blue"\n' + t, "colour", "unknown key"),
    (lambda t: t + 'colour = "blue"\n', "stop.colour", "unknown key"),
    (lambda t: t.replace("timeout = 7", 'timeout = "7"'), "stop.timeout", "must be an integer"),
    (lambda t: t.replace('description = "test daemon"\n', ""), "description",
     "missing required key"),
    (lambda t: t.replace('signal = "QUIT"', 'signal = "SIGFOO"'), "stop.signal", "not a signal"),
    (lambda t: t.replace('mode = "foreground"', 'mode = "background"'), "run.mode",
     "must be one of"),
    (lambda t: t.replace('name = "x1"', 'name = "other"'), "name", "must equal the file name"),
    (lambda t: t.replace("--foreground", "{port}"), "run.command", "unknown placeholder"),
    (lambda t: t + "[run.extra]\n", "run.extra", "unknown key"),
    (lambda t: t.replace("[stop]", "[stop]\nkill_group = 1"), "stop.kill_group",
     "must be a boolean"),
    (lambda t: t.replace('mode = "foreground"', 'mode = "shim"').replace("{daemon} ", ""),
     "run.command", "must start {daemon}"),
    (lambda t: t + "[[", "", "not valid TOML"),
])
def test_validation_names_file_and_key(tmp_path, mutate, key, reason):
    p = write(tmp_path, "x1.toml", mutate(GOOD.format(name="x1")))
    with pytest.raises(RecipeError) as e:
        load_file(p)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(p + ": ")
    assert reason in msg
    if key:
        assert f": {key}: " in msg


def test_user_dirs_override_bundled(tmp_path, monkeypatch):
    d1 = tmp_path / "d1"
    d1.mkdir()
    write(d1, "nginx.toml", GOOD.format(name="nginx"))
    write(d1, "mydaemon.toml", GOOD.format(name="mydaemon"))
    b = RecipeBook.load([str(d1)], system=False)
    assert not b.get("nginx").bundled and b.get("nginx").stop_signal == "QUIT"
    assert b.get("nginx").command.startswith("{daemon} --foreground")
    assert b.get("mydaemon") is not None
    d2 = tmp_path / "d2"
    d2.mkdir()
    write(d2, "mydaemon.toml", GOOD.format(name="mydaemon").replace("QUIT", "INT"))
    monkeypatch.setenv("WRAPCTL_RECIPES", str(d2))
    b = RecipeBook.load()
    assert b.get("mydaemon").stop_signal == "INT"


def test_a_bad_user_recipe_stops_loading_with_its_name(tmp_path):
    write(tmp_path, "broken.toml", 'name = "broken"\n')
    with pytest.raises(RecipeError) as e:
        RecipeBook.load([str(tmp_path)], system=False)
    assert "broken.toml" in str(e.value) and "description" in str(e.value)


def test_resolve_program_explicit_options_win(book):
    r = resolve_program("nginx", {"user": "www-data", "stopwaitsecs": "30", "recipe": "nginx"},
                        book)
    assert r["command"] == "/usr/sbin/nginx -g 'daemon off;'"   # no shim: the core reaps
    assert r["stopsignal"] == "QUIT" and r["stopwaitsecs"] == "30" and r["user"] == "www-data"
    assert "recipe" not in r
    r = resolve_program("redis", {"command": "/opt/redis/bin/redis-server x.conf"}, book)
    assert r["command"] == "/opt/redis/bin/redis-server x.conf" and r["user"] == "redis"
    shim = resolve_program("courier-authdaemon", {}, book)
    assert shim["pidfile"] == "/run/courier/authdaemon/pid"
    assert not shim["command"].startswith("wrapctl-shim")
    with pytest.raises(KeyError):
        resolve_program("no-such-daemon", {}, book)


def test_match_prefers_the_executable(book):
    r, why = book.match(script="frontend", provides=["frontend"],
                        executables=["/usr/sbin/haproxy"])
    assert r.name == "haproxy" and "executable" in why
    r, why = book.match(script="ssh", provides=[], executables=["/opt/x/unknownd"])
    assert r.name == "sshd" and "script name" in why
    r, _ = book.match(script="nothing-here", provides=["nothing"], executables=["/bin/zz"])
    assert r is None


def test_nginx_check_command_runs_on_a_real_config(tmp_path, book):
    if not os.path.exists("/usr/sbin/nginx"):
        pytest.skip("nginx not installed")
    conf = tmp_path / "n.conf"
    conf.write_text(f"pid {tmp_path}/n.pid; error_log {tmp_path}/e.log;\n"
                    "events {}\nhttp { access_log off; server { listen 127.0.0.1:1; } }\n")
    r = book.get("nginx")
    cmd = r.render(r.check_command, args=["-c", str(conf)])
    p = subprocess.run(shlex.split(cmd), capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr


def cli(*args):
    return subprocess.run([sys.executable, "-m", "wrapctl", *args], capture_output=True,
                          text=True, timeout=60)


def test_cli_list_show_check(tmp_path):
    p = cli("recipes", "list")
    assert p.returncode == 0 and len(p.stdout.splitlines()) >= 40
    assert any(line.startswith("nginx ") for line in p.stdout.splitlines())
    p = cli("recipes", "show", "nginx")
    assert p.returncode == 0 and "[program:nginx]" in p.stdout and "stopsignal=" in p.stdout
    p = cli("recipes", "show", "nope")
    assert p.returncode == 2 and "no recipe named 'nope'" in p.stderr
    good = write(tmp_path, "good.toml", GOOD.format(name="good"))
    bad = write(tmp_path, "bad.toml", GOOD.format(name="bad").replace("timeout = 7", "timeout = -1"))
    p = cli("recipes", "check", good)
    assert p.returncode == 0 and "ok" in p.stdout
    p = cli("recipes", "check", good, bad)
    assert p.returncode == 2
    assert p.stderr.strip() == f"wrapctl recipes: {bad}: stop.timeout: must be > 0"
    d = tmp_path / "user"
    d.mkdir()
    shutil.copy(good, d / "good.toml")
    p = cli("recipes", "list", "--recipes-dir", str(d))
    assert any(line.startswith("good ") and str(d) in line for line in p.stdout.splitlines())
