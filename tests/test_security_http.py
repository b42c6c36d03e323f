"""Issue 12, attacks 7 and 9, run for real against a `wrapctl daemon` with the loopback
[inet_http_server] of examples/supervisord.conf (no credentials):
- a cross-site page POSTs to /RPC2 (text/plain, a form, no type, a foreign or null Origin);
- a page on a name the attacker re-points at 127.0.0.1 (DNS rebinding) asks for the UI,
  its CSRF token, the API, and tries a UI action;
- hundreds of idle (and slowloris) connections try to lock every client out.
Each fails, and supervisorctl, xmlrpc.client and the UI's own requests keep working."""
import os
import re
import resource
import selectors
import socket
import subprocess
import sys
import time
import xmlrpc.client

import pytest

from harness import Daemon, nobody_or_skip
from wrapctl.rpc.guard import HostRule, split_authority

DEADLINE = 30
EVIL = "http://evil.example"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PROGRAMS = """\
[program:victim]
command=sleep 100000
startsecs=0
"""


@pytest.fixture
def target(tmp_path):
    """A daemon whose API is on its unix socket (the harness's own channel) and on
    127.0.0.1:PORT without credentials, as examples/supervisord.conf has it."""
    port = free_port()
    d = Daemon("wrapctl", tmp_path / "d")
    d.start(f"[inet_http_server]\nport=127.0.0.1:{port}\n\n" + PROGRAMS)
    d.port = port
    d.wait_state("victim", "RUNNING")
    try:
        yield d
    finally:
        d.stop()


def exchange(port, data, source=None):
    """Send raw bytes to 127.0.0.1:port, read until the server closes: (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE,
                                  source_address=source) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
    head, _, body = out.partition(b"\r\n\r\n")
    status = int(head.split()[1]) if head.startswith(b"HTTP/1.1 ") else None
    return status, body


def request(method, path, host, headers=(), body=b""):
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


STOP = xmlrpc.client.dumps(("victim",), "supervisor.stopProcess").encode()


def still_running(d):
    info = d.info("victim")  # over the unix socket: the trusted channel
    return info["statename"] == "RUNNING"


# ---- cross-site POSTs to /RPC2 ------------------------------------------------------------

CROSS_SITE = [
    # what a page on another site can send without a CORS preflight
    ("text/plain", [("Content-Type", "text/plain;charset=UTF-8"), ("Origin", EVIL)]),
    ("form", [("Content-Type", "application/x-www-form-urlencoded"), ("Origin", EVIL)]),
    ("multipart", [("Content-Type", "multipart/form-data; boundary=x"), ("Origin", EVIL)]),
    ("blob without type", [("Origin", EVIL), ("Sec-Fetch-Site", "cross-site")]),
    ("no-referrer page", [("Content-Type", "text/plain"), ("Origin", "null")]),
    # an old browser that names no Origin still declares its form body
    ("form, no Origin", [("Content-Type", "text/plain")]),
    ("typeless, no Origin", [("Sec-Fetch-Mode", "no-cors"), ("Sec-Fetch-Site", "cross-site")]),
    # even had a preflight gone through, the foreign Origin is refused
    ("text/xml from evil", [("Content-Type", "text/xml"), ("Origin", EVIL)]),
]


@pytest.mark.timeout(90)
def test_cross_site_post_to_rpc2_does_not_stop_a_process(target):
    host = f"127.0.0.1:{target.port}"
    for what, headers in CROSS_SITE:
        status, body = exchange(target.port, request("POST", "/RPC2", host, headers, STOP))
        assert status in (403, 415), (what, status, body)
        assert still_running(target), what
    # what supervisorctl and xmlrpc.client send is served; so is a same-origin page's call
    for headers in ([("Content-Type", "text/xml")],
                    [("Content-Type", "text/xml; charset=utf-8"),
                     ("Origin", f"http://{host}")],
                    [("Content-Type", "application/xml")]):
        status, body = exchange(target.port, request(
            "POST", "/RPC2", host, headers, xmlrpc.client.dumps((), "supervisor.getState")
            .encode()))
        assert status == 200 and b"RUNNING" in body, (headers, body)
    status, body = exchange(target.port, request("POST", "/RPC2", host,
                                                 [("Content-Type", "text/xml")], STOP))
    assert status == 200 and b"<boolean>1</boolean>" in body
    target.wait_state("victim", "STOPPED")


# ---- DNS rebinding: the attacker's own name, resolving to 127.0.0.1 ------------------------

@pytest.mark.timeout(90)
def test_foreign_host_gets_no_page_no_token_no_api(target):
    port = target.port
    evil = f"evil.example:{port}"
    same_origin = [("Origin", f"http://{evil}")]   # as the browser sees it after rebinding
    for method, path, headers, body in (
            ("GET", "/", (), b""),
            ("GET", "/index.html", same_origin, b""),
            ("GET", "/ui/status", (), b""),
            ("GET", "/ui/events", (), b""),
            ("GET", "/logtail/victim", (), b""),
            ("POST", "/RPC2", [("Content-Type", "text/xml")] + same_origin, STOP),
            ("POST", "/ui/action", [("Content-Type", "application/json"),
                                    ("X-CSRF-Token", "guess")] + same_origin,
             b'{"action":"stop","target":"victim"}')):
        status, reply = exchange(port, request(method, path, evil, headers, body))
        assert status == 421, (path, status, reply)
        assert b"csrf" not in reply.lower() and b"victim" not in reply, reply
    assert still_running(target)
    # its own names are served
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LocalHost:{port}",
                 f"[::1]:{port}"):
        status, reply = exchange(port, request("GET", "/", host))
        assert status == 200 and b'name="csrf-token"' in reply, host
    # the right name on the wrong port (another local service's origin) is not
    assert exchange(port, request("GET", "/", f"127.0.0.1:{port + 1}"))[0] == 421


def _token(port):
    status, reply = exchange(port, request("GET", "/", f"127.0.0.1:{port}"))
    assert status == 200
    return re.search(rb'name="csrf-token" content="([^"]+)"', reply).group(1).decode()


@pytest.mark.timeout(90)
def test_ui_action_from_a_foreign_page_fails(target):
    port = target.port
    token = _token(port)   # even with the real token in hand
    payload = b'{"action":"stop","target":"victim"}'
    for host, origin in ((f"127.0.0.1:{port}", EVIL),
                         (f"127.0.0.1:{port}", "null"),
                         (f"127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"),
                         (f"evil.example:{port}", f"http://evil.example:{port}")):
        status, _ = exchange(port, request(
            "POST", "/ui/action", host, [("Content-Type", "application/json"),
                                         ("X-CSRF-Token", token), ("Origin", origin)], payload))
        assert status in (403, 421), (host, origin, status)
        assert still_running(target)
    # the page's own request (what app.js sends from http://127.0.0.1:PORT/)
    status, reply = exchange(port, request(
        "POST", "/ui/action", f"127.0.0.1:{port}",
        [("Content-Type", "application/json"), ("X-CSRF-Token", token),
         ("Origin", f"http://127.0.0.1:{port}"), ("Sec-Fetch-Site", "same-origin")], payload))
    assert status == 200 and b'"ok":true' in reply, reply
    target.wait_state("victim", "STOPPED")


# ---- the clients that must keep working ------------------------------------------------------

def _supervisorctl(url, *args):
    return subprocess.run([sys.executable, "-m", "supervisor.supervisorctl", "-s", url, *args],
                          capture_output=True, text=True, timeout=DEADLINE)


@pytest.mark.timeout(120)
def test_cli_clients_still_work(target):
    port = target.port
    for url in (f"http://127.0.0.1:{port}", f"http://localhost:{port}", target.url):
        r = _supervisorctl(url, "status")
        assert r.returncode == 0 and "victim" in r.stdout and "RUNNING" in r.stdout, \
            (url, r.stdout, r.stderr)
    url = f"http://127.0.0.1:{port}"
    r = _supervisorctl(url, "stop", "victim")
    assert "victim: stopped" in r.stdout, r.stdout + r.stderr
    r = _supervisorctl(url, "start", "victim")
    assert "victim: started" in r.stdout, r.stdout + r.stderr
    r = _supervisorctl(url, "tail", "victim")   # /logtail through supervisor's http_client
    assert r.returncode == 0, r.stdout + r.stderr
    with xmlrpc.client.ServerProxy(f"http://localhost:{port}/RPC2") as proxy:
        assert proxy.supervisor.getState()["statename"] == "RUNNING"
    r = subprocess.run([sys.executable, "-m", "wrapctl", "-s", url, "status"],
                       capture_output=True, text=True, timeout=DEADLINE)
    assert "victim" in r.stdout and "RUNNING" in r.stdout, r.stdout + r.stderr


# ---- connection floods ---------------------------------------------------------------------

def _room_for(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 200
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {want}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _open_idle(port, n, source=None, partial=b""):
    """n connections that send at most a partial request head and then nothing."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.settimeout(DEADLINE)
        if source:
            s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        if partial:
            s.sendall(partial)
        socks.append(s)
    return socks


def _wait_all_closed(socks, deadline):
    """Until the server has closed every one of socks (EOF or reset); how many stayed."""
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    open_ = len(socks)
    end = time.monotonic() + deadline
    while open_ and time.monotonic() < end:
        for key, _ in sel.select(max(0.0, end - time.monotonic())):
            try:
                data = key.fileobj.recv(65536)
            except ConnectionError:
                data = b""
            if not data:
                sel.unregister(key.fileobj)
                open_ -= 1
    sel.close()
    return open_


class _Timeout(xmlrpc.client.Transport):
    def __init__(self, timeout):
        super().__init__()
        self.timeout = timeout

    def make_connection(self, host):
        conn = super().make_connection(host)
        conn.timeout = self.timeout
        return conn


def legit_call(port, timeout=10):
    """A client call that must get through within `timeout` s."""
    proxy = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{port}/RPC2",
                                      transport=_Timeout(timeout))
    with proxy:
        return proxy.supervisor.getState()["statename"]


@pytest.mark.timeout(120)
def test_idle_connection_flood_locks_nobody_out(target):
    port = target.port
    _room_for(700)
    idle = _open_idle(port, 550)
    slow = _open_idle(port, 50, partial=f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-"
                      .encode())   # slowloris: a head that never ends
    try:
        started = time.monotonic()
        assert legit_call(port) == "RUNNING"
        assert time.monotonic() - started < 10
        r = _supervisorctl(f"http://127.0.0.1:{port}", "status")
        assert r.returncode == 0 and "RUNNING" in r.stdout, r.stdout + r.stderr
        # none of the idle ones is kept: all closed within seconds (head_timeout), not 30 s
        assert _wait_all_closed(idle + slow, 20) == 0
        assert legit_call(port) == "RUNNING"
    finally:
        for s in idle + slow:
            s.close()


@pytest.mark.timeout(120)
def test_flood_from_one_peer_does_not_evict_another(target):
    """The whole of 127.0.0.0/8 is loopback: 127.0.0.2 plays another machine."""
    port = target.port
    _room_for(900)
    flood = _open_idle(port, 500, source="127.0.0.2")
    try:
        # a client that is slow to send its request, while the flood goes on
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as s:
            head = (b"POST /RPC2 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: text/xml\r\n"
                    % port)
            s.sendall(head)
            flood += _open_idle(port, 300, source="127.0.0.2")
            body = xmlrpc.client.dumps((), "supervisor.getState").encode()
            s.sendall(b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 200 ") and b"RUNNING" in reply, reply
    finally:
        for s in flood:
            s.close()


# ---- the Host rule itself --------------------------------------------------------------------

def test_host_rule():
    lo = HostRule("127.0.0.1", [("127.0.0.1", 9001)])
    for ok in ("127.0.0.1:9001", "localhost:9001", "[::1]:9001", "LOCALHOST.:9001", None):
        assert lo.refusal(ok) is None, ok
    for bad in ("evil.example:9001", "127.0.0.1:9002", "127.0.0.1", "localhost:", "x:y",
                "[::1", "", "127.0.0.1.evil.example:9001"):
        assert lo.refusal(bad), bad
    named = HostRule("ctl.example", [("10.1.2.3", 9001)])
    assert named.refusal("ctl.example:9001") is None and named.refusal("10.1.2.3:9001") is None
    assert named.refusal("other.example:9001")
    on80 = HostRule("localhost", [("127.0.0.1", 80), ("::1", 80)])
    assert on80.refusal("localhost") is None and on80.refusal("[::1]") is None
    for wildcard in (None, "", "0.0.0.0", "::"):   # credentials are mandatory there
        assert HostRule(wildcard, [("0.0.0.0", 9001)]).refusal("anything:1") is None
    assert split_authority("[::FFFF:127.0.0.1]:80") == ("::ffff:7f00:1", 80)


# ---- a unix socket others may use: a per-uid budget -------------------------------------------

FLOOD_AS_NOBODY = """\
import socket, sys
socks = []
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    socks.append(s)
print('ready', flush=True)
sys.stdin.read()
"""


@pytest.mark.timeout(120)
def test_unix_socket_flood_by_another_user_locks_root_out_of_nothing(tmp_path, open_tmp):
    nobody_or_skip()
    _room_for(700)
    d = Daemon("wrapctl", tmp_path / "d")
    d.sock = os.path.join(open_tmp, "s.sock")
    d.write(PROGRAMS)
    with open(d.conf) as f:   # a group-shared socket, as chmod=0777 setups have
        text = f.read().replace(f"file={d.sock}\n", f"file={d.sock}\nchmod=0777\n", 1)
    with open(d.conf, "w") as f:
        f.write(text)
    d.start()
    flood = subprocess.Popen(["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c",
                              FLOOD_AS_NOBODY, d.sock, "600"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert flood.stdout.readline() == "ready\n"
        started = time.monotonic()
        assert d.rpc().getState()["statename"] == "RUNNING"   # root, over the same socket
        assert time.monotonic() - started < 10
        r = _supervisorctl(d.url, "status")
        assert r.returncode == 0 and "RUNNING" in r.stdout, r.stdout + r.stderr
    finally:
        flood.stdin.close()
        try:
            flood.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            flood.kill()
            flood.wait()
        flood.stdout.close()
        d.stop()


# ---- the admitted budget: idle keep-alive connections make room ---------------------------------

@pytest.mark.timeout(60)
def test_full_budget_lets_the_longest_idle_connection_go():
    import asyncio
    import threading
    from wrapctl.rpc.dispatch import Dispatcher
    from wrapctl.rpc.http import HTTPServer

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coro):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(DEADLINE)

    async def start():
        srv = HTTPServer(Dispatcher().handle, max_connections=2, max_connections_per_peer=2)
        return srv, (await srv.add_tcp("127.0.0.1", 0))[1]
    srv, port = run(start())
    body = xmlrpc.client.dumps((), "system.listMethods").encode()
    call = request("POST", "/RPC2", f"127.0.0.1:{port}", [("Content-Type", "text/xml")],
                   body).replace(b"Connection: close\r\n", b"")
    kept = []

    def answer(s):
        """One whole response on a kept-alive connection."""
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(65536)
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
        while len(rest) < length:
            rest += s.recv(65536)
        return head
    try:
        for _ in range(2):   # two admitted clients, idle between calls (keep-alive)
            s = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
            s.sendall(call)
            assert answer(s).startswith(b"HTTP/1.1 200 ")
            kept.append(s)
        assert exchange(port, call.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
                        )[0] == 200   # a third gets in ...
        assert kept[0].recv(100) == b""   # ... and the longest idle one was let go
        kept[1].sendall(call)
        assert answer(kept[1]).startswith(b"HTTP/1.1 200 ")
    finally:
        for s in kept:
            s.close()
        run(srv.close())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(DEADLINE)
        loop.close()


@pytest.mark.timeout(60)
def test_refusals_reach_the_main_log(target):
    """A refused request is one line in the main log (rotated, read by the operator), not
    on a stderr that is /dev/null once the daemon runs in the background."""
    status, _ = exchange(target.port, f"GET / HTTP/1.1\r\nHost: evil.example:{target.port}\r\n"
                                      "Connection: close\r\n\r\n".encode())
    assert status == 421
    hits = target.wait_log(r"^refused GET / from 127\.0\.0\.1")
    assert len(hits) == 1 and hits[0][1] == "WARN", hits
