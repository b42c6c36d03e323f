"""The points where the core tells the rest of wrapctl what happened.

The supervisor calls these hooks; the event-listener system (supervisord's [eventlistener:x]
and its event types) and the web UI's live updates subscribe by replacing or wrapping them.
The default bus does nothing, so the core runs the same with or without subscribers.
"""
from __future__ import annotations


class Bus:
    def attach(self, daemon) -> None:
        """Called once the daemon exists (before the first supervisor starts)."""

    def supervisor_started(self, supervisor) -> None:
        """A Supervisor was created and is about to start its programs (also after a HUP)."""

    def supervisor_state(self, statename: str) -> None:
        """'RUNNING' once the daemon runs, 'STOPPING' when shutdown or restart begins."""

    def process_state(self, proc, old, new, expected: bool) -> None:
        """A process changed state (ProcessState values)."""

    def process_output(self, proc, channel: str, data: bytes) -> bytes:
        """Output read from a child's pipe; returns what goes to the log file (capture mode
        and the event-listener protocol take their part out)."""
        return data

    def group_added(self, name: str) -> None:
        pass

    def group_removed(self, name: str) -> None:
        pass

    def remote_comm(self, type: str, data: str) -> None:
        """supervisor.sendRemoteCommEvent."""
