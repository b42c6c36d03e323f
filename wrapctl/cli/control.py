"""Process control commands of `wrapctl` (the supervisorctl equivalent): status, start,
stop, restart, signal, pid, clear, version.

Each prints supervisorctl 4.3's text with supervisorctl's exit status (docs/cli.md). Texts
and statuses are computed in wrapctl.cli.format; the session with the daemon is
wrapctl.cli.session. Importing this module registers every control command, including the
configuration ones (wrapctl.cli.reconfig) and the log readers (wrapctl.cli.tailing).
"""
from __future__ import annotations

import xmlrpc.client

import click

from wrapctl.cli import format as fmt
from wrapctl.cli.format import HELP, Exit, Faults
from wrapctl.cli.session import control_command, names_arg, print_json


# -- status ---------------------------------------------------------------------------------

@control_command("status", short_help="Status of processes (exit 3 if any is not running).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of info dicts.")
@names_arg()
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
        print_json(fmt.status_json(picked))
    else:
        for line in result.lines:
            out.out(line)
    out.status = result.status


# -- start / stop / restart / signal -----------------------------------------------------

class _Verb:
    """What differs between start and stop: supervisorctl's texts, codes and methods."""

    def __init__(self, word, past, missing_exit, line, ok_fault):
        self.word, self.past, self.missing_exit = word, past, missing_exit
        self.line, self.ok_fault = line, ok_fault


_START = _Verb("start", "started", Exit.INVALID_ARGS, fmt.start_line, Faults.ALREADY_STARTED)
_STOP = _Verb("stop", "stopped", Exit.GENERIC, fmt.stop_line, Faults.NOT_RUNNING)


def _act(ctl, out, names, verb: _Verb):
    """supervisorctl's do_start / do_stop: per name, group:*, or all."""
    if not ctl.upcheck(out):
        return
    if not names:
        out.fail(verb.missing_exit, f"Error: {verb.word} requires a process name")
        for line in HELP[verb.word]:
            out.out(line)
        return

    def report(results):
        for r in results:
            out.out(verb.line(r))
            out.fault(r["status"], verb.ok_fault)

    if "all" in names:
        report(ctl.call(f"{verb.word}AllProcesses"))
        return
    for spec in names:
        group, name = fmt.split_namespec(spec)
        if name is None:
            try:
                results = ctl.call(f"{verb.word}ProcessGroup", group)
            except xmlrpc.client.Fault as f:
                if f.faultCode != Faults.BAD_NAME:
                    raise
                out.fail(verb.missing_exit, f"{group}: ERROR (no such group)")
                continue
            report(results)
        else:
            try:
                ctl.call(f"{verb.word}Process", spec)
            except xmlrpc.client.Fault as f:
                out.out(verb.line(fmt.fault_result(spec, f.faultCode, f.faultString)))
                out.fault(f.faultCode, verb.ok_fault)
            else:
                out.out(f"{fmt.make_namespec(group, name)}: {verb.past}")


def _start(ctl, out, names):
    _act(ctl, out, names, _START)


def _stop(ctl, out, names):
    _act(ctl, out, names, _STOP)


@control_command("start", short_help="Start processes (name, group:*, all).")
@names_arg()
def start(ctl, out, names):
    """Start NAMES: name, group:name, group:*, or all."""
    _start(ctl, out, list(names))


@control_command("stop", short_help="Stop processes (name, group:*, all).")
@names_arg()
def stop(ctl, out, names):
    """Stop NAMES: name, group:name, group:*, or all."""
    _stop(ctl, out, list(names))


@control_command("restart", short_help="Stop then start processes.")
@names_arg()
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
@names_arg()
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
@names_arg()
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


@control_command("version", short_help="The daemon's supervisord-compatible version.")
@click.option("--verbose", is_flag=True, help="Say what each version is, and the URL.")
@click.argument("args", nargs=-1)
def version(ctl, out, args, verbose):
    """Print the running daemon's version (supervisor.getSupervisorVersion: 4.3.0 for
    wrapctl daemon, as supervisord 4.3), bare as supervisorctl prints it for scripts.
    `wrapctl --version` prints this client's package version instead."""
    if args:
        out.fail(Exit.GENERIC, "Error: version accepts no arguments")
        for line in HELP["version"]:
            out.out(line)
        return
    if not ctl.upcheck(out):
        return
    daemon = str(ctl.call("getSupervisorVersion"))
    if verbose:
        from wrapctl import __version__
        out.out(f"daemon at {ctl.url}: supervisord-compatible version {daemon}")
        out.out(f"client: wrapctl {__version__} (`wrapctl --version`)")
    else:
        out.out(daemon)


# The other command families of the control client register themselves on import.
from wrapctl.cli import reconfig, tailing  # noqa: E402,F401
