"""Attack 6 of issue 12: a pidfile= program names a sibling's pid in its pidfile, and the
core must not take it (both would report one pid, and stopping one would kill the other).

Program A (as user nobody, and as root) writes the pid of program B (or of B's child) into
A's pidfile: the core refuses with one line naming the reason, B keeps its pid and its
process, and A's clean-up does not touch it. Run with the core's cgroups and without
(cgroups=false: the instance marker and the launcher's descendants decide).
"""
import os
import pwd
import signal
import subprocess
import sys

import psutil
import pytest

from harness import alive, nobody_or_skip, wait_for

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def attack_dir(open_tmp):
    """A directory the pidfile program can write to, whoever it runs as."""
    return open_tmp


def _as(user, d):
    if user == "nobody":
        pw = nobody_or_skip()
        os.chown(d, pw.pw_uid, pw.pw_gid)
        return "user=nobody\n"
    return ""


def _b_program():
    # B has a child (sleep 1002) and an orphan re-parented to the core (sleep 1001), so that
    # pids of B's tree that no program reports as its main pid can be named too.
    return ("[program:b]\ncommand=sh -c '(sleep 1001 &); sleep 1002 & wait'\nautostart=false\n"
            "startsecs=0\nstopwaitsecs=3\n")


def _victim(d, which):
    b = d.wait_state("b", "RUNNING")["pid"]
    if which == "main":
        return b, b
    if which == "child":
        kids = wait_for(lambda: psutil.Process(b).children(), what="B's child")
        return b, kids[0].pid
    orphans = wait_for(lambda: [p for p in psutil.Process(d.proc.pid).children()
                                if p.cmdline() == ["sleep", "1001"]], what="B's orphan")
    return b, orphans[0].pid


@pytest.mark.parametrize("user,cgroups,which", [
    ("nobody", "auto", "main"), ("nobody", "false", "child"), ("nobody", "false", "orphan"),
    ("root", "auto", "orphan"), ("root", "false", "main"), ("root", "auto", "child")])
def test_pidfile_naming_a_sibling_is_refused(wrapctld, attack_dir, user, cgroups, which):
    who = _as(user, attack_dir)
    target, apid = os.path.join(attack_dir, "target"), os.path.join(attack_dir, "a.pid")
    # A's launcher waits for the test to tell it B's pid (B is started after A's launcher,
    # so the rule "started no earlier than the launcher" does not already refuse it), writes
    # it as its own daemon's pid and exits 0 as a forking launcher does.
    a_cmd = (f"sh -c 'while [ ! -s {target} ]; do sleep 0.05; done; "
             f"cat {target} > {apid}; exit 0'")
    d = wrapctld(f"[program:a]\ncommand={a_cmd}\npidfile={apid}\n{who}startretries=0\n"
                 f"ready_timeout=20\nstopwaitsecs=3\npriority=1\n" + _b_program(),
                 daemon_options=f"cgroups={cgroups}\n")
    d.wait_state("a", "STARTING")
    d.rpc().startProcess("b")
    b, victim = _victim(d, which)
    with open(target + ".tmp", "w") as f:
        f.write(f"{victim}\n")
    os.chmod(target + ".tmp", 0o644)
    os.rename(target + ".tmp", target)

    info = d.wait_state("a", "FATAL")
    assert info["pid"] != victim
    refusals = [ln for ln in open(d.mainlog).read().splitlines()
                if f"pidfile {apid} names pid {victim}" in ln]
    assert len(refusals) == 1, refusals
    why = refusals[0]
    assert ("is program b's" in why if which == "main" else
            "not in the program's cgroup" in why if cgroups == "auto" else
            "carries another program instance's WRAPCTL_INSTANCE" in why), why
    assert "Traceback" not in open(d.mainlog).read()
    # B is untouched: same pid, still running, and A's clean-up did not kill its tree.
    assert d.info("b")["statename"] == "RUNNING" and d.info("b")["pid"] == b
    assert alive(victim)
    d.rpc().stopProcess("b")
    wait_for(lambda: not alive(victim), what="B's process stopped with B")


@pytest.mark.parametrize("cgroups", ["auto", "false"])
def test_moved_pidfile_naming_a_sibling_is_not_followed(wrapctld, attack_dir, cgroups):
    """A runs for real, then its pidfile is rewritten (by nobody, A's user) to name B and
    A's daemon exits: the core must not follow "the move" to B, and B must survive."""
    _as("nobody", attack_dir)
    apid = os.path.join(attack_dir, "a.pid")
    a_cmd = f"sh -c '(sleep 1002 & echo $! > {apid}); exit 0'"
    d = wrapctld(f"[program:a]\ncommand={a_cmd}\npidfile={apid}\nuser=nobody\n"
                 f"autorestart=false\nstartsecs=0\nstopwaitsecs=3\n" + _b_program(),
                 daemon_options=f"cgroups={cgroups}\n")
    a = d.wait_state("a", "RUNNING")["pid"]
    d.rpc().startProcess("b")
    b = d.wait_state("b", "RUNNING")["pid"]
    subprocess.run(["runuser", "-u", "nobody", "--", "sh", "-c",
                    f"echo {b} > {apid}.new && mv {apid}.new {apid}"], check=True, timeout=30)
    assert pwd.getpwuid(os.stat(apid).st_uid).pw_name == "nobody"
    os.kill(a, signal.SIGKILL)
    wait_for(lambda: d.info("a")["statename"] in ("EXITED", "BACKOFF", "FATAL"),
             what="A's daemon gone, not replaced by B")
    assert d.info("a")["pid"] == 0
    refusals = [ln for ln in open(d.mainlog).read().splitlines()
                if f"pidfile {apid} names pid {b}" in ln]
    assert len(refusals) == 1 and "not followed" in refusals[0], refusals
    assert d.info("b")["statename"] == "RUNNING" and d.info("b")["pid"] == b
    assert alive(b)
    d.rpc().stopProcess("b")
    wait_for(lambda: not alive(b), what="B stopped")


# ---- attack 7, adoptRunning: the core must not take (and later kill) any process ------------

@pytest.fixture
def strangers(attack_dir):
    """Two `sleep`s the core did not start: one of user nobody (started through runuser),
    one of root. Killed after the test if still alive."""
    _as("nobody", attack_dir)
    pidf = os.path.join(attack_dir, "nobody.pid")
    runner = subprocess.Popen(["runuser", "-u", "nobody", "--", "sh", "-c",
                               f"echo $$ > {pidf}.tmp && mv {pidf}.tmp {pidf} && "
                               f"exec sleep 1000"], cwd="/")
    root = subprocess.Popen(["sleep", "1000"])
    pids = [root.pid]
    try:
        nobody = int(wait_for(lambda: os.path.exists(pidf) and open(pidf).read().strip(),
                              what="nobody's sleep"))
        pids.append(nobody)
        wait_for(lambda: (psutil.Process(nobody).name(), psutil.Process(root.pid).name())
                 == ("sleep", "sleep"), what="both exec'd sleep")
        assert psutil.Process(nobody).username() == "nobody"
        yield nobody, root.pid
    finally:
        for p in pids:
            if alive(p):
                os.kill(p, signal.SIGKILL)
        if runner.poll() is None:
            runner.kill()
        runner.wait(30)
        root.wait(30)


def _refused(w, name, pid):
    import xmlrpc.client
    with pytest.raises(xmlrpc.client.Fault) as e:
        w.adoptRunning(name, pid)
    assert e.value.faultCode == 30 and "\n" not in e.value.faultString, e.value.faultString
    return e.value.faultString


def test_adopt_running_takes_only_a_process_tied_to_the_program(wrapctld, attack_dir,
                                                                strangers, tmp_path):
    nobody, root = strangers
    script = tmp_path / "svc.py"
    script.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(1000)\n")
    script.chmod(0o755)
    pidf = os.path.join(attack_dir, "pf.pid")
    d = wrapctld(f"[program:cat]\ncommand=/bin/cat\nautostart=false\nstartsecs=0\n"
                 f"[program:py]\ncommand={script}\nautostart=false\nstartsecs=0\n"
                 f"[program:sl]\ncommand=sleep 1001\nautostart=false\n"
                 f"[program:other]\ncommand=sleep 1003\nstartsecs=0\n"
                 f"[program:pf]\ncommand=/bin/cat\npidfile={pidf}\nautostart=false\n"
                 f"stopwaitsecs=3\n")
    other = d.wait_state("other", "RUNNING")["pid"]
    w = d.proxy().wrapctl
    for name in ("cat", "py"):
        for pid in (nobody, root):
            why = _refused(w, name, pid)
            assert f"pid {pid} (sleep) runs " in why and "not the program's command" in why
    assert "is program other's" in _refused(w, "sl", other)
    assert "wrapctl daemon itself" in _refused(w, "sl", d.proc.pid)
    assert "pid 1 (init)" in _refused(w, "sl", 1)
    assert "does not name it" in _refused(w, "pf", root)
    # the refused processes are not the programs': starting and stopping those leaves them be
    for name in ("cat", "py", "pf"):
        assert d.info(name)["pid"] == 0
    for name in ("cat", "py"):
        d.rpc().startProcess(name)
        d.rpc().stopProcess(name)
    assert alive(nobody) and alive(root) and alive(other)
    assert d.info("other")["pid"] == other

    # tied by its executable (sleep is sleep's) ...
    assert w.adoptRunning("sl", root) is True
    assert d.info("sl")["pid"] == root
    # ... or named by the program's pidfile
    with open(pidf, "w") as f:
        f.write(f"{nobody}\n")
    assert w.adoptRunning("pf", nobody) is True
    assert d.info("pf")["pid"] == nobody
    d.rpc().stopProcess("sl")
    d.rpc().stopProcess("pf")
    wait_for(lambda: not alive(root) and not alive(nobody), what="adopted ones stopped")
    assert alive(other)
