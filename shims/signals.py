"""Signal names <-> numbers: the one table for the shim's --signal maps, the core's
stopsignal= and the API's signalProcess.

Names are taken with or without the SIG prefix, in any case ('term', 'SIGTERM'); numbers
must be signals this system knows (real-time ones included), as supervisord checks them.
"""
import signal

# name -> number, aliases included (SIGIOT, SIGCLD, SIGPOLL); SIG_DFL and SIG_IGN are
# handlers, not signals, and are not in signal.Signals.
NUMBERS = {name: int(sig) for name, sig in signal.Signals.__members__.items()}
VALID = frozenset(int(s) for s in signal.valid_signals())


def name(signum):
    """'SIGTERM' for 15; the number as text when it has no name (real-time signals)."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


def number(value, allow_none=False):
    """Signal number of 'TERM', 'SIGTERM', 'term', '15' or 15; raises ValueError with a
    short reason. allow_none: '0' and 'NONE' mean "no signal" and give 0."""
    if isinstance(value, bool):
        raise ValueError(f"unknown signal {value!r} (not a signal name)")
    if isinstance(value, int):
        text = str(value)
    else:
        text = str(value).strip()
    t = text.upper()
    if allow_none and t in ("0", "NONE"):
        return 0
    if t.isdigit() and t.isascii():
        n = int(t)
        if n in VALID:
            return n
        raise ValueError(f"unknown signal {text!r} (not a signal number)")
    if t.startswith("-") and t[1:].isdigit():
        raise ValueError(f"unknown signal {text!r} (not a signal number)")
    key = t if t.startswith("SIG") else "SIG" + t
    if key in NUMBERS:
        return NUMBERS[key]
    raise ValueError(f"unknown signal {text!r} (not a signal name)")
