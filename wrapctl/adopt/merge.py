"""Where the shell-grammar reader (interp + recognize) replaces the line reader's result.

wrapctl.initscript's line reader stays the base; the grammar reader's result is taken
where it was measured at least as good on the labelled corpus (bench/initscript_corpus.py
--compare) and the golden tests: a daemon the line reader missed (a bare `$DAEMON -D` in a
function, a controller `X start`), a pidfile named only by stop or status, arguments built
by appends and `||` defaults, the stop signal of the normal stop path, a reload signal,
and the names it could not resolve. The daemon itself, when both readers find one, stays
the line reader's.
"""
from __future__ import annotations

import os
from typing import Optional

from wrapctl.adopt.interp import interpret
from wrapctl.adopt.recognize import recognize
from wrapctl.adopt.records import known


def merge_grammar_reading(info, text: str, *, root: str = "/",
                          defaults: Optional[str] = None) -> None:
    try:
        it = interpret(info.path, text, root=root, defaults=defaults)
        rec = recognize(it, provides=info.provides, script=info.path)
    except Exception as e:  # noqa: BLE001 - an addition to the line reader's result:
        # its failure must not take that result (and adopt) down; said in one line
        info.warnings.append(f"the shell-grammar reader gave up: {type(e).__name__}: {e}")
        return
    base = root.rstrip("/") if root not in ("", "/") else ""
    info.unresolved = [f"{_rel(u.file, base)}:{u.line}: {u.what.replace(chr(0), '?')}"
                       for u in it.unresolved if _rel(u.file, base) == info.path
                       or _rel(u.file, base).startswith(("/etc/default/", "/etc/sysconfig/"))]
    la = rec.launch
    if la is None:
        return
    if info.launch is None:
        if not known(la.program) or not la.program.startswith("/"):
            # a helper library's function (ovs_ctl) or a name computed at run time: no
            # program to write; the line reader's library-call path decides (uwsgi)
            return
        info.kind = "daemon"
        info.launch = la
        info.pidfile_from = rec.pidfile_from
        info.library_calls = []
        info.reasons = [f"line {la.line}: {la.style} starts {la.program} "
                        "(read by the shell grammar)"]
        if rec.run is not None and rec.run.dead:
            info.disabled = info.disabled or f"line {la.line} runs only if not: {rec.run.dead}"
        if rec.run is not None and rec.run.loop and not info.instance_loop:
            info.instance_loop = " ".join(v for _, v in rec.run.loop)
        _signals(info, rec, replace=True)
        return
    old = info.launch
    if os.path.basename(old.daemon) != os.path.basename(la.daemon):
        return
    if not old.pidfile and la.pidfile and known(la.pidfile):
        old.pidfile = la.pidfile
        if rec.pidfile_from:
            info.pidfile_from = rec.pidfile_from
            info.reasons.append(f"pidfile {la.pidfile} from the {rec.pidfile_from}")
    in_loop = rec.run is not None and bool(rec.run.loop)
    if la.line == old.line and not in_loop and all(known(a) for a in la.args) \
            and _more(la.args, old.args):
        # appends under decided tests, `cmd || OPTS="--daemon $OPTS"`
        old.args = list(la.args)
    if not old.user and la.user and known(la.user):
        old.user = la.user
    _signals(info, rec, replace=False)


def _more(new: list[str], old: list[str]) -> bool:
    """new holds every word of old, and more."""
    rest = list(new)
    for w in old:
        if w not in rest:
            return False
        rest.remove(w)
    return bool(rest)


def _signals(info, rec, replace: bool) -> None:
    """The stop signal where the line reader found another one (it may have taken an
    escalation's KILL); an implicit TERM where it found none is left out (same meaning,
    and the written configs stay as they were). Reload signals stay the line reader's:
    the grammar reader's were not measured against the golden configs."""
    if not rec.stop_signal:
        return
    if replace or (info.stop_signal and info.stop_signal != rec.stop_signal):
        info.stop_signal = rec.stop_signal
        if rec.stop_timeout:
            info.stop_timeout = rec.stop_timeout


def _rel(path: str, base: str) -> str:
    if base and path.startswith(base + "/"):
        return path[len(base):]
    return path
