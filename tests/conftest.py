"""Shared test fixtures.

Every test runs under pytest-timeout (pyproject sets the default). Tests start real processes
in temp dirs and on high loopback ports. The session sets a marker variable in its own
environment, which every process it starts inherits (double-forked daemons too); at the end,
`no_leftovers` fails the run if any process carrying the marker is still alive, and kills it.
"""
import os
import signal
import uuid

import psutil
import pytest

MARKER = "WRAPCTL_TEST_SESSION"


def _marked(token):
    me = os.getpid()
    found = []
    for p in psutil.process_iter(["pid", "status"]):
        if p.pid == me or p.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            if p.environ().get(MARKER) == token:
                found.append(p)
        except psutil.Error:
            pass
    return found


@pytest.fixture(scope="session", autouse=True)
def no_leftovers():
    """Fail the session if a process the suite started outlives it."""
    token = uuid.uuid4().hex
    os.environ[MARKER] = token
    yield
    left = _marked(token)
    desc = []
    for p in left:
        try:
            desc.append(f"{p.pid} {' '.join(p.cmdline())}")
            p.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
    assert not desc, "processes left behind by the suite:\n" + "\n".join(desc)


def _own_cgroup_dir():
    from wrapctl.core import cgroups
    mount, _ = cgroups._cgroup2_mount()
    own = cgroups._own_cgroup()
    return os.path.normpath(f"{mount}/{own}") if mount and own is not None else None


@pytest.fixture(scope="session", autouse=True)
def no_stale_cgroups():
    """Remove the empty cgroups that daemons the suite killed with SIGKILL left behind
    (a daemon removes its own at shutdown; a killed one cannot). Only groups that appeared
    during the session and are empty: rmdir refuses a group with processes."""
    home = _own_cgroup_dir()
    before = set(os.listdir(home)) if home and os.path.isdir(home) else set()
    yield
    if not home or not os.path.isdir(home):
        return
    for name in set(os.listdir(home)) - before:
        if name.startswith("wrapctl."):
            for d, _, _ in os.walk(os.path.join(home, name), topdown=False):
                try:
                    os.rmdir(d)
                except OSError:
                    pass


@pytest.fixture(params=["wrapctl", "supervisord"])
def kind(request):
    """A test that takes `kind` runs against `wrapctl daemon` and supervisord 4.3 alike."""
    return request.param


@pytest.fixture
def wrapctld(tmp_path):
    """Factory: wrapctld(programs_ini) starts `wrapctl daemon -n` in tmp_path; stopped after."""
    from harness import Daemon
    made = []

    def make(programs, kind="wrapctl", **kw):
        d = Daemon(kind, tmp_path / f"d{len(made)}")
        os.makedirs(d.root, exist_ok=True)
        made.append(d)
        return d.start(programs, **kw)

    yield make
    for d in made:
        d.stop()


@pytest.fixture
def open_tmp():
    """A temp dir others can traverse (0755), for files a test hands to user nobody:
    pytest's tmp_path is under a 0700 directory."""
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix="wcopen")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def shared_tmp():
    """A directory like /tmp (1777): anyone may create names in it, as an attacker does."""
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix="wcshared")
    os.chmod(d, 0o1777)
    yield d
    shutil.rmtree(d, ignore_errors=True)
