"""Sans-IO rules of the shim engine: pidfile contents/metadata, identity, signal parsing."""
import os
import signal
import stat
import subprocess
import sys

import pytest

from wrapctl.shims import identity, pidfile, reaper
from wrapctl.shims import status as st
from wrapctl.shims.pidfile import Meta, Refusal

REG = stat.S_IFREG | 0o644


@pytest.mark.parametrize("data,want", [
    (b"1234\n", 1234), (b"  42  ", 42), (b"77\nport 8080\n", 77), (b"", None), (b"\n \n", None),
])
def test_parse_accepts(data, want):
    assert pidfile.parse(data) == want


@pytest.mark.parametrize("data,needle", [
    (b"12ab\n", "garbage"), (b"-5", "garbage"), (b"0\n", "not a valid pid"),
    (b"99999999", "not a valid pid"), (b"1\n", "pid 1"), (b"\xff\xfe", "garbage"),
    (b"1" * 100, "bytes, not a pid"), (b"\xd9\xa3", "garbage"),   # Arabic-Indic digit 3
])
def test_parse_refuses(data, needle):
    got = pidfile.parse(data)
    assert isinstance(got, Refusal) and needle in got.reason


def test_meta_rules():
    ok = pidfile.check_meta
    assert ok(Meta(False, 0, REG, 0), euid=0) is None
    assert ok(Meta(True, 0, REG, 0), euid=0) is None                  # root's own symlink
    assert ok(Meta(True, 1000, REG, 1000), euid=1000) is None         # my own symlink
    assert "symlink owned by uid 65534" in ok(Meta(True, 65534, REG, 0), euid=0).reason
    assert "world-writable" in ok(Meta(False, 0, stat.S_IFREG | 0o666, 0), euid=0).reason
    assert ok(Meta(False, 1000, stat.S_IFREG | 0o666, 1000), euid=1000) is None
    assert "not a regular file" in ok(Meta(False, 0, stat.S_IFIFO | 0o644, 0), euid=0).reason


def test_read_does_not_hang_on_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "p.pid")
    r = pidfile.read(str(tmp_path / "p.pid"), os.geteuid())
    assert r.refusal and "not a regular file" in r.refusal.reason


def test_read_missing_and_stamp_changes(tmp_path):
    path = tmp_path / "p.pid"
    assert pidfile.read(str(path), 0) == pidfile.Reading()
    path.write_text("123\n")
    a = pidfile.read(str(path), 0)
    path.write_text("1234\n")
    b = pidfile.read(str(path), 0)
    assert (a.pid, b.pid) == (123, 1234) and a.stamp != b.stamp


def snap(**kw):
    base = dict(pid=500, name="nginx", zombie=False, create_time=100.0, ancestors=(400, 10, 1))
    base.update(kw)
    return identity.Snapshot(**base)


def test_judge():
    j = identity.judge
    assert j(500, snap(), 10, 99.0) is None                           # grandchild of the shim
    assert j(500, snap(), 10, 100.0) is None                          # same clock tick
    assert "pid 1" in j(1, None, 10, 99.0)
    assert "the shim itself" in j(10, snap(pid=10), 10, 99.0)
    assert "not running" in j(500, None, 10, 99.0)
    assert "zombie" in j(500, snap(zombie=True), 10, 99.0)
    assert "outside the shim's process tree" in j(500, snap(ancestors=(300, 1)), 10, 99.0)
    assert "started before the shim" in j(500, snap(), 10, 101.0)     # a reused pid
    assert "not the --exe httpd" in j(500, snap(), 10, 99.0, exe="httpd")
    assert j(500, snap(), 10, 99.0, exe="nginx") is None


def test_snapshot_of_a_real_child():
    child = subprocess.Popen(["sleep", "30"])
    try:
        s = identity.snapshot(child.pid)
        assert s.name == "sleep" and not s.zombie and s.ancestors[0] == os.getpid()
        assert identity.judge(child.pid, s, os.getpid(), s.create_time) is None
    finally:
        child.kill()
        child.wait()
    assert identity.snapshot(child.pid) is None


def test_signal_parsing_and_statuses():
    assert st.parse_signal("term") == signal.SIGTERM
    assert st.parse_signal("SIGQUIT") == signal.SIGQUIT
    assert st.parse_signal("10") == 10 and st.parse_signal("NONE") == 0
    for bad in ("BOGUS", "999", ""):
        with pytest.raises(ValueError):
            st.parse_signal(bad)
    assert st.from_wait_status(9) == 137          # raw status of a SIGKILLed child
    assert st.from_wait_status(3 << 8) == 3


def test_subreaper_in_a_child_process():
    # Not in the test process itself: it would adopt every orphan of the suite.
    code = ("from wrapctl.shims import reaper; assert not reaper.is_child_subreaper(); "
            "reaper.set_child_subreaper(); assert reaper.is_child_subreaper()")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
    assert reaper.PR_SET_CHILD_SUBREAPER == 36


def test_shim_imports_neither_click_nor_the_core():
    code = ("import sys, wrapctl.shims.main; "
            "bad = [m for m in sys.modules if m == 'click' or m.startswith('click.') or "
            "(m.startswith('wrapctl.') and not m.startswith('wrapctl.shims'))]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


def test_inotify_watch_reports_writes_and_renames(tmp_path):
    from wrapctl.shims import inotify
    w = inotify.Watch(str(tmp_path), inotify.CLOSE_WRITE | inotify.MOVED_TO)
    try:
        assert w.read() == []                      # non-blocking when nothing happened
        (tmp_path / "a").write_text("1")
        (tmp_path / "b.tmp").write_text("2")
        os.rename(tmp_path / "b.tmp", tmp_path / "b")
        got = w.read()
        assert (inotify.CLOSE_WRITE, "a") in got and (inotify.MOVED_TO, "b") in got
    finally:
        w.close()
    with pytest.raises(OSError):
        inotify.Watch(str(tmp_path / "missing"), inotify.CLOSE_WRITE)


def test_procfs_children_and_stat():
    from wrapctl.shims import procfs
    child = subprocess.Popen(["sh", "-c", "sleep 30 & wait"])
    try:
        grand = []

        def found():
            grand[:] = procfs.children(child.pid)
            return grand
        import time
        deadline = time.monotonic() + 10
        while not found() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert procfs.stat(grand[0])[1] == child.pid
        assert child.pid in procfs.children(os.getpid())
        assert grand[0] in procfs.children(os.getpid(), recursive=True)
        assert procfs.argv0(grand[0]) == "sleep"
    finally:
        for pid in grand:
            os.kill(pid, signal.SIGKILL)
        child.kill()
        child.wait()
    assert procfs.stat(child.pid) is None


def test_loop_timers_fire_in_order_and_cancel():
    from wrapctl.shims.loop import Loop
    loop, seen = Loop(), []
    loop.call_later(0.02, lambda: seen.append("b"))
    loop.call_later(0.01, lambda: seen.append("a"))
    h = loop.call_later(0.015, lambda: seen.append("cancelled"))
    loop.cancel(h)
    loop.call_later(0.03, loop.stop)
    loop.run()
    assert seen == ["a", "b"]


def test_decide_on_pidfile():
    from wrapctl.shims import decide
    from wrapctl.shims.pidfile import Reading
    ok = lambda pid: None
    no = lambda pid: f"names pid {pid}, which is not running"
    on = lambda r, fresh=True, final=True, exited=None, check=ok: decide.on_pidfile(
        r, "/p", fresh, final, exited or {}, check)
    stamp = (1, 2, 3, 4)
    assert on(Reading()) == (decide.WAIT, "pidfile /p never appeared")
    assert on(Reading(stamp=stamp)) == (decide.WAIT, "pidfile /p is empty")
    assert on(Reading(pid=50, stamp=stamp)) == (decide.ADOPT, 50)
    assert on(Reading(pid=50, stamp=stamp), fresh=False) == (decide.ADOPT, 50)
    assert on(Reading(pid=50, stamp=stamp), fresh=False, check=no) == (
        decide.WAIT, "pidfile /p still holds 50 from before the launch")
    assert on(Reading(pid=50, stamp=stamp), check=no) == (
        decide.REFUSE, "pidfile /p names pid 50, which is not running")
    assert on(Reading(pid=50, stamp=stamp), final=False, check=no)[0] == decide.WAIT
    assert on(Reading(pid=50, stamp=stamp), exited={50: 256}) == (decide.DIED, (50, 256))
    bad = Reading(refusal=Refusal("holds garbage 'x', not a pid"), stamp=stamp)
    assert on(bad) == (decide.REFUSE, "pidfile /p holds garbage 'x', not a pid")
    assert on(bad, final=False)[0] == decide.WAIT


def test_decide_pick():
    from wrapctl.shims import decide
    a, b = snap(pid=5, name="nginx"), snap(pid=6, name="sleep")
    assert decide.pick([a]) == (a, [])
    assert decide.pick([]) == (None, [])
    assert decide.pick([a, b]) == (None, [a, b])
    assert decide.pick([a, b], exe="sleep") == (b, [])
    assert decide.pick([a, b], exe="httpd") == (None, [])
