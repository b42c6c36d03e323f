"""tail, maintail and fg: wrapctl against supervisorctl where the output is deterministic,
and the streaming forms (-f, fg) driven through real pipes and SIGINT."""
import os
import select
import signal
import subprocess
import time

import pytest

from test_cli_server import ECHO, PY, chatty, server, wait_for  # noqa: F401

D_CMD = chatty("line one\nline two\n", "an error\n")
PROGRAMS = f"""
[program:d]
command={D_CMD}
startsecs=0

[program:e]
command={ECHO}
startsecs=0

[program:quiet]
command=sleep 1000
startsecs=0
stdout_logfile=NONE

[program:b]
command=sleep 1000
autostart=false
"""


@pytest.fixture
def s(server):
    s = server(PROGRAMS)
    for name in ("d", "e", "quiet"):
        s.wait_state(name, "RUNNING")
    rpc = s.rpc()
    wait_for(lambda: rpc.readProcessStderrLog("d", 0, 0) == "an error\n", what="d's output")
    return s


def test_tail_same_as_supervisorctl(s):
    for args in [("d",), ("d", "stderr"), ("d", "STDOUT"), ("-5", "d"), ("-0", "d"),
                 ("-100000", "d", "stderr"), ("nope",), ("quiet",), ("d", "foo"), (),
                 ("a", "b", "c", "d"), ("-x", "d"), ("-f",), ("e", "x", "stderr")]:
        s.same("tail", *args)
    r = s.wrapctl("tail", "d")
    assert (r.stdout, r.returncode) == ("line one\nline two\n\n", 0)
    assert s.wrapctl("tail", "-4", "d").stdout == "two\n\n"
    assert s.wrapctl("tail", "nope").returncode == 1


def test_maintail_same_as_supervisorctl(s):
    for args in [("x",), ("-x",), ("-1", "-2"), ("-40",)]:
        s.same("maintail", *args)
    r = s.wrapctl("maintail")
    assert r.returncode == 0 and "entered RUNNING state" in r.stdout


def read_until(proc, needle, deadline=30):
    """Read proc's stdout until it contains needle (bytes); return all read so far."""
    buf = b""
    end = time.monotonic() + deadline
    fd = proc.stdout.fileno()
    while needle not in buf:
        left = end - time.monotonic()
        assert left > 0, f"no {needle!r} in {buf!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            assert chunk, f"EOF before {needle!r}; got {buf!r}"
            buf += chunk
    return buf


def popen_wrapctl(s, *args, stdin=None):
    return subprocess.Popen([PY, "-m", "wrapctl", "-c", s.conf, *args], stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def interrupt(proc):
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    return out, err


def test_tail_follow(s):
    p = popen_wrapctl(s, "tail", "-f", "e")
    try:
        read_until(p, b"==> Press Ctrl-C to exit <==\n")
        s.rpc().sendProcessStdin("e", "first\n")
        read_until(p, b"got first\n")
        s.rpc().sendProcessStdin("e", "second \xe9\n")
        read_until(p, "got second \xe9\n".encode())
    finally:
        out, err = interrupt(p)
    assert p.returncode == 0 and out == b"\n" and b"Traceback" not in err


def test_tail_follow_stderr_and_errors(s):
    p = popen_wrapctl(s, "tail", "-f", "d", "stderr")
    try:
        read_until(p, b"an error\n")
    finally:
        interrupt(p)
    assert p.returncode == 0
    r = s.wrapctl("tail", "-f", "nope")
    assert r.returncode == 1 and r.stdout == "==> Press Ctrl-C to exit <==\n"
    assert r.stderr == f"{s.url}/logtail/nope/stdout Cannot read, status code 404\n"


def test_maintail_follow(s):
    p = popen_wrapctl(s, "maintail", "-f")
    try:
        read_until(p, b"==> Press Ctrl-C to exit <==\n")
        s.rpc().stopProcess("quiet")
        read_until(p, b"stopped: quiet")
    finally:
        interrupt(p)
    assert p.returncode == 0


def test_fg(s):
    for args in [(), ("e", "d"), ("nope",), ("b",)]:
        s.same("fg", *args)
    p = popen_wrapctl(s, "fg", "e", stdin=subprocess.PIPE)
    read_until(p, b"==> Press Ctrl-C to exit <==\n")
    p.stdin.write(b"hello\n")
    p.stdin.flush()
    read_until(p, b"got hello\n")
    out, err = p.communicate(timeout=30)        # closes stdin: end of input detaches
    assert p.returncode == 0 and out.endswith(b"Exiting foreground\n"), (out, err)
    assert s.rpc().getProcessInfo("e")["statename"] == "RUNNING"

    p = popen_wrapctl(s, "fg", "e", stdin=subprocess.PIPE)
    read_until(p, b"==> Press Ctrl-C to exit <==\n")
    out, err = interrupt(p)
    assert p.returncode == 0 and out.endswith(b"Exiting foreground\n"), (out, err)


def test_fg_process_dies(s):
    p = popen_wrapctl(s, "fg", "e", stdin=subprocess.PIPE)
    read_until(p, b"==> Press Ctrl-C to exit <==\n")
    s.rpc().stopProcess("e")
    p.stdin.write(b"anyone there?\n")
    p.stdin.flush()
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0
    assert out.endswith(b"Process got killed\nExiting foreground\n"), (out, err)
