"""Typed records a parsed configuration is made of.

The INI file is read once into these frozen records; nothing else in wrapctl looks at raw
option strings. Defaults are supervisord 4.3's. Records compare by value, which is how
`update` tells a changed program from an unchanged one.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional

# Sentinel values for *_logfile, as supervisord's Automatic / None.
AUTO = "AUTO"          # the log goes to childlogdir under a generated name
NONE = None            # no log file


@dataclass(frozen=True)
class Where:
    """Where a value came from, for error messages: file, line, section, option."""
    file: str
    line: int = 0
    section: str = ""
    option: str = ""

    def __str__(self) -> str:
        s = f"{self.file}"
        if self.line:
            s += f":{self.line}"
        if self.section:
            s += f": [{self.section}]"
        if self.option:
            s += f" {self.option}"
        return s


@dataclass(frozen=True)
class LogConfig:
    """One output stream of one process (stdout or stderr)."""
    logfile: Optional[str] = AUTO       # path, AUTO, or None (no file)
    maxbytes: int = 50 * 1024 * 1024
    backups: int = 10
    capture_maxbytes: int = 0
    events_enabled: bool = False
    syslog: bool = False


@dataclass(frozen=True)
class ProcessConfig:
    """One process: a [program:x] expanded for one process_num.

    `name` is the process name (process_name expanded), `group` its group's name.
    """
    name: str
    group: str
    command: str
    program: str = ""                   # the [program:x] name
    process_num: int = 0
    directory: Optional[str] = None
    umask: Optional[int] = None
    priority: int = 999
    autostart: bool = True
    autorestart: str = "unexpected"     # "true" | "false" | "unexpected"
    startsecs: int = 1
    startretries: int = 3
    user: Optional[str] = None          # user name as configured (resolved at spawn)
    uid: Optional[int] = None
    gid: Optional[int] = None
    stdout: LogConfig = field(default_factory=LogConfig)
    stderr: LogConfig = field(default_factory=LogConfig)
    redirect_stderr: bool = False
    stopsignal: int = 15
    stopwaitsecs: int = 10
    stopasgroup: bool = False
    killasgroup: bool = False
    exitcodes: tuple[int, ...] = (0,)
    environment: tuple[tuple[str, str], ...] = ()   # ordered, from [supervisord] then program
    serverurl: Optional[str] = None     # None means AUTO
    # wrapctl-only: a command that stops the program instead of stopsignal (an init
    # script's stop action); then stopwaitsecs, then SIGKILL of the tree.
    stopcommand: Optional[str] = None
    # wrapctl-only options (documented in docs/config.md); parsed now, used by later issues.
    extra: tuple[tuple[str, str], ...] = ()
    where: Optional[Where] = field(default=None, compare=False)

    @property
    def env(self) -> dict[str, str]:
        return dict(self.environment)

    def extra_get(self, key: str, default: Optional[str] = None) -> Optional[str]:
        for k, v in self.extra:
            if k == key:
                return v
        return default


@dataclass(frozen=True)
class EventListenerConfig(ProcessConfig):
    events: tuple[str, ...] = ()
    buffer_size: int = 10
    result_handler: str = "supervisor.dispatchers:default_handler"


@dataclass(frozen=True)
class GroupConfig:
    """A process group: [group:x], or the implicit group of one [program:x]."""
    name: str
    priority: int = 999
    processes: tuple[ProcessConfig, ...] = ()
    kind: str = "program"               # "program" | "group" | "eventlistener"
    where: Optional[Where] = field(default=None, compare=False)


@dataclass(frozen=True)
class UnixServerConfig:
    file: str
    chmod: int = 0o700
    chown: Optional[tuple[int, int]] = None     # (uid, gid)
    username: Optional[str] = None
    password: Optional[str] = None               # plain, or "{SHA}hex"


@dataclass(frozen=True)
class InetServerConfig:
    host: str
    port: int
    username: Optional[str] = None
    password: Optional[str] = None


@dataclass(frozen=True)
class CtlConfig:
    """[supervisorctl]: what the client uses."""
    serverurl: Optional[str] = None
    username: Optional[str] = None
    password: Optional[str] = None
    prompt: str = "supervisor"
    history_file: Optional[str] = None


@dataclass(frozen=True)
class DaemonConfig:
    """[supervisord]."""
    logfile: Optional[str] = None       # absolute path; None: no main log file
    logfile_maxbytes: int = 50 * 1024 * 1024
    logfile_backups: int = 10
    loglevel: str = "info"              # critical error warn info debug trace blather
    pidfile: str = ""
    umask: int = 0o022
    nodaemon: bool = False
    silent: bool = False
    minfds: int = 1024
    minprocs: int = 200
    nocleanup: bool = False
    childlogdir: str = "/tmp"
    user: Optional[str] = None
    directory: Optional[str] = None
    strip_ansi: bool = False
    environment: tuple[tuple[str, str], ...] = ()
    identifier: str = "supervisor"
    extra: tuple[tuple[str, str], ...] = ()

    def extra_get(self, key: str, default: Optional[str] = None) -> Optional[str]:
        for k, v in self.extra:
            if k == key:
                return v
        return default
    uid: Optional[int] = None           # user resolved when parsed (added by the parser)
    gid: Optional[int] = None           # the user's primary group


@dataclass(frozen=True)
class RpcPluginConfig:
    """An [rpcinterface:x] section naming a factory other than supervisor's own."""
    name: str                           # x: the methods' namespace
    factory: str                        # "module:callable"
    options: tuple[tuple[str, str], ...] = ()   # the section's other options, as given
    where: Optional[Where] = field(default=None, compare=False)


@dataclass(frozen=True)
class Config:
    """A whole configuration, as parsed from one file and its includes."""
    path: str                           # absolute path of the main file
    here: str                           # its directory, %(here)s
    daemon: DaemonConfig
    groups: tuple[GroupConfig, ...] = ()
    unix_server: Optional[UnixServerConfig] = None
    inet_server: Optional[InetServerConfig] = None
    ctl: CtlConfig = field(default_factory=CtlConfig)
    files: tuple[str, ...] = ()         # every file read, main first (for autoreload)
    warnings: tuple[str, ...] = ()      # "file:line: [section] option: message"
    rpc_plugins: tuple[RpcPluginConfig, ...] = ()

    def group(self, name: str) -> Optional[GroupConfig]:
        for g in self.groups:
            if g.name == name:
                return g
        return None

    def processes(self):
        for g in self.groups:
            yield from g.processes


def replace(record, **changes):
    return dataclasses.replace(record, **changes)
