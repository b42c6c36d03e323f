"""Control commands of `wrapctl` (the supervisorctl equivalent).

Each command talks XML-RPC API 3.0 to the daemon (wrapctl's or supervisord) and prints
supervisorctl 4.3's text with supervisorctl's exit status (see docs/cli.md). The pure parts
(texts, exit statuses) live in wrapctl.cli.format; streaming (tail -f, fg) in
wrapctl.cli.tailing.
"""
from __future__ import annotations

import errno
import functools
import json
import os
import sys
import xmlrpc.client

import click

from wrapctl.cli import cli
from wrapctl.cli import format as fmt
from wrapctl.cli.format import Exit, Faults, Outcome
from wrapctl.cli.target import ConfigProblem, resolve_target


def rpc_client():
    """The transport module, imported on first use (click's --help stays fast)."""
    from wrapctl.rpc import client
    return client


class ConnectionFailed(Exception):
    """The daemon could not be reached: `kind` is 'nofile', 'refused' or 'other'."""

    def __init__(self, url: str, kind: str, detail: str = "", status=None):
        self.url, self.kind, self.detail, self.status = url, kind, detail, status
        super().__init__(self.text())

    def text(self) -> str:
        if self.kind == "nofile":
            return f"{self.url} no such file"
        if self.kind == "refused":
            return f"{self.url} refused connection"
        detail = self.detail if self.url in self.detail else f"{self.url}: {self.detail}"
        return f"error: {detail}"


class AuthRequired(Exception):
    pass


def _classify(url: str, exc: BaseException) -> Exception:
    """Map a transport error to ConnectionFailed / AuthRequired, whatever layer raised it."""
    seen = set()
    e = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, xmlrpc.client.ProtocolError) and e.errcode == 401:
            return AuthRequired()
        if getattr(e, "status", None) == 401 or getattr(e, "errcode", None) == 401:
            return AuthRequired()
        code = getattr(e, "errno", None)
        if isinstance(e, FileNotFoundError) or code == errno.ENOENT:
            return ConnectionFailed(url, "nofile")
        if isinstance(e, ConnectionRefusedError) or code == errno.ECONNREFUSED:
            return ConnectionFailed(url, "refused")
        e = e.__cause__ or e.__context__
    return ConnectionFailed(url, "other", str(exc).splitlines()[0] if str(exc) else
                            type(exc).__name__, getattr(exc, "status", None))


class Ctl:
    """One command's view of the daemon: the resolved URL and credentials, and a proxy
    whose transport errors come out as ConnectionFailed / AuthRequired."""

    def __init__(self, obj: dict):
        self.url, self.username, self.password = resolve_target(
            obj.get("config_path"), obj.get("serverurl"),
            obj.get("username"), obj.get("password"))
        self._proxy = None

    @property
    def proxy(self):
        if self._proxy is None:
            make_proxy = rpc_client().make_proxy
            self._proxy = make_proxy(self.url, username=self.username,
                                     password=self.password)
        return self._proxy

    def call(self, method: str, *args, namespace: str = "supervisor"):
        """Call namespace.method; Faults pass through, transport errors are mapped."""
        ClientError = rpc_client().ClientError
        try:
            return getattr(getattr(self.proxy, namespace), method)(*args)
        except xmlrpc.client.Fault:
            raise
        except (OSError, ClientError, xmlrpc.client.ProtocolError) as e:
            raise _classify(self.url, e) from None

    def upcheck(self, out: Outcome) -> bool:
        """supervisorctl's upcheck: reachable, speaks the supervisor namespace, API 3.0."""
        try:
            api = self.call("getVersion")
        except xmlrpc.client.Fault as f:
            if f.faultCode == Faults.UNKNOWN_METHOD:
                out.fail(Exit.UNIMPLEMENTED_FEATURE,
                         "Sorry, supervisord responded but did not recognize the supervisor "
                         "namespace commands that supervisorctl uses to control it.  Please "
                         "check that the [rpcinterface:supervisor] section is enabled in the "
                         "configuration file (see sample.conf).")
                return False
            raise
        except ConnectionFailed as c:
            if c.kind == "nofile":
                out.fail(Exit.NOT_RUNNING, c.text())
                return False
            if c.kind == "refused":
                out.fail(Exit.INSUFFICIENT_PRIVILEGES, c.text())
                return False
            raise
        if api != fmt.API_VERSION:
            out.fail(Exit.NOT_INSTALLED,
                     f"Sorry, this version of supervisorctl expects to talk to a server with "
                     f"API version {fmt.API_VERSION}, but the remote version is {api}.")
            return False
        return True


class Printer(Outcome):
    """An Outcome that prints each line as it comes (long commands show progress)."""

    def __init__(self, stream=None):
        super().__init__()
        self._stream = stream

    def out(self, line: str) -> None:
        click.echo(line, file=self._stream)


def control_command(name, **kw):
    """A `cli` command whose body is fn(ctl, out, *args); handles every error in one line."""
    def deco(fn):
        @cli.command(name, **kw)
        @click.pass_context
        @functools.wraps(fn)
        def wrapper(ctx, *args, **kwargs):
            out = Printer(sys.stderr if kwargs.get("as_json") else None)
            try:
                ctl = Ctl(ctx.obj or {})
                fn(ctl, out, *args, **kwargs)
            except ConfigProblem as p:
                out.fail(Exit.INVALID_ARGS)
                click.echo(f"Error: {p}", err=True)
            except AuthRequired:
                out.fail(Exit.GENERIC, "Server requires authentication")
            except ConnectionFailed as c:
                out.fail(Exit.GENERIC, c.text())
            except xmlrpc.client.Fault as f:
                out.fail(Exit.GENERIC, f"error: {f.faultString} (fault {f.faultCode})")
            except KeyboardInterrupt:
                out.out("")
            except BrokenPipeError:
                # `wrapctl status | head -1`: the reader left; exit quietly, as cat does.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            except Exception as e:      # last resort: one line, never a traceback
                out.fail(Exit.GENERIC, f"error: {type(e).__name__}: {e}".splitlines()[0])
            ctx.exit(out.status)
        return wrapper
    return deco


def _names_arg(required=False):
    return click.argument("names", nargs=-1, required=required)


def _print_json(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


# -- status ---------------------------------------------------------------------------------

@control_command("status", short_help="Status of processes (exit 3 if any is not running).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of info dicts.")
@_names_arg()
def status(ctl, out, names, as_json):
    """Show NAMES (name, group:*, group:name; default all).

    Exit status: 0 all shown are running, 3 some are not, 4 unknown name or daemon down.
    """
    if not ctl.upcheck(out):
        out.status = Exit.STATUS_UNKNOWN
        return
    infos = ctl.call("getAllProcessInfo")
    result = fmt.status_outcome(infos, names)
    if as_json:
        picked, errors, _ = fmt.select_status(infos, names)
        for e in errors:
            out.out(e)
        _print_json(fmt.status_json(picked))
    else:
        for line in result.lines:
            out.out(line)
    out.status = result.status


# -- start / stop / restart / signal -----------------------------------------------------

def _start(ctl, out, names):
    if not ctl.upcheck(out):
        return
    if not names:
        out.fail(Exit.INVALID_ARGS, "Error: start requires a process name")
        for line in HELP["start"]:
            out.out(line)
        return
    if "all" in names:
        for r in ctl.call("startAllProcesses"):
            out.out(fmt.start_line(r))
            out.fault(r["status"], Faults.ALREADY_STARTED)
        return
    for spec in names:
        group, name = fmt.split_namespec(spec)
        if name is None:
            try:
                results = ctl.call("startProcessGroup", group)
            except xmlrpc.client.Fault as f:
                if f.faultCode != Faults.BAD_NAME:
                    raise
                out.fail(Exit.INVALID_ARGS, f"{group}: ERROR (no such group)")
                continue
            for r in results:
                out.out(fmt.start_line(r))
                out.fault(r["status"], Faults.ALREADY_STARTED)
        else:
            try:
                ctl.call("startProcess", spec)
            except xmlrpc.client.Fault as f:
                r = fmt.fault_result(spec, f.faultCode, f.faultString)
                out.out(fmt.start_line(r))
                out.fault(f.faultCode, Faults.ALREADY_STARTED)
            else:
                out.out(f"{fmt.make_namespec(group, name)}: started")


def _stop(ctl, out, names):
    if not ctl.upcheck(out):
        return
    if not names:
        out.fail(Exit.GENERIC, "Error: stop requires a process name")
        for line in HELP["stop"]:
            out.out(line)
        return
    if "all" in names:
        for r in ctl.call("stopAllProcesses"):
            out.out(fmt.stop_line(r))
            out.fault(r["status"], Faults.NOT_RUNNING)
        return
    for spec in names:
        group, name = fmt.split_namespec(spec)
        if name is None:
            try:
                results = ctl.call("stopProcessGroup", group)
            except xmlrpc.client.Fault as f:
                if f.faultCode != Faults.BAD_NAME:
                    raise
                out.fail(Exit.GENERIC, f"{group}: ERROR (no such group)")
                continue
            for r in results:
                out.out(fmt.stop_line(r))
                out.fault(r["status"], Faults.NOT_RUNNING)
        else:
            try:
                ctl.call("stopProcess", spec)
            except xmlrpc.client.Fault as f:
                r = fmt.fault_result(spec, f.faultCode, f.faultString)
                out.out(fmt.stop_line(r))
                out.fault(f.faultCode, Faults.NOT_RUNNING)
            else:
                out.out(f"{fmt.make_namespec(group, name)}: stopped")


@control_command("start", short_help="Start processes (name, group:*, all).")
@_names_arg()
def start(ctl, out, names):
    """Start NAMES: name, group:name, group:*, or all."""
    _start(ctl, out, list(names))


@control_command("stop", short_help="Stop processes (name, group:*, all).")
@_names_arg()
def stop(ctl, out, names):
    """Stop NAMES: name, group:name, group:*, or all."""
    _stop(ctl, out, list(names))


@control_command("restart", short_help="Stop then start processes.")
@_names_arg()
def restart(ctl, out, names):
    """Stop then start NAMES. Does not reread the config: see reread and update."""
    if not ctl.upcheck(out):
        return
    if not names:
        out.fail(Exit.GENERIC, "Error: restart requires a process name")
        for line in HELP["restart"]:
            out.out(line)
        return
    _stop(ctl, out, list(names))
    _start(ctl, out, list(names))


@control_command("signal", short_help="Send a signal to processes.")
@click.argument("args", nargs=-1, metavar="SIG NAMES...")
def signal_(ctl, out, args):
    """signal SIG NAMES...: SIG is a name (HUP, SIGHUP) or number; NAMES as for stop."""
    if not ctl.upcheck(out):
        return
    if len(args) < 2:
        out.out("Error: signal requires a signal name and a process name")
        for line in HELP["signal"]:
            out.out(line)
        out.fail(Exit.GENERIC)
        return
    sig, names = args[0], list(args[1:])
    if "all" in names:
        for r in ctl.call("signalAllProcesses", sig):
            out.out(fmt.signal_line(r))
            out.fault(r["status"])
        return
    for spec in names:
        group, name = fmt.split_namespec(spec)
        if name is None:
            try:
                results = ctl.call("signalProcessGroup", group, sig)
            except xmlrpc.client.Fault as f:
                if f.faultCode != Faults.BAD_NAME:
                    raise
                out.fail(Exit.GENERIC, f"{group}: ERROR (no such group)")
                continue
            for r in results:
                out.out(fmt.signal_line(r))
                out.fault(r["status"])
        else:
            try:
                ctl.call("signalProcess", spec, sig)
            except xmlrpc.client.Fault as f:
                r = fmt.fault_result(spec, f.faultCode, f.faultString)
                out.out(fmt.signal_line(r))
                out.fault(f.faultCode)
            else:
                out.out(f"{fmt.make_namespec(group, name)}: signalled")


# -- pid / clear / version ---------------------------------------------------------------

@control_command("pid", short_help="PID of the daemon, of processes, or all.")
@_names_arg()
def pid(ctl, out, names):
    """No NAMES: the daemon's pid. NAMES: each process's pid (0 if not running, exit 7).
    all: every process's pid, one a line."""
    if not ctl.upcheck(out):
        return
    if not names:
        out.out(str(ctl.call("getPID")))
    elif "all" in names:
        for info in ctl.call("getAllProcessInfo"):
            out.out(str(info["pid"]))
    else:
        for spec in names:
            try:
                info = ctl.call("getProcessInfo", spec)
            except xmlrpc.client.Fault as f:
                if f.faultCode != Faults.BAD_NAME:
                    raise
                out.fail(Exit.GENERIC, f"No such process {spec}")
                continue
            out.out(str(info["pid"]))
            if info["pid"] == 0:
                out.fail(Exit.NOT_RUNNING)


@control_command("clear", short_help="Clear processes' log files.")
@_names_arg()
def clear(ctl, out, names):
    """Clear the log files of NAMES, or all."""
    if not ctl.upcheck(out):
        return
    if not names:
        out.fail(Exit.GENERIC, "Error: clear requires a process name")
        for line in HELP["clear"]:
            out.out(line)
        return
    if "all" in names:
        for r in ctl.call("clearAllProcessLogs"):
            out.out(fmt.clear_line(r))
            out.fault(r["status"])
        return
    for spec in names:
        try:
            ctl.call("clearProcessLogs", spec)
        except xmlrpc.client.Fault as f:
            out.out(fmt.clear_line(fmt.fault_result(spec, f.faultCode, f.faultString)))
            out.fault(f.faultCode)
        else:
            group, name = fmt.split_namespec(spec)
            out.out(f"{fmt.make_namespec(group, name)}: cleared")


@control_command("version", short_help="Version of the daemon.")
@click.argument("args", nargs=-1)
def version(ctl, out, args):
    """Print the daemon's version (supervisor.getSupervisorVersion)."""
    if args:
        out.fail(Exit.GENERIC, "Error: version accepts no arguments")
        for line in HELP["version"]:
            out.out(line)
        return
    if not ctl.upcheck(out):
        return
    out.out(str(ctl.call("getSupervisorVersion")))


# -- config: avail / reread / add / remove / update ----------------------------------------

def _no_args(out, name, args) -> bool:
    if args:
        out.fail(Exit.GENERIC, f"Error: {name} accepts no arguments")
        for line in HELP[name]:
            out.out(line)
        return False
    return True


@control_command("avail", short_help="All configured processes.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of config dicts.")
@click.argument("args", nargs=-1)
def avail(ctl, out, args, as_json):
    """List every configured process: in use or avail, auto or manual, priorities."""
    if not _no_args(out, "avail", args):
        return
    try:
        infos = ctl.call("getAllConfigInfo")
    except xmlrpc.client.Fault as f:
        if f.faultCode != Faults.SHUTDOWN_STATE:
            raise
        out.fail(Exit.GENERIC, "ERROR: supervisor shutting down")
        return
    if as_json:
        _print_json(fmt.avail_json(infos))
        return
    for ci in infos:
        out.out(fmt.avail_line(ci))


@control_command("reread", short_help="Reread the config; report changes, apply none.")
@click.argument("args", nargs=-1)
def reread(ctl, out, args):
    """Reload the daemon's configuration files without adding or removing anything."""
    if not _no_args(out, "reread", args):
        return
    try:
        result = ctl.call("reloadConfig")
    except xmlrpc.client.Fault as f:
        if f.faultCode == Faults.SHUTDOWN_STATE:
            out.fail(Exit.GENERIC, "ERROR: supervisor shutting down")
        elif f.faultCode == Faults.CANT_REREAD:
            out.fail(Exit.GENERIC, f"ERROR: {f.faultString}")
        else:
            raise
        return
    for line in fmt.changes_lines(*result[0]):
        out.out(line)


@control_command("add", short_help="Activate groups added to the config.")
@_names_arg()
def add(ctl, out, names):
    """Add the process groups NAMES (after reread)."""
    for name in names:
        try:
            ctl.call("addProcessGroup", name)
        except xmlrpc.client.Fault as f:
            if f.faultCode == Faults.SHUTDOWN_STATE:
                out.fail(Exit.GENERIC, "ERROR: shutting down")
            elif f.faultCode == Faults.ALREADY_ADDED:
                out.out("ERROR: process group already active")
            elif f.faultCode == Faults.BAD_NAME:
                out.fail(Exit.GENERIC, f"ERROR: no such process/group: {name}")
            else:
                raise
        else:
            out.out(f"{name}: added process group")


@control_command("remove", short_help="Remove stopped groups from the active config.")
@_names_arg()
def remove(ctl, out, names):
    """Remove the process groups NAMES (they must be stopped)."""
    for name in names:
        try:
            ctl.call("removeProcessGroup", name)
        except xmlrpc.client.Fault as f:
            if f.faultCode == Faults.STILL_RUNNING:
                out.fail(Exit.GENERIC, f"ERROR: process/group still running: {name}")
            elif f.faultCode == Faults.BAD_NAME:
                out.fail(Exit.GENERIC, f"ERROR: no such process/group: {name}")
            else:
                raise
        else:
            out.out(f"{name}: removed process group")


@control_command("update", short_help="Reread the config and apply what changed.")
@_names_arg()
def update(ctl, out, names):
    """Reread the config; stop and remove dropped groups, restart changed groups, add new
    ones. With group NAMES, only those; `all` is the same as none."""
    try:
        added, changed, removed = ctl.call("reloadConfig")[0]
    except xmlrpc.client.Fault as f:
        if f.faultCode != Faults.SHUTDOWN_STATE:
            raise
        out.fail(Exit.GENERIC, "ERROR: already shutting down")
        return
    wanted = set(names)
    if "all" in wanted:
        wanted = set()
    if wanted:
        known = {i["group"] for i in ctl.call("getAllProcessInfo")} | set(added)
        for g in sorted(wanted - known):
            out.fail(Exit.GENERIC, f"ERROR: no such group: {g}")

    def chosen(g):
        return not wanted or g in wanted

    # wrapctl's daemon updates process by process (an unchanged process in a changed group
    # keeps running); supervisord has no such call, so it gets supervisorctl's group logic.
    try:
        done = ctl.call("update", sorted(wanted), namespace="wrapctl")
    except xmlrpc.client.Fault as f:
        if f.faultCode != Faults.UNKNOWN_METHOD:
            raise
    else:
        added, changed, removed = done[0]
        for g in removed:
            out.out(f"{g}: stopped")
            out.out(f"{g}: removed process group")
        for g in changed:
            out.out(f"{g}: updated process group")
        for g in added:
            out.out(f"{g}: added process group")
        return

    for g in filter(chosen, removed):
        results = ctl.call("stopProcessGroup", g)
        out.out(f"{g}: stopped")
        if any(r["status"] == Faults.FAILED for r in results):
            out.fail(Exit.GENERIC, f"{g}: has problems; not removing")
            continue
        ctl.call("removeProcessGroup", g)
        out.out(f"{g}: removed process group")
    for g in filter(chosen, changed):
        ctl.call("stopProcessGroup", g)
        out.out(f"{g}: stopped")
        ctl.call("removeProcessGroup", g)
        ctl.call("addProcessGroup", g)
        out.out(f"{g}: updated process group")
    for g in filter(chosen, added):
        ctl.call("addProcessGroup", g)
        out.out(f"{g}: added process group")


# -- reload / shutdown ---------------------------------------------------------------------

@control_command("reload", short_help="Restart the daemon (reread config, restart all).")
@click.argument("args", nargs=-1)
def reload(ctl, out, args):
    """Restart the remote daemon: it rereads its config and restarts every process."""
    if not _no_args(out, "reload", args):
        return
    try:
        ctl.call("restart")
    except xmlrpc.client.Fault as f:
        if f.faultCode != Faults.SHUTDOWN_STATE:
            raise
        out.fail(Exit.GENERIC, "ERROR: already shutting down")
        return
    out.out("Restarted supervisord")


@control_command("shutdown", short_help="Stop every process and the daemon.")
@click.argument("args", nargs=-1)
def shutdown(ctl, out, args):
    """Shut the remote daemon down."""
    if not _no_args(out, "shutdown", args):
        return
    try:
        ctl.call("shutdown")
    except xmlrpc.client.Fault as f:
        if f.faultCode != Faults.SHUTDOWN_STATE:
            raise
        out.out("ERROR: already shutting down")
        return
    except ConnectionFailed as c:
        if c.kind == "other":
            raise
        out.fail(Exit.GENERIC, f"ERROR: {c.text()} (already shut down?)")
        return
    out.out("Shut down")


HELP = {
    "start": ["start <name>\t\tStart a process",
              "start <gname>:*\t\tStart all processes in a group",
              "start <name> <name>\tStart multiple processes or groups",
              "start all\t\tStart all processes"],
    "stop": ["stop <name>\t\tStop a process",
             "stop <gname>:*\t\tStop all processes in a group",
             "stop <name> <name>\tStop multiple processes or groups",
             "stop all\t\tStop all processes"],
    "restart": ["restart <name>\t\tRestart a process",
                "restart <gname>:*\tRestart all processes in a group",
                "restart <name> <name>\tRestart multiple processes or groups",
                "restart all\t\tRestart all processes",
                "Note: restart does not reread config files. For that, see reread and "
                "update."],
    "signal": ["signal <signal name> <name>\t\tSignal a process",
               "signal <signal name> <gname>:*\t\tSignal all processes in a group",
               "signal <signal name> <name> <name>\tSignal multiple processes or groups",
               "signal <signal name> all\t\tSignal all processes"],
    "clear": ["clear <name>\t\tClear a process' log files.",
              "clear <name> <name>\tClear multiple process' log files",
              "clear all\t\tClear all process' log files"],
    "version": ["version\t\t\tShow the version of the remote supervisord process"],
    "avail": ["avail\t\t\tDisplay all configured processes"],
    "reread": ["reread \t\t\tReload the daemon's configuration files without add/remove"],
    "reload": ["reload \t\tRestart the remote supervisord."],
    "shutdown": ["shutdown \tShut the remote supervisord down."],
}

# tail, maintail and fg stream; they live in their own module and use the pieces above.
from wrapctl.cli import tailing  # noqa: E402,F401
