"""Issue 12, attack 5: run_dirs= against a local user who owns or can write a directory on
the way. The core (root) walks down through open directory fds (rundirs._make_one): a link
planted in a shared directory is not followed, a directory owned by another user is not
walked into (or made in), and a name swapped for a link while the core works changes
nothing but that name. The attacks run as user nobody through runuser."""
import os
import stat
import subprocess

import pytest

from harness import nobody_or_skip, wait_for
from wrapctl.core import rundirs

# nobody cannot run the test's own interpreter (it lives under /root): the system one.
SYS_PY = "/usr/bin/python3"

# As nobody: swap DIR (a directory nobody owns, chmodded back to 0700 all the time, so the
# core has to chmod it at each start) with ALT, a link to a root-only file, by
# renameat2(RENAME_EXCHANGE), for SECONDS. Each swap is atomic: the name DIR is always
# either the directory or the link.
SWAPPER = """\
import ctypes, os, sys, time
d, alt, target, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
libc = ctypes.CDLL(None, use_errno=True)
os.mkdir(d, 0o700)
fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
os.symlink(target, alt)
print('swapping', flush=True)
end = time.monotonic() + seconds
n = 0
while time.monotonic() < end:
    os.fchmod(fd, 0o700)
    if libc.renameat2(-100, d.encode(), -100, alt.encode(), 2) != 0:
        sys.exit('renameat2: errno %d' % ctypes.get_errno())
    n += 1
print('swaps', n, flush=True)
"""


def _as_nobody(*argv, **kw):
    return subprocess.run(["runuser", "-u", "nobody", "--", *argv], capture_output=True,
                          text=True, timeout=30, **kw)


@pytest.fixture
def area(open_tmp):
    """A temp dir nobody can reach (0755), cleaned up after."""
    return open_tmp


def _make(spec, default_uid=None):
    rundirs.make(rundirs.parse(spec), default_uid)


def _refusal(spec, default_uid=None):
    with pytest.raises(OSError) as e:
        _make(spec, default_uid)
    return str(e.value)


def _secret(area):
    """A root-only directory and file: what an attacker points links at."""
    sec = os.path.join(area, "secret")
    os.mkdir(sec, 0o700)
    f = os.path.join(sec, "file")
    with open(f, "w") as fh:
        fh.write("root only\n")
    os.chmod(f, 0o600)
    return sec, f


def _unchanged(sec, f):
    st = os.stat(sec)
    assert (st.st_uid, st.st_mode & 0o7777) == (0, 0o700)
    assert os.listdir(sec) == ["file"]
    st = os.stat(f)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, 0, 0o600)


def _open_fds():
    return sorted(os.listdir("/proc/self/fd"))


# ---- the walk, on temp dirs ------------------------------------------------------------

def test_makes_parents_root_0755_and_the_dir_as_asked_whatever_the_umask(area):
    nobody = nobody_or_skip()
    old = os.umask(0o077)
    try:
        _make(f"{area}/a/b/c nobody 0750")
    finally:
        os.umask(old)
    for p in ("a", "a/b"):
        st = os.lstat(f"{area}/{p}")
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o755)
    st = os.lstat(f"{area}/a/b/c")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (
        nobody.pw_uid, nobody.pw_gid, 0o750)


def test_an_existing_dir_is_chowned_and_chmodded_again(area):
    nobody = nobody_or_skip()
    d = f"{area}/svc"
    os.mkdir(d, 0o700)
    before = _open_fds()
    _make(f"{d} nobody 0755")
    st = os.lstat(d)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (nobody.pw_uid, 0o755)
    _make(f"{d} nobody 0755")       # nothing to do is no error
    assert _open_fds() == before    # every fd of the walk closed


def test_a_link_in_place_of_the_dir_is_refused_whoever_made_it(area):
    sec, f = _secret(area)
    os.symlink(f, f"{area}/svc")
    msg = _refusal(f"{area}/svc root 0755")
    assert msg == f"couldn't make run dir {area}/svc: not a directory ({area}/svc is a " \
                  "symbolic link)"
    _unchanged(sec, f)


def test_a_file_on_the_way_is_named(area):
    open(f"{area}/plain", "w").close()
    assert _refusal(f"{area}/plain/x") == \
        f"couldn't make run dir {area}/plain/x: not a directory ({area}/plain)"


def test_a_link_only_root_could_have_made_is_followed_as_var_run_is(area):
    # /var/run -> /run: a root-owned link in a directory no one else may write.
    os.mkdir(f"{area}/real", 0o755)
    os.symlink("real", f"{area}/alias")
    _make(f"{area}/alias/x")
    assert os.path.isdir(f"{area}/real/x")
    # The same link in a directory others may write (one of them could have swapped it).
    os.chmod(area, 0o777)
    try:
        assert "alias is a symbolic link" in _refusal(f"{area}/alias/y")
    finally:
        os.chmod(area, 0o755)
    assert not os.path.exists(f"{area}/real/y")


def test_a_link_loop_ends(area):
    os.symlink("loop", f"{area}/loop")
    assert "too many symbolic links" in _refusal(f"{area}/loop/x")


def test_below_another_users_dir_only_what_will_be_theirs(area):
    nobody = nobody_or_skip()
    home = f"{area}/home"
    os.mkdir(home, 0o755)
    os.chown(home, nobody.pw_uid, nobody.pw_gid)
    # A root-owned directory (made, or a missing parent) there: refused before any mkdir.
    assert _refusal(f"{home}/cache root") == \
        f"couldn't make run dir {home}/cache: {home} is owned by user nobody"
    assert _refusal(f"{home}/a/b nobody") == \
        f"couldn't make run dir {home}/a/b: {home} is owned by user nobody"
    assert os.listdir(home) == []
    # Theirs anyway: as `install -d -o nobody` would do.
    _make(f"{home}/ok nobody")
    assert os.lstat(f"{home}/ok").st_uid == nobody.pw_uid


def test_a_dir_squatted_by_a_third_user_is_not_taken_over(area):
    nobody = nobody_or_skip()
    d = f"{area}/svc"
    os.mkdir(d)
    os.chmod(d, 0o777)
    os.chown(d, nobody.pw_uid, nobody.pw_gid)
    assert _refusal(f"{d} root 0700") == \
        f"couldn't make run dir {d}: {d} is owned by user nobody"
    st = os.lstat(d)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (nobody.pw_uid, 0o777)


# ---- the attacks, as nobody --------------------------------------------------------------

def _shared(area):
    """/tmp's like: root's, sticky, writable by all."""
    shared = os.path.join(area, "shared")
    os.mkdir(shared)
    os.chmod(shared, 0o1777)
    return shared


@pytest.mark.timeout(60)
def test_nobodys_link_in_a_shared_dir_makes_nothing_through_it(wrapctld, area):
    nobody_or_skip()
    sec, f = _secret(area)
    shared = _shared(area)
    p = _as_nobody("ln", "-s", sec, f"{shared}/app")
    assert p.returncode == 0, p.stderr
    d = wrapctld(f"[program:svc]\ncommand=sleep 1000\nrun_dirs={shared}/app/run root 0755\n"
                 "startsecs=0\nstartretries=0\nautorestart=false\n")
    d.wait_state("svc", "FATAL")
    d.wait_log(rf"couldn't make run dir {shared}/app/run: not a directory \({shared}/app "
               r"is a symbolic link\)")
    _unchanged(sec, f)


@pytest.mark.timeout(60)
def test_nobodys_own_dir_on_the_way_is_not_walked_into(wrapctld, area):
    """A root-owned run dir below nobody's directories: nobody could swap its parents at any
    time (and link them anywhere), so root makes nothing there."""
    nobody_or_skip()
    shared = _shared(area)
    app = f"{shared}/home/app"
    p = _as_nobody("mkdir", "-p", app)
    assert p.returncode == 0, p.stderr
    d = wrapctld(f"[program:svc]\ncommand=sleep 1000\nrun_dirs={app}/run root 0755\n"
                 "startsecs=0\nstartretries=0\nautorestart=false\n")
    d.wait_state("svc", "FATAL")
    d.wait_log(rf"couldn't make run dir {app}/run: {app} is owned by user nobody$")
    assert os.listdir(app) == []


def _swapper(area, seconds):
    """Start SWAPPER as nobody in a root-owned directory everyone may write (not sticky:
    nobody may rename what is in it). Returns (popen, run dir, root-only file, secret)."""
    sec, f = _secret(area)
    shared = os.path.join(area, "open")
    os.mkdir(shared)
    os.chmod(shared, 0o777)
    script = os.path.join(area, "swap.py")
    with open(script, "w") as fh:
        fh.write(SWAPPER)
    run, alt = f"{shared}/run", f"{shared}/alt"
    p = subprocess.Popen(["runuser", "-u", "nobody", "--", SYS_PY, script, run, alt, f,
                          str(seconds)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    assert p.stdout.readline().strip() == "swapping", p.stderr.read()
    return p, run, f, sec


def _finish(p):
    """The swapper's count of swaps (None if it had to be killed: the test failed)."""
    if p.poll() is None:
        p.kill()
        p.communicate(timeout=30)
        return None
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    return int(out.split()[-1])


@pytest.mark.timeout(60)
def test_a_rename_race_never_reaches_the_file(area):
    """The core chmods the program's own dir at each start while nobody swaps it with a link
    to a root-only file: path-based lstat-then-chmod lost this race within a few thousand
    starts; through the fd the walk holds, the file's mode never changes."""
    nobody = nobody_or_skip()
    p, run, f, sec = _swapper(area, 4)
    made = refused = 0
    try:
        while p.poll() is None:
            try:
                _make(f"{run} nobody 0750")
                made += 1
            except OSError as e:
                assert str(e).startswith(f"couldn't make run dir {run}: "), e
                refused += 1
            assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
    finally:
        swaps = _finish(p)
    assert swaps > 1000 and made and refused
    _unchanged(sec, f)
    for name in ("run", "alt"):     # the dir, whichever name it has now, was made 0750
        st = os.lstat(os.path.join(os.path.dirname(run), name))
        if stat.S_ISDIR(st.st_mode):
            assert st.st_uid == nobody.pw_uid


@pytest.mark.timeout(90)
def test_the_core_started_again_and_again_during_the_race(wrapctld, area):
    nobody_or_skip()
    p, run, f, sec = _swapper(area, 6)
    try:
        d = wrapctld(f"[program:svc]\ncommand=true\nuser=nobody\nrun_dirs={run} 0750\n"
                     "autostart=false\nstartsecs=0\nstartretries=0\nautorestart=false\n")
        rpc = d.rpc()
        starts = 0
        while p.poll() is None:
            try:
                rpc.startProcess("svc")
            except Exception as e:      # a start that met the link: a spawn error
                assert "SPAWN_ERROR" in str(e) or "ALREADY_STARTED" in str(e), e
            starts += 1
            assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
    finally:
        _finish(p)
    assert starts > 20
    _unchanged(sec, f)
    text = d.mainlog_text()
    assert "Traceback" not in text
    for line in text.splitlines():
        if "couldn't make run dir" in line:
            # The two ways a start can meet the swap: the link itself, or a name that
            # changed under the walk three times over.
            assert (line.endswith(f"couldn't make run dir {run}: not a directory ({run} is a "
                                  "symbolic link)")
                    or line.endswith(f"couldn't make run dir {run}: it keeps changing")), line
    wait_for(lambda: d.info("svc")["statename"] in ("EXITED", "FATAL", "STOPPED"),
             what="svc settled")
