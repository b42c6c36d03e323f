"""Recipes: TOML data saying how to run a known daemon in the foreground.

Loading validates every file against SCHEMA; a bad file raises RecipeError whose str() is one
line naming the file and the key. User directories override bundled recipes by name.
See docs/recipes.md for the format.
"""
from __future__ import annotations

import glob
import os
import shlex
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Iterable, Optional

from wrapctl.shims import signals

# Directory searched after the bundled recipes and before --recipes-dir: admins drop files here.
SYSTEM_DIR = "/etc/wrapctl/recipes"
ENV_DIRS = "WRAPCTL_RECIPES"          # extra dirs, os.pathsep-separated


class RecipeError(Exception):
    """A recipe that cannot be used. str() is 'file: key: reason' on one line."""

    def __init__(self, file: str, key: str, reason: str):
        super().__init__(f"{file}: {key}: {reason}" if key else f"{file}: {reason}")
        self.file, self.key, self.reason = file, key, reason


# key -> (type, required).  Types: str, int, bool, list (of str), dict (str->str), table.
_S, _I, _B, _L, _D = "string", "integer", "boolean", "list of strings", "table of strings"
SCHEMA: dict[str, object] = {
    "name": (_S, True),
    "description": (_S, True),
    "source": (_S, True),
    "notes": (_L, False),
    "match": {
        "scripts": (_L, False),
        "provides": (_L, False),
        "executables": (_L, False),
    },
    "run": {
        "mode": (_S, True),             # foreground | shim
        "command": (_S, True),
        "daemon": (_S, True),
        "args": (_S, False),
        "drop_args": (_L, False),
        "drop_args_with_value": (_L, False),
        "args_from_script": (_B, False),
        "pidfile": (_S, False),
        "user": (_S, False),
        "directory": (_S, False),
        "environment": (_D, False),
        "instances": (_S, False),       # glob of per-instance config files
        "instance_name": (_S, False),   # how {instance} is cut from a match: stem|parent|version/cluster
        "conf": (_S, False),            # the config file {conf} names when there are no instances
        "args_file": (_S, False),       # file of options, one or more per line ("{conf}")
    },
    "stop": {
        "signal": (_S, False),
        "timeout": (_I, False),
        "command": (_S, False),
        "kill_group": (_B, False),
    },
    "reload": {
        "signal": (_S, False),
        "command": (_S, False),
    },
    "logs": {
        "reopen_signal": (_S, False),
    },
    "check": {
        "command": (_S, False),
    },
    "ready": {
        "port": (_I, False),
        "socket": (_S, False),
        "pidfile": (_B, False),
    },
}

_MODES = ("foreground", "shim")
_PLACEHOLDERS = ("daemon", "args", "pidfile", "instance", "conf", "name", "version", "cluster")
_INSTANCE_NAMES = ("stem", "parent", "version/cluster")


def _typeok(kind: str, value) -> bool:
    if kind == _S:
        return isinstance(value, str)
    if kind == _I:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == _B:
        return isinstance(value, bool)
    if kind == _L:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == _D:
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    return False


def _check(file: str, data: dict, schema: dict, prefix: str = "") -> None:
    for key, value in data.items():
        dotted = prefix + key
        if key not in schema:
            raise RecipeError(file, dotted, "unknown key")
        spec = schema[key]
        if isinstance(spec, dict):
            if not isinstance(value, dict):
                raise RecipeError(file, dotted, "must be a table")
            _check(file, value, spec, dotted + ".")
            continue
        kind, _ = spec
        if not _typeok(kind, value):
            art = "an" if kind[0] in "aeiou" else "a"
            raise RecipeError(file, dotted, f"must be {art} {kind}, not {type(value).__name__}")
    for key, spec in schema.items():
        if isinstance(spec, tuple) and spec[1] and key not in data:
            raise RecipeError(file, prefix + key, "missing required key")
        if isinstance(spec, dict) and key not in data and any(
                isinstance(s, tuple) and s[1] for s in spec.values()):
            raise RecipeError(file, prefix + key, "missing required table")


def signal_number(name: str) -> Optional[int]:
    """'QUIT', 'SIGQUIT' or '3' -> 3; None when not a signal (the shared table)."""
    try:
        return signals.number(name)
    except ValueError:
        return None


def signal_name(name: str) -> str:
    """Canonical name without SIG ('sigquit' -> 'QUIT'); what is not a signal, as given."""
    num = signal_number(name)
    return signals.name(num).removeprefix("SIG") if num else name


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    source: str
    file: str
    bundled: bool
    mode: str
    command: str
    daemon: str
    args: str = ""
    drop_args: tuple[str, ...] = ()
    drop_args_with_value: tuple[str, ...] = ()
    args_from_script: bool = True
    pidfile: str = ""
    user: str = ""
    directory: str = ""
    environment: tuple[tuple[str, str], ...] = ()
    instances: str = ""
    instance_name: str = "stem"
    conf: str = ""
    args_file: str = ""
    scripts: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    executables: tuple[str, ...] = ()
    stop_signal: str = "TERM"
    stop_timeout: int = 10
    stop_command: str = ""
    kill_group: bool = False
    reload_signal: str = ""
    reload_command: str = ""
    reopen_signal: str = ""
    check_command: str = ""
    ready_port: int = 0
    ready_socket: str = ""
    ready_pidfile: bool = False
    notes: tuple[str, ...] = ()
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    def render(self, template: str, *, daemon: str = "", args: Optional[list[str]] = None,
               pidfile: str = "", instance: str = "", conf: str = "", name: str = "",
               version: str = "", cluster: str = "") -> str:
        """Fill a command template; {args} becomes shell-quoted words."""
        argv = self.args_list() if args is None else args
        pid = pidfile or self.pidfile
        values = {
            "daemon": shlex.quote(daemon or self.daemon),
            "args": " ".join(shlex.quote(a) for a in argv),
            "pidfile": shlex.quote(pid) if pid else "",
            "instance": instance, "conf": shlex.quote(conf or self.conf) if (conf or self.conf) else "",
            "name": name or self.name, "version": version, "cluster": cluster,
        }
        out = template
        for k, v in values.items():
            out = out.replace("{" + k + "}", v)
        # supervisord splits command= with shlex (no shell), so re-joining the words is exact
        # and drops the gaps empty placeholders leave.
        return shlex.join(shlex.split(out))

    def find_instances(self, root: str = "/") -> list[dict[str, str]]:
        """Per-instance values ({instance}, {conf}, {version}, {cluster}) from run.instances."""
        if not self.instances:
            return []
        out = []
        for path in sorted(glob.glob(os.path.join(root, self.instances.lstrip("/")))):
            real = "/" + os.path.relpath(path, root) if root != "/" else path
            d = {"conf": real}
            if self.instance_name == "stem":
                d["instance"] = os.path.splitext(os.path.basename(path))[0]
            elif self.instance_name == "parent":
                d["instance"] = os.path.basename(os.path.dirname(path))
            else:
                cluster_dir = os.path.dirname(path)
                d["cluster"] = os.path.basename(cluster_dir)
                d["version"] = os.path.basename(os.path.dirname(cluster_dir))
                d["instance"] = f"{d['version']}-{d['cluster']}"
            out.append(d)
        return out

    def args_list(self) -> list[str]:
        return shlex.split(self.args) if self.args else []

    def filter_args(self, argv: list[str]) -> list[str]:
        """Drop the daemonizing flags the recipe's foreground command replaces."""
        out, skip = [], False
        for a in argv:
            if skip:
                skip = False
                continue
            if a in self.drop_args:
                continue
            if a in self.drop_args_with_value:
                skip = True
                continue
            if any(a.startswith(d + "=") for d in self.drop_args_with_value if d.startswith("--")):
                continue
            out.append(a)
        return out


def _validate(file: str, data: dict, bundled: bool) -> Recipe:
    _check(file, data, SCHEMA)
    run = data["run"]
    if run["mode"] not in _MODES:
        raise RecipeError(file, "run.mode", f"must be one of {', '.join(_MODES)}")
    if "{daemon}" not in run["command"] and run["mode"] == "shim":
        raise RecipeError(file, "run.command", "a shim recipe's command must start {daemon}")
    for tmpl_key in ("command",):
        for frag in _placeholders(run[tmpl_key]):
            if frag not in _PLACEHOLDERS:
                raise RecipeError(file, f"run.{tmpl_key}", f"unknown placeholder {{{frag}}}")
    stop = data.get("stop", {})
    for dotted, value in (("stop.signal", stop.get("signal")),
                          ("reload.signal", data.get("reload", {}).get("signal")),
                          ("logs.reopen_signal", data.get("logs", {}).get("reopen_signal"))):
        if value and signal_number(value) is None:
            raise RecipeError(file, dotted, f"not a signal: {value!r}")
    if stop.get("timeout", 1) <= 0:
        raise RecipeError(file, "stop.timeout", "must be > 0")
    inst_name = run.get("instance_name", "stem")
    if inst_name not in _INSTANCE_NAMES:
        raise RecipeError(file, "run.instance_name", f"must be one of {', '.join(_INSTANCE_NAMES)}")
    stem = os.path.splitext(os.path.basename(file))[0]
    if data["name"] != stem:
        raise RecipeError(file, "name", f"must equal the file name ({stem!r})")
    m = data.get("match", {})
    rl = data.get("reload", {})
    rd = data.get("ready", {})
    return Recipe(
        name=data["name"], description=data["description"], source=data["source"],
        file=file, bundled=bundled, mode=run["mode"], command=run["command"],
        daemon=run["daemon"], args=run.get("args", ""),
        drop_args=tuple(run.get("drop_args", ())),
        drop_args_with_value=tuple(run.get("drop_args_with_value", ())),
        args_from_script=run.get("args_from_script", True),
        pidfile=run.get("pidfile", ""), user=run.get("user", ""),
        directory=run.get("directory", ""),
        environment=tuple(run.get("environment", {}).items()),
        instances=run.get("instances", ""), instance_name=inst_name,
        conf=run.get("conf", ""), args_file=run.get("args_file", ""),
        scripts=tuple(m.get("scripts", ())), provides=tuple(m.get("provides", ())),
        executables=tuple(m.get("executables", ())),
        stop_signal=signal_name(stop.get("signal", "TERM")),
        stop_timeout=stop.get("timeout", 10), stop_command=stop.get("command", ""),
        kill_group=stop.get("kill_group", False),
        reload_signal=signal_name(rl["signal"]) if rl.get("signal") else "",
        reload_command=rl.get("command", ""),
        reopen_signal=signal_name(data.get("logs", {}).get("reopen_signal", "") or "")
        if data.get("logs", {}).get("reopen_signal") else "",
        check_command=data.get("check", {}).get("command", ""),
        ready_port=rd.get("port", 0), ready_socket=rd.get("socket", ""),
        ready_pidfile=rd.get("pidfile", False),
        notes=tuple(data.get("notes", ())), raw=data,
    )


def _placeholders(template: str) -> list[str]:
    out, i = [], 0
    while True:
        i = template.find("{", i)
        if i < 0:
            return out
        j = template.find("}", i)
        if j < 0:
            return out
        out.append(template[i + 1:j])
        i = j + 1


def load_file(path: str, bundled: bool = False) -> Recipe:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise RecipeError(path, "", f"not valid TOML: {e}") from None
    except OSError as e:
        raise RecipeError(path, "", e.strerror or str(e)) from None
    return _validate(path, data, bundled)


def _bundled_files() -> list[str]:
    root = resources.files("wrapctl.bundled_recipes")
    return sorted(str(p) for p in root.iterdir() if p.name.endswith(".toml"))


def default_dirs() -> list[str]:
    extra = [d for d in os.environ.get(ENV_DIRS, "").split(os.pathsep) if d]
    return [SYSTEM_DIR] + extra


class RecipeBook:
    """All recipes by name: bundled first, then each user directory in order overriding."""

    def __init__(self, recipes: dict[str, Recipe]):
        self.recipes = recipes

    @classmethod
    def load(cls, dirs: Optional[Iterable[str]] = None, *, system: bool = True) -> "RecipeBook":
        found: dict[str, Recipe] = {}
        for path in _bundled_files():
            r = load_file(path, bundled=True)
            found[r.name] = r
        search = list(default_dirs() if system else [])
        search += list(dirs or [])
        for d in search:
            if not os.path.isdir(d):
                continue
            for fn in sorted(os.listdir(d)):
                if fn.endswith(".toml"):
                    r = load_file(os.path.join(d, fn))
                    found[r.name] = r
        return cls(found)

    def get(self, name: str) -> Optional[Recipe]:
        return self.recipes.get(name)

    def names(self) -> list[str]:
        return sorted(self.recipes)

    def match(self, *, script: str = "", provides: Iterable[str] = (),
              executables: Iterable[str] = ()) -> tuple[Optional[Recipe], str]:
        """Best recipe for an init script, and why. Evidence is weighted: the binary started
        (4) over the script's name (2) over its LSB Provides (1); the highest total wins,
        ties by name. mysqld_safe started by a script named mariadb is mariadb."""
        exes = [os.path.basename(e) for e in executables if e]
        best: tuple[int, str] = (0, "")
        why: dict[str, list[str]] = {}
        for r in self.recipes.values():
            score, reasons = 0, []
            for kind, weight, values, attr in (
                    ("executable", 4, exes, "executables"),
                    ("script name", 2, [script] if script else [], "scripts"),
                    ("LSB Provides", 1, list(provides), "provides")):
                hit = next((v for v in values if v in getattr(r, attr)), None)
                if hit:
                    score += weight
                    reasons.append(f"{kind} {hit!r}")
            if score and (score > best[0] or score == best[0] and r.name < best[1]):
                best = (score, r.name)
            why[r.name] = reasons
        if best[0]:
            r = self.recipes[best[1]]
            return r, f"{' and '.join(why[r.name])} match recipe {r.name!r} ({r.file})"
        return None, "no recipe matches " + ", ".join(
            f"{k} {v!r}" for k, v in (("script", script),) if v) + (
            f"; executables {exes}" if exes else "")


def shim_command(start: list[str], *, pidfile: str = "", signals: Iterable[str] = (),
                 stop_command: str = "", reload_command: str = "", pre_start: str = "",
                 start_timeout: int = 0, stop_timeout: int = 0, exe: str = "") -> str:
    """The `wrapctl-shim` command line (issue 3's interface) that runs a forking `start`."""
    parts = ["wrapctl-shim"]
    if pidfile:
        parts += ["--pidfile", pidfile]
    for s in signals:
        parts += ["--signal", s]
    if stop_command:
        parts += ["--stop-command", stop_command]
    if reload_command:
        parts += ["--reload-command", reload_command]
    if pre_start:
        parts += ["--pre-start", pre_start]
    if start_timeout:
        parts += ["--start-timeout", str(start_timeout)]
    if stop_timeout:
        parts += ["--stop-timeout", str(stop_timeout)]
    if exe:
        parts += ["--exe", exe]
    parts.append("--")
    parts += start
    return " ".join(shlex.quote(p) for p in parts)


def recipe_signals(r: Recipe) -> list[str]:
    """--signal maps for a shim: the supervisor's TERM becomes the graceful stop signal, HUP
    the reload signal, USR1 the log-reopen signal."""
    out = []
    if r.stop_signal and r.stop_signal != "TERM":
        out.append(f"TERM:{r.stop_signal}")
    if r.reload_signal and r.reload_signal != "HUP":
        out.append(f"HUP:{r.reload_signal}")
    if r.reopen_signal and r.reopen_signal != "USR1":
        out.append(f"USR1:{r.reopen_signal}")
    return out


def program_options(r: Recipe, *, daemon: str = "", args: Optional[list[str]] = None,
                    pidfile: str = "", instance: str = "", conf: str = "", name: str = "",
                    version: str = "", cluster: str = "",
                    subreaper: bool = False) -> dict[str, str]:
    """supervisord program options that run recipe `r` (insertion-ordered).

    `subreaper` says the supervisor reaps orphans itself (`wrapctl daemon`). A plain
    supervisor does not: a recipe whose workers outlive a killed master (stop.kill_group)
    then runs its foreground command inside wrapctl-shim, which reaps and kills them, so
    the restarted master can bind its port again.
    """
    pid = pidfile or r.pidfile
    ctx = dict(daemon=daemon, args=args, pidfile=pid, instance=instance, conf=conf,
               name=name, version=version, cluster=cluster)
    cmd = r.render(r.command, **ctx)
    opts: dict[str, str] = {}
    if r.mode == "shim":
        # Under a plain supervisor the shim carries the stop signal itself (TERM:QUIT map),
        # so stopsignal stays TERM for the shim process.
        opts["command"] = shim_command(
            shlex.split(cmd), pidfile=pid, signals=recipe_signals(r),
            exe="" if pid else os.path.basename(r.daemon),
            stop_command=r.render(r.stop_command, **ctx) if r.stop_command else "",
            reload_command=r.render(r.reload_command, **ctx) if r.reload_command else "",
            stop_timeout=r.stop_timeout)
        opts["stopsignal"] = "TERM"
        opts["stopwaitsecs"] = str(r.stop_timeout + 5)
    elif r.kill_group and not subreaper:
        opts["command"] = shim_command(shlex.split(cmd), signals=recipe_signals(r),
                                       stop_timeout=r.stop_timeout)
        opts["stopsignal"] = "TERM"
        opts["stopwaitsecs"] = str(r.stop_timeout + 5)
    else:
        opts["command"] = cmd
        opts["stopsignal"] = r.stop_signal or "TERM"
        opts["stopwaitsecs"] = str(r.stop_timeout)
    if opts["command"].startswith("wrapctl-shim "):
        # The shim maps TERM to the graceful signal and stops the tree itself: a TERM sent
        # to the whole group would reach the daemon unmapped. SIGKILL to the group stays
        # as the last resort.
        opts["killasgroup"] = "true"
    elif r.kill_group:
        opts["stopasgroup"] = "true"
        opts["killasgroup"] = "true"
    if r.user:
        opts["user"] = r.user
    if r.directory:
        opts["directory"] = r.directory
    if r.environment:
        opts["environment"] = format_environment(dict(r.environment))
    return opts


def format_environment(env: dict[str, str]) -> str:
    """supervisord's environment= syntax: KEY="value",KEY2="value2" (the value as parsed:
    writing it into an INI file doubles its % signs, see adopt.render_ini)."""
    def q(v: str) -> str:
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return ",".join(f"{k}={q(v)}" for k, v in env.items())


def resolve_program(recipe_name: str, options: dict[str, str],
                    book: Optional[RecipeBook] = None) -> dict[str, str]:
    """Merge recipe `recipe_name` into a program section's options; explicit options win.

    The result holds supervisord options (command, stopsignal, stopwaitsecs, stopasgroup,
    killasgroup, user, directory, environment) and, for shim-mode recipes, the wrapctl-only
    pidfile= so the core can adopt the daemon in-process. `recipe` itself is dropped.
    Raises KeyError (with the name) for an unknown recipe.
    """
    book = book or RecipeBook.load()
    r = book.get(recipe_name)
    if r is None:
        raise KeyError(recipe_name)
    if r.mode == "shim":
        # The core adopts forking daemons in-process: give it the forking command and the
        # pidfile, not a shim command line.
        merged = program_options(r, subreaper=True)
        merged["command"] = r.render(r.command)
        merged["stopsignal"] = r.stop_signal
        merged["stopwaitsecs"] = str(r.stop_timeout)
        if r.pidfile:
            merged["pidfile"] = r.pidfile
    else:
        merged = program_options(r, subreaper=True)
    for k, v in options.items():
        if k != "recipe":
            merged[k] = v
    return merged
