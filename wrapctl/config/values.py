"""Converters from option strings to typed values, with supervisord 4.3's rules.

Each raises ValueError with a short reason; the loader adds file, line, section and option.
"""
from __future__ import annotations

import grp
import os
import pwd
import re
import shlex
from typing import Optional

from wrapctl.shims import signals

TRUTHY = ("yes", "true", "on", "1")
FALSY = ("no", "false", "off", "0")

LOGLEVELS = ("critical", "error", "warn", "info", "debug", "trace", "blather")

# supervisor.events.EventTypes, the names an [eventlistener:x] events= may use
EVENT_TYPES = frozenset("""
EVENT PROCESS_STATE PROCESS_STATE_STOPPED PROCESS_STATE_EXITED PROCESS_STATE_STARTING
PROCESS_STATE_STOPPING PROCESS_STATE_BACKOFF PROCESS_STATE_FATAL PROCESS_STATE_RUNNING
PROCESS_STATE_UNKNOWN PROCESS_COMMUNICATION PROCESS_COMMUNICATION_STDOUT
PROCESS_COMMUNICATION_STDERR PROCESS_LOG PROCESS_LOG_STDOUT PROCESS_LOG_STDERR
REMOTE_COMMUNICATION SUPERVISOR_STATE_CHANGE SUPERVISOR_STATE_CHANGE_RUNNING
SUPERVISOR_STATE_CHANGE_STOPPING TICK TICK_5 TICK_60 TICK_3600 PROCESS_GROUP
PROCESS_GROUP_ADDED PROCESS_GROUP_REMOVED
""".split())


def name(value: str) -> str:
    """A process or group name: characters that break the event protocol or URLs are refused."""
    s = value.strip()
    if not s:
        raise ValueError("empty name")
    for ch in " :/":
        if ch in s:
            raise ValueError(f"invalid name {s!r}: contains {ch!r}")
    return s


def boolean(value: str) -> bool:
    v = value.strip().lower()
    if v in TRUTHY:
        return True
    if v in FALSY:
        return False
    raise ValueError(f"not a boolean: {value!r} (use true/false, yes/no, on/off, 1/0)")


def integer(value: str, minimum: Optional[int] = None) -> int:
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"not an integer: {value!r}") from None
    if minimum is not None and n < minimum:
        raise ValueError(f"{n} is below the minimum {minimum}")
    return n


def number(value: str, minimum: float = 0.0) -> float:
    try:
        n = float(value)
    except ValueError:
        raise ValueError(f"not a number: {value!r}") from None
    if not n >= minimum or n == float("inf"):
        raise ValueError(f"{value!r} is not a finite number >= {minimum:g}")
    return n


_SIZE_SUFFIXES = {"kb": 1024, "mb": 1024 ** 2, "gb": 1024 ** 3}


def byte_size(value: str) -> int:
    v = value.strip().lower()
    mult = _SIZE_SUFFIXES.get(v[-2:], 1)
    digits = v[:-2] if mult != 1 else v
    try:
        n = int(digits) * mult
    except ValueError:
        raise ValueError(f"not a byte size: {value!r} (e.g. 1024, 50KB, 50MB, 1GB)") from None
    if n < 0:
        raise ValueError(f"negative byte size: {value!r}")
    return n


def octal(value: str) -> int:
    try:
        return int(value, 8)
    except ValueError:
        raise ValueError(f"not an octal number: {value!r}") from None


def signal_number(value: str) -> int:
    return signals.number(value)


def exitcodes(value: str) -> tuple[int, ...]:
    if not value:
        return ()
    try:
        codes = tuple(int(x) for x in value.split(","))
    except ValueError:
        raise ValueError(f"not a list of exit codes: {value!r}") from None
    for c in codes:
        if not 0 <= c <= 255:
            raise ValueError(f"exit code {c} is outside 0..255")
    return codes


def autorestart(value: str) -> str:
    v = value.strip().lower()
    if v in TRUTHY:
        return "true"
    if v in FALSY:
        return "false"
    if v == "unexpected":
        return "unexpected"
    raise ValueError(f"not an autorestart value: {value!r} (use true, false or unexpected)")


def list_of_strings(value: Optional[str]) -> list[str]:
    if not value:
        return []
    return [x.strip() for x in value.split(",")]


def key_value_pairs(value: str) -> dict[str, str]:
    """KEY=val,KEY2="v, 2" as supervisord's dict_of_key_value_pairs (a shlex lexer)."""
    lexer = shlex.shlex(value)
    lexer.wordchars += "/.+-():"
    try:
        tokens = list(lexer)
    except ValueError as e:
        raise ValueError(f"bad KEY=value list {value!r}: {e}") from None
    pairs: dict[str, str] = {}
    i = 0
    while i < len(tokens):
        kv = tokens[i:i + 3]
        if len(kv) != 3 or kv[1] != "=":
            raise ValueError(f"bad KEY=value list {value!r}: expected KEY=value at {tokens[i]!r}")
        pairs[kv[0]] = kv[2].strip("'\"")
        i += 4        # skip the comma
    return pairs


def existing_directory(value: str) -> str:
    path = os.path.expanduser(value)
    if not os.path.isdir(path):
        raise ValueError(f"{value!r} is not an existing directory")
    return os.path.abspath(path)


def existing_dirpath(value: str) -> str:
    """A file path whose directory exists (supervisord checks this when it parses)."""
    path = os.path.expanduser(value)
    d = os.path.dirname(path)
    if d and not os.path.isdir(d):
        raise ValueError(f"the directory of {value!r} does not exist")
    return path


def normalize_path(value: str) -> str:
    return os.path.normpath(os.path.abspath(os.path.expanduser(value)))


def logging_level(value: str) -> str:
    v = value.strip().lower()
    if v not in LOGLEVELS:
        raise ValueError(f"not a log level: {value!r} (use one of {', '.join(LOGLEVELS)})")
    return v


def user_to_uid(value: str) -> int:
    try:
        uid = int(value)
    except ValueError:
        try:
            return pwd.getpwnam(value).pw_uid
        except KeyError:
            raise ValueError(f"no such user: {value!r}") from None
    try:
        pwd.getpwuid(uid)
    except KeyError:
        raise ValueError(f"no such user id: {value!r}") from None
    return uid


def group_to_gid(value: str) -> int:
    try:
        gid = int(value)
    except ValueError:
        try:
            return grp.getgrnam(value).gr_gid
        except KeyError:
            raise ValueError(f"no such group: {value!r}") from None
    try:
        grp.getgrgid(gid)
    except KeyError:
        raise ValueError(f"no such group id: {value!r}") from None
    return gid


def gid_for_uid(uid: int) -> int:
    return pwd.getpwuid(uid).pw_gid


def user_group(value: str) -> tuple[int, int]:
    """'user' or 'user:group' to (uid, gid); a missing group is -1, as supervisord."""
    user, sep, group = value.partition(":")
    return user_to_uid(user), group_to_gid(group) if sep else -1


def port_number(value: str) -> int:
    n = integer(value)
    if not 1 <= n <= 65535:
        raise ValueError(f"port {n} is outside 1..65535")
    return n


def inet_address(value: str) -> tuple[str, int]:
    """'host:port', '*:port' or 'port' to (host, port); host '' means all interfaces."""
    host = ""
    port = value
    if ":" in value:
        host, port = value.rsplit(":", 1)
        if not port:
            raise ValueError(f"no port number in {value!r}")
        host = host.lower()
    try:
        p = port_number(port)
    except ValueError:
        raise ValueError(f"not a valid port number: {value!r}") from None
    if host == "*":
        host = ""
    return host, p


def url(value: str) -> str:
    from urllib.parse import urlparse
    u = urlparse(value)
    if u.scheme and (u.netloc or u.path):
        return value
    raise ValueError(f"not a URL: {value!r}")


_SPEC_RE = re.compile(r"^[A-Za-z_][\w.]*(:[A-Za-z_][\w.]*)?$")


def import_spec(value: str) -> str:
    """A 'package.module:attribute' reference; checked for form only, never imported."""
    v = value.strip()
    if not _SPEC_RE.match(v):
        raise ValueError(f"not a 'module:attribute' reference: {value!r}")
    return v


def expand(value: str, names: dict) -> str:
    """Python %-expansion as supervisord does it: %(name)s, %(process_num)02d, %%."""
    try:
        return value % names
    except KeyError as e:
        known = sorted(k for k in names if not k.startswith("ENV_"))
        raise ValueError(f"cannot expand %({e.args[0]})s in {value!r}: unknown name "
                         f"(known: {', '.join(known)}, ENV_*)") from None
    except (ValueError, TypeError) as e:
        raise ValueError(f"bad %-expansion in {value!r}: {e} (write a literal % as %%)") from None
