"""Events and their serialization, byte for byte as supervisord 4.3 writes them (pure).

An Event carries its type name and its payload text, rendered when the event happens (the
pid and retry count of a state change are the values at that moment, as supervisord's
eagerly rendered extra values). Serials are given when a pool first accepts the event.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

# Process communication markers (supervisor.events.ProcessCommunicationEvent).
BEGIN_TOKEN = b"<!--XSUPERVISOR:BEGIN-->"
END_TOKEN = b"<!--XSUPERVISOR:END-->"


@dataclass(eq=False)
class Event:
    name: str                       # e.g. "PROCESS_STATE_RUNNING"
    payload: str
    serial: Optional[int] = None    # global serial, set on first acceptance by a pool
    pool_serials: dict = field(default_factory=dict)
    # what a custom result handler may want to look at (process name, group, channel...)
    attrs: dict = field(default_factory=dict)


def as_text(data) -> str:
    """supervisord's rendering of output bytes inside a payload."""
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "Undecodable: %r" % (data,)


def process_state(to_state: str, process: str, group: str, from_state: str, *,
                  tries: int = 0, pid: int = 0, expected: bool = True) -> Event:
    """PROCESS_STATE_<to_state>; the extra fields depend on the target state, as supervisord."""
    fields = [("processname", process), ("groupname", group), ("from_state", from_state)]
    if to_state in ("STARTING", "BACKOFF"):
        fields.append(("tries", int(tries)))
    elif to_state == "EXITED":
        fields += [("expected", int(expected)), ("pid", pid)]
    elif to_state in ("RUNNING", "STOPPING", "STOPPED"):
        fields.append(("pid", pid))
    payload = " ".join(f"{k}:{v}" for k, v in fields)
    return Event(f"PROCESS_STATE_{to_state}", payload,
                 attrs={"processname": process, "groupname": group, "from_state": from_state,
                        "pid": pid, "tries": tries, "expected": expected})


def process_log(channel: str, process: str, group: str, pid: int, data: bytes) -> Event:
    payload = "processname:%s groupname:%s pid:%s channel:%s\n%s" % (
        process, group, pid, channel, as_text(data))
    return Event(f"PROCESS_LOG_{channel.upper()}", payload,
                 attrs={"processname": process, "groupname": group, "pid": pid,
                        "channel": channel, "data": data})


def process_communication(channel: str, process: str, group: str, pid: int,
                          data: bytes) -> Event:
    payload = "processname:%s groupname:%s pid:%s\n%s" % (process, group, pid, as_text(data))
    return Event(f"PROCESS_COMMUNICATION_{channel.upper()}", payload,
                 attrs={"processname": process, "groupname": group, "pid": pid,
                        "channel": channel, "data": data})


def remote_communication(type, data) -> Event:
    return Event("REMOTE_COMMUNICATION", "type:%s\n%s" % (type, data),
                 attrs={"type": type, "data": data})


def supervisor_state(which: str) -> Event:
    """which: 'RUNNING' or 'STOPPING'; the payload is empty."""
    return Event(f"SUPERVISOR_STATE_CHANGE_{which}", "")


def tick(period: int, when: int) -> Event:
    return Event(f"TICK_{period}", "when:%s" % when, attrs={"when": when})


def process_group(added: bool, group: str) -> Event:
    return Event("PROCESS_GROUP_ADDED" if added else "PROCESS_GROUP_REMOVED",
                 "groupname:%s\n" % group, attrs={"groupname": group})


def envelope(event: Event, server: str, pool: str) -> bytes:
    """Header line and payload for one listener of `pool`.

    len counts characters of the payload text, as supervisord does (it measures the str
    before encoding); childutils reads that many characters from a text-mode stdin.
    """
    p = event.payload
    head = ("ver:3.0 server:%s serial:%s pool:%s poolserial:%s eventname:%s len:%s\n"
            % (server, event.serial, pool, event.pool_serials[pool], event.name, len(p)))
    # backslashreplace only matters for lone surrogates, which strict UTF-8 cannot carry
    return (head + p).encode("utf-8", "backslashreplace")


def timeslice(period: int, when: float) -> int:
    """Start of the period-long slice holding `when` (supervisord.timeslice)."""
    return int(when - (when % period))
