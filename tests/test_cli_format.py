"""Pure parts of the control client: texts and exit statuses, checked against supervisorctl's
own formatting functions where it has them (supervisor 4.3 is a test dependency)."""
import os

import pytest

from wrapctl.cli import format as fmt
from wrapctl.cli.format import Exit, Faults, States
from wrapctl.cli.target import ConfigProblem, read_client_settings, resolve_target


def info(name, group=None, state=States.RUNNING, statename="RUNNING", desc="pid 1, uptime 0:00:01"):
    return {"name": name, "group": group or name, "state": state, "statename": statename,
            "description": desc, "pid": 1}


ALL = [info("a"), info("b", state=States.STOPPED, statename="STOPPED", desc="Not started"),
       info("c", "g"), info("d", "g", state=States.FATAL, statename="FATAL", desc="Exited too quickly")]


@pytest.mark.parametrize("spec", ["a", "g:*", "g:", "g:c", "a:b:c", ":x", ""])
def test_split_namespec_matches_supervisor(spec):
    from supervisor.options import split_namespec
    assert fmt.split_namespec(spec) == split_namespec(spec)


def test_status_lines_pad_like_supervisorctl():
    long = info("x" * 40, "grp")
    lines = fmt.status_lines([info("a"), long])
    width = len("grp:" + "x" * 40) + 3
    assert lines[0] == "a".ljust(width) + "RUNNING".ljust(10) + "pid 1, uptime 0:00:01"
    assert lines[1].startswith("grp:" + "x" * 40 + "   RUNNING   pid")
    assert fmt.status_lines([info("a")])[0].startswith("a" + " " * 32 + "RUNNING   ")


@pytest.mark.parametrize("names,status", [
    ([], Exit.STATUS_NOT_RUNNING),          # b is stopped
    (["all"], Exit.STATUS_NOT_RUNNING),
    (["a"], Exit.SUCCESS),
    (["g:c"], Exit.SUCCESS),
    (["g:*"], Exit.STATUS_NOT_RUNNING),     # d is FATAL
    (["nope"], Exit.STATUS_UNKNOWN),
    (["nope", "a"], Exit.STATUS_UNKNOWN),
    (["nope", "b"], Exit.STATUS_NOT_RUNNING),   # not running wins, as in supervisorctl
])
def test_status_exit(names, status):
    assert fmt.status_outcome(ALL, names).status == status


def test_status_errors_first_then_table():
    o = fmt.status_outcome(ALL, ["zz:*", "a", "g:q"])
    assert o.lines[0] == "zz: ERROR (no such group)"
    assert o.lines[1] == "g:q: ERROR (no such process)"
    assert o.lines[2].startswith("a  ")


def test_status_json_shape():
    out = fmt.status_json([info("c", "g")])
    assert out[0]["namespec"] == "g:c" and out[0]["statename"] == "RUNNING"


def res(status, name="p", group="g", desc=""):
    return {"status": status, "name": name, "group": group, "description": desc}


@pytest.mark.parametrize("code", [Faults.BAD_NAME, Faults.NO_FILE, Faults.NOT_EXECUTABLE,
                                  Faults.ALREADY_STARTED, Faults.SPAWN_ERROR,
                                  Faults.ABNORMAL_TERMINATION, Faults.SUCCESS])
def test_start_line_matches_supervisorctl(code):
    from supervisor.supervisorctl import DefaultControllerPlugin
    plugin = DefaultControllerPlugin(None)
    assert fmt.start_line(res(code)) == plugin._startresult(res(code))


@pytest.mark.parametrize("code", [Faults.BAD_NAME, Faults.BAD_SIGNAL, Faults.NOT_RUNNING,
                                  Faults.SUCCESS, Faults.FAILED])
def test_signal_and_stop_lines_match_supervisorctl(code):
    from supervisor.supervisorctl import DefaultControllerPlugin
    plugin = DefaultControllerPlugin(None)
    r = res(code, desc="FAILED: g:p")
    assert fmt.signal_line(r) == plugin._signalresult(r)
    assert fmt.stop_line(r) == plugin._stopresult(r)


@pytest.mark.parametrize("code", [Faults.BAD_NAME, Faults.FAILED, Faults.SUCCESS])
def test_clear_line_matches_supervisorctl(code):
    from supervisor.supervisorctl import DefaultControllerPlugin
    assert fmt.clear_line(res(code)) == DefaultControllerPlugin(None)._clearresult(res(code))


def test_outcome_fault_codes():
    o = fmt.Outcome()
    o.fault(Faults.ALREADY_STARTED, Faults.ALREADY_STARTED)
    assert o.status == Exit.SUCCESS
    o.fault(Faults.SPAWN_ERROR)
    assert o.status == Exit.NOT_RUNNING
    o.fault(Faults.BAD_NAME)
    assert o.status == Exit.GENERIC
    o.fault(Faults.SUCCESS)
    assert o.status == Exit.GENERIC     # success never resets


def test_changes_and_avail_lines():
    assert fmt.changes_lines([], [], []) == ["No config updates to processes"]
    assert fmt.changes_lines(["b"], ["a"], ["c"]) == ["a: changed", "b: available",
                                                       "c: disappeared"]
    ci = {"name": "p", "group": "g", "inuse": True, "autostart": False,
          "group_prio": 999, "process_prio": 5}
    assert fmt.avail_line(ci) == "g:p".ljust(32) + " in use    manual    999:5"


@pytest.mark.parametrize("args,want", [
    (["p"], ("p", "stdout", 1600)),
    (["p", "STDERR"], ("p", "stderr", 1600)),
    (["-f", "p"], ("p", "stdout", None)),
    (["-100", "p", "stderr"], ("p", "stderr", 100)),
    (["p", "x", "stderr"], ("p", "stderr", 1600)),
])
def test_parse_tail_args(args, want):
    assert fmt.parse_tail_args(args) == want


@pytest.mark.parametrize("args,msg", [
    ([], "Error: too few arguments"),
    (["a", "b", "c", "d"], "Error: too many arguments"),
    (["-f"], "Error: tail requires process name"),
    (["p", "foo"], "Error: bad channel 'foo'"),
    (["-x", "p"], "Error: bad argument -x"),
])
def test_parse_tail_args_errors(args, msg):
    with pytest.raises(ValueError, match=msg):
        fmt.parse_tail_args(args)


def test_parse_maintail_args():
    assert fmt.parse_maintail_args([]) == 1600
    assert fmt.parse_maintail_args(["-f"]) is None
    assert fmt.parse_maintail_args(["-5"]) == 5
    for bad in (["x"], ["-x"], ["-1", "-2"]):
        with pytest.raises(ValueError):
            fmt.parse_maintail_args(bad)


# -- where the client connects -------------------------------------------------------------

def write(tmp_path, text):
    p = tmp_path / "supervisord.conf"
    p.write_text(text)
    return str(p)


def test_settings_from_supervisorctl_section(tmp_path, monkeypatch):
    monkeypatch.setenv("WC_USER", "bob")
    conf = write(tmp_path, "[supervisorctl]\nserverurl = unix://%(here)s/../x/s.sock ; note\n"
                           "username = %(ENV_WC_USER)s\npassword = pw\n")
    url, user, pw = read_client_settings(conf)
    assert url == "unix://" + os.path.normpath(str(tmp_path / ".." / "x" / "s.sock"))
    assert (user, pw) == ("bob", "pw")


def test_settings_fall_back_to_unix_http_server(tmp_path):
    conf = write(tmp_path, "[unix_http_server]\nfile=%(here)s/s.sock\n")
    assert read_client_settings(conf)[0] == f"unix://{tmp_path}/s.sock"


def test_settings_fall_back_to_inet_http_server(tmp_path):
    conf = write(tmp_path, "[inet_http_server]\nport=*:9123\nusername=u\npassword=p\n")
    assert read_client_settings(conf) == ("http://localhost:9123", "u", "p")
    conf = write(tmp_path, "[inet_http_server]\nport=127.0.0.2:9\nusername=u\n"
                           "password={SHA}abc\n")
    assert read_client_settings(conf) == ("http://127.0.0.2:9", None, None)


def test_command_line_wins(tmp_path):
    conf = write(tmp_path, "[supervisorctl]\nserverurl=http://127.0.0.1:1\nusername=a\n"
                           "password=b\n")
    assert resolve_target(conf, "unix:///x", "u", None) == ("unix:///x", "u", "b")
    assert resolve_target(conf, None, None, None) == ("http://127.0.0.1:1", "a", "b")


def test_default_url_without_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("wrapctl.cli.target.search_paths", lambda: [])
    assert resolve_target(None, None, None, None) == ("http://localhost:9001", None, None)


@pytest.mark.parametrize("text,where", [
    ("[supervisorctl]\nserverurl=unix://%(ENV_WC_NOPE_X)s\n", "serverurl"),
    ("[supervisorctl\n", "supervisord.conf"),
    ("[supervisorctl]\nserverurl=ftp://x\n", "bad server URL"),
])
def test_bad_client_settings_are_one_line(tmp_path, text, where):
    conf = write(tmp_path, text)
    with pytest.raises(ConfigProblem) as e:
        resolve_target(conf, None, None, None)
    assert where in str(e.value) and "\n" not in str(e.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigProblem, match="could not find config file"):
        resolve_target(str(tmp_path / "nope.conf"), None, None, None)
