"""[rpcinterface:x] plugins, with supervisor_twiddler as the plugin: loaded and published as
supervisord publishes them, and a factory that cannot be imported or called refused at start
(exit 2) by both daemons."""
import os
import subprocess
import xmlrpc.client

import pytest

from harness import Daemon, wait_for
from wrapctl.rpc.client import ClientError

pytest.importorskip("supervisor_twiddler")

TWIDDLER = """
[rpcinterface:twiddler]
supervisor.rpcinterface_factory = supervisor_twiddler.rpcinterface:make_twiddler_rpcinterface
{extra}
[program:a]
command=sleep 1000
autostart=false
[program:b]
command=sleep 1000
autostart=false
[group:g]
programs=a
"""


def start(wrapctld, kind, extra=""):
    return wrapctld(TWIDDLER.format(extra=extra), kind=kind)


def fault(call):
    with pytest.raises(xmlrpc.client.Fault) as e:
        call()
    return e.value.faultCode, e.value.faultString


def test_twiddler_methods_as_supervisord(wrapctld, kind):
    d = start(wrapctld, kind)
    tw = d.proxy().twiddler
    assert tw.getAPIVersion() == "1.0"
    assert sorted(tw.getGroupNames()) == ["b", "g"]
    assert tw.log("twiddled here", "WARN") is True
    assert [e[1] for e in d.wait_log(r"^twiddled here$")] == ["WARN"]
    assert fault(lambda: tw.removeProcessFromGroup("nope", "a")) == (10, "BAD_NAME: group: nope")
    assert fault(lambda: tw.getAPIVersion(1))[0] == 2
    methods = d.proxy().system.listMethods()
    assert {"twiddler.getAPIVersion", "twiddler.getGroupNames", "twiddler.log",
            "twiddler.addProgramToGroup", "twiddler.removeProcessFromGroup"} <= set(methods)
    assert "process groups" in d.proxy().system.methodHelp("twiddler.getGroupNames")
    # the real supervisorctl still talks to the daemon alongside the plugin
    out = d.ctl("avail")
    assert out.returncode == 0 and "g:a" in out.stdout, out


def test_section_options_reach_the_factory(wrapctld, kind):
    d = start(wrapctld, kind, extra="whitelist = getAPIVersion")
    tw = d.proxy().twiddler
    assert tw.getAPIVersion() == "1.0"
    # the plugin's own fault code (230) and text come through unchanged
    assert fault(tw.getGroupNames) == (230, "UNKNOWN: getGroupNames")


def test_internals_wrapctl_lacks_are_one_fault(wrapctld):
    d = start(wrapctld, "wrapctl")
    tw = d.proxy().twiddler
    code, text = fault(lambda: tw.addProgramToGroup("g", "c", {"command": "sleep 5"}))
    assert code == 30 and "twiddler.addProgramToGroup" in text
    assert "options.processes_from_section" in text and "\n" not in text
    code, text = fault(lambda: tw.removeProcessFromGroup("g", "a"))
    assert code == 30 and "process_groups['g'].processes" in text
    assert d.rpc().getState()["statename"] == "RUNNING"
    assert "Traceback" not in d.mainlog_text()


def refused(tmp_path, kind, extra="", factory="make_twiddler_rpcinterface"):
    d = Daemon(kind, tmp_path / kind)
    text = TWIDDLER.format(extra=extra).replace("make_twiddler_rpcinterface", factory)
    d.write(text)
    r = subprocess.run(d.command(), capture_output=True, text=True, timeout=20, cwd=d.root)
    line = 2 + open(d.conf).read().split("\n").index("[rpcinterface:twiddler]")
    return r, d.conf, line


def test_mistyped_factory_refused_at_start(tmp_path, kind):
    r, conf, line = refused(tmp_path, kind, factory="make_twiddler_rpcinterfac")
    assert r.returncode == 2, r
    assert "make_twiddler_rpcinterfac" in r.stderr + r.stdout
    if kind == "wrapctl":
        err = r.stderr.strip()
        assert "\n" not in err, err
        assert f"{conf}:{line}: [rpcinterface:twiddler] supervisor.rpcinterface_factory" in err
        assert "cannot be resolved" in err


def test_missing_module_refused_at_start(tmp_path):
    r, conf, line = refused(tmp_path, "wrapctl", factory="no_such_plugin_mod:make")
    assert r.returncode == 2, r
    err = r.stderr.strip()
    assert "\n" not in err and f"{conf}:{line}:" in err and "no_such_plugin_mod" in err


def test_factory_that_fails_is_refused_at_start(tmp_path, kind):
    r, conf, line = refused(tmp_path, kind, extra="bogus = 1")
    assert r.returncode == 2, r
    if kind == "wrapctl":
        err = r.stderr.strip()
        assert "\n" not in err, err
        assert f"{conf}:{line}: [rpcinterface:twiddler]" in err
        assert "could not make the 'twiddler' RPC interface" in err and "bogus" in err
        assert not os.path.exists(os.path.join(os.path.dirname(conf), "supervisord.pid"))


def test_plugin_served_again_after_reload(wrapctld, kind):
    d = start(wrapctld, kind)
    assert d.ctl("reload").returncode == 0
    d.wait_log(r"RPC interface 'twiddler' initialized", count=2)

    def version():
        # supervisord logs the line before it binds the socket again
        try:
            return d.proxy().twiddler.getAPIVersion()
        except (OSError, ClientError, xmlrpc.client.Error):
            return None
    assert wait_for(version, what="twiddler served again") == "1.0"
