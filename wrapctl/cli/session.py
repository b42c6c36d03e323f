"""A control command's session with the daemon: where it is, the proxy, and the one place
where every failure becomes one line and an exit status.

A command is a function fn(ctl, out, *args) registered with @control_command: `ctl` calls the
daemon (transport errors come out as ConnectionFailed / AuthRequired), `out` collects the
lines and the exit status (wrapctl.cli.format.Outcome), printing each line as it comes.
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
from wrapctl.cli.format import HELP, Exit, Faults, Outcome
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


def start_hint(c: ConnectionFailed, config_path=None) -> None:
    """No daemon behind the URL: say, on stderr, how to start one. stdout keeps
    supervisorctl's exact line, which scripts match."""
    if c.kind not in ("nofile", "refused"):
        return
    conf = config_path or "FILE"
    click.echo(f"wrapctl: no daemon at {c.url}: start it with `wrapctl daemon -c {conf}`",
               err=True)


def classify(url: str, exc: BaseException) -> Exception:
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
        self.config_path = obj.get("config_path")

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
            raise classify(self.url, e) from None

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
            start_hint(c, self.config_path)
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
                start_hint(c, (ctx.obj or {}).get("config_path"))
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


def names_arg(required=False):
    return click.argument("names", nargs=-1, required=required)


def print_json(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def no_args(out, name, args) -> bool:
    """supervisorctl's check for commands that take no arguments."""
    if args:
        out.fail(Exit.GENERIC, f"Error: {name} accepts no arguments")
        for line in HELP[name]:
            out.out(line)
        return False
    return True
