"""The event listener protocol as seen from the supervisor, sans-IO.

Feed a listener's stdout bytes to ListenerProtocol.feed(); it answers with effects (log
lines, "ready", "event processed", "event rejected"). Call sent() after writing an event to
the listener. The rules and log messages are supervisord 4.3's PEventListenerDispatcher:

    ACKNOWLEDGED --"READY\\n"--> READY --(event sent)--> BUSY --"RESULT n\\n" + n bytes-->
    ACKNOWLEDGED (result handled) ...

Anything else ends in UNKNOWN, where the listener gets no more events until it is respawned.
Two deliberate differences: a negative result length is a bad result line (supervisord
recurses until the channel dies), and a zero-length result is handled at once (supervisord
waits for the next byte).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Callable, Union

READY_TOKEN = b"READY\n"
RESULT_PREFIX = b"RESULT "
RESULT_PREFIX_LEN = len(RESULT_PREFIX)  # supervisord skips these bytes without looking


class ListenerState(IntEnum):
    READY = 10
    BUSY = 20
    ACKNOWLEDGED = 30
    UNKNOWN = 40


@dataclass(frozen=True)
class Log:
    level: str          # "debug" | "warn"
    message: str


@dataclass(frozen=True)
class Ready:
    """The listener asks for an event."""


@dataclass(frozen=True)
class Processed:
    """The in-flight event was handled."""


@dataclass(frozen=True)
class Rejected:
    """The in-flight event was not handled: buffer it again."""


Effect = Union[Log, Ready, Processed, Rejected]

# A result handler answers "ok", "reject" (RejectEvent) or "error" (any other failure).
Handler = Callable[[bytes], str]


def default_handler(result: bytes) -> str:
    """supervisor.dispatchers:default_handler: anything but OK rejects the event."""
    return "ok" if result == b"OK" else "reject"


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "Undecodable: %r" % (raw,)


class ListenerProtocol:
    def __init__(self, name: str, handler: Handler = default_handler):
        self.name = name
        self.handler = handler
        self.reset()

    def reset(self) -> None:
        """A fresh listener process: it must say READY first."""
        self.state = ListenerState.ACKNOWLEDGED
        self.buffer = b""
        self.result = b""
        self.resultlen: int | None = None
        self.resumed = False

    @property
    def ready(self) -> bool:
        return self.state == ListenerState.READY

    def reattached(self) -> None:
        """The listener was started by a previous core (re-attached after it was killed):
        until an event is sent, also accept what may still come from before, a READY the
        old core never read or the result of an event it had in flight (that event is
        lost)."""
        self.resumed = True

    def resume(self) -> list[Effect]:
        """A re-attached listener that said nothing: its READY went to the previous core,
        so take it as waiting for an event."""
        if not (self.resumed and self.state == ListenerState.ACKNOWLEDGED and not self.buffer):
            return []
        out: list[Effect] = [Log("info", f"{self.name}: re-attached listener taken as READY")]
        self._change(ListenerState.READY, out)
        out.append(Ready())
        return out

    def _resumed_bytes(self, out: list) -> bool:
        """First bytes of a re-attached listener; False when more bytes are needed."""
        b = self.buffer
        if ((len(b) < len(READY_TOKEN) and READY_TOKEN.startswith(b))
                or (len(b) < len(RESULT_PREFIX) and RESULT_PREFIX.startswith(b))):
            return False
        self.resumed = False
        if self.buffer.startswith(READY_TOKEN):
            self.buffer = self.buffer[len(READY_TOKEN):]
            if self.state != ListenerState.READY:
                self._change(ListenerState.READY, out)
                out.append(Ready())
        elif self.buffer.startswith(RESULT_PREFIX):
            out.append(Log("info", f"{self.name}: result for an event sent by the previous "
                                   "core (that event is lost)"))
            self.state = ListenerState.BUSY
        else:
            self.buffer = b""
            self._change(ListenerState.UNKNOWN, out)
        return True

    def sent(self) -> None:
        """An event was written to the listener (only while READY)."""
        assert self.state == ListenerState.READY
        self.state = ListenerState.BUSY
        self.resumed = False

    def feed(self, data: bytes) -> list[Effect]:
        out: list[Effect] = []
        self.buffer += data
        S = ListenerState
        while self.buffer:
            if self.state == S.UNKNOWN:
                self.buffer = b""
            elif self.resumed and self.state in (S.ACKNOWLEDGED, S.READY):
                if not self._resumed_bytes(out):
                    break
            elif self.state == S.ACKNOWLEDGED:
                if len(self.buffer) < len(READY_TOKEN):
                    break
                if self.buffer.startswith(READY_TOKEN):
                    self.buffer = self.buffer[len(READY_TOKEN):]
                    self._change(S.READY, out)
                    out.append(Ready())
                else:
                    self.buffer = b""
                    self._change(S.UNKNOWN, out)
            elif self.state == S.READY:
                # output while waiting for an event: be strict, as supervisord
                self.buffer = b""
                self._change(S.UNKNOWN, out)
            elif not self._busy(out):
                break
        return out

    def _busy(self, out: list) -> bool:
        """Consume what BUSY can; False when more bytes are needed."""
        if self.resultlen is None:
            pos = self.buffer.find(b"\n")
            if pos == -1:
                return False
            line, self.buffer = self.buffer[:pos], self.buffer[pos + 1:]
            try:
                n = int(line[RESULT_PREFIX_LEN:])
                if n < 0:
                    raise ValueError
            except ValueError:
                out.append(Log("warn", f"{self.name}: bad result line: '{_text(line)}'"))
                self.buffer = b""
                self._change(ListenerState.UNKNOWN, out)
                out.append(Rejected())
                return True
            self.resultlen = n
        needed = self.resultlen - len(self.result)
        self.result += self.buffer[:needed]
        self.buffer = self.buffer[needed:]
        if len(self.result) < self.resultlen:
            return False
        result, self.result, self.resultlen = self.result, b"", None
        self._handle(result, out)
        return True

    def _handle(self, result: bytes, out: list) -> None:
        outcome = self.handler(result)
        if outcome == "ok":
            out.append(Log("debug", f"{self.name}: event was processed"))
            self._change(ListenerState.ACKNOWLEDGED, out)
            out.append(Processed())
        elif outcome == "reject":
            out.append(Log("warn", f"{self.name}: event was rejected"))
            self._change(ListenerState.ACKNOWLEDGED, out)
            out.append(Rejected())
        else:
            out.append(Log("warn", f"{self.name}: event caused an error"))
            self._change(ListenerState.UNKNOWN, out)
            out.append(Rejected())

    def _change(self, new: ListenerState, out: list) -> None:
        out.append(Log("debug", f"{self.name}: {self.state.name} -> {new.name}"))
        self.state = new
        if new == ListenerState.UNKNOWN:
            out.append(Log("warn", f"{self.name}: has entered the UNKNOWN state and will no "
                                   "longer receive events, this usually indicates the process "
                                   "violated the eventlistener protocol"))
