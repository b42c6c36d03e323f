"""The one place per low-level concept (issue 12): signal names (wrapctl.shims.signals),
process identity and liveness (wrapctl.shims.identity, procfs), pidfile reading
(wrapctl.shims.pidfile) as the shim and the core both use them, and the core's rules built
on them (forking.belongs for pidfile=, forking.tie for adoptRunning). No daemon: plain
child processes and files."""
import os
import shutil
import signal
import subprocess
import sys

import psutil
import pytest

from harness import wait_for
from wrapctl.config import values
from wrapctl.core import forking, ready
from wrapctl.rpc import api
from wrapctl.shims import identity, options, procfs, signals
from wrapctl.shims import pidfile as pidfile_rules
from wrapctl.shims import status

pytestmark = pytest.mark.timeout(30)
SLEEP = shutil.which("sleep")


@pytest.fixture
def child():
    """Factory: start argv (extra env), wait until it has exec'd; killed and reaped after."""
    made = []

    def start(argv, env=None, **kw):
        p = subprocess.Popen(argv, env={**os.environ, **(env or {})}, **kw)
        made.append(p)
        mine = procfs.cmdline(os.getpid())
        wait_for(lambda: procfs.cmdline(p.pid) not in (mine, None, []), deadline=10,
                 what=f"{argv} exec'd")
        return p
    yield start
    for p in made:
        if p.poll() is None:
            p.kill()
        p.wait()


# ---- signal names -----------------------------------------------------------------------

@pytest.mark.parametrize("text,num", [("TERM", 15), ("sigterm", 15), (" Quit ", 3),
                                      ("9", 9), (10, 10), ("SIGIOT", int(signal.SIGABRT)),
                                      (str(int(signal.SIGRTMIN) + 1), int(signal.SIGRTMIN) + 1)])
def test_signal_numbers(text, num):
    assert signals.number(text) == num


@pytest.mark.parametrize("bad", ["NOPE", "999", "-1", "", "SIG_DFL", "0", "NONE", True,
                                 "١٥"])
def test_signal_refusals_name_the_reason(bad):
    with pytest.raises(ValueError) as e:
        signals.number(bad)
    assert str(e.value).startswith("unknown signal") and "\n" not in str(e.value)


def test_signal_none_only_where_asked():
    assert signals.number("0", allow_none=True) == 0 == signals.number("none", allow_none=True)
    assert signals.name(15) == "SIGTERM" and signals.name(int(signal.SIGRTMIN) + 2).isdigit()


def test_every_consumer_uses_the_one_table():
    """The config's stopsignal=, the API's signalProcess and the shim's --signal give the
    same answers, refusals included."""
    for text in ("TERM", "hup", "SIGUSR1", "12", "34", "NOPE", "999", "SIG_IGN", ""):
        answers = []
        for fn in (values.signal_number, api.signal_number, signals.number):
            try:
                answers.append(fn(text))
            except ValueError as e:
                answers.append(str(e))
        assert len(set(answers)) == 1, (text, answers)
        try:
            shim = status.parse_signal(text)
        except ValueError as e:
            shim = str(e)
        assert shim == answers[0] or text == "", (text, shim)
    assert options.parse(["--signal", "TERM:quit", "--", "x"]).sigmap == {15: 3}


# ---- identity and liveness --------------------------------------------------------------

def test_create_time_is_psutils(child):
    p = child([SLEEP, "30"])
    for pid in (os.getpid(), p.pid):
        assert abs(identity.create_time(pid) - psutil.Process(pid).create_time()) < 1e-6
        assert identity.same_process(pid, psutil.Process(pid).create_time())
        assert not identity.same_process(pid, psutil.Process(pid).create_time() - 1)


def test_zombie_and_gone_are_not_alive(child):
    p = child([SLEEP, "30"])
    created = identity.create_time(p.pid)
    assert identity.alive(p.pid)
    os.kill(p.pid, signal.SIGKILL)
    os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)     # a zombie, not reaped
    assert procfs.stat(p.pid)[0] == "Z"
    assert not identity.alive(p.pid) and not identity.same_process(p.pid, created)
    p.wait()
    assert identity.start_ticks(p.pid) is None and identity.create_time(p.pid) is None
    assert not identity.same_process(p.pid, created)


def test_procfs_facts(child):
    p = child([SLEEP, "30"], env={"WRAPCTL_INSTANCE": "1/g:x/3"})
    assert procfs.environ(p.pid, "WRAPCTL_INSTANCE") == "1/g:x/3"
    assert procfs.environ(p.pid, "NO_SUCH_VARIABLE_HERE") is None
    assert procfs.cmdline(p.pid) == [SLEEP, "30"]
    assert procfs.exe(p.pid) == os.path.realpath(SLEEP)
    with open("/proc/self/cgroup") as f:
        line = [ln for ln in f.read().splitlines() if ln.startswith("0::")]
    assert procfs.cgroup(os.getpid()) == (line[0][3:] if line else None)
    assert procfs.exe(4194303) is None and procfs.cmdline(4194303) is None


# ---- pidfile reading: ready=pidfile: uses the shim's rules ---------------------------------

@pytest.fixture
def pdir(open_tmp):
    return open_tmp


def _write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def test_ready_pidfile_reads_with_the_shared_rules(pdir, child):
    p = child([SLEEP, "30"])
    path = os.path.join(pdir, "r.pid")
    assert not ready.pidfile_alive(path)
    _write(path, f"{p.pid}\n8080\n")        # only the first line counts, as in the shim
    assert ready.pidfile_alive(path)
    _write(path, "garbage\n")
    assert not ready.pidfile_alive(path)
    _write(path, "1\n")
    assert not ready.pidfile_alive(path)
    if os.geteuid() == 0:
        _write(path, f"{p.pid}\n", 0o666)     # anyone could choose the pid root acts on
        assert pidfile_rules.read(path, 0).refusal is not None
        assert not ready.pidfile_alive(path)


def test_ready_pidfile_refuses_another_users_symlink(pdir, child):
    from harness import nobody_or_skip
    pw = nobody_or_skip()
    p = child([SLEEP, "30"])
    real, link = os.path.join(pdir, "real.pid"), os.path.join(pdir, "link.pid")
    _write(real, f"{p.pid}\n")
    os.symlink(real, link)
    assert ready.pidfile_alive(link)
    os.lchown(link, pw.pw_uid, pw.pw_gid)
    assert not ready.pidfile_alive(link)


# ---- forking.belongs: is this pid the program instance's? --------------------------------

def _inst(**kw):
    base = dict(cgroup=None, marker=None, launcher=0, groups=frozenset(),
                sessions=frozenset(), others={}, foreign=frozenset())
    base.update(kw)
    return forking.Instance(**base)


def test_belongs_by_marker_launcher_or_not_at_all(child):
    p = child([SLEEP, "30"], env={"WRAPCTL_INSTANCE": "9/g:a/1"})
    snap = identity.snapshot(p.pid)
    assert forking.belongs(p.pid, snap, _inst(marker="9/g:a/1")) is None
    assert "carries another program instance's WRAPCTL_INSTANCE (9/g:a/1)" in \
        forking.belongs(p.pid, snap, _inst(marker="9/g:b/1"))
    assert forking.belongs(p.pid, snap, _inst(launcher=os.getpid())) is None
    # held by another program: refused whatever else ties it
    why = forking.belongs(p.pid, snap, _inst(marker="9/g:a/1", others={p.pid: "program b"}))
    assert why.endswith("which is program b's")
    # no marker, not below the launcher, not re-parented to the core (this test plays the
    # core): not the program's; the core's own process group and session prove nothing
    env = {k: v for k, v in os.environ.items() if k != "WRAPCTL_INSTANCE"}
    sh = child(["sh", "-c", f"{SLEEP} 30 & wait"], env=env)
    kid = wait_for(lambda: psutil.Process(sh.pid).children(), what="sh's child")[0]
    try:
        wait_for(lambda: procfs.exe(kid.pid) == os.path.realpath(SLEEP), what="exec")
        ksnap = identity.snapshot(kid.pid)
        for inst in (_inst(marker="9/g:a/1"), _inst(groups=frozenset({os.getpgrp()}),
                                                    sessions=frozenset({os.getsid(0)}))):
            assert "not one of the program's processes" in forking.belongs(kid.pid, ksnap,
                                                                           inst)
        assert forking.belongs(kid.pid, ksnap, _inst(launcher=sh.pid)) is None
    finally:
        kid.kill()
    # a child of the core itself with no marker (a daemon re-parented to the subreaper that
    # overwrote its environment): the program's by elimination, unless it is in another
    # program's process group or session
    q = child([SLEEP, "30"], env=env, start_new_session=True)
    qsnap = identity.snapshot(q.pid)
    assert forking.belongs(q.pid, qsnap, _inst(marker="9/g:a/1")) is None
    assert "not one of the program's processes" in forking.belongs(
        q.pid, qsnap, _inst(marker="9/g:a/1", foreign=frozenset({q.pid})))
    assert forking.belongs(q.pid, qsnap, _inst(sessions=frozenset({q.pid}),
                                               foreign=frozenset({q.pid}))) is None


def test_judge_pidfile_refuses_and_keeps_the_pidfd(pdir, child):
    p = child([SLEEP, "30"])
    path = os.path.join(pdir, "d.pid")
    _write(path, f"{p.pid}\n")
    ticks = identity.start_ticks(os.getpid())
    v = forking.judge_pidfile(path, ticks, claim=lambda pid, snap: None)
    try:
        assert v.pid == p.pid and v.pidfd is not None
        signal.pidfd_send_signal(v.pidfd, 0)
    finally:
        v.close()
    v = forking.judge_pidfile(path, ticks, claim=lambda pid, snap: "names a sibling")
    assert v.pid is None and v.refusal == f"pidfile {path} names a sibling"
    # a leftover from before the launch (same stamp) is waited on, not refused
    stale = pidfile_rules.read(path, os.geteuid()).stamp
    v = forking.judge_pidfile(path, ticks, claim=lambda pid, snap: "no", stale=stale)
    assert (v.pid, v.refusal) == (None, None)


# ---- forking.tie: may adoptRunning take this pid as the program? -------------------------

def test_tie_by_executable(child):
    p = child([SLEEP, "30"])
    snap = identity.snapshot(p.pid)
    assert forking.tie(p.pid, snap, "sleep 1001", None, None) is None
    why = forking.tie(p.pid, snap, "/bin/cat", None, None)
    assert why.startswith(f"pid {p.pid} (sleep) runs ") and "not the program's command" in why
    # through a shim: the command it wraps
    assert forking.tie(p.pid, snap, "wrapctl-shim --pidfile /nonexistent -- sleep 9",
                       None, None) is None


def test_tie_by_script(pdir, child):
    script = os.path.join(pdir, "svc.py")
    _write(script, f"#!{sys.executable}\nimport time\ntime.sleep(30)\n", 0o755)
    other = os.path.join(pdir, "other.py")
    _write(other, f"#!{sys.executable}\nimport time\ntime.sleep(30)\n", 0o755)
    same = child([script])
    diff = child([other])
    plain = child([sys.executable, "-c", "import time; time.sleep(30)"])
    assert forking.tie(same.pid, identity.snapshot(same.pid), script, None, None) is None
    for p in (diff, plain):
        why = forking.tie(p.pid, identity.snapshot(p.pid), script, None, None)
        assert why is not None and f"{script} run by" in why


def test_tie_by_pidfile(pdir, child):
    p = child([SLEEP, "30"])
    snap = identity.snapshot(p.pid)
    path = os.path.join(pdir, "svc.pid")
    assert "does not name it" in forking.tie(p.pid, snap, "/bin/cat", None, path)
    _write(path, f"{p.pid}\n")
    assert forking.tie(p.pid, snap, "/bin/cat", None, path) is None
    if os.geteuid() == 0:
        _write(path, f"{p.pid}\n", 0o666)     # read with the shared rules: refused
        assert forking.tie(p.pid, snap, "/bin/cat", None, path) is not None
