"""Issue 12, attacks 2-4: the state file (what a core killed by SIGKILL left running) in a
directory anyone can write (`pidfile=/tmp/supervisord.pid` puts it at /tmp/...pid.state).

Nobody plants a state file naming a root process the core never started and an /etc-like
file as a log: the core neither signals the one nor opens the other. Nobody plants symlinks
where the core writes the file: nothing is written through them. Root's own file, corrupted
or naming what it cannot prove is its program's, is ignored with one warning line."""
import json
import os
import socket
import stat
import subprocess
import sys

import psutil
import pytest

from harness import Daemon, alive, nobody_or_skip, py, wait_for
from wrapctl.core import fdholder, keeper, statefile

pytestmark = pytest.mark.timeout(120)

WRITE = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"
SYMLINK = "import os, sys; [os.symlink(sys.argv[1], p) for p in sys.argv[2:]]"
ORIGINAL = "root:x:0:0:root:/root:/bin/sh\n"
PROGRAM = ("[program:a]\ncommand=" + py("print('hello from a', flush=True); "
                                        "import time; time.sleep(1000)") +
           "\nstartsecs=0\n")


def as_nobody(*argv):
    subprocess.run(["runuser", "-u", "nobody", "--", *argv], check=True, timeout=30)


@pytest.fixture
def shared(shared_tmp):
    return shared_tmp


@pytest.fixture
def target(tmp_path):
    """A root file that must not change (stands for /etc/passwd)."""
    etc = tmp_path / "etc"
    etc.mkdir()
    path = etc / "passwd"
    path.write_text(ORIGINAL)
    return str(path)


@pytest.fixture
def victim():
    """A root process the core never started."""
    p = subprocess.Popen(["sleep", "1000"])
    yield p
    p.kill()
    p.wait()


def state_daemon(tmp_path, shared):
    d = Daemon("wrapctl", tmp_path / "d")
    return d, os.path.join(shared, "supervisord.pid.state")


def start(d, state, programs=PROGRAM, **kw):
    return d.start(programs, daemon_options=f"statefile={state}\n", **kw)


def record(key, pid, logs=None):
    ct = psutil.Process(pid).create_time()
    return {"pid": pid, "create_time": ct, "laststart": ct, "serial": 1,
            "marker": f"1/{key}/1", "cgroup": None, "digest": "", "groups": [pid],
            "sessions": [], "logs": logs or {}}


def planted(victim, target):
    """Records that would make the core SIGTERM the victim (a program no longer configured)
    and append a's output to the target (its log, as re-attached)."""
    return json.dumps({"version": 1, "daemon": 1, "processes": {
        "gone:gone": record("gone:gone", victim.pid),
        "a:a": record("a:a", victim.pid, {"stdout": target, "stderr": target}),
    }})


def a_has_run(d):
    d.wait_state("a", "RUNNING")
    wait_for(lambda: "hello from a" in d.rpc().tailProcessStdoutLog("a", 0, 100)[0],
             what="a's output in its log")


def untouched(d, victim, target):
    assert alive(victim.pid), "the core signalled a process it never started"
    with open(target) as f:
        assert f.read() == ORIGINAL
    assert d.info("a")["pid"] != victim.pid
    assert d.info("a")["stdout_logfile"] != target
    assert "Traceback" not in d.output()


def test_state_file_planted_by_nobody_is_ignored(tmp_path, shared, target, victim):
    nobody_or_skip()
    d, state = state_daemon(tmp_path, shared)
    as_nobody("python3", "-c", WRITE, state, planted(victim, target))
    try:
        start(d, state)
        a_has_run(d)
        untouched(d, victim, target)
        warned = d.log_matches(r"state file .* ignored")
        assert len(warned) == 1
        assert f"state file {state} ignored: owned by uid {nobody_or_skip().pw_uid}" \
            in warned[0][2]
    finally:
        d.stop()


def hold(name, key):
    """Act as a previous core: start an fd holder under name, holding 3 pipe ends for key."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(fdholder.address(name))
    listener.listen(8)
    holder = subprocess.Popen([sys.executable, "-m", "wrapctl.core.fdholder", "--fd",
                               str(listener.fileno())], pass_fds=(listener.fileno(),))
    listener.close()
    (r0, w0), (r1, w1) = os.pipe(), os.pipe()
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.connect(fdholder.address(name))
        fdholder.send(s, f"PUT {key}", [w0, r1, r1])
        fdholder.send(s, "GET")         # answered once the PUT is taken
        while fdholder.recv(s)[0] not in ("END", ""):
            pass
    for fd in (r0, w0, r1, w1):
        os.close(fd)
    return holder


def test_root_state_file_cannot_make_the_core_signal_or_adopt_a_foreign_process(
        tmp_path, shared, target, victim):
    """Root's own file (trusted as a file) with records naming a process that carries no
    instance marker: not re-attached even with its pipes held, not signalled as a program
    no longer configured; a log path that is no AUTO name of the program is not used."""
    d, state = state_daemon(tmp_path, shared)
    fd = os.open(state, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, planted(victim, target).encode())
    os.close(fd)
    holder = hold(keeper.holder_names(state)[0], "a:a")
    try:
        start(d, state)
        a_has_run(d)
        untouched(d, victim, target)
        assert d.log_matches(r"gone:gone \(pid %d\) is no longer configured, but .* "
                             r"left alone" % victim.pid)
        assert d.log_matches(r"a:a \(pid %d\) carries neither its instance marker nor its "
                             r"cgroup" % victim.pid)
        assert d.log_matches(r"state file names '%s' as its stdout log" % target)
    finally:
        d.stop()
        holder.wait(timeout=30)          # the core's clean shutdown ends the holder


def test_symlinks_planted_at_the_state_file_names_are_not_followed(tmp_path, shared, target):
    nobody_or_skip()
    d, state = state_daemon(tmp_path, shared)
    try:
        start(d, state, PROGRAM.replace("startsecs=0", "startsecs=0\nautostart=false"))
        core = d.proc.pid
        assert not os.path.lexists(state)
        # The old temporary name (pid-based), its likely neighbours, and the file itself.
        names = [f"{state}.{core}.tmp", f"{state}.tmp", f"{state}.{core + 1}.tmp",
                 os.path.join(shared, ".supervisord.pid.state.tmp"), state]
        as_nobody("python3", "-c", SYMLINK, target, *names)
        d.rpc().startProcess("a")           # a spawn writes the state file
        wait_for(lambda: not os.path.islink(state), what="state file written")
        with open(target) as f:
            assert f.read() == ORIGINAL
        st = os.lstat(state)
        assert stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid()
        assert stat.S_IMODE(st.st_mode) == 0o600
        with open(state, "rb") as f:
            records, why = statefile.parse_state(f.read())
        assert why is None and records["a:a"]["pid"] == d.info("a")["pid"]
        # Nothing else of the core's is left in the directory: only nobody's links.
        assert sorted(os.listdir(shared)) == sorted(os.path.basename(n) for n in names)
        assert all(os.path.islink(n) for n in names[:-1])
    finally:
        d.stop()


BAD = {
    "wrong types": {"version": 1, "processes": {"a:a": {"pid": "12", "create_time": "x",
                                                        "serial": None, "marker": 3}}},
    "not JSON": b"{\"version\": 1, \"proc",
    "processes not a map": {"version": 1, "processes": [1, 2]},
    "pid 1": {"version": 1, "processes": {"a:a": {
        "pid": 1, "create_time": 0, "laststart": 0, "serial": 1, "marker": "9/a:a/1"}}},
    "logs not paths": {"version": 1, "processes": {"a:a": {
        "pid": 12, "create_time": 0, "laststart": 0, "serial": 1, "marker": "9/a:a/1",
        "logs": {"stdout": ["x"]}}}},
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_corrupted_root_state_file_is_one_warning_and_a_normal_start(tmp_path, case):
    d = Daemon("wrapctl", tmp_path / "d")
    state = os.path.join(d.root, "supervisord.pid.state")
    content = BAD[case]
    with open(state, "wb") as f:
        f.write(content if isinstance(content, bytes) else json.dumps(content).encode())
    os.chmod(state, 0o600)
    try:
        d.start(PROGRAM)
        a_has_run(d)
        warned = d.log_matches(r"state file .* ignored")
        assert len(warned) == 1, d.mainlog_text()
        assert warned[0][2].startswith(f"state file {state} ignored: ")
        assert "Traceback" not in d.output()
    finally:
        d.stop()


def test_state_file_writable_by_others_is_ignored(tmp_path, victim):
    d = Daemon("wrapctl", tmp_path / "d")
    state = os.path.join(d.root, "supervisord.pid.state")
    with open(state, "w") as f:
        f.write(json.dumps({"version": 1, "processes": {
            "gone:gone": record("gone:gone", victim.pid)}}))
    os.chmod(state, 0o622)
    try:
        d.start(PROGRAM)
        a_has_run(d)
        assert alive(victim.pid)
        assert d.log_matches(r"ignored: writable by group or others \(mode 0622\)")
    finally:
        d.stop()
