"""The shim against the suite's test daemons: real processes, real signals."""
import os
import re
import signal
import subprocess
import sys

import psutil
import pytest

from daemons.shimkit import (alive, daemon, finish, kill_all, log_lines, read_pid, start_shim,
                             stderr_of, tree, wait_for, wait_logged, wait_pidfile)


@pytest.fixture
def shims(tmp_path):
    started = []

    def start(opts, command):
        p = start_shim(opts, command, tmp_path)
        started.append(p)
        return p
    yield start
    for p in started:
        if p.poll() is None:
            kill_all(tree(p.pid) | {p.pid})
            p.wait()


def test_late_pidfile_adopted_signals_forwarded_and_kill9_seen(tmp_path, shims):
    pf, log = tmp_path / "d.pid", tmp_path / "log"
    shim = shims(["--pidfile", pf], daemon("doublefork.py", "--pidfile", pf, "--delay", "0.5",
                                           "--log", log))
    pid = wait_pidfile(pf)
    wait_for(lambda: f"daemon is pid {pid}" in stderr_of(tmp_path), what="adoption")
    assert pid in tree(shim.pid)               # re-parented to the subreaper shim
    for sig in ("HUP", "USR1", "USR2", "WINCH", "CONT"):
        shim.send_signal(getattr(signal, "SIG" + sig))
        wait_logged(log, pid, sig)
    os.kill(pid, signal.SIGKILL)
    assert finish(shim) == 128 + 9
    assert "killed by SIGKILL" in stderr_of(tmp_path)


def test_daemon_exit_status_is_passed_on(tmp_path, shims):
    pf = tmp_path / "d.pid"
    shim = shims(["--pidfile", pf], daemon("doublefork.py", "--pidfile", pf,
                                           "--exit-after", "1", "--status", "42"))
    assert finish(shim) == 42


def test_term_is_mapped_and_stops(tmp_path, shims):
    pf, log = tmp_path / "d.pid", tmp_path / "log"
    shim = shims(["--pidfile", pf, "--signal", "TERM:QUIT", "--signal", "USR1:0"],
                 daemon("doublefork.py", "--pidfile", pf, "--log", log))
    pid = wait_pidfile(pf)
    wait_for(lambda: f"daemon is pid {pid}" in stderr_of(tmp_path), what="adoption")
    shim.send_signal(signal.SIGUSR1)              # dropped by USR1:0
    shim.send_signal(signal.SIGTERM)
    assert finish(shim) == 0
    assert f"{pid} QUIT" in log_lines(log)
    assert f"{pid} USR1" not in log_lines(log) and f"{pid} TERM" not in log_lines(log)


def test_pid_move_on_usr2_is_followed(tmp_path, shims):
    pf, log = tmp_path / "d.pid", tmp_path / "log"
    shim = shims(["--pidfile", pf], daemon("mover.py", "--pidfile", pf, "--log", log))
    old = wait_pidfile(pf)
    wait_for(lambda: f"daemon is pid {old}" in stderr_of(tmp_path), what="adoption")
    shim.send_signal(signal.SIGUSR2)
    new = wait_pidfile(pf, other_than=old)
    assert read_pid(tmp_path / "d.pid.oldbin") == old
    os.kill(old, signal.SIGQUIT)                  # as an operator finishing the upgrade
    wait_for(lambda: f"moved from pid {old} to {new}" in stderr_of(tmp_path), what="move")
    assert shim.poll() is None and not alive(old)
    shim.send_signal(signal.SIGHUP)
    wait_logged(log, new, "HUP")                  # signals now go to the new master
    os.kill(new, signal.SIGKILL)
    assert finish(shim) == 137


def test_stop_kills_setsid_grandchildren_after_timeout(tmp_path, shims):
    pf, kids_file = tmp_path / "d.pid", tmp_path / "kids"
    shim = shims(["--pidfile", pf, "--stop-timeout", "1"],
                 daemon("setsid_kids.py", "--pidfile", pf, "--kids", 3,
                        "--kids-file", kids_file))
    pid = wait_pidfile(pf)
    wait_for(lambda: f"daemon is pid {pid}" in stderr_of(tmp_path), what="adoption")
    kids = [int(x) for x in kids_file.read_text().split()]
    assert all(alive(k) for k in kids)
    assert all(psutil.Process(k).pid == os.getsid(k) for k in kids)   # own sessions
    shim.send_signal(signal.SIGTERM)
    assert finish(shim) == 0                      # the daemon's own status on TERM
    assert not any(alive(k) for k in kids) and not alive(pid)
    assert "SIGKILL to 3 process(es)" in stderr_of(tmp_path)


def test_term_ignoring_daemon_is_killed(tmp_path, shims):
    pf, log = tmp_path / "d.pid", tmp_path / "log"
    shim = shims(["--pidfile", pf, "--stop-timeout", "1"],
                 daemon("ignore_term.py", "--pidfile", pf, "--log", log))
    pid = wait_pidfile(pf)
    wait_for(lambda: f"daemon is pid {pid}" in stderr_of(tmp_path), what="adoption")
    shim.send_signal(signal.SIGTERM)
    assert finish(shim) == 137
    assert f"{pid} TERM" in log_lines(log) and not alive(pid)


def test_pidfile_naming_an_outside_process_is_refused(tmp_path, shims):
    pf, log = tmp_path / "d.pid", tmp_path / "log"
    outsider = subprocess.Popen(["sleep", "60"])
    try:
        shim = shims(["--pidfile", pf], daemon("wrong_pid.py", "--pidfile", pf,
                                               "--pid", outsider.pid, "--log", log))
        assert finish(shim) == 3
        err = stderr_of(tmp_path)
        assert f"names pid {outsider.pid}" in err and "outside the shim's process tree" in err
        assert outsider.poll() is None            # nothing signalled
        assert psutil.Process(outsider.pid).status() != psutil.STATUS_STOPPED
        # what COMMAND started is not left behind
        daemons = [int(line.split()[0]) for line in log_lines(log)]
        assert daemons and not any(alive(d) for d in daemons)
    finally:
        outsider.kill()
        outsider.wait()


def test_pidfile_naming_pid_1_is_refused(tmp_path, shims):
    pf = tmp_path / "d.pid"
    shim = shims(["--pidfile", pf], daemon("wrong_pid.py", "--pidfile", pf, "--pid", 1))
    assert finish(shim) == 3
    assert f"refused: pidfile {pf} names pid 1 (init)" in stderr_of(tmp_path)


def test_pidfile_with_garbage_is_refused(tmp_path, shims):
    pf = tmp_path / "d.pid"
    shim = shims(["--pidfile", pf], ["sh", "-c", f"sleep 60 & echo 12ab > {pf}"])
    assert finish(shim) == 3
    assert "holds garbage '12ab'" in stderr_of(tmp_path)


@pytest.mark.skipif(os.geteuid() != 0, reason="the rule applies to a shim running as root")
def test_world_writable_pidfile_refused_as_root(tmp_path, shims):
    pf = tmp_path / "d.pid"
    shim = shims(["--pidfile", pf], ["sh", "-c", f"umask 0; sleep 60 & echo $! > {pf}"])
    assert finish(shim) == 3
    assert "is world-writable and the shim runs as root" in stderr_of(tmp_path)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own a symlink as another user")
def test_symlink_owned_by_another_user_refused(tmp_path, shims):
    pf, real = tmp_path / "d.pid", tmp_path / "real.pid"
    os.symlink(real, pf)
    os.lchown(pf, 65534, 65534)
    shim = shims(["--pidfile", pf], ["sh", "-c", f"sleep 60 & echo $! > {real}"])
    assert finish(shim) == 3
    assert "is a symlink owned by uid 65534" in stderr_of(tmp_path)


def test_stale_pidfile_is_not_trusted_until_rewritten(tmp_path, shims):
    pf = tmp_path / "d.pid"
    outsider = subprocess.Popen(["sleep", "60"])
    try:
        pf.write_text(f"{outsider.pid}\n")        # left over from an earlier run
        shim = shims(["--pidfile", pf], daemon("doublefork.py", "--pidfile", pf,
                                               "--delay", "0.5"))
        pid = wait_pidfile(pf, other_than=outsider.pid)
        wait_for(lambda: f"daemon is pid {pid}" in stderr_of(tmp_path), what="adoption")
        shim.send_signal(signal.SIGTERM)
        assert finish(shim) == 0
        assert outsider.poll() is None
    finally:
        outsider.kill()
        outsider.wait()


def test_never_written_pidfile_times_out(tmp_path, shims):
    pf, log = tmp_path / "d.pid", tmp_path / "log"
    shim = shims(["--pidfile", pf, "--start-timeout", "1"],
                 daemon("no_pidfile.py", "--pidfile", pf, "--log", log))
    assert finish(shim) == 4
    assert f"pidfile {pf} never appeared" in stderr_of(tmp_path)
    daemons = [int(line.split()[0]) for line in log_lines(log)]
    assert not any(alive(d) for d in daemons)


def test_command_failure_is_visible(tmp_path, shims):
    shim = shims(["--pidfile", tmp_path / "x.pid"], ["sh", "-c", "echo boom >&2; exit 9"])
    assert finish(shim) == 9
    err = stderr_of(tmp_path)
    assert "boom" in err and "sh failed during start-up: exit status 9" in err


def test_daemon_dying_during_startup_is_visible(tmp_path, shims):
    pf = tmp_path / "d.pid"
    shim = shims(["--pidfile", pf], ["sh", "-c", "(sleep 0.3; echo dying >&2; exit 5) & "
                                                 "exit 0"])
    assert finish(shim) == 5
    assert "dying" in stderr_of(tmp_path)


def test_command_not_found_and_usage_errors(tmp_path, shims):
    assert finish(shims([], ["/nonexistent/prog"])) == 127
    assert "/nonexistent/prog: command not found" in stderr_of(tmp_path)
    for opts, needle in ((["--signal", "TERM"], "expected FROM:TO"),
                         (["--signal", "TERM:BOGUS"], "unknown signal"),
                         (["--signal", "ALRM:TERM"], "FROM must be one of"),
                         (["--stop-timeout", "-1"], "positive number"), (["--pidfile"], "needs a value"),
                         (["--frobnicate"], "unknown option")):
        r = subprocess.run([sys.executable, "-m", "wrapctl.shims.main", *opts, "--", "true"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, opts
        assert needle in r.stderr and r.stderr.count("\n") == 1, r.stderr
    r = subprocess.run([sys.executable, "-m", "wrapctl.shims.main"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2 and "missing COMMAND" in r.stderr


def test_pre_start_failure_stops_before_command(tmp_path, shims):
    marker = tmp_path / "ran"
    shim = shims(["--pre-start", "echo config broken >&2; exit 1"], ["touch", marker])
    assert finish(shim) == 6
    err = stderr_of(tmp_path)
    assert "config broken" in err and "--pre-start 'echo config broken >&2; exit 1' failed" in err
    assert not marker.exists()
    shim = shims(["--pre-start", "true"], ["touch", marker])
    assert finish(shim) == 0 and marker.exists()


def test_stop_and_reload_commands(tmp_path, shims):
    pf, log, reloads = tmp_path / "d.pid", tmp_path / "log", tmp_path / "reloads"
    stopped = tmp_path / "stopped"
    shim = shims(["--pidfile", pf, "--reload-command", f"echo reload >> {reloads}",
                  "--stop-command", f"kill -QUIT $(cat {pf}); touch {stopped}"],
                 daemon("doublefork.py", "--pidfile", pf, "--log", log))
    pid = wait_pidfile(pf)
    wait_for(lambda: f"daemon is pid {pid}" in stderr_of(tmp_path), what="adoption")
    shim.send_signal(signal.SIGHUP)
    wait_for(reloads.exists, what="reload command")
    shim.send_signal(signal.SIGTERM)
    assert finish(shim) == 0
    lines = log_lines(log)
    assert f"{pid} HUP" not in lines and f"{pid} QUIT" in lines and stopped.exists()


def test_without_pidfile_the_single_daemon_is_found(tmp_path, shims):
    log = tmp_path / "log"
    shim = shims([], daemon("doublefork.py", "--log", log))
    wait_for(lambda: log_lines(log), what="daemon ready")
    pid = int(log_lines(log)[0].split()[0])
    # The intermediate fork may be seen first, then followed when it exits.
    wait_for(lambda: re.search(rf"(daemon is pid|to) {pid}\b", stderr_of(tmp_path)),
             what="adoption")
    shim.send_signal(signal.SIGUSR1)
    wait_logged(log, pid, "USR1")
    os.kill(pid, signal.SIGKILL)
    assert finish(shim) == 137


def test_several_candidates_refused_or_picked_by_exe(tmp_path, shims):
    cmd = ["sh", "-c", "sleep 60 & tail -f /dev/null & exit 0"]
    shim = shims([], cmd)
    assert finish(shim) == 5
    assert "several processes could be the daemon" in stderr_of(tmp_path)
    shim = shims(["--exe", "tail", "--stop-timeout", "1"], cmd)
    wait_for(lambda: re.search(r"daemon is pid \d+ \(tail\)", stderr_of(tmp_path)),
             what="adoption of tail")
    kids = tree(shim.pid)
    assert len(kids) == 2
    shim.send_signal(signal.SIGTERM)
    assert finish(shim) == 143                  # tail dies of the forwarded TERM
    assert not any(alive(k) for k in kids)      # the other candidate went with the tree


def test_exe_waits_for_a_fork_that_has_not_exec_yet(tmp_path, shims):
    """The launcher may exit before its fork has exec'd the daemon (`(...; exec tail) &`):
    that fork still runs the launcher's program, and --exe waits for the exec (a busy
    machine made this race in the suite)."""
    cmd = ["sh", "-c", "sleep 60 & (sleep 0.3; exec tail -f /dev/null) & exit 0"]
    shim = shims(["--exe", "tail", "--stop-timeout", "1"], cmd)
    wait_for(lambda: re.search(r"daemon is pid \d+ \(tail\)", stderr_of(tmp_path)),
             what="adoption of tail")
    shim.send_signal(signal.SIGTERM)
    assert finish(shim) == 143


def test_foreground_command_passthrough(tmp_path, shims):
    assert finish(shims([], ["sh", "-c", "exit 7"])) == 7
    assert finish(shims([], [sys.executable, "-c",
                             "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"])) == 137
    shim = shims(["--signal", "INT:USR1"], ["sh", "-c", "trap 'exit 11' USR1; "
                                                        "while :; do sleep 0.05; done"])
    wait_for(lambda: tree(shim.pid), what="foreground child")
    shim.send_signal(signal.SIGINT)
    assert finish(shim) == 11


def test_orphans_are_reaped(tmp_path, shims):
    shim = shims([], ["sh", "-c", "for i in 1 2 3 4 5; do (sleep 0.1 &) ; done; exec sleep 60"])
    # The orphaned sleeps are reparented to the shim: once they exit, only the shim's wait()
    # removes them. Without it the wait times out on zombies.
    def only_sleep_60():
        tree = psutil.Process(shim.pid).children(recursive=True)
        return len(tree) == 1 and tree[0].cmdline() == ["sleep", "60"]
    wait_for(only_sleep_60, what="orphans reaped")
    shim.send_signal(signal.SIGTERM)
    assert finish(shim) == 143


def test_pid_1_in_a_container_reaps_everything(tmp_path):
    unshare = "/usr/bin/unshare"
    if not os.path.exists(unshare) or os.geteuid() != 0:
        pytest.skip("needs unshare and root for a PID namespace")
    script = ("for i in 1 2 3; do (sleep 0.1 &); done; sleep 1; "
              "ps -eo stat= | grep -c '^Z' || true")
    r = subprocess.run([unshare, "--pid", "--fork", "--mount-proc", sys.executable, "-m",
                        "wrapctl.shims.main", "--", "sh", "-c", script],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "0"


def test_exe_must_match_the_pidfile_process(tmp_path, shims):
    pf = tmp_path / "d.pid"
    shim = shims(["--pidfile", pf, "--exe", "nginx"], daemon("doublefork.py", "--pidfile", pf))
    assert finish(shim) == 3
    # the daemon's name is its interpreter's: python, python3 or python3.11 (a venv)
    assert re.search(r"\(python[\d.]*\), not the --exe nginx", stderr_of(tmp_path))


NO_PIDFD = ("import errno, os, sys\n"
            "def refuse(pid, flags=0): raise OSError(errno.ENOSYS, 'pidfd_open refused')\n"
            "os.pidfd_open = refuse\n"
            "from wrapctl.shims.main import main\n"
            "sys.exit(main())\n")


@pytest.mark.parametrize("pidfds", [True, False], ids=["pidfd", "no-pidfd-fallback"])
def test_daemon_that_is_not_the_shims_child(tmp_path, pidfds):
    # sh becomes `sleep 1000`, which never reaps: the daemon (`sleep 60`) stays its child,
    # so no SIGCHLD reaches the shim; only the pidfd (or the fallback poll) sees the death.
    pf = tmp_path / "d.pid"
    cmd = ["sh", "-c", f"sleep 60 & echo $! > {pf}; exec sleep 1000"]
    argv = ([sys.executable, "-m", "wrapctl.shims.main"] if pidfds
            else [sys.executable, "-c", NO_PIDFD])
    err = open(tmp_path / "shim.err", "wb")
    shim = subprocess.Popen(argv + ["--pidfile", str(pf), "--"] + cmd, stderr=err)
    try:
        pid = wait_pidfile(pf)
        wait_for(lambda: f"daemon is pid {pid}" in stderr_of(tmp_path), what="adoption")
        assert psutil.Process(pid).ppid() != shim.pid
        os.kill(pid, signal.SIGKILL)
        assert finish(shim) == 1
        assert "status unknown (not the shim's child)" in stderr_of(tmp_path)
        assert not tree(shim.pid)
    finally:
        if shim.poll() is None:
            kill_all(tree(shim.pid) | {shim.pid})
            shim.wait()


def test_term_before_the_daemon_is_found_ends_the_tree(tmp_path, shims):
    pf, log = tmp_path / "d.pid", tmp_path / "log"
    shim = shims(["--pidfile", pf, "--stop-timeout", "2"],
                 daemon("no_pidfile.py", "--pidfile", pf, "--log", log))
    wait_for(lambda: log_lines(log), what="daemon ready")
    pid = int(log_lines(log)[0].split()[0])
    shim.send_signal(signal.SIGTERM)
    assert finish(shim) == 143
    assert f"{pid} TERM" in log_lines(log) and not alive(pid)


def test_pidfile_in_a_missing_directory_is_a_usage_error(tmp_path, shims):
    shim = shims(["--pidfile", tmp_path / "nope" / "d.pid"], ["true"])
    assert finish(shim) == 2
    assert "cannot watch directory" in stderr_of(tmp_path)


def test_console_scripts_dispatch_to_the_shim(tmp_path):
    import shutil
    for argv in (["wrapctl", "shim"], ["wrapctl-shim"]):
        if not shutil.which(argv[0]):
            pytest.skip(f"{argv[0]} not installed")
        r = subprocess.run(argv + ["-q", "--", "sh", "-c", "exit 5"], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 5, (argv, r.stderr)
        r = subprocess.run(argv + ["--help"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "exit status:" in r.stdout
