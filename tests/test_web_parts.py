"""The web UI's pure parts: tree CPU/RSS arithmetic, log text framing, event encoding;
and the tree sampler on this machine's real process table."""
import json
import os
import subprocess
import sys

from wrapctl.web.hub import sse
from wrapctl.web.logview import Text, read_tail
from wrapctl.web.stats import Row, TreeSampler, TreeStats, scan


def table(*rows):
    return {r.pid: r for r in rows}


def test_tree_sums_descendants_and_rates_cpu_against_the_last_sample():
    s = TreeSampler()
    t1 = table(Row(10, 1, 1000.0, 2.0, 100), Row(11, 10, 1000.0, 1.0, 50),
               Row(12, 11, 1000.0, 1.0, 25), Row(20, 1, 1000.0, 5.0, 999))
    first = s.sample({"a": 10, "gone": 99, "off": 0}, t1, now=1100.0)
    # first look: each member's average since it was created (4 s over 100 s)
    assert first == {"a": TreeStats(4.0, 175, 3)}
    # 10 s later: the root used 1 s, a child 0.5 s; a new grandchild brings its own average
    t2 = table(Row(10, 1, 1000.0, 3.0, 100), Row(11, 10, 1000.0, 1.5, 50),
               Row(12, 11, 1000.0, 1.0, 25), Row(13, 10, 1108.0, 0.5, 10))
    second = s.sample({"a": 10}, t2, now=1110.0)
    assert second["a"].procs == 4 and second["a"].rss == 185
    assert second["a"].cpu_percent == round((1.0 + 0.5 + 0.0) / 10 * 100 + 0.5 / 2 * 100, 1)


def test_a_reused_pid_is_a_new_process():
    s = TreeSampler()
    s.sample({"a": 10}, table(Row(10, 1, 1000.0, 50.0, 1)), now=1100.0)
    later = s.sample({"a": 10}, table(Row(10, 1, 1105.0, 1.0, 1)), now=1110.0)
    assert later["a"].cpu_percent == 20.0     # 1 s over its 5 s of life, not 1 - 50


def test_a_ppid_loop_does_not_hang():
    s = TreeSampler()
    out = s.sample({"a": 10}, table(Row(10, 11, 0.0, 0, 1), Row(11, 10, 0.0, 0, 1)), now=10.0)
    assert out["a"].procs == 2


def test_sampler_on_the_real_process_table():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        rows = scan()
        assert rows[os.getpid()].rss > 0 and rows[child.pid].ppid == os.getpid()
        out = TreeSampler().sample({"me": os.getpid()}, rows, now=rows[child.pid].create_time + 1)
        assert out["me"].procs >= 2 and out["me"].rss > rows[os.getpid()].rss
    finally:
        child.kill()
        child.wait()


def test_text_joins_split_utf8_and_prefixes_whole_lines():
    t = Text()
    data = "héllo\n".encode()
    assert t.feed(data[:2]) + t.feed(data[2:]) == "héllo\n"
    p = Text("web:api | ")
    assert p.feed(b"one\ntw") == "web:api | one\n"
    assert p.feed(b"o\n\xff\n") == "web:api | two\nweb:api | \ufffd\n"


def test_read_tail(tmp_path):
    f = tmp_path / "log"
    f.write_bytes(b"first line\nsecond\nthird\n")
    assert read_tail(str(f), 12, whole_lines=True) == b"third\n"
    assert read_tail(str(f), 12, whole_lines=False) == b"econd\nthird\n"
    assert read_tail(str(f), 1000, whole_lines=True) == b"first line\nsecond\nthird\n"
    assert read_tail(str(tmp_path / "none"), 10, True) == b""
    assert read_tail(None, 10, True) == b""


def test_sse_event_is_one_data_line():
    raw = sse("log", "a\nb\r\n<script>")
    name, data, blank, end = raw.decode().split("\n")
    assert name == "event: log" and json.loads(data[len("data: "):]) == "a\nb\r\n<script>"
    assert blank == "" and end == ""
