"""A line-aware INI reader with the exact syntax supervisord gets from its RawConfigParser.

configparser forgets where a value came from; error messages need file and line, so this
reader keeps them. The syntax rules are configparser's with supervisord's settings
(UnhosedConfigParser): '=' or ':' delimiters, lower-cased option names, case-sensitive
section names, full-line comments starting with ';' or '#', inline comments where ';' or
'#' follows whitespace, continuation lines indented deeper than the option line, blank
lines kept inside a continued value, [DEFAULT] options inherited by every section, and
strict=False: a section may be re-opened (options merge) and a repeated option overrides
the earlier one (we add a warning, supervisord is silent).
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from typing import Optional

from wrapctl.config.errors import ConfigError
from wrapctl.config.records import Where

DEFAULT_SECTION = "DEFAULT"
_SECTION_RE = re.compile(r"\[(?P<header>.+)\]")
_OPTION_RE = re.compile(r"(?P<option>.*?)\s*(?P<vi>=|:)\s*(?P<value>.*)$")
_COMMENT_PREFIXES = ("#", ";")


@dataclass
class Option:
    name: str
    value: str
    file: str
    line: int


@dataclass
class Section:
    name: str
    file: str
    line: int
    options: dict[str, Option] = field(default_factory=dict)


class IniDocument:
    """Sections from one or more files, merged in read order."""

    def __init__(self) -> None:
        self.sections: dict[str, Section] = {}
        self.defaults = Section(DEFAULT_SECTION, "", 0)
        self.warnings: list[str] = []

    def get(self, section: str, option: str) -> Optional[Option]:
        sect = self.sections.get(section)
        if sect is not None and option in sect.options:
            return sect.options[option]
        return self.defaults.options.get(option)

    def read_file(self, path: str) -> None:
        try:
            # O_NONBLOCK: a FIFO at the name (an include glob in a shared directory) must
            # not hang the reader; it is refused below as not a regular file.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError as e:
            raise ConfigError(f"cannot read configuration file: {e.strerror}", Where(path)) from None
        with os.fdopen(fd, "rb") as f:
            why = untrusted_config(os.fstat(fd), os.geteuid())
            if why is not None:
                raise ConfigError(f"refusing configuration file: {why}", Where(path))
            try:
                data = f.read()
            except OSError as e:
                raise ConfigError(f"cannot read configuration file: {e.strerror}",
                                  Where(path)) from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            line = data[: e.start].count(b"\n") + 1
            raise ConfigError("not valid UTF-8 text", Where(path, line)) from None
        self.read_string(text, path)

    def read_string(self, text: str, path: str) -> None:
        cursect: Optional[Section] = None
        pending: Optional[tuple[Section, str, list[str], int]] = None  # sect, opt, lines, line
        indent_level = 0

        def flush() -> None:
            nonlocal pending
            if pending is not None:
                sect, name, lines, lineno = pending
                value = "\n".join(lines).rstrip()
                self._store(sect, Option(name, value, path, lineno))
            pending = None

        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        for lineno, line in enumerate(lines, start=1):
            comment_start = _comment_start(line)
            value = line[:comment_start].strip()
            if not value:
                # configparser keeps a blank line inside a continued value, not a comment line
                if comment_start is None and pending is not None:
                    pending[2].append("")
                continue
            cur_indent = len(line) - len(line.lstrip())
            if pending is not None and cur_indent > indent_level:
                pending[2].append(value)
                continue
            flush()
            indent_level = cur_indent
            m = _SECTION_RE.match(value)
            if m:
                cursect = self._open_section(m.group("header"), path, lineno)
                continue
            if cursect is None:
                raise ConfigError(f"line is outside any [section]: {line.strip()!r}",
                                  Where(path, lineno))
            m = _OPTION_RE.match(value)
            if not m or not m.group("option").strip():
                raise ConfigError(f"not an option line (expected 'name = value'): {line.strip()!r}",
                                  Where(path, lineno, cursect.name))
            name = m.group("option").rstrip().lower()
            pending = (cursect, name, [m.group("value").strip()], lineno)
        flush()

    def _open_section(self, name: str, path: str, lineno: int) -> Section:
        if name == DEFAULT_SECTION:
            return self.defaults
        sect = self.sections.get(name)
        if sect is None:
            sect = self.sections[name] = Section(name, path, lineno)
        return sect

    def _store(self, sect: Section, opt: Option) -> None:
        old = sect.options.get(opt.name)
        if old is not None:
            self.warnings.append(
                f"{Where(opt.file, opt.line, sect.name, opt.name)}: repeated option overrides "
                f"the value at {old.file}:{old.line}")
            del sect.options[opt.name]
        sect.options[opt.name] = opt


def _comment_start(line: str) -> Optional[int]:
    """Index where a comment starts, or None: full-line, or ';'/'#' after whitespace."""
    if line.strip().startswith(_COMMENT_PREFIXES):
        return 0
    # configparser's exact rule, quirk included: it looks at the 1st occurrence of each
    # prefix, then the 2nd, ..., and stops at the first round where one follows whitespace
    # (so in "; ; #" the '#' wins over the second ';').
    positions = {p: -1 for p in _COMMENT_PREFIXES}
    while positions:
        found = {}
        best = None
        for prefix, start in positions.items():
            i = line.find(prefix, start + 1)
            if i == -1:
                continue
            found[prefix] = i
            if i == 0 or line[i - 1].isspace():
                best = i if best is None else min(best, i)
        if best is not None:
            return best
        positions = found
    return None


def untrusted_config(st: os.stat_result, euid: int) -> Optional[str]:
    """Why a root process must not take commands from this file, or None.

    Whoever can change a file that root runs commands from is root: as sudo does with
    sudoers, a file writable by others or owned by another user is refused (an include
    glob over a shared directory would otherwise run what anyone put there).
    """
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if euid != 0:
        return None
    if st.st_uid != 0:
        return f"owned by uid {st.st_uid}, not by root"
    if st.st_mode & stat.S_IWOTH:
        return "writable by others"
    return None
