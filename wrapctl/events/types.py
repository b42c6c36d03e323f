"""supervisord's event type names and their hierarchy (supervisor/events.py EventTypes).

A listener subscribes with `events=` to concrete names or to the abstract base names
(EVENT, PROCESS_STATE, PROCESS_LOG, PROCESS_COMMUNICATION, SUPERVISOR_STATE_CHANGE, TICK,
PROCESS_GROUP); a base name receives every event of its family, EVENT receives all.
"""
from __future__ import annotations

# concrete name -> its abstract family (below EVENT); REMOTE_COMMUNICATION has none.
FAMILY = {
    **{f"PROCESS_STATE_{s}": "PROCESS_STATE" for s in
       ("STOPPED", "EXITED", "STARTING", "STOPPING", "BACKOFF", "FATAL", "RUNNING", "UNKNOWN")},
    "PROCESS_COMMUNICATION_STDOUT": "PROCESS_COMMUNICATION",
    "PROCESS_COMMUNICATION_STDERR": "PROCESS_COMMUNICATION",
    "PROCESS_LOG_STDOUT": "PROCESS_LOG",
    "PROCESS_LOG_STDERR": "PROCESS_LOG",
    "REMOTE_COMMUNICATION": None,
    "SUPERVISOR_STATE_CHANGE_RUNNING": "SUPERVISOR_STATE_CHANGE",
    "SUPERVISOR_STATE_CHANGE_STOPPING": "SUPERVISOR_STATE_CHANGE",
    "TICK_5": "TICK",
    "TICK_60": "TICK",
    "TICK_3600": "TICK",
    "PROCESS_GROUP_ADDED": "PROCESS_GROUP",
    "PROCESS_GROUP_REMOVED": "PROCESS_GROUP",
}
ABSTRACT = frozenset({"EVENT"} | {f for f in FAMILY.values() if f})
ALL = frozenset(FAMILY) | ABSTRACT

TICK_PERIODS = {"TICK_5": 5, "TICK_60": 60, "TICK_3600": 3600}


def matches(subscribed: str, event_name: str) -> bool:
    """Does a subscription to `subscribed` receive an event named `event_name`?"""
    return (subscribed == event_name or subscribed == "EVENT"
            or (subscribed in ABSTRACT and FAMILY.get(event_name) == subscribed))


def wants(subscriptions, event_name: str) -> bool:
    return any(matches(s, event_name) for s in subscriptions)
