"""asyncio HTTP/1.1 server for the control API, with h11 doing the protocol.

One server listens on any number of unix and TCP sockets and serves:
- POST <rpc_path> (default /RPC2): the body goes to `rpc(body) -> bytes` (a Dispatcher's
  handle); 200 text/xml, 400 for a body that is not XML-RPC, 500 when a method crashes
  (as supervisord);
- GET and POST routes by longest path prefix: `async handler(request, response)`; the
  handler may stream (response.write) until it returns; it is cancelled when the client
  disconnects;
- everything else: 404 (405 for a wrong method on a known path).

Limits, all per connection and timer-driven (an idle server has no wakeups): request head
size (431), body size (413, checked against Content-Length before reading), the time a new
connection has to deliver its first request head (head_timeout, a few seconds), the time a
request may take to arrive once its first byte is in (request_timeout, then the connection
is closed), idle keep-alive time (idle_timeout, 30 min like medusa's zombie timeout), a
stalled reader of a response (write_timeout), and the connections each peer may hold
before and after its first request passed the checks (limits.Limits).
Every request is screened before its body is read (guard): on TCP the Host must name the
listener (421), a foreign Origin is refused (403), with auth configured it needs it
(401 + WWW-Authenticate), and an XML-RPC body must be declared XML (415); a refused
request is answered once its body is in, then the connection is closed.
"""
import asyncio
import email.utils
import errno
import http
import logging
import os
import socket
import stat
import struct
import urllib.parse

import h11

from . import guard
from .auth import OK, UNAUTHORIZED, BasicAuth
from .dispatch import MethodCrash
from .limits import Limits
from .xmlrpc import ParseError

log = logging.getLogger("wrapctl.rpc.http")

MAX_BODY = 4 * 1024 * 1024
MAX_HEAD = 16 * 1024
_READ = 64 * 1024


class BindError(OSError):
    """A listening socket could not be set up; str() says which and why, in one line."""

    def __str__(self):
        return str(self.strerror)


class Request:
    __slots__ = ("method", "target", "path", "query", "headers", "http_version", "body", "peer")

    def __init__(self, event, peer):
        self.method = event.method.decode("ascii", "replace")
        self.target = event.target.decode("ascii", "replace")
        raw_path, _, self.query = self.target.partition("?")
        self.path = urllib.parse.unquote(raw_path)
        self.headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers]
        self.http_version = event.http_version.decode("ascii")
        self.body = b""
        self.peer = peer

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None


class Response:
    """What a GET handler answers through: one full response, or a stream of chunks."""

    def __init__(self, channel):
        self._channel = channel
        self.started = False

    async def start(self, status=200, headers=()):
        """Send the status line and headers; without Content-Length the body is chunked
        (HTTP/1.1) or ends at close (HTTP/1.0)."""
        if self.started:
            raise RuntimeError("response already started")
        self.started = True
        await self._channel.send(_response(status, headers))

    async def write(self, data):
        if not self.started:
            await self.start()
        if data:
            await self._channel.send(h11.Data(data=bytes(data)))

    async def send(self, status, body=b"", content_type="text/plain; charset=utf-8", headers=()):
        """A complete response with Content-Length."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        hdrs = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        await self.start(status, hdrs + list(headers))
        await self._channel.send(h11.Data(data=body), h11.EndOfMessage())


def _response(status, headers):
    try:
        reason = http.HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        reason = b""
    return h11.Response(status_code=status, headers=_headers(headers), reason=reason)


def _headers(pairs):
    out = [("Server", "wrapctl")]
    out.extend((str(k), str(v)) for k, v in pairs)
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in out]


def http_date(timestamp):
    return email.utils.formatdate(timestamp, usegmt=True)


def logtail_headers(mtime):
    """Headers supervisord sends on /logtail and /mainlogtail streams."""
    return [("Last-Modified", http_date(mtime)),
            ("Content-Type", "text/plain;charset=utf-8"),
            ("X-Accel-Buffering", "no")]


def parse_logtail_path(path, prefix="/logtail/"):
    """'/logtail/group:name/stderr' -> ('group:name', 'stderr'); channel defaults to stdout."""
    rest = path[len(prefix):] if path.startswith(prefix) else path
    name, _, channel = rest.partition("/")
    return name, (channel or "stdout")


class _Close(Exception):
    """End the connection now (error already answered, or nothing can be answered)."""


class _Channel:
    """One client connection: an h11 state machine between a StreamReader and a writer."""

    def __init__(self, server, reader, writer, host_rule=None):
        self.server = server
        self.reader = reader
        self.writer = writer
        self.host_rule = host_rule
        self.conn = self._new_conn()
        peer = writer.get_extra_info("peername")
        self.peer = peer if peer else "unix"
        self.key = _peer_key(peer, writer.get_extra_info("socket"))
        self.task = None
        self.idle_since = None  # loop time since it waits for its next request, if it does

    def evict(self):
        """Make room (limits.Limits): end this connection now, without an answer."""
        if self.task is not None:
            self.task.cancel()

    def _new_conn(self):
        return h11.Connection(h11.SERVER, max_incomplete_event_size=self.server.max_head)

    async def send(self, *events):
        for event in events:
            data = self.conn.send(event)
            if data:
                self.writer.write(data)
        try:
            async with asyncio.timeout(self.server.write_timeout):
                await self.writer.drain()
        except TimeoutError:
            raise _Close("client stopped reading") from None

    async def simple(self, status, text, headers=(), close=False):
        # IDLE: h11 lets a server answer a request it could not parse
        if self.conn.our_state not in (h11.SEND_RESPONSE, h11.IDLE):
            raise _Close(text)
        body = (text + "\n").encode("utf-8")
        hdrs = [("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body)))] + list(headers)
        if close:
            hdrs.append(("Connection", "close"))
        await self.send(_response(status, hdrs),
                        h11.Data(data=body), h11.EndOfMessage())
        if close:
            raise _Close(text)

    async def run(self):
        try:
            first = True
            while True:
                request = await self._read_request(first)
                if request is None:
                    return
                first = False
                await self._respond(request)
                if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
                    self._next_cycle()
                else:
                    return
        except _Close:
            pass
        except (ConnectionError, OSError, h11.LocalProtocolError) as exc:
            log.debug("connection %s dropped: %r", self.peer, exc)
        finally:
            self.writer.close()

    def _next_cycle(self):
        # RFC 9112 2.2: ignore empty lines before a request line (supervisor's own
        # http_client sends an extra CRLF after its headers); h11 would refuse them.
        data, closed = self.conn.trailing_data
        self.conn = self._new_conn()
        data = bytes(data).lstrip(b"\r\n")
        if data:  # h11 takes b"" as end of input
            self.conn.receive_data(data)
        if closed:
            self.conn.receive_data(b"")

    async def _read_request(self, first):
        """The next complete request, or None when the client is gone or too slow. A new
        connection must deliver its first head within head_timeout; a kept-alive one may
        idle for idle_timeout; once a request has started it has request_timeout."""
        loop = asyncio.get_running_loop()
        server = self.server
        request = None
        deny = None
        body = bytearray()
        got_bytes = False
        if first:
            wait = min(server.head_timeout, server.request_timeout)
        else:
            wait = server.idle_timeout
            self.idle_since = loop.time()
        try:
            async with asyncio.timeout(wait) as deadline:
                while True:
                    try:
                        event = self.conn.next_event()
                    except h11.RemoteProtocolError as exc:
                        await self.simple(exc.error_status_hint, f"bad request: {exc}", close=True)
                    if event is h11.NEED_DATA:
                        data = await self.reader.read(_READ)
                        if data and not got_bytes:
                            got_bytes = True
                            self.idle_since = None
                            if not first:
                                deadline.reschedule(loop.time() + server.request_timeout)
                        self.conn.receive_data(data)
                        continue
                    if isinstance(event, h11.ConnectionClosed):
                        return None
                    if isinstance(event, h11.Request):
                        self.idle_since = None
                        if first or not got_bytes:  # head in (or pipelined: already buffered)
                            got_bytes = True
                            deadline.reschedule(loop.time() + server.request_timeout)
                        request = Request(event, self.peer)
                        length = request.header("content-length")
                        if length is not None and int(length) > server.max_body:
                            await self.simple(413, f"body over {server.max_body} bytes",
                                              close=True)
                        deny = self._screen(request)
                        if self.conn.they_are_waiting_for_100_continue and deny is None:
                            await self.send(h11.InformationalResponse(
                                status_code=100, headers=_headers([])))
                    elif isinstance(event, h11.Data):
                        body += event.data
                        if len(body) > server.max_body:
                            await self.simple(413, f"body over {server.max_body} bytes",
                                              close=True)
                    elif isinstance(event, h11.EndOfMessage):
                        break
        except TimeoutError:
            if got_bytes and self.conn.our_state is h11.SEND_RESPONSE:
                await self.simple(408, "request timed out", close=True)
            return None
        finally:
            self.idle_since = None
        if deny is not None:
            status, text, headers = deny
            if status != 401:  # a challenge is the normal first step of a client
                log.warning("refused %s %s from %s: %s", request.method, request.target,
                            _peer_text(self.peer), text)
            await self.simple(status, text, headers=headers, close=True)
        request.body = bytes(body)
        return request

    def _screen(self, request):
        """(status, text, headers) refusing `request` before its body is read, or None; the
        first request that passes admits the connection (limits.Limits)."""
        server = self.server
        if self.host_rule is not None:
            why = self.host_rule.refusal(request.header("host"))
            if why:
                return 421, why, ()
        why = guard.origin_refusal(request)
        if why:
            return 403, why, ()
        if server.auth is not None:
            verdict = server.auth.check(request.header("authorization"))
            if verdict == UNAUTHORIZED:
                return 401, "unauthorized", [("WWW-Authenticate", server.auth.challenge())]
            if verdict != OK:
                return 400, "malformed Authorization header", ()
        if (server.rpc is not None and request.method == "POST"
                and request.path.startswith(server.rpc_path)):
            why = guard.xml_type_refusal(request)
            if why:
                return 415, why, ()
        if not server.limits.admit(self):
            return 503, "too many connections", ()
        return None

    async def _respond(self, request):
        server = self.server
        if server.rpc is not None and request.path.startswith(server.rpc_path):
            if request.method != "POST":
                await self.simple(405, "XML-RPC needs POST", headers=[("Allow", "POST")])
                return
            try:
                body = await server.rpc(request.body)
            except ParseError as exc:
                log.error("XML-RPC request from %s is invalid: %s", self.peer, exc)
                await self.simple(400, f"invalid XML-RPC request: {exc}")
                return
            except MethodCrash as exc:
                await self.simple(500, f"internal error: {exc}")
                return
            except Exception:
                log.exception("XML-RPC handling failed")
                await self.simple(500, "internal error")
                return
            await self.send(
                _response(200, [("Content-Type", "text/xml"),
                                ("Content-Length", str(len(body)))]),
                h11.Data(data=body), h11.EndOfMessage())
            return
        methods = server.match(request.path)
        if not methods:
            await self.simple(404, "not found")
            return
        handler = methods.get(request.method)
        if handler is None:
            allow = ", ".join(sorted(methods))
            await self.simple(405, f"only {allow} here", headers=[("Allow", allow)])
            return
        await self._run_get(handler, request)

    async def _run_get(self, handler, request):
        response = Response(self)
        task = asyncio.ensure_future(handler(request, response))
        # keep reading while the handler streams, to notice a client that goes away
        peek = asyncio.ensure_future(self.reader.read(_READ))
        pending = 0
        try:
            while True:
                done, _ = await asyncio.wait({task, peek}, return_when=asyncio.FIRST_COMPLETED)
                if peek in done:
                    data = peek.result()
                    peek = None
                    if not data:  # nobody left to stream to
                        raise _Close("client closed during stream")
                    pending += len(data)
                    if pending > self.server.max_head:
                        raise _Close("client sent too much while a stream was running")
                    self.conn.receive_data(data)  # the next request on this connection
                if task in done:
                    break
                peek = asyncio.ensure_future(self.reader.read(_READ))
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
            if peek is not None:
                # a StreamReader allows one reader: finish this one before the next read
                peek.cancel()
                await asyncio.wait({peek})
                if not peek.cancelled() and peek.exception() is None:
                    self.conn.receive_data(peek.result())
        try:
            task.result()
        except _Close:
            raise
        except Exception:
            log.exception("GET handler for %s failed", request.path)
            if not response.started:
                await self.simple(500, "internal error")
                return
            raise _Close("handler failed mid-stream") from None
        if not response.started:
            await self.simple(500, "handler sent no response")
        elif self.conn.our_state is h11.SEND_BODY:
            await self.send(h11.EndOfMessage())


class HTTPServer:
    def __init__(self, rpc=None, *, rpc_path="/RPC2", username=None, password=None,
                 max_body=MAX_BODY, max_head=MAX_HEAD, head_timeout=5.0, request_timeout=30.0,
                 idle_timeout=1800.0, write_timeout=60.0, max_connections=256,
                 max_connections_per_peer=128, max_pending=256, max_pending_per_peer=64):
        """`rpc`: coroutine function body -> response bytes (Dispatcher.handle).
        max_connections[_per_peer] count admitted connections, max_pending[_per_peer]
        those still waiting for their first request (limits.Limits)."""
        self.rpc = rpc
        self.rpc_path = rpc_path
        self.auth = BasicAuth(username, password) if username else None
        self.max_body = max_body
        self.max_head = max_head
        self.head_timeout = head_timeout
        self.request_timeout = request_timeout
        self.idle_timeout = idle_timeout
        self.write_timeout = write_timeout
        self.limits = Limits(max_pending, max_pending_per_peer, max_connections,
                             max_connections_per_peer)
        self._routes = {}       # prefix -> {method: handler}
        self._servers = []
        self._unix_paths = []  # (path, (st_dev, st_ino)) we created and remove at close
        self._tasks = set()

    def add_get(self, prefix, handler):
        """Serve GET requests whose path starts with `prefix` (longest prefix wins)."""
        self._routes.setdefault(prefix, {})["GET"] = handler

    def add_post(self, prefix, handler):
        """Serve POST requests whose path starts with `prefix`; the handler is called as a
        GET handler is, with the body in request.body."""
        self._routes.setdefault(prefix, {})["POST"] = handler

    def match(self, path):
        """{method: handler} of the longest prefix of `path` ({} when none)."""
        best = None
        for prefix in self._routes:
            if path.startswith(prefix) and (best is None or len(prefix) > len(best)):
                best = prefix
        return {} if best is None else self._routes[best]

    def match_get(self, path):
        return self.match(path).get("GET")

    async def _client(self, reader, writer, host_rule=None):
        channel = _Channel(self, reader, writer, host_rule)
        # our own task, so close() and eviction can cancel it without asyncio's stream
        # callback reporting the cancellation as an error
        task = channel.task = asyncio.ensure_future(channel.run())
        self._tasks.add(task)
        self.limits.arrive(channel)
        try:
            await task
        except asyncio.CancelledError:
            if not task.cancelled():
                raise
        finally:
            self._tasks.discard(task)
            self.limits.leave(channel)
            # A task cancelled before its first step never ran the channel's own clean-up.
            if not writer.is_closing():
                writer.close()

    async def add_tcp(self, host, port):
        """Listen on host:port (port 0 picks one); returns the bound (host, port).
        Requests must name it in Host (guard.HostRule) unless it is every interface."""
        rule = None

        def client(reader, writer):
            return self._client(reader, writer, rule)
        try:
            srv = await asyncio.start_server(client, host, port, limit=_READ, backlog=1024)
        except OSError as exc:
            raise BindError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
        bound = [s.getsockname()[:2] for s in srv.sockets]
        rule = guard.HostRule(host, bound)
        self._servers.append(srv)
        return bound[0]

    async def add_unix(self, path, mode=0o700, owner=None):
        """Listen on a unix socket file, replacing a stale one (nothing accepting on it);
        the file gets `mode` and `owner` (uid, gid) before it appears under `path`."""
        path = os.fspath(path)
        sock = _bind_unix(path, mode, owner)
        try:
            srv = await asyncio.start_unix_server(self._client, sock=sock, limit=_READ)
        except BaseException:
            sock.close()
            raise
        st = os.stat(path)
        self._servers.append(srv)
        self._unix_paths.append((path, (st.st_dev, st.st_ino)))
        return path

    async def close(self):
        for srv in self._servers:
            srv.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for srv in self._servers:
            await srv.wait_closed()
        self._servers = []
        for path, ident in self._unix_paths:
            try:
                st = os.stat(path)
                if (st.st_dev, st.st_ino) == ident:
                    os.unlink(path)
            except OSError:
                pass
        self._unix_paths = []


def _peer_key(peer, sock):
    """Whose budget a connection counts against: its IP on TCP, its uid on a unix socket."""
    if isinstance(peer, tuple):
        return peer[0]
    try:
        _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(
            socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
        return f"uid {uid}"
    except (OSError, AttributeError, struct.error):
        return "unix"


def _peer_text(peer):
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)


def _in_use(path):
    """Why the unix socket at `path` must be left alone, or None if it is stale.

    Only a refused connection proves it stale; any other failure (EACCES on someone
    else's socket, say) leaves it in place.
    """
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.setblocking(False)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        return None
    except (BlockingIOError, InterruptedError):  # backlog full: alive and busy
        return "another server is running on it"
    except OSError as exc:
        return f"cannot tell whether it is in use ({exc.strerror})"
    else:
        return "another server is running on it"
    finally:
        probe.close()


def _bind_unix(path, mode, owner):
    tmp = f"{path}.{os.getpid()}"  # as supervisord: same path length limit
    for _attempt in range(3):
        _remove_stale(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            # The socket is born with its mode (bind honours the umask): a chmod by name
            # afterwards would follow a link that another user put in place of tmp, in a
            # directory they can write. Likewise the chown and the link never follow one.
            old_umask = os.umask(0o777 & ~mode)
            try:
                sock.bind(tmp)
            finally:
                os.umask(old_umask)
            made = os.lstat(tmp)
            if owner is not None:
                try:
                    os.chown(tmp, owner[0], owner[1], follow_symlinks=False)
                except PermissionError:
                    raise BindError(errno.EPERM, f"cannot listen on {path}: not permitted to "
                                                 f"chown to uid/gid {owner[0]}/{owner[1]}") from None
            os.link(tmp, path, follow_symlinks=False)  # fails instead of replacing a racer
            now = os.lstat(path)
            if (now.st_dev, now.st_ino) != (made.st_dev, made.st_ino):
                raise BindError(errno.EEXIST, f"cannot listen on {path}: its directory is "
                                              "writable by others, who replaced the socket")
        except FileExistsError:
            sock.close()
            continue
        except BindError:
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            raise BindError(exc.errno, f"cannot listen on {path}: {exc.strerror or exc}") from None
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        sock.setblocking(False)
        sock.listen(1024)
        return sock
    raise BindError(errno.EADDRINUSE,
                    f"cannot listen on {path}: keeps being recreated by another process")


def _remove_stale(path):
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise BindError(errno.EEXIST, f"cannot listen on {path}: exists and is not a socket")
    busy = _in_use(path)
    if busy:
        raise BindError(errno.EADDRINUSE, f"cannot listen on {path}: {busy}")
    log.warning("removing stale socket %s", path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
