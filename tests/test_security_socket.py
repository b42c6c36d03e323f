"""The unix socket is made in a directory another user can write (issue 12).

`file=/some/shared/dir/supervisor.sock` in a directory writable by others without the
sticky bit: user nobody can rename the core's fresh socket away and put a link to a root
file in its place between bind and chmod. The socket is now born with its mode (umask at
bind), chowned and linked without following links, and checked to be the one bound.
"""
import os
import shutil
import signal
import subprocess
import tempfile

import pytest

from harness import nobody_or_skip

from wrapctl.rpc.http import BindError, _bind_unix

# Swaps the core's fresh socket with a link to root's file, atomically and as fast as it
# can (renameat2 RENAME_EXCHANGE): a chmod, chown or link by name lands on the link about
# half the time the window is open.
RACER = r"""
import ctypes, os, sys, time
tmp, victim = sys.argv[1], sys.argv[2]
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
link = tmp + ".link"
os.symlink(victim, link)
a, b = tmp.encode(), link.encode()
end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    for _ in range(1000):
        libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE)
"""


@pytest.mark.timeout(120)
def test_socket_swapped_for_a_link_is_never_chmodded_through(tmp_path):
    nobody_or_skip()
    shared = tempfile.mkdtemp(prefix="wcsock")
    os.chmod(shared, 0o777)         # writable by others, no sticky bit
    victim = tmp_path / "victim"
    victim.write_text("root only\n")
    os.chmod(victim, 0o600)
    path = os.path.join(shared, "s.sock")
    racer = subprocess.Popen(["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", RACER,
                              f"{path}.{os.getpid()}", str(victim), "20"],
                             start_new_session=True)
    try:
        from harness import wait_for
        wait_for(lambda: os.path.lexists(f"{path}.{os.getpid()}.link"), 30, "the racer")
        for _ in range(20000):
            try:
                sock = _bind_unix(path, 0o777, None)
            except BindError:
                continue
            sock.close()
            st = os.lstat(path)
            os.unlink(path)
            assert oct(st.st_mode & 0o777) == oct(0o777)
            assert os.stat(victim).st_mode & 0o777 == 0o600
            if racer.poll() is not None:
                break
        assert racer.poll() is None, "the race ended before the binds did"
    finally:
        os.killpg(racer.pid, signal.SIGKILL)      # runuser and the python it forked
        racer.wait()
        shutil.rmtree(shared, ignore_errors=True)
    assert os.stat(victim).st_mode & 0o777 == 0o600
    assert os.stat(victim).st_uid == 0


def test_socket_mode_is_set_at_birth(tmp_path):
    path = str(tmp_path / "s.sock")
    for mode in (0o700, 0o770, 0o777):
        sock = _bind_unix(path, mode, None)
        try:
            assert os.lstat(path).st_mode & 0o777 == mode
        finally:
            sock.close()
            os.unlink(path)
