"""The /run directories an init script makes before its start are made again by the adopted
command, in an empty /run (a private tmpfs in a mount namespace: the real /run is not
touched)."""
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "fixtures", "initd")


def adopted_command(name, fmt):
    p = subprocess.run([sys.executable, "-m", "wrapctl", "adopt",
                        os.path.join(FIX, "scripts", name), "--root", os.path.join(FIX, "root"),
                        "--format", fmt], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    # supervisord splits command= with shlex, as here.
    return shlex.split(re.search(r"^command=(.*)$", p.stdout, re.M).group(1)), p.stdout


def test_run_dir_is_made_at_each_start_in_an_empty_run():
    unshare = shutil.which("unshare")
    if not unshare or os.geteuid() != 0:
        pytest.skip("needs unshare and root for a private mount namespace")
    cmd, _ = adopted_command("relayd", "supervisord")
    assert cmd[:2] == ["/bin/sh", "-c"] and cmd[3] == "wrapctl-shim"
    # The adopted setup, then a probe in place of the daemon: it must see the directory with
    # the script's mode and get its own arguments unchanged.
    probe = ["/bin/sh", "-c", 'stat -c %a /run/relayd && printf "%s|" "$@" && echo', "probe",
             "a b", "c"]
    inside = 'mount -t tmpfs none /run && "$@" && "$@"'     # twice: a restart finds it made
    p = subprocess.run([unshare, "--mount", "--propagation", "private", "/bin/sh", "-c", inside,
                        "sh"] + cmd[:3] + probe, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "750\na b|c|\n" * 2
    assert not os.path.exists("/run/relayd")


def test_wrapctl_format_says_it_with_run_dirs():
    # The core makes them as root before the spawn (tests/test_daemon_run_dirs.py).
    cmd, out = adopted_command("relayd", "wrapctl")
    assert cmd[0] == "/usr/sbin/relayd"
    assert "\nrun_dirs=/run/relayd root:root 0750\n" in out


def test_program_that_drops_to_a_user_gets_a_review_line_or_run_dirs():
    # kvstore runs as redis (the recipe's user): a wrapper could no longer create /run dirs.
    for fmt in ("supervisord", "wrapctl"):
        cmd, out = adopted_command("kvstore", fmt)
        assert cmd[0] == "/usr/bin/redis-server"
        assert ("; review: the script makes /run/kvstore as root before starting, but the "
                "program runs as redis: make them at boot (mkdir -p /run/kvstore && chown "
                "redis:redis /run/kvstore); --format wrapctl writes run_dirs= for it") in out
        assert ("\nrun_dirs=/run/kvstore redis:redis 0755\n" in out) == (fmt == "wrapctl")


@pytest.mark.parametrize("setup,want", [
    ("mkdir -p /run/named && chmod 775 /run/named && chown root:bind /run/named",
     "/run/named root:bind 0775"),
    ("install -m 755 -o mysql -d /run/mysqld", "/run/mysqld mysql:root 0755"),
    ("mkdir -p /var/run/dbus && chown messagebus /var/run/dbus", "/var/run/dbus messagebus:root 0755"),
    ("mkdir -p /run/ulog && chown ulog: /run/ulog", "/run/ulog ulog 0755"),
    ("mkdir -p -m 02755 /run/tor && chown debian-tor.debian-tor /run/tor",
     "/run/tor debian-tor:debian-tor 02755"),
    ("mkdir -p /run/a /run/b && chown -R x:y /run/b", "/run/a root:root 0755, /run/b x:y 0755"),
    ("mkdir -p /run/x && chmod u+w /run/x", ""),           # symbolic: say nothing wrong
    ("mkdir -p --context=x /run/x", ""),                   # a flag run_dirs has no word for
])
def test_run_dirs_option_from_the_scripts_commands(setup, want):
    from wrapctl.adopt import run_dirs_option
    from wrapctl.core.rundirs import parse
    got = run_dirs_option([shlex.split(c) for c in setup.split(" && ")])
    assert got == want
    if got:
        parse(got)          # what adopt writes, the core loads
