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


@pytest.mark.parametrize("fmt", ["supervisord", "wrapctl"])
def test_run_dir_is_made_at_each_start_in_an_empty_run(fmt):
    unshare = shutil.which("unshare")
    if not unshare or os.geteuid() != 0:
        pytest.skip("needs unshare and root for a private mount namespace")
    cmd, _ = adopted_command("relayd", fmt)
    assert cmd[:2] == ["/bin/sh", "-c"] and cmd[3:4] in (["wrapctl-shim"], ["/usr/sbin/relayd"])
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


def test_program_that_drops_to_a_user_gets_a_review_line_instead():
    # kvstore runs as redis (the recipe's user): a wrapper could no longer create /run dirs.
    for fmt in ("supervisord", "wrapctl"):
        cmd, out = adopted_command("kvstore", fmt)
        assert cmd[0] == "/usr/bin/redis-server"
        assert ("; review: the script makes /run/kvstore as root before starting, but the "
                "program runs as redis: make them at boot (mkdir -p /run/kvstore && chown "
                "redis:redis /run/kvstore)") in out
