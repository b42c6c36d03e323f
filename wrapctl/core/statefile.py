"""The state file's format and trust rules (keeper.py writes and reads it).

A root core acts on what this file says: it re-attaches to (and later signals) the
processes it names and appends to the log files it names. It may sit where others can write
(`pidfile=/tmp/supervisord.pid` puts it in /tmp). So it is written under a fresh mkstemp
name and renamed into place, and believed only when it is a regular file of this core's
euid that group and others cannot write, with every field of the expected type. Anything
else is one warning line and the file is ignored (the programs start afresh): never a
traceback, never a core that stays down until someone deletes the file.
"""
from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
from typing import Callable, Optional

from wrapctl.core.rootfiles import write_atomic

STATE_VERSION = 1
MAX_STATE_BYTES = 16 << 20
PID_MAX = 1 << 22               # the kernel's highest pid_max


def _untrusted(st: os.stat_result) -> Optional[str]:
    """Why a state file must not be believed: only a file that nobody but this core's user
    could have written is (it names processes to signal and files to append to as root)."""
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_uid != os.geteuid():
        return f"owned by uid {st.st_uid}, not {os.geteuid()}"
    if st.st_mode & 0o022:
        return f"writable by group or others (mode {stat.S_IMODE(st.st_mode):04o})"
    if st.st_nlink != 1:
        return f"it has {st.st_nlink} names (a hard link)"
    if st.st_size > MAX_STATE_BYTES:
        return f"larger than {MAX_STATE_BYTES} bytes"
    return None


def read_state(path: str, warn: Optional[Callable[[str], None]] = None) -> dict:
    """The records of a trusted, well-formed state file; {} otherwise, and warn() is told
    why in one line (no file at all is the normal first start: no warning)."""
    reason = None
    try:
        # O_NOFOLLOW: a symlink planted there is refused; O_NONBLOCK: a planted FIFO does
        # not hang the start.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return {}
    except OSError as e:
        fd = -1
        reason = "a symbolic link" if e.errno == errno.ELOOP else (e.strerror or str(e))
    records: dict = {}
    if fd >= 0:
        try:
            reason = _untrusted(os.fstat(fd))
            if reason is None:
                chunks, size = [], 0
                while size <= MAX_STATE_BYTES:
                    chunk = os.read(fd, 1 << 20)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    size += len(chunk)
                records, reason = parse_state(b"".join(chunks))
        except OSError as e:
            reason = e.strerror or str(e)
        finally:
            os.close(fd)
    if reason is not None:
        if warn is not None:
            warn(f"state file {path} ignored: {reason}; programs start afresh")
        return {}
    return records


def parse_state(raw: bytes) -> tuple[dict, Optional[str]]:
    """(records, None) for a well-formed state file's bytes, else ({}, why). Never raises."""
    if len(raw) > MAX_STATE_BYTES:
        return {}, f"larger than {MAX_STATE_BYTES} bytes"
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as e:     # UnicodeDecodeError is a ValueError
        return {}, f"not JSON ({type(e).__name__})"
    return validate(data)


def validate(data) -> tuple[dict, Optional[str]]:
    """(records, None) if data is a state file's content, each record rebuilt from checked
    fields only; ({}, why) at the first wrong field. Never raises."""
    if not isinstance(data, dict):
        return {}, "not a JSON object"
    if data.get("version") != STATE_VERSION or type(data.get("version")) is not int:
        return {}, f"version is not {STATE_VERSION}"
    procs = data.get("processes")
    if not isinstance(procs, dict):
        return {}, "processes is not an object"
    out = {}
    for key, rec in procs.items():
        checked = _record(key, rec)
        if isinstance(checked, str):
            return {}, f"record {str(key)[:80]!r}: {checked}"
        out[key] = checked
    return out, None


def _int(v, low: int, high: int) -> bool:
    return type(v) is int and low <= v <= high          # bool is not an int here


def _number(v) -> bool:
    return type(v) in (int, float) and math.isfinite(v) and v >= 0


def _path(v) -> bool:
    return isinstance(v, str) and v.startswith("/") and "\0" not in v and len(v) < 4096


def _record(key, rec):
    """The record rebuilt from its checked fields, or why not (a str)."""
    if not isinstance(key, str) or ":" not in key or len(key) > 512:
        return "the key is not group:name"
    if not isinstance(rec, dict):
        return "not an object"
    pid, serial, marker = rec.get("pid"), rec.get("serial"), rec.get("marker")
    if not _int(pid, 2, PID_MAX):
        return "pid is not an integer above 1"
    if not _number(rec.get("create_time")):
        return "create_time is not a number"
    laststart = rec.get("laststart", rec.get("create_time"))
    if not _number(laststart):
        return "laststart is not a number"
    if not _int(serial, 0, 2 ** 63):
        return "serial is not a counter"
    # The marker a spawn gave it (tree.instance_marker): the old core's pid, key and serial.
    if not isinstance(marker, str) or not re.fullmatch(
            r"[0-9]+/" + re.escape(key) + "/" + str(serial), marker):
        return "marker is not this program's instance marker"
    cgroup = rec.get("cgroup")
    if cgroup is not None and not _path(cgroup):
        return "cgroup is not a path"
    digest = rec.get("digest", "")
    if not isinstance(digest, str):
        return "digest is not a string"
    ids = {}
    for field in ("groups", "sessions"):
        v = rec.get(field, [])
        if not isinstance(v, list) or len(v) > 64 or not all(_int(x, 2, PID_MAX) for x in v):
            return f"{field} is not a list of process ids"
        ids[field] = list(v)
    logs = rec.get("logs", {})
    if not isinstance(logs, dict) or not all(
            ch in ("stdout", "stderr") and (p is None or _path(p)) for ch, p in logs.items()):
        return "logs is not a map of stdout/stderr to paths"
    return {"pid": pid, "create_time": float(rec["create_time"]),
            "laststart": float(laststart), "serial": serial, "marker": marker,
            "cgroup": cgroup, "digest": digest, "groups": ids["groups"],
            "sessions": ids["sessions"], "logs": dict(logs)}


def write_state(path: str, data: bytes) -> None:
    """Replace the state file (mode 0600); OSError on failure. rootfiles.write_atomic: a
    fresh mkstemp name (O_EXCL, O_NOFOLLOW: nothing planted is opened, no name to guess),
    renamed over the file (which replaces a planted link, never writes through it). No
    fsync: after a machine crash no process it names is alive anyway."""
    write_atomic(path, data, 0o600)
