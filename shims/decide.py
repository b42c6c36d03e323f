"""Start-up and follow decisions, sans-IO: what a pidfile reading or a set of candidates
means for the tracker. The shim's loop and the core feed facts and act on the answer.

`try_pid(pid)` is the caller's identity check (and adoption, if it wants to adopt at once):
it returns None when pid is acceptable, else the reason, as identity.judge() does.
"""
WAIT, ADOPT, DIED, REFUSE = "wait", "adopt", "died", "refuse"


def on_pidfile(reading, path, fresh, final, exited, try_pid):
    """(WAIT, why) | (ADOPT, pid) | (DIED, (pid, raw status)) | (REFUSE, reason).

    reading: pidfile.Reading; fresh: written since the launch (not a leftover); final: the
    file is complete (closed, renamed into place, or COMMAND has exited), so a refusal
    stands; exited: {pid: raw wait status} of tree processes reaped since the launch.
    """
    if reading.pid is None and reading.refusal is None:
        return WAIT, f"pidfile {path} never appeared" if reading.stamp is None else \
            f"pidfile {path} is empty"
    if not fresh:
        # A leftover of an earlier run is ignored until rewritten, unless it names a
        # process that passes every identity check (then it cannot be stale).
        if reading.pid is not None and try_pid(reading.pid) is None:
            return ADOPT, reading.pid
        what = reading.pid if reading.pid is not None else "content"
        return WAIT, f"pidfile {path} still holds {what} from before the launch"
    if reading.refusal is not None:
        reason = f"pidfile {path} {reading.refusal}"
    elif reading.pid in exited:
        return DIED, (reading.pid, exited[reading.pid])
    else:
        why = try_pid(reading.pid)
        if why is None:
            return ADOPT, reading.pid
        reason = f"pidfile {path} {why}"
    return (REFUSE, reason) if final else (WAIT, reason)


def pick(candidates, exe=None):
    """The one daemon among live candidate snapshots (direct children of the tracker that
    are not its helpers): (snapshot, []) | (None, []) for none | (None, several)."""
    if exe is not None:
        candidates = [c for c in candidates if c.name == exe]
    if len(candidates) == 1:
        return candidates[0], []
    return None, list(candidates)
