"""Typed records the abstract interpreter (wrapctl.adopt.interp) yields.

A value the interpreter cannot know (a command substitution it does not model, an
arithmetic result, a name read from a file that is not there) is kept in a word as the
UNKNOWN marker character, shared with wrapctl.shellwords so every consumer of ScriptInfo
tests it the same way (`resolved()`), and each such name is reported as an Unresolved.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from wrapctl.shellwords import UNRESOLVED as UNKNOWN

ACTIONS = ("start", "stop", "status", "reload", "force-reload", "restart")


def known(value: str) -> bool:
    return UNKNOWN not in value


@dataclass(frozen=True)
class Unresolved:
    """A name or substitution whose value the reader could not decide."""
    what: str                  # "$NAME", "$(cmd ...)", "source <file>"
    line: int
    file: str


@dataclass
class Run:
    """One command an action runs, as it would be exec'd."""
    argv: list[str]                 # expanded fields; the wrapped command's own (see via)
    line: int
    file: str
    env: dict[str, str] = field(default_factory=dict)   # NAME=value before the command
    user: str = ""                  # from su/runuser/sudo/chroot --userspec/chpst -u
    via: tuple[str, ...] = ()       # wrappers peeled off: ("su",), ("nohup", "setsid")
    funcs: tuple[str, ...] = ()     # the shell functions it runs in, outermost first
    guarded: bool = False           # under a condition the reader could not decide
    conds: int = 0                  # how many conditions (decided or not) it runs under
    dead: str = ""                  # the known-false test whose branch it is in (a disable
                                    # switch, a fallback): not run here, kept to be seen
    test: bool = False              # the condition of an if/while
    captured: bool = False          # inside $(...): its output is used, it is not the service
    background: bool = False        # `cmd &`
    loop: tuple[tuple[str, str], ...] = ()   # (variable, value) of enclosing for-loops
    wrapper_argv: list[str] = field(default_factory=list)   # the full command, wrappers too

    @property
    def head(self) -> str:
        return self.argv[0].rsplit("/", 1)[-1] if self.argv else ""


@dataclass
class Exit:
    """An `exit` the action reaches: taken when `guarded` is False and no test decided it;
    `decided` holds the test text when a known condition led to it (a disable switch)."""
    line: int
    file: str
    code: str
    decided: str = ""
    guarded: bool = False


@dataclass
class Action:
    name: str
    runs: list[Run] = field(default_factory=list)
    exits: list[Exit] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)        # variables at the end
    exported: dict[str, str] = field(default_factory=dict)
    sourced: list[str] = field(default_factory=list)          # as the script names them
    read: list[str] = field(default_factory=list)             # files actually read
    truncated: bool = False          # the step budget ran out


@dataclass
class Interpretation:
    path: str
    actions: dict[str, Action] = field(default_factory=dict)
    functions: list[str] = field(default_factory=list)
    unresolved: list[Unresolved] = field(default_factory=list)
    syntax_errors: list[int] = field(default_factory=list)

    def runs(self, action: str) -> list[Run]:
        a = self.actions.get(action)
        return a.runs if a else []

