"""Files a root core writes where another user can write too (issue 12; docs/security.md).

`pidfile=/tmp/supervisord.pid` and `logfile=/tmp/supervisord.log` are common settings: the
directory is shared (mode 1777), so user nobody can plant a name there before root opens
it. Each test plants it for real (as nobody, through runuser) and checks that root wrote
nothing through it. The machine's fs.protected_symlinks may be 0 (it is in this sandbox),
so the kernel does not refuse these links for us.
"""
import os
import signal
import subprocess

import pytest

from harness import Daemon, nobody_or_skip

from wrapctl.core import rootfiles

SECRET = b"root's own data\n"


@pytest.fixture
def shared(shared_tmp):
    return shared_tmp


@pytest.fixture
def victim(tmp_path):
    """A root-only file the attacker wants root to overwrite or append to."""
    path = tmp_path / "victim"
    path.write_bytes(SECRET)
    os.chmod(path, 0o600)
    return path


def as_nobody(*argv):
    nobody_or_skip()
    subprocess.run(["runuser", "-u", "nobody", "--", *argv], check=True, timeout=30)


def config(shared, programs="", logfile=None):
    return (f"[supervisord]\nlogfile={logfile or shared + '/supervisord.log'}\n"
            f"pidfile={shared}/supervisord.pid\nchildlogdir={shared}\n"
            f"[unix_http_server]\nfile={shared}/s.sock\n"
            "[rpcinterface:supervisor]\n"
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
            + programs)


@pytest.mark.timeout(60)
def test_planted_link_at_main_log_is_refused(tmp_path, shared, victim):
    as_nobody("ln", "-s", str(victim), f"{shared}/supervisord.log")
    d = Daemon("wrapctl", tmp_path / "d")
    os.makedirs(d.root, exist_ok=True)
    d.write(config(shared), base=False)
    r = subprocess.run(d.command(), capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "supervisord.log: cannot open the log file: refused" in lines[0]
    assert "uid 65534" in lines[0] or "owned by uid" in lines[0]
    assert victim.read_bytes() == SECRET


@pytest.mark.timeout(60)
def test_planted_link_at_program_log_is_refused(tmp_path, shared, victim):
    as_nobody("ln", "-s", str(victim), f"{shared}/x.log")
    d = Daemon("wrapctl", tmp_path / "d")
    os.makedirs(d.root, exist_ok=True)
    d.sock = f"{shared}/s.sock"
    d.start(config(shared, "[program:x]\ncommand=sh -c 'echo written; sleep 1000'\n"
                           f"stdout_logfile={shared}/x.log\nstartretries=0\n"), base=False)
    try:
        info = d.wait_state("x", "FATAL")
        assert "refused" in info["spawnerr"] and "symlink" in info["spawnerr"], info
        assert victim.read_bytes() == SECRET
    finally:
        d.stop()


@pytest.mark.timeout(60)
def test_root_and_own_links_are_still_followed(tmp_path, shared):
    """The rule refuses other users' links only: root's own link (as /dev/stdout is) works."""
    target = tmp_path / "real.log"
    os.symlink(target, f"{shared}/x.log")
    d = Daemon("wrapctl", tmp_path / "d")
    os.makedirs(d.root, exist_ok=True)
    d.sock = f"{shared}/s.sock"
    d.start(config(shared, "[program:x]\ncommand=sh -c 'echo written; sleep 1000'\n"
                           f"stdout_logfile={shared}/x.log\nstartsecs=0\n"), base=False)
    try:
        d.wait_state("x", "RUNNING")
        from harness import wait_for
        wait_for(lambda: target.exists() and b"written" in target.read_bytes(), 20,
                 "output through root's link")
    finally:
        d.stop()


@pytest.mark.timeout(60)
def test_planted_hard_link_is_refused(tmp_path, shared):
    """Where fs.protected_hardlinks is off, nobody can link a file of root's into /tmp;
    the sysctl is on here, so nobody links one of its own files and we check the rule on
    a file of another user that has two names."""
    nobody = nobody_or_skip()
    as_nobody("sh", "-c", f"echo mine > {shared}/a && ln {shared}/a {shared}/x.log")
    fd = None
    with pytest.raises(PermissionError) as e:
        fd = rootfiles.open_append(f"{shared}/x.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    assert fd is None
    assert f"hard link owned by uid {nobody.pw_uid}" in e.value.strerror


@pytest.mark.timeout(90)
def test_pidfile_temp_name_cannot_be_planted(tmp_path, shared, victim):
    """The pidfile used to be written to '<pidfile>.<pid>.tmp' first: nobody plants that
    name for every pid the daemon can get next, pointing at root's file."""
    with open("/proc/sys/kernel/ns_last_pid") as f:
        last = int(f.read())
    pid_max = int(open("/proc/sys/kernel/pid_max").read())
    guesses = [p for p in range(last + 1, last + 3001) if p < pid_max]
    as_nobody("python3", "-c",
              "import os, sys\n"
              "for p in sys.argv[2:]:\n"
              f"    os.symlink(sys.argv[1], '{shared}/supervisord.pid.' + p + '.tmp')\n",
              str(victim), *map(str, guesses))
    d = Daemon("wrapctl", tmp_path / "d")
    os.makedirs(d.root, exist_ok=True)
    d.sock = f"{shared}/s.sock"
    d.start(config(shared), base=False)
    try:
        assert d.proc.pid in guesses, "the daemon's pid was not among the planted names"
        assert victim.read_bytes() == SECRET
        pidfile = f"{shared}/supervisord.pid"
        assert not os.path.islink(pidfile)
        assert open(pidfile).read().strip() == str(d.proc.pid)
    finally:
        d.stop()


@pytest.mark.timeout(60)
def test_planted_fifo_at_pidfile_does_not_hang_the_start(tmp_path, shared):
    as_nobody("mkfifo", "-m", "0666", f"{shared}/supervisord.pid")
    d = Daemon("wrapctl", tmp_path / "d")
    os.makedirs(d.root, exist_ok=True)
    d.sock = f"{shared}/s.sock"
    d.start(config(shared), base=False, deadline=20)
    try:
        pidfile = f"{shared}/supervisord.pid"
        assert open(pidfile).read().strip() == str(d.proc.pid)
        assert os.stat(pidfile).st_uid == 0
    finally:
        d.stop()


@pytest.mark.timeout(60)
def test_planted_pidfile_naming_a_live_process_is_not_believed(tmp_path, shared):
    """A pidfile others could write says nothing about who runs: nobody cannot keep root's
    core from starting by writing a live pid (its own) into a world-writable pidfile."""
    nobody_or_skip()
    pidfile = f"{shared}/supervisord.pid"
    squatter = subprocess.Popen(
        ["runuser", "-u", "nobody", "--", "sh", "-c",
         f"echo $$ > {pidfile} && chmod 666 {pidfile} && exec sleep 60"],
        start_new_session=True)
    try:
        from harness import wait_for
        wait_for(lambda: os.path.exists(pidfile) and os.path.getsize(pidfile) > 0, 20,
                 "the planted pidfile")
        d = Daemon("wrapctl", tmp_path / "d")
        os.makedirs(d.root, exist_ok=True)
        d.sock = f"{shared}/s.sock"
        d.start(config(shared), base=False)
        try:
            assert open(pidfile).read().strip() == str(d.proc.pid)
            assert squatter.poll() is None      # and nobody's process was left alone
        finally:
            d.stop()
    finally:
        os.killpg(squatter.pid, signal.SIGKILL)    # runuser and the sleep it forked
        squatter.wait()


def test_write_atomic_leaves_no_temporary_and_sets_mode(tmp_path):
    target = tmp_path / "state"
    rootfiles.write_atomic(str(target), b"one", 0o600)
    rootfiles.write_atomic(str(target), b"two", 0o600)
    assert target.read_bytes() == b"two"
    assert os.stat(target).st_mode & 0o777 == 0o600
    assert os.listdir(tmp_path) == ["state"]


def test_write_atomic_replaces_a_link_instead_of_writing_through_it(tmp_path, victim):
    link = tmp_path / "state"
    os.symlink(victim, link)
    rootfiles.write_atomic(str(link), b"new", 0o600)
    assert not os.path.islink(link) and link.read_bytes() == b"new"
    assert victim.read_bytes() == SECRET


@pytest.mark.timeout(60)
def test_include_planted_in_a_shared_directory_is_refused(tmp_path, shared):
    """`[include] files=/shared/*.conf`: nobody drops a program in and root would run it."""
    marker = tmp_path / "ran-as-root"
    as_nobody("sh", "-c", f"printf '[program:evil]\\ncommand=touch {marker}\\n' "
                          f"> {shared}/evil.conf")
    d = Daemon("wrapctl", tmp_path / "d")
    os.makedirs(d.root, exist_ok=True)
    d.write(f"[include]\nfiles={shared}/*.conf\n")
    r = subprocess.run(d.command(), capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert f"{shared}/evil.conf" in r.stderr and "owned by uid" in r.stderr, r.stderr
    assert not marker.exists()


@pytest.mark.timeout(60)
def test_world_writable_config_is_refused(tmp_path):
    d = Daemon("wrapctl", tmp_path / "d")
    os.makedirs(d.root, exist_ok=True)
    d.write("[program:x]\ncommand=sleep 1000\n")
    os.chmod(d.conf, 0o666)
    r = subprocess.run(d.command(), capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "writable by others" in r.stderr, r
    assert r.stderr.count("\n") == 1, r.stderr


@pytest.mark.timeout(60)
def test_fifo_planted_as_include_does_not_hang(tmp_path, shared):
    as_nobody("mkfifo", "-m", "0666", f"{shared}/x.conf")
    d = Daemon("wrapctl", tmp_path / "d")
    os.makedirs(d.root, exist_ok=True)
    d.write(f"[include]\nfiles={shared}/*.conf\n")
    r = subprocess.run(d.command(), capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "not a regular file" in r.stderr, r
