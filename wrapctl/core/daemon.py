"""`wrapctl daemon`: the supervisor core as a process.

Owns what lives for the whole run: the config (active and last re-read), the main log,
the pidfile, the HTTP/XML-RPC servers, the signal handlers, and the Supervisor. Daemon
signals as supervisord: TERM, INT, QUIT shut down; HUP restarts (stop all, re-read, start);
USR2 reopens the logs.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import resource
import signal
import sys
from typing import Optional

from wrapctl import config as configmod
from wrapctl.config.records import Config, replace
from wrapctl.core.bus import Bus
from wrapctl.core.logs import MainLog
from wrapctl.core.states import STOPPED_STATES, SupervisorState
from wrapctl.core.rootfiles import write_atomic
from wrapctl.core.supervisor import Supervisor
from wrapctl.shims import pidfile as pidfile_rules
from wrapctl.shims import procfs


class DaemonError(Exception):
    """Start-up failure with a one-line reason (exit status 2 for config, 1 otherwise)."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status


def serverurl_for(config: Config) -> Optional[str]:
    """What children get as SUPERVISOR_SERVER_URL (supervisord's options.serverurl)."""
    if config.unix_server is not None:
        return "unix://" + config.unix_server.file
    if config.inet_server is not None:
        host = config.inet_server.host or "localhost"
        return f"http://{host}:{config.inet_server.port}"
    return None


# ---- pidfile ----------------------------------------------------------------------------

def check_pidfile(path: str) -> None:
    """Refuse to start while the pidfile names a live process other than us."""
    # The shared reader: a FIFO or a device planted at the name cannot hang or feed us,
    # and a pidfile others could write is not believed.
    reading = pidfile_rules.read(path, os.geteuid())
    pid = reading.pid
    facts = procfs.stat(pid) if pid is not None and pid != os.getpid() else None
    if facts is None or facts[0] in ("Z", "X"):
        return      # absent, garbage from a crash, or stale: overwritten below
    raise DaemonError(f"{path}: another instance is running (pid {pid}); "
                      "stop it first or remove the pidfile")


def write_pidfile(path: str) -> None:
    try:
        write_atomic(path, f"{os.getpid()}\n".encode(), 0o644)
    except OSError as e:
        raise DaemonError(f"{path}: cannot write pidfile: {e.strerror}")


def remove_pidfile(path: str) -> None:
    if pidfile_rules.read(path, os.geteuid()).pid == os.getpid():
        try:
            os.unlink(path)
        except OSError:
            pass


def statefile_for(config: Config) -> Optional[str]:
    """statefile= ([supervisord], wrapctl-only), default next to the pidfile; 'none' off."""
    raw = config.daemon.extra_get("statefile")
    if raw is not None:
        return None if raw.strip().lower() in ("none", "off", "false") else raw
    return config.daemon.pidfile + ".state" if config.daemon.pidfile else None


def keeps_unchanged(config: Config) -> bool:
    """reload_keeps_unchanged= ([supervisord], wrapctl-only, default false): a restart (HUP,
    supervisorctl reload) applies the changes as `update` does instead of restarting every
    program as supervisord does."""
    raw = config.daemon.extra_get("reload_keeps_unchanged")
    return raw is not None and raw.strip().lower() in ("true", "yes", "on", "1")


def clear_autochildlogdir(config: Config, logger, keep=()) -> None:
    pattern = re.compile(r".+?---%s-\S+\.log\.{0,1}\d{0,4}" % re.escape(config.daemon.identifier))
    try:
        names = os.listdir(config.daemon.childlogdir)
    except OSError:
        logger.warn("Could not clear childlog dir")
        return
    keep = {os.path.basename(p) for p in keep}
    for name in names:
        if pattern.match(name) and not any(name.startswith(k) for k in keep):
            try:
                os.remove(os.path.join(config.daemon.childlogdir, name))
            except OSError:
                logger.warn(f"Failed to clean up {name!r}")


def raise_limits(minfds: int, minprocs: int, logger) -> None:
    """Raise the soft limits to minfds / minprocs where the hard limits allow, as
    supervisord does; three pipes per process make the fd limit the one that bites."""
    for res, want, what in ((resource.RLIMIT_NOFILE, minfds, "file descriptor"),
                            (resource.RLIMIT_NPROC, minprocs, "process")):
        soft, hard = resource.getrlimit(res)
        if soft == resource.RLIM_INFINITY or soft >= want:
            continue
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        try:
            resource.setrlimit(res, (new, hard))
        except (ValueError, OSError):
            new = soft
        if new < want:
            logger.warn(f"could not raise the {what} limit to {want} (hard limit {hard})")


class _MainLogHandler(logging.Handler):
    """Lines the servers log through Python's logging (a refused request, an invalid
    XML-RPC call) go to the main log, where an operator looks and rotation bounds them,
    not to a stderr that is /dev/null once daemonized."""

    def __init__(self, daemon: "Daemon"):
        super().__init__(logging.INFO)
        self.daemon = daemon

    def emit(self, record: logging.LogRecord) -> None:
        level = {logging.CRITICAL: "critical", logging.ERROR: "error",
                 logging.WARNING: "warn"}.get(record.levelno, "info")
        try:
            getattr(self.daemon.logger, level)(record.getMessage())
        except Exception:
            self.handleError(record)


def _route_library_logs(daemon: "Daemon") -> None:
    root = logging.getLogger("wrapctl")
    for h in list(root.handlers):
        if isinstance(h, _MainLogHandler):
            root.removeHandler(h)
    root.addHandler(_MainLogHandler(daemon))
    root.setLevel(logging.INFO)
    root.propagate = False


# ---- the daemon --------------------------------------------------------------------------

class Daemon:
    def __init__(self, config: Config, echo=None, bus=None):
        self.config = config
        self.bus = bus if bus is not None else Bus()
        self.pending_config = config        # what reloadConfig read last
        self.mood = SupervisorState.RUNNING
        d = config.daemon
        try:
            self.logger = MainLog(d.logfile, d.logfile_maxbytes, d.logfile_backups,
                                  d.loglevel, echo=echo)
        except OSError as e:
            raise DaemonError(f"{d.logfile}: cannot open the log file: {e.strerror}")
        _route_library_logs(self)
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.supervisor: Optional[Supervisor] = None
        self.http = None
        self._reload_task: Optional[asyncio.Task] = None
        self.exit_status = 0

    # ---- requests from signals and the API -------------------------------------------
    def request(self, mood: SupervisorState) -> None:
        """Shutdown or restart, after the current RPC response has gone out. A shutdown
        may interrupt a restart in progress; nothing interrupts a shutdown."""
        if self.mood == SupervisorState.SHUTDOWN or (
                self.mood == SupervisorState.RESTARTING and mood == SupervisorState.RESTARTING):
            return
        self.mood = mood
        if mood == SupervisorState.SHUTDOWN:
            if self._reload_task is not None:
                self._reload_task.cancel()
            self.loop.call_soon(self._begin_stop)
        else:
            self._reload_task = self.loop.create_task(self._reload())

    def _begin_stop(self) -> None:
        self.logger.info("shutdown requested: stopping all processes")
        self.supervisor.begin_stop_all(self.mood)

    async def _reload(self) -> None:
        """A planned restart (HUP, supervisor.restart), after re-reading the configuration
        (a file that does not parse leaves everything as it is). By default as supervisord:
        every program is stopped, then the daemon starts afresh on the new configuration
        (main() does that once all have stopped). With reload_keeps_unchanged=true the
        changes are applied as `update` does and unchanged programs keep running."""
        self.logger.warn("restart requested: re-reading the configuration")
        try:
            new = configmod.load(self.config.path)
        except configmod.ConfigError as e:
            self.logger.critical(f"cannot restart: {e}; going on with the running configuration")
            self.mood = SupervisorState.RUNNING
            return
        self.pending_config = new
        if not keeps_unchanged(new):
            self.logger.info("restart requested: stopping all processes")
            self.supervisor.begin_stop_all(SupervisorState.RESTARTING)
            return
        previous = self.config
        try:
            await self._stop_serving()
            await self.apply_update([])
            # The programs kept running still write to the files they opened: a log that
            # logrotate renamed before this HUP is left for a new one at the same path.
            for p in self.supervisor.all_processes():
                p.reopen_logs()
            self._reopen_main_log(new)
            self.supervisor.serverurl = serverurl_for(new)
            await self._serve()
        except Exception as e:
            await self._serve_previous(previous, e)
            if self.mood == SupervisorState.SHUTDOWN:
                return
        self.mood = SupervisorState.RUNNING
        self.logger.info("restarted with the re-read configuration")

    async def _serve_previous(self, previous: Config, error: Exception) -> None:
        """Never left without control: serve the previous configuration's sockets."""
        self.logger.critical(f"restart: cannot serve the new configuration ({error}); "
                             "serving the previous one's sockets")
        self.config = replace(self.config, unix_server=previous.unix_server,
                              inet_server=previous.inet_server,
                              rpc_plugins=previous.rpc_plugins)
        try:
            await self._serve()
        except Exception as e2:
            self.logger.critical(f"restart: cannot serve at all ({e2}): shutting down")
            self.mood = SupervisorState.RUNNING
            self.request(SupervisorState.SHUTDOWN)

    async def _start_afresh(self) -> None:
        """The second half of a default restart, every program stopped: drop the old
        supervisor, clear the AUTO logs (unless nocleanup), re-open the main log and the
        servers, and start a new supervisor on the re-read configuration, as supervisord
        does on HUP (its event pools and groups are made anew too)."""
        new, previous, old = self.pending_config, self.config, self.supervisor
        await self._stop_serving()
        old.close()
        self.config = new
        self._reopen_main_log(new)
        if not new.daemon.nocleanup:
            clear_autochildlogdir(new, self.logger)
        self.supervisor = self._new_supervisor(old.keeper, old.cgroups)
        try:
            await self._serve()
        except Exception as e:
            await self._serve_previous(previous, e)
        if self.mood == SupervisorState.SHUTDOWN:
            self.supervisor.stopped.set()       # a TERM came meanwhile: nothing to start
            return
        self.mood = SupervisorState.RUNNING
        self.supervisor.start()
        self.logger.info("restarted with the re-read configuration")

    def _new_supervisor(self, keeper, cgroups) -> Supervisor:
        sup = Supervisor(self.config, self.loop, self.logger, serverurl_for(self.config),
                         bus=self.bus)
        sup.keeper = keeper
        sup.cgroups = cgroups
        return sup

    def _reopen_main_log(self, new: Config) -> None:
        d = new.daemon
        old = self.logger
        self.logger = MainLog(d.logfile, d.logfile_maxbytes, d.logfile_backups, d.loglevel,
                              echo=old.echo)
        self.logger.listeners = old.listeners
        self.supervisor.logger = self.logger
        old.close()

    def reread(self) -> Config:
        new = configmod.load(self.config.path)
        self.pending_config = new
        return new

    async def apply_update(self, names: list[str]) -> list:
        """Update process by process (wrapctl.update): processes whose record changed are
        stopped and replaced, new ones added and started, removed ones stopped and dropped;
        an unchanged process keeps running even when its group changed."""
        from wrapctl.core.supervisor import Group
        sup = self.supervisor
        new = self.pending_config
        added, changed, removed = sup.diff(new)
        if names:
            added = [n for n in added if n in names]
            changed = [n for n in changed if n in names]
            removed = [n for n in removed if n in names]
        for name in removed:
            group = sup.groups[name]
            group.stop_all()
            await sup.wait_until(lambda g=group: not g.unstopped())
            sup.remove_group(name)
        for name in changed:
            group = sup.groups[name]
            gconf = new.group(name)
            wanted = {pc.name: pc for pc in gconf.processes}
            stale = [p for p in group.processes.values()
                     if p.name not in wanted or wanted[p.name] != p.config]
            for p in stale:
                if p.state not in STOPPED_STATES:
                    p.stop()
            await sup.wait_until(lambda: all(p.state in STOPPED_STATES for p in stale))
            fresh = Group(gconf, sup)
            for p in stale:
                p.close()
                del group.processes[p.name]
            for pname, proc in fresh.processes.items():
                if pname not in group.processes:
                    group.processes[pname] = proc
                else:
                    proc.close()
            group.config = gconf
            # supervisord replaces a changed group: it comes after its priority peers now.
            sup.groups[name] = sup.groups.pop(name)
        sup.set_config(new)
        for name in changed:
            for p in sup.groups[name].ordered():
                # only fresh processes: autostart ignores processes started before
                if p.config.autostart and not p.machine.laststart:
                    sup.start_when_ready(p, auto=True)
        for name in added:
            sup.add_group(new.group(name))
        self.config = new
        return [[added, changed, removed]]

    # ---- signals -------------------------------------------------------------------
    def _on_signal(self, sig: int) -> None:
        if sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            self.logger.warn(f"received {signal.Signals(sig).name} indicating exit request")
            self.request(SupervisorState.SHUTDOWN)
        elif sig == signal.SIGHUP:
            if self.mood == SupervisorState.SHUTDOWN:
                self.logger.warn("ignored SIGHUP indicating restart request (shutdown in progress)")
            else:
                self.logger.warn("received SIGHUP indicating restart request")
                self.request(SupervisorState.RESTARTING)
        elif sig == signal.SIGUSR2:
            self.logger.info("received SIGUSR2 indicating log reopen request")
            self.supervisor.reopen_logs()

    def _cgroups(self):
        """cgroups= ([supervisord], wrapctl-only): auto (default) uses one cgroup v2 group
        per program where the daemon may create them; false never does."""
        raw = (self.config.daemon.extra_get("cgroups") or "auto").strip().lower()
        if raw in ("false", "no", "off", "0"):
            return None
        from wrapctl.core.cgroups import Cgroups
        ident = statefile_for(self.config) or self.config.daemon.pidfile or self.config.path
        groups = Cgroups.create(os.path.abspath(ident), self.loop)
        if groups is None:
            self.logger.debug("cgroups: cannot create cgroup v2 groups here; process trees "
                              "are followed by parentage and markers")
        else:
            self.logger.debug(f"cgroups: one group per program under {groups.base}")
            if not groups.favordynmods:
                self.logger.debug("cgroups: the cgroup2 mount lacks favordynmods; on a busy "
                                  "machine putting a program in its group can wait for an RCU "
                                  "grace period (docs/architecture.md)")
        return groups

    def _keeper(self):
        """(Keeper, state records, held fds) when re-attachment is on, else Nones."""
        from wrapctl.core.keeper import Keeper, read_state
        path = statefile_for(self.config)
        if path is None:
            return None, None, None
        keeper = Keeper(path, self.loop, self.logger)
        records = read_state(path, self.logger.warn)
        try:
            held = keeper.connect()
        except OSError as e:
            self.logger.error(f"fd holder unavailable ({e}): output written while the core "
                              "is down will be lost")
            keeper.sock = None
            held = {}
        if records or held:
            self.logger.info(f"state file {path}: {len(records)} processes recorded, "
                             f"pipes of {len(held)} held")
        return keeper, records, held

    def _autoreload(self):
        flag = self.config.daemon.extra_get("autoreload")
        if not flag or flag.lower() not in ("true", "yes", "on", "1"):
            return None
        from wrapctl.core.autoreload import AutoReload
        try:
            return AutoReload(self)
        except OSError as e:
            self.logger.error(f"autoreload: inotify unavailable: {e}")
            return None

    # ---- running -------------------------------------------------------------------
    async def _serve(self) -> None:
        from wrapctl.rpc.server import start_servers
        self.http = await start_servers(self)

    async def _stop_serving(self) -> None:
        if self.http is not None:
            await self.http.close()
            self.http = None

    async def main(self) -> int:
        self.loop = asyncio.get_running_loop()
        self.bus.attach(self)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR2):
            self.loop.add_signal_handler(sig, self._on_signal, sig)
        # SIGPIPE is ignored by Python already; a child gets the default back at exec.
        keeper, records, held = self._keeper()
        self.supervisor = self._new_supervisor(keeper, None)
        self.supervisor.cgroups = self._cgroups()
        try:
            await self._serve()
        except BaseException:
            if keeper is not None:
                # Keep the holder only if it holds a previous core's pipes.
                keeper.close(stop_holder=not (records or held))
            raise
        # As supervisord: the pidfile and the "started" line once the servers are bound,
        # so a daemon that cannot bind never claims to have started.
        if self.config.daemon.pidfile:
            try:
                write_pidfile(self.config.daemon.pidfile)
            except DaemonError:
                await self._stop_serving()
                if keeper is not None:
                    keeper.close(stop_holder=not (records or held))
                raise
        self.logger.info(f"wrapctl daemon started with pid {os.getpid()}")
        self.supervisor.start(records, held)
        self.bus.supervisor_state("RUNNING")
        watcher = self._autoreload()
        while True:
            await self.supervisor.stopped.wait()
            if self.mood != SupervisorState.RESTARTING:
                break
            if watcher is not None:
                watcher.close()
            await self._start_afresh()
            watcher = self._autoreload()
        if watcher is not None:
            watcher.close()
        await self._stop_serving()
        self.supervisor.close()
        if self.supervisor.cgroups is not None:
            self.supervisor.cgroups.close()
        if keeper is not None:
            keeper.close(stop_holder=True)
        self.logger.info("exiting")
        return self.exit_status


def drop_privileges(user: str) -> None:
    """[supervisord] user=: become that user (with its groups) before anything is opened."""
    import pwd
    try:
        pw = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except KeyError:
        raise DaemonError(f"[supervisord] user: no such user {user!r}", status=2)
    if os.getuid() == pw.pw_uid:
        return
    if os.getuid() != 0:
        raise DaemonError(f"[supervisord] user: can't drop privilege as nonroot user "
                          f"(to become {user!r})")
    try:
        os.initgroups(pw.pw_name, pw.pw_gid)
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    except OSError as e:
        raise DaemonError(f"[supervisord] user: cannot become {user!r}: {e.strerror}")


def run(config: Config, nodaemon: bool) -> int:
    """Prepare the process (daemonize, pidfile, limits) and run the loop; an exit status."""
    d = config.daemon
    foreground = nodaemon or d.nodaemon
    if d.pidfile:
        check_pidfile(d.pidfile)
    if not foreground or d.silent:
        # Said once: always in the main log, and on the caller's terminal only when the
        # log is not echoed there (a daemon that detaches has that stderr until then).
        for w in config.warnings:
            sys.stderr.write(f"wrapctl daemon: warning: {w}\n")
    if not foreground:
        import daemon as python_daemon
        ctx = python_daemon.DaemonContext(
            working_directory=d.directory or "/", umask=d.umask,
            detach_process=True, prevent_core=False, signal_map={})
        ctx.open()
    else:
        os.umask(d.umask)
        if d.directory:
            try:
                os.chdir(d.directory)
            except OSError as e:
                raise DaemonError(f"cannot chdir to {d.directory}: {e.strerror}")
    if d.user:
        drop_privileges(d.user)
    try:
        # Orphans of our programs come back to us: waitpid gives their real status and
        # a program's whole tree can be found and stopped (docs/architecture.md).
        from wrapctl.shims.reaper import set_child_subreaper
        set_child_subreaper(True)
    except OSError:
        pass
    echo = sys.stdout if foreground and not d.silent else None
    from wrapctl.events import EventBus
    daemon = Daemon(config, echo=echo, bus=EventBus())
    raise_limits(d.minfds, d.minprocs, daemon.logger)
    if not d.nocleanup:
        # Logs that re-attached processes keep writing to are not "old" logs.
        from wrapctl.core.keeper import read_state
        path = statefile_for(config)
        records = read_state(path) if path else {}
        keep = [f for r in records.values() for f in (r.get("logs") or {}).values() if f]
        clear_autochildlogdir(config, daemon.logger, keep)
    for w in config.warnings:
        daemon.logger.warn(w)
    try:
        return asyncio.run(daemon.main())
    finally:
        if d.pidfile:
            remove_pidfile(d.pidfile)
