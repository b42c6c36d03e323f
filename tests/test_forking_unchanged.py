"""Forking programs from an unchanged supervisord.conf (issue 10), with real daemons.

Each case is the [program:x] an operator already has (`/etc/init.d/nginx start`, `service
nginx start`, plain nginx, redis-server with Debian's `daemonize yes`, `apachectl start`,
php-fpm without -F, a Python daemon that double-forks with no pidfile, an init script no
recipe knows): no pidfile=, no recipe=. Under `wrapctl daemon` the program must be RUNNING
on the daemon's own pid (the pid that holds the listening port, its executable the
daemon's), say it forked when it did, come back on a new pid that answers after kill -9,
and leave no process after stop and after shutdown. Under real supervisord 4.3, the same
lines show what it does: "Exited too quickly" while the daemon runs on as an orphan it does
not know (reaped here by port and temp path, never by name). Then: two daemons left
(refused), forking=off (supervisord's behaviour), a stale pidfile.

`service nginx start` runs with the supervisor in a private mount namespace where the
fixture's init.d dir is mounted on /etc/init.d (service(8) looks nowhere else); it needs root
and `unshare -m`, else it is skipped. Daemons are identified by facts: the pids holding the
case's port (forking_support.holders) and /proc/PID/exe.
"""
import os
import re
import signal
import time

import pytest

import forking_support as fs
from harness import log_seconds, wait_for

RUNNING_DEADLINE = 20
# The words of a refusal to choose between daemons (as opposed to the leftover sweep).
REFUSAL = re.compile(r"(?i)candidat|cannot tell|refus|ambiguous|unrelated")


class Lab:
    """One test's daemons: the case's files live in tmp_path/case, each supervisor in
    tmp_path/<kind>. close() shuts the supervisors down and kills what they left."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.root = tmp_path / "case"
        os.makedirs(self.root, exist_ok=True)
        os.chmod(self.root, 0o755)
        self.daemons, self.cases = [], []

    def build(self, builder):
        case = builder(self.root)
        self.cases.append(case)
        return case

    def start(self, case, kind, extra=""):
        d = fs.supervisor(case, kind, self.tmp / kind)
        self.daemons.append(d)
        return d.start(case.section("x", extra))

    def close(self):
        for d in self.daemons:
            d.stop()
        for c in self.cases:
            fs.reap(c.root, c.ports)


@pytest.fixture
def lab(tmp_path):
    lab = Lab(tmp_path)
    yield lab
    lab.close()


def needs(binary):
    if fs.missing(binary):
        pytest.skip(f"{binary} not installed")


def needs_case(name):
    builder, binary = fs.CASES[name]
    needs(binary)
    if name == "nginx-service" and not fs.namespaces_work():
        pytest.skip("service(8) reads /etc/init.d only: needs root and unshare -m to mount "
                    "the fixture there privately")
    return builder


def explain(d, case):
    info = d.info("x")
    return (f"{case.name}: {info['statename']} pid={info['pid']} {info['description']!r}; "
            f"port {case.port} holders {sorted(fs.holders(case.port))}\n"
            f"--- main log tail ---\n{d.mainlog_text()[-3000:]}")


def running_on_owner(d, case, not_pid=0, deadline=RUNNING_DEADLINE):
    """Wait until x is RUNNING on the pid that holds the port, answering; return that pid.
    Fails at once with the log when x gives up (FATAL)."""
    def check():
        info = d.info("x")
        if info["statename"] == "FATAL":
            raise AssertionError("FATAL: " + explain(d, case))
        owner = case.owner()
        if (info["statename"] == "RUNNING" and owner and info["pid"] == owner
                and owner != not_pid and case.answers()):
            return owner
        return None
    try:
        return wait_for(check, deadline, "running on the port's owner")
    except AssertionError as e:
        if "FATAL" in str(e):
            raise
        raise AssertionError("not RUNNING on the daemon's pid: " + explain(d, case))


def gone(pids, case):
    """Every pid in pids is dead and nothing listens on the case's ports."""
    return not [p for p in pids if fs.alive(p)] and not any(fs.holders(p) for p in case.ports)


def assert_gone(pids, case, when):
    try:
        wait_for(lambda: gone(pids, case), 15, when)
    except AssertionError:
        left = {p: fs.cmdline(p) for p in pids if fs.alive(p)}
        raise AssertionError(f"{case.name}: after {when}, alive {left}; port holders "
                             f"{ {p: sorted(fs.holders(p)) for p in case.ports} }")


def wrapctl_lifecycle(lab, case, check_pidfile=""):
    d = lab.start(case, "wrapctl")
    first = running_on_owner(d, case)
    assert fs.exe(first) == case.exe, (fs.exe(first), case.exe)
    info = d.info("x")
    spawned = {int(m[2].rsplit(" ", 1)[1]) for m in d.log_matches(r"spawned: 'x' with pid")}
    if first not in spawned:
        # The daemon is not the process the core launched: it forked, and status says so;
        # RUNNING came startsecs (1 s, the default) after the launch, as for any program
        # (the "spawned" line is logged a little after the launch the timer counts from).
        assert "fork" in info["description"].lower(), \
            f"description does not say it forked: {info['description']!r}"
        status = d.wrapctl("status", "x").stdout
        assert "fork" in status.lower(), f"status does not say it forked: {status!r}"
        launched = d.log_matches(r"spawned: 'x' with pid")[0][0]
        running = d.log_matches(r"x entered RUNNING state")[0]
        assert log_seconds(running[0]) - log_seconds(launched) >= 0.9, \
            f"RUNNING before startsecs: {running}"
    if case.name.startswith("nginx-") and case.name != "nginx-plain":
        # an init-script line run by its recipe in the foreground says so, naming adopt
        assert d.log_matches("wrapctl adopt"), d.mainlog_text()
    if check_pidfile:
        assert int(open(check_pidfile).read().split()[0]) == first
    seen = fs.descendants(first) | fs.holders(case.port)

    os.kill(first, signal.SIGKILL)
    second = running_on_owner(d, case, not_pid=first)
    assert second != first and fs.exe(second) == case.exe
    if check_pidfile:
        wait_for(lambda: int(open(check_pidfile).read().split()[0]) == second, 10,
                 "the new daemon's pidfile")
    seen |= fs.descendants(second) | fs.holders(case.port)

    d.rpc().stopProcess("x")
    assert d.info("x")["statename"] == "STOPPED"
    assert_gone(seen, case, "stopProcess")

    d.rpc().startProcess("x")
    third = running_on_owner(d, case)
    seen |= fs.descendants(third) | fs.holders(case.port)
    d.stop()
    assert_gone(seen, case, "shutdown")


def supervisord_orphans(lab, case):
    """supervisord's view: 'Exited too quickly' while the daemon runs on, outside it."""
    d = lab.start(case, "supervisord")

    def too_quick():
        info = d.info("x")
        return (info["statename"] in ("BACKOFF", "FATAL")
                and "Exited too quickly" in info["description"]) and info
    info = wait_for(too_quick, 30, "supervisord: Exited too quickly")
    orphan = wait_for(case.owner, 15, "the daemon on its port")
    assert fs.exe(orphan) == case.exe
    assert info["pid"] != orphan and fs.ppid(orphan) != d.proc.pid
    d.stop()
    assert fs.alive(orphan), "supervisord's shutdown was expected to leave the daemon"
    return orphan


CASE_NAMES = ["nginx-initd", "nginx-service", "nginx-plain", "redis", "apache2", "php-fpm",
              "pyfork", "staled-initd"]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("name", CASE_NAMES)
def test_unchanged_line(lab, kind, name):
    case = lab.build(needs_case(name))
    if kind == "wrapctl":
        # staled-initd: the pid is the script's pidfile's, which kill -9 leaves stale
        wrapctl_lifecycle(lab, case, check_pidfile=case.note)
    else:
        supervisord_orphans(lab, case)


@pytest.mark.timeout(60)
def test_supervisord_gives_up_with_the_daemon_running(lab):
    """The whole of supervisord's answer to `/etc/init.d/nginx start`: FATAL, and a kill -9
    of the daemon it never knew brings nothing back."""
    needs(fs.NGINX)
    case = lab.build(fs.nginx_initd)
    d = lab.start(case, "supervisord")
    info = d.wait_state("x", "FATAL", deadline=40)
    assert "Exited too quickly" in info["description"]
    orphan = case.owner()
    assert orphan and fs.exe(orphan) == case.exe and fs.ppid(orphan) != d.proc.pid
    before = fs.holders(case.port)
    os.kill(orphan, signal.SIGKILL)
    # Nothing is there to notice: no new master ever holds the port (the orphaned workers
    # go on serving the old socket, unsupervised). FATAL is final, so a short look suffices.
    time.sleep(2)
    assert fs.holders(case.port) <= before - {orphan}
    assert d.info("x")["statename"] == "FATAL"


@pytest.mark.timeout(60)
def test_two_daemons_left_are_refused(lab, kind):
    """The command leaves two unrelated daemons (two sessions): wrapctl cannot tell which is
    the program, says so in one line naming both, and kills both."""
    case = lab.build(fs.two_daemons)
    d = lab.start(case, kind)
    if kind == "supervisord":
        info = wait_for(lambda: (i := d.info("x"))["statename"] in ("BACKOFF", "FATAL") and i,
                        30, "supervisord gives up")
        assert "Exited too quickly" in info["description"]
        owners = [wait_for(lambda p=p: fs.port_owner(p), 15, "daemon up") for p in case.ports]
        d.stop()
        assert all(fs.alive(p) for p in owners), "supervisord left both daemons running"
        return

    def refusal():
        pids = fs.traced_pids(case.root)
        for a, b in zip(pids[0::2], pids[1::2]):
            # a refusal that says why, not the plain leftover sweep every launcher exit gets
            lines = [m for m in d.log_matches(rf"\b{a}\b")
                     if re.search(rf"\b{b}\b", m[2]) and REFUSAL.search(m[2])]
            if lines:
                return a, b, lines
        return None
    try:
        a, b, lines = wait_for(refusal, 20, "one line naming both candidates")
    except AssertionError:
        raise AssertionError(f"no refusal naming both daemons {fs.traced_pids(case.root)}: "
                             + explain(d, case))
    assert len(lines) == 1, lines
    wait_for(lambda: not fs.alive(a) and not fs.alive(b), 15, "both candidates killed")
    assert d.info("x")["statename"] != "RUNNING"
    d.stop()
    assert_gone(fs.traced_pids(case.root), case, "shutdown")


@pytest.mark.timeout(60)
def test_forking_off_is_supervisords_behaviour(lab, kind):
    """forking=off: the same 'Exited too quickly' as supervisord (which ignores the key)."""
    case = lab.build(fs.pyfork)
    d = lab.start(case, kind, extra="forking=off\n")
    info = wait_for(lambda: (i := d.info("x"))["statename"] in ("BACKOFF", "FATAL", "RUNNING")
                    and i, 30, "the launcher's exit judged")
    assert info["statename"] in ("BACKOFF", "FATAL"), explain(d, case)
    assert info["description"] == "Exited too quickly (process log may have details)"
    d.stop()
    if kind == "wrapctl":
        assert not d.log_matches(r"forking.*unknown"), "forking= is a wrapctl option"
        assert_gone(fs.traced_pids(case.root), case, "shutdown")


@pytest.mark.timeout(90)
def test_stale_pidfile(lab, kind):
    """The daemon refuses to start over an existing pidfile (as webfsd does), and its pidfile
    names a dead pid. wrapctl removes it before each start (the first, and after kill -9,
    which leaves it behind again); supervisord runs into the refusal."""
    case = lab.build(fs.stale_pidfile)
    if kind == "wrapctl":
        wrapctl_lifecycle(lab, case, check_pidfile=case.note)
        return
    d = lab.start(case, kind)
    info = wait_for(lambda: (i := d.info("x"))["statename"] in ("BACKOFF", "FATAL") and i,
                    30, "supervisord's verdict")
    assert "Exited too quickly" in info["description"]
    assert not fs.holders(case.port)
    assert os.path.exists(case.note)
