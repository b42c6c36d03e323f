"""The ready= check `wrapctl adopt` writes, from the recipe's [ready] hint.

A wrong check is worse than none: a daemon that works but never answers where the check
looks is killed after ready_timeout and ends FATAL. So a hint is only turned into a check
where adopt can see that it holds for this installation (docs/adopt.md, "Readiness"):

- socket: `unix:PATH`, the recipe's path, or the one the command names (`--socket`);
- pidfile: `pidfile` when the program has pidfile=, else `pidfile:PATH` with the recipe's
  pidfile (or the script's, when the command passes it on with {pidfile});
- port: `tcp:HOST:PORT` only when the command (`--port N`, `--port=N`, `-p N`, `-pN`) or
  a config file it names (a `port N` / `port = N` line) says which port; the recipe's
  port is a default the daemon's config can change, so alone it writes nothing. HOST is
  loopback unless the command (`-l`, `--bind`, `--listen`) or that file (`bind`,
  `listen_addresses`, `ListenAddress`) names one address.

Pure: files are read through the `read` callable (adopt reads them under --root).
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Callable, Optional

from wrapctl.recipes import Recipe

_PORT_LINE = re.compile(r"""^\s*port\s*(?:=\s*|\s+)["']?(\d+)["']?\s*(?:[#;].*)?$""", re.I)
_ADDR_LINE = re.compile(r"""^\s*(bind|listen_addresses|listenaddress)\s*(?:=\s*|\s+)(.*?)\s*$""",
                        re.I)
_INCLUDE_LINE = re.compile(r"^\s*!?include(dir|_dir|_if_exists)?\b", re.I)


@dataclass(frozen=True)
class Readiness:
    spec: str       # the ready= value; "" when none is written
    why: str        # one sentence for --explain and --format json


def choose(r: Recipe, argv: list[str], *, pidfile_option: str = "", script_pidfile: str = "",
           read: Callable[[str], Optional[str]] = lambda path: None) -> Readiness:
    """The check for a program of recipe `r` whose command is `argv`.

    `pidfile_option` is the program's pidfile= (wrapctl format), `script_pidfile` the
    pidfile the init script names, `read(path)` a config file's text or None.
    """
    if r.ready_socket:
        path, where = _option_value(argv, "--socket"), "the command's --socket"
        if not path.startswith("/"):
            path, where = r.ready_socket, f"recipe {r.name}'s socket"
        return Readiness(f"unix:{path}", f"{where}, {path}, accepts a connection")
    if r.ready_pidfile:
        if pidfile_option:
            return Readiness("pidfile", f"pidfile {pidfile_option} names a live process")
        path = script_pidfile if script_pidfile and "{pidfile}" in r.command else r.pidfile
        if path:
            return Readiness(f"pidfile:{path}", f"pidfile {path} names a live process")
        return Readiness("", f"recipe {r.name} writes a pidfile, but neither the recipe "
                             "nor the script says where")
    if r.ready_port:
        return _tcp(r, argv, read)
    return Readiness("", f"recipe {r.name} has no readiness hint: RUNNING after startsecs")


def _tcp(r: Recipe, argv: list[str], read) -> Readiness:
    port, port_from = _port_in_args(argv), "the command"
    host, host_from = _host_in_args(argv), "the command"
    port_unsure = host_unsure = ""
    for path in _config_paths(argv):
        text = read(path)
        if text is None:
            continue
        got = _scan_config(text)
        if got.get("include"):
            port_unsure = host_unsure = f"{path} includes other files"
            continue
        if len(got["ports"]) > 1:
            port_unsure = f"{path} sets several ports ({', '.join(sorted(got['ports']))})"
        elif got["ports"] and port is None:
            port, port_from = int(next(iter(got["ports"]))), f"{path} (port line)"
            if not 0 < port < 65536:
                port_unsure, port = f"{path} sets port {port} (no TCP listener)", None
        if got.get("bad_host"):
            host_unsure = f"{path} names an address adopt cannot use ({got['bad_host']})"
        elif got["host"] is not None and host is None:
            host, host_from = got["host"], f"{path} ({got['host_key']} line)"
    hint = f"recipe {r.name}'s port {r.ready_port} is only a default"
    by_hand = ": add ready=tcp:HOST:PORT by hand"
    if port is None:
        return Readiness("", f"{hint}, and {port_unsure}{by_hand}" if port_unsure else
                         f"{hint}, and neither the command nor a config file it names says "
                         f"which port{by_hand}")
    if host is None and host_unsure:
        return Readiness("", f"port {port} from {port_from}, but {host_unsure}{by_hand}")
    if host is None:
        host, host_from = "127.0.0.1", "(loopback: no address is named)"
    else:
        host_from = f"from {host_from}"
    shown = f"[{host}]" if ":" in host else host
    return Readiness(f"tcp:{shown}:{port}", f"port {port} from {port_from}, address {host} "
                                            f"{host_from}")


def _option_value(argv: list[str], name: str) -> str:
    """The last value of `name VALUE` or `name=VALUE` in argv."""
    val = ""
    for i, a in enumerate(argv[1:], 1):
        if a == name and i + 1 < len(argv):
            val = argv[i + 1]
        elif a.startswith(name + "="):
            val = a[len(name) + 1:]
    return val


def _port_in_args(argv: list[str]) -> Optional[int]:
    port = None
    for i, a in enumerate(argv[1:], 1):
        nxt = argv[i + 1] if i + 1 < len(argv) else ""
        m = re.fullmatch(r"--port=(\d+)|-p(\d+)", a)
        if m:
            port = int(m.group(1) or m.group(2))
        elif a in ("--port", "-p") and nxt.isdigit():
            port = int(nxt)
    return port if port and 0 < port < 65536 else None


def _host_in_args(argv: list[str]) -> Optional[str]:
    host = None
    for i, a in enumerate(argv[1:], 1):
        nxt = argv[i + 1] if i + 1 < len(argv) else ""
        if a in ("-l", "--bind", "--listen"):
            got = _address(nxt)
        elif a.startswith(("--bind=", "--listen=")):
            got = _address(a.split("=", 1)[1])
        else:
            continue
        if got:
            host = got
    return host


def _address(value: str) -> str:
    """Where to connect for a daemon listening on `value` (first of a list); "" if not an
    address (dnsmasq's -l is a lease file)."""
    first = re.split(r"[,\s]+", value.strip().strip("'\""))[0].lstrip("-")
    if first in ("*", "0.0.0.0", "localhost"):
        return "127.0.0.1"
    if first == "::":
        return "::1"
    try:
        return str(ipaddress.ip_address(first.strip("[]")))
    except ValueError:
        return ""


def _config_paths(argv: list[str]) -> list[str]:
    """Absolute paths among the arguments, also as `KEY=/path` (postgres's config_file=)."""
    out = []
    for a in argv[1:]:
        path = a if a.startswith("/") else a.split("=", 1)[1] if "=/" in a else ""
        if path and path not in out:
            out.append(path)
    return out


def _scan_config(text: str) -> dict:
    out: dict = {"ports": set(), "host": None}
    for line in text.splitlines():
        if line.lstrip().startswith(("#", ";")):
            continue
        if _INCLUDE_LINE.match(line):
            out["include"] = True
        m = _PORT_LINE.match(line)
        if m:
            out["ports"].add(m.group(1))
            continue
        m = _ADDR_LINE.match(line)
        if m and out["host"] is None:
            value = re.sub(r"\s*#.*$", "", m.group(2))
            got = _address(value)
            if got:
                out["host"], out["host_key"] = got, m.group(1)
            else:
                out["bad_host"] = value
    return out
