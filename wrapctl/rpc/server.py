"""Wire the daemon to its HTTP servers: /RPC2, /logtail/NAME[/CHANNEL], /mainlogtail and
the web UI (wrapctl.web). An [inet_http_server] without credentials only listens on loopback,
and unless it listens on every interface (where credentials are mandatory) it answers only
requests whose Host names it, so a page on a rebound DNS name gets nothing (rpc.guard).

Log streams do not poll the file: after the last kilobyte already on disk, new output is
pushed to the client as the supervisor reads it from the child's pipe.
"""
from __future__ import annotations

import asyncio
import ipaddress
import os

from wrapctl.core.daemon import DaemonError
from wrapctl.rpc.api import SupervisorAPI, WrapctlAPI, split_namespec
from wrapctl.rpc import plugins
from wrapctl.rpc.dispatch import Dispatcher
from wrapctl.rpc.http import HTTPServer, logtail_headers, parse_logtail_path
from wrapctl.web import install as install_web

TAIL_BYTES = 1024


def make_dispatcher(daemon) -> Dispatcher:
    d = Dispatcher()
    d.register_instance("supervisor", SupervisorAPI(daemon))
    d.register_instance("wrapctl", WrapctlAPI(daemon))
    try:
        plugins.install(d, daemon)
    except plugins.PluginError as e:
        raise DaemonError(str(e), status=2) from None
    return d


def _last_bytes(path) -> tuple[bytes, float]:
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            f.seek(max(0, size - TAIL_BYTES))
            return f.read(), os.fstat(f.fileno()).st_mtime
    except OSError:
        return b"", 0.0


async def _stream(response, path, subscribe, unsubscribe) -> None:
    queue: asyncio.Queue = asyncio.Queue()
    subscribe(queue.put_nowait)
    try:
        head, mtime = _last_bytes(path) if path else (b"", 0.0)
        await response.start(200, logtail_headers(mtime))
        await response.write(head)
        while True:
            data = await queue.get()
            await response.write(data)
    finally:
        unsubscribe(queue.put_nowait)


def _logtail_handler(daemon):
    async def handler(request, response):
        name, channel = parse_logtail_path(request.path)
        sup = daemon.supervisor
        gname, pname = split_namespec(name)
        _, proc = sup.find(gname, pname) if pname else (None, None)
        if proc is None or channel not in proc.channels:
            await response.send(404, "No such process or channel\n")
            return
        ch = proc.channels[channel]
        if not ch.logfile:
            await response.send(404, "No log file for this channel\n")
            return
        await _stream(response, ch.logfile, ch.listeners.append, ch.listeners.remove)
    return handler


def _mainlogtail_handler(daemon):
    async def handler(request, response):
        path = daemon.config.daemon.logfile
        if not path or path == "syslog":
            await response.send(404, "No main log file\n")
            return
        listeners = daemon.logger.listeners
        await _stream(response, path, listeners.append, listeners.remove)
    return handler


class Servers:
    def __init__(self, servers):
        self.servers = servers

    async def close(self):
        for s in self.servers:
            await s.close()


async def start_servers(daemon) -> Servers:
    cfg = daemon.config
    rpc = make_dispatcher(daemon).handle
    servers = []
    try:
        if cfg.unix_server is not None:
            u = cfg.unix_server
            s = HTTPServer(rpc, username=u.username, password=u.password)
            _routes(s, daemon)
            await s.add_unix(u.file, mode=u.chmod, owner=u.chown)
            servers.append(s)
        if cfg.inet_server is not None:
            i = cfg.inet_server
            if not i.username:
                where = f"{i.host or '*'}:{i.port}"
                if is_loopback(i.host):
                    # Not supervisord's CRIT: only local users can reach it, and a page on a
                    # rebound name is refused (rpc.guard), so the line only says who can.
                    daemon.logger.warn(
                        f"Server 'inet_http_server' running without any HTTP authentication "
                        f"checking on {where}: loopback only, every local user may control "
                        f"the daemon (set username and password to require them)")
                else:
                    daemon.logger.critical(
                        f"Server 'inet_http_server' running without any HTTP authentication "
                        f"checking on {where}")
                    raise DaemonError(
                        f"{cfg.path}: [inet_http_server] port={i.host or '*'}:{i.port}: "
                        f"refusing to serve without username/password beyond loopback "
                        f"(set username and password, or listen on 127.0.0.1)")
            s = HTTPServer(rpc, username=i.username, password=i.password)
            _routes(s, daemon)
            await s.add_tcp(i.host or None, i.port)
            servers.append(s)
    except BaseException:
        for s in servers:
            await s.close()
        raise
    if not servers:
        daemon.logger.warn("no [unix_http_server] or [inet_http_server]: the control API is off")
    return Servers(servers)


def is_loopback(host) -> bool:
    """Whether `host` only ever binds loopback: 127.0.0.0/8, ::1, localhost; an empty or
    '*' host (every interface) and other names are not."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        addr = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    mapped = getattr(addr, "ipv4_mapped", None)
    return (mapped or addr).is_loopback


def _routes(server, daemon) -> None:
    server.add_get("/logtail/", _logtail_handler(daemon))
    server.add_get("/mainlogtail", _mainlogtail_handler(daemon))
    install_web(server, daemon)
