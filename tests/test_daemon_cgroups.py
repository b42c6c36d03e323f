"""One cgroup v2 group per program (wrapctl/core/cgroups.py), on real processes.

The case that only a cgroup gets right: a grandchild that calls setsid(), clears its
environment (no instance marker) and is orphaned (its parent exits), so neither parentage,
marker, process group nor session ties it to its program. With groups it dies with its
program; with cgroups=false it survives, which the tests check too, so they would fail if
the groups were not used. They skip where the machine offers no writable cgroup2 mount.
"""
import os
import signal
import subprocess

import pytest

from harness import alive, wait_for
from wrapctl.core import cgroups

pytestmark = pytest.mark.timeout(60)


def _writable_cgroup2():
    g = cgroups.Cgroups.create(f"/tmp/wrapctl-test-probe-{os.getpid()}", None)
    if g is None:
        return False
    g.close()
    return True


if not _writable_cgroup2():
    pytest.skip("no writable cgroup2 mount here", allow_module_level=True)


def escaping(tmp_path, tag):
    """A program whose grandchild escapes every attribution but a cgroup's; the grandchild
    writes its pid to a file."""
    pidf = tmp_path / f"escaper-{tag}.pid"
    cmd = (f"sh -c \"(setsid env -i sh -c 'echo $$ > {pidf}; exec sleep 1001' &); "
           f"exec sleep 1002\"")
    return cmd, pidf


@pytest.fixture
def escapees():
    """Pids to kill after the test if still alive (a failing test must not leave them)."""
    pids = []
    yield pids
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def read_pid(path, escapees=None):
    wait_for(lambda: path.exists() and path.read_text().strip().isdigit(),
             what=f"pid in {path}")
    pid = int(path.read_text())
    if escapees is not None:
        escapees.append(pid)
    return pid


def group_of(pid):
    with open(f"/proc/{pid}/cgroup") as f:
        return [line[3:].strip() for line in f if line.startswith("0::")][0]


def test_stop_kills_an_escaped_grandchild(wrapctld, tmp_path, escapees):
    cmd, pidf = escaping(tmp_path, "a")
    d = wrapctld(f"[program:esc]\ncommand={cmd}\nstartsecs=0\n")
    d.wait_state("esc", "RUNNING")
    main = d.info("esc")["pid"]
    escaped = read_pid(pidf, escapees)
    assert os.getsid(escaped) != os.getsid(main)
    assert group_of(escaped) == group_of(main)
    assert group_of(main).endswith("/esc:esc")
    d.rpc().stopProcess("esc")
    wait_for(lambda: not alive(escaped), what="escaped grandchild gone")
    assert not alive(main)


def test_crash_cleans_up_an_escaped_grandchild(wrapctld, tmp_path, escapees):
    cmd, pidf = escaping(tmp_path, "b")
    d = wrapctld(f"[program:esc]\ncommand={cmd}\nstartsecs=0\nautorestart=false\n"
                 "stopwaitsecs=2\n")
    d.wait_state("esc", "RUNNING")
    main = d.info("esc")["pid"]
    escaped = read_pid(pidf, escapees)
    os.kill(main, signal.SIGKILL)
    d.wait_state("esc", "EXITED")
    wait_for(lambda: not alive(escaped), what="escaped grandchild gone after the crash")
    d.wait_log("left processes behind")


def test_cgroups_false_keeps_the_old_attribution(wrapctld, tmp_path, escapees):
    cmd, pidf = escaping(tmp_path, "c")
    d = wrapctld(f"[program:esc]\ncommand={cmd}\nstartsecs=0\n",
                 daemon_options="cgroups=false\n")
    d.wait_state("esc", "RUNNING")
    escaped = read_pid(pidf, escapees)
    try:
        d.rpc().stopProcess("esc")
        # Without a group nothing ties it to esc: it is still there (by design of this
        # test; this is the case docs/architecture.md says only cgroups make exact).
        assert alive(escaped)
    finally:
        os.kill(escaped, signal.SIGKILL)
        wait_for(lambda: not alive(escaped), what="escaped grandchild killed by the test")


def test_groups_are_removed_at_shutdown(wrapctld, tmp_path):
    d = wrapctld("[program:a]\ncommand=sleep 1000\nstartsecs=0\n"
                 "[program:b]\ncommand=sleep 1001\nstartsecs=0\n")
    d.wait_state("a", "RUNNING")
    d.wait_state("b", "RUNNING")
    base = None
    for mount in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        cand = os.path.dirname(mount + group_of(d.info("a")["pid"]))
        if os.path.isdir(cand):
            base = cand
            break
    assert base is not None and os.path.basename(base).startswith("wrapctl.")
    assert sorted(os.listdir(base)) >= ["a:a", "b:b"]
    assert cgroups.members(os.path.join(base, "a:a")) == [d.info("a")["pid"]]
    d.stop()
    assert not os.path.exists(base)


def test_reattached_program_keeps_its_group(wrapctld, tmp_path, escapees):
    """After a SIGKILL of the core, the next core re-attaches and uses the same group: the
    escaped grandchild still goes with its program."""
    cmd, pidf = escaping(tmp_path, "d")
    d = wrapctld(f"[program:esc]\ncommand={cmd}\nstartsecs=0\n")
    d.wait_state("esc", "RUNNING")
    main = d.info("esc")["pid"]
    escaped = read_pid(pidf, escapees)
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(timeout=30)
    assert alive(main) and alive(escaped)
    d.start()
    assert d.info("esc")["pid"] == main
    d.rpc().stopProcess("esc")
    wait_for(lambda: not alive(escaped), what="escaped grandchild gone")
    assert not alive(main)


def test_processes_in_groups_below_the_programs_are_members(wrapctld, tmp_path, escapees):
    """A program that makes cgroups of its own (a nested supervisor, a container runtime):
    what it moved into them still goes with it."""
    d = wrapctld("[program:nest]\ncommand=sleep 1000\nstartsecs=0\n")
    d.wait_state("nest", "RUNNING")
    main = d.info("nest")["pid"]
    mount = next(m for m in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup")
                 if os.path.isdir(m + group_of(main)))
    sub = mount + group_of(main) + "/inner"
    os.mkdir(sub)
    # Started by the test (outside the program), then moved into the program's subgroup,
    # as a nested supervisor would do with its own children.
    p = subprocess.Popen(["setsid", "sleep", "1003"])
    escapees.append(p.pid)
    with open(sub + "/cgroup.procs", "w") as f:
        f.write(str(p.pid))
    assert p.pid in cgroups.members(mount + group_of(main))
    d.rpc().stopProcess("nest")
    p.wait(timeout=30)
    assert p.returncode == -9
    d.stop()
    assert not os.path.exists(os.path.dirname(sub)), "groups left after shutdown"


def test_a_state_file_naming_another_group_is_not_trusted(wrapctld, tmp_path, escapees):
    """The state file says which group a re-attached program is in; if it names any other
    group (edited, or from another daemon), its members must not be signalled."""
    import json
    d = wrapctld("[program:a]\ncommand=sleep 1000\nstartsecs=0\n")
    d.wait_state("a", "RUNNING")
    main = d.info("a")["pid"]
    mount = next(m for m in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup")
                 if os.path.isdir(m + group_of(main)))
    # A bystander in a group of its own, outside this daemon's groups.
    other = os.path.join(os.path.dirname(os.path.dirname(mount + group_of(main))),
                         f"wrapctl-test-bystander-{os.getpid()}")
    os.mkdir(other)
    bystander = subprocess.Popen(["sleep", "1004"])
    escapees.append(bystander.pid)
    try:
        with open(other + "/cgroup.procs", "w") as f:
            f.write(str(bystander.pid))
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(timeout=30)
        state = d.root + "/supervisord.pid.state"
        with open(state) as f:
            data = json.load(f)
        text = json.dumps(data).replace(mount + group_of(main), other)
        assert other in text
        with open(state, "w") as f:
            f.write(text)
        d.start()
        assert d.info("a")["pid"] == main
        d.rpc().stopProcess("a")
        assert bystander.poll() is None, "a process in the group the state file named was hit"
    finally:
        bystander.kill()
        bystander.wait()
        os.rmdir(other)


def test_programs_started_together_each_get_their_group_and_the_daemon_goes_home(wrapctld):
    """A start-up spawns many programs in one loop pass; the daemon moves from group to group
    and back to its own afterwards."""
    d = wrapctld("[program:pool]\ncommand=sleep 1000\nstartsecs=0\nnumprocs=4\n"
                 "process_name=%(program_name)s_%(process_num)s\n"
                 "[program:single]\ncommand=sleep 1001\nstartsecs=0\n")
    names = [f"pool:pool_{i}" for i in range(4)] + ["single"]
    for n in names:
        d.wait_state(n, "RUNNING")
    groups = {n: group_of(d.info(n)["pid"]) for n in names}
    assert len(set(groups.values())) == 5
    for n, g in groups.items():
        assert g.endswith("/" + (n if ":" in n else f"{n}:{n}")), (n, g)
    assert group_of(d.proc.pid) == group_of(os.getpid())


def test_forking_command_that_leaves_nothing_fails_at_once(wrapctld, tmp_path):
    # nut's upsd with MODE=none prints "disabled" and exits 0: with its cgroup empty nothing
    # can write the pidfile any more, so the start fails now, not after ready_timeout.
    d = wrapctld("[program:f]\ncommand=/bin/sh -c 'echo disabled; exit 0'\n"
                 f"pidfile={tmp_path}/f.pid\nready_timeout=600\nstartretries=1\n")
    d.wait_state("f", "FATAL")
    assert "f: launcher" in open(d.mainlog).read()
    assert "exited 0 and left no process: no daemon to wait for" in open(d.mainlog).read()
