"""Real supervisorctl 4.3 against `wrapctl daemon`: the streaming commands (tail -f, fg),
which the text-comparison tests cannot cover because they never end by themselves."""
import signal
import subprocess
import sys
import time

import pytest

from harness import py, wait_for

ECHO = py("import sys; [sys.stdout.write('got ' + l) or sys.stdout.flush() for l in sys.stdin]")


def ctl(d, *args, **kw):
    return subprocess.Popen([sys.executable, "-m", "supervisor.supervisorctl", "-c", d.conf,
                             *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)


def end(p):
    """Ctrl-C, as a user leaves; supervisorctl's own fg thread may linger after it (it
    does against supervisord too), so it is killed if it has not gone in a few seconds."""
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        print("supervisorctl lingered after Ctrl-C")
        p.kill()
        p.wait(timeout=20)


def read_until(p, text, deadline=20):
    buf = b""
    end = time.monotonic() + deadline
    import os
    import select
    fd = p.stdout.fileno()
    while text.encode() not in buf:
        assert time.monotonic() < end, f"no {text!r} in {buf!r}"
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            chunk = os.read(fd, 4096)
            assert chunk, f"stream ended without {text!r}: {buf!r}"
            buf += chunk
    return buf


KINDS = pytest.mark.parametrize("kind", ["wrapctl", "supervisord"])


@KINDS
def test_supervisorctl_tail_f_follows_new_output(wrapctld, kind):
    d = wrapctld(f"[program:e]\ncommand={ECHO}\nstartsecs=0\n", kind=kind)
    d.wait_state("e", "RUNNING")
    p = ctl(d, "tail", "-f", "e")
    try:
        time.sleep(0.5)                 # supervisorctl connects and prints the tail first
        d.rpc().sendProcessStdin("e", "hello\n")
        read_until(p, "got hello")
    finally:
        end(p)


@KINDS
def test_supervisorctl_fg_sends_input_and_shows_output(wrapctld, kind):
    d = wrapctld(f"[program:e]\ncommand={ECHO}\nstartsecs=0\n", kind=kind)
    d.wait_state("e", "RUNNING")
    p = ctl(d, "fg", "e", stdin=subprocess.PIPE)
    try:
        wait_for(lambda: p.poll() is None, what="fg attached")
        time.sleep(0.5)
        p.stdin.write(b"ping\n")
        p.stdin.flush()
        read_until(p, "got ping")
        assert "got ping" in d.rpc().readProcessStdoutLog("e", 0, 0)
    finally:
        end(p)
