"""Configuration on the real daemon: every bad-config error path, reread/update/add/remove.

A bad configuration must make `wrapctl daemon` exit with status 2 and print exactly one line
on stderr naming the file, the line, the section and the option; never a traceback.
"""
import os
import subprocess
import xmlrpc.client

import pytest

from harness import PY, alive, wait_for
from harness import settled_wrapctld  # noqa: F401  (overrides conftest's wrapctld)

HEAD = ("[supervisord]\nlogfile=%(here)s/main.log\npidfile=%(here)s/main.pid\n"
        "childlogdir=%(here)s\nnodaemon=true\n")
PROG = "[program:x]\ncommand=sleep 1000\n"

# name: (config text, section, option, start of the offending line; None: the section's)
BAD = {
    "bad-integer": (HEAD + PROG + "startsecs=abc\n", "program:x", "startsecs", "startsecs="),
    "bad-boolean": (HEAD + PROG + "autostart=maybe\n", "program:x", "autostart", "autostart="),
    "bad-autorestart": (HEAD + PROG + "autorestart=sometimes\n", "program:x", "autorestart",
                        "autorestart="),
    "bad-signal": (HEAD + PROG + "stopsignal=NOPE\n", "program:x", "stopsignal", "stopsignal="),
    "bad-exitcodes": (HEAD + PROG + "exitcodes=0,x\n", "program:x", "exitcodes", "exitcodes="),
    "bad-umask": (HEAD + PROG + "umask=999\n", "program:x", "umask", "umask="),
    "bad-bytes": (HEAD + PROG + "stdout_logfile_maxbytes=12XB\n", "program:x",
                  "stdout_logfile_maxbytes", "stdout_logfile_maxbytes="),
    "bad-priority": (HEAD + PROG + "priority=high\n", "program:x", "priority", "priority="),
    "bad-environment": (HEAD + PROG + "environment=A\n", "program:x", "environment",
                        "environment="),
    "numprocs-without-process-num": (HEAD + PROG + "numprocs=2\n", "program:x", "numprocs",
                                     "numprocs="),
    "bad-process-name-format": (HEAD + PROG + "process_name=%(program_name)z\n", "program:x",
                                "process_name", "process_name="),
    "unknown-expansion": (HEAD + "[program:x]\ncommand=sleep %(nope)s\n", "program:x",
                          "command", "command="),
    "unset-env-expansion": (HEAD + "[program:x]\ncommand=sleep %(ENV_WRAPCTL_UNSET_X)s\n",
                            "program:x", "command", "command="),
    "stopasgroup-without-killasgroup": (HEAD + PROG + "stopasgroup=true\nkillasgroup=false\n",
                                        "program:x", "killasgroup", "killasgroup="),
    "unknown-user": (HEAD + PROG + "user=wrapctl-no-such-user\n", "program:x", "user",
                     "user="),
    "missing-command": (HEAD + "[program:x]\nstartsecs=1\n", "program:x", "command", None),
    "group-names-unknown-program": (HEAD + "[group:g]\nprograms=x,ghost\n" + PROG, "group:g",
                                    "programs", "programs="),
    "include-without-files": (HEAD + "[include]\n" + PROG, "include", "files", None),
    "unix-server-without-file": (HEAD + "[unix_http_server]\nchmod=0700\n" + PROG,
                                 "unix_http_server", "file", None),
    "unix-server-bad-chmod": (HEAD + "[unix_http_server]\nfile=%(here)s/s.sock\nchmod=999\n"
                              + PROG, "unix_http_server", "chmod", "chmod="),
    "inet-server-bad-port": (HEAD + "[inet_http_server]\nport=127.0.0.1:notaport\n" + PROG,
                             "inet_http_server", "port", "port="),
    "bad-loglevel": (HEAD + "loglevel=loud\n" + PROG, "supervisord", "loglevel", "loglevel="),
    "eventlistener-without-events": (HEAD + "[eventlistener:e]\ncommand=sleep 1000\n",
                                     "eventlistener:e", "events", None),
    "eventlistener-redirect-stderr": (HEAD + "[eventlistener:e]\ncommand=sleep 1000\n"
                                      "events=PROCESS_STATE\nredirect_stderr=true\n",
                                      "eventlistener:e", "redirect_stderr", "redirect_stderr="),
}


def run_daemon(kind, conf, *args, timeout=30):
    if kind == "supervisord":
        cmd = [PY, "-m", "supervisor.supervisord", "-n", "-c", str(conf)]
    else:
        cmd = [PY, "-m", "wrapctl", "daemon", "-n", "-c", str(conf), *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              cwd=os.path.dirname(str(conf)))
    except subprocess.TimeoutExpired:
        pytest.fail(f"{kind} did not refuse {conf}: it ran for {timeout} s")


def assert_one_line_error(r, path, line=None, section=None, option=None):
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    msg = lines[0]
    assert str(path) in msg, msg
    if line is not None:
        assert f"{path}:{line}:" in msg, msg
    if section is not None:
        assert f"[{section}]" in msg, msg
    if option is not None:
        assert f" {option}:" in msg, msg
    return msg


def line_of(text, section, start):
    """1-based line number of the first line starting with `start` in [section], or of the
    section header when start is None."""
    lines = text.splitlines()
    at = lines.index(f"[{section}]")
    if start is None:
        return at + 1
    return next(i for i in range(at + 1, len(lines)) if lines[i].startswith(start)) + 1


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_config_one_line_exit_2(tmp_path, case):
    text, section, option, start = BAD[case]
    conf = tmp_path / "supervisord.conf"
    conf.write_text(text)
    r = run_daemon("wrapctl", conf)
    assert_one_line_error(r, conf, line_of(text, section, start), section, option)
    assert not os.path.exists(tmp_path / "main.pid")


# A sample of the same configs refused by supervisord 4.3 too (exit status 2).
@pytest.mark.parametrize("case", ["bad-integer", "bad-signal", "missing-command",
                                  "group-names-unknown-program", "unknown-user",
                                  "numprocs-without-process-num"])
def test_supervisord_refuses_them_too(tmp_path, case):
    conf = tmp_path / "supervisord.conf"
    conf.write_text(BAD[case][0])
    assert run_daemon("supervisord", conf).returncode == 2


def test_error_in_included_file_names_that_file(tmp_path):
    inc = tmp_path / "conf.d"
    inc.mkdir()
    (inc / "a.conf").write_text("[program:y]\ncommand=sleep 1000\n")
    (inc / "b.conf").write_text("; comment\n[program:z]\ncommand=sleep 1000\nstartretries=-x\n")
    conf = tmp_path / "supervisord.conf"
    conf.write_text(HEAD + "[include]\nfiles=conf.d/*.conf\n" + PROG)
    r = run_daemon("wrapctl", conf)
    assert_one_line_error(r, inc / "b.conf", 4, "program:z", "startretries")


def test_missing_config_file(tmp_path):
    conf = tmp_path / "nope.conf"
    r = run_daemon("wrapctl", conf)
    assert_one_line_error(r, conf)


def test_no_supervisord_section(tmp_path):
    conf = tmp_path / "supervisord.conf"
    conf.write_text(PROG)
    r = run_daemon("wrapctl", conf)
    msg = assert_one_line_error(r, conf)
    assert "[supervisord]" in msg


def test_line_without_equals_sign(tmp_path):
    conf = tmp_path / "supervisord.conf"
    conf.write_text(HEAD + PROG + "this line has no equals sign\n")
    r = run_daemon("wrapctl", conf)
    assert_one_line_error(r, conf, 8)


def test_unknown_option_is_a_warning_with_file_and_line(wrapctld):
    d = wrapctld("[program:x]\ncommand=sleep 1000\nstartsecs=0\nfrobnicate=yes\n")
    d.wait_state("x", "RUNNING")
    lines = open(d.conf).read().splitlines()
    n = lines.index("frobnicate=yes") + 1
    wait_for(lambda: f"{d.conf}:{n}: [program:x] frobnicate: unknown option" in d.output(),
             what="warning")


# ---- reread / update / add / remove ------------------------------------------------------

def sleeper(name, extra=""):
    return f"[program:{name}]\ncommand=sleep {1000 + len(extra)}\nstartsecs=0\n{extra}"


FIRST = sleeper("a") + sleeper("b") + sleeper("c")
SECOND = sleeper("a") + sleeper("b", "startretries=7\n") + sleeper("d")


def fault_code(call):
    with pytest.raises(xmlrpc.client.Fault) as e:
        call()
    return e.value.faultCode


def pids(d):
    return {i["name"]: i["pid"] for i in d.rpc().getAllProcessInfo()}


def running(d, *names):
    out = {n: d.wait_state(n, "RUNNING")["pid"] for n in names}
    d.settle()
    return out


def test_reload_config_reports_and_add_remove_apply(wrapctld, kind):
    d = wrapctld(FIRST, kind=kind)
    before = running(d, "a", "b", "c")
    d.write(SECOND)
    assert d.rpc().reloadConfig() == [[["d"], ["b"], ["c"]]]
    assert pids(d) == before                                       # nothing applied yet
    assert fault_code(lambda: d.info("d")) == 10                   # BAD_NAME
    assert d.rpc().addProcessGroup("d") is True
    d.wait_state("d", "RUNNING")
    assert fault_code(lambda: d.rpc().addProcessGroup("d")) == 90  # ALREADY_ADDED
    assert fault_code(lambda: d.rpc().addProcessGroup("zz")) == 10
    assert fault_code(lambda: d.rpc().removeProcessGroup("c")) == 91   # STILL_RUNNING
    d.rpc().stopProcessGroup("c")
    assert d.rpc().removeProcessGroup("c") is True
    assert "c" not in pids(d) and not alive(before["c"])
    assert fault_code(lambda: d.rpc().removeProcessGroup("c")) == 10


def test_update_applies_only_what_changed(wrapctld, kind):
    d = wrapctld(FIRST, kind=kind)
    before = running(d, "a", "b", "c")
    d.write(SECOND)
    r = d.wrapctl("update")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(r.stdout.splitlines()) == sorted([
        "c: stopped", "c: removed process group", "b: stopped", "b: updated process group",
        "d: added process group"]) or kind == "wrapctl"
    after = running(d, "a", "b", "d")
    assert after["a"] == before["a"]                 # unchanged: untouched
    assert after["b"] != before["b"] and not alive(before["b"])
    assert not alive(before["c"]) and "c" not in pids(d)
    assert d.rpc().reloadConfig() == [[[], [], []]]


def test_update_keeps_unchanged_process_of_a_changed_group(wrapctld):
    group = "[group:g]\nprograms=p,q\n"
    d = wrapctld(group + sleeper("p") + sleeper("q"))
    before = running(d, "g:p", "g:q")
    d.write(group + sleeper("p") + sleeper("q", "startretries=9\n"))
    r = d.wrapctl("update")
    assert r.returncode == 0, r.stdout + r.stderr
    after = running(d, "g:p", "g:q")
    assert after["g:p"] == before["g:p"]
    assert after["g:q"] != before["g:q"] and not alive(before["g:q"])


def test_update_with_a_new_program_in_a_group(wrapctld):
    group = "[group:g]\nprograms=p\n"
    d = wrapctld(group + sleeper("p"))
    before = running(d, "g:p")
    d.write("[group:g]\nprograms=p,q\n" + sleeper("p") + sleeper("q"))
    assert d.wrapctl("update").returncode == 0
    after = running(d, "g:p", "g:q")
    assert after["g:p"] == before["g:p"]


def test_reread_of_a_bad_config_changes_nothing(wrapctld, kind):
    d = wrapctld(FIRST, kind=kind)
    before = running(d, "a", "b", "c")
    d.write(SECOND + "[program:e]\ncommand=sleep 1\nstartsecs=soon\n")
    assert fault_code(lambda: d.rpc().reloadConfig()) == 92        # CANT_REREAD
    r = d.wrapctl("update")
    assert r.returncode != 0
    if kind == "wrapctl":
        assert "startsecs" in r.stdout + r.stderr and "Traceback" not in r.stdout + r.stderr
    assert pids(d) == before


def test_update_of_numprocs_adds_and_removes_only_the_difference(wrapctld):
    prog = ("[program:w]\ncommand=sleep 1000\nstartsecs=0\nprocess_name=w%(process_num)s\n"
            "numprocs={}\n")
    d = wrapctld(prog.format(2))
    before = running(d, "w:w0", "w:w1")
    d.write(prog.format(3))
    assert d.wrapctl("update").returncode == 0
    after = running(d, "w:w0", "w:w1", "w:w2")
    assert {n: after[n] for n in before} == before
    d.write(prog.format(1))
    assert d.wrapctl("update").returncode == 0
    assert pids(d) == {"w0": before["w:w0"]}
    assert not alive(after["w:w1"]) and not alive(after["w:w2"])
