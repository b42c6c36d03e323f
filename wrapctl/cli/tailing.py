"""Commands that read logs: tail, maintail, and fg (attach to a process).

`-f` and fg stream the daemon's /logtail/ and /mainlogtail HTTP resources; the bytes are
written to stdout as they arrive, undecoded, so a log in any encoding comes through intact.
"""
from __future__ import annotations

import sys
import threading
import xmlrpc.client

import click

from wrapctl.cli import format as fmt
from wrapctl.cli.session import ConnectionFailed, classify, control_command, rpc_client
from wrapctl.cli.format import Exit, Faults

TAIL_HELP = ["tail [-f] <name> [stdout|stderr] (default stdout)",
             "Ex:",
             "tail -f <name>\t\tContinuous tail of named process stdout",
             "\t\t\tCtrl-C to exit.",
             "tail -100 <name>\tlast 100 *bytes* of process stdout",
             "tail <name> stderr\tlast 1600 *bytes* of process stderr"]
MAINTAIL_HELP = ["maintail -f \tContinuous tail of supervisor main log file (Ctrl-C to exit)",
                 "maintail -100\tlast 100 *bytes* of supervisord main log file",
                 "maintail\tlast 1600 *bytes* of supervisor main log file", ""]
FG_HELP = ["fg <process>\tConnect to a process in foreground mode", "\t\tCtrl-C to exit"]

_PASS_ARGS = {"ignore_unknown_options": True, "allow_interspersed_args": False}


def _write_raw(data: bytes, lock=None) -> None:
    if lock is not None:
        with lock:
            _write_raw(data)
        return
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _stream(ctl, path: str, lock=None) -> None:
    """Copy one streaming resource to stdout until the server closes it."""
    client = rpc_client()
    chunks = client.open_stream(ctl.url, path, ctl.username, ctl.password)
    try:
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            except (OSError, client.ClientError) as e:
                raise classify(ctl.url, e) from None
            _write_raw(chunk, lock)     # a closed stdout is not a connection error
    finally:
        chunks.close()


def _follow(ctl, out, path: str) -> None:
    try:
        out.out("==> Press Ctrl-C to exit <==")
        _stream(ctl, path)
    except KeyboardInterrupt:
        out.out("")
    except ConnectionFailed as c:
        # supervisorctl prints this on stderr, then waits for Ctrl-C; wrapctl exits 1.
        if c.status is not None:
            click.echo(f"{ctl.url}{path} Cannot read, status code {c.status}", err=True)
            out.fail(Exit.GENERIC)
        else:
            out.fail(Exit.GENERIC, c.text())


def _read_log(ctl, out, label: str, method: str, *args) -> None:
    try:
        data = ctl.call(method, *args)
    except xmlrpc.client.Fault as f:
        why = {Faults.NO_FILE: "no log file", Faults.FAILED: "unknown error reading log",
               Faults.BAD_NAME: "no such process name"}.get(f.faultCode)
        if why is None or (f.faultCode == Faults.BAD_NAME and label == "supervisord"):
            raise
        out.fail(Exit.GENERIC, f"{label}: ERROR ({why})")
        return
    # supervisorctl prints the log text followed by a newline.
    sys.stdout.write(data + "\n")
    sys.stdout.flush()


@control_command("tail", context_settings=_PASS_ARGS,
                 short_help="Last bytes of a process's log, or follow it (-f).")
@click.argument("args", nargs=-1, type=click.UNPROCESSED,
                metavar="[-f|-N] NAME [stdout|stderr]")
def tail(ctl, out, args):
    """tail [-f | -N] NAME [stdout|stderr]: the last N (default 1600) bytes of a process's
    log; -f follows it until Ctrl-C."""
    if not ctl.upcheck(out):
        return
    try:
        name, channel, nbytes = fmt.parse_tail_args(list(args))
    except ValueError as e:
        out.fail(Exit.GENERIC, str(e))
        if str(e).startswith("Error: too"):
            for line in TAIL_HELP:
                out.out(line)
        return
    if nbytes is None:
        _follow(ctl, out, f"/logtail/{name}/{channel}")
        return
    method = "readProcessStdoutLog" if channel == "stdout" else "readProcessStderrLog"
    _read_log(ctl, out, name, method, name, -nbytes, 0)


@control_command("maintail", context_settings=_PASS_ARGS,
                 short_help="Last bytes of the daemon's own log, or follow it (-f).")
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="[-f|-N]")
def maintail(ctl, out, args):
    """maintail [-f | -N]: the last N (default 1600) bytes of the daemon's log; -f follows."""
    if not ctl.upcheck(out):
        return
    try:
        nbytes = fmt.parse_maintail_args(list(args))
    except ValueError as e:
        out.fail(Exit.GENERIC, str(e))
        if str(e).startswith("Error: too"):
            for line in MAINTAIL_HELP:
                out.out(line)
        return
    if nbytes is None:
        _follow(ctl, out, "/mainlogtail")
        return
    _read_log(ctl, out, "supervisord", "readLog", -nbytes, 0)


@control_command("fg", short_help="Attach to a process: its output here, stdin to it.")
@click.argument("names", nargs=-1, metavar="NAME")
def fg(ctl, out, names):
    """Show a running process's stdout and stderr and send it each line typed; Ctrl-C or
    end of input detaches (the process keeps running)."""
    if not ctl.upcheck(out):
        return
    if not names:
        out.fail(Exit.GENERIC, "ERROR: no process name supplied")
        for line in FG_HELP:
            out.out(line)
        return
    if len(names) > 1:
        out.fail(Exit.GENERIC, "ERROR: too many process names supplied")
        return
    name = names[0]
    try:
        info = ctl.call("getProcessInfo", name)
    except xmlrpc.client.Fault as f:
        if f.faultCode == Faults.BAD_NAME:
            out.fail(Exit.GENERIC, "ERROR: bad process name supplied")
        else:
            out.out(f"ERROR: {f}")
        return
    if info["state"] != fmt.States.RUNNING:
        out.fail(Exit.GENERIC, "ERROR: process not running")
        return
    lock = threading.Lock()
    try:
        out.out("==> Press Ctrl-C to exit <==")
        for channel in ("stdout", "stderr"):
            # Daemon threads: they end with the command; a blocked read needs no cleanup.
            threading.Thread(target=_stream_quietly, daemon=True,
                             args=(ctl, f"/logtail/{name}/{channel}", lock)).start()
        _forward_stdin(ctl, out, name)
    except (KeyboardInterrupt, EOFError):
        out.out("Exiting foreground")


def _stream_quietly(ctl, path, lock):
    try:
        _stream(ctl, path, lock)
    except Exception:       # the main thread reports a dead daemon on its next call
        pass


def _forward_stdin(ctl, out, name: str) -> None:
    while True:
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        if not line.endswith("\n"):
            line += "\n"
        try:
            ctl.call("sendProcessStdin", name, line)
        except xmlrpc.client.Fault as f:
            out.out("Process got killed" if f.faultCode == Faults.NOT_RUNNING
                    else f"ERROR: {f}")
            out.out("Exiting foreground")
            return
        if ctl.call("getProcessInfo", name)["state"] != fmt.States.RUNNING:
            out.out("Process got killed")
            out.out("Exiting foreground")
            return
