"""supervisord-compatible events and [eventlistener:x] pools (see docs/events.md).

    from wrapctl.events import EventBus
    Daemon(config, bus=EventBus())

Pure parts: types (names, hierarchy), payloads (events, envelopes), protocol (the listener
protocol state machine), capture (PROCESS_COMMUNICATION capture mode), pool (buffer, serials).
"""
from wrapctl.events.bus import EventBus
from wrapctl.events.protocol import ListenerProtocol, ListenerState, default_handler

__all__ = ["EventBus", "ListenerProtocol", "ListenerState", "default_handler"]
