"""HTTP routes of the web UI on an HTTPServer (which already enforces the API's basic auth,
the Host rule and a same-origin Origin on every request: rpc.guard).

GET  /                     the page (static/index.html with the CSRF token)
GET  /ui/static/FILE       its script and style sheet
GET  /ui/status            the page state as JSON (one CPU/RSS sample)
GET  /ui/events            server-sent events: `snapshot` (all, with CPU/RSS, on connect
                           and every few seconds), `process` (one row, on each state change)
GET  /ui/log?target=T&channel=stdout|stderr
                           server-sent events `log` (text) following the log of T
POST /ui/action            JSON {action, target, signal?} with header X-CSRF-Token;
                           answers JSON {results: [{name, ok, message}]}
"""
from __future__ import annotations

import base64
import html
import json
import os
import urllib.parse
import weakref
from importlib import resources

from wrapctl.digest import compare_digest
from wrapctl.rpc.api import SupervisorAPI, make_namespec, split_namespec
from wrapctl.web.actions import ActionError, perform
from wrapctl.web.hub import Hub, sse
from wrapctl.web.logview import TAIL_MANY, TAIL_ONE, Follow, Text, read_tail

STATIC = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
MAX_ACTION_BODY = 4096

# The page runs only our own files and talks only to us; no framing (clickjacking).
PAGE_HEADERS = [
    ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "
                                "connect-src 'self'; img-src 'self' data:; "
                                "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
]
SSE_HEADERS = [("Content-Type", "text/event-stream; charset=utf-8"),
               ("Cache-Control", "no-store"), ("X-Accel-Buffering", "no")]

_uis: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _static(name: str) -> bytes:
    return resources.files("wrapctl.web").joinpath("static", name).read_bytes()


def _json(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class WebUI:
    """One per daemon, shared by its servers and kept across a HUP restart, so an open page's
    token stays valid."""

    def __init__(self, daemon):
        # a proxy: _uis holds this object as long as the daemon lives, not longer
        daemon = weakref.proxy(daemon)
        self.daemon = daemon
        self.api = SupervisorAPI(daemon)
        self.hub = Hub(daemon)
        self.token = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()

    # ---- pages -----------------------------------------------------------------------
    async def page(self, request, response):
        if request.path not in ("/", "/index.html"):
            await response.send(404, "not found\n")
            return
        ident = html.escape(self.daemon.config.daemon.identifier)
        body = (_static("index.html").decode("utf-8")
                .replace("{{csrf}}", html.escape(self.token))
                .replace("{{identification}}", ident))
        await response.send(200, body, "text/html; charset=utf-8", PAGE_HEADERS)

    async def static(self, request, response):
        name = request.path[len("/ui/static/"):]
        if name not in STATIC:
            await response.send(404, "not found\n")
            return
        await response.send(200, _static(name), STATIC[name],
                            [("Cache-Control", "no-cache"), ("X-Content-Type-Options", "nosniff")])

    async def status(self, request, response):
        await response.send(200, _json(self.hub.snapshot()), "application/json")

    # ---- live updates ------------------------------------------------------------------
    async def events(self, request, response):
        q = self.hub.subscribe()
        try:
            await response.start(200, SSE_HEADERS)
            await response.write(b"retry: 2000\n\n" + self.hub.snapshot_event())
            while True:
                data = await q.get()
                if data is None:
                    return
                await response.write(data)
        finally:
            self.hub.unsubscribe(q)

    def _resolve(self, target):
        """Processes of a target ('*', 'GROUP:*', a process); None if there is no such."""
        sup = self.daemon.supervisor
        if target == "*":
            return sup.all_processes()
        gname, pname = split_namespec(target)
        group, proc = sup.find(gname, pname)
        if group is None or (pname is not None and proc is None):
            return None
        return group.ordered() if proc is None else [proc]

    async def log(self, request, response):
        query = urllib.parse.parse_qs(request.query)
        target = query.get("target", [""])[0]
        channel = query.get("channel", ["stdout"])[0]
        if channel not in ("stdout", "stderr"):
            await response.send(400, "channel must be stdout or stderr\n")
            return
        procs = self._resolve(target) if target else None
        if not procs:
            await response.send(404, f"no such process or group: {target}\n")
            return
        many = target == "*" or len(procs) > 1 or split_namespec(target)[1] is None
        texts = [Text(f"{make_namespec(p.group, p.name)} | " if many else "") for p in procs]
        with Follow(procs, channel) as follow:
            await response.start(200, SSE_HEADERS)
            await response.write(b"retry: 2000\n\n")
            if not many and procs[0].channels[channel].logfile is None:
                note = ("stderr goes to the stdout log (redirect_stderr)"
                        if channel == "stderr" and procs[0].config.redirect_stderr
                        else f"no {channel} log file: showing new output only")
                await response.write(sse("note", note))
            head = []
            for p, text in zip(procs, texts):
                data = read_tail(p.channels[channel].logfile, TAIL_MANY if many else TAIL_ONE,
                                 whole_lines=True)
                head.append(text.feed(data) if many else data.decode("utf-8", "replace"))
            await response.write(sse("log", "".join(head)))
            dropped = 0
            while True:
                i, data = await follow.get()
                if follow.dropped != dropped:
                    dropped = follow.dropped
                    await response.write(sse("note", f"{dropped} bytes of output skipped "
                                                     f"(the page could not keep up)"))
                out = texts[i].feed(data)
                if out:
                    await response.write(sse("log", out))

    # ---- actions -------------------------------------------------------------------
    def _csrf_ok(self, request) -> bool:
        given = request.header("x-csrf-token") or ""
        return compare_digest(given.encode("utf-8", "replace"), self.token.encode())

    @staticmethod
    def _same_origin(request) -> bool:
        """A browser names the page's origin; it must be this host (when both are known)."""
        origin, host = request.header("origin"), request.header("host")
        if not origin or not host or origin == "null":
            return origin != "null"
        return urllib.parse.urlsplit(origin).netloc == host

    async def action(self, request, response):
        if request.path != "/ui/action":
            await response.send(404, "not found\n")
            return
        if not self._csrf_ok(request) or not self._same_origin(request):
            await response.send(403, "missing or wrong CSRF token\n")
            return
        if len(request.body) > MAX_ACTION_BODY:
            await response.send(413, "action body too large\n")
            return
        try:
            req = json.loads(request.body or b"null")
            if not isinstance(req, dict):
                raise ValueError("not an object")
            action, target = req.get("action"), req.get("target")
            sig = req.get("signal")
            if not isinstance(action, str) or not isinstance(target, str) or \
                    (sig is not None and not isinstance(sig, (str, int))):
                raise ValueError("needs string action and target")
        except ValueError as e:
            await response.send(400, f"bad action request: {e}\n")
            return
        try:
            results = await perform(self.api, action, target, sig)
        except ActionError as e:
            await response.send(e.status, _json({"error": str(e)}), "application/json")
            return
        self.daemon.logger.info(f"web: {action} {target}"
                                + (f" {sig}" if action == "signal" else "")
                                + f" from {_peer(request)}")
        await response.send(200, _json({"results": results}), "application/json")


def _peer(request) -> str:
    peer = request.peer
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)


def ui_for(daemon) -> WebUI:
    ui = _uis.get(daemon)
    if ui is None:
        ui = _uis[daemon] = WebUI(daemon)
    return ui


def install(server, daemon) -> WebUI:
    """Register the UI's routes on `server` (an wrapctl.rpc.http.HTTPServer)."""
    ui = ui_for(daemon)
    server.add_get("/", ui.page)
    server.add_get("/ui/static/", ui.static)
    server.add_get("/ui/status", ui.status)
    server.add_get("/ui/events", ui.events)
    server.add_get("/ui/log", ui.log)
    server.add_post("/ui/action", ui.action)
    return ui
