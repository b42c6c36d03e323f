"""RotatingFile: size rotation without loss, cuts on line boundaries, reopen, errors."""
import errno
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wrapctl.core.logs import RotatingFile


def generations(path):
    """Existing files oldest first: path.N .. path.1, path."""
    names = []
    i = 1
    while os.path.exists(f"{path}.{i}"):
        names.append(f"{path}.{i}")
        i += 1
    names.reverse()
    if os.path.exists(path):
        names.append(path)
    return names


def contents(path):
    out = []
    for name in generations(path):
        with open(name, "rb") as f:
            out.append(f.read())
    return out


def write_all(path, chunks, maxbytes, backups):
    rf = RotatingFile(str(path), maxbytes, backups)
    for c in chunks:
        rf.write(c)
    rf.close()
    return contents(str(path))


def test_no_rotation_when_maxbytes_zero(tmp_path):
    p = tmp_path / "a.log"
    files = write_all(p, [b"x" * 1000, b"y\n" * 1000], 0, 5)
    assert files == [b"x" * 1000 + b"y\n" * 1000]


def test_cut_after_last_newline_that_fits(tmp_path):
    p = tmp_path / "a.log"
    files = write_all(p, [b"aaa\nbbb\nccc\nddd\n"], 10, 5)
    assert files == [b"aaa\nbbb\n", b"ccc\nddd\n"]


def test_cut_at_maxbytes_without_newline(tmp_path):
    p = tmp_path / "a.log"
    files = write_all(p, [b"0123456789abcdefghijKLM"], 10, 5)
    assert files == [b"0123456789", b"abcdefghij", b"KLM"]


def test_whole_line_moves_to_next_file_instead_of_splitting(tmp_path):
    # 9 bytes ending on a line, then a 6-byte line with 1 byte of room: the line is not
    # split, the file is rotated before it.
    p = tmp_path / "a.log"
    files = write_all(p, [b"12345678\n", b"hello\n"], 10, 5)
    assert files == [b"12345678\n", b"hello\n"]


def test_line_longer_than_maxbytes_fills_the_file(tmp_path):
    p = tmp_path / "a.log"
    files = write_all(p, [b"ab\n", b"x" * 25 + b"\n"], 10, 5)
    assert files == [b"ab\n" + b"x" * 7, b"x" * 10, b"x" * 8 + b"\n"]


def test_big_chunk_spans_several_files(tmp_path):
    p = tmp_path / "a.log"
    data = b"".join(b"line %04d\n" % i for i in range(100))  # 10-byte lines
    files = write_all(p, [data], 35, 50)
    assert b"".join(files) == data
    assert all(len(f) == 30 and f.endswith(b"\n") for f in files[:-1])


def test_backups_count_respected(tmp_path):
    p = tmp_path / "a.log"
    data = [b"%09d\n" % i for i in range(50)]
    files = write_all(p, data, 20, 3)
    assert generations(str(p)) == [f"{p}.3", f"{p}.2", f"{p}.1", str(p)]
    assert b"".join(files) == b"".join(data[-8:])
    assert not os.path.exists(f"{p}.4")


def test_backups_zero_truncates_in_place(tmp_path):
    p = tmp_path / "a.log"
    data = [b"%04d\n" % i for i in range(20)]
    files = write_all(p, data, 12, 0)
    assert generations(str(p)) == [str(p)]
    assert files == [b"0018\n0019\n"]


def test_existing_oversized_file_rotates_before_first_write(tmp_path):
    p = tmp_path / "a.log"
    p.write_bytes(b"old\n" * 10)
    files = write_all(p, [b"new\n"], 16, 2)
    assert files == [b"old\n" * 10, b"new\n"]


def test_appends_to_existing_file(tmp_path):
    p = tmp_path / "a.log"
    p.write_bytes(b"one\n")
    rf = RotatingFile(str(p), 100, 1)
    assert rf.size == 4
    rf.write(b"two\n")
    assert rf.size == 8
    rf.close()
    assert p.read_bytes() == b"one\ntwo\n"


def test_reopen_after_external_rename(tmp_path):
    p = tmp_path / "a.log"
    rf = RotatingFile(str(p), 0, 0)
    rf.write(b"a\n")
    os.rename(p, f"{p}.old")        # what logrotate does
    rf.write(b"b\n")                # still goes to the renamed file until reopen
    rf.reopen()
    rf.write(b"c\n")
    rf.close()
    assert (tmp_path / "a.log.old").read_bytes() == b"a\nb\n"
    assert p.read_bytes() == b"c\n"


def test_external_truncate_is_seen(tmp_path):
    # logrotate copytruncate: the size used for rotation is the file's, not a counter.
    p = tmp_path / "a.log"
    rf = RotatingFile(str(p), 10, 2)
    rf.write(b"12345678\n")
    os.truncate(p, 0)
    rf.write(b"abcdefgh\n")
    rf.close()
    assert generations(str(p)) == [str(p)]
    assert p.read_bytes() == b"abcdefgh\n"


def test_clear_removes_current_file_only(tmp_path):
    p = tmp_path / "a.log"
    rf = RotatingFile(str(p), 4, 2)
    rf.write(b"abc\ndef\n")
    rf.clear()
    rf.write(b"x\n")
    rf.close()
    assert contents(str(p)) == [b"abc\n", b"x\n"]


def test_non_regular_file_never_rotates(tmp_path):
    rf = RotatingFile("/dev/null", 5, 3)
    rf.write(b"x" * 100)
    rf.write(b"y\n" * 100)
    rf.close()
    assert not os.path.exists("/dev/null.1")


def test_write_error_keeps_data_and_raises():
    rf = RotatingFile("/dev/full", 0, 0)
    with pytest.raises(OSError) as e:
        rf.write(b"first\n")
    assert e.value.errno == errno.ENOSPC
    with pytest.raises(OSError):
        rf.write(b"second\n")
    assert rf.pending == b"first\nsecond\n"
    assert rf.dropped == 0
    with pytest.raises(OSError):
        rf.close()
    assert rf.closed and rf.pending == b"first\nsecond\n"


def test_pending_is_bounded_and_drops_are_counted():
    rf = RotatingFile("/dev/full", 0, 0, pending_limit=8)
    for chunk in (b"abcdef", b"ghijkl"):
        with pytest.raises(OSError):
            rf.write(chunk)
    assert rf.pending == b"efghijkl"
    assert rf.dropped == 4
    rf.pending = b""
    rf.close()


def test_open_failure_raises_and_later_write_recovers(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    p = d / "a.log"
    rf = RotatingFile(str(p), 0, 0)
    rf.write(b"one\n")
    os.unlink(p)
    d.rmdir()
    with pytest.raises(OSError) as e:
        rf.reopen()
    assert e.value.errno == errno.ENOENT
    with pytest.raises(OSError):
        rf.write(b"two\n")
    assert rf.pending == b"two\n"
    d.mkdir()
    rf.write(b"three\n")
    rf.close()
    assert p.read_bytes() == b"two\nthree\n"


def test_failed_rotation_loses_nothing(tmp_path):
    p = tmp_path / "a.log"
    blocker = tmp_path / "a.log.1"
    blocker.mkdir()
    (blocker / "keep").write_bytes(b"")  # a non-empty directory: renaming onto it fails
    rf = RotatingFile(str(p), 10, 1)
    rf.write(b"aaaa\nbbbb\n")
    with pytest.raises(OSError):
        rf.write(b"cccc\n")                 # rotation: a.log -> a.log.1 fails
    assert rf.pending == b"cccc\n"
    (blocker / "keep").unlink()
    blocker.rmdir()
    rf.write(b"dddd\n")
    rf.close()
    assert contents(str(p)) == [b"aaaa\nbbbb\n", b"cccc\ndddd\n"]


def test_created_with_umask_mode(tmp_path):
    old = os.umask(0o027)
    try:
        rf = RotatingFile(str(tmp_path / "a.log"), 0, 0)
        rf.close()
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "a.log").st_mode & 0o777 == 0o640


# -- properties ----------------------------------------------------------------------------

chunk = st.one_of(
    st.binary(max_size=40),
    st.lists(st.sampled_from([b"a", b"bc", b"\n", b"defgh", b"\n\n", b"ijklmnopqrstu"]),
             max_size=12).map(b"".join),
)


def check_files(files, chunks, maxbytes):
    """Every rotated file is within maxbytes, was rotated only because the chunk being
    written did not fit, and ends on a line boundary unless none was usable."""
    data = b"".join(chunks)
    ends = []
    total = 0
    for c in chunks:
        if c:
            total += len(c)
            ends.append(total)
    starts = {e: e - len(c) for e, c in zip(ends, [c for c in chunks if c])}

    def chunk_around(i):   # (start, end) of the chunk holding stream byte i
        for e in ends:
            if i < e:
                return starts[e], e
        raise AssertionError(i)

    s = 0
    for n, f in enumerate(files):
        e = s + len(f)
        assert data[s:e] == f
        assert 0 < len(f) <= maxbytes or (n == len(files) - 1 and len(f) <= maxbytes)
        if n == len(files) - 1:
            break
        # the write that caused this rotation held byte e and could not fit
        cs, ce = chunk_around(e)
        assert ce - s > maxbytes
        # the cut is at the last usable newline: none left in this chunk within reach
        assert b"\n" not in data[e:min(ce, s + maxbytes)], "cut before a later newline"
        if cs == e and len(f) < maxbytes:
            # rotated early, before writing any of this chunk: only to keep its first
            # line whole, so that line must fit a fresh file
            nl = data.find(b"\n", e, ce)
            assert (nl + 1 if nl >= 0 else ce) - e <= maxbytes, "needless early rotation"
        if not f.endswith(b"\n"):
            assert len(f) == maxbytes
            piece_start = max(s, cs)
            assert b"\n" not in data[piece_start:e], "a usable newline was ignored"
            if s < piece_start < e and data[piece_start - 1:piece_start] == b"\n":
                # the file had ended on a line before this chunk: the next line was too
                # long for a whole file, so filling this one was right
                nl = data.find(b"\n", piece_start, ce)
                assert (nl + 1 if nl >= 0 else ce) - piece_start > maxbytes
        s = e


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunks=st.lists(chunk, max_size=25), maxbytes=st.integers(1, 30))
def test_property_no_loss_and_line_cuts(tmp_path, chunks, maxbytes):
    d = tmp_path / f"h{os.urandom(6).hex()}"
    d.mkdir()
    p = d / "a.log"
    data = b"".join(chunks)
    files = write_all(p, chunks, maxbytes, len(data) + 1)
    assert b"".join(files) == data
    if data:
        check_files(files, chunks, maxbytes)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunks=st.lists(chunk, max_size=25), maxbytes=st.integers(1, 30),
       backups=st.integers(0, 4))
def test_property_few_backups_keep_a_suffix(tmp_path, chunks, maxbytes, backups):
    d = tmp_path / f"h{os.urandom(6).hex()}"
    d.mkdir()
    p = d / "a.log"
    data = b"".join(chunks)
    files = write_all(p, chunks, maxbytes, backups)
    assert len(files) <= backups + 1
    assert data.endswith(b"".join(files))
    assert all(len(f) <= maxbytes for f in files)
    assert sorted(os.listdir(d)) == sorted(os.path.basename(n) for n in generations(str(p)))


def test_real_child_output_through_a_pipe(tmp_path):
    """What the core does: read a child's stdout pipe in pieces, hand them over."""
    import subprocess
    import sys
    script = "import sys\nfor i in range(3000): sys.stdout.write('out %d ' % i + 'x' * (i % 37) + '\\n')\n"
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    p = tmp_path / "child.log"
    rf = RotatingFile(str(p), 4096, 100)
    received = []
    sizes = [1, 7, 100, 4096, 65536, 13]
    n = 0
    while True:
        chunk = os.read(child.stdout.fileno(), sizes[n % len(sizes)])
        n += 1
        if not chunk:
            break
        received.append(chunk)
        rf.write(chunk)
    child.stdout.close()
    assert child.wait(timeout=60) == 0
    rf.close()
    files = contents(str(p))
    assert b"".join(files) == b"".join(received)
    assert len(files) > 10
    check_files(files, received, 4096)
