"""The `supervisor.*` namespace of XML-RPC API 3.0 over a running Supervisor.

Method names, arguments, results, info dicts and faults are supervisor 4.3's
(supervisor/rpcinterface.py), because supervisorctl and the tools around it depend on them.
Where supervisord answers a call with a deferred that it polls every 50 ms, these methods
await the state change itself.
"""
from __future__ import annotations

import asyncio
import datetime
import os
import time
from typing import Awaitable, Callable, Optional

from wrapctl import __version__
from wrapctl.core.logread import LogReadError, read_log, tail_log
from wrapctl.core.states import (ProcessState as S, RUNNING_STATES, STOPPED_STATES,
                                 SupervisorState)
from wrapctl.core.spawn import SpawnError, execv_args
from wrapctl.rpc.faults import Faults, RPCError
from wrapctl.shims import signals

API_VERSION = "3.0"
# The supervisor version supervisorctl is told; its `version` command prints it.
SUPERVISOR_VERSION = "4.3.0"
SIGNALLABLE_STATES = (S.RUNNING, S.STARTING, S.STOPPING)

Deferred = Callable[[], Awaitable[object]]


def split_namespec(namespec: str) -> tuple[str, Optional[str]]:
    names = namespec.split(":", 1)
    if len(names) == 2:
        group_name, process_name = names
        if not process_name or process_name == "*":
            process_name = None
        return group_name, process_name
    return namespec, namespec


def make_namespec(group_name: str, process_name: str) -> str:
    return process_name if group_name == process_name else f"{group_name}:{process_name}"


def signal_number(value) -> int:
    return signals.number(value)


def describe(info: dict) -> str:
    """The `description` of a process info dict, as supervisord words it."""
    state = info["state"]
    if state == S.RUNNING:
        start = datetime.datetime(*time.gmtime(info["start"])[:6])
        now = datetime.datetime(*time.gmtime(info["now"])[:6])
        uptime = now - start
        if uptime.total_seconds() < 0:
            uptime = datetime.timedelta(0)
        return f"pid {info['pid']}, uptime {uptime}"
    if state in (S.FATAL, S.BACKOFF):
        return info["spawnerr"] or f'unknown error (try "tail {info["name"]}")'
    if state in (S.STOPPED, S.EXITED):
        if info["start"]:
            stop = datetime.datetime(*time.localtime(info["stop"])[:7])
            return stop.strftime("%b %d %I:%M %p")
        return "Not started"
    return ""


ALLFUNC_DELAY = 0.05    # supervisord's make_allfunc: .delay between looks at deferred results


def _result(proc, code=Faults.SUCCESS, text="OK") -> dict:
    return {"name": proc.name, "group": proc.group, "status": code, "description": text}


class SupervisorAPI:
    """Published as `supervisor.<method>`; `daemon` supplies pid, config reload and mood."""

    def __init__(self, daemon):
        self._daemon = daemon

    @property
    def _sup(self):
        return self._daemon.supervisor

    def _update(self) -> None:
        if self._daemon.mood < SupervisorState.RUNNING:
            raise RPCError(Faults.SHUTDOWN_STATE)

    def _group_and_process(self, name):
        group_name, process_name = split_namespec(name)
        group, proc = self._sup.find(group_name, process_name)
        if group is None or (process_name is not None and proc is None):
            raise RPCError(Faults.BAD_NAME, name)
        return group, proc

    def _all(self, lexical=False):
        if lexical:
            out = []
            for gname in sorted(self._sup.groups):
                g = self._sup.groups[gname]
                out.extend(g.processes[n] for n in sorted(g.processes))
            return out
        return self._sup.all_processes()

    # ---- status and control of the daemon ----------------------------------------
    def getAPIVersion(self):
        """Return the version of the RPC API used by supervisord

        @return string version"""
        self._update()
        return API_VERSION

    getVersion = getAPIVersion

    def getSupervisorVersion(self):
        """Return the version of the supervisor package in use by supervisord

        @return string version"""
        self._update()
        return SUPERVISOR_VERSION

    def getIdentification(self):
        """Return identifying string of supervisord

        @return string identifier"""
        self._update()
        return self._daemon.config.daemon.identifier

    def getState(self):
        """Return current state of supervisord as a struct

        @return struct A struct with keys int statecode, string statename"""
        self._update()
        mood = self._daemon.mood
        return {"statecode": int(mood), "statename": mood.name}

    def getPID(self):
        """Return the PID of supervisord

        @return int PID"""
        self._update()
        return os.getpid()

    def readLog(self, offset, length):
        """Read length bytes from the main log starting at offset

        @param int offset offset to start reading from.
        @param int length number of bytes to read from the log.
        @return string result Bytes of log"""
        self._update()
        logfile = self._daemon.config.daemon.logfile
        if logfile is None or not os.path.exists(logfile):
            raise RPCError(Faults.NO_FILE, logfile)
        return self._read(logfile, offset, length)

    readMainLog = readLog

    def clearLog(self):
        """Clear the main log.

        @return boolean result always returns True unless error"""
        self._update()
        logfile = self._daemon.config.daemon.logfile
        if logfile is None or not os.path.exists(logfile):
            raise RPCError(Faults.NO_FILE)
        try:
            os.remove(logfile)
        except OSError:
            raise RPCError(Faults.FAILED)
        self._daemon.logger.reopen()
        self._daemon.logger.info("reopening log file")
        return True

    def shutdown(self):
        """Shut down the supervisor process

        @return boolean result always returns True unless error"""
        self._update()
        self._daemon.request(SupervisorState.SHUTDOWN)
        return True

    def restart(self):
        """Restart the supervisor process

        @return boolean result  always return True unless error"""
        self._update()
        self._daemon.request(SupervisorState.RESTARTING)
        return True

    def reloadConfig(self):
        """Reload the configuration.

        @return array result  [[added, changed, removed]]"""
        self._update()
        try:
            new = self._daemon.reread()
        except Exception as e:     # ConfigError: the one-line message is the detail
            raise RPCError(Faults.CANT_REREAD, str(e))
        added, changed, removed = self._sup.diff(new)
        return [[added, changed, removed]]

    def addProcessGroup(self, name):
        """Update the config for a running process from config file.

        @param string name name of process group to add
        @return boolean result true if successful"""
        self._update()
        gconfig = self._daemon.pending_config.group(name)
        if gconfig is None:
            raise RPCError(Faults.BAD_NAME, name)
        if not self._sup.add_group(gconfig):
            raise RPCError(Faults.ALREADY_ADDED, name)
        return True

    def removeProcessGroup(self, name):
        """Remove a stopped process from the active configuration.

        @param string name name of process group to remove
        @return boolean result Indicates whether the removal was successful"""
        self._update()
        if name not in self._sup.groups:
            raise RPCError(Faults.BAD_NAME, name)
        if not self._sup.remove_group(name):
            raise RPCError(Faults.STILL_RUNNING, name)
        return True

    # ---- starting ------------------------------------------------------------------
    def _start(self, proc, name, wait) -> Optional[Deferred]:
        """Start one process now; return a coroutine function that waits, or None."""
        try:
            execv_args(proc.config.command,
                       proc.config.env.get("PATH") if "PATH" in proc.config.env else None)
        except SpawnError as e:
            msg = str(e)
            code = Faults.NO_FILE if msg.startswith("can't find command") else Faults.NOT_EXECUTABLE
            raise RPCError(code, msg)
        if proc.state in RUNNING_STATES:
            raise RPCError(Faults.ALREADY_STARTED, name)
        if proc.state == S.UNKNOWN:
            raise RPCError(Faults.FAILED, f"{name} is in an unknown process state")
        sup = self._sup
        if sup.unmet(proc):
            # depends_on: start what it needs (if stopped), then it starts by itself
            self._start_dependencies(proc)
            sup.start_when_ready(proc, auto=False)
        else:
            sup.cancel_wait(proc)
            proc.start()
            if proc.machine.spawnerr:
                raise RPCError(Faults.SPAWN_ERROR, name)
        if not wait or proc.state == S.RUNNING:
            return None

        def started() -> bool:
            if sup.key(proc) in sup.waiting:
                failed = [d for d in sup.unmet(proc) if d.state == S.FATAL]
                if failed:
                    raise RPCError(Faults.ABNORMAL_TERMINATION,
                                   f"{name}: dependency {failed[0].name} is FATAL")
                return False
            if proc.machine.spawnerr:
                raise RPCError(Faults.SPAWN_ERROR, name)
            if proc.state not in (S.STARTING, S.RUNNING):
                raise RPCError(Faults.ABNORMAL_TERMINATION, name)
            return proc.state == S.RUNNING

        async def waiter():
            await self._sup.wait_until(started)
            return True
        return waiter

    def _start_dependencies(self, proc, seen=None) -> None:
        seen = seen if seen is not None else set()
        for dep in self._sup.unmet(proc):
            key = self._sup.key(dep)
            if key in seen:
                continue
            seen.add(key)
            if dep.state not in RUNNING_STATES and dep.state != S.STOPPING:
                self._start_dependencies(dep, seen)
                self._sup.start_when_ready(dep, auto=False)

    async def startProcess(self, name, wait=True):
        """Start a process

        @param string name Process name (or ``group:name``, or ``group:*``)
        @param boolean wait Wait for process to be fully started
        @return boolean result     Always true unless error"""
        self._update()
        group, proc = self._group_and_process(name)
        if proc is None:
            return await self.startProcessGroup(group.name, wait)
        waiter = self._start(proc, name, wait)
        if waiter is not None:
            await waiter()
        return True

    async def _for_each(self, procs, predicate, op) -> list:
        """supervisord's make_allfunc: run op on each matching process (in priority order);
        the results of those done at once come first, then the others' as they finish,
        those finishing together in the same order; one result struct per process."""
        results, pending = [], {}
        for index, proc in enumerate(procs):
            if not predicate(proc):
                continue
            name = make_namespec(proc.group, proc.name)
            try:
                waiter = op(proc, name)
            except RPCError as e:
                results.append(_result(proc, e.code, e.text))
                continue
            if waiter is None:
                results.append(_result(proc))
            else:
                pending[asyncio.ensure_future(waiter())] = (index, proc)
        try:
            while pending:
                done, rest = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if rest:
                    # supervisord looks at the deferred ones when its loop wakes, at most
                    # every 0.05 s, and reports those done by then in priority order: here
                    # those done within 0.05 s of the first are one batch (a stop all's
                    # SIGCHLDs, ms apart). The wait ends at once when all are done.
                    more, _ = await asyncio.wait(rest, timeout=ALLFUNC_DELAY)
                    done |= more
                for task in sorted(done, key=lambda t: pending[t][0]):
                    _, proc = pending.pop(task)
                    outcome = task.exception()
                    if isinstance(outcome, RPCError):
                        results.append(_result(proc, outcome.code, outcome.text))
                    elif outcome is not None:
                        raise outcome
                    else:
                        results.append(_result(proc))
        finally:
            for task in pending:
                task.cancel()
        return results

    async def startProcessGroup(self, name, wait=True):
        """Start all processes in the group named 'name'

        @param string name     The group name
        @param boolean wait    Wait for each process to be fully started
        @return array result   An array of process status info structs"""
        self._update()
        group = self._sup.groups.get(name)
        if group is None:
            raise RPCError(Faults.BAD_NAME, name)
        return await self._for_each(group.ordered(), lambda p: p.state not in RUNNING_STATES,
                                    lambda p, n: self._start(p, n, wait))

    async def startAllProcesses(self, wait=True):
        """Start all processes listed in the configuration file

        @param boolean wait    Wait for each process to be fully started
        @return array result   An array of process status info structs"""
        self._update()
        return await self._for_each(self._all(), lambda p: p.state not in RUNNING_STATES,
                                    lambda p, n: self._start(p, n, wait))

    # ---- stopping ------------------------------------------------------------------
    def _stop(self, proc, name, wait) -> Optional[Deferred]:
        if self._sup.cancel_wait(proc) or proc.cancel_restart():
            return None     # it was only waiting (dependencies, a pending autorestart)
        if proc.state not in RUNNING_STATES:
            raise RPCError(Faults.NOT_RUNNING, name)
        proc.stop()
        if proc.state == S.UNKNOWN:
            raise RPCError(Faults.FAILED, f"unknown problem killing {name}")
        if not wait or proc.state in STOPPED_STATES:
            return None

        async def waiter():
            await self._sup.wait_until(lambda: proc.state in STOPPED_STATES)
            return True
        return waiter

    async def stopProcess(self, name, wait=True):
        """Stop a process named by name

        @param string name  The name of the process to stop (or 'group:name')
        @param boolean wait        Wait for the process to be fully stopped
        @return boolean result     Always return True unless error"""
        self._update()
        group, proc = self._group_and_process(name)
        if proc is None:
            return await self.stopProcessGroup(group.name, wait)
        waiter = self._stop(proc, name, wait)
        if waiter is not None:
            await waiter()
        return True

    async def stopProcessGroup(self, name, wait=True):
        """Stop all processes in the process group named 'name'

        @param string name     The group name
        @param boolean wait    Wait for each process to be fully stopped
        @return array result   An array of process status info structs"""
        self._update()
        group = self._sup.groups.get(name)
        if group is None:
            raise RPCError(Faults.BAD_NAME, name)
        return await self._for_each(group.ordered(), lambda p: p.state in RUNNING_STATES,
                                    lambda p, n: self._stop(p, n, wait))

    async def stopAllProcesses(self, wait=True):
        """Stop all processes in the process list

        @param  boolean wait   Wait for each process to be fully stopped
        @return array result   An array of process status info structs"""
        self._update()
        return await self._for_each(self._all(), lambda p: p.state in RUNNING_STATES,
                                    lambda p, n: self._stop(p, n, wait))

    # ---- signals -------------------------------------------------------------------
    def _signal(self, proc, name, sig) -> None:
        try:
            num = signal_number(sig)
        except ValueError:
            raise RPCError(Faults.BAD_SIGNAL, sig)
        if proc.state not in SIGNALLABLE_STATES:
            raise RPCError(Faults.NOT_RUNNING, name)
        msg = proc.signal(num)
        if msg is not None:
            raise RPCError(Faults.FAILED, msg)
        return None

    async def signalProcess(self, name, signal):
        """Send an arbitrary UNIX signal to the process named by name

        @param string name    Name of the process to signal (or 'group:name')
        @param string signal  Signal to send, as name ('HUP') or number ('1')
        @return boolean"""
        self._update()
        group, proc = self._group_and_process(name)
        if proc is None:
            return await self.signalProcessGroup(group.name, signal)
        self._signal(proc, name, signal)
        return True

    async def signalProcessGroup(self, name, signal):
        """Send a signal to all processes in the group named 'name'

        @param string name    The group name
        @param string signal  Signal to send, as name ('HUP') or number ('1')
        @return array"""
        self._update()
        group = self._sup.groups.get(name)
        if group is None:
            raise RPCError(Faults.BAD_NAME, name)
        return await self._for_each(group.ordered(), lambda p: p.state in SIGNALLABLE_STATES,
                                    lambda p, n: self._signal(p, n, signal))

    async def signalAllProcesses(self, signal):
        """Send a signal to all processes in the process list

        @param string signal  Signal to send, as name ('HUP') or number ('1')
        @return array         An array of process status info structs"""
        self._update()
        return await self._for_each(self._all(), lambda p: p.state in SIGNALLABLE_STATES,
                                    lambda p, n: self._signal(p, n, signal))

    # ---- information ---------------------------------------------------------------
    def getAllConfigInfo(self):
        """Get info about all available process configurations. Each struct
        represents a single process (i.e. groups get flattened).

        @return array result  An array of process config info structs"""
        self._update()
        out = []
        for g in self._daemon.pending_config.groups:
            inuse = g.name in self._sup.groups
            for pc in g.processes:
                d = {
                    "autostart": pc.autostart, "directory": pc.directory, "uid": pc.uid,
                    "command": pc.command, "exitcodes": list(pc.exitcodes), "group": g.name,
                    "group_prio": g.priority, "inuse": inuse, "killasgroup": pc.killasgroup,
                    "name": pc.name, "process_prio": pc.priority,
                    "redirect_stderr": pc.redirect_stderr, "startretries": pc.startretries,
                    "startsecs": pc.startsecs, "stopsignal": int(pc.stopsignal),
                    "stopwaitsecs": pc.stopwaitsecs, "serverurl": pc.serverurl,
                }
                for ch, lc in (("stdout", pc.stdout), ("stderr", pc.stderr)):
                    d[f"{ch}_capture_maxbytes"] = lc.capture_maxbytes
                    d[f"{ch}_events_enabled"] = lc.events_enabled
                    d[f"{ch}_logfile"] = "auto" if lc.logfile == "AUTO" else lc.logfile
                    d[f"{ch}_logfile_backups"] = lc.backups
                    d[f"{ch}_logfile_maxbytes"] = lc.maxbytes
                    d[f"{ch}_syslog"] = lc.syslog
                if pc.redirect_stderr:
                    d["stderr_logfile"] = None
                for k, v in list(d.items()):
                    if v is None:
                        d[k] = "none"
                out.append(d)
        out.sort(key=lambda r: r["name"])
        return out

    def getProcessInfo(self, name):
        """Get info about a process named name

        @param string name The name of the process (or 'group:name')
        @return struct result     A structure containing data about the process"""
        self._update()
        group, proc = self._group_and_process(name)
        if proc is None:
            raise RPCError(Faults.BAD_NAME, name)
        return self._info(proc, time.time())

    def _info(self, proc, now) -> dict:
        info = proc.info(now)
        waiting = self._sup.waiting_description(proc)
        info["description"] = waiting if waiting else describe(info)
        note = proc.fork_note() if info["state"] == S.RUNNING else None
        if note and not waiting:
            # After supervisord's "pid N, uptime H:MM:SS", which supervisorctl parses.
            info["description"] += f" ({note})"
        return info

    def getAllProcessInfo(self):
        """Get info about all processes

        @return array result  An array of process status results"""
        self._update()
        now = time.time()
        return [self._info(proc, now) for proc in self._all(lexical=True)]

    # ---- logs ----------------------------------------------------------------------
    @staticmethod
    def _read(path, offset, length) -> str:
        try:
            return read_log(path, offset, length).decode("utf-8", "replace")
        except LogReadError as e:
            raise RPCError(getattr(Faults, e.kind))

    def _channel(self, name, channel):
        group, proc = self._group_and_process(name)
        if proc is None:
            raise RPCError(Faults.BAD_NAME, name)
        return proc.channels[channel]

    def _logfile(self, name, channel):
        return self._channel(name, channel).logfile

    def _read_process_log(self, name, offset, length, channel):
        ch = self._channel(name, channel)
        logfile = ch.logfile
        if logfile is None or not os.path.exists(logfile):
            if ch.unmade:
                # An AUTO log named but not written yet: supervisord made it empty at
                # start-up, so it reads as empty there.
                return ""
            raise RPCError(Faults.NO_FILE, logfile)
        return self._read(logfile, offset, length)

    def readProcessStdoutLog(self, name, offset, length):
        """Read length bytes from name's stdout log starting at offset

        @param string name        the name of the process (or 'group:name')
        @param int offset         offset to start reading from.
        @param int length         number of bytes to read from the log.
        @return string result     Bytes of log"""
        self._update()
        return self._read_process_log(name, offset, length, "stdout")

    readProcessLog = readProcessStdoutLog

    def readProcessStderrLog(self, name, offset, length):
        """Read length bytes from name's stderr log starting at offset

        @param string name        the name of the process (or 'group:name')
        @param int offset         offset to start reading from.
        @param int length         number of bytes to read from the log.
        @return string result     Bytes of log"""
        self._update()
        return self._read_process_log(name, offset, length, "stderr")

    def _tail_process_log(self, name, offset, length, channel):
        logfile = self._logfile(name, channel)
        if logfile is None or not os.path.exists(logfile):
            return ["", 0, False]
        try:
            data, off, overflow = tail_log(logfile, offset, length)
        except LogReadError as e:
            raise RPCError(getattr(Faults, e.kind))
        return [data.decode("utf-8", "replace"), off, overflow]

    def tailProcessStdoutLog(self, name, offset, length):
        """Provides a more efficient way to tail the (stdout) log than
        readProcessStdoutLog().

        @param string name         the name of the process (or 'group:name')
        @param int offset          offset to start reading from
        @param int length          maximum number of bytes to return
        @return array result       [string bytes, int offset, bool overflow]"""
        self._update()
        return self._tail_process_log(name, offset, length, "stdout")

    tailProcessLog = tailProcessStdoutLog

    def tailProcessStderrLog(self, name, offset, length):
        """Provides a more efficient way to tail the (stderr) log than
        readProcessStderrLog().

        @param string name         the name of the process (or 'group:name')
        @param int offset          offset to start reading from
        @param int length          maximum number of bytes to return
        @return array result       [string bytes, int offset, bool overflow]"""
        self._update()
        return self._tail_process_log(name, offset, length, "stderr")

    def _clear(self, proc, name):
        try:
            proc.clear_logs()
        except OSError:
            raise RPCError(Faults.FAILED, name)
        return None

    def clearProcessLogs(self, name):
        """Clear the stdout and stderr logs for the named process and
        reopen them.

        @param string name   The name of the process (or 'group:name')
        @return boolean result      Always True unless error"""
        self._update()
        group, proc = self._group_and_process(name)
        if proc is None:
            raise RPCError(Faults.BAD_NAME, name)
        self._clear(proc, name)
        return True

    clearProcessLog = clearProcessLogs

    async def clearAllProcessLogs(self):
        """Clear all process log files

        @return array result   An array of process status info structs"""
        self._update()
        return await self._for_each(self._all(), lambda p: True, self._clear)

    def sendProcessStdin(self, name, chars):
        """Send a string of chars to the stdin of the process name.
        What the program has not read yet waits in a buffer of at most 1 MiB; a call that
        would overflow it is refused (FAILED, "stdin buffer full") and sends nothing.

        @param string name        The process name to send to (or 'group:name')
        @param string chars       The character data to send to the process
        @return boolean result    Always return True unless error"""
        self._update()
        if not isinstance(chars, (str, bytes)):
            raise RPCError(Faults.INCORRECT_PARAMETERS, chars)
        data = chars.encode("utf-8") if isinstance(chars, str) else chars
        group, proc = self._group_and_process(name)
        if proc is None:
            raise RPCError(Faults.BAD_NAME, name)
        if not proc.pid or proc.machine.killing:
            raise RPCError(Faults.NOT_RUNNING, name)
        try:
            proc.write_stdin(data)
        except BufferError as e:
            # A program that does not read: a fault, never a blocking write (issue 12).
            raise RPCError(Faults.FAILED, f"{name}: {e}")
        except OSError:
            raise RPCError(Faults.NO_FILE, name)
        return True

    def sendRemoteCommEvent(self, type, data):
        """Send an event that will be received by event listener
        subprocesses subscribing to the RemoteCommunicationEvent.

        @param  string  type  String for the "type" key in the event header
        @param  string  data  Data for the event body
        @return boolean       Always return True unless error"""
        self._daemon.bus.remote_comm(type, data)
        return True


class WrapctlAPI:
    """`wrapctl.*`: additions beyond supervisor's API, used by the wrapctl client."""

    def __init__(self, daemon):
        self._daemon = daemon

    def getVersion(self):
        """The wrapctl version.

        @return string version"""
        return __version__

    async def update(self, names):
        """Apply the re-read configuration to the named groups (all when empty), process
        by process: an unchanged process in a changed group keeps running.

        @param array names  group names, or [] for all
        @return array result  [[added, changed, removed]] group names acted on"""
        if self._daemon.mood < SupervisorState.RUNNING:
            raise RPCError(Faults.SHUTDOWN_STATE)
        return await self._daemon.apply_update(list(names))

    def adoptRunning(self, name, pid):
        """Attach the configured program `name` to a daemon that already runs (started by
        an init script) without restarting it. When it dies, the program is started the
        supervised way. Only a process tied to the program is taken (it runs the program's
        command, or the program's pidfile= names it; never one another program holds):
        anything else is a FAILED fault naming the reason (docs/adopt.md).

        @param string name  the process name (or 'group:name'), currently stopped
        @param int pid      the running daemon's pid
        @return boolean     True unless error"""
        if self._daemon.mood < SupervisorState.RUNNING:
            raise RPCError(Faults.SHUTDOWN_STATE)
        group_name, process_name = split_namespec(name)
        _, proc = self._daemon.supervisor.find(group_name, process_name)
        if proc is None:
            raise RPCError(Faults.BAD_NAME, name)
        if not isinstance(pid, int):
            raise RPCError(Faults.INCORRECT_PARAMETERS, "pid must be an integer")
        if proc.state in RUNNING_STATES or proc.state == S.STOPPING:
            raise RPCError(Faults.ALREADY_STARTED, name)
        try:
            proc.adopt_running(pid)
        except ValueError as e:
            raise RPCError(Faults.FAILED, str(e))
        return True
