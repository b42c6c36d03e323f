"""read_log / tail_log against supervisor's own readFile / tailFile on the same files."""
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from supervisor.options import readFile, tailFile
from supervisor.xmlrpc import Faults

from wrapctl.core.logs import LogReadError, read_log, tail_log

LETTERS = string.ascii_letters


def supervisor_read(path, offset, length):
    try:
        return readFile(path, offset, length)
    except ValueError as e:
        return e.args[0]


def ours_read(path, offset, length):
    try:
        return read_log(path, offset, length)
    except LogReadError as e:
        return e.kind


@pytest.fixture
def xy(tmp_path):
    p = tmp_path / "x.log"
    p.write_bytes(b"x" * 2048 + b"y" * 2048)
    return str(p)


# The cases of supervisor's test_rpcinterfaces readLog / readProcessStdoutLog.
def test_read_cases_from_supervisor(xy):
    assert read_log(xy, 0, 0) == b"x" * 2048 + b"y" * 2048
    assert read_log(xy, 2048, 0) == b"y" * 2048
    assert read_log(xy, 0, 2048) == b"x" * 2048
    assert read_log(xy, -4, 0) == b"y" * 4


@pytest.mark.parametrize("offset,length", [(-1, 1), (-1, -1), (0, -1)])
def test_read_bad_arguments(xy, offset, length):
    with pytest.raises(LogReadError) as e:
        read_log(xy, offset, length)
    assert e.value.kind == "BAD_ARGUMENTS"
    assert getattr(Faults, e.value.args[0]) == Faults.BAD_ARGUMENTS
    assert isinstance(e.value, ValueError)


def test_read_missing_file_is_no_file(tmp_path):
    for path in (str(tmp_path / "nothere"), None):
        with pytest.raises(LogReadError) as e:
            read_log(path, 0, 10)
        assert e.value.kind == "NO_FILE"


def test_read_unreadable_is_failed(tmp_path):
    # exists but cannot be read as a file (supervisor: readFile -> ValueError('FAILED'))
    with pytest.raises(LogReadError) as e:
        read_log(str(tmp_path), 0, 10)
    assert e.value.kind == "FAILED"
    assert supervisor_read(str(tmp_path), 0, 10) == "FAILED"


def test_read_non_integer_arguments(xy):
    with pytest.raises(LogReadError) as e:
        read_log(xy, "abc", 0)
    assert e.value.kind == "BAD_ARGUMENTS"
    assert read_log(xy, "2048", "4") == b"yyyy"


def test_read_huge_length_is_capped(xy):
    assert read_log(xy, 4000, 2**31 - 1) == b"y" * 96
    assert read_log(xy, -(2**31), 0) == b"x" * 2048 + b"y" * 2048
    assert read_log(xy, 2**40, 0) == b""


GRID = [-5000, -4097, -4096, -100, -1, 0, 1, 5, 2047, 2048, 4095, 4096, 4097, 10000]


@pytest.mark.parametrize("offset", GRID)
@pytest.mark.parametrize("length", [-10, -1, 0, 1, 10, 2048, 4096, 5000])
def test_read_matches_supervisor(xy, offset, length):
    assert ours_read(xy, offset, length) == supervisor_read(xy, offset, length)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300), offset=st.integers(-400, 400),
       length=st.integers(-400, 400))
def test_read_matches_supervisor_random(tmp_path, data, offset, length):
    p = tmp_path / "r.log"
    p.write_bytes(data)
    assert ours_read(str(p), offset, length) == supervisor_read(str(p), offset, length)


# The cases of supervisor's test_rpcinterfaces tailProcessStdoutLog_*.
@pytest.fixture
def letters(tmp_path):
    p = tmp_path / "l.log"
    p.write_bytes(LETTERS.encode())
    return str(p)


def test_tail_all(letters):
    assert tail_log(letters, 0, len(LETTERS)) == (LETTERS.encode(), len(LETTERS), False)


def test_tail_none(letters):
    assert tail_log(letters, len(LETTERS), 100) == (b"", len(LETTERS), False)
    assert tail_log(letters, len(LETTERS) + 5, 100) == (b"", len(LETTERS), False)


def test_tail_overflow(letters):
    assert tail_log(letters, 0, 5) == (LETTERS[-5:].encode(), len(LETTERS), True)


def test_tail_missing_file(tmp_path):
    assert tail_log(str(tmp_path / "nothere"), 7, 100) == (b"", 0, False)
    assert tail_log(None, 7, 100) == (b"", 0, False)


def test_tail_unreadable_keeps_offset(tmp_path):
    assert tail_log(str(tmp_path), 7, 100) == (b"", 7, False)
    assert tailFile(str(tmp_path), 7, 100) == ["", 7, False]


def test_tail_follows_growth(letters):
    data, offset, overflow = tail_log(letters, 0, 1000)
    with open(letters, "ab") as f:
        f.write(b"more\n")
    # the window always ends at the end of the file: length picks how far back it starts
    assert tail_log(letters, offset, 5) == (b"more\n", offset + 5, False)
    assert tail_log(letters, offset, 1000) == (LETTERS.encode() + b"more\n", offset + 5, False)
    assert tail_log(letters, offset, 3) == (b"re\n", offset + 5, True)


def supervisor_tail(path, offset, length):
    data, off, overflow = tailFile(path, offset, length)
    return data.encode(), off, overflow


@pytest.mark.parametrize("offset", [-100, -1, 0, 1, 25, 51, 52, 53, 200])
@pytest.mark.parametrize("length", [-100, -1, 0, 1, 5, 51, 52, 53, 1000])
def test_tail_matches_supervisor(letters, offset, length):
    assert tail_log(letters, offset, length) == supervisor_tail(letters, offset, length)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.text(alphabet=LETTERS + "\n", max_size=300),
       offset=st.integers(-400, 400), length=st.integers(-400, 400))
def test_tail_matches_supervisor_random(tmp_path, data, offset, length):
    p = tmp_path / "t.log"
    p.write_text(data)
    assert tail_log(str(p), offset, length) == supervisor_tail(str(p), offset, length)
