"""Child logs on the real daemon: rotation without loss, backups, USR2 reopen (main log too)."""
import os
import re
import signal

import pytest

from harness import read_text, script, wait_for
from harness import settled_wrapctld  # noqa: F401  (overrides conftest's wrapctld)

# Writes argv[1] numbered lines to the stream argv[2] in bursts of varied size, then 'done'.
WRITER = """\
import random, sys, time
n, stream = int(sys.argv[1]), getattr(sys, sys.argv[2])
rng = random.Random(7)
i = 0
while i < n:
    k = min(n - i, rng.choice((1, 3, 50, 400, 2000)))
    stream.write(''.join('line %08d\\n' % j for j in range(i, i + k)))
    stream.flush()
    i += k
stream.write('done\\n')
stream.flush()
time.sleep(1000)
"""

# Prints 'tick N' with N counting up, every few milliseconds.
TICKER = """\
import itertools, time
for i in itertools.count():
    print('tick %d' % i, flush=True)
    time.sleep(0.005)
"""


def generations(path):
    """Texts of path.N, ..., path.1, path (oldest first) and the backup numbers found."""
    d, base = os.path.split(path)
    nums = sorted((int(f.rsplit(".", 1)[1]) for f in os.listdir(d)
                   if f.startswith(base + ".") and f.rsplit(".", 1)[1].isdigit()), reverse=True)
    return [read_text(f"{path}.{n}") for n in nums] + [read_text(path)], nums


def expected(lo, hi):
    return [f"line {j:08d}" for j in range(lo, hi)]


def run_writer(wrapctld, kind, tmp_path, lines, maxbytes, backups, channel="stdout"):
    cmd = script(tmp_path, "writer", WRITER)
    d = wrapctld(f"[program:w]\ncommand={cmd} {lines} {channel}\nstartsecs=0\n"
                 f"{channel}_logfile=%(here)s/w.log\n{channel}_logfile_maxbytes={maxbytes}\n"
                 f"{channel}_logfile_backups={backups}\n", kind=kind)
    path = os.path.join(d.root, "w.log")
    settled(path)
    return d, path


def settled(path):
    """Wait until 'done' is written and two listings in a row agree.

    supervisord rotates right after a write, renaming path.N to path.N+1 from the top down:
    a listing taken during that cascade misses one number, and 'done' can end path.1.
    """
    seen = [None]

    def still():
        now = generations(path)
        same, seen[0] = now == seen[0], now
        return same and "".join(now[0]).endswith("done\n")
    wait_for(still, deadline=60, what="writer done and rotation settled")


@pytest.mark.parametrize("channel", ["stdout", "stderr"])
def test_rotation_loses_nothing(wrapctld, kind, tmp_path, channel):
    if kind == "supervisord" and channel == "stderr":
        pytest.skip("one channel is enough to compare with supervisord")
    n, maxbytes = 40000, 20000
    d, path = run_writer(wrapctld, kind, tmp_path, n, maxbytes, 200, channel)
    texts, nums = generations(path)
    assert nums == list(range(len(nums), 0, -1)) and len(nums) > 3
    assert "".join(texts).splitlines() == expected(0, n) + ["done"]
    if kind == "wrapctl":
        # Cuts fall on line boundaries and no rotated file exceeds maxbytes.
        for t in texts[:-1]:
            assert t.endswith("\n") and len(t) <= maxbytes


def test_rotation_keeps_only_backups(wrapctld, kind, tmp_path):
    n = 20000
    d, path = run_writer(wrapctld, kind, tmp_path, n, 10000, 2)
    texts, nums = generations(path)
    assert nums == [2, 1]
    # What is kept is the contiguous tail of what was written.
    lines = "".join(texts).splitlines()
    assert lines[-1] == "done"
    if kind == "supervisord" and not re.fullmatch(r"line \d{8}", lines[0]):
        # supervisord rotates after each pipe read, and a read can end mid-line (more often
        # on a busy machine): the oldest backup kept may then begin with the tail of a line.
        fragment = lines.pop(0)
        assert f"line {int(lines[0].split()[1]) - 1:08d}".endswith(fragment)
    assert re.fullmatch(r"line \d{8}", lines[0]), lines[:2]
    first = int(lines[0].split()[1])
    assert lines == expected(first, n) + ["done"]
    assert first > 0


def test_no_rotation_with_maxbytes_zero(wrapctld, kind, tmp_path):
    n = 10000
    d, path = run_writer(wrapctld, kind, tmp_path, n, 0, 5)
    texts, nums = generations(path)
    assert nums == []
    assert texts[0].splitlines() == expected(0, n) + ["done"]


def ticks(text):
    return [int(line.split()[1]) for line in text.splitlines() if line.startswith("tick ")]


def test_usr2_reopens_child_and_main_logs(wrapctld, kind, tmp_path):
    cmd = script(tmp_path, "ticker", TICKER)
    d = wrapctld(f"[program:t]\ncommand={cmd}\nstartsecs=0\nstdout_logfile=%(here)s/t.log\n",
                 kind=kind)
    log = os.path.join(d.root, "t.log")
    wait_for(lambda: len(ticks(read_text(log))) > 5, what="first ticks")
    os.rename(log, log + ".old")
    os.rename(d.mainlog, d.mainlog + ".old")
    d.signal(signal.SIGUSR2)
    wait_for(lambda: len(ticks(read_text(log))) > 5, what="ticks in the reopened log")
    d.rpc().stopProcess("t")
    # Old file then new file: every tick once, in order; no tick lost across the reopen.
    old, new = ticks(read_text(log + ".old")), ticks(read_text(log))
    assert old and new and old + new == list(range(len(old) + len(new)))
    # The main log was reopened too: later lines land at the old path.
    wait_for(lambda: "stopped: t" in d.mainlog_text(), what="stop line in the new main log")
    assert "stopped: t" not in read_text(d.mainlog + ".old")
    assert "spawned: 't'" in read_text(d.mainlog + ".old")


def test_main_log_rotates(kind, tmp_path):
    from harness import BASE_INI, LOGLINE, Daemon
    d = Daemon(kind, tmp_path)
    base = BASE_INI.format(sock=d.sock).replace(
        "loglevel=info", "loglevel=info\nlogfile_maxbytes=1KB\nlogfile_backups=2")
    # Programs that exit soon and are restarted: a stream of main-log lines.
    try:
        d.start(base + "".join(f"[program:t{n}]\ncommand=sleep 0.05\nstartsecs=0\n"
                               "autorestart=true\n" for n in range(4)), base=False)
        wait_for(lambda: os.path.exists(d.mainlog + ".2"), what="second main-log backup")
        d.rpc().stopAllProcesses()
    finally:
        d.stop()
    texts, nums = generations(d.mainlog)
    assert nums == [2, 1]
    for text in texts:
        assert all(LOGLINE.match(line) for line in text.splitlines()), text
    if kind == "wrapctl":
        assert all(len(t) <= 1024 for t in texts[:-1])
