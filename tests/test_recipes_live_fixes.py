"""Recipe and reader fixes found by running adopted Debian 12 init scripts for real
(bench/adopt_live.py, docs/benchmarks.md "Adopt, live"): runtime directories the init
scripts create, unbound's pre-start helper, htcacheclean (no foreground mode), tor's aa-exec
launcher. The rendered commands run here for real, with /run paths moved into tmp_path and
/bin/echo or a fake helper standing in where the real one would touch the system."""
import os
import pwd
import shlex
import shutil
import signal
import subprocess
import sys
import time

import pytest

from wrapctl.adopt import adopt
from wrapctl.initscript import read_script
from wrapctl.recipes import RecipeBook, program_options


@pytest.fixture(scope="module")
def book():
    return RecipeBook.load(system=False)


def local_command(command: str, tmp_path, moves: dict[str, str]) -> list[str]:
    """The rendered command with system paths moved into tmp_path, and `install -o/-g`
    owners dropped when that account does not exist on this machine."""
    for old, new in moves.items():
        command = command.replace(old, str(tmp_path / new))
    words = shlex.split(command)
    script = words[2]
    for flag in ("-o", "-g"):
        parts = script.split(f" {flag} ")
        if len(parts) == 2:
            who = parts[1].split()[0]
            try:
                pwd.getpwnam(who)
            except KeyError:
                script = script.replace(f" {flag} {who}", "")
    words[2] = script
    return words


@pytest.mark.parametrize("name,rundir,mode,extra", [
    ("sshd", "/run/sshd", 0o755, ["-D"]),
    ("mosquitto", "/run/mosquitto", 0o755, []),
    ("tor", "/run/tor", 0o2755, []),
])
def test_run_dir_is_created_then_the_daemon_execs_with_its_arguments(
        tmp_path, book, name, rundir, mode, extra):
    r = book.get(name)
    opts = program_options(r, daemon="/bin/echo", args=["two words", "x'y"])
    assert opts["command"].startswith("/bin/sh -c 'install -d ")
    assert rundir in opts["command"]
    words = local_command(opts["command"], tmp_path, {rundir: "rundir"})
    out = subprocess.run(words, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    want = extra + ["two words", "x'y"] + (["--RunAsDaemon", "0"] if name == "tor" else [])
    assert out.stdout == " ".join(want) + "\n"
    st = os.stat(tmp_path / "rundir")
    assert st.st_mode & 0o7777 == mode
    # An existing directory is fine (a restart).
    assert subprocess.run(words, capture_output=True, timeout=30).returncode == 0


def test_unbound_runs_the_debian_helper_before_the_foreground_daemon(tmp_path, book):
    helper = tmp_path / "unbound-helper"
    helper.write_text(f"#!/bin/sh\necho \"$1\" >> {tmp_path}/calls\n")
    helper.chmod(0o755)
    opts = program_options(book.get("unbound"), daemon="/bin/echo", args=["-c", "/x.conf"])
    words = local_command(opts["command"], tmp_path,
                          {"/usr/libexec/unbound-helper": "unbound-helper"})
    out = subprocess.run(words, capture_output=True, text=True, timeout=30)
    assert out.stdout == "-d -p -c /x.conf\n"
    assert (tmp_path / "calls").read_text().split() == ["chroot_setup",
                                                        "root_trust_anchor_update"]
    # Without the helper (not Debian) the daemon still starts.
    helper.unlink()
    out = subprocess.run(words, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout == "-d -p -c /x.conf\n"


HTCACHECLEAN = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          apache-htcacheclean
# Required-Start:    $local_fs $remote_fs
# Default-Start:     2 3 4 5
### END INIT INFO
NAME=apache-htcacheclean
DAEMON=/usr/bin/htcacheclean
RUN_USER=$(. $APACHE_CONFDIR/envvars > /dev/null && echo "$APACHE_RUN_USER")
PIDDIR="/var/run/apache2/$RUN_USER"
PIDFILE="$PIDDIR/$NAME.pid"
DAEMON_ARGS="-n -d120 -P$PIDFILE -i -p/var/cache/apache2/mod_cache_disk -l300M"
case "$1" in
  start)
	start-stop-daemon --start --quiet --pidfile ${PIDFILE} \\
	    -c $RUN_USER --startas $DAEMON --name htcacheclean -- $DAEMON_ARGS
	;;
  stop)
	start-stop-daemon --stop --quiet --retry=TERM/30/KILL/5 --pidfile ${PIDFILE} ;;
esac
"""


def test_htcacheclean_script_gets_the_shim_recipe_with_its_own_pidfile(tmp_path, book):
    script = tmp_path / "apache-htcacheclean"
    script.write_text(HTCACHECLEAN)
    ad = adopt(read_script(str(script), root=str(tmp_path)), book, root=str(tmp_path))
    assert ad.recipe is not None and ad.recipe.name == "htcacheclean"
    [prog] = ad.programs
    cmd = prog.options["command"]
    assert cmd.startswith("wrapctl-shim --pidfile /run/htcacheclean.pid ")
    assert cmd.endswith("/usr/bin/htcacheclean -n -d120 -i "
                        "-p/var/cache/apache2/mod_cache_disk -l300M -P/run/htcacheclean.pid")


@pytest.mark.timeout(60)
def test_htcacheclean_daemon_is_followed_and_stopped_by_the_shim(tmp_path, book):
    exe = "/usr/bin/htcacheclean"
    if not os.path.exists(exe) or shutil.which("wrapctl-shim") is None:
        pytest.skip("htcacheclean (apache2-utils) or wrapctl-shim not installed")
    pid = tmp_path / "h.pid"
    cache = tmp_path / "cache"
    cache.mkdir()
    opts = program_options(book.get("htcacheclean"), daemon=exe, pidfile=str(pid),
                           args=["-n", "-d120", f"-p{cache}", "-l1M"])
    shim = subprocess.Popen(shlex.split(opts["command"]), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    daemon = 0
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not daemon:
            if pid.exists() and pid.read_text().strip():
                daemon = int(pid.read_text())
            time.sleep(0.1)
        assert daemon, "no pidfile"
        assert os.readlink(f"/proc/{daemon}/exe") == exe
        assert shim.poll() is None      # the shim stays, following the daemon
        shim.send_signal(signal.SIGTERM)
        assert shim.wait(30) is not None
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{daemon}") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not os.path.exists(f"/proc/{daemon}")
    finally:
        if shim.poll() is None:
            shim.kill()
            shim.wait(10)
        if daemon and os.path.exists(f"/proc/{daemon}"):
            os.kill(daemon, signal.SIGKILL)


TOR = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          tor
# Required-Start:    $local_fs $remote_fs $network $named $time
# Default-Start:     2 3 4 5
### END INIT INFO
DAEMON=/usr/bin/tor
TORPID=/run/tor/tor.pid
DEFAULT_ARGS="--defaults-torrc /usr/share/tor/tor-service-defaults-torrc"
USE_AA_EXEC="yes"
case "$1" in
  start)
	if [ "$USE_AA_EXEC" = "yes" ] && command -v aa-exec > /dev/null ; then
		AA_EXEC_PATH=$(command -v aa-exec)
		AA_EXEC="--startas $AA_EXEC_PATH"
		AA_EXEC_ARGS="--profile=system_tor -- $DAEMON"
	else
		AA_EXEC=""
		AA_EXEC_ARGS=""
	fi
	start-stop-daemon --start --quiet --oknodo --pidfile $TORPID \\
		$AA_EXEC \\
		--exec $DAEMON -- $AA_EXEC_ARGS $DEFAULT_ARGS $ARGS
	;;
esac
"""


def test_aa_exec_launcher_words_are_not_the_daemons_arguments(tmp_path, book):
    script = tmp_path / "tor"
    script.write_text(TOR)
    info = read_script(str(script), root=str(tmp_path))
    assert info.launch.daemon == "/usr/bin/tor"
    assert info.launch.args == ["--defaults-torrc",
                                "/usr/share/tor/tor-service-defaults-torrc"]
    # Spelled out with a known --startas as well.
    script.write_text(TOR.replace("$(command -v aa-exec)", "/usr/sbin/aa-exec"))
    info = read_script(str(script), root=str(tmp_path))
    assert info.launch.daemon == "/usr/bin/tor"
    assert "--profile=system_tor" not in info.launch.args
    ad = adopt(info, book, root=str(tmp_path))
    assert ad.recipe.name == "tor"
    assert "--profile" not in ad.programs[0].options["command"]


APACHE2 = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          apache2
# Default-Start:     2 3 4 5
### END INIT INFO
SCRIPTNAME="${0##*/}"
SCRIPTNAME="${SCRIPTNAME##[KS][0-9][0-9]}"
if [ -n "$APACHE_CONFDIR" ] ; then
	if [ "${APACHE_CONFDIR##/etc/apache2-}" != "${APACHE_CONFDIR}" ] ; then
	        DIR_SUFFIX="${APACHE_CONFDIR##/etc/apache2-}"
	else
	        DIR_SUFFIX=
	fi
elif [ "${SCRIPTNAME##apache2-}" != "$SCRIPTNAME" ] ; then
	DIR_SUFFIX="-${SCRIPTNAME##apache2-}"
	APACHE_CONFDIR=/etc/apache2$DIR_SUFFIX
else
	DIR_SUFFIX=
	APACHE_CONFDIR=/etc/apache2
fi
if [ -z "$APACHE_ENVVARS" ] ; then
	APACHE_ENVVARS=$APACHE_CONFDIR/envvars
fi
export APACHE_CONFDIR APACHE_ENVVARS
PIDFILE=/var/run/apache2$DIR_SUFFIX/apache2.pid
case "$1" in
  start) apache2ctl start ;;
esac
"""


@pytest.mark.parametrize("name,confdir,pidfile", [
    ("apache2", "/etc/apache2", "/var/run/apache2/apache2.pid"),
    ("apache2-www2", "/etc/apache2-www2", "/var/run/apache2-www2/apache2.pid"),
])
def test_if_elif_else_takes_the_branch_its_known_test_selects(tmp_path, name, confdir,
                                                              pidfile):
    script = tmp_path / name
    script.write_text(APACHE2)
    info = read_script(str(script), root=str(tmp_path))
    assert info.variables["APACHE_CONFDIR"] == confdir
    assert info.variables["APACHE_ENVVARS"] == confdir + "/envvars"
    assert info.variables["PIDFILE"] == pidfile


def test_unknown_or_compound_tests_keep_the_first_branch_rule(tmp_path):
    script = tmp_path / "svc"
    script.write_text("""#!/bin/sh
### BEGIN INIT INFO
# Provides: svc
### END INIT INFO
if [ -x /usr/bin/thing ] ; then A=first ; else A=second ; fi
if [ "$(id -u)" = 0 ] ; then B=root ; else B=user ; fi
if [ "x" = "x" ] && command -v foo >/dev/null ; then C=both ; else C=other ; fi
if [ "x" = "y" ] ; then D=no ; elif [ "$UNSET" ] ; then D=no2 ; else D=yes ; fi
case "$1" in start) start-stop-daemon --start --exec /usr/sbin/svcd ;; esac
""")
    v = read_script(str(script), root=str(tmp_path)).variables
    assert (v["A"], v["B"], v["C"], v["D"]) == ("first", "root", "both", "yes")
