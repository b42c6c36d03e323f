"""Just enough POSIX shell to read init scripts: split text into simple commands and expand
words against known variables. Nothing is ever executed; a command substitution is never run
and leaves its word unresolved.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Callable, Optional

UNRESOLVED = "\x00"        # marks a character that came from something we could not evaluate

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(\+?)=(.*)$", re.S)


@dataclass
class Command:
    """One simple command: raw words (quotes kept), where it stands, how it was joined."""
    words: list[str]
    line: int
    after_op: str = ""          # ";", "&&", "||", "|" before it
    background: bool = False    # ended with a single "&"
    context: dict = field(default_factory=dict)


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Join backslash-newline continuations; keep the first physical line number."""
    out: list[tuple[int, str]] = []
    buf, start = "", 0
    for no, line in enumerate(text.split("\n"), 1):
        if not buf:
            start = no
        if line.endswith("\\") and not line.endswith("\\\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        out.append((start, buf))
        buf = ""
    if buf:
        out.append((start, buf))
    return out


def split_commands(line: str) -> list[tuple[list[str], str, bool]]:
    """Split one logical line into (words, operator-before, backgrounded) triples.

    Quotes, ${...}, $(...) and backticks are kept inside their word. A '#' at the start of
    a word begins a comment.
    """
    cmds: list[tuple[list[str], str, bool]] = []
    words: list[str] = []
    word = ""
    in_word = False
    op = ""
    i, n = 0, len(line)

    def end_word():
        nonlocal word, in_word
        if in_word:
            words.append(word)
        word, in_word = "", False

    def end_cmd(next_op: str, bg: bool = False):
        nonlocal words, op
        end_word()
        if words or bg:
            cmds.append((words, op, bg))
        words = []
        op = next_op

    while i < n:
        c = line[i]
        if c == "\\" and i + 1 < n:
            word += line[i:i + 2]
            in_word = True
            i += 2
            continue
        if c == "'":
            j = line.find("'", i + 1)
            j = n - 1 if j < 0 else j
            word += line[i:j + 1]
            in_word = True
            i = j + 1
            continue
        if c == '"':
            j = _scan_dquote(line, i + 1)
            word += line[i:j + 1]
            in_word = True
            i = j + 1
            continue
        if c == "`":
            j = line.find("`", i + 1)
            j = n - 1 if j < 0 else j
            word += line[i:j + 1]
            in_word = True
            i = j + 1
            continue
        if c in "$<>" and i + 1 < n and line[i + 1] in ("({" if c == "$" else "("):
            # $(...), ${...}, and process substitutions <(...) >(...) stay one word.
            j = _scan_balanced(line, i + 1)
            word += line[i:j + 1]
            in_word = True
            i = j + 1
            continue
        if c == "#" and not in_word:
            break
        if c in " \t":
            end_word()
            i += 1
            continue
        if c == ";":
            if line.startswith(";;", i):
                end_word()
                end_cmd(";")
                cmds.append(([";;"], ";", False))
                i += 2
                continue
            end_cmd(";")
            i += 1
            continue
        if c == "&":
            if line.startswith("&&", i):
                end_cmd("&&")
                i += 2
                continue
            if line.startswith("&>", i) or (word.endswith(">") and in_word):
                word += c
                in_word = True
                i += 1
                continue
            end_cmd(";", bg=True)
            i += 1
            continue
        if c == "|":
            if line.startswith("||", i):
                end_cmd("||")
                i += 2
                continue
            end_cmd("|")
            i += 1
            continue
        if c in "()" and not in_word and c == "(" and i + 1 < n and line[i + 1] == ")":
            # "name()" written with a space: "name ()"
            words.append("()")
            i += 2
            continue
        word += c
        in_word = True
        i += 1
    end_cmd("")
    return cmds


def _scan_dquote(s: str, i: int) -> int:
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i
        if c == "$" and i + 1 < n and s[i + 1] in "({":
            i = _scan_balanced(s, i + 1) + 1
            continue
        if c == "`":
            j = s.find("`", i + 1)
            i = (n if j < 0 else j) + 1
            continue
        i += 1
    return n - 1


def _scan_balanced(s: str, i: int) -> int:
    """s[i] is '(' or '{'; return the index of its match (or the end)."""
    open_c = s[i]
    close_c = ")" if open_c == "(" else "}"
    depth, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == "'" and open_c == "(":
            j = s.find("'", i + 1)
            i = (n if j < 0 else j) + 1
            continue
        if c == '"':
            i = _scan_dquote(s, i + 1) + 1
            continue
        if c == open_c:
            depth += 1
        elif c == close_c:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return n - 1


Lookup = Callable[[str], Optional[str]]
Subst = Callable[[str], Optional[str]]


class Expander:
    """Expands words. `lookup(name)` gives a variable or None; `subst(cmd)` may evaluate a
    well-known command substitution (basename $0) or return None for unresolved."""

    def __init__(self, lookup: Lookup, subst: Optional[Subst] = None):
        self.lookup = lookup
        self.subst = subst or (lambda cmd: None)

    def words(self, raw: list[str]) -> list[str]:
        """Expand and field-split a list of raw words."""
        out: list[str] = []
        for w in raw:
            out.extend(self.word_fields(w))
        return out

    def word(self, raw: str) -> str:
        return " ".join(self.word_fields(raw, split=False))

    def word_fields(self, raw: str, split: bool = True) -> list[str]:
        # Build (text, splittable) pieces, then split unquoted expansion results on IFS.
        pieces: list[tuple[str, bool]] = []
        i, n = 0, len(raw)
        quoted_any = False
        while i < n:
            c = raw[i]
            if c == "\\" and i + 1 < n:
                pieces.append((raw[i + 1], False))
                i += 2
            elif c == "'":
                j = raw.find("'", i + 1)
                j = n if j < 0 else j
                pieces.append((raw[i + 1:j], False))
                quoted_any = True
                i = j + 1
            elif c == '"':
                j = _scan_dquote(raw, i + 1)
                pieces.append((self._dquoted(raw[i + 1:j]), False))
                quoted_any = True
                i = j + 1
            elif c == "$" or c == "`":
                val, i = self._dollar(raw, i)
                pieces.append((val, True))
            else:
                j = i + 1      # at least one character: a lone trailing backslash too
                while j < n and raw[j] not in "\\'\"$`":
                    j += 1
                pieces.append((raw[i:j], False))
                i = j
        if not split:
            return ["".join(p for p, _ in pieces)]
        fields: list[str] = []
        cur, have = "", False
        for text, splittable in pieces:
            if not splittable:
                cur += text
                have = True
                continue
            parts = re.split(r"[ \t\n]+", text)
            for k, part in enumerate(parts):
                if k > 0:
                    if have or cur:
                        fields.append(cur)
                    cur, have = "", False
                cur += part
                if part:
                    have = True
        if have or cur or (quoted_any and not fields):
            fields.append(cur)
        return fields

    def _dquoted(self, s: str) -> str:
        out, i, n = "", 0, len(s)
        while i < n:
            c = s[i]
            if c == "\\" and i + 1 < n and s[i + 1] in '$`"\\':
                out += s[i + 1]
                i += 2
            elif c == "$" or c == "`":
                val, i = self._dollar(s, i)
                out += val
            else:
                out += c
                i += 1
        return out

    def _dollar(self, s: str, i: int) -> tuple[str, int]:
        n = len(s)
        if s[i] == "`":
            j = s.find("`", i + 1)
            j = n - 1 if j < 0 else j
            r = self.subst(s[i + 1:j])
            return (UNRESOLVED if r is None else r), j + 1
        if i + 1 >= n:
            return "$", i + 1
        c = s[i + 1]
        if c == "(":
            j = _scan_balanced(s, i + 1)
            if s.startswith("((", i + 1):
                return UNRESOLVED, j + 1
            r = self.subst(s[i + 2:j])
            return (UNRESOLVED if r is None else r), j + 1
        if c == "{":
            j = _scan_balanced(s, i + 1)
            return self._brace(s[i + 2:j]), j + 1
        m = _NAME.match(s, i + 1)
        if m:
            v = self.lookup(m.group(0))
            return (v if v is not None else ""), m.end()
        if c.isdigit() or c in "#?@*$!-":
            v = self.lookup(c)
            return (v if v is not None else UNRESOLVED), i + 2
        return "$", i + 1

    def _brace(self, body: str) -> str:
        if body.startswith("#"):
            v = self.lookup(body[1:])
            return str(len(v)) if v is not None else UNRESOLVED
        m = _NAME.match(body) or re.match(r"[0-9@*#?$!]", body)
        if not m:
            return UNRESOLVED
        name, rest = m.group(0), body[m.end():]
        val = self.lookup(name)
        if not rest:
            return val if val is not None else ""
        for op in (":-", ":=", ":?", ":+", "-", "=", "?", "+", "##", "#", "%%", "%", "/"):
            if rest.startswith(op):
                arg = rest[len(op):]
                break
        else:
            return UNRESOLVED
        if op in (":-", ":=", "-", "="):
            # A value we could not compute ($(doveconf ...)) most often yields the default.
            unset = val is None or (op.startswith(":") and (val == "" or UNRESOLVED in val))
            return self.word(arg) if unset else val
        if op in (":+", "+"):
            set_ = val is not None and (val != "" or op == "+")
            return self.word(arg) if set_ else ""
        if op in (":?", "?"):
            return val if val is not None else UNRESOLVED
        if val is None:
            val = ""
        pat = self.word(arg)
        if op in ("#", "##"):
            rng = range(len(val) + 1) if op == "#" else range(len(val), -1, -1)
            for k in rng:
                if fnmatch.fnmatchcase(val[:k], pat):
                    return val[k:]
            return val
        if op in ("%", "%%"):
            rng = range(len(val), -1, -1) if op == "%" else range(len(val) + 1)
            for k in rng:
                if fnmatch.fnmatchcase(val[k:], pat):
                    return val[:k]
            return val
        return UNRESOLVED


def assignment(word: str) -> Optional[tuple[str, str, bool]]:
    """'NAME=raw' -> (NAME, raw, append)."""
    m = _ASSIGN.match(word)
    if not m:
        return None
    return m.group(1), m.group(3), bool(m.group(2))


def resolved(value: str) -> bool:
    return UNRESOLVED not in value
