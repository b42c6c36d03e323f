"""ready= and healthcheck= specs, parsed once into a Check (pure data).

    tcp:HOST:PORT        a TCP connect succeeds
    unix:PATH            a unix stream connect succeeds
    http://URL https://URL   a GET answers 2xx or 3xx
    pidfile[:PATH]       the pidfile (PATH, or the program's pidfile=) names a live process
    exec:COMMAND         COMMAND exits 0
    log:REGEX            a line of the program's output matches REGEX
"""
from __future__ import annotations

import re
import shlex
import urllib.parse
from dataclasses import dataclass
from typing import Optional


class SpecError(ValueError):
    pass


@dataclass(frozen=True)
class Check:
    kind: str                   # tcp unix http pidfile exec log
    host: str = ""
    port: int = 0
    path: str = ""
    url: str = ""
    argv: tuple[str, ...] = ()
    pattern: str = ""

    def describe(self) -> str:
        return {"tcp": f"tcp:{self.host}:{self.port}", "unix": f"unix:{self.path}",
                "http": self.url, "pidfile": f"pidfile:{self.path}",
                "exec": "exec:" + " ".join(self.argv), "log": f"log:{self.pattern}"}[self.kind]


def parse(spec: str, pidfile: Optional[str] = None) -> Check:
    spec = spec.strip()
    kind, _, rest = spec.partition(":")
    if spec.startswith(("http://", "https://")):
        u = urllib.parse.urlsplit(spec)
        if not u.hostname:
            raise SpecError(f"no host in {spec!r}")
        return Check("http", url=spec)
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise SpecError(f"tcp needs HOST:PORT, got {rest!r}")
        return Check("tcp", host=host, port=int(port))
    if kind == "unix":
        if not rest:
            raise SpecError("unix needs a socket path")
        return Check("unix", path=rest)
    if kind == "pidfile":
        path = rest or pidfile
        if not path:
            raise SpecError("pidfile needs a path (ready=pidfile:PATH or pidfile=)")
        return Check("pidfile", path=path)
    if kind == "exec":
        try:
            argv = tuple(shlex.split(rest))
        except ValueError as e:
            raise SpecError(f"exec: {e}")
        if not argv:
            raise SpecError("exec needs a command")
        return Check("exec", argv=argv)
    if kind == "log":
        try:
            re.compile(rest)
        except re.error as e:
            raise SpecError(f"log: bad regular expression: {e}")
        return Check("log", pattern=rest)
    raise SpecError(f"unknown check {spec!r} (tcp:, unix:, http(s)://, pidfile, exec:, log:)")


def validate(config) -> None:
    """ready=pidfile / healthcheck=pidfile need a path: pidfile= on the same program."""
    from wrapctl.config.errors import ConfigError
    from wrapctl.config.records import Where
    for proc in config.processes():
        for option in ("ready", "healthcheck"):
            spec = proc.extra_get(option)
            if not spec:
                continue
            try:
                parse(spec, pidfile=proc.extra_get("pidfile"))
            except SpecError as e:
                w = proc.where or Where(config.path)
                raise ConfigError(str(e), Where(w.file, w.line, w.section, option))
