"""`wrapctl adopt` on the fixture init scripts (tests/fixtures/initd/scripts, written for
these tests after real Debian patterns) against golden outputs, plus: every supervisord
section parses with supervisor 4.3's own ServerOptions, every wrapctl section with the core's
loader. Regenerate the goldens with WRAPCTL_REGEN_GOLDEN=1 after a deliberate change.
"""
import json
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "fixtures", "initd")
SCRIPTS = os.path.join(FIX, "scripts")
ROOT = os.path.join(FIX, "root")
GOLDEN = os.path.join(FIX, "golden")
REGEN = os.environ.get("WRAPCTL_REGEN_GOLDEN") == "1"
NAMES = sorted(os.listdir(SCRIPTS))

# What each fixture must be, independent of the goldens: (exit status, decision, recipe).
EXPECT = {
    "appsvc": (0, "shim", ""),
    "clock": (3, "oneshot", ""),
    "dbsafe": (0, "recipe", "mysql"),
    "firewall": (3, "oneshot", ""),
    "frontproxy": (0, "recipe", "nginx"),
    "kvstore": (0, "recipe", "redis"),
    "lsbdaemon": (0, "shim", ""),
    "metricsd": (0, "foreground", ""),
    "modules-load": (3, "oneshot", ""),
    "pgclusters": (0, "recipe", "postgresql"),
    "relayd": (0, "shim", ""),
    "sendmail": (0, "recipe", "sendmail"),
    "servlet": (0, "recipe", "tomcat"),
    "streamd": (0, "shim", ""),
    "sysctl-tune": (3, "oneshot", ""),
    "uwsgi": (0, "recipe", "uwsgi"),
    "vpn": (0, "recipe", "openvpn"),
    "webserver": (0, "recipe", "apache2"),
}


def run_adopt(name, *extra):
    p = subprocess.run([sys.executable, "-m", "wrapctl", "adopt", os.path.join(SCRIPTS, name),
                        "--root", ROOT, *extra], capture_output=True, text=True, timeout=60,
                       cwd=FIX)
    return p.returncode, p.stdout.replace(FIX + "/", ""), p.stderr.replace(FIX + "/", "")


def golden(fn, text):
    path = os.path.join(GOLDEN, fn)
    if REGEN:
        os.makedirs(GOLDEN, exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    with open(path) as f:
        assert text == f.read(), f"{fn} differs from the golden (WRAPCTL_REGEN_GOLDEN=1)"


def test_every_fixture_has_an_expectation():
    assert set(NAMES) == set(EXPECT)


@pytest.mark.parametrize("name", NAMES)
def test_json_decision_and_golden(name):
    status, out, err = run_adopt(name, "--format", "json")
    want_status, decision, recipe = EXPECT[name]
    assert status == want_status, err
    d = json.loads(out)
    assert d["decision"] == decision
    assert d["recipe"] == recipe
    assert d["kind"] == ("oneshot" if decision == "oneshot" else "daemon")
    if status == 3:
        assert "oneshot, no program written" in err and "\n" == err[-1] and err.count("\n") == 1
        assert d["programs"] == []
    keep = {k: d[k] for k in ("kind", "style", "daemon", "arguments", "pidfile", "user",
                              "directory", "recipe", "decision", "command", "stop_signal",
                              "reload_signal", "reopen_signal")}
    keep["programs"] = [p["name"] for p in d["programs"]]
    keep["ready"] = {p["name"]: p["ready"] for p in d["programs"] if p["ready"]}
    assert all(p["wrapctl"].get("ready", "") == p["ready"] and "ready" not in p["options"]
               and p["ready_why"] for p in d["programs"])
    golden(f"{name}.json", json.dumps(keep, indent=1, sort_keys=True) + "\n")


@pytest.mark.parametrize("name", [n for n in NAMES if EXPECT[n][0] == 0])
@pytest.mark.parametrize("fmt", ["supervisord", "wrapctl"])
def test_ini_golden(name, fmt):
    status, out, err = run_adopt(name, "--format", fmt)
    assert status == 0, err
    golden(f"{name}.{fmt}.ini", out)


def _known_users(text):
    import pwd

    def sub(m):
        try:
            pwd.getpwnam(m.group(1))
            return m.group(0)
        except KeyError:
            return "user=root"      # supervisord resolves user= at parse time
    return re.sub(r"^user=(\S+)$", sub, text, flags=re.M)


@pytest.mark.parametrize("name", [n for n in NAMES if EXPECT[n][0] == 0])
def test_supervisord_format_parses_with_supervisor(tmp_path, name):
    options = pytest.importorskip("supervisor.options")
    status, out, _ = run_adopt(name)
    assert status == 0
    assert not re.search(r"^(recipe|pidfile|depends_on|ready)=", out, re.M)
    conf = tmp_path / "supervisord.conf"
    conf.write_text(f"[supervisord]\nlogfile={tmp_path}/s.log\npidfile={tmp_path}/s.pid\n\n"
                    + _known_users(out))
    opts = options.ServerOptions()
    opts.realize(args=["-c", str(conf)], doc="")
    names = [p.name for g in opts.process_group_configs for p in g.process_configs]
    assert names == re.findall(r"^\[program:(.+)\]$", out, re.M)


@pytest.mark.parametrize("name", [n for n in NAMES if EXPECT[n][0] == 0])
def test_wrapctl_format_parses_with_core_loader(tmp_path, name):
    from wrapctl import config as configmod
    status, out, _ = run_adopt(name, "--format", "wrapctl")
    assert status == 0
    conf = tmp_path / "wrapctl.conf"
    conf.write_text(f"[supervisord]\nlogfile={tmp_path}/s.log\npidfile={tmp_path}/s.pid\n\n"
                    + _known_users(out))
    cfg = configmod.load(str(conf))
    procs = list(cfg.processes())
    assert procs
    if EXPECT[name][2]:
        assert all(p.extra_get("recipe") == EXPECT[name][2] for p in procs)


def test_explain_says_why(tmp_path):
    status, out, _ = run_adopt("frontproxy", "--explain")
    assert status == 0
    assert "decision: recipe (nginx)" in out
    assert "executable 'nginx' match recipe 'nginx'" in out
    assert "defaults: root/etc/default/frontproxy" in out
    assert "[program:frontproxy]" in out


def test_defaults_option_replaces_etc_default(tmp_path):
    d = tmp_path / "defaults"
    d.write_text('DAEMON_OPTS="-c /srv/other.conf"\n')
    status, out, _ = run_adopt("frontproxy", "--defaults", str(d))
    assert status == 0 and "-c /srv/other.conf" in out


def test_mode_shim_and_recipe(tmp_path):
    status, out, _ = run_adopt("kvstore", "--mode", "shim")
    assert status == 0
    assert "command=wrapctl-shim --pidfile /run/kvstore/kvstore.pid" in out
    assert "-- /usr/bin/redis-server /etc/kvstore/kvstore.conf" in out
    status, out, err = run_adopt("lsbdaemon", "--mode", "recipe")
    assert status == 4 and out == "" and "no recipe matches" in err


def test_name_option():
    status, out, _ = run_adopt("kvstore", "--name", "cache")
    assert status == 0 and "[program:cache]" in out


@pytest.mark.parametrize("args,msg", [
    (["/nonexistent/initscript"], "no such file"),
    ([SCRIPTS], "is a directory"),
    ([os.path.join(SCRIPTS, "kvstore"), "--defaults", "/nonexistent/defaults"],
     "defaults file not found"),
    ([os.path.join(SCRIPTS, "kvstore"), "--format", "yaml"], "Invalid value"),
])
def test_bad_input_is_one_line_exit_2(args, msg):
    p = subprocess.run([sys.executable, "-m", "wrapctl", "adopt", *args], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2
    assert msg in p.stderr and "Traceback" not in p.stderr


def test_binary_file_is_refused(tmp_path):
    f = tmp_path / "blob"
    f.write_bytes(b"\x7fELF\x00\x00\x01")
    p = subprocess.run([sys.executable, "-m", "wrapctl", "adopt", str(f)], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2 and "not a shell script" in p.stderr


def test_script_by_name_under_root():
    p = subprocess.run([sys.executable, "-m", "wrapctl", "adopt", "kvstore", "--root",
                        os.path.join(FIX, "byname")], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "[program:kvstore]" in p.stdout


def test_inline_comment_characters_are_flagged(tmp_path):
    s = tmp_path / "odd"
    s.write_text("""#!/bin/sh
case "$1" in
  start) start-stop-daemon --start --background -x /usr/sbin/oddd -- --motd 'hi #1' ;;
  stop) start-stop-daemon --stop -x /usr/sbin/oddd ;;
esac
""")
    p = subprocess.run([sys.executable, "-m", "wrapctl", "adopt", str(s)], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0
    assert "; review: command holds ' ;' or ' #'" in p.stdout


def test_user_of_another_daemon_is_not_carried_over():
    # sendmail's script starts the MSP queue runner as smmsp first; the recipe runs the MTA.
    status, out, err = run_adopt("sendmail", "--format", "json")
    assert status == 0, err
    d = json.loads(out)
    assert d["user"] == "smmsp" and d["daemon"] == "/usr/sbin/sendmail-msp"
    assert all("user" not in p["options"] and "user" not in p["wrapctl"] for p in d["programs"])
    assert any("not carried over" in e for e in d["explain"])


def test_instance_loop_over_a_command_substitution_reads_as_shell(tmp_path):
    from wrapctl.adopt import adopt, render_ini
    from wrapctl.initscript import read_script
    from wrapctl.recipes import RecipeBook
    text = ("#!/bin/sh\ncase \"$1\" in\n  start)\n"
            "    for c in $(ls /etc/relay/*.conf); do\n"
            "      start-stop-daemon --start --exec /usr/sbin/relayx -- -c $c\n"
            "    done ;;\nesac\n")
    ad = adopt(read_script("/etc/init.d/relayx", text=text, root=str(tmp_path)),
               RecipeBook.load())
    out = render_ini(ad)
    assert "per item of '$(...)'" in out and "\\x00" not in out and "\x00" not in out
