"""MainLog (supervisord.log format and levels) and strip_ansi (supervisord's stripEscapes)."""
import io
import os
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from supervisor import loggers
from supervisor.dispatchers import stripEscapes

from wrapctl.core.logs import LEVELS, MainLog, level_number, strip_ansi

LINE = re.compile(rb"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (CRIT|ERRO|WARN|INFO|DEBG|TRAC|BLAT) (.*)$")
METHODS = ["critical", "error", "warn", "info", "debug", "trace", "blather"]


def emit_all(log):
    for name in METHODS:
        getattr(log, name)(f"message at {name}")


def body(lines):
    """Lines without their timestamp."""
    out = []
    for line in lines:
        m = LINE.match(line)
        assert m, line
        out.append(m.group(2) + b" " + m.group(3))
    return out


def test_line_format(tmp_path):
    p = tmp_path / "supervisord.log"
    log = MainLog(str(p), level="info")
    log.info("hello world")
    log.close()
    data = p.read_bytes()
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    m = LINE.match(data[:-1])
    assert m and m.group(2) == b"INFO" and m.group(3) == b"hello world"


@pytest.mark.parametrize("level", list(LEVELS))
def test_same_output_as_supervisord(tmp_path, level):
    ours = tmp_path / "ours.log"
    theirs = tmp_path / "theirs.log"
    log = MainLog(str(ours), level=level)
    emit_all(log)
    log.close()
    slog = loggers.getLogger(loggers.getLevelNumByDescription(level))
    loggers.handle_file(slog, str(theirs), "%(asctime)s %(levelname)s %(message)s\n")
    emit_all(slog)
    slog.close()
    a = ours.read_bytes().splitlines()
    b = theirs.read_bytes().splitlines()
    assert body(a) == body(b)
    assert len(a) == METHODS.index(level) + 1


def test_level_names_case_insensitive_and_bad_level():
    assert level_number("INFO") == level_number("info") == 20
    assert level_number("blather") == 3
    with pytest.raises(ValueError, match="bad logging level name 'loud'"):
        MainLog(None, level="loud")


def test_echo_text_and_binary_streams(tmp_path):
    text, binary = io.StringIO(), io.BytesIO()
    for stream in (text, binary):
        log = MainLog(None, level="debug", echo=stream)
        log.debug("to the terminal")
        log.trace("filtered")
        log.close()
    assert text.getvalue().endswith(" DEBG to the terminal\n")
    assert binary.getvalue().endswith(b" DEBG to the terminal\n")
    assert text.getvalue().count("\n") == 1


def test_echo_and_file_together(tmp_path):
    p = tmp_path / "m.log"
    echo = io.StringIO()
    log = MainLog(str(p), level="info", echo=echo)
    log.warn("both")
    log.close()
    assert p.read_text() == echo.getvalue()


def test_closed_echo_does_not_raise(tmp_path):
    echo = io.StringIO()
    echo.close()
    log = MainLog(str(tmp_path / "m.log"), echo=echo)
    log.info("still logged")
    log.close()
    assert (tmp_path / "m.log").read_text().endswith("INFO still logged\n")


def test_reopen_after_rename(tmp_path):
    p = tmp_path / "m.log"
    log = MainLog(str(p))
    log.info("before")
    os.rename(p, tmp_path / "m.log.0")
    log.reopen()
    log.info("after")
    log.close()
    assert (tmp_path / "m.log.0").read_text().endswith("INFO before\n")
    assert p.read_text().endswith("INFO after\n")


def test_rotation_keeps_lines_whole(tmp_path):
    p = tmp_path / "m.log"
    log = MainLog(str(p), maxbytes=200, backups=50)
    for i in range(60):
        log.info(f"line {i}")
    log.close()
    files = sorted((f for f in os.listdir(tmp_path)), key=lambda n: -int(n.rsplit(".", 1)[1])
                   if n.rsplit(".", 1)[1].isdigit() else 0)
    lines = []
    for name in files:
        data = (tmp_path / name).read_bytes()
        assert len(data) <= 200 and data.endswith(b"\n")
        lines += data.splitlines()
    assert [line.split(b" INFO ")[1] for line in lines] == [b"line %d" % i for i in range(60)]


def test_unwritable_log_never_raises(tmp_path):
    log = MainLog("/dev/full")
    log.error("disk full")
    assert log.last_error is not None
    log.file.pending = b""
    log.close()


def test_clear(tmp_path):
    p = tmp_path / "m.log"
    log = MainLog(str(p))
    log.info("old")
    log.clear()
    log.info("new")
    log.close()
    assert b"old" not in p.read_bytes() and p.read_bytes().endswith(b"INFO new\n")


# -- strip_ansi ----------------------------------------------------------------------------

def test_strip_ansi_examples():
    assert strip_ansi(b"\x1b[1;31mred\x1b[0m plain") == b"red plain"
    assert strip_ansi(b"no escapes\n") == b"no escapes\n"
    assert strip_ansi(b"cut \x1b[12") == b"cut "
    assert strip_ansi(b"\x1b[2J\x1b[Hscreen") == b"screen"
    assert strip_ansi(b"lone \x1b escape") == b"lone \x1b escape"


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([b"\x1b[", b"\x1b", b"[", b"m", b"H", b"1;32", b"x", b"\n",
                                 b"K", b";", b"\xff", b"abc"]), max_size=20).map(b"".join))
def test_strip_ansi_matches_supervisord(data):
    assert strip_ansi(data) == stripEscapes(data)
