"""The page's actions, carried out through the XML-RPC API's own methods (SupervisorAPI),
so a click does exactly what the same supervisorctl command does.

A target is "*" (every process), "GROUP:*" (a group) or a process name ("NAME" or
"GROUP:NAME"). Start and stop do not wait for the new state: the page sees it arrive over
its event stream. Restart waits for the stop before it starts, as supervisorctl does.
"""
from __future__ import annotations

from wrapctl.rpc.api import SupervisorAPI, make_namespec, split_namespec
from wrapctl.rpc.faults import Faults, RPCError

ACTIONS = ("start", "stop", "restart", "signal", "clear")


class ActionError(Exception):
    """The request itself is wrong (HTTP 400/404); str() is the one-line reason."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _scope(api: SupervisorAPI, target: str):
    """('all', None) | ('group', name) | ('process', namespec)."""
    if target == "*":
        return "all", None
    sup = api._sup
    gname, pname = split_namespec(target)
    group, proc = sup.find(gname, pname)
    if group is None or (pname is not None and proc is None):
        raise ActionError(f"no such process or group: {target}", 404)
    if proc is None:
        return "group", group.name
    return "process", make_namespec(proc.group, proc.name)


def _results(value, target: str) -> list[dict]:
    if isinstance(value, list):   # one struct per process, as the *Group/*All methods
        return [{"name": make_namespec(r["group"], r["name"]),
                 "ok": r["status"] == Faults.SUCCESS,
                 "message": r["description"]} for r in value]
    return [{"name": target, "ok": True, "message": "OK"}]


async def _call(coro, target):
    try:
        value = await coro
    except RPCError as e:
        return [{"name": target, "ok": False, "message": e.text}]
    return _results(value, target)


async def perform(api: SupervisorAPI, action: str, target: str, sig=None) -> list[dict]:
    """Carry out one action; a list of {name, ok, message}, one per process acted on (a
    refusal such as NOT_RUNNING is a result, not an exception)."""
    if action not in ACTIONS:
        raise ActionError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
    if action == "signal" and not sig:
        raise ActionError("signal: no signal given")
    scope, name = _scope(api, target)
    spec = {"all": "*", "group": f"{name}:*", "process": name}[scope]

    if action == "start":
        if scope == "all":
            return await _call(api.startAllProcesses(False), spec)
        return await _call(api.startProcess(spec, False), spec)
    if action == "stop":
        if scope == "all":
            return await _call(api.stopAllProcesses(False), spec)
        return await _call(api.stopProcess(spec, False), spec)
    if action == "signal":
        if scope == "all":
            return await _call(api.signalAllProcesses(sig), spec)
        return await _call(api.signalProcess(spec, sig), spec)
    if action == "clear":
        if scope == "all":
            return await _call(api.clearAllProcessLogs(), spec)
        if scope == "group":
            out = []
            for proc in api._sup.groups[name].ordered():
                pspec = make_namespec(proc.group, proc.name)
                out += await _call(_sync(api.clearProcessLogs, pspec), pspec)
            return out
        return await _call(_sync(api.clearProcessLogs, spec), spec)
    # restart: stop what runs (waiting for it), then start everything in scope
    if scope == "all":
        await _call(api.stopAllProcesses(True), spec)
        return await _call(api.startAllProcesses(False), spec)
    stopped = await _call(api.stopProcess(spec, True), spec)
    if scope == "process" and not stopped[0]["ok"] and "NOT_RUNNING" not in stopped[0]["message"]:
        return stopped
    return await _call(api.startProcess(spec, False), spec)


async def _sync(fn, *args):
    return fn(*args)
