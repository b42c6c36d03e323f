"""command= naming an init script's start: `/etc/init.d/X start`, `service X start`,
`invoke-rc.d X start` (or `restart`).

Such a command forks the daemon and exits, supervisord's best-known failure. At load the
script is read as text with the adoption reader (never run), and the program becomes what
`wrapctl adopt X --format wrapctl` would write: with a recipe, the daemon in the foreground;
without one, the script's start stays the command (the core adopts the daemon it leaves),
with the script's pidfile and its stop action. Options the section sets win. Anything that
keeps the script from being read leaves the command as written (supervisord's behaviour),
with one warning line.
"""
from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional

# Where `service X` and `invoke-rc.d X` find X; an environment variable so that a test (or
# a chroot-like layout) can point it elsewhere than the machine's own /etc/init.d.
INITD_ENV = "WRAPCTL_INITD_DIR"
INITD_DIR = "/etc/init.d"
# Debian's LSB library (/lib/lsb/init-functions.d/40-systemd) turns `/etc/init.d/X start`
# into `systemctl start X` on a systemd host unless this is set: the daemon would be
# systemd's, not this program's.
SKIP_REDIRECT = "SYSTEMCTL_SKIP_REDIRECT"
ACTIONS = ("start", "restart")
_TOOLS = ("service", "invoke-rc.d")


@dataclass(frozen=True)
class InitCommand:
    script: str             # the init script's path
    action: str             # start | restart
    written: str            # the command as the section has it
    tool: str = ""          # service | invoke-rc.d, when the script is named through one


@dataclass
class Resolution:
    """What the section gets: `options` are set where the section sets none (values are
    literal, not %-expanded); `command` replaces the command when not None."""
    warning: str
    options: dict[str, str] = field(default_factory=dict)
    command: Optional[str] = None
    environment: dict[str, str] = field(default_factory=dict)   # added to environment=


def recognize(command: str, environ: Mapping[str, str]) -> Optional[InitCommand]:
    """The init script a command starts, or None when it is not one of the forms."""
    if "%(" in command:
        return None         # not known before expansion; left to run as written
    try:
        words = shlex.split(command.replace("%%", "%"))
    except ValueError:
        return None
    if len(words) == 2 and words[1] in ACTIONS and words[0].startswith("/") \
            and os.path.basename(os.path.dirname(words[0])) == "init.d":
        return InitCommand(words[0], words[1], command)
    if len(words) == 3 and os.path.basename(words[0]) in _TOOLS and words[2] in ACTIONS:
        name = words[1]
        if not name or "/" in name or name.startswith((".", "-")):
            return None
        base = environ.get(INITD_ENV) or INITD_DIR
        return InitCommand(os.path.join(base, name), words[2], command,
                           os.path.basename(words[0]))
    return None


def resolve(cmd: InitCommand, program: str, given: set[str],
            book: Callable[[], object]) -> Resolution:
    """What program `program` (whose section sets the options in `given`) runs for `cmd`.
    `book()` gives the RecipeBook (loaded only when a script is read)."""
    from wrapctl.adopt import AdoptError, adopt
    from wrapctl.initscript import ScriptError, read_script
    from wrapctl.recipes import RecipeError

    script = cmd.script
    if not os.path.isfile(script):
        # Not an error: supervisord loads it and fails only at spawn, and the script may
        # come with a package installed after the configuration.
        return Resolution(f"{script}: no such init script; the command is left as written")
    try:
        info = read_script(script)
        ad = adopt(info, book(), name=program)
    except (ScriptError, AdoptError, RecipeError) as e:
        return Resolution(f"{e}; the command is left as written")
    except RecursionError:
        return Resolution(f"{script}: nested too deeply to read; the command is left as "
                          "written")
    except Exception as e:     # noqa: BLE001
        # The reader guesses at arbitrary shell text; a script it trips on must not stop a
        # configuration supervisord would load.
        return Resolution(f"{script}: cannot be read ({type(e).__name__}: {e}); the "
                          "command is left as written")
    if ad.decision == "recipe" and len(ad.programs) == 1:
        return _with_recipe(cmd, ad, given,
                            f"`wrapctl adopt {script} --format wrapctl` writes it out")
    why = ""
    if ad.recipe is not None:
        # A recipe that runs one program per instance (postgresql clusters): which one this
        # section means is for a person to say.
        why = (f"recipe {ad.recipe.name} runs one program per instance "
               f"({len(ad.programs)} found), ")
    if info.kind != "daemon" or info.launch is None:
        reason = info.reasons[-1] if info.reasons else "no daemon found"
        return Resolution(f"{script}: {why}{reason}; the command is left as written")
    return _without_recipe(cmd, ad, given, why,
                           f"`wrapctl adopt {script} --format wrapctl` writes a section "
                           "without the script")


def _with_recipe(cmd: InitCommand, ad, given: set[str], explicit: str) -> Resolution:
    r = ad.recipe
    opts = dict(ad.programs[0].wrapctl)
    command = opts.pop("command")
    out = {k: v for k, v in opts.items() if k not in given
           and not (k == "stopsignal" and "stopcommand" in given)}
    # Under the recipe's foreground command the signals reach the daemon itself: what
    # `supervisorctl signal` should send for a reload or a log reopen is the recipe's.
    signals = ["stop " + ("as set" if given & {"stopsignal", "stopcommand"}
                          else r.stop_signal)]
    if r.reload_signal:
        signals.append(f"reload {r.reload_signal}")
    if r.reopen_signal:
        signals.append(f"log reopen {r.reopen_signal}")
    more = ", ".join(f"{k}={v}" for k, v in out.items() if k != "recipe")
    line = (f"{cmd.written!r} runs {os.path.basename(r.daemon)} in the foreground by recipe "
            f"{r.name}: {command} ({', '.join(signals)}{'; ' + more if more else ''}); "
            f"{explicit}")
    return Resolution(line, options=out, command=command)


def _without_recipe(cmd: InitCommand, ad, given: set[str], why: str,
                    explicit: str) -> Resolution:
    from wrapctl.adopt import pidfile_in_args
    from wrapctl.shellwords import resolved

    info, la = ad.info, ad.info.launch
    out: dict[str, str] = {}
    pid = la.pidfile if la.pidfile and resolved(la.pidfile) else pidfile_in_args(la.args)
    if pid and "pidfile" not in given:
        out["pidfile"] = pid
    redirects = _uses_lsb_library(cmd.script)
    if not given & {"stopsignal", "stopcommand"}:
        # The stop runs as a helper of the daemon, without the program's environment=.
        out["stopcommand"] = shlex.join((["env", f"{SKIP_REDIRECT}=true"] if redirects
                                         else []) + [cmd.script, "stop"])
        if info.stop_timeout > 10 and "stopwaitsecs" not in given:
            # the script's own stop waits this long (start-stop-daemon --retry)
            out["stopwaitsecs"] = str(info.stop_timeout)
    command = None
    if cmd.tool:
        # The script itself, not the tool: on a systemd machine `service` hands the start
        # to systemctl (the daemon would not be this program's), and invoke-rc.d asks
        # policy-rc.d, which containers set to refuse every start.
        command = shlex.join([cmd.script, cmd.action])
    daemon = la.program or la.daemon
    found = (f"pid from {out['pidfile']}" if "pidfile" in out else
             "pidfile as set" if "pidfile" in given else
             "pid from the process tree it leaves")
    stop = (f"stopped by `{out['stopcommand']}`" if "stopcommand" in out
            else "stop as set")
    line = (f"{cmd.written!r}: {why or 'no recipe for ' + os.path.basename(daemon) + ', '}"
            + (f"runs `{command}` " if command else f"the script's {cmd.action} runs ")
            + f"as a forking command ({found}, {stop}); {explicit}")
    return Resolution(line.replace("\x00", "$(...)"), options=out, command=command,
                      environment={SKIP_REDIRECT: "true"} if redirects else {})


def _uses_lsb_library(script: str) -> bool:
    try:
        with open(script, "rb") as f:
            text = f.read(1 << 20)
    except OSError:
        return False
    return b"/lib/lsb/init-functions" in text or b"init-d-script" in text
