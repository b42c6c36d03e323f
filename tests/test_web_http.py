"""The web UI over HTTP against a real `wrapctl daemon`: auth, CSRF, actions, the event
streams, idleness once no page is open, and the inet server's loopback rule."""
import base64
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from harness import ctx_switches, py, wait_for, wait_quiet

AUTH = ("admin", "s3cret")
DEADLINE = 30

HUP_PRINTER = py("import signal,sys; signal.signal(signal.SIGHUP, lambda *a: print('got HUP', "
                 "flush=True)); print('ready', flush=True); [signal.pause() for _ in iter(int, 1)]")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def inet(port, auth=True, host="127.0.0.1"):
    creds = f"username={AUTH[0]}\npassword={AUTH[1]}\n" if auth else ""
    return f"[inet_http_server]\nport={host}:{port}\n{creds}\n"


PROGRAMS = f"""\
[program:echo]
command={HUP_PRINTER}
startsecs=0

[group:pair]
programs=one,two

[program:one]
command=sleep 100000
startsecs=0

[program:two]
command=sleep 100000
startsecs=0
"""


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Web:
    def __init__(self, daemon, port):
        self.d = daemon
        self.port = port

    def request(self, method, path, body=None, headers=None, auth=AUTH):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=DEADLINE)
        hdrs = dict(headers or {})
        if auth:
            hdrs["Authorization"] = basic(*auth)
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def token(self):
        status, _, body = self.request("GET", "/")
        assert status == 200
        return re.search(rb'name="csrf-token" content="([^"]+)"', body).group(1).decode()

    def act(self, payload, token=None, headers=None):
        hdrs = {"X-CSRF-Token": token if token is not None else self.token()}
        hdrs.update(headers or {})
        status, _, body = self.request("POST", "/ui/action", payload, hdrs)
        return status, body

    def stream(self, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=DEADLINE)
        conn.request("GET", path, headers={"Authorization": basic(*AUTH)})
        r = conn.getresponse()
        return conn, r


def events(response):
    """(event, data) pairs from a text/event-stream, as they arrive."""
    name, data = None, []
    while True:
        line = response.readline()
        if not line:
            return
        line = line.decode().rstrip("\n")
        if not line:
            if name is not None:
                yield name, json.loads("\n".join(data))
            name, data = None, []
        elif line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])


def next_event(gen, want, pred=lambda d: True):
    for name, data in gen:
        if name == want and pred(data):
            return data
    raise AssertionError(f"stream ended before a {want} event")


@pytest.fixture
def web(wrapctld):
    port = free_port()
    d = wrapctld(inet(port) + PROGRAMS)
    for name in ("echo", "pair:one", "pair:two"):
        d.wait_state(name, "RUNNING")
    return Web(d, port)


# ---- auth and the page ----------------------------------------------------------------

def test_every_ui_route_needs_the_api_auth(web):
    for method, path in (("GET", "/"), ("GET", "/ui/status"), ("GET", "/ui/events"),
                         ("GET", "/ui/static/app.js"), ("GET", "/ui/log?target=echo"),
                         ("POST", "/ui/action")):
        status, headers, _ = web.request(method, path, auth=None)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Basic"), path
        status, _, _ = web.request(method, path, auth=("admin", "wrong"))
        assert status == 401, path


def test_page_is_self_contained_and_locked_down(web):
    status, headers, body = web.request("GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and headers["X-Frame-Options"] == "DENY"
    assert b"http://" not in body and b"https://" not in body   # no CDN: offline machines
    assert b"{{" not in body
    for src in re.findall(rb'(?:src|href)="(/ui/static/[^"]+)"', body):
        status, headers, asset = web.request("GET", src.decode())
        assert status == 200 and asset and b"https://" not in asset
    assert web.request("GET", "/ui/static/../routes.py")[0] == 404
    assert web.request("GET", "/nope")[0] == 404
    assert web.request("GET", "/ui/action")[0] == 405


def test_status_json_has_tree_cpu_and_rss(web):
    status, _, body = web.request("GET", "/ui/status")
    snap = json.loads(body)
    rows = {p["id"]: p for p in snap["processes"]}
    assert list(rows) == ["echo", "pair:one", "pair:two"] and snap["state"] == "RUNNING"
    one = rows["pair:one"]
    assert one["state"] == "RUNNING" and one["pid"] == web.d.info("pair:one")["pid"]
    assert one["rss"] > 0 and one["procs"] == 1 and one["cpu"] >= 0
    assert one["uptime"] >= 0 and one["exitstatus"] is None


# ---- CSRF and actions ------------------------------------------------------------------

def test_actions_need_the_csrf_token(web):
    payload = {"action": "stop", "target": "pair:one"}
    status, _, _ = web.request("POST", "/ui/action", payload)           # no token
    assert status == 403
    assert web.act(payload, token="x" * 43)[0] == 403                   # wrong token
    assert web.act(payload, token="")[0] == 403
    token = web.token()
    # right token from a foreign page (the browser names it in Origin)
    assert web.act(payload, token, {"Origin": "http://evil.example"})[0] == 403
    assert web.act(payload, token, {"Origin": "null"})[0] == 403
    assert web.d.info("pair:one")["statename"] == "RUNNING"
    status, body = web.act(payload, token, {"Origin": f"http://127.0.0.1:{web.port}"})
    assert status == 200
    assert json.loads(body) == {"results": [{"name": "pair:one", "ok": True, "message": "OK"}]}
    web.d.wait_state("pair:one", "STOPPED")
    assert web.token() == token          # one token per daemon


def test_action_requests_that_make_no_sense(web):
    token = web.token()
    assert web.act("not json", token)[0] == 400
    assert web.act(["stop"], token)[0] == 400
    assert web.act({"action": "stop"}, token)[0] == 400
    status, body = web.act({"action": "explode", "target": "echo"}, token)
    assert status == 400 and "unknown action" in json.loads(body)["error"]
    status, body = web.act({"action": "stop", "target": "ghost"}, token)
    assert status == 404 and "ghost" in json.loads(body)["error"]
    assert web.act({"action": "signal", "target": "echo"}, token)[0] == 400
    status, body = web.act({"action": "signal", "target": "echo", "signal": "NOPE"}, token)
    assert json.loads(body)["results"][0]["message"] == "BAD_SIGNAL: NOPE"
    assert web.act({"action": "x" * 5000, "target": "echo"}, token)[0] == 413


def test_actions_per_process_group_and_all(web):
    token = web.token()
    before = {n: web.d.info(n)["pid"] for n in ("pair:one", "pair:two")}
    status, body = web.act({"action": "restart", "target": "pair:*"}, token)
    assert status == 200
    assert [r["name"] for r in json.loads(body)["results"]] == ["pair:one", "pair:two"]
    for n in before:
        info = web.d.wait_state(n, "RUNNING")
        assert info["pid"] != before[n]

    results = json.loads(web.act({"action": "stop", "target": "*"}, token)[1])["results"]
    assert {r["name"] for r in results} == {"echo", "pair:one", "pair:two"}
    for n in ("echo", "pair:one", "pair:two"):
        web.d.wait_state(n, "STOPPED")
    # a refusal is a result, as the API's fault
    results = json.loads(web.act({"action": "stop", "target": "echo"}, token)[1])["results"]
    assert results == [{"name": "echo", "ok": False, "message": "NOT_RUNNING: echo"}]

    log = web.d.info("echo")["stdout_logfile"]
    with open(log, "ab") as f:
        f.write(b"old output\n")
    assert json.loads(web.act({"action": "clear", "target": "echo"}, token)[1])["results"][0]["ok"]
    assert os.path.getsize(log) == 0
    results = json.loads(web.act({"action": "clear", "target": "pair:*"}, token)[1])["results"]
    assert [r["ok"] for r in results] == [True, True]

    web.act({"action": "start", "target": "*"}, token)
    for n in ("echo", "pair:one", "pair:two"):
        web.d.wait_state(n, "RUNNING")
    # echo has its HUP handler once it says ready
    wait_for(lambda: b"ready" in open(log, "rb").read(), DEADLINE, "echo ready")
    results = json.loads(web.act({"action": "signal", "target": "echo", "signal": "HUP"},
                                 token)[1])["results"]
    assert results[0]["ok"]
    wait_for(lambda: b"got HUP" in open(log, "rb").read(), DEADLINE, "HUP handled")
    assert re.search(r"web: signal echo HUP from 127\.0\.0\.1:\d+",
                     open(web.d.mainlog).read())


def test_ui_on_the_unix_socket_shares_the_token(web):
    token = web.token()
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(DEADLINE)
        s.connect(web.d.sock)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 ") and token.encode() in data


# ---- server-sent events ----------------------------------------------------------------

def test_event_stream_pushes_state_changes_and_ticks(web):
    conn, r = web.stream("/ui/events")
    try:
        assert r.status == 200 and r.getheader("Content-Type").startswith("text/event-stream")
        gen = events(r)
        first = next_event(gen, "snapshot")
        assert [p["id"] for p in first["processes"]] == ["echo", "pair:one", "pair:two"]
        web.d.rpc().stopProcess("pair:two", False)
        stopping = next_event(gen, "process", lambda d: d["id"] == "pair:two")
        assert stopping["state"] == "STOPPING"
        stopped = next_event(gen, "process", lambda d: d["id"] == "pair:two")
        assert stopped["state"] == "STOPPED" and stopped["pid"] is None
        assert stopped["rss"] is None
        tick = next_event(gen, "snapshot")     # CPU/RSS refresh while the page is open
        rows = {p["id"]: p for p in tick["processes"]}
        assert rows["pair:two"]["state"] == "STOPPED" and rows["pair:one"]["rss"] > 0
        assert tick["now"] > first["now"]
    finally:
        conn.close()


def test_log_stream_has_history_then_new_output(web):
    log = web.d.info("echo")["stdout_logfile"]
    wait_for(lambda: os.path.getsize(log) > 0, DEADLINE, "echo's first line")
    conn, r = web.stream("/ui/log?target=echo")
    try:
        gen = events(r)
        assert "ready" in next_event(gen, "log")
        web.d.rpc().signalProcess("echo", "HUP")
        assert "got HUP" in next_event(gen, "log", lambda t: "got HUP" in t)
    finally:
        conn.close()
    # a group view merges its processes line by line, each named
    conn, r = web.stream("/ui/log?target=*")
    try:
        gen = events(r)
        next_event(gen, "log")
        web.d.rpc().signalProcess("echo", "HUP")
        assert next_event(gen, "log", lambda t: "got HUP" in t) == "echo | got HUP\n"
    finally:
        conn.close()
    assert web.request("GET", "/ui/log?target=ghost")[0] == 404
    assert web.request("GET", "/ui/log?target=echo&channel=fd3")[0] == 400


@pytest.mark.timeout(180)
def test_no_page_open_means_no_wakeups(web):
    from wrapctl.web.hub import INTERVAL
    conn, r = web.stream("/ui/events")
    gen = events(r)
    next_event(gen, "snapshot")
    next_event(gen, "snapshot")        # the refresh timer runs while the page is open
    conn.close()
    pid = web.d.proc.pid
    wait_quiet(pid)                    # the daemon has handled the closed connection
    before = ctx_switches(pid)
    time.sleep(INTERVAL * 1.5)         # longer than a refresh period
    assert ctx_switches(pid) == before


# ---- [inet_http_server] without credentials ---------------------------------------------

@pytest.mark.parametrize("host", ["0.0.0.0", "*", "::", "192.0.2.1", "example.com"])
def test_inet_without_credentials_beyond_loopback_refuses_to_start(tmp_path, host):
    port = free_port()
    conf = tmp_path / "supervisord.conf"
    # statefile=none: no fd holder, whose clean-up on a failed start is the core's business
    conf.write_text(f"[supervisord]\nlogfile={tmp_path}/main.log\npidfile={tmp_path}/d.pid\n"
                    f"statefile=none\n"
                    f"[inet_http_server]\nport={host}:{port}\n"
                    f"[program:x]\ncommand=sleep 100000\n")
    r = subprocess.run([sys.executable, "-m", "wrapctl", "daemon", "-n", "-c", str(conf)],
                       capture_output=True, text=True, timeout=DEADLINE)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert lines[0].startswith(f"wrapctl daemon: {conf}: [inet_http_server] port=")
    assert "refusing to serve without username/password beyond loopback" in lines[0]
    assert "running without any HTTP authentication" in (tmp_path / "main.log").read_text()
    assert not (tmp_path / "d.pid").exists()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.9.8.7", "localhost"])
def test_inet_without_credentials_on_loopback_starts_with_a_warning(wrapctld, host):
    port = free_port()
    d = wrapctld(inet(port, auth=False, host=host) + "[program:x]\ncommand=sleep 100000\n")
    addr = "127.9.8.7" if host == "127.9.8.7" else "127.0.0.1"

    def status():
        # the unix socket (which the harness waits for) may answer before a name is resolved
        conn = http.client.HTTPConnection(addr, port, timeout=DEADLINE)
        try:
            conn.request("GET", "/ui/status")
            return conn.getresponse().status
        except ConnectionRefusedError:
            return None
        finally:
            conn.close()
    assert wait_for(status, DEADLINE, "the inet server") == 200
    # supervisord says CRIT; on loopback wrapctl says WARN and who can control the daemon.
    assert f"WARN Server 'inet_http_server' running without any HTTP authentication " \
           f"checking on {host}:{port}: loopback only, every local user may control the " \
           "daemon" in open(d.mainlog).read()


def test_is_loopback():
    from wrapctl.rpc.server import is_loopback
    for host in ("127.0.0.1", "127.255.0.9", "::1", "[::1]", "localhost", "LOCALHOST",
                 "::ffff:127.0.0.1"):
        assert is_loopback(host), host
    for host in (None, "", "*", "0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "example.com",
                 "localhost.example.com"):
        assert not is_loopback(host), host


def test_hup_restart_ends_streams_and_keeps_the_token(web):
    token = web.token()
    conn, r = web.stream("/ui/events")
    gen = events(r)
    next_event(gen, "snapshot")
    web.d.signal(signal.SIGHUP)
    for _ in gen:           # the stream ends when the servers restart: the page reconnects
        pass
    conn.close()
    wait_for(lambda: _up(web), DEADLINE, "daemon back after HUP")
    web.d.wait_state("pair:one", "RUNNING")
    assert web.token() == token
    conn, r = web.stream("/ui/events")
    try:
        gen = events(r)
        next_event(gen, "snapshot")
        web.d.rpc().stopProcess("pair:one", False)    # the new supervisor's changes arrive
        assert next_event(gen, "process", lambda d: d["id"] == "pair:one")["state"] == "STOPPING"
    finally:
        conn.close()


def _up(web):
    try:
        return web.request("GET", "/ui/status")[0] == 200
    except OSError:
        return False
