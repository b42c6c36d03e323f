"""The HTTP server on real sockets, driven by real clients: supervisor's own transport
(as supervisorctl builds it), the real supervisorctl program, our client, raw sockets."""
import asyncio
import hashlib
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import xmlrpc.client

import pytest

from supervisor.xmlrpc import SupervisorTransport
from wrapctl.rpc.client import ClientError, make_proxy, open_stream
from wrapctl.rpc.dispatch import Dispatcher
from wrapctl.rpc.faults import Faults, RPCError
from wrapctl.rpc.http import BindError, HTTPServer, logtail_headers, parse_logtail_path

DEADLINE = 20  # generous: the machine is shared


class LoopThread:
    """An asyncio loop in a thread, so blocking clients can run in the test's thread."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout=DEADLINE):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(DEADLINE)
        self.loop.close()


class FakeSupervisor:
    """Just enough of supervisor.* for supervisorctl's status/version/tail -f."""

    def getVersion(self):
        return "3.0"

    def getAPIVersion(self):
        return "3.0"

    def getSupervisorVersion(self):
        return "4.3.0"

    def getState(self):
        return {"statecode": 1, "statename": "RUNNING"}

    def getAllProcessInfo(self):
        now = int(time.time())
        return [{"name": "web", "group": "web", "statename": "RUNNING", "state": 20,
                 "description": "pid 4242, uptime 0:00:05", "pid": 4242, "start": now - 5,
                 "stop": 0, "now": now, "spawnerr": "", "exitstatus": 0, "logfile": "",
                 "stdout_logfile": "", "stderr_logfile": ""}]

    def getProcessInfo(self, name):
        if name != "web":
            raise RPCError(Faults.BAD_NAME, name)
        return self.getAllProcessInfo()[0]

    async def echo(self, *args):
        await asyncio.sleep(0)
        return list(args)

    def crash(self):
        raise ZeroDivisionError("boom")


class Streams:
    """GET /logtail/NAME: three lines, then more on demand, until the client leaves."""

    def __init__(self):
        self.more = None
        self.cancelled = threading.Event()
        self.finite = False

    async def handler(self, request, response):
        name, channel = parse_logtail_path(request.path)
        if name != "web":
            await response.send(404, "No such process\n")
            return
        self.more = asyncio.Event()
        try:
            await response.start(200, logtail_headers(time.time()))
            for i in range(3):
                await response.write(f"{channel} line {i}\n".encode())
            if self.finite:
                return
            await self.more.wait()
            await response.write(b"more\n")
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


@pytest.fixture
def loop_thread():
    lt = LoopThread()
    yield lt
    lt.stop()


@pytest.fixture
def sockdir():
    # unix socket paths must stay under 108 bytes: pytest's tmp_path can be longer
    d = tempfile.mkdtemp(prefix="wrapctl-rpc-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def streams():
    return Streams()


@pytest.fixture
def serve(loop_thread, sockdir, streams):
    started = []

    def start(unix=True, **kw):
        d = Dispatcher()
        d.register_instance("supervisor", FakeSupervisor())

        async def go():
            srv = HTTPServer(d.handle, **kw)
            srv.add_get("/logtail/", streams.handler)
            path = await srv.add_unix(os.path.join(sockdir, "s.sock")) if unix else None
            host, port = await srv.add_tcp("127.0.0.1", 0)
            return srv, path, (host, port)
        srv, path, addr = loop_thread.run(go())
        started.append(srv)
        return srv, path, addr

    yield start
    for srv in started:
        loop_thread.run(srv.close())


def supervisor_proxy(url, username=None, password=None):
    """Exactly what supervisorctl's ClientOptions.getServerProxy builds."""
    return xmlrpc.client.ServerProxy(
        "http://127.0.0.1", transport=SupervisorTransport(username, password, url))


def raw(target, data, timeout=DEADLINE, shut=False):
    """Send bytes, read until the server closes; returns everything received."""
    fam = socket.AF_UNIX if isinstance(target, str) else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(target)
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out


def post(body, headers=b""):
    return (b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + headers
            + b"Content-Length: %d\r\n\r\n" % len(body) + body)


# --- supervisor's client transport and our proxy -----------------------------------------

def test_supervisor_transport_over_unix_socket_keeps_one_connection(serve):
    srv, path, _ = serve()
    proxy = supervisor_proxy("unix://" + path)
    assert proxy.supervisor.getVersion() == "3.0"
    sock = proxy._ServerProxy__transport.connection.sock
    for i in range(20):
        assert proxy.supervisor.echo(i, "x") == [i, "x"]
    assert proxy._ServerProxy__transport.connection.sock is sock  # persistent connection
    assert proxy.system.listMethods()[:3] == ["supervisor.crash", "supervisor.echo",
                                              "supervisor.getAPIVersion"]
    with pytest.raises(xmlrpc.client.Fault) as info:
        proxy.supervisor.getProcessInfo("nope")
    assert (info.value.faultCode, info.value.faultString) == (10, "BAD_NAME: nope")
    assert proxy.supervisor.getState() == {"statecode": 1, "statename": "RUNNING"}


def test_supervisor_transport_over_tcp(serve):
    _, _, (host, port) = serve(unix=False)
    proxy = supervisor_proxy(f"http://{host}:{port}")
    assert proxy.supervisor.getSupervisorVersion() == "4.3.0"
    assert proxy.system.multicall([{"methodName": "supervisor.getVersion"},
                                   {"methodName": "supervisor.nope"}]) == [
        "3.0", {"faultCode": 1, "faultString": "UNKNOWN_METHOD"}]


def test_method_crash_is_http_500_like_supervisord(serve):
    _, path, _ = serve()
    proxy = supervisor_proxy("unix://" + path)
    with pytest.raises(xmlrpc.client.ProtocolError) as info:
        proxy.supervisor.crash()
    assert info.value.errcode == 500
    assert proxy.supervisor.getVersion() == "3.0"  # transport recovers


@pytest.mark.parametrize("stored", ["s3cret", "{SHA}" + hashlib.sha1(b"s3cret").hexdigest()])
def test_basic_auth_plain_and_sha(serve, stored):
    _, path, (host, port) = serve(username="admin", password=stored)
    for url in ("unix://" + path, f"http://{host}:{port}"):
        assert supervisor_proxy(url, "admin", "s3cret").supervisor.getVersion() == "3.0"
        assert make_proxy(url, "admin", "s3cret").supervisor.getVersion() == "3.0"
        for user, pw in (("admin", "wrong"), ("root", "s3cret"), (None, None)):
            with pytest.raises(xmlrpc.client.ProtocolError) as info:
                supervisor_proxy(url, user, pw).supervisor.getVersion()
            assert info.value.errcode == 401
            with pytest.raises(xmlrpc.client.ProtocolError):
                make_proxy(url, user, pw).supervisor.getVersion()
    # the stored hash itself is not a password
    if stored.startswith("{SHA}"):
        with pytest.raises(xmlrpc.client.ProtocolError):
            make_proxy("unix://" + path, "admin", stored).supervisor.getVersion()


def test_auth_challenge_and_guarded_get(serve):
    _, path, _ = serve(username="u", password="p")
    reply = raw(path, b"GET /logtail/web HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 401 ")
    assert b'WWW-Authenticate: Basic realm="default"' in reply
    bad = raw(path, b"GET /logtail/web HTTP/1.1\r\nHost: x\r\nAuthorization: Basic !!!\r\n\r\n")
    assert bad.startswith(b"HTTP/1.1 400 ")
    with pytest.raises(ClientError) as info:
        next(open_stream("unix://" + path, "/logtail/web", "u", "nope"))
    assert info.value.status == 401
    chunks = open_stream("unix://" + path, "/logtail/web", "u", "p")
    assert next(chunks).startswith(b"stdout line 0")
    chunks.close()


def test_our_proxy_urls_and_types(serve):
    _, path, (host, port) = serve()
    for url in ("unix://" + path, f"http://{host}:{port}", f"{host}:{port}"):
        proxy = make_proxy(url, timeout=DEADLINE)
        assert proxy.supervisor.echo(b"\x00bin", 2 ** 31 - 1, True, None.__class__.__name__) == [
            b"\x00bin", 2 ** 31 - 1, True, "NoneType"]
        assert proxy.supervisor.echo("caf\xe9 \U0001f600\r\n") == ["caf\xe9 \U0001f600\r\n"]


def test_client_errors_are_one_line(sockdir):
    missing = "unix://" + os.path.join(sockdir, "nothing.sock")
    with pytest.raises(ClientError) as info:
        make_proxy(missing).supervisor.getVersion()
    assert str(info.value) == f"cannot connect to {missing}: No such file or directory"
    assert info.value.errno == 2
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ClientError) as info:
        make_proxy(f"http://127.0.0.1:{port}").supervisor.getVersion()
    assert "Connection refused" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ClientError):
        list(open_stream(missing, "/logtail/x"))
    with pytest.raises(ClientError):
        make_proxy("ftp://host/x")


# --- streaming ------------------------------------------------------------------------------

def test_stream_arrives_as_written_and_handler_stops_when_client_leaves(serve, loop_thread,
                                                                       streams):
    _, path, _ = serve()
    chunks = open_stream("unix://" + path, "/logtail/web/stderr", timeout=DEADLINE)
    got = b""
    while got.count(b"\n") < 3:
        got += next(chunks)
    assert got == b"stderr line 0\nstderr line 1\nstderr line 2\n"
    loop_thread.loop.call_soon_threadsafe(streams.more.set)
    assert next(chunks) == b"more\n"  # pushed while the response is still open
    chunks.close()
    assert streams.cancelled.wait(DEADLINE)


def test_stream_headers_like_supervisor_logtail(serve):
    _, _, addr = serve()
    s = socket.create_connection(addr, timeout=DEADLINE)
    s.sendall(b"GET /logtail/web HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % addr[1])
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    s.close()
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    for h in (b"Transfer-Encoding: chunked", b"Content-Type: text/plain;charset=utf-8",
              b"X-Accel-Buffering: no", b"Last-Modified: "):
        assert h in head


def test_finished_stream_keeps_connection_usable(serve, streams):
    streams.finite = True
    _, _, addr = serve()
    host = b"Host: localhost:%d\r\n" % addr[1]  # a TCP listener answers only its own names
    req = b"GET /logtail/web HTTP/1.1\r\n" + host + b"\r\n\r\n"  # + a stray CRLF, as supervisor does
    last = b"GET /logtail/nope HTTP/1.1\r\n" + host + b"Connection: close\r\n\r\n"
    reply = raw(addr, req + req + last)
    assert reply.count(b"HTTP/1.1 200 OK") == 2 and reply.count(b"0\r\n\r\n") == 2
    assert b"HTTP/1.1 404 Not Found" in reply


def test_supervisor_http_client_reads_the_stream(serve):
    """supervisorctl's tail -f client (supervisor.http_client), in process."""
    from supervisor import http_client
    from supervisor.medusa import asyncore_25 as asyncore
    _, path, _ = serve(username="u", password="p")

    class Collect(http_client.Listener):
        data = b""
        errors = []

        def feed(self, url, data):
            Collect.data += data

        def error(self, url, error):
            Collect.errors.append(error)

    socket_map = {}
    handler = http_client.HTTPHandler(Collect(), "u", "p", map=socket_map)
    handler.get("unix://" + path, "/logtail/web/stdout")
    deadline = time.monotonic() + DEADLINE
    while Collect.data.count(b"\n") < 3 and time.monotonic() < deadline and socket_map:
        asyncore.loop(timeout=0.2, map=socket_map, count=1)
    handler.close()
    assert Collect.errors == []
    assert Collect.data == b"stdout line 0\nstdout line 1\nstdout line 2\n"


# --- the real supervisorctl program ---------------------------------------------------------

def _ctl_conf(tmp_path, url, user="u", password="p"):
    conf = tmp_path / "ctl.conf"
    conf.write_text(f"[supervisorctl]\nserverurl = {url}\nusername = {user}\n"
                    f"password = {password}\n")
    return str(conf)


def _supervisorctl(conf, *args, **kw):
    return subprocess.run([sys.executable, "-m", "supervisor.supervisorctl", "-c", conf, *args],
                          capture_output=True, text=True, timeout=DEADLINE, **kw)


@pytest.mark.timeout(90)
def test_real_supervisorctl_status_version_and_shell(serve, tmp_path):
    _, path, (host, port) = serve(username="u", password="{SHA}"
                                  + hashlib.sha1(b"p").hexdigest())
    for url in ("unix://" + path, f"http://{host}:{port}"):
        conf = _ctl_conf(tmp_path, url)
        r = _supervisorctl(conf, "status")
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.split()[:2] == ["web", "RUNNING"]
        r = _supervisorctl(conf, "version")
        assert (r.returncode, r.stdout.strip()) == (0, "4.3.0")
        # interactive shell: several commands over the transport's kept-alive connection
        r = _supervisorctl(conf, input="status\nversion\nstatus\n")
        # (the shell shows status once on start)
        assert r.stdout.count("RUNNING") == 3 and "4.3.0" in r.stdout, r.stdout + r.stderr
    r = _supervisorctl(_ctl_conf(tmp_path, "unix://" + path, password="bad"), "status")
    assert "Server requires authentication" in r.stdout + r.stderr


@pytest.mark.timeout(90)
def test_real_supervisorctl_tail_f(serve, tmp_path, streams):
    _, path, _ = serve(username="u", password="p")
    conf = _ctl_conf(tmp_path, "unix://" + path)
    proc = subprocess.Popen([sys.executable, "-u", "-m", "supervisor.supervisorctl", "-c", conf,
                             "tail", "-f", "web"], stdout=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(4)]
        assert lines == ["==> Press Ctrl-C to exit <==\n", "stdout line 0\n",
                         "stdout line 1\n", "stdout line 2\n"]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert streams.cancelled.wait(DEADLINE)  # server noticed the client left


# --- hostile and broken requests ------------------------------------------------------------

def test_broken_xml_is_http_400_like_supervisord(serve):
    _, path, _ = serve()
    for body in (b"not xml", b"<methodCall><params/></methodCall>",
                 b'<!DOCTYPE x [<!ENTITY a "b">]><methodCall/>'):
        reply = raw(path, post(body))
        assert reply.startswith(b"HTTP/1.1 400 Bad Request"), reply


@pytest.mark.timeout(30)
def test_billion_laughs_and_deep_nesting_over_http(serve):
    from tests.test_rpc_codec import BILLION_LAUGHS
    _, path, _ = serve()
    assert raw(path, post(BILLION_LAUGHS)).startswith(b"HTTP/1.1 400 ")
    deep = (b"<methodCall><methodName>a.b</methodName><params><param>"
            + b"<value><array><data>" * 100000)
    assert raw(path, post(deep)).startswith(b"HTTP/1.1 400 ")


def test_wrong_types_are_faults_not_crashes(serve):
    _, path, _ = serve()
    proxy = make_proxy("unix://" + path)
    with pytest.raises(xmlrpc.client.Fault) as info:
        proxy.supervisor.getProcessInfo({"a": [1]})
    assert info.value.faultCode == Faults.BAD_NAME
    with pytest.raises(xmlrpc.client.Fault) as info:
        proxy.supervisor.getVersion(1, 2, 3)
    assert info.value.faultCode == Faults.INCORRECT_PARAMETERS
    with pytest.raises(xmlrpc.client.Fault) as info:
        proxy.supervisor._private()
    assert info.value.faultCode == Faults.UNKNOWN_METHOD


def test_default_body_limit_is_4_mib(serve):
    _, path, _ = serve()
    over = b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (4 * 2 ** 20 + 1)
    assert raw(path, over).startswith(b"HTTP/1.1 413 ")


def test_stdlib_server_proxy_over_tcp(serve):
    _, _, (host, port) = serve(unix=False)
    with xmlrpc.client.ServerProxy(f"http://{host}:{port}/RPC2") as proxy:
        assert proxy.supervisor.getVersion() == "3.0"
        assert proxy.supervisor.echo([1, {"a": 2.5}]) == [[1, {"a": 2.5}]]


def test_body_limit_413_without_reading_it(serve):
    _, path, _ = serve(max_body=1000)
    head = b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n"
    assert raw(path, head).startswith(b"HTTP/1.1 413 ")
    chunked = (b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"400\r\n" + b"x" * 1024 + b"\r\n") * 2
    assert raw(path, chunked).startswith(b"HTTP/1.1 413 ")


def test_header_limit(serve):
    _, path, _ = serve()
    huge = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 100000 + b"\r\n\r\n"
    assert raw(path, huge).startswith(b"HTTP/1.1 431 ")


def test_garbage_request_line(serve):
    _, path, _ = serve()
    assert raw(path, b"\x16\x03\x01 hello\r\n\r\n").startswith(b"HTTP/1.1 400 ")


@pytest.mark.timeout(60)
def test_half_request_is_dropped_after_request_timeout(serve):
    _, path, _ = serve(request_timeout=0.5)
    started = time.monotonic()
    reply = raw(path, b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Le")
    assert reply.startswith(b"HTTP/1.1 408 ") or reply == b""
    reply = raw(path, b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n<met")
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert raw(path, b"") == b""  # connect and say nothing
    assert time.monotonic() - started < DEADLINE


@pytest.mark.timeout(60)
def test_idle_keepalive_connection_is_closed_after_idle_timeout(serve):
    _, path, _ = serve(idle_timeout=0.5)
    body = xmlrpc.client.dumps((), "supervisor.getVersion").encode()
    req = (b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    reply = raw(path, req)  # raw() reads until the server closes
    assert reply.startswith(b"HTTP/1.1 200 OK") and reply.count(b"HTTP/1.1") == 1


def test_routing_errors(serve):
    _, path, _ = serve()
    assert raw(path, b"GET /RPC2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith(
        b"HTTP/1.1 405 ")
    assert raw(path, b"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
               ).startswith(b"HTTP/1.1 404 ")
    assert raw(path, b"POST /logtail/web HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
               b"Connection: close\r\n\r\n").startswith(b"HTTP/1.1 405 ")
    reply = raw(path, b"GET /logtail/ghost HTTP/1.0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 404 ")


def test_http10_client_gets_close_delimited_stream(serve, streams):
    streams.finite = True
    _, path, _ = serve()
    reply = raw(path, b"GET /logtail/web HTTP/1.0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200 OK")
    assert reply.endswith(b"stdout line 0\nstdout line 1\nstdout line 2\n")


def test_connection_limit(serve):
    srv, path, _ = serve(max_connections=2)
    held = []
    try:
        for _ in range(2):
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            s.sendall(b"GET /logtail/web HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(DEADLINE)
            assert s.recv(12) == b"HTTP/1.1 200"
            held.append(s)
        # every admitted connection is busy streaming: nothing to evict, so a refusal
        assert raw(path, b"GET /logtail/web HTTP/1.1\r\nHost: x\r\n\r\n").startswith(
            b"HTTP/1.1 503 ")
    finally:
        for s in held:
            s.close()


# --- unix socket file handling --------------------------------------------------------------

def test_unix_socket_mode_owner_stale_and_cleanup(loop_thread, sockdir):
    path = os.path.join(sockdir, "ctl.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()  # a socket file nobody listens on, as left by a killed daemon

    async def go():
        srv = HTTPServer(Dispatcher().handle)
        await srv.add_unix(path, mode=0o770, owner=(os.getuid(), os.getgid()))
        return srv
    srv = loop_thread.run(go())
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o770
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    assert os.listdir(sockdir) == ["ctl.sock"]  # no temp name left behind
    assert make_proxy("unix://" + path).system.listMethods()

    async def second():
        other = HTTPServer(Dispatcher().handle)
        try:
            await other.add_unix(path)
        finally:
            await other.close()
    with pytest.raises(BindError) as info:  # a live server's socket is never taken over
        loop_thread.run(second())
    assert "another server is running" in str(info.value)
    assert make_proxy("unix://" + path).system.listMethods()
    loop_thread.run(srv.close())
    assert not os.path.exists(path)


def test_unix_socket_refuses_to_replace_a_regular_file(loop_thread, sockdir):
    path = os.path.join(sockdir, "notasocket")
    with open(path, "w") as f:
        f.write("keep me")

    with pytest.raises(BindError) as info:
        loop_thread.run(_bind_to(path))
    assert "not a socket" in str(info.value)
    assert open(path).read() == "keep me"
    with pytest.raises(BindError) as info:
        loop_thread.run(_bind_to(os.path.join(sockdir, "missing-dir", "s.sock")))
    assert "No such file or directory" in str(info.value)


async def _bind_to(path):
    srv = HTTPServer(Dispatcher().handle)
    try:
        await srv.add_unix(path)
    finally:
        await srv.close()


def test_tcp_port_in_use(serve, loop_thread):
    _, _, (host, port) = serve(unix=False)

    async def go():
        srv = HTTPServer(Dispatcher().handle)
        try:
            await srv.add_tcp(host, port)
        finally:
            await srv.close()
    with pytest.raises(BindError) as info:
        loop_thread.run(go())
    assert f"{host}:{port}" in str(info.value)


def test_idle_server_schedules_no_timers(serve, loop_thread):
    """Event-driven: with no connection open the loop has nothing scheduled."""
    _, path, _ = serve()
    assert make_proxy("unix://" + path).supervisor.getVersion() == "3.0"
    deadline = time.monotonic() + DEADLINE

    async def scheduled():
        return [h for h in loop_thread.loop._scheduled if not h.cancelled()]
    while loop_thread.run(scheduled()) and time.monotonic() < deadline:
        time.sleep(0.1)  # the proxy's connection is closed when it is collected
    assert loop_thread.run(scheduled()) == []


def test_expect_100_continue(serve):
    _, path, _ = serve()
    body = xmlrpc.client.dumps((), "supervisor.getVersion").encode()
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(DEADLINE)
        s.connect(path)
        s.sendall(b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                  b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body))
        assert s.recv(100).startswith(b"HTTP/1.1 100 ")
        s.sendall(body)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 OK") and b"<string>3.0</string>" in reply


def test_pipelined_requests_answered_in_order(serve):
    _, path, _ = serve()
    reqs = b""
    for i in range(5):
        body = xmlrpc.client.dumps((i,), "supervisor.echo").encode()
        reqs += b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    reqs += b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    reply = raw(path, reqs)
    assert [reply.find(b"<int>%d</int>" % i) for i in range(5)] == sorted(
        reply.find(b"<int>%d</int>" % i) for i in range(5))
    assert reply.count(b"HTTP/1.1 200 OK") == 5 and reply.endswith(b"not found\n")
