"""Turn what an init script starts (initscript.ScriptInfo) into program sections.

Pure: `adopt()` takes a ScriptInfo and a RecipeBook and returns an Adoption (decision,
programs, explanation, review notes); `render_*` turn it into text. Only find_instances,
args files and the config files a readiness check is read from (adopt_ready) touch the
file system (under `root`).
"""
from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass, field
from typing import Optional

from wrapctl import adopt_ready
from wrapctl.initscript import ScriptInfo
from wrapctl.launch import Launch
from wrapctl.recipes import (Recipe, RecipeBook, format_environment, program_options,
                             shim_command)
from wrapctl.shellwords import resolved

# Exit statuses of `wrapctl adopt` (docs/adopt.md).
EXIT_WRITTEN = 0
EXIT_BAD_INPUT = 2
EXIT_ONESHOT = 3
EXIT_NO_RECIPE = 4      # --mode recipe and no recipe matches
EXIT_REVIEW = 5         # nothing could be written without a person (e.g. no instances found)

_SKIP_ENV = {"PATH", "HOME", "PWD", "SHELL", "IFS"}
# ready_timeout= written with an adopted ready=: adopt cannot know how long this
# installation takes to answer (mysqld opens its socket only after crash recovery), and a
# start cut short is killed and begins its recovery again. A daemon that dies while
# starting is still seen at once.
READY_TIMEOUT = 300


@dataclass
class Program:
    name: str
    options: dict[str, str]                 # supervisord options, in output order
    wrapctl: dict[str, str] = field(default_factory=dict)   # what --format wrapctl writes
    instance: str = ""
    ready: str = ""                         # the ready= in `wrapctl` (supervisord has none)
    ready_why: str = ""


@dataclass
class Adoption:
    info: ScriptInfo
    decision: str                           # recipe | shim | foreground | oneshot | review
    recipe: Optional[Recipe] = None
    programs: list[Program] = field(default_factory=list)
    explain: list[str] = field(default_factory=list)
    review: list[str] = field(default_factory=list)
    # review lines for one output format only ("supervisord" | "wrapctl")
    review_by_format: dict[str, list[str]] = field(default_factory=dict)
    observed: dict = field(default_factory=dict)    # what --observe saw (observe.py)

    def review_for(self, fmt: str) -> list[str]:
        return self.review + self.review_by_format.get(fmt, [])

    @property
    def exit_status(self) -> int:
        if self.decision == "oneshot":
            return EXIT_ONESHOT
        if not self.programs:
            return EXIT_REVIEW
        return EXIT_WRITTEN


class AdoptError(Exception):
    """Bad input for adopt (one line)."""


def program_name(name: str) -> str:
    name = re.sub(r"\.sh$", "", name)
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "service"


def _read_args_file(path: str) -> Optional[list[str]]:
    """Options one or more per line, '#' comments; lines not starting with '-' are the
    wrapper's own settings (memcached's 'logfile x') and are skipped."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    out: list[str] = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line.startswith("-"):
            try:
                out += shlex.split(line)
            except ValueError:
                out += line.split()
    return out


def _host(root: str, path: str) -> str:
    return path if root in ("", "/") else os.path.join(root, path.lstrip("/"))


def _read_config(path: str) -> Optional[str]:
    """A small regular file's text, or None (missing, a directory, a device, too big)."""
    try:
        if not os.path.isfile(path) or os.path.getsize(path) > 1 << 20:
            return None
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def adopt(info: ScriptInfo, book: RecipeBook, *, mode: str = "auto", name: str = "",
          root: str = "/") -> Adoption:
    if mode not in ("auto", "recipe", "shim"):
        raise AdoptError(f"--mode: must be auto, recipe or shim, not {mode!r}")
    base = program_name(name or info.name)
    ad = Adoption(info=info, decision="oneshot")
    ad.explain += [f"read {info.path}"] + [f"defaults: {f}" for f in info.defaults_files]
    ad.explain += info.reasons
    if info.kind == "oneshot":
        recipe, why = (book.match(script=info.name, provides=info.provides)
                       if info.library_calls and mode != "shim" else (None, ""))
        if recipe is None:
            ad.explain.append("a oneshot is not a service to supervise: no program written")
            return ad
        # The start is dispatched through a helper library the reader does not follow;
        # the recipe of the service the script is named for knows how to run it.
        ad.explain.append(f"the start action calls {', '.join(info.library_calls)} from "
                          f"{', '.join(info.libraries)}, which is not read; {why}")
        _with_recipe(ad, recipe, base, root)
        ad.review.append(f"the script's own start ({', '.join(info.library_calls)}) was not "
                         f"read: the program is recipe {recipe.name}'s; compare the options")
        return ad
    la = info.launch
    assert la is not None
    exes = [la.daemon, la.exec, la.startas, la.wrapper]
    recipe, why = book.match(script=info.name, provides=info.provides, executables=exes)
    ad.explain.append(why)
    if mode == "recipe" and recipe is None:
        ad.decision = "review"
        ad.review.append("--mode recipe: no recipe matches this script")
        return ad
    if recipe is not None and mode != "shim":
        _with_recipe(ad, recipe, base, root)
    else:
        if recipe is not None:
            ad.explain.append("--mode shim: the recipe is not used")
        _without_recipe(ad, base, recipe)
    if ad.programs and info.disabled:
        # Migrating must not start what the machine had switched off.
        for p in ad.programs:
            p.options["autostart"] = p.wrapctl["autostart"] = "false"
        ad.explain.append(f"the start action does not start the daemon here ({info.disabled}):"
                          " autostart=false")
        ad.review.append(f"autostart=false: the script does not start it here ({info.disabled});"
                         " set autostart=true to run it")
    if ad.programs and info.run_setup:
        _recreate_run_dirs(ad)
    if info.instance_loop and not (ad.recipe and ad.recipe.instances):
        loop = info.instance_loop.replace("\x00", "$(...)")
        ad.review.append(f"the script starts one daemon per item of {loop!r}: write one "
                         "[program:x] per instance")
    for w in info.warnings:
        if ad.recipe and "arguments" in w and (ad.recipe.args_file or not ad.recipe.args_from_script):
            continue        # the recipe does not take the script's arguments
        ad.review.append(w)
    return ad


def _recreate_run_dirs(ad: Adoption) -> None:
    """Redo the script's mkdir/chown of directories before each start: /run is empty after
    a boot, a log or state dir (/var/log/NAME) may never have been made, and without the
    init script (or systemd's tmpfiles) nothing else makes them. `--format wrapctl` says it
    with run_dirs= (the core makes them as root, before any user= drop); supervisord's
    format wraps the command in `sh -c`, which only root can."""
    setup = " && ".join(shlex.join(c) for c in ad.info.run_setup)
    dirs = made_dirs(ad.info.run_setup)
    spec = run_dirs_option(ad.info.run_setup)
    users = set()
    for p in ad.programs:
        for opts in (p.options, p.wrapctl):
            if all(re.search(r"\b(mkdir|install)\b[^&;|]*" + re.escape(d.rstrip("/")),
                             opts["command"]) for d in dirs):
                continue            # the recipe's command makes them itself (sshd, tor)
            if opts is p.wrapctl and spec:
                opts["run_dirs"] = spec
                continue
            # --format wrapctl leaves out what the recipe supplies: its user= too.
            user = opts.get("user") or p.options.get("user") or "root"
            if user not in ("root", "0"):
                users.add(user)     # after the drop to user= it could not
                continue
            opts["command"] = shlex.join(["/bin/sh", "-c", setup + ' && exec "$0" "$@"']
                                         + shlex.split(opts["command"]))
    if users:
        ad.review.append(f"the script makes {', '.join(dirs)} as root before starting, but the"
                         f" program runs as {', '.join(sorted(users))}: make them at boot "
                         f"({setup})" + ("; --format wrapctl writes run_dirs= for it"
                                         if spec else ""))
    else:
        ad.explain.append(f"the program makes {', '.join(dirs)} before each start, as the "
                          f"script does: {setup}")


def made_dirs(setup: list[list[str]]) -> list[str]:
    """The directories the mkdir/install -d commands of `setup` make, in order."""
    out: list[str] = []
    for w in setup:
        if w and (w[0] == "mkdir" or w[0] == "install" and ("-d" in w or "--directory" in w)):
            skip = False
            for a in w[1:]:
                if skip:
                    skip = False
                elif a in ("-m", "-o", "-g"):
                    skip = True
                elif a.startswith("/") and a not in out:
                    out.append(a)
    return out


def run_dirs_option(setup: list[list[str]]) -> str:
    """The run_dirs= value (docs/config.md) for mkdir/install -d/chown/chmod commands, or ""
    when one of them says something run_dirs cannot (a symbolic mode, an unknown flag)."""
    made: dict[str, list[str]] = {}         # path -> [owner, group, mode]
    for w in setup:
        cmd, args = w[0], w[1:]
        opts: dict[str, str] = {}
        paths: list[str] = []
        i = 0
        while i < len(args):
            a = args[i]
            m = re.fullmatch(r"--(mode|owner|group)=(.+)", a)
            if m:
                opts[m.group(1)[0]] = m.group(2)
            elif a in ("-m", "-o", "-g") and i + 1 < len(args):
                opts[a[1]] = args[i + 1]
                i += 1
            elif a in ("-p", "--parents", "-d", "--directory", "-R", "-v"):
                pass
            elif a.startswith("-"):
                return ""
            else:
                paths.append(a)
            i += 1
        if cmd in ("chown", "chmod"):
            if len(paths) < 2 or opts:
                return ""
            value, paths = paths[0], paths[1:]
            if cmd == "chmod":
                opts["m"] = value
            else:
                m = re.fullmatch(r"([^:.]+)(?:([:.])(.*))?", value)
                if not m:
                    return ""
                owner, sep, group = m.group(1), m.group(2) or "", m.group(3) or ""
                opts["o"] = owner
                # `chown u` keeps the group (root's, as made); `chown u:` takes u's own.
                opts["g"] = group if group else ("" if sep else "root")
        for path in paths:
            cur = made.setdefault(path, ["root", "root", "0755"])
            if "o" in opts:
                cur[0] = opts["o"]
                if "g" not in opts and cmd == "install":
                    cur[1] = "root"
            if "g" in opts:
                cur[1] = opts["g"]
            if "m" in opts:
                if not re.fullmatch(r"0?[0-7]{3,4}", opts["m"]):
                    return ""
                cur[2] = opts["m"] if opts["m"].startswith("0") else "0" + opts["m"]
    parts = []
    for path, (owner, group, mode) in made.items():
        if not owner or not re.fullmatch(r"[\w.-]+", owner) or (
                group and not re.fullmatch(r"[\w.-]+", group)):
            return ""
        parts.append(f"{path} {owner}{':' + group if group else ''} {mode}")
    return ", ".join(parts)


def _with_recipe(ad: Adoption, r: Recipe, base: str, root: str) -> None:
    info, la = ad.info, ad.info.launch or Launch(style="library")
    ad.recipe, ad.decision = r, "recipe"
    same = os.path.basename(la.daemon) == os.path.basename(r.daemon)
    daemon = la.daemon if same and resolved(la.daemon) and la.daemon.startswith("/") else r.daemon
    args: Optional[list[str]] = None
    if r.args_from_script and same and la.args:
        if all(resolved(a) for a in la.args):
            args = r.filter_args(la.args)
            ad.explain.append(f"arguments from the script: {shlex.join(la.args)}")
        else:
            ad.review.append("the script's arguments are computed at run time; "
                             f"the recipe's defaults are used ({r.args or 'none'})")
    carried = la
    if not same and not la.wrapper and la.style != "library" and (la.user or la.chdir):
        # sendmail's script starts its MSP queue runner as smmsp first; the recipe runs the
        # MTA, which is not that process: its user and directory do not apply.
        carried = Launch(style=la.style)
        ad.explain.append(f"the script's start runs {la.daemon}, not the recipe's "
                          f"{r.daemon}: its user and directory are not carried over")
    instances = r.find_instances(root)
    needs_instance = any(p in r.command for p in ("{instance}", "{version}", "{cluster}")) or (
        "{conf}" in r.command and not r.conf)
    if r.instances and not instances and needs_instance:
        ad.decision = "review"
        ad.review.append(f"recipe {r.name} runs one program per instance but none matched "
                         f"{r.instances}: write one [program:x] per instance by hand")
        return
    targets = instances or [{}]
    if instances:
        ad.explain.append(f"{len(instances)} instance(s) from {r.instances}: "
                          + ", ".join(i["instance"] for i in instances))
    for inst in targets:
        a = args
        conf = inst.get("conf", "")
        if r.args_file:
            path = r.render(r.args_file, conf=conf) if "{" in r.args_file else r.args_file
            path = shlex.split(path)[0] if path else ""
            got = _read_args_file(_host(root, path)) if path else None
            if got is not None:
                a = r.filter_args(got)
                ad.explain.append(f"options from {path}: {shlex.join(got)}")
        ctx = dict(daemon=daemon, args=a, pidfile=la.pidfile
                   if la.pidfile and resolved(la.pidfile) else "",
                   instance=inst.get("instance", ""), conf=conf,
                   version=inst.get("version", ""), cluster=inst.get("cluster", ""))
        opts = program_options(r, **ctx)
        core = program_options(r, subreaper=True, **ctx)
        _carry_over(ad, opts, carried, r)
        _carry_over(Adoption(info=info, decision=""), core, carried, r)
        pname = base if not inst else program_name(
            base + "-" + re.sub(rf"^{re.escape(base)}[_-]?", "", inst["instance"])
            if inst["instance"] != base else base)
        defaults = program_options(r, subreaper=True)
        # command= is always written: explicit, and loadable by a core that does not
        # expand recipes yet; the recipe supplies what is left out (stop signal, ...).
        wc: dict[str, str] = {"recipe": r.name, "command": core["command"]}
        for k, v in core.items():
            if defaults.get(k) != v:
                wc[k] = v
        if r.mode == "shim":
            # Under `wrapctl daemon` the core adopts the forking daemon itself.
            wc["command"] = r.render(r.command, **ctx)
            if ctx["pidfile"] or r.pidfile:
                wc["pidfile"] = ctx["pidfile"] or r.pidfile
            for k in ("stopsignal", "stopwaitsecs"):
                wc.pop(k, None)
        rd = adopt_ready.choose(r, shlex.split(wc["command"]),
                                pidfile_option=wc.get("pidfile", ""),
                                script_pidfile=ctx["pidfile"],
                                read=lambda p: _read_config(_host(root, p)))
        if rd.spec:
            wc["ready"] = rd.spec
            wc["ready_timeout"] = str(READY_TIMEOUT)
        ad.explain.append((f"{pname}: " if instances else "")
                          + (f"ready={rd.spec} (--format wrapctl only)" if rd.spec
                             else "no ready=") + f": {rd.why}")
        ad.programs.append(Program(name=pname, options=opts, wrapctl=wc,
                                   instance=inst.get("instance", ""), ready=rd.spec,
                                   ready_why=rd.why))
    ad.explain.append(f"recipe {r.name}: {r.description} (checked against: {r.source})")
    ad.explain += [f"note: {n}" for n in r.notes]


def _carry_over(ad: Adoption, opts: dict[str, str], la, r: Optional[Recipe]) -> None:
    """User, directory, umask, nice and exported environment from the script."""
    if la.user and resolved(la.user):
        opts["user"] = la.user
        if la.group and la.group != la.user:
            ad.review.append(f"the script runs as {la.user}:{la.group}; supervisord uses "
                             f"{la.user}'s primary group")
    if la.chdir and resolved(la.chdir):
        opts["directory"] = la.chdir
    if la.umask and re.fullmatch(r"0?[0-7]{3}", la.umask):
        opts["umask"] = la.umask if la.umask.startswith("0") else "0" + la.umask
    if la.chroot:
        ad.review.append(f"the script chroots to {la.chroot}; supervisord cannot, "
                         "so the program runs outside it")
    env = dict(r.environment) if r else {}
    for k, v in ad.info.exported.items():
        if k not in _SKIP_ENV and resolved(v):
            env[k] = v
    if env:
        opts["environment"] = format_environment(env)


def _without_recipe(ad: Adoption, base: str, recipe: Optional[Recipe]) -> None:
    info, la = ad.info, ad.info.launch
    prog = la.program
    if not resolved(prog) or not prog:
        ad.decision = "review"
        ad.review.append("the started program is computed at run time; "
                         "write the command by hand")
        return
    args = [a for a in la.args]
    if not all(resolved(a) for a in args):
        ad.review.append("some arguments are computed at run time and were left out: "
                         + " ".join(a for a in args if not resolved(a)).replace("\x00", "$(...)"))
        args = [a for a in args if resolved(a)]
    start = [prog] + args
    opts: dict[str, str] = {}
    stop_sig = info.stop_signal or "TERM"
    if la.background and not la.wrapper:
        ad.decision = "foreground"
        ad.explain.append("the script backgrounds it itself (--background or &), "
                          "so it does not fork: run it directly")
        opts["command"] = shlex.join(start)
        opts["stopsignal"] = stop_sig
        opts["stopwaitsecs"] = str(max(info.stop_timeout, 10))
    else:
        ad.decision = "shim"
        sigs = []
        if stop_sig != "TERM":
            sigs.append(f"TERM:{stop_sig}")
        if info.reload_signal and info.reload_signal != "HUP":
            sigs.append(f"HUP:{info.reload_signal}")
        if info.reopen_signal and info.reopen_signal != "USR1":
            sigs.append(f"USR1:{info.reopen_signal}")
        stop_cmd = reload_cmd = ""
        if la.wrapper and "start" in args:
            stop_cmd = shlex.join([prog] + ["stop" if a == "start" else a for a in args])
            reload_cmd = shlex.join([prog] + ["reload" if a == "start" else a for a in args])
        pid = la.pidfile if la.pidfile and resolved(la.pidfile) else ""
        if not pid:
            pid = pidfile_in_args(args)
            if pid:
                ad.explain.append(f"pidfile from the daemon's own arguments: {pid}")
        exe = ""
        if not pid:
            exe = la.name or os.path.basename(la.daemon)
            ad.review_by_format.setdefault("supervisord", []).append(
                f"no pidfile found: the shim identifies the daemon as {exe!r}")
            ad.review_by_format.setdefault("wrapctl", []).append(
                "no pidfile found: wrapctl daemon takes the daemon's pid from the process "
                "tree the command leaves (its top process)")
        timeout = max(info.stop_timeout, 10)
        opts["command"] = shim_command(start, pidfile=pid, signals=sigs,
                                       stop_command=stop_cmd, reload_command=reload_cmd,
                                       stop_timeout=timeout, exe=exe)
        opts["stopsignal"] = "TERM"
        opts["stopwaitsecs"] = str(timeout + 5)
        opts["killasgroup"] = "true"
        ad.explain.append("no recipe: the script's own start command runs under wrapctl-shim, "
                          "which follows the daemon it forks"
                          + (f" through {pid}" if pid else ""))
    _carry_over(ad, opts, la, None)
    wc = dict(opts)
    if ad.decision == "shim":
        # Under `wrapctl daemon`: the forking command plus pidfile=, adopted in-process.
        wc["command"] = shlex.join(start)
        wc["stopsignal"] = stop_sig
        wc["stopwaitsecs"] = str(max(info.stop_timeout, 10))
        if pid:
            wc["pidfile"] = pid
        # Without a pidfile nothing is written in its place: the core finds the daemon
        # from the tree the command leaves (forking=auto, its default).
    ad.programs.append(Program(name=base, options=opts, wrapctl=wc,
                               ready_why="no recipe, so no readiness hint"))


def pidfile_in_args(args: list[str]) -> str:
    """`--pidfile X`, `--pid-file=X`, `-pidfile X`: where the daemon says it writes its pid."""
    for i, a in enumerate(args):
        m = re.match(r"^--?(pid-?file|pid)(=(.+))?$", a, re.I)
        if not m:
            continue
        val = m.group(3) or (args[i + 1] if i + 1 < len(args) else "")
        if val.startswith("/") and resolved(val):
            return val
    return ""


def check_shim_access(ad: Adoption, shim: Optional[str]) -> None:
    """Add a review line for each `--format supervisord` program that runs wrapctl-shim as a
    user who cannot execute it (or its interpreter): supervisord would log EACCES and give
    up. `shim` is where wrapctl-shim is on this machine (None: not found, nothing said)."""
    if not shim:
        return
    for p in ad.programs:
        user = p.options.get("user", "")
        if not user or user in ("root", "0") or "wrapctl-shim" not in shlex.split(
                p.options.get("command", "")):
            continue
        blocker = _not_executable_by(user, shim)
        if blocker:
            ad.review.append(f"{p.name} runs wrapctl-shim as {user}, who cannot run {shim} "
                             f"({blocker}): install wrapctl where {user} can run it (a "
                             "system-wide pip install puts it in /usr/local/bin)")


def _not_executable_by(user: str, path: str) -> str:
    """Why `user` cannot execute `path` (a directory on the way without search permission,
    the file or its #! interpreter without execute permission), or ""."""
    import pwd
    try:
        pw = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
        gids = set(os.getgrouplist(pw.pw_name, pw.pw_gid))
    except (KeyError, OSError):
        return ""               # an unknown user is the config's problem, said elsewhere
    if pw.pw_uid == 0:
        return ""
    todo = [path]
    try:
        with open(path, "rb") as f:
            first = f.readline(256)
        if first.startswith(b"#!") and first[2:].split():
            todo.append(first[2:].split()[0].decode("utf-8", "replace"))
    except OSError:
        return ""
    for target in todo:
        real = os.path.realpath(target)
        for full in (os.path.abspath(target), real):
            parts = full.split("/")[1:-1]
            for k in range(len(parts) + 1):
                d = "/" + "/".join(parts[:k])
                if not _allowed(d, pw.pw_uid, gids):
                    return f"{d} is not searchable for {user}"
        if not _allowed(real, pw.pw_uid, gids):
            return f"{real} is not executable for {user}"
    return ""


def _allowed(path: str, uid: int, gids: set) -> bool:
    """Execute (search, for a directory) permission of `path` for uid/gids."""
    try:
        st = os.stat(path)
    except OSError:
        return True             # nothing to say about what is not there
    if st.st_uid == uid:
        return bool(st.st_mode & 0o100)
    if st.st_gid in gids:
        return bool(st.st_mode & 0o010)
    return bool(st.st_mode & 0o001)


# -- rendering ------------------------------------------------------------------------------
_BASE_OPTS = {"autostart": "true", "autorestart": "true", "startsecs": "1"}


def _ini_value(v: str) -> str:
    # supervisord interpolates %(name)s in every value: a literal % must be doubled.
    return v.replace("%", "%%").replace("\n", " ")


def render_ini(ad: Adoption, fmt: str = "supervisord", extra: Optional[dict] = None) -> str:
    """INI text for the adoption's programs. `extra` maps program name -> more options
    (migrate adds priority= and depends_on=)."""
    lines = [f"; adopted from {ad.info.path} by wrapctl adopt ({_decision_words(ad, fmt)})"]
    for note in ad.review_for(fmt):
        lines.append(f"; review: {note}".replace("\x00", "$(...)"))
    for p in ad.programs:
        lines.append(f"[program:{p.name}]")
        if fmt == "wrapctl":
            opts = dict(p.wrapctl)
        else:
            opts = dict(p.options)
        for k, v in _BASE_OPTS.items():
            opts.setdefault(k, v)
        for k, v in ((extra or {}).get(p.name) or {}).items():
            if fmt == "supervisord" and k in ("depends_on",):
                continue
            opts[k] = v
        for k, v in opts.items():
            if re.search(r"\s[;#]", v):
                # supervisord's parser cuts a value at " ;" or " #", with no escape.
                lines.append(f"; review: {k} holds ' ;' or ' #', which supervisord reads as "
                             "a comment: move that text into a script")
            lines.append(f"{k}={_ini_value(v)}")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _decision_words(ad: Adoption, fmt: str = "supervisord") -> str:
    if ad.decision == "recipe":
        return f"recipe {ad.recipe.name}"
    if ad.decision == "shim":
        return ("no recipe; wrapctl daemon follows the forking daemon" if fmt == "wrapctl"
                else "no recipe; wrapctl-shim follows the forking daemon")
    if ad.decision == "foreground":
        return "no recipe; the daemon does not fork"
    return ad.decision


def to_json(ad: Adoption) -> dict:
    d = ad.info.to_dict()
    d["kind"] = "oneshot" if ad.decision == "oneshot" else "daemon"
    d["decision"] = ad.decision
    d["recipe"] = ad.recipe.name if ad.recipe else ""
    d["programs"] = [{"name": p.name, "command": p.options.get("command", ""),
                      "options": p.options, "wrapctl": p.wrapctl, "instance": p.instance,
                      "ready": p.ready, "ready_why": p.ready_why}
                     for p in ad.programs]
    d["command"] = ad.programs[0].options["command"] if ad.programs else ""
    d["review"] = ad.review_for("supervisord")
    d["review_wrapctl"] = ad.review_for("wrapctl")
    d["explain"] = ad.explain
    if ad.observed:
        d["observed"] = ad.observed
    return json.loads(json.dumps(d).replace("\\u0000", "$(...)"))


def render_explain(ad: Adoption) -> str:
    info, la = ad.info, ad.info.launch
    kind = "oneshot" if ad.decision == "oneshot" else "daemon"
    out = [f"script:   {info.path}", f"kind:     {kind}"]
    if info.lsb.get("Provides"):
        out.append(f"provides: {info.lsb['Provides']}")
    if la:
        out += [f"style:    {la.style}", f"daemon:   {la.daemon}",
                f"args:     {shlex.join(la.args) if la.args else '(none)'}",
                f"pidfile:  {la.pidfile or '(none)'}"]
        if la.user:
            out.append(f"user:     {la.user}" + (f":{la.group}" if la.group else ""))
        if la.chdir:
            out.append(f"chdir:    {la.chdir}")
        if la.background:
            out.append("background: yes (the daemon does not fork itself)")
    if info.stop_signal:
        out.append(f"stop:     {info.stop_signal}"
                   + (f" ({info.stop_timeout}s)" if info.stop_timeout else ""))
    if info.reload_signal:
        out.append(f"reload:   {info.reload_signal}")
    out.append(f"decision: {ad.decision}" + (f" ({ad.recipe.name})" if ad.recipe else ""))
    for p in ad.programs:
        if ad.recipe is not None:
            out.append("ready:    " + (f"{p.name}: " if len(ad.programs) > 1 else "")
                       + (f"{p.ready} (with --format wrapctl)" if p.ready else "(none)"))
    out.append("why:")
    out += [f"  - {e}" for e in ad.explain]
    notes = ad.review + [f"{r} (--format {fmt})" for fmt, rs in
                         sorted(ad.review_by_format.items()) for r in rs]
    if notes:
        out.append("review:")
        out += [f"  - {r}" for r in notes]
    return "\n".join(out).replace("\x00", "$(...)") + "\n"
