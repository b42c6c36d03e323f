"""The web UI in a real headless Chromium against a real `wrapctl daemon`.

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe: JSON
messages ending in NUL on fds 3 and 4), so no driver program or websocket library is needed.
Skipped, saying why, only when no Chromium can be started.
"""
import base64
import fcntl
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from harness import py, wait_for

CANDIDATES = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser", "google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--remote-debugging-pipe", "--window-size=1360,820",
         "--hide-scrollbars", "about:blank"]
DEADLINE = 60


def _chromium():
    for c in CANDIDATES:
        path = c if os.path.isabs(c) else shutil.which(c)
        if path and os.access(path, os.X_OK):
            return path
    return None


class CDPError(Exception):
    pass


class Browser:
    """One Chromium process and its DevTools pipe."""

    def __init__(self, binary, tmp):
        self.profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp)
        to_child_r, self._w = os.pipe()
        self._r, from_child_w = os.pipe()
        # fds 3 and 4 in the child; dup them high first so the dup2 cannot collide
        hi_r = fcntl.fcntl(to_child_r, fcntl.F_DUPFD_CLOEXEC, 20)
        hi_w = fcntl.fcntl(from_child_w, fcntl.F_DUPFD_CLOEXEC, 20)

        def child():
            os.dup2(hi_r, 3)
            os.dup2(hi_w, 4)

        self.log = open(os.path.join(tmp, "chromium.log"), "wb")
        self.proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={self.profile}"],
                                     preexec_fn=child, close_fds=False, start_new_session=True,
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        for fd in (to_child_r, from_child_w, hi_r, hi_w):
            os.close(fd)
        self._buf = b""
        self._id = 0
        self.events = []

    def call(self, method, params=None, session=None, timeout=DEADLINE):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        end = time.monotonic() + timeout
        while True:
            m = self._recv(end)
            if m.get("id") == self._id:
                if "error" in m:
                    raise CDPError(f"{method}: {m['error']}")
                return m.get("result", {})
            if "method" in m:
                self.events.append(m)

    def _recv(self, end):
        while b"\0" not in self._buf:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from chromium")
            ready, _, _ = select.select([self._r], [], [], left)
            if ready:
                data = os.read(self._r, 1 << 16)
                if not data:
                    raise CDPError("chromium closed its DevTools pipe")
                self._buf += data
        msg, _, self._buf = self._buf.partition(b"\0")
        return json.loads(msg)

    def close(self):
        try:
            self.call("Browser.close", timeout=10)
        except (CDPError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        # its helpers (zygote, renderers) share its session: none may outlive the test
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        os.close(self._w)
        os.close(self._r)
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    def __init__(self, browser, auth):
        self.b = browser
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = browser.call("Target.attachToTarget",
                                    {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.call(f"{domain}.enable")
        # what a browser sends once the user has answered the basic-auth prompt
        token = base64.b64encode(auth.encode()).decode()
        self.call("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}})

    def call(self, method, params=None, timeout=DEADLINE):
        return self.b.call(method, params, self.session, timeout)

    def goto(self, url):
        self.call("Page.navigate", {"url": url})
        self.wait("document.readyState === 'complete'", what="page load")

    def eval(self, expr):
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                           "awaitPromise": True})
        if "exceptionDetails" in r:
            raise CDPError(f"{expr}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait(self, expr, deadline=DEADLINE, what=None):
        return wait_for(lambda: self.eval(expr), deadline, what or expr)

    def click(self, selector):
        """A real mouse click in the middle of the element."""
        box = self.eval(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                        f" e.scrollIntoView({{block: 'center'}});"
                        f" const r = e.getBoundingClientRect();"
                        f" return [r.x + r.width / 2, r.y + r.height / 2]; }})()")
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1],
                                                   "button": "left", "clickCount": 1})

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def errors(self):
        out = []
        for e in self.b.events:
            if e.get("sessionId") != self.session:
                continue
            if e["method"] == "Runtime.exceptionThrown":
                out.append(e["params"]["exceptionDetails"].get("text"))
            elif e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error":
                out.append(e["params"]["entry"]["text"])
        return out


@pytest.fixture
def browser(tmp_path):
    binary = _chromium()
    if binary is None:
        pytest.skip("no Chromium installed (apt-get install chromium)")
    b = Browser(binary, str(tmp_path))
    try:
        b.call("Browser.getVersion", timeout=DEADLINE)
    except (CDPError, TimeoutError, OSError) as e:
        b.close()
        pytest.skip(f"Chromium did not start: {e}")
    yield b
    b.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


HUP_PRINTER = py("import signal,sys; signal.signal(signal.SIGHUP, lambda *a: print('got HUP', "
                 "flush=True)); print('ready', flush=True); [signal.pause() for _ in iter(int, 1)]")


def programs(port):
    return f"""\
[inet_http_server]
port=127.0.0.1:{port}
username=admin
password=s3cret

[program:listener]
command={HUP_PRINTER}
startsecs=0

[program:oneshot]
command=sh -c "echo done; exit 3"
startsecs=0
autorestart=false

[group:web]
programs=api,worker

[program:api]
command=sleep 100000
startsecs=0

[program:worker]
command=sh -c "sleep 100000 & sleep 100000 & wait"
startsecs=0
stopsignal=KILL
killasgroup=true
"""


def row_state(pid):
    return f"document.querySelector('tr[data-id=\"{pid}\"]')?.dataset.state"


@pytest.mark.timeout(240)
def test_page_lists_processes_acts_and_follows_logs(wrapctld, browser, tmp_path):
    port = free_port()
    d = wrapctld(programs(port))
    for name in ("listener", "web:api", "web:worker"):
        d.wait_state(name, "RUNNING")
    d.wait_state("oneshot", "EXITED")
    page = Page(browser, "admin:s3cret")
    page.goto(f"http://127.0.0.1:{port}/")

    # every process, with its tree's numbers once the first snapshot is in
    page.wait("document.querySelectorAll('tr.proc').length === 4", what="four rows")
    for name in ("listener", "web:api", "web:worker"):
        page.wait(f"{row_state(name)} === 'RUNNING'", what=f"{name} RUNNING in the page")
    assert page.eval(f"{row_state('oneshot')}") == "EXITED"
    assert page.eval("document.querySelector('tr[data-id=\"oneshot\"] td.c-exit')"
                     ".textContent") == "3"
    page.wait("document.getElementById('conn').dataset.state === 'live'", what="live stream")
    worker = page.eval("[...document.querySelector('tr[data-id=\"web:worker\"]').children]"
                       ".map(td => td.textContent)")
    assert worker[0] == "worker" and worker[2] == str(d.info("web:worker")["pid"])
    assert worker[5].endswith("%") and "iB" in worker[6] and "3 procs" in worker[6]

    # stop one process with a real click: the row changes without a reload
    page.eval("window.notReloaded = true")
    page.click('tr[data-id="web:api"] button[data-action="stop"]')
    page.wait(f"{row_state('web:api')} === 'STOPPED'", what="web:api STOPPED in the page")
    assert d.info("web:api")["statename"] == "STOPPED"
    assert page.eval("window.notReloaded") is True
    assert page.eval("document.querySelector('tr[data-id=\"web:api\"] "
                     "button[data-action=\"start\"]').disabled") is False

    # group action: start the group again
    page.click('tbody[data-group="web"] tr.grouprow button[data-action="start"]')
    page.wait(f"{row_state('web:api')} === 'RUNNING'", what="web:api RUNNING again")

    # log view follows the file; a signal chosen in the dialog shows up in it
    page.click('tr[data-id="listener"] button[data-action="tail"]')
    page.wait("document.getElementById('logtext').textContent.includes('ready')",
              what="log history in the view")
    page.click('tr[data-id="listener"] button[data-action="signal"]')
    page.wait("document.getElementById('sigdialog').open", what="signal dialog")
    page.eval("document.getElementById('signame').value = 'HUP'")
    page.click("#sigsend")
    page.wait("document.getElementById('logtext').textContent.includes('got HUP')",
              what="new output in the log view")
    assert d.info("listener")["statename"] == "RUNNING"

    shot = tmp_path / "web-ui.png"
    page.screenshot(str(shot))
    assert shot.stat().st_size > 10000
    if os.environ.get("WRAPCTL_SCREENSHOT"):
        shutil.copy(shot, os.environ["WRAPCTL_SCREENSHOT"])
        page.call("Emulation.setEmulatedMedia",
                  {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        page.click('tr[data-id="oneshot"] button[data-action="signal"]')  # disabled: no-op
        page.screenshot(os.environ["WRAPCTL_SCREENSHOT"].replace(".png", "-dark.png"))
    assert page.errors() == []


@pytest.mark.timeout(240)
def test_page_reconnects_after_a_daemon_restart_and_tails_a_group(wrapctld, browser):
    port = free_port()
    d = wrapctld(programs(port))
    d.wait_state("listener", "RUNNING")
    page = Page(browser, "admin:s3cret")
    page.goto(f"http://127.0.0.1:{port}/#tail=web%3A*")
    page.wait("document.getElementById('conn').dataset.state === 'live'", what="live stream")
    page.wait("document.getElementById('logtitle').textContent === 'Group web'",
              what="log view opened from the URL")
    assert page.eval("document.getElementById('conn').dataset.connects") == "1"
    d.signal(signal.SIGHUP)             # the daemon restarts its servers
    page.wait("document.getElementById('conn').dataset.connects === '2' && "
              "document.getElementById('conn').dataset.state === 'live'", what="reconnected")
    d.wait_state("web:api", "RUNNING")
    d.rpc().stopProcess("web:api")      # the new supervisor's changes reach the page
    page.wait(f"{row_state('web:api')} === 'STOPPED'", what="web:api STOPPED in the page")
    # actions still work: the token outlives the restart
    page.eval("window.notReloaded = true")
    page.click('tr[data-id="web:worker"] button[data-action="restart"]')
    page.wait("[...document.querySelectorAll('.toast')].some(t => "
              "t.textContent === 'restart web:worker: OK')", what="restart confirmed")
    assert page.eval("window.notReloaded") is True
    # the only complaints: the two streams (events, log) cut by the restart
    assert all("ERR_INCOMPLETE_CHUNKED_ENCODING" in e for e in page.errors())
