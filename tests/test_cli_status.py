"""`wrapctl status` and connection handling, compared with supervisorctl on the same server."""
import json
import os
import socket

import pytest

from test_cli_server import chatty, run_ctl, run_wrapctl, server  # noqa: F401

PROGRAMS = """
[program:a]
command=sleep 1000
startsecs=0

[program:b]
command=sleep 1000
autostart=false

[program:dies]
command=sh -c "exit 3"
startsecs=0
autorestart=false

[group:g]
programs=c,long_program_name_to_widen_the_status_column

[program:c]
command=sleep 1000
startsecs=0

[program:long_program_name_to_widen_the_status_column]
command=sleep 1000
startsecs=0
"""


@pytest.fixture
def s(server):
    s = server(PROGRAMS)
    s.wait_state("a", "RUNNING")
    s.wait_state("g:c", "RUNNING")
    s.wait_state("dies", "EXITED")
    return s


def test_status_same_as_supervisorctl(s):
    for names in [(), ("all",), ("a",), ("b",), ("g:*",), ("g:c",), ("g:",), ("nope",),
                  ("zz:*",), ("g:nope",), ("a", "g:c"), ("nope", "b"), ("a", "dies")]:
        s.same("status", *names)
    assert s.wrapctl("status", "a", "g:*").returncode == 0
    assert s.wrapctl("status").returncode == 3
    assert s.wrapctl("status", "dies").returncode == 3
    assert s.wrapctl("status", "nope").returncode == 4

    # --json: the API's info dicts plus namespec; error lines go to stderr
    r = s.wrapctl("status", "--json", "g:*", "nope")
    assert r.returncode == 4
    assert r.stderr.strip() == "nope: ERROR (no such process)"
    data = json.loads(r.stdout)
    assert [d["namespec"] for d in data] == ["g:c", "g:long_program_name_to_widen_the_status_column"]
    for d in data:
        assert d["group"] == "g" and d["statename"] == "RUNNING" and d["state"] == 20
        assert d["pid"] > 0 and d["description"].startswith(f"pid {d['pid']}, uptime ")
        assert {"start", "stop", "now", "spawnerr", "exitstatus", "stdout_logfile",
                "stderr_logfile", "logfile"} <= set(d)
    r = s.wrapctl("status", "--json")
    assert r.returncode == 3
    assert {d["name"] for d in json.loads(r.stdout)} >= {"a", "b", "dies"}


def test_no_such_socket_file(tmp_path):
    url = f"unix://{tmp_path}/gone.sock"
    for cmd, rc in (("status", 4), ("start", 7), ("pid", 7), ("version", 7)):
        args = (cmd,) if cmd == "version" else (cmd, "a")
        want = run_ctl_url(url, *args)
        got = run_wrapctl(None, "-s", url, *args)
        assert got.stdout == f"{url} no such file\n" == want.stdout
        assert got.returncode == want.returncode == rc
    # supervisorctl prints a traceback summary for these; wrapctl one line, same status.
    for cmd in ("avail", "reread", "update"):
        want = run_ctl_url(url, cmd)
        got = run_wrapctl(None, "-s", url, cmd)
        assert (got.stdout, got.returncode) == (f"{url} no such file\n", want.returncode)
    got = run_wrapctl(None, "-s", url, "shutdown")
    want = run_ctl_url(url, "shutdown")
    assert (got.stdout, got.returncode) == (want.stdout, want.returncode) == \
        (f"ERROR: {url} no such file (already shut down?)\n", 1)


def test_connection_refused(tmp_path):
    path = f"{tmp_path}/dead.sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(path)                     # bound, never listening: connect() is refused
    try:
        url = f"unix://{path}"
        for cmd, rc in (("status", 4), ("stop", 4)):
            want = run_ctl_url(url, cmd, "a")
            got = run_wrapctl(None, "-s", url, cmd, "a")
            assert (got.stdout, got.returncode) == (want.stdout, want.returncode) == \
                (f"{url} refused connection\n", rc)
    finally:
        sock.close()
    with socket.socket() as tcp:
        tcp.bind(("127.0.0.1", 0))
        port = tcp.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    got = run_wrapctl(None, "-s", url, "status")
    assert (got.stdout, got.returncode) == (f"{url} refused connection\n", 4)


def run_ctl_url(url, *args):
    from test_cli_server import PY, run
    return run([PY, "-m", "supervisor.supervisorctl", "-s", url, *args])


def test_config_errors_are_one_line(tmp_path):
    r = run_wrapctl(str(tmp_path / "nope.conf"), "status")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == f"Error: could not find config file {tmp_path}/nope.conf\n"
    bad = tmp_path / "bad.conf"
    bad.write_text("[supervisorctl]\nserverurl=%(ENV_WRAPCTL_NO_SUCH_VAR)s\n")
    r = run_wrapctl(str(bad), "status")
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and "serverurl" in r.stderr


def test_basic_auth(server):
    s = server("[program:a]\ncommand=sleep 1000\nstartsecs=0\n", auth=("user", "secret"))
    r = s.wrapctl("status")
    want = s.ctl("status")
    # supervisorctl 4.3 retries the command after this line and adds a traceback summary
    assert want.stdout.startswith(r.stdout) and want.returncode == r.returncode
    assert (r.stdout, r.returncode) == ("Server requires authentication\n", 1)
    r = s.wrapctl("-u", "user", "-p", "secret", "status", "a")
    assert r.returncode == 0 and r.stdout.startswith("a ")
    r = s.wrapctl("-u", "user", "-p", "wrong", "status", "a")
    assert (r.stdout, r.returncode) == ("Server requires authentication\n", 1)


def test_server_without_supervisor_namespace(server):
    s = server("", rpcinterface=False)
    if s.kind != "supervisord":
        pytest.skip("wrapctl daemon always serves the supervisor namespace")
    r = s.same("status")
    assert r.returncode == 4 and r.stdout.startswith("Sorry, supervisord responded but did not")
    r = s.same("stop", "x")
    assert r.returncode == 3
