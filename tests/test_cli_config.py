"""avail, reread, update, add, remove, reload, shutdown: wrapctl against supervisorctl.

`update` changes the daemon, so it is compared on two daemons started from the same config
and given the same edit: supervisorctl updates one, wrapctl the other.
"""
import json

import pytest

from test_cli_server import server, wait_for  # noqa: F401

BEFORE = """
[program:keep]
command=sleep 1000
startsecs=0

[program:gone]
command=sleep 1000
startsecs=0

[program:chg]
command=sleep 1000
startsecs=0
priority=5

[group:g]
programs=g1,g2
priority=7

[program:g1]
command=sleep 1000
startsecs=0

[program:g2]
command=sleep 1000
startsecs=0
autostart=false
"""

AFTER = """
[program:keep]
command=sleep 1000
startsecs=0

[program:chg]
command=sleep 999
startsecs=0
priority=5

[group:g]
programs=g1,g2
priority=7

[program:g1]
command=sleep 1000
startsecs=0

[program:g2]
command=sleep 998
startsecs=0

[program:new]
command=sleep 1000
startsecs=0
"""


def running(s, *names):
    for n in names:
        s.wait_state(n, "RUNNING")
    return s


def test_avail(server):
    s = running(server(BEFORE), "keep", "g:g1")
    for args in [(), ("x",)]:
        s.same("avail", *args)
    lines = s.wrapctl("avail").stdout.splitlines()
    assert lines[0].split() == ["chg", "in", "use", "auto", "5:5"]
    assert "g:g2" in lines[2] and "manual" in lines[2] and "7:999" in lines[2]
    data = json.loads(s.wrapctl("avail", "--json").stdout)
    assert [d["namespec"] for d in data] == ["chg", "g:g1", "g:g2", "gone", "keep"]
    g2 = data[2]
    assert (g2["group"], g2["name"], g2["inuse"], g2["autostart"]) == ("g", "g2", True, False)
    assert g2["command"] == "sleep 1000" and g2["group_prio"] == 7


def test_reread_add_remove(server):
    s = running(server(BEFORE), "keep", "gone", "chg", "g:g1")
    s.same("reread")                        # nothing changed yet
    s.write(AFTER)
    s.same("reread")
    r = s.wrapctl("reread")
    assert r.stdout == "chg: changed\ng: changed\ngone: disappeared\nnew: available\n"
    rpc = s.rpc()
    for args in [("nope",), ("keep",)]:     # no such group; already active (exit 0)
        s.same("add", *args)
    a = s.ctl("add", "new")
    rpc.stopProcessGroup("new")
    rpc.removeProcessGroup("new")
    b = s.wrapctl("add", "new")
    assert (a.stdout, a.returncode) == (b.stdout, b.returncode) == ("new: added process group\n", 0)
    for args in [("nope",), ("keep",), ("keep", "nope")]:
        s.same("remove", *args)
    rpc.stopProcessGroup("keep")
    a = s.ctl("remove", "keep")
    rpc.addProcessGroup("keep")
    rpc.stopProcessGroup("keep")
    b = s.wrapctl("remove", "keep")
    assert (a.stdout, a.returncode) == (b.stdout, b.returncode) == \
        ("keep: removed process group\n", 0)
    rpc.stopProcessGroup("gone")
    rpc.removeProcessGroup("gone")
    s.same("add", "gone")           # no longer in the config


@pytest.mark.parametrize("names", [(), ("g",), ("chg", "nope"), ("new", "gone")])
def test_update(server, names):
    a = running(server(BEFORE, sub="a"), "keep", "g:g1")
    b = running(server(BEFORE, sub="b"), "keep", "g:g1")
    g1_pid = b.rpc().getProcessInfo("g:g1")["pid"]
    keep_pid = b.rpc().getProcessInfo("keep")["pid"]
    a.write(AFTER)
    b.write(AFTER)
    ra = a.ctl("update", *names)
    rb = b.wrapctl("update", *names)
    assert "Traceback" not in rb.stderr
    if b.kind == "supervisord":
        assert (rb.stdout, rb.returncode) == (ra.stdout, ra.returncode)
    else:
        # wrapctl's daemon updates process by process: nothing is stopped wholesale
        assert rb.returncode == ra.returncode
        assert [line for line in rb.stdout.splitlines() if not line.endswith(": stopped")
                or line.startswith("gone")] == \
            [line for line in ra.stdout.splitlines() if not line.endswith(": stopped")
             or line.startswith("gone")]
    # the same groups exist afterwards, and an untouched program kept running
    groups = lambda s: sorted({i["group"] for i in s.rpc().getAllProcessInfo()})  # noqa: E731
    assert groups(a) == groups(b)
    assert b.rpc().getProcessInfo("keep")["pid"] == keep_pid
    if b.kind != "supervisord" and (not names or "g" in names or "all" in names):
        assert b.rpc().getProcessInfo("g:g1")["pid"] == g1_pid
    if not names or "all" in names:         # everything applied: nothing left to do
        assert b.wrapctl("update").stdout == ""


def test_update_nothing_to_do(server):
    s = running(server(BEFORE), "keep")
    s.same("update")
    s.same("update", "all")
    assert s.wrapctl("update").stdout == ""


def test_reload(server):
    s = running(server(BEFORE), "keep")
    s.same("reload", "x")
    a = s.ctl("reload")
    s.wait_up()
    running(s, "keep")
    b = s.wrapctl("reload")
    assert (a.stdout, a.returncode) == (b.stdout, b.returncode) == ("Restarted supervisord\n", 0)
    s.wait_up()
    running(s, "keep")


def test_shutdown(server):
    s = server(BEFORE)
    s.same("shutdown", "x")
    a = s.ctl("shutdown")
    s.proc.wait(timeout=30)
    s.stop()
    running(s.start(BEFORE), "keep")
    b = s.wrapctl("shutdown")
    assert (a.stdout, a.returncode) == (b.stdout, b.returncode) == ("Shut down\n", 0)
    s.proc.wait(timeout=30)
    s.same("shutdown")              # already shut down: the socket is gone
    s.same("status")
