"""The shim program: run COMMAND, find the daemon, mirror its life in the foreground.

Every state change comes from the event loop: SIGCHLD and forwarded signals through the
signal wakeup fd, a pidfd for a daemon that is not the shim's child, inotify for a pidfile
that appears late, and one-shot timers for --start-timeout and --stop-timeout.

Phases: pre-start -> starting (pidfile mode, waiting for a pid) -> running -> stopping
(TERM) or dying (daemon gone, killing leftovers) -> exit once no process of the tree is left.
"""
import os
import signal
import sys

from . import decide, identity, inotify, pidfile, procfs, reaper
from . import status as st
from .loop import Loop
from .options import FORWARDED, HELP, Help, Options, UsageError, parse

PROG = "wrapctl-shim"
# The shim's own signals must not reach COMMAND as ignored or blocked.
_RESET = (signal.SIGPIPE, signal.SIGXFSZ) + FORWARDED
_RELEASE_FAILSAFE = 0.5   # seconds between SIGKILL sweeps while a tree refuses to end
_NO_PIDFD_POLL = 1.0      # seconds; see Shim.track()
_EXEC_WAIT = 2.0          # seconds at most for a fork of the launcher to exec (await_exec)


def say(msg):
    try:
        os.write(2, f"{PROG}: {msg}\n".encode(errors="backslashreplace"))
    except OSError:
        pass


class Exit(Exception):
    def __init__(self, code):
        self.code = code


class Shim:
    def __init__(self, opts: Options, exit_process=False):
        self.o = opts
        self.exit_process = exit_process   # os._exit() at the end instead of returning
        self.loop = Loop()
        self.me = os.getpid()
        self.euid = os.geteuid()
        self.phase = "init"
        self.launcher = None          # pid of COMMAND
        self.launcher_status = None
        self.launcher_exe = None      # what a fork of it runs until it execs
        self.exec_tries = 0
        self.exec_waited = 0.0
        self.daemon = None            # tracked main pid
        self.pidfd = None
        self.poll_timer = None        # only without pidfds, for a daemon not our child
        self.helpers = {}             # pid -> (role, cmd)
        self.exited = {}              # pid -> raw wait status, for pids we care about
        self.final = None             # exit status once decided
        self.kill_timer = None
        self.start_timer = None
        self.inotify = None
        self.stale_stamp = None
        self.pidfile_touched = False
        self.last_refusal = None
        self.startup_failure = None   # (pid, raw status) of a tree process that failed early

    # -- plumbing --------------------------------------------------------------------------
    def info(self, msg):
        if not self.o.quiet:
            say(msg)

    def run(self):
        try:
            reaper.set_child_subreaper()
        except OSError as e:
            say(f"cannot become a child subreaper: {e}")
            return st.INTERNAL
        self.root_ctime = identity.start_ticks(self.me)
        self.loop.watch_signals((signal.SIGCHLD,) + FORWARDED, self.on_signal)
        try:
            if self.o.pre_start:
                self.phase = "pre-start"
                self.spawn_helper("pre-start", self.o.pre_start)
            else:
                self.launch()
            self.loop.run()
        except Exit as e:
            return e.code
        return self.final if self.final is not None else st.INTERNAL

    def spawn(self, argv):
        return os.posix_spawnp(argv[0], argv, os.environ, setsigdef=_RESET,
                               setsigmask=())

    def spawn_helper(self, role, cmd):
        try:
            pid = self.spawn(["/bin/sh", "-c", cmd])
        except OSError as e:
            say(f"--{role} {cmd!r}: cannot run /bin/sh: {e.strerror}")
            return None
        self.helpers[pid] = (role, cmd)
        return pid

    # -- start-up ----------------------------------------------------------------------------
    def launch(self):
        if self.o.pidfile:
            self.watch_pidfile()
        try:
            self.launcher = self.spawn(self.o.command)
            self.launcher_exe = procfs.exe(self.launcher)
        except FileNotFoundError:
            say(f"{self.o.command[0]}: command not found")
            self.exit_now(st.NOT_FOUND)
        except PermissionError:
            say(f"{self.o.command[0]}: permission denied")
            self.exit_now(st.CANNOT_EXECUTE)
        except OSError as e:
            say(f"{self.o.command[0]}: cannot execute: {e.strerror}")
            self.exit_now(st.CANNOT_EXECUTE)
        if self.o.pidfile:
            self.phase = "starting"
            self.start_timer = self.loop.call_later(self.o.start_timeout, self.on_start_timeout)
            self.check_pidfile(final=False)
        else:
            # Without a pidfile COMMAND itself is the first candidate: a foreground program
            # is simply kept (tini style); a daemonizing one is followed when it exits.
            self.phase = "running"
            self.track(self.launcher)

    def watch_pidfile(self):
        d = os.path.dirname(os.path.abspath(self.o.pidfile))
        self.pidfile_name = os.path.basename(self.o.pidfile)
        try:
            self.inotify = inotify.Watch(d, inotify.CREATE | inotify.CLOSE_WRITE
                                         | inotify.MOVED_TO | inotify.MODIFY)
        except OSError as e:
            say(f"--pidfile {self.o.pidfile}: cannot watch directory {d}: {e.strerror}")
            self.exit_now(st.USAGE)
        # Whatever the file holds now predates the launch: a leftover of an earlier run.
        self.stale_stamp = pidfile.read(self.o.pidfile, self.euid).stamp
        self.loop.add_reader(self.inotify.fileno(), self.on_inotify)

    def unwatch_pidfile(self):
        if self.inotify is not None:
            self.loop.remove_reader(self.inotify.fileno())
            self.inotify.close()
            self.inotify = None

    def on_inotify(self):
        final = touched = False
        for mask, name in self.inotify.read():
            if name == self.pidfile_name:
                touched = True
                if mask & (inotify.CLOSE_WRITE | inotify.MOVED_TO):
                    final = True
        if touched and self.phase == "starting":
            self.pidfile_touched = True
            self.check_pidfile(final)

    def check_pidfile(self, final):
        """Adopt the pid in the pidfile if acceptable; refuse only when `final`."""
        self.collect()
        r = pidfile.read(self.o.pidfile, self.euid)
        fresh = r.stamp is not None and (self.pidfile_touched or r.stamp != self.stale_stamp)
        kind, what = decide.on_pidfile(r, self.o.pidfile, fresh, final, self.exited,
                                       self.adopt)
        if kind == decide.WAIT:
            self.last_refusal = what
        elif kind == decide.DIED:
            pid, status = what
            self.exited.pop(pid, None)
            say(f"daemon pid {pid} (from {self.o.pidfile}) died during start-up: "
                f"{st.describe_wait_status(status)}")
            self.die(status)
        elif kind == decide.REFUSE:
            say(f"refused: {what}")
            self.fail(st.REFUSED)

    def on_start_timeout(self):
        self.start_timer = None
        if self.phase != "starting":
            return
        self.check_pidfile(final=True)
        if self.phase != "starting":
            return
        why = self.last_refusal or f"pidfile {self.o.pidfile} never appeared"
        say(f"no acceptable daemon pid after {self.o.start_timeout:g}s ({why})")
        self.fail(st.START_TIMEOUT)

    # -- identity ----------------------------------------------------------------------------
    def adopt(self, pid, quiet=False):
        """Track pid as the daemon; returns None on success, else the refusal reason.

        The pidfd is opened before the checks so the process judged is the one watched,
        even if the pid is reused right after.
        """
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            fd = None
        except OSError:
            fd = -1      # pidfds refused here: fall back to SIGCHLD alone (children only)
        snap = identity.snapshot(pid) if fd is not None else None
        reason = identity.judge(pid, snap, self.me, self.root_ctime, self.o.exe)
        if reason is not None:
            if fd is not None and fd >= 0:
                os.close(fd)
            return reason
        self.track(pid, fd)
        if not quiet:
            self.info(f"daemon is pid {pid} ({snap.name})")
        return None

    def track(self, pid, fd=None):
        """Watch pid as the daemon's main pid (fd: its pidfd, if already open)."""
        if fd is None:
            # COMMAND itself: our child by construction, so SIGCHLD alone would do; the
            # pidfd makes signalling it safe from pid reuse. A zombie still has one.
            try:
                fd = os.pidfd_open(pid)
            except OSError:
                fd = -1
        if self.start_timer is not None:
            self.loop.cancel(self.start_timer)
            self.start_timer = None
        self.unwatch_pidfile()
        self.release_pidfd()
        self.daemon = pid
        if self.phase == "starting":
            self.phase = "running"
        if fd >= 0:
            self.pidfd = fd
            self.loop.add_reader(fd, self.on_pidfd)
        else:
            parent = procfs.stat(pid)
            if parent is not None and parent[1] != self.me:
                # No pidfd (kernel < 5.3 or seccomp) and not our child: no event will tell
                # of its exit, so this is the one place the shim polls.
                self.poll_timer = self.loop.call_later(_NO_PIDFD_POLL, self.poll_daemon)

    def poll_daemon(self):
        self.poll_timer = None
        if self.daemon is None:
            return
        if not identity.alive(self.daemon):
            self.on_pidfd()
        else:
            self.poll_timer = self.loop.call_later(_NO_PIDFD_POLL, self.poll_daemon)

    def release_pidfd(self):
        self.loop.cancel(self.poll_timer)
        self.poll_timer = None
        if self.pidfd is not None:
            self.loop.remove_reader(self.pidfd)
            os.close(self.pidfd)
            self.pidfd = None

    def candidates(self):
        """Live direct children that may be the daemon (helper commands excluded), and
        whether one of them exited while looking."""
        out, unsettled = [], False
        for pid in procfs.children(self.me):
            if pid in self.helpers or pid in self.exited:
                continue
            snap = identity.snapshot(pid)
            if snap is None or snap.zombie:
                # Exited since the scan: its children may have been re-parented to us
                # after the scan read them. Worth another look.
                unsettled = True
                continue
            out.append(snap)
        return out, unsettled

    # -- events ------------------------------------------------------------------------------
    def on_signal(self, signum):
        if signum == signal.SIGCHLD:
            self.on_child()
        else:
            self.forward(signum)

    def collect(self):
        """Reap every exited child; returns True when the shim has no process left."""
        statuses, empty = reaper.reap_all()
        for pid, status in statuses.items():
            if pid in self.helpers:
                self.helper_done(pid, status)
            elif pid == self.launcher:
                self.launcher_status = status
                self.exited[pid] = status
            else:
                self.exited[pid] = status
                if self.phase == "starting" and status != 0 and self.startup_failure is None:
                    self.startup_failure = (pid, status)
        return empty

    def on_child(self):
        was = self.phase
        empty = self.collect()
        if was == "pre-start":
            # Either still waiting, or the pre-start just ended and COMMAND was launched
            # (so `empty` is stale).
            return
        if self.phase == "starting":
            if self.launcher_status is not None and self.launcher in self.exited:
                self.exited.pop(self.launcher)
                if self.launcher_status != 0:
                    say(f"{self.o.command[0]} failed during start-up: "
                        f"{st.describe_wait_status(self.launcher_status)}")
                    self.die(self.launcher_status)
                    return
                self.check_pidfile(final=True)
            if self.phase == "starting" and empty:
                if self.startup_failure:
                    pid, status = self.startup_failure
                    say(f"daemon died during start-up (pid {pid}, "
                        f"{st.describe_wait_status(status)}); no process left")
                    self.die(status)
                else:
                    say(f"{self.o.command[0]} exited and no process is left, but pidfile "
                        f"{self.o.pidfile} never named a daemon")
                    self.fail(st.START_TIMEOUT)
                return
        if self.phase in ("running", "stopping") and self.daemon in self.exited:
            self.daemon_exited(self.exited.pop(self.daemon))
        if self.phase in ("stopping", "dying", "failing"):
            if empty:
                self.finish()
            elif self.phase != "stopping":
                # A dying parent may hand the shim children it forked after the last sweep.
                reaper.kill_tree(signal.SIGKILL)
        if self.phase != "starting":
            self.exited = {p: s for p, s in self.exited.items() if p == self.daemon}

    def on_pidfd(self):
        # The daemon exited. If it is our child SIGCHLD carries the status; if not, nobody
        # will tell us its status (its parent reaps it).
        if self.daemon is None:
            return
        self.collect()
        if self.daemon in self.exited:
            self.daemon_exited(self.exited.pop(self.daemon))
        else:
            try:
                pid, status = os.waitpid(self.daemon, os.WNOHANG)
            except ChildProcessError:
                self.daemon_exited(None)
                return
            if pid:
                self.daemon_exited(status)

    def helper_done(self, pid, status):
        role, cmd = self.helpers.pop(pid)
        if status == 0:
            if role == "pre-start" and self.phase == "pre-start":
                self.launch()
            return
        say(f"--{role} {cmd!r} failed: {st.describe_wait_status(status)}")
        if role == "pre-start" and self.phase == "pre-start":
            self.fail(st.PRE_START_FAILED)

    def daemon_exited(self, status):
        old = self.daemon
        self.release_pidfd()
        self.daemon = None
        if self.phase == "stopping":
            if self.final is None:
                self.final = st.from_wait_status(status) if status is not None else st.TERMINATED
            return
        # The main pid may have moved (nginx USR2 + QUIT of .oldbin, re-exec): follow it.
        if self.o.pidfile:
            r = pidfile.read(self.o.pidfile, self.euid)
            if r.pid is not None and r.pid != old:
                reason = self.adopt(r.pid, quiet=True)
                if reason is None:
                    self.info(f"daemon moved from pid {old} to {r.pid}")
                    return
                say(f"pidfile {self.o.pidfile} {reason}")
            elif r.refusal is not None:
                say(f"pidfile {self.o.pidfile} {r.refusal}")
        elif status == 0:
            # A candidate may be an intermediate fork that exits between the scan and the
            # checks; its child is then the shim's, so look again (bounded: each retry
            # means a process of the tree has exited).
            for _ in range(8):
                found, unsettled = self.candidates()
                one, several = decide.pick(found, self.o.exe)
                if several:
                    listed = ", ".join(f"{c.pid} ({c.name})" for c in several)
                    say(f"several processes could be the daemon: {listed}; pick one with "
                        f"--exe or use --pidfile")
                    self.fail(st.AMBIGUOUS)
                    return
                if one is None:
                    if unsettled:
                        self.collect()
                        continue
                    if self.await_exec(found, old, status):
                        return
                    break
                if self.adopt(one.pid, quiet=True) is None:
                    self.info(f"daemon is pid {one.pid} ({one.name})"
                              if old == self.launcher else
                              f"daemon moved from pid {old} to {one.pid}")
                    return
                self.collect()
        if old != self.launcher or status != 0:
            self.info(f"daemon pid {old} exited: "
                      + (st.describe_wait_status(status) if status is not None
                         else "status unknown (not the shim's child)"))
        self.die(status)

    def await_exec(self, found, old, status):
        """True when a retry is armed: --exe matched no candidate, but one is a fork of the
        launcher that has not exec'd yet (it still runs the launcher's program: `cmd &` in
        a shell that exited first). No event tells when it execs, so look again on a short
        doubling timer, for at most _EXEC_WAIT seconds in all."""
        if self.o.exe is None or self.launcher_exe is None or self.exec_waited >= _EXEC_WAIT:
            return False
        if not any(procfs.exe(c.pid) == self.launcher_exe for c in found):
            return False
        delay = min(0.001 * 2 ** self.exec_tries, _EXEC_WAIT - self.exec_waited)
        self.exec_tries += 1
        self.exec_waited += delay

        def again():
            if self.daemon is None and self.phase != "stopping":
                self.daemon = old       # its pidfd is released already
                self.daemon_exited(status)
        self.loop.call_later(delay, again)
        return True

    # -- signals and stop --------------------------------------------------------------------
    def forward(self, signum):
        to = self.o.sigmap.get(signum, signum)
        if signum == signal.SIGTERM and self.phase == "running":
            self.stop()
            return
        if signum == signal.SIGHUP and self.o.reload_command and self.phase == "running":
            self.spawn_helper("reload-command", self.o.reload_command)
            return
        if signum == signal.SIGTERM and self.phase in ("pre-start", "starting"):
            # No daemon yet: end whatever was started.
            self.final = st.TERMINATED
            self.phase = "stopping"
            reaper.kill_tree(signal.SIGTERM)
            self.arm_kill_timer()
            self.check_empty()
            return
        if to == 0:
            return
        target = self.daemon
        if target is None:
            target = self.launcher if self.phase == "starting" else None
            if target is None and self.phase == "pre-start":
                target = next(iter(self.helpers), None)
        if target is None:
            return
        self.send(target, to)

    def send(self, pid, sig):
        try:
            if self.pidfd is not None and pid == self.daemon:
                signal.pidfd_send_signal(self.pidfd, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            pass

    def stop(self):
        self.phase = "stopping"
        if self.o.stop_command:
            self.spawn_helper("stop-command", self.o.stop_command)
        else:
            self.send(self.daemon, self.o.sigmap.get(signal.SIGTERM, signal.SIGTERM))
        self.arm_kill_timer()

    def arm_kill_timer(self):
        if self.kill_timer is None:
            self.kill_timer = self.loop.call_later(self.o.stop_timeout, self.on_kill_timer)

    def on_kill_timer(self):
        left = reaper.kill_tree(signal.SIGKILL)
        if left:
            self.info(f"SIGKILL to {len(left)} process(es) still in the tree: "
                      + " ".join(map(str, left)))
        # Safety net while the tree drains: a SIGKILLed process cannot fork, but one forked
        # just before the sweep may have been missed.
        self.kill_timer = self.loop.call_later(_RELEASE_FAILSAFE, self.on_kill_timer)
        self.check_empty()

    def check_empty(self):
        if self.collect():
            self.finish()

    def die(self, status):
        """The daemon is gone: kill what is left of its tree, then exit with its status."""
        self.phase = "dying"
        self.final = st.from_wait_status(status) if status is not None else 1
        self.end_tree()

    def fail(self, code):
        self.phase = "failing"
        self.final = code
        self.end_tree()

    def end_tree(self):
        if self.start_timer is not None:
            self.loop.cancel(self.start_timer)
            self.start_timer = None
        self.unwatch_pidfile()
        self.release_pidfd()
        # Usually nothing is left (the daemon was the last of its tree): then exit at once,
        # without scanning /proc.
        self.check_empty()
        left = reaper.kill_tree(signal.SIGKILL)
        if left:
            self.info("SIGKILL to what is left of the tree: " + " ".join(map(str, left)))
        self.loop.cancel(self.kill_timer)
        self.kill_timer = self.loop.call_later(_RELEASE_FAILSAFE, self.on_kill_timer)
        self.check_empty()

    def finish(self):
        """Nothing of the tree is left: exit with the daemon's status."""
        if self.final is None:
            status = self.exited.get(self.daemon) if self.daemon is not None else None
            self.final = (st.from_wait_status(status) if status is not None
                          else st.TERMINATED if self.phase == "stopping" else 0)
        self.loop.stop()
        if self.exit_process:
            # The parent supervisor is waiting on this exit: skip interpreter teardown
            # (a few ms); the shim holds no state that needs it beyond the std streams.
            for f in (sys.stdout, sys.stderr):
                try:
                    f.flush()
                except (OSError, ValueError):
                    pass
            os._exit(self.final)
        raise Exit(self.final)

    def exit_now(self, code):
        reaper.kill_tree(signal.SIGKILL)
        raise Exit(code)


def main(argv=None):
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        opts = parse(args)
    except UsageError as e:
        say(f"error: {e}")
        return st.USAGE
    except Help:
        sys.stdout.write(HELP)
        return st.OK
    # As a program the shim ends with os._exit() straight from the loop; run() returns
    # only on refusals raised before the loop, or when exit_process is False.
    return Shim(opts, exit_process=True).run()


if __name__ == "__main__":
    sys.exit(main())
