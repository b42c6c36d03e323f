"""Issue 11, item 4: the directories an init script's start makes anywhere (a log dir under
/var/log, a state dir under /var/lib), not only under /run, are made again before each start
of the adopted program: run_dirs= with the script's owner and mode in `--format wrapctl`,
the script's own commands in supervisord's `sh -c`. The fixture script lives in a temp dir
and makes its directories under a temp prefix (PREFIX, from its defaults file); nothing of
the real /var or /run is touched."""
import grp
import os
import re
import shlex
import shutil
import subprocess
import sys

from harness import nobody_or_skip, wait_for

SCRIPT = r"""#!/bin/sh
### BEGIN INIT INFO
# Provides:          logd
# Required-Start:    $remote_fs
# Required-Stop:     $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: a daemon that needs its log and state directories
### END INIT INFO
NAME=logd
PREFIX=/nonexistent
[ -r /etc/default/$NAME ] && . /etc/default/$NAME
DAEMON=$PREFIX/usr/sbin/logd
LOGDIR=$PREFIX/var/log/$NAME
STATEDIR=$PREFIX/var/lib/$NAME

case "$1" in
  start)
	mkdir -p $LOGDIR
	chown nobody:GROUP $LOGDIR
	chmod 0750 $LOGDIR
	install -d -o nobody -m 0700 $STATEDIR
	start-stop-daemon --start --quiet --background --chuid nobody --exec $DAEMON
	;;
  stop)
	start-stop-daemon --stop --quiet --exec $DAEMON
	;;
esac
exit 0
"""

# The daemon cannot run without both directories (it fails at once when one is missing).
DAEMON = """#!/bin/sh
echo started >> "{log}/logd.log" || exit 1
echo state > "{state}/state" || exit 1
exec sleep 1000
"""


def fixture(top):
    nobody = nobody_or_skip()
    group = grp.getgrgid(nobody.pw_gid).gr_name
    prefix = os.path.join(top, "prefix")
    os.makedirs(os.path.join(prefix, "usr", "sbin"))
    daemon = os.path.join(prefix, "usr", "sbin", "logd")
    with open(daemon, "w") as f:
        f.write(DAEMON.format(log=f"{prefix}/var/log/logd", state=f"{prefix}/var/lib/logd"))
    os.chmod(daemon, 0o755)
    script = os.path.join(top, "logd")
    with open(script, "w") as f:
        f.write(SCRIPT.replace("GROUP", group))
    os.chmod(script, 0o755)
    defaults = os.path.join(top, "default")
    with open(defaults, "w") as f:
        f.write(f"PREFIX={prefix}\n")
    return script, defaults, prefix, nobody, group


def adopt(script, defaults, fmt):
    p = subprocess.run([sys.executable, "-m", "wrapctl", "adopt", script, "--defaults",
                        defaults, "--format", fmt], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_log_and_state_dirs_become_run_dirs(open_tmp):
    script, defaults, prefix, _, group = fixture(open_tmp)
    out = adopt(script, defaults, "wrapctl")
    run_dirs = re.search(r"^run_dirs=(.*)$", out, re.M).group(1)
    assert run_dirs == (f"{prefix}/var/log/logd nobody:{group} 0750, "
                        f"{prefix}/var/lib/logd nobody:root 0700")


def test_adopted_program_runs_because_its_dirs_are_made(wrapctld, open_tmp):
    script, defaults, prefix, nobody, _ = fixture(open_tmp)
    out = adopt(script, defaults, "wrapctl")
    section = out[out.index("[program:"):].replace("[program:logd]", "")
    d = wrapctld("[program:logd]" + section + "startsecs=1\nautorestart=false\n")
    d.wait_state("logd", "RUNNING")
    log, state = f"{prefix}/var/log/logd", f"{prefix}/var/lib/logd"
    wait_for(lambda: os.path.exists(f"{state}/state"), what="the daemon wrote its state")
    st = os.stat(log)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (nobody.pw_uid, nobody.pw_gid, 0o750)
    st = os.stat(state)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (nobody.pw_uid, 0, 0o700)
    # Made again at the next start, as the script would.
    d.ctl("stop", "logd")
    shutil.rmtree(os.path.join(prefix, "var"))
    d.ctl("start", "logd")
    d.wait_state("logd", "RUNNING")
    wait_for(lambda: os.path.exists(f"{state}/state"), what="the dirs made again")


def test_supervisord_format_reports_them_for_a_program_that_drops_to_its_user(open_tmp):
    script, defaults, prefix, _, group = fixture(open_tmp)
    out = adopt(script, defaults, "supervisord")
    cmd = shlex.split(re.search(r"^command=(.*)$", out, re.M).group(1))
    assert cmd == [f"{prefix}/usr/sbin/logd"]       # runs as nobody: it could not make them
    assert (f"; review: the script makes {prefix}/var/log/logd, {prefix}/var/lib/logd as root "
            "before starting, but the program runs as nobody") in out
