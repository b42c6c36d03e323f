"""Pure pieces of the control client: names, result lines and exit statuses.

Nothing here does I/O. The texts and exit statuses are supervisorctl 4.3's, so that scripts
written against supervisorctl read `wrapctl` output unchanged.
"""
from __future__ import annotations

from typing import Iterable, Optional

# The codes, from the modules that define them for the daemon (both import nothing else).
from wrapctl.core.states import ProcessState as States
from wrapctl.rpc.faults import Faults  # noqa: F401 (re-exported for the commands)


STOPPED_STATES = (States.STOPPED, States.EXITED, States.FATAL, States.UNKNOWN)


class Exit:
    """Exit statuses: LSB init-script codes, and the two LSB status codes `status` uses."""
    SUCCESS = 0
    GENERIC = 1
    INVALID_ARGS = 2
    UNIMPLEMENTED_FEATURE = 3
    INSUFFICIENT_PRIVILEGES = 4
    NOT_INSTALLED = 5
    NOT_RUNNING = 7
    # status only
    STATUS_NOT_RUNNING = 3
    STATUS_UNKNOWN = 4


API_VERSION = "3.0"

# A start/stop/signal/clear result counts as "the program is dead" (exit 7), as in
# supervisorctl; any other failure is exit 1.
DEAD_PROGRAM_FAULTS = (Faults.SPAWN_ERROR, Faults.ABNORMAL_TERMINATION, Faults.NOT_RUNNING)


class Outcome:
    """What a command prints and the exit status it ends with.

    Like supervisorctl, a later failure overwrites an earlier status; success never resets it.
    """

    def __init__(self):
        self.lines: list[str] = []
        self.status = Exit.SUCCESS

    def out(self, line: str) -> None:
        self.lines.append(line)

    def fail(self, status: int, line: Optional[str] = None) -> None:
        self.status = status
        if line is not None:
            self.out(line)

    def fault(self, code: int, ignored: Optional[int] = None) -> None:
        """Set the status from one result's fault code, as supervisorctl does."""
        if code in (ignored, Faults.SUCCESS):
            return
        self.status = Exit.NOT_RUNNING if code in DEAD_PROGRAM_FAULTS else Exit.GENERIC


def make_namespec(group: str, name: str) -> str:
    return name if group == name else f"{group}:{name}"


def split_namespec(spec: str) -> tuple[str, Optional[str]]:
    """'g:p' -> (g, p); 'g:*' and 'g:' -> (g, None) (the whole group); 'p' -> (p, p)."""
    group, sep, name = spec.partition(":")
    if not sep:
        return spec, spec
    if not name or name == "*":
        return group, None
    return group, name


def status_lines(infos: list[dict]) -> list[str]:
    """supervisorctl's status table: namespec padded to the longest (min 30) + 3, state to 10."""
    specs = [make_namespec(i["group"], i["name"]) for i in infos]
    width = max([30] + [len(s) for s in specs]) + 3
    return [f"{s:<{width}}{i['statename']:<10}{i['description']}"
            for s, i in zip(specs, infos)]


def select_status(all_infos: list[dict], names: Iterable[str]):
    """Pick the infos `status NAMES` shows. Returns (infos, error lines, any_bad_name)."""
    names = list(names)
    if not names or "all" in names:
        return list(all_infos), [], False
    picked, errors = [], []
    for spec in names:
        group, name = split_namespec(spec)
        hits = [i for i in all_infos
                if i["group"] == group and (name is None or i["name"] == name)]
        if not hits:
            errors.append(f"{group}: ERROR (no such group)" if name is None
                          else f"{spec}: ERROR (no such process)")
        picked.extend(hits)
    return picked, errors, bool(errors)


def status_outcome(all_infos: list[dict], names: Iterable[str]) -> Outcome:
    """The lines and exit status of `status NAMES`: 4 for an unknown name, then 3 if any
    shown process is not running (STOPPED, EXITED, FATAL, UNKNOWN), else 0."""
    o = Outcome()
    infos, errors, bad = select_status(all_infos, names)
    for e in errors:
        o.out(e)
    if bad:
        o.status = Exit.STATUS_UNKNOWN
    for line in status_lines(infos):
        o.out(line)
    if any(i["state"] in STOPPED_STATES for i in infos):
        o.status = Exit.STATUS_NOT_RUNNING
    return o


def status_json(infos: list[dict]) -> list[dict]:
    """The --json shape of status: each info dict of the API plus its namespec."""
    return [dict(i, namespec=make_namespec(i["group"], i["name"])) for i in infos]


def _err(name: str, why: str) -> str:
    return f"{name}: ERROR ({why})"


_START_ERRORS = {
    Faults.BAD_NAME: "no such process",
    Faults.NO_FILE: "no such file",
    Faults.NOT_EXECUTABLE: "file is not executable",
    Faults.ALREADY_STARTED: "already started",
    Faults.SPAWN_ERROR: "spawn error",
    Faults.ABNORMAL_TERMINATION: "abnormal termination",
}


def start_line(result: dict) -> str:
    name = make_namespec(result["group"], result["name"])
    code = result["status"]
    if code == Faults.SUCCESS:
        return f"{name}: started"
    if code in _START_ERRORS:
        return _err(name, _START_ERRORS[code])
    return _err(name, result.get("description") or f"fault {code}")


def signal_line(result: dict, success: str = "signalled") -> str:
    name = make_namespec(result["group"], result["name"])
    code = result["status"]
    if code == Faults.SUCCESS:
        return f"{name}: {success}"
    if code == Faults.BAD_NAME:
        return _err(name, "no such process")
    if code == Faults.BAD_SIGNAL:
        return _err(name, "bad signal name")
    if code == Faults.NOT_RUNNING:
        return _err(name, "not running")
    if code == Faults.FAILED:
        return result.get("description", "")
    return _err(name, result.get("description") or f"fault {code}")


def stop_line(result: dict) -> str:
    return signal_line(result, success="stopped")


def clear_line(result: dict) -> str:
    name = make_namespec(result["group"], result["name"])
    code = result["status"]
    if code == Faults.SUCCESS:
        return f"{name}: cleared"
    if code == Faults.BAD_NAME:
        return _err(name, "no such process")
    if code == Faults.FAILED:
        return _err(name, "failed")
    return _err(name, result.get("description") or f"fault {code}")


def fault_result(spec: str, code: int, text: str) -> dict:
    """A per-process result dict for a single-process call that raised a fault.

    supervisorctl builds the name from split_namespec, so `stop g:*`-like specs never get
    here and `foo` reads as group foo, name foo."""
    group, name = split_namespec(spec)
    return {"status": code, "name": name, "group": group, "description": text}


def changes_lines(added: list, changed: list, dropped: list) -> list[str]:
    """`reread` output: one 'name: available|changed|disappeared' line per group, sorted."""
    kinds = {}
    for names, what in ((added, "available"), (changed, "changed"), (dropped, "disappeared")):
        for n in names:
            kinds[n] = what
    if not kinds:
        return ["No config updates to processes"]
    return [f"{n}: {kinds[n]}" for n in sorted(kinds)]


def avail_line(ci: dict) -> str:
    name = make_namespec(ci["group"], ci["name"])
    inuse = "in use" if ci["inuse"] else "avail"
    auto = "auto" if ci["autostart"] else "manual"
    prio = f"{ci['group_prio']}:{ci['process_prio']}"
    return f"{name:<32} {inuse:<9} {auto:<9} {prio}"


def avail_json(configinfos: list[dict]) -> list[dict]:
    """The --json shape of avail: each config info dict of the API plus its namespec."""
    return [dict(c, namespec=make_namespec(c["group"], c["name"])) for c in configinfos]


def parse_tail_args(args: list[str]):
    """`tail [-f|-N] name [stdout|stderr]` -> (name, channel, nbytes or None for -f).

    Raises ValueError with supervisorctl's message on bad input."""
    if len(args) < 1:
        raise ValueError("Error: too few arguments")
    if len(args) > 3:
        raise ValueError("Error: too many arguments")
    args = list(args)
    modifier = args.pop(0) if args[0].startswith("-") else None
    if not args:
        raise ValueError("Error: tail requires process name")
    name = args[0]
    channel = "stdout"
    if len(args) > 1:
        channel = args[-1].lower()
        if channel not in ("stdout", "stderr"):
            raise ValueError(f"Error: bad channel {channel!r}")
    nbytes: Optional[int] = 1600
    if modifier is not None:
        nbytes = _parse_modifier(modifier)
    return name, channel, nbytes


def parse_maintail_args(args: list[str]) -> Optional[int]:
    """`maintail [-f|-N]` -> nbytes, or None for -f. Raises ValueError on bad input."""
    if len(args) > 1:
        raise ValueError("Error: too many arguments")
    if not args:
        return 1600
    if not args[0].startswith("-"):
        raise ValueError(f"Error: bad argument {args[0]}")
    return _parse_modifier(args[0])


def _parse_modifier(modifier: str) -> Optional[int]:
    what = modifier[1:]
    if what == "f":
        return None
    try:
        return int(what)
    except ValueError:
        raise ValueError(f"Error: bad argument {modifier}") from None


# supervisorctl's usage lines, printed after a wrong argument count.
HELP = {
    "start": ["start <name>\t\tStart a process",
              "start <gname>:*\t\tStart all processes in a group",
              "start <name> <name>\tStart multiple processes or groups",
              "start all\t\tStart all processes"],
    "stop": ["stop <name>\t\tStop a process",
             "stop <gname>:*\t\tStop all processes in a group",
             "stop <name> <name>\tStop multiple processes or groups",
             "stop all\t\tStop all processes"],
    "restart": ["restart <name>\t\tRestart a process",
                "restart <gname>:*\tRestart all processes in a group",
                "restart <name> <name>\tRestart multiple processes or groups",
                "restart all\t\tRestart all processes",
                "Note: restart does not reread config files. For that, see reread and "
                "update."],
    "signal": ["signal <signal name> <name>\t\tSignal a process",
               "signal <signal name> <gname>:*\t\tSignal all processes in a group",
               "signal <signal name> <name> <name>\tSignal multiple processes or groups",
               "signal <signal name> all\t\tSignal all processes"],
    "clear": ["clear <name>\t\tClear a process' log files.",
              "clear <name> <name>\tClear multiple process' log files",
              "clear all\t\tClear all process' log files"],
    "version": ["version\t\t\tShow the version of the remote supervisord process"],
    "avail": ["avail\t\t\tDisplay all configured processes"],
    "reread": ["reread \t\t\tReload the daemon's configuration files without add/remove"],
    "reload": ["reload \t\tRestart the remote supervisord."],
    "shutdown": ["shutdown \tShut the remote supervisord down."],
}
