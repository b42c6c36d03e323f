"""Turn the sections of a supervisord INI file (and its includes) into Config records.

Semantics follow supervisord 4.3's ServerOptions.read_config: the same defaults, the same
expansion names per option, the same process/group model. Where supervisord is silent about
something that is almost surely a mistake, we add a warning; where it would fail later at
run time (an unparseable command), we fail now with the file and line.
"""
from __future__ import annotations

import dataclasses
import glob
import os
import platform
import shlex
import tempfile
from typing import Any, Callable, Mapping, Optional

from wrapctl.config import checks, deps
from wrapctl.config import values as V
from wrapctl.config.errors import ConfigError
from wrapctl.config.ini import IniDocument, Option
from wrapctl.config.records import (AUTO, Config, CtlConfig, DaemonConfig, EventListenerConfig,
                                    GroupConfig, InetServerConfig, LogConfig, ProcessConfig,
                                    RpcPluginConfig, UnixServerConfig, Where)
from wrapctl.core import rundirs

_MISSING: Any = object()
_SYSLOG = "syslog"

_PROGRAM_OPTIONS = frozenset("""
command process_name numprocs numprocs_start priority autostart startsecs startretries
autorestart exitcodes stopsignal stopwaitsecs stopasgroup killasgroup user redirect_stderr
stdout_logfile stdout_logfile_maxbytes stdout_logfile_backups stdout_capture_maxbytes
stdout_events_enabled stdout_syslog stderr_logfile stderr_logfile_maxbytes
stderr_logfile_backups stderr_capture_maxbytes stderr_events_enabled stderr_syslog
environment directory umask serverurl
""".split())
# wrapctl-only [program:x] options that are fields of ProcessConfig, not `extra`
_WRAPCTL_FIELDS = frozenset(["stopcommand"])


def _nonempty(v: str) -> str:
    if not v.strip():
        raise ValueError("empty value")
    return v.strip()


def _forking(v: str) -> str:
    value = v.strip().lower()
    if value not in ("auto", "off"):
        raise ValueError(f"{v.strip()!r} is not auto or off")
    return value


def _depends_on(v: str) -> str:
    names = [n for n in v.replace(",", " ").split()]
    if not names:
        raise ValueError("empty list of program names")
    for n in names:
        for part in n.split(":", 1):
            V.name(part)
    return v.strip()


# wrapctl-only [program:x] options: checked for form here, given meaning by later layers
WRAPCTL_PROGRAM_OPTIONS: dict[str, Callable[[str], str]] = {
    "recipe": _nonempty,
    "pidfile": _nonempty,
    "depends_on": _depends_on,
    "ready": lambda v: (checks.parse(v, pidfile="(pidfile=)"), v.strip())[1],
    "ready_timeout": lambda v: (V.number(v), v.strip())[1],
    "healthcheck": lambda v: (checks.parse(v, pidfile="(pidfile=)"), v.strip())[1],
    "healthcheck_interval": lambda v: (V.number(v, minimum=0.001), v.strip())[1],
    "healthcheck_failures": lambda v: (V.integer(v, minimum=1), v.strip())[1],
    "backoff_max": lambda v: (V.number(v), v.strip())[1],
    "killtree": lambda v: (V.boolean(v), v.strip())[1],
    "forking": _forking,
    "exe": _nonempty,
    "run_dirs": lambda v: (rundirs.parse(v), v.strip())[1],
}

# wrapctl-only [supervisord] options
WRAPCTL_DAEMON_OPTIONS: dict[str, Callable[[str], str]] = {
    "autoreload": lambda v: (V.boolean(v), v.strip())[1],
    "autoreload_delay": lambda v: (V.number(v), v.strip())[1],
    "statefile": _nonempty,
    "cgroups": lambda v: v.strip() if v.strip().lower() == "auto" else
                         ("false" if not V.boolean(v) else "auto"),
    "reload_keeps_unchanged": lambda v: (V.boolean(v), v.strip())[1],
}

_KNOWN_OPTIONS = {
    "supervisord": frozenset("""
        logfile logfile_maxbytes logfile_backups loglevel pidfile umask nodaemon silent
        minfds minprocs nocleanup childlogdir user directory strip_ansi environment
        identifier""".split()) | frozenset(WRAPCTL_DAEMON_OPTIONS),
    "unix_http_server": frozenset("file chmod chown username password".split()),
    "inet_http_server": frozenset("port username password".split()),
    "supervisorctl": frozenset("serverurl username password prompt history_file".split()),
    "include": frozenset(["files"]),
    "program": _PROGRAM_OPTIONS | frozenset(WRAPCTL_PROGRAM_OPTIONS) | _WRAPCTL_FIELDS,
    "eventlistener": _PROGRAM_OPTIONS | frozenset(WRAPCTL_PROGRAM_OPTIONS) | _WRAPCTL_FIELDS
    | frozenset(["events", "buffer_size", "result_handler"]),
    "group": frozenset(["programs", "priority"]),
}
_PLUGIN_KINDS = {"rpcinterface": "supervisor.rpcinterface_factory",
                 "ctlplugin": "supervisor.ctl_factory"}


_TOP_SECTIONS = ("supervisord", "unix_http_server", "inet_http_server", "supervisorctl", "include")
_PREFIXES = ("program", "eventlistener", "group", "fcgi-program", "rpcinterface", "ctlplugin")


def _kind(section: str) -> Optional[str]:
    """'program' for [program:x], 'supervisord' for [supervisord], None for unknown sections."""
    if section in _TOP_SECTIONS:
        return section
    prefix, sep, _ = section.partition(":")
    return prefix if sep and prefix in _PREFIXES else None


def _user_exists(name: str) -> bool:
    import pwd
    try:
        pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
        return True
    except (KeyError, ValueError):
        return False


def _nonneg(v: str) -> int:
    return V.integer(v, minimum=0)


def _proc_logfile(v: str) -> Optional[str]:
    low = v.strip().lower()
    if low in ("none", "off"):
        return None
    if low == "auto":
        return AUTO
    if low == "syslog":
        return _SYSLOG
    return V.normalize_path(V.existing_dirpath(v))


def _daemon_file(v: str) -> Optional[str]:
    if v.strip().lower() in ("none", "off"):
        return None
    if v == "syslog":
        return "syslog"
    return V.normalize_path(V.existing_dirpath(v))


def _command(v: str) -> str:
    try:
        argv = shlex.split(v)
    except ValueError as e:
        raise ValueError(f"cannot split command {v!r}: {e}") from None
    if not argv:
        raise ValueError("empty command")
    return v


def _serverurl(v: str) -> Optional[str]:
    # supervisord treats an empty serverurl like AUTO when it spawns
    if v.strip().upper() in ("AUTO", ""):
        return None
    return v


class Loader:
    def __init__(self, path: str, environ: Mapping[str, str], client: bool = False):
        self.path = os.path.abspath(path)
        self.here = os.path.dirname(self.path)
        self.client = client
        self.doc = IniDocument()
        self.warnings = self.doc.warnings
        self.files: list[str] = []
        self.env_names = {f"ENV_{k}": v for k, v in environ.items()}
        self.environ = environ
        self.node = platform.node()
        self.daemon_env: dict[str, str] = {}     # [supervisord] environment=

    # -- reading ------------------------------------------------------------------------

    def load(self) -> Config:
        if not os.path.exists(self.path):
            raise ConfigError("configuration file not found", Where(self.path))
        self.doc.read_file(self.path)
        self.files.append(self.path)
        if "include" in self.doc.sections:
            self._includes()
        self._check_sections()
        self._init_commands()
        self._apply_recipes()
        sections = self.doc.sections
        if "supervisord" in sections:
            daemon = self._daemon()
        elif self.client:
            daemon = DaemonConfig()
        else:
            raise ConfigError("no [supervisord] section", Where(self.path))
        groups = self._groups()
        unix = self._unix_server() if "unix_http_server" in sections else None
        inet = self._inet_server() if "inet_http_server" in sections else None
        ctl = self._ctl(unix, inet)
        plugins = () if self.client else self._rpc_plugins()
        self._unknown_options()
        config = Config(path=self.path, here=self.here, daemon=daemon, groups=tuple(groups),
                        unix_server=unix, inet_server=inet, ctl=ctl, files=tuple(self.files),
                        warnings=tuple(self.warnings), rpc_plugins=plugins)
        deps.check(config)
        checks.validate(config)
        return config

    def _includes(self) -> None:
        opt = self.doc.get("include", "files")
        if opt is None:
            raise self._missing("include", "files")
        names = {**self.env_names, "host_node_name": self.node}
        patterns = self._value("include", "files", names).split()
        seen = {os.path.realpath(self.path)}
        for pattern in patterns:
            pattern = os.path.join(self.here, pattern)
            matches = sorted(glob.glob(pattern))
            if not matches:
                self._warn(self._where("include", opt), f'no file matches "{pattern}"')
            for fn in matches:
                real = os.path.realpath(fn)
                if real in seen:
                    self._warn(self._where("include", opt), f'"{fn}" is already read, skipped')
                    continue
                if os.path.isdir(fn):
                    self._warn(self._where("include", opt), f'"{fn}" is a directory, skipped')
                    continue
                seen.add(real)
                self.doc.read_file(fn)
                self.files.append(fn)
                now = self.doc.get("include", "files")
                if now is not opt:
                    self._warn(self._where("include", now), "[include] is only read from the "
                               "main file; this one is ignored")
                    self.doc.sections["include"].options["files"] = opt

    def _apply_recipes(self) -> None:
        """recipe=NAME: the recipe's options fill in what the section does not set (any
        option in the section overrides the recipe's). They are read as if written on the
        recipe= line, so an error in one names that line."""
        for name, sect in self.doc.sections.items():
            opt = sect.options.get("recipe")
            if opt is None or _kind(name) not in ("program", "eventlistener"):
                continue
            from wrapctl import recipes
            if not opt.value.strip():
                raise ConfigError("empty value", Where(opt.file, opt.line, name, "recipe"))
            given = {k: o.value for k, o in sect.options.items()}
            try:
                merged = recipes.resolve_program(opt.value.strip(), given)
            except KeyError:
                raise ConfigError(f"no recipe named {opt.value.strip()!r} "
                                  "(wrapctl recipes list)", Where(opt.file, opt.line, name,
                                                                  "recipe"))
            except recipes.RecipeError as e:
                raise ConfigError(str(e), Where(opt.file, opt.line, name, "recipe"))
            for key, value in merged.items():
                if key == "user" and key not in sect.options and not _user_exists(value):
                    # The recipe's default user comes with the daemon's package; without
                    # it, say so rather than refuse the whole configuration.
                    self._warn(Where(opt.file, opt.line, name, "recipe"),
                               f"the recipe's user {value!r} does not exist here; "
                               "set user= to choose one")
                    continue
                if key == "stopsignal" and "stopcommand" in sect.options:
                    continue        # the section stops it by command
                if key not in sect.options:
                    # '%' in a recipe value is literal, not an expansion
                    sect.options[key] = Option(key, str(value).replace("%", "%%"),
                                               opt.file, opt.line)

    def _init_commands(self) -> None:
        """command=/etc/init.d/X start (service X start, invoke-rc.d X start): the program
        becomes what `wrapctl adopt` writes for X (config/initcmd.py); what the section sets
        wins. A section with recipe= has said what it runs and is left alone."""
        from wrapctl.config import initcmd
        book = None

        def recipes():
            nonlocal book
            if book is None:
                from wrapctl.recipes import RecipeBook
                book = RecipeBook.load()
            return book

        for name, sect in self.doc.sections.items():
            opt = sect.options.get("command")
            if _kind(name) != "program" or opt is None or "recipe" in sect.options:
                continue
            cmd = initcmd.recognize(opt.value, self.environ)
            if cmd is None:
                continue
            given = set(sect.options)
            res = initcmd.resolve(cmd, name.split(":", 1)[1], given, recipes)
            where = self._where(name, opt)
            for key, value in res.options.items():
                if key == "user" and not _user_exists(value):
                    self._warn(where, f"the script's user {value!r} does not exist here; "
                               "set user= to choose one")
                    continue
                # values come from the script as written: '%' is literal
                sect.options[key] = Option(key, value.replace("%", "%%"), opt.file, opt.line)
            if res.command is not None:
                sect.options["command"] = Option("command", res.command.replace("%", "%%"),
                                                 opt.file, opt.line)
            if res.environment:
                env = ",".join(f'{k}="{v}"' for k, v in res.environment.items())
                old = sect.options.get("environment")
                mine = old.value.strip().rstrip(",") if old else ""
                sect.options["environment"] = (
                    Option("environment", f"{mine},{env}", old.file, old.line)
                    if mine else Option("environment", env, opt.file, opt.line))
            self._warn(where, res.warning)

    def _check_sections(self) -> None:
        for name, sect in self.doc.sections.items():
            kind = _kind(name)
            where = Where(sect.file, sect.line, name)
            if kind is None:
                self._warn(where, "unknown section, ignored")
            elif kind == "fcgi-program":
                self._warn(where, "fcgi-program is not supported, section ignored")
            elif kind in _PLUGIN_KINDS:
                if _PLUGIN_KINDS[kind] not in sect.options:
                    raise ConfigError(f"missing required option {_PLUGIN_KINDS[kind]}", where)

    def _rpc_plugins(self) -> tuple[RpcPluginConfig, ...]:
        """[rpcinterface:x] sections other than supervisor's own: their factories are
        imported now, so a mistyped one stops the start as it stops supervisord's."""
        from wrapctl.rpc import plugins as P
        found = []
        key = _PLUGIN_KINDS["rpcinterface"]
        for section in self.doc.sections:
            if _kind(section) != "rpcinterface":
                continue
            spec = self._value(section, key, self.env_names).strip()
            if spec == P.MAIN_FACTORY:
                continue
            name = section.split(":", 1)[1]
            where = self._owhere(section, key)
            if name in P.RESERVED or not name or "." in name:
                raise ConfigError(f"{spec}: the namespace {name!r} is wrapctl's own or not a "
                                  "plain name", where)
            try:
                P.resolve(spec)
            except P.PluginError as e:
                raise ConfigError(str(e), where) from None
            opts = tuple((o, self._value(section, o, self.env_names))
                         for o in self.doc.sections[section].options if o != key)
            found.append(RpcPluginConfig(name, spec, opts, where))
        return tuple(found)

    def _unknown_options(self) -> None:
        for name, sect in self.doc.sections.items():
            known = _KNOWN_OPTIONS.get(_kind(name) or "")
            if known is None:
                continue
            for opt in sect.options.values():
                if opt.name not in known:
                    self._warn(self._where(name, opt), "unknown option")

    # -- helpers ------------------------------------------------------------------------

    def _warn(self, where: Where, msg: str) -> None:
        self.warnings.append(f"{where}: {msg}")

    def _where(self, section: str, opt: Option) -> Where:
        return Where(opt.file, opt.line, section, opt.name)

    def _swhere(self, section: str, option: str = "") -> Where:
        sect = self.doc.sections[section]
        return Where(sect.file, sect.line, section, option)

    def _missing(self, section: str, option: str) -> ConfigError:
        return ConfigError("missing required option", self._swhere(section, option))

    def _value(self, section: str, option: str, names: Optional[dict],
               conv: Optional[Callable[[str], Any]] = None, default: Any = None) -> Any:
        """The option's value, %-expanded with `names` (None: not expanded) and converted.

        %(here)s is the directory of the file the value was read from, as supervisord's
        expand_here gives each included file its own.
        """
        opt = self.doc.get(section, option)
        if opt is None:
            return default
        try:
            v = opt.value
            if names is not None:
                v = V.expand(v, {**names, "here": os.path.dirname(opt.file)})
            return conv(v) if conv else v
        except ValueError as e:
            raise ConfigError(str(e), self._where(section, opt)) from None

    def _opt(self, section: str, option: str) -> Optional[Option]:
        return self.doc.get(section, option)

    def _owhere(self, section: str, option: str) -> Where:
        """The option's line if it is set, else the section's header line."""
        opt = self._opt(section, option)
        return self._where(section, opt) if opt else self._swhere(section, option)

    def _fail(self, section: str, option: str, reason: str) -> ConfigError:
        return ConfigError(reason, self._owhere(section, option))

    # -- [supervisord] ------------------------------------------------------------------

    def _daemon(self) -> DaemonConfig:
        s = "supervisord"
        names = {**self.env_names, "host_node_name": self.node}

        def get(option, conv=None, default=None):
            return self._value(s, option, names, conv, default)

        user = get("user", lambda v: (v, V.user_to_uid(v)))
        env = self._value(s, "environment", names, V.key_value_pairs, {})
        cfg = DaemonConfig(
            logfile=get("logfile", _daemon_file, V.normalize_path("supervisord.log")),
            logfile_maxbytes=get("logfile_maxbytes", V.byte_size, 50 * 1024 * 1024),
            logfile_backups=get("logfile_backups", _nonneg, 10),
            loglevel=get("loglevel", V.logging_level, "info"),
            pidfile=get("pidfile", lambda v: V.normalize_path(V.existing_dirpath(v)),
                        V.normalize_path("supervisord.pid")),
            umask=get("umask", V.octal, 0o022),
            nodaemon=get("nodaemon", V.boolean, False),
            silent=get("silent", V.boolean, False),
            minfds=get("minfds", _nonneg, 1024),
            minprocs=get("minprocs", _nonneg, 200),
            nocleanup=get("nocleanup", V.boolean, False),
            childlogdir=get("childlogdir", V.existing_directory, tempfile.gettempdir()),
            user=user[0] if user else None,
            uid=user[1] if user else None,
            gid=V.gid_for_uid(user[1]) if user else None,
            directory=get("directory", V.existing_directory),
            strip_ansi=get("strip_ansi", V.boolean, False),
            environment=tuple(env.items()),
            identifier=get("identifier", None, "supervisor"),
            extra=tuple((k, v) for k, conv in WRAPCTL_DAEMON_OPTIONS.items()
                        if (v := get(k, conv, None)) is not None),
        )
        # [supervisord] environment= feeds %(ENV_X)s of every later section, as in supervisord
        self.env_names.update({f"ENV_{k}": v for k, v in env.items()})
        self.daemon_env = env
        return cfg

    # -- groups and processes -----------------------------------------------------------

    def _section_name(self, section: str) -> str:
        try:
            return V.name(section.split(":", 1)[1])
        except ValueError as e:
            raise ConfigError(str(e), self._swhere(section)) from None

    def _groups(self) -> list[GroupConfig]:
        sections = self.doc.sections
        groups: list[GroupConfig] = []
        grouped: set[str] = set()
        names = {**self.env_names, "host_node_name": self.node}
        for s in [s for s in sections if _kind(s) == "group"]:
            gname = self._section_name(s)
            programs = self._value(s, "programs", names, V.list_of_strings, [])
            priority = self._value(s, "priority", names, V.integer, 999)
            procs: list[ProcessConfig] = []
            for p in programs:
                ps = f"program:{p}"
                if ps not in sections:
                    if f"fcgi-program:{p}" in sections:
                        self._warn(self._owhere(s, "programs"),
                                   f"fcgi-program {p!r} is not supported, skipped")
                        continue
                    raise self._fail(s, "programs", f"names unknown program {p!r}")
                grouped.add(ps)
                procs.extend(sorted(self._processes(ps, gname),
                                    key=lambda p: (p.priority, p.name)))
            groups.append(self._group(s, gname, priority, procs, "group"))
        for s in [s for s in sections if _kind(s) == "program" and s not in grouped]:
            pname = self._section_name(s)
            priority = self._value(s, "priority", {**names, "program_name": pname,
                                                   "group_name": pname}, V.integer, 999)
            groups.append(self._group(s, pname, priority, self._processes(s, pname), "program"))
        for s in [s for s in sections if _kind(s) == "eventlistener"]:
            pname = self._section_name(s)
            groups.append(self._listener_pool(s, pname, names))
        seen: dict[str, GroupConfig] = {}
        for g in groups:
            if g.name in seen:
                # blame the section that comes later in reading order
                first, second = sorted((seen[g.name].where, g.where),
                                       key=lambda w: (self.files.index(w.file), w.line))
                raise ConfigError(f"group name {g.name!r} is already used by [{first.section}] "
                                  f"at {first.file}:{first.line}", second)
            seen[g.name] = g
        groups.sort(key=lambda g: (g.priority, g.name))
        return groups

    def _group(self, section: str, name: str, priority: int, procs: list, kind: str) -> GroupConfig:
        seen: dict[str, ProcessConfig] = {}
        for p in procs:
            if p.name in seen:
                raise ConfigError(f"process name {p.name!r} appears twice in group {name!r} "
                                  f"(also from [{seen[p.name].where.section}])", p.where)
            seen[p.name] = p
        # supervisord's order: a [group:x] keeps its programs= order (each program's own
        # processes by priority, then name), sorted stably by priority; a program's
        # processes go by priority, then name. start all, stop all and autostart follow it.
        if kind == "group":
            procs = sorted(procs, key=lambda p: p.priority)
        else:
            procs = sorted(procs, key=lambda p: (p.priority, p.name))
        return GroupConfig(name=name, priority=priority, processes=tuple(procs), kind=kind,
                           where=self._swhere(section))

    def _listener_pool(self, s: str, pname: str, names: dict) -> GroupConfig:
        priority = self._value(s, "priority", names, V.integer, -1)
        buffer_size = self._value(s, "buffer_size", names, lambda v: V.integer(v, minimum=1), 10)
        handler = self._value(s, "result_handler", names, V.import_spec,
                              "supervisor.dispatchers:default_handler")

        def events(v: str) -> tuple[str, ...]:
            out: list[str] = []
            for e in V.list_of_strings(v):
                e = e.upper()
                if e not in V.EVENT_TYPES:
                    raise ValueError(f"unknown event type {e!r}")
                if e not in out:
                    out.append(e)
            if not out:
                raise ValueError("no event types")
            return tuple(out)

        evs = self._value(s, "events", names, events)
        if evs is None:
            raise self._missing(s, "events")
        if self._value(s, "redirect_stderr", names, V.boolean, False):
            raise self._fail(s, "redirect_stderr", "redirect_stderr=true is not allowed for an "
                             "event listener (it would interfere with the listener protocol)")
        procs = self._processes(s, pname, listener=dict(events=evs, buffer_size=buffer_size,
                                                        result_handler=handler))
        return self._group(s, pname, priority, procs, "eventlistener")

    def _processes(self, s: str, group: str, listener: Optional[dict] = None) -> list[ProcessConfig]:
        program = self._section_name(s)
        base = {**self.env_names, "program_name": program, "group_name": group,
                "host_node_name": self.node}

        def get(option, conv=None, default=None, names=base):
            return self._value(s, option, names, conv, default)

        priority = get("priority", V.integer, 999)
        autostart = get("autostart", V.boolean, True)
        autorestart = get("autorestart", V.autorestart, "unexpected")
        startsecs = get("startsecs", _nonneg, 1)
        # -1 (unlimited retries) is a wrapctl extension; supervisord takes >= 0 only.
        startretries = get("startretries", lambda v: V.integer(v, minimum=-1), 3)
        stopsignal = get("stopsignal", V.signal_number, 15)
        stopwaitsecs = get("stopwaitsecs", _nonneg, 10)
        stopasgroup = get("stopasgroup", V.boolean, False)
        killasgroup = get("killasgroup", V.boolean, stopasgroup)
        exitcodes = get("exitcodes", V.exitcodes, (0,))
        redirect_stderr = get("redirect_stderr", V.boolean, False)
        numprocs = get("numprocs", _nonneg, 1)
        numprocs_start = get("numprocs_start", V.integer, 0)
        capture = {ch: get(f"{ch}_capture_maxbytes", V.byte_size, 0) for ch in ("stdout", "stderr")}
        events_on = {ch: get(f"{ch}_events_enabled", V.boolean, False) for ch in ("stdout", "stderr")}
        serverurl = get("serverurl", _serverurl)
        user = get("user", lambda v: (v, V.user_to_uid(v)))
        umask = get("umask", V.octal)
        process_name = self._value(s, "process_name", None, V.name, "%(program_name)s")

        if numprocs > 1 and "%(process_num)" not in process_name:
            opt = "process_name" if self._opt(s, "process_name") else "numprocs"
            raise self._fail(s, opt, "numprocs > 1 requires %(process_num) in process_name")
        if stopasgroup and not killasgroup:
            raise self._fail(s, "killasgroup", "stopasgroup=true requires killasgroup=true")
        if listener and capture["stdout"]:
            self._warn(self._owhere(s, "stdout_capture_maxbytes"),
                       "ignored for an event listener (its stdout carries the protocol)")
            capture["stdout"] = 0

        procs: list[ProcessConfig] = []
        for num in range(numprocs_start, numprocs_start + numprocs):
            first = num == numprocs_start
            names = {**base, "process_num": num, "numprocs": numprocs}
            env = get("environment", V.key_value_pairs, {}, names)
            names.update({f"ENV_{k}": v for k, v in env.items()})
            logs = {ch: self._log(s, ch, names, capture[ch], events_on[ch], warn=first)
                    for ch in ("stdout", "stderr")}
            if redirect_stderr:
                if logs["stderr"].logfile not in (AUTO, None) and first:
                    self._warn(self._owhere(s, "stderr_logfile"),
                               "ignored because redirect_stderr=true")
                logs["stderr"] = dataclasses.replace(logs["stderr"], logfile=None)
            command = get("command", _command, None, names)
            if command is None:
                raise self._missing(s, "command")
            stopcommand = get("stopcommand", _command, None, names)
            if stopcommand is not None and self._opt(s, "stopsignal") and first:
                self._warn(self._owhere(s, "stopsignal"),
                           "not used: stopcommand= stops the program")
            try:
                name = V.name(V.expand(process_name, names))
            except ValueError as e:
                raise self._fail(s, "process_name", str(e)) from None
            extra = tuple((k, v) for k, conv in WRAPCTL_PROGRAM_OPTIONS.items()
                          if (v := get(k, conv, None, names)) is not None)
            full_env = {**self.daemon_env, **env}
            fields = dict(
                name=name, group=group, command=command, program=program, process_num=num,
                directory=get("directory", None, None, names), umask=umask, priority=priority,
                autostart=autostart, autorestart=autorestart, startsecs=startsecs,
                startretries=startretries, user=user[0] if user else None,
                uid=user[1] if user else None, gid=V.gid_for_uid(user[1]) if user else None,
                stdout=logs["stdout"], stderr=logs["stderr"], redirect_stderr=redirect_stderr,
                stopsignal=stopsignal, stopwaitsecs=stopwaitsecs, stopasgroup=stopasgroup,
                killasgroup=killasgroup, exitcodes=exitcodes, environment=tuple(full_env.items()),
                serverurl=serverurl, stopcommand=stopcommand, extra=extra,
                where=self._swhere(s))
            if listener:
                procs.append(EventListenerConfig(**fields, **listener))
            else:
                procs.append(ProcessConfig(**fields))
        return procs

    def _log(self, s: str, ch: str, names: dict, capture: int, events: bool,
             warn: bool) -> LogConfig:
        """One output channel of one process; warnings only for the program's first process."""
        logfile = self._value(s, f"{ch}_logfile", names, _proc_logfile, AUTO)
        maxbytes = self._value(s, f"{ch}_logfile_maxbytes", names, V.byte_size, 50 * 1024 * 1024)
        backups = self._value(s, f"{ch}_logfile_backups", names, _nonneg, 10)
        syslog = self._value(s, f"{ch}_syslog", names, V.boolean, False)
        if logfile == _SYSLOG:
            if warn:
                self._warn(self._owhere(s, f"{ch}_logfile"),
                           f"{ch}_logfile=syslog is deprecated, use {ch}_syslog=true")
            logfile, syslog = None, True
        if logfile == AUTO and not maxbytes and warn:
            self._warn(self._owhere(s, f"{ch}_logfile_maxbytes"),
                       f"AUTO {ch}_logfile without rotation (maxbytes=0) may fill the disk")
        return LogConfig(logfile=logfile, maxbytes=maxbytes, backups=backups,
                         capture_maxbytes=capture, events_enabled=events, syslog=syslog)

    # -- servers and client -------------------------------------------------------------

    def _auth(self, s: str, names: dict) -> tuple[Optional[str], Optional[str]]:
        username = self._value(s, "username", names)
        password = self._value(s, "password", names)
        if (username is None) != (password is None):
            given = "username" if username is not None else "password"
            raise self._fail(s, given, "username and password must be given together")
        return username, password

    def _unix_server(self) -> UnixServerConfig:
        s = "unix_http_server"
        names = {**self.env_names, "host_node_name": self.node}
        path = self._value(s, "file", names, lambda v: V.normalize_path(_nonempty(v)))
        if path is None:
            raise self._missing(s, "file")
        username, password = self._auth(s, names)
        return UnixServerConfig(file=path, chmod=self._value(s, "chmod", names, V.octal, 0o700),
                                chown=self._value(s, "chown", names, V.user_group),
                                username=username, password=password)

    def _inet_server(self) -> InetServerConfig:
        s = "inet_http_server"
        names = {**self.env_names, "host_node_name": self.node}
        addr = self._value(s, "port", names, V.inet_address)
        if addr is None:
            raise self._missing(s, "port")
        username, password = self._auth(s, names)
        return InetServerConfig(host=addr[0], port=addr[1], username=username, password=password)

    def _ctl(self, unix: Optional[UnixServerConfig], inet: Optional[InetServerConfig]) -> CtlConfig:
        s = "supervisorctl"
        if unix is not None:
            default_url = f"unix://{unix.file}"
        elif inet is not None:
            default_url = f"http://{inet.host or 'localhost'}:{inet.port}"
        else:
            default_url = "http://localhost:9001"
        if s not in self.doc.sections:
            return CtlConfig(serverurl=default_url)
        names = {**self.env_names, "host_node_name": self.node}

        def serverurl(v: str) -> str:
            if v.startswith("unix://"):
                return "unix://" + V.normalize_path(v[7:])
            return V.url(v)

        history = self._value(s, "history_file", names)
        return CtlConfig(
            serverurl=self._value(s, "serverurl", names, serverurl, default_url),
            username=self._value(s, "username", names),
            password=self._value(s, "password", names),
            prompt=self._value(s, "prompt", names, None, "supervisor"),
            history_file=V.normalize_path(history) if history else None,
        )
