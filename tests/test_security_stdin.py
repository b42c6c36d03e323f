"""Issue 12, attack 8: sendProcessStdin to a program that does not read its stdin must not
freeze the core. The pipe is written without blocking; what it cannot take waits in a
per-process buffer of process.STDIN_BUFFER bytes; a call that would overflow it is a
FAILED fault that sends nothing of it."""
import random
import signal
import subprocess
import time
import xmlrpc.client

import pytest

from harness import PY, kill_tree, script, wait_for
from wrapctl.core.process import STDIN_BUFFER
from wrapctl.rpc.client import make_proxy
from wrapctl.rpc.faults import Faults

CHUNK = 256 * 1024
# Waits for SIGUSR1 before it reads anything, then copies its stdin into argv[1].
LATE_READER = """\
import os, signal, sys
signal.signal(signal.SIGUSR1, lambda *a: None)
print('waiting', flush=True)
signal.pause()
with open(sys.argv[1], 'ab') as f:
    while True:
        b = os.read(0, 65536)
        if not b:
            break
        f.write(b)
        f.flush()
"""
# Reads 4 KiB at a time, slower than a client sends: the buffer fills and drains.
SLOW_READER = """\
import os, sys, time
with open(sys.argv[1], 'wb') as f:
    while True:
        b = os.read(0, 4096)
        if not b:
            break
        f.write(b)
        f.flush()
        time.sleep(0.001)
"""
# Reads one byte, then closes its stdin and stays.
CLOSER = """\
import os, time
os.read(0, 1)
os.close(0)
print('closed', flush=True)
time.sleep(1000)
"""


def _text(n, seed):
    """n characters that travel unchanged in XML-RPC (no CR, no control characters)."""
    rng = random.Random(seed)
    return "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789 \n", k=n))


def _client(d):
    # A bounded wait: against the old blocking write this call never returned.
    return make_proxy(d.url, timeout=20).supervisor


def _alive_or_kill(d):
    """On a failure, a frozen core cannot be shut down over the API: kill it."""
    if d.proc is not None and d.proc.poll() is None:
        kill_tree(d.proc.pid)
        d.proc.wait()


@pytest.mark.timeout(90)
def test_a_program_that_never_reads_gets_a_fault_not_a_frozen_core(wrapctld):
    d = wrapctld("[program:sink]\ncommand=sleep 1000\nstartsecs=0\n"
                 "[program:other]\ncommand=sleep 1000\nstartsecs=0\nautostart=false\n")
    d.wait_state("sink", "RUNNING")
    rpc = _client(d)
    try:
        taken = refused = 0
        for i in range(16):                     # 4 MiB in all
            try:
                assert rpc.sendProcessStdin("sink", "x" * CHUNK) is True
                taken += 1
            except xmlrpc.client.Fault as f:
                assert f.faultCode == Faults.FAILED, f
                assert "sink: stdin buffer full" in f.faultString, f
                refused += 1
            # Between the sends, the core does everything else as before.
            assert rpc.getProcessInfo("sink")["statename"] == "RUNNING"
        assert taken * CHUNK <= STDIN_BUFFER + 1024 * 1024 and refused >= 8
        assert rpc.startProcess("other") is True
        assert rpc.stopProcess("other") is True
        d.signal(signal.SIGTERM)
        assert d.wait_exit(timeout=60) == 0
    finally:
        _alive_or_kill(d)
    assert "Traceback" not in d.output() + d.mainlog_text()


@pytest.mark.timeout(90)
def test_wrapctl_fg_fed_megabytes_ends_with_the_fault(wrapctld):
    d = wrapctld("[program:sink]\ncommand=sleep 1000\nstartsecs=0\n")
    d.wait_state("sink", "RUNNING")
    lines = ("y" * 4095 + "\n") * 768           # 3 MiB of lines, one call each
    try:
        p = subprocess.run([PY, "-m", "wrapctl", "-c", d.conf, "fg", "sink"], input=lines,
                           capture_output=True, text=True, timeout=60)
        assert "stdin buffer full" in p.stdout and "Exiting foreground" in p.stdout, p
        assert "Traceback" not in p.stderr
        assert _client(d).getProcessInfo("sink")["statename"] == "RUNNING"
    finally:
        _alive_or_kill(d)


@pytest.mark.timeout(90)
def test_a_slow_reader_gets_every_byte_in_order(wrapctld, tmp_path):
    out = tmp_path / "received"
    cmd = script(tmp_path, "slow", SLOW_READER)
    d = wrapctld(f"[program:slow]\ncommand={cmd} {out}\nstartsecs=0\n")
    d.wait_state("slow", "RUNNING")
    rpc = _client(d)
    data = _text(2 * 1024 * 1024, 12)
    step = 64 * 1024
    full = 0
    try:
        for i in range(0, len(data), step):
            while True:
                try:
                    rpc.sendProcessStdin("slow", data[i:i + step])
                    break
                except xmlrpc.client.Fault as f:
                    # Full: nothing of this call was taken; it is sent again later.
                    assert "stdin buffer full" in f.faultString, f
                    full += 1
                    time.sleep(0.05)
        wait_for(lambda: out.stat().st_size >= len(data), deadline=60,
                 what="the reader got 2 MiB")
        assert out.read_text() == data
    finally:
        _alive_or_kill(d)


@pytest.mark.timeout(90)
def test_a_closed_stdin_drops_the_queue_without_a_traceback(wrapctld, tmp_path):
    cmd = script(tmp_path, "closer", CLOSER)
    d = wrapctld(f"[program:closer]\ncommand={cmd}\nstartsecs=0\n")
    d.wait_state("closer", "RUNNING")
    rpc = _client(d)
    try:
        assert rpc.sendProcessStdin("closer", _text(512 * 1024, 1)) is True
        d.wait_log(r"closer: dropped \d+ bytes queued for its stdin \(Broken pipe\)")
        with pytest.raises(xmlrpc.client.Fault) as e:
            rpc.sendProcessStdin("closer", "more\n")
        assert e.value.faultCode == Faults.NO_FILE
        assert rpc.getProcessInfo("closer")["statename"] == "RUNNING"
    finally:
        _alive_or_kill(d)
    assert "Traceback" not in d.output() + d.mainlog_text()


@pytest.mark.timeout(90)
def test_the_queue_dies_with_its_process(wrapctld, tmp_path):
    """What an instance never read is not fed to the next one, and the next one's own bytes
    are not stuck behind it."""
    out = tmp_path / "received"
    cmd = script(tmp_path, "late", LATE_READER)
    d = wrapctld(f"[program:late]\ncommand={cmd} {out}\nstartsecs=0\n")
    d.wait_state("late", "RUNNING")
    rpc = _client(d)
    try:
        for i in range(3):
            rpc.sendProcessStdin("late", _text(CHUNK, i))
        rpc.stopProcess("late")
        rpc.startProcess("late")
        assert rpc.sendProcessStdin("late", "hello\n") is True
        # Its handler is set once it says so (before, USR1 would kill it).
        wait_for(lambda: rpc.readProcessStdoutLog("late", 0, 0).count("waiting") == 2,
                 what="the second instance waiting")
        rpc.signalProcess("late", "USR1")
        wait_for(lambda: out.exists() and out.read_text() == "hello\n",
                 what="the new instance read only its own bytes")
    finally:
        _alive_or_kill(d)
    assert "Traceback" not in d.output() + d.mainlog_text()
