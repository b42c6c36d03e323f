"""What the commands an init script's actions run mean: the daemon launch, its pidfile, its
stop and reload signals (over wrapctl.adopt.interp's Interpretation).

A launch is recognized by what the command is: start-stop-daemon --start, LSB start_daemon,
Red Hat daemon, SUSE startproc, a known controller (apache2ctl start), or an executable
that is the script's $DAEMON, its $NAME, a name it Provides, or a known daemon (a recipe's
binary), run directly or under runuser/su/sudo/chroot/chpst. Never by the script's name.
The pidfile comes from the launch, else from the stop, status and reload actions (a
`--pidfile` given only to the stop or the status check is still where the daemon's pid is).
The stop signal comes from the stop action's first stop, not from an escalation after it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from wrapctl.adopt.records import Interpretation, Run, known
from wrapctl.launch import (WRAPPERS, Launch, parse_rh_daemon, parse_ssd, parse_start_daemon,
                            parse_startproc, ssd_options)

# Commands that are never the daemon, whatever $NAME says.
_NEVER = {"echo", "printf", "test", "[", "[[", "sleep", "cat", "rm", "mkdir", "chown", "chmod",
          "touch", "ln", "install", "kill", "killall", "pkill", "pidof", "grep", "sed", "awk",
          "start-stop-daemon", "systemctl", "service", "invoke-rc.d", "run-parts", "basename",
          "dirname", "readlink", "id", "getent", "logger", "env", "true", "false", ":",
          "su", "runuser", "sudo", "chroot", "nohup", "setsid"}
# A first argument that makes the daemon's binary check, print or control, not serve.
_CHECK_ARGS = {"-t", "--test", "configtest", "--configtest", "-V", "--version", "--help",
               "-h", "stop", "status", "reload"}
_LAUNCHERS = ("start-stop-daemon", "start_daemon", "daemon", "startproc")


@dataclass
class Recognition:
    launch: Optional[Launch] = None
    run: Optional[Run] = None
    pidfile_from: str = ""           # "action line N" when the pidfile is not the launch's
    stop_signal: str = ""
    stop_timeout: int = 0
    reload_signal: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return "daemon" if self.launch else "oneshot"


def recognize(it: Interpretation, *, provides=(), known_daemons=frozenset(),
              script: str = "") -> Recognition:
    rec = Recognition()
    start = it.actions.get("start")
    if start is None:
        return rec
    env = start.env
    names = _daemon_names(env, provides, known_daemons)
    found: list[tuple[tuple, Launch, Run]] = []
    # A controller by its convention (name ...ctl, ...control) or as the script's $DAEMON,
    # run with `start` here and `stop` in the stop action.
    ctl = {r.argv[0] for r in it.runs("stop") if "stop" in r.argv[1:3] and known(r.argv[0])
           and (r.argv[0] in names["paths"] or r.head.endswith(("ctl", "ctl.sh", "control")))}
    names["bases"] |= _named_by_stop(it)
    for k, r in enumerate(start.runs):
        la, rank = _launch_of(r, names, script, ctl)
        if la is not None:
            found.append(((bool(r.dead), rank, r.guarded, r.conds, k), la, r))
    if not _process_handled(it, found):
        # A program run directly (by name, in the background, as another user) is a
        # daemon when the script treats it as a process: its stop signals one or runs
        # the daemon with a kill switch, or its status looks for one. A loader that is
        # started and stopped by verb (a firewall, rc.local) is not.
        found = [x for x in found if x[0][1] < 2]
    if not any(x[0][1] == 1 for x in found) and not _stops_something(it):
        # A daemon script's stop signals something; a start that runs a loader (a
        # firewall, rc.local, sysstat's boot record, even through start-stop-daemon)
        # and a stop that stops nothing is a oneshot.
        found = []
    if not found:
        return rec
    found.sort(key=lambda x: x[0])
    _, la, r = found[0]
    rec.launch, rec.run = la, r
    if not la.pidfile:
        pid, where = _pidfile_elsewhere(it, la)
        if pid:
            la.pidfile, rec.pidfile_from = pid, where
    rec.stop_signal, rec.stop_timeout = _stop_signal(it, la)
    rec.reload_signal = _reload_signal(it, la)
    return rec


_INERT = {"echo", "printf", "sleep", "rm", "mkdir", "touch", "cat", "test", "[", "[[",
          "true", "false", ":", "logger", "basename", "dirname", "readlink", "id", "grep",
          "sed", "awk", "status_of_proc", "pidofproc", "pidof", "run-parts", "systemctl",
          "start-stop-daemon"}


_PROCESS_CHECKS = {"status_of_proc", "pidofproc", "pidof", "checkproc", "killproc", "pgrep",
                   "status"}


def _process_handled(it: Interpretation, found) -> bool:
    progs = {la.exec for _, la, _ in found if la.exec}
    for action in ("stop", "status"):
        for r in it.runs(action):
            if not r.argv:
                continue
            if r.head in ("kill", "killall", "pkill", "killall5") or r.head in _PROCESS_CHECKS:
                return True
            if r.head == "start-stop-daemon" and ("--status" in r.argv or "-T" in r.argv
                                                  or _signal_of(r)[0]):
                return True
            if r.argv[0] in progs and any(a in ("-k", "--kill", "-K") for a in r.argv[1:]):
                return True
    return False


def _stops_something(it: Interpretation) -> bool:
    """The stop action signals a process, or runs a program to stop it (`$DAEMON -k`,
    `Xctl stop`): not only messages and file removals."""
    for r in it.runs("stop"):
        if r.captured or not r.argv:
            continue
        if r.head in ("killproc", "kill", "killall", "pkill", "killall5") or (
                r.head == "start-stop-daemon" and _signal_of(r)[0]):
            return True
        if r.head not in _INERT and not r.head.startswith(("log_", "vlog_")) \
                and not r.file.startswith(("/lib/", "/usr/lib/lsb")):
            return True
    return False


def _named_by_stop(it: Interpretation) -> set[str]:
    """Programs the stop and status actions look for by name (killall X, pidof X,
    `ps -e | grep X$`): what the start runs under that name is the daemon."""
    out: set[str] = set()
    for action in ("stop", "status"):
        for r in it.runs(action):
            if r.head in ("killall", "pkill", "pidof", "pgrep", "killproc", "pidofproc",
                          "status_of_proc", "grep"):
                for a in r.argv[1:]:
                    if a.startswith("-") or not known(a):
                        continue
                    base = os.path.basename(a.strip("^$"))
                    if base and all(c.isalnum() or c in "._-" for c in base):
                        out.add(base)
    return out


def _daemon_names(env, provides, known_daemons) -> dict:
    d = env.get("DAEMON") or ""
    return {"paths": {d} if d and known(d) else set(),
            "bases": {b for b in (os.path.basename(d), env.get("NAME") or "", *provides,
                                  *known_daemons) if b and known(b) and not b.startswith("$")}}


def _launch_of(r: Run, names: dict, script: str, ctl: set) -> tuple[Optional[Launch], int]:
    """(launch, rank): 0 a launcher command, 1 a controller, 2 the daemon by name, 3 an
    absolute path run in the background or as another user."""
    if not r.argv:
        return None, 0
    head = r.head
    argv = r.argv
    if head == "start-stop-daemon":
        la = parse_ssd(argv[1:])
        if la is None:
            return None, 0
        la.user = la.user or r.user
        return _done(la, r), 0
    if head == "start_daemon":
        return _done(parse_start_daemon(argv[1:]), r), 0
    if head == "daemon" and len(argv) > 1:
        return _done(parse_rh_daemon(argv[1:]), r), 0
    if head == "startproc" and len(argv) > 1:
        return _done(parse_startproc(argv[1:]), r), 0
    prog = argv[0]
    if not known(prog) or head in _NEVER or prog == script or \
            prog.startswith(("/etc/init.d/", "/etc/rc.d/")):
        return None, 0
    if head in WRAPPERS or (prog in ctl and "start" in argv[1:3]):
        # a controller: `X start` here and `X stop` in the stop action
        return _done(Launch(style="wrapper", exec=prog, args=argv[1:], wrapper=head,
                            user=r.user), r), 1
    if r.captured or r.test or any(a in _CHECK_ARGS for a in argv[1:2]):
        return None, 0
    matches = prog in names["paths"] or head in names["bases"]
    wrapped = any(v in ("su", "runuser", "sudo", "chroot", "chpst") for v in r.via)
    if matches or (prog.startswith("/") and (wrapped or r.background)):
        return _done(Launch(style="direct", exec=prog, args=argv[1:], user=r.user,
                            background=r.background), r), 2 if matches else 3
    return None, 0


def _done(la: Optional[Launch], r: Run) -> Optional[Launch]:
    if la is None:
        return None
    la.line = r.line
    la.background = la.background or r.background
    if r.user and not la.user:
        la.user = r.user
    return la


def _refers(r: Run, la: Launch) -> bool:
    """The command names no other program than the launched one."""
    progs = {la.exec, la.startas, la.daemon}
    bases = {os.path.basename(p) for p in progs if p} | ({la.name} if la.name else set())
    opts = ssd_options(r.argv[1:]) if r.head == "start-stop-daemon" else {}
    for k in ("--exec", "--startas"):
        if k in opts and opts[k] not in progs and os.path.basename(opts[k]) not in bases:
            return False
    if "--name" in opts and opts["--name"] not in bases:
        return False
    return True


def _pidfile_of(r: Run) -> str:
    argv = r.argv
    if r.head == "start-stop-daemon":
        return ssd_options(argv[1:]).get("--pidfile", "")
    if r.head in ("killproc", "status_of_proc", "pidofproc", "status", "checkproc",
                  "start_daemon", "pidofproc"):
        for i, w in enumerate(argv[1:-1], 1):
            if w == "-p":
                return argv[i + 1]
            if w.startswith("--pidfile="):
                return w.split("=", 1)[1]
    return ""


def _pidfile_elsewhere(it: Interpretation, la: Launch) -> tuple[str, str]:
    for action in ("stop", "status", "reload", "force-reload", "restart", "start"):
        for r in it.runs(action):
            p = _pidfile_of(r)
            if p and known(p) and p.startswith("/") and _refers(r, la):
                return p, f"{action} line {r.line}"
    return "", ""


def _signal_of(r: Run) -> tuple[str, int]:
    """(signal, timeout) a stopping command sends, or ("", 0)."""
    argv = r.argv
    if r.head == "start-stop-daemon":
        opts = ssd_options(argv[1:])
        if "--stop" not in opts and not any(w == "-K" or (w.startswith("-") and not
                                                           w.startswith("--") and "K" in w)
                                            for w in argv[1:]):
            return "", 0
        retry = opts.get("--retry", "")
        parts = [p for p in retry.split("/") if p and p != "forever"]
        if parts and not parts[0].isdigit():
            nums = [int(p) for p in parts if p.isdigit()]
            return _signame(parts[0]), nums[0] if nums else 0
        sig = opts.get("--signal", "")
        timeout = int(parts[0]) if parts and parts[0].isdigit() else 0
        return (_signame(sig) if sig else "TERM"), timeout
    if r.head in ("killproc", "kill", "pkill", "killall"):
        sig = next((w for w in argv[1:] if w.startswith("-") and _is_signal(w[1:])), "")
        for opt in ("-s", "--signal"):
            if opt in argv[1:-1] and _is_signal(argv[argv.index(opt) + 1]):
                sig = "-" + argv[argv.index(opt) + 1]
        if r.head == "killproc" and not sig:
            tail = [w for w in argv[1:] if not w.startswith("-")]
            if "-p" in argv:
                tail = tail[1:]
            sig = tail[1] if len(tail) >= 2 else ""
            return (_signame(sig) if sig else "TERM"), 0
        return (_signame(sig.lstrip("-")) if sig else "TERM"), 0
    return "", 0


def _stop_signal(it: Interpretation, la: Launch) -> tuple[str, int]:
    """The first signal of the stop action's normal path: the stop nested in the fewest
    conditions (an escalation to KILL sits deeper, in a wait loop or an else), among the
    commands aimed at the daemon (its program, name or pidfile) if any are."""
    cands = []
    for k, r in enumerate(it.runs("stop")):
        if r.captured or r.dead:
            continue
        sig, timeout = _signal_of(r)
        if sig:
            aimed = _refers(r, la) or (la.pidfile and _pidfile_of(r) == la.pidfile)
            cands.append(((not aimed, r.conds, k), sig, timeout))
    if not cands:
        return "", 0
    _, sig, timeout = min(cands)
    return sig, timeout


def _reload_signal(it: Interpretation, la: Launch) -> str:
    for action in ("reload", "force-reload"):
        for r in it.runs(action):
            if r.captured or not _refers(r, la):
                continue
            sig, _ = _signal_of(r)
            if sig and sig not in ("TERM", "KILL"):
                return sig
    return ""


def _is_signal(s: str) -> bool:
    from wrapctl.shims import signals
    try:
        signals.number(s.strip().upper())
        return True
    except ValueError:
        return False


def _signame(s: str) -> str:
    from wrapctl.shims import signals
    s = s.strip().upper()
    try:
        return signals.name(signals.number(s)).removeprefix("SIG")
    except ValueError:
        return s[3:] if s.startswith("SIG") else s
