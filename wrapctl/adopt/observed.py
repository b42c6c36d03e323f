"""The config from what `--observe` saw, and where reading and observing disagree.

The observed daemon decides: its exe and command line (the script's arguments as read when
the daemon rewrote its own, nginx's "master process ..."), its user, the pidfile the tree
wrote, the port it listens on. The reading (initscript.ScriptInfo) is kept for what a start
does not show: stop and reload signals, directories, environment. Every difference between
the two is a review line, so a person sees where the reader went wrong.
"""
from __future__ import annotations

import dataclasses
import os
import re
import shlex
import shutil
from typing import Optional

from wrapctl.adopt import READY_TIMEOUT, Adoption, adopt, pidfile_in_args
from wrapctl.adopt.observe import PATH, Observation, ObserveFailed, Proc
from wrapctl.initscript import ScriptInfo
from wrapctl.launch import INTERPRETERS, Launch
from wrapctl.recipes import RecipeBook
from wrapctl.shellwords import resolved


def watch_dirs(info: ScriptInfo, default: list[str]) -> list[str]:
    """Where pidfiles may appear: `default` (/run), the directory of the pidfile the script
    names, the directories it makes (or, not made yet, their parents) and those named in
    the daemon's own pidfile argument."""
    out = list(default)
    la = info.launch
    named = [info.pidfile] + ([pidfile_in_args(la.args)] if la else []) + info.run_dirs
    for p in named:
        if not p or not resolved(p) or not p.startswith("/"):
            continue
        d = p if p in info.run_dirs else os.path.dirname(p)
        while d and d != "/" and not os.path.isdir(d):
            d = os.path.dirname(d)
        if d and d != "/" and d not in out:
            out.append(d)
    return out


def _same(a: str, b: str) -> bool:
    if not a or not b:
        return False
    return a == b or os.path.realpath(a) == os.path.realpath(b)


def _interpreter(exe: str) -> bool:
    return re.sub(r"[\d.]+$", "", os.path.basename(exe)) in INTERPRETERS


def exec_argv(p: Proc) -> Optional[list[str]]:
    """The command that runs p again, or None when p rewrote its command line. A script
    run by its interpreter is the script: `python3 /usr/sbin/d --x` is `/usr/sbin/d --x`."""
    if not p.argv or not p.exe:
        return None
    first = p.argv[0]
    found = first if "/" in first else shutil.which(first, path=PATH)
    if not (found and _same(found, p.exe)) and os.path.basename(first) != os.path.basename(
            p.exe):
        return None
    argv = [p.exe] + p.argv[1:]
    if _interpreter(p.exe) and len(argv) > 1 and argv[1].startswith("/") and os.access(
            argv[1], os.X_OK) and os.path.isfile(argv[1]):
        return argv[1:]
    return argv


def _read_targets(la: Optional[Launch]) -> list[str]:
    if la is None:
        return []
    return [t for t in (la.daemon, la.program, la.exec, la.startas, la.wrapper)
            if t and resolved(t)]


def adopt_observed(info: ScriptInfo, obs: Observation, book: RecipeBook, *,
                   mode: str = "auto", name: str = "", root: str = "/") -> Adoption:
    la = info.launch
    read_pid = info.pidfile if info.pidfile and resolved(info.pidfile) else ""
    main = obs.main(read_pid)
    explain = [f"observed: `{os.path.basename(obs.script)} start` ran in "
               f"{obs.containment} and exited {obs.start_status}"] + [
        f"observed: {n}" for n in obs.notes]
    if main is None:
        if obs.start_status:
            last = obs.output.splitlines()[-1] if obs.output else "no output"
            raise ObserveFailed(f"{obs.script} start exited {obs.start_status} and left "
                                f"nothing running: {last}")
        ad = Adoption(info=info, decision="oneshot")
        ad.explain += explain + ["observed: the start left nothing running: a oneshot"]
        if info.kind == "daemon":
            ad.review.append(f"observed: the reading found a daemon ({la.program}) but the "
                             "start left nothing running")
        ad.observed = obs.to_dict()
        return ad
    review: list[str] = []
    cmd = exec_argv(main)
    agree = any(_same(t, main.exe) or (cmd is not None and _same(t, cmd[0]))
                for t in _read_targets(la))
    shown = shlex.join(main.argv)
    if info.kind != "daemon":
        review.append(f"observed: the reading found no daemon in the start action, but it "
                      f"left {main.exe} running ({shown}): the program is what was observed")
    elif not agree:
        review.append(f"observed: the reading found {la.program} but the start left "
                      f"{main.exe} running ({shown}): the program is what was observed")
    pidfile = next((p for p, pid in obs.pidfiles.items() if pid == main.pid and p == read_pid),
                   next((p for p, pid in obs.pidfiles.items() if pid == main.pid), ""))
    if read_pid and pidfile != read_pid:
        review.append(f"observed: the script names pidfile {read_pid} but "
                      + (f"the daemon wrote {pidfile}" if pidfile else
                         "no process of the start's tree wrote it"))
    elif pidfile and not read_pid:
        review.append(f"observed: the reading found no pidfile; the daemon wrote {pidfile}")
    if cmd is None:
        if agree and la is not None:
            program, args = la.program, [a for a in la.args if resolved(a)]
            explain.append(f"observed: {main.exe} rewrote its command line ({shown}): the "
                           "arguments are the script's, as read")
        else:
            program, args = main.exe, []
            review.append(f"observed: {main.exe} rewrote its command line ({shown}) and the "
                          "reading does not start it: add its arguments by hand")
    else:
        program, args = cmd[0], cmd[1:]
        if agree and la is not None and not la.wrapper and la.args != args:
            review.append(f"observed: the reading gave arguments {shlex.join(la.args)!r} "
                          f"but the daemon runs with {shlex.join(args)!r}: written as observed")
    user = main.user if main.uid != 0 else ""
    read_user = la.user if la and la.user and resolved(la.user) else ""
    if agree and read_user != user and (read_user or user):
        review.append(f"observed: the reading runs it as {read_user or 'root'}, the daemon "
                      f"ran as {user or 'root'}: written as observed")
    if info.disabled:
        review.append(f"observed: the reading found the start switched off "
                      f"({info.disabled}), but it started the daemon")
    if obs.start_status:
        review.append(f"observed: the start exited {obs.start_status} but left "
                      f"{main.exe} running")
    family = {main.pid, *obs.descendants(main.pid)}
    others = [p for p in obs.tops() if p.pid != main.pid]
    if others:
        review.append("observed: the start also left " + ", ".join(
            f"{p.exe or p.argv[:1]} (pid {p.pid})" for p in others)
            + " running, outside the program written")
    if obs.left_after_stop:
        review.append("observed: the script's stop left " + ", ".join(
            f"{p.exe} (pid {p.pid})" for p in obs.left_after_stop)
            + " running; the observer killed them")
    keep = la if agree and la is not None else Launch(style="observed")
    launch = dataclasses.replace(
        keep, style=keep.style if agree else "observed", exec=program, startas="",
        args=args, pidfile=pidfile, user=user, group="" if not user else keep.group,
        chdir=main.cwd if main.cwd not in ("", "/") else "",
        name=os.path.basename(main.exe),
        background=keep.background if agree else False,
        wrapper=keep.wrapper if agree and cmd is None else "")
    if launch.wrapper:
        launch.exec, launch.startas, launch.args = keep.exec, keep.startas, keep.args
    seen = dataclasses.replace(info, kind="daemon", launch=launch, disabled="")
    ad = adopt(seen, book, mode=mode, name=name, root=root)
    ad.review = review + ad.review
    sockets = [s for s in obs.sockets if s.pid in family]
    for p in obs.procs:
        explain.append(f"observed: pid {p.pid} (parent {p.ppid}) {p.exe} as {p.user} in "
                       f"{p.cwd or '?'}: {shlex.join(p.argv)}")
    explain += [f"observed: {path} names pid {pid}" for path, pid in obs.pidfiles.items()]
    explain += [f"observed: pid {s.pid} listens on {s.ready}" for s in obs.sockets]
    ad.explain = explain + ad.explain
    tcp = [s for s in sockets if s.kind == "tcp"]
    spec = (tcp or sockets)[0].ready if sockets else ""
    for p in ad.programs:
        if not spec:
            break
        if p.wrapctl.get("ready") and p.wrapctl["ready"] != spec:
            ad.review.append(f"observed: the daemon listens on {spec}, not "
                             f"{p.wrapctl['ready']} as adopt read it: written as observed")
        p.wrapctl["ready"], p.ready = spec, spec
        p.wrapctl["ready_timeout"] = str(READY_TIMEOUT)
        p.ready_why = "the daemon listened there when observed"
        ad.explain.append(f"ready={spec} (--format wrapctl only): observed listening")
    ad.observed = obs.to_dict()
    return ad
