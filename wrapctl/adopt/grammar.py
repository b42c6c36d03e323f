"""A shell script as a tree the abstract interpreter walks (wrapctl.adopt.interp).

tree-sitter-bash parses the text (a maintained grammar that accepts POSIX sh and the bash
that init scripts use, and keeps going past a syntax error); this module turns its concrete
tree into a few small records: commands with their words, and/or lists, pipelines, if, case,
for, while, function definitions, groups. A word keeps its parts (literal, quoted, parameter
expansion with its operator, command substitution kept as a parsed body), so nothing is
re-tokenized by hand. `[ ... ]` and `[[ ... ]]` come back as plain commands whose words are
the test's arguments: tree-sitter's precedence inside `[` is not test(1)'s (`-a` binds
looser than `=` there), so the interpreter evaluates the argument list itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional, Union


# -- word parts ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Lit:
    text: str
    quoted: bool = False


@dataclass(frozen=True)
class Param:
    """$X, ${X}, ${X:-arg} and the like; op is "" for a plain reference, "#len" for ${#X}."""
    name: str
    op: str = ""
    arg: tuple = ()           # parts of the operand word
    quoted: bool = False


@dataclass(frozen=True)
class Subst:
    """$(...) or `...`: never run; its body is parsed so its commands can be seen."""
    body: tuple
    text: str
    quoted: bool = False


@dataclass(frozen=True)
class Arith:
    text: str
    quoted: bool = False


Part = Union[Lit, Param, Subst, Arith]


@dataclass(frozen=True)
class Word:
    parts: tuple
    text: str                 # the source text, for messages

    @property
    def literal(self) -> Optional[str]:
        """The word's value when it has no expansion, else None."""
        if all(isinstance(p, Lit) for p in self.parts):
            return "".join(p.text for p in self.parts)
        return None


# -- statements ---------------------------------------------------------------------------
@dataclass
class Assign:
    name: str
    value: Optional[Word]     # None: `export NAME` / `local NAME`
    append: bool = False      # NAME+=value


@dataclass
class Redirect:
    op: str
    target: Optional[Word]


@dataclass
class Command:
    line: int
    assigns: list[Assign] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)
    decl: str = ""            # export | local | readonly | declare | typeset (words empty)
    background: bool = False


@dataclass
class AndOr:
    """`a && b || c`: items[0] has op "", the rest "&&" or "||" (left-associative)."""
    line: int
    items: list[tuple[str, "Node"]]
    background: bool = False


@dataclass
class Pipeline:
    line: int
    items: list["Node"]
    background: bool = False


@dataclass
class Not:
    line: int
    body: "Node"
    background: bool = False


@dataclass
class If:
    line: int
    clauses: list[tuple[list["Node"], list["Node"]]]   # (condition, body): if and each elif
    orelse: Optional[list["Node"]] = None
    background: bool = False


@dataclass
class CaseItem:
    patterns: list[Word]
    body: list["Node"]
    fallthrough: bool = False  # ;& or ;;&


@dataclass
class Case:
    line: int
    subject: Word
    items: list[CaseItem]
    background: bool = False


@dataclass
class For:
    line: int
    var: str
    words: Optional[list[Word]]   # None: `for x; do` (the positional parameters)
    body: list["Node"]
    background: bool = False


@dataclass
class While:
    line: int
    cond: list["Node"]
    body: list["Node"]
    until: bool = False
    background: bool = False


@dataclass
class FuncDef:
    line: int
    name: str
    body: list["Node"]
    background: bool = False


@dataclass
class Group:
    line: int
    body: list["Node"]
    subshell: bool = False
    background: bool = False


Node = Union[Command, AndOr, Pipeline, Not, If, Case, For, While, FuncDef, Group]


@dataclass
class Script:
    body: list[Node]
    errors: list[int]           # lines where the grammar found a syntax error


# -- conversion ---------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _parser():
    import tree_sitter
    import tree_sitter_bash
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_bash.language()))


def parse(text: str) -> Script:
    """Parse shell text. Never raises on bad syntax: the parts that parse are kept and
    the lines of the errors listed."""
    data = text.encode("utf-8", errors="replace")
    tree = _parser().parse(data)
    if "`" in text:
        # tree-sitter-bash keeps backquotes inside ${X:-`cmd`} as literal text and loses
        # its way on some inside `[ ]` (/proc/`cat $P`/): the same text with $( ) parses
        # right and means the same. Kept unless it parses worse.
        alt = _backquotes_to_dollar(text).encode("utf-8", errors="replace")
        tree2 = _parser().parse(alt)
        if _error_count(tree2.root_node) <= _error_count(tree.root_node):
            data, tree = alt, tree2
    conv = _Conv(data)
    body = conv.block(tree.root_node.children)
    return Script(body=body, errors=sorted(set(conv.errors)))


def _error_count(n) -> int:
    if not n.has_error:
        return 0
    return (n.type == "ERROR" or n.is_missing) + sum(_error_count(c) for c in n.children)


def _backquotes_to_dollar(text: str) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    state = ""          # "" | "'" | '"'
    open_bq = False
    while i < n:
        c = text[i]
        if state == "'":
            out.append(c)
            state = "" if c == "'" else state
            i += 1
            continue
        if c == "\\" and i + 1 < n:
            out.append(text[i:i + 2])
            i += 2
            continue
        if state == "" and c == "#" and (i == 0 or text[i - 1] in " \t\n;"):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(text[i:j])
            i = j
            continue
        if c == "`":
            out.append(")" if open_bq else "$(")
            open_bq = not open_bq
        elif c == "'" and state == "" and not open_bq:
            state = "'"
            out.append(c)
        elif c == '"' and not open_bq:
            state = "" if state == '"' else '"'
            out.append(c)
        else:
            out.append(c)
        i += 1
    return "".join(out)


_STATEMENT_SKIP = {"comment", ";", ";;", "&", "\n", "heredoc_body", "heredoc_end"}
_WORDISH = {"word", "string", "raw_string", "simple_expansion", "expansion", "concatenation",
            "number", "command_substitution", "ansi_c_string", "arithmetic_expansion",
            "extglob_pattern", "regex", "translated_string", "process_substitution",
            "special_variable_name", "variable_name", "string_content", "brace_expression",
            "test_operator"}


def _line(n) -> int:
    return n.start_point[0] + 1


class _Conv:
    def __init__(self, data: bytes):
        self.data = data
        self.errors: list[int] = []

    def text(self, n) -> str:
        return self.data[n.start_byte:n.end_byte].decode("utf-8", errors="replace")

    # statements
    def block(self, children) -> list[Node]:
        out: list[Node] = []
        for c in children:
            if c.type == "&" and out:
                out[-1].background = True
                continue
            if c.type in _STATEMENT_SKIP or not c.is_named and c.type not in ("ERROR",):
                continue
            node = self.statement(c)
            if node is not None:
                out.append(node)
        return out

    def statement(self, n) -> Optional[Node]:
        t = n.type
        if t == "ERROR" or n.has_error and t in ("program",):
            self.errors.append(_line(n))
            return Group(_line(n), self.block(n.children)) if t == "ERROR" else None
        if n.is_missing:
            self.errors.append(_line(n))
            return None
        if t == "command":
            return self.command(n)
        if t == "variable_assignment" or t == "variable_assignments":
            cmd = Command(_line(n))
            for a in ([n] if t == "variable_assignment" else n.named_children):
                if a.type == "variable_assignment":
                    cmd.assigns.append(self.assign(a))
            return cmd
        if t == "declaration_command":
            return self.declaration(n)
        if t == "unset_command":
            cmd = Command(_line(n), words=[Word((Lit("unset"),), "unset")])
            cmd.words += [self.word(c) for c in n.named_children]
            return cmd
        if t == "test_command":
            return self.test(n)
        if t == "list":
            items: list[tuple[str, Node]] = []
            op = ""
            for c in n.children:
                if c.type in ("&&", "||"):
                    op = c.type
                    continue
                if c.type in _STATEMENT_SKIP:
                    continue
                s = self.statement(c)
                if s is None:
                    continue
                if isinstance(s, AndOr) and not items:
                    items.extend(s.items)
                else:
                    items.append((op, s))
            return AndOr(_line(n), items)
        if t == "pipeline":
            items = [s for c in n.named_children for s in [self.statement(c)] if s is not None]
            return Pipeline(_line(n), items)
        if t == "negated_command":
            inner = [s for c in n.named_children for s in [self.statement(c)] if s is not None]
            return Not(_line(n), inner[0] if len(inner) == 1 else Group(_line(n), inner))
        if t == "redirected_statement":
            body = n.child_by_field_name("body")
            s = self.statement(body) if body is not None else Command(_line(n))
            reds = [self.redirect(c) for c in n.children if c.type.endswith("redirect")]
            if isinstance(s, Command):
                s.redirects += reds
            return s
        if t == "if_statement":
            return self.if_(n)
        if t == "case_statement":
            return self.case(n)
        if t == "for_statement":
            return self.for_(n)
        if t in ("while_statement",):
            cond = [self.statement(c) for c in n.children_by_field_name("condition")
                    if c.is_named]
            body = n.child_by_field_name("body")
            until = n.children[0].type == "until"
            return While(_line(n), [c for c in cond if c is not None],
                         self.body_of(body), until=until)
        if t == "function_definition":
            name = n.child_by_field_name("name")
            body = n.child_by_field_name("body")
            return FuncDef(_line(n), self.text(name) if name is not None else "",
                           self.body_of(body))
        if t == "compound_statement":
            return Group(_line(n), self.block(n.children))
        if t == "subshell":
            return Group(_line(n), self.block(n.children), subshell=True)
        if t == "do_group":
            return Group(_line(n), self.block(n.children))
        if t in ("c_style_for_statement",):
            body = n.child_by_field_name("body")
            return While(_line(n), [], self.body_of(body))
        if t in _WORDISH:
            # a bare word where a statement stands (error recovery)
            return Command(_line(n), words=[self.word(n)])
        # Anything else (arithmetic commands, heredoc leftovers): nothing we evaluate.
        return None

    def body_of(self, n) -> list[Node]:
        if n is None:
            return []
        if n.type in ("compound_statement", "do_group", "subshell"):
            return self.block(n.children)
        s = self.statement(n)
        return [s] if s is not None else []

    def command(self, n) -> Command:
        cmd = Command(_line(n))
        kids = list(n.children)
        k = 0
        while k < len(kids):
            c = kids[k]
            t = c.type
            k += 1
            nxt = kids[k] if k < len(kids) else None
            if nxt is not None and _dangling_dollar(c) and nxt.start_byte == c.end_byte:
                # tree-sitter-bash splits `/run/$N/$N.pid` after the second `$`; join it
                # back: the next word's leading name is that expansion's.
                follow = nxt.named_children[0] if nxt.type == "command_name" \
                    and nxt.named_children else nxt
                k += 1
                if t == "variable_assignment":
                    a = self.assign(c)
                    a.value = self.rejoin(a.value, follow)
                    cmd.assigns.append(a)
                else:
                    cmd.words.append(self.rejoin(self.word(c), follow))
                continue
            if t == "variable_assignment":
                cmd.assigns.append(self.assign(c))
            elif t == "command_name":
                cmd.words.append(self.word(c.named_children[0] if c.named_children else c))
            elif t.endswith("redirect"):
                cmd.redirects.append(self.redirect(c))
            elif t in _WORDISH:
                cmd.words.append(self.word(c))
            elif t == "subshell":
                cmd.words.append(Word((Lit(self.text(c)),), self.text(c)))
        return cmd

    def rejoin(self, w: Word, follow) -> Word:
        import re
        parts = list(w.parts)
        if parts and isinstance(parts[-1], Lit) and parts[-1].text.endswith("$"):
            last = parts.pop()
            if last.text[:-1]:
                parts.append(Lit(last.text[:-1], last.quoted))
        text = self.text(follow)
        m = re.match(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]", text)
        if m:
            parts.append(Param(m.group(0)))
            rest = text[m.end():]
        else:
            parts.append(Lit("$"))
            rest = text
        if rest:
            parts.append(Lit(_unescape(rest)))
        return Word(tuple(parts), w.text + text)

    def declaration(self, n) -> Command:
        kw = n.children[0].type if n.children else "declare"
        cmd = Command(_line(n), decl=kw)
        kids = n.named_children
        skip = set()
        for k, c in enumerate(kids):
            if k in skip:
                continue
            if c.type == "variable_assignment" and k + 1 < len(kids) \
                    and _dangling_dollar(c) and kids[k + 1].start_byte == c.end_byte:
                a = self.assign(c)
                a.value = self.rejoin(a.value, kids[k + 1])
                cmd.assigns.append(a)
                skip.add(k + 1)
            elif c.type == "variable_assignment":
                cmd.assigns.append(self.assign(c))
            elif c.type == "variable_name":
                cmd.assigns.append(Assign(self.text(c), None))
            elif c.type == "word" and self.text(c).startswith("-"):
                continue        # export -n, declare -x: options
        return cmd

    def assign(self, n) -> Assign:
        name_n = n.child_by_field_name("name")
        name = self.text(name_n) if name_n is not None else ""
        append = any(c.type == "+=" for c in n.children)
        val = n.child_by_field_name("value")
        if val is None:
            return Assign(name, Word((), ""), append)
        return Assign(name, self.word(val), append)

    def redirect(self, n) -> Redirect:
        op = ""
        target = None
        for c in n.children:
            if not c.is_named and c.type not in ("file_descriptor",):
                op = op or c.type
            elif c.type in _WORDISH and c.type != "file_descriptor":
                target = self.word(c)
        return Redirect(op, target)

    def test(self, n) -> Command:
        """`[ ... ]` / `[[ ... ]]`: the words in source order, operators as literals."""
        words: list[Word] = []

        def walk(x):
            if x.type in ("[", "]", "[[", "]]"):
                words.append(Word((Lit(x.type),), x.type))
                return
            if x.type in _WORDISH and x.type != "test_operator" or x.type == "ERROR":
                words.append(self.word(x))
                return
            if x.child_count == 0:
                words.append(Word((Lit(self.text(x)),), self.text(x)))
                return
            for c in x.children:
                walk(c)
        for c in n.children:
            walk(c)
        return Command(_line(n), words=words)

    def if_(self, n) -> If:
        clauses: list[tuple[list[Node], list[Node]]] = []
        orelse = None
        cond: list[Node] = []
        body: list[Node] = []
        state = "cond"
        for c in n.children:
            t = c.type
            if t == "if":
                continue
            if t == "then":
                state = "body"
                continue
            if t in ("fi", ";", "&", "\n", "comment"):
                if t == "&" and (body if state == "body" else cond):
                    (body if state == "body" else cond)[-1].background = True
                continue
            if t == "elif_clause":
                clauses.append((cond, body))
                cond, body = self.elif_(c)
                continue
            if t == "else_clause":
                orelse = self.block(c.children[1:])
                continue
            s = self.statement(c)
            if s is None:
                continue
            (body if state == "body" else cond).append(s)
        clauses.append((cond, body))
        return If(_line(n), clauses, orelse)

    def elif_(self, n) -> tuple[list[Node], list[Node]]:
        cond: list[Node] = []
        body: list[Node] = []
        state = "cond"
        for c in n.children:
            if c.type == "elif":
                continue
            if c.type == "then":
                state = "body"
                continue
            if c.type in _STATEMENT_SKIP:
                continue
            s = self.statement(c)
            if s is not None:
                (body if state == "body" else cond).append(s)
        return cond, body

    def case(self, n) -> Case:
        subj = n.child_by_field_name("value")
        items: list[CaseItem] = []
        for c in n.named_children:
            if c.type != "case_item":
                continue
            pats: list[Word] = []
            body_nodes = []
            seen_paren = False
            term = ""
            for x in c.children:
                if x.type == ")" and not seen_paren:
                    seen_paren = True
                    continue
                if not seen_paren:
                    if x.type not in ("|", "("):
                        pats.append(self.word(x))
                    continue
                if x.type in (";;", ";&", ";;&"):
                    term = x.type
                    continue
                body_nodes.append(x)
            items.append(CaseItem(pats, self.block(body_nodes), fallthrough=term in (";&", ";;&")))
        return Case(_line(n), self.word(subj) if subj is not None else Word((), ""), items)

    def for_(self, n) -> For:
        var = n.child_by_field_name("variable")
        vals = n.children_by_field_name("value")
        has_in = any(c.type == "in" for c in n.children)
        body = n.child_by_field_name("body")
        return For(_line(n), self.text(var) if var is not None else "",
                   self.word_list(vals) if has_in else None, self.body_of(body))

    def word_list(self, nodes) -> list[Word]:
        out: list[Word] = []
        k = 0
        while k < len(nodes):
            c = nodes[k]
            k += 1
            if k < len(nodes) and _dangling_dollar(c) and nodes[k].start_byte == c.end_byte:
                out.append(self.rejoin(self.word(c), nodes[k]))
                k += 1
                continue
            out.append(self.word(c))
        return out

    # words
    def word(self, n) -> Word:
        return Word(tuple(self.parts(n, False)), self.text(n))

    def parts(self, n, quoted: bool) -> list:
        t = n.type
        if t in ("simple_expansion", "expansion", "command_substitution"):
            # tree-sitter-bash folds the blanks before a `$` inside "..." into the `$`
            # token: they are the string's text.
            text = self.text(n)
            lead = text[: len(text) - len(text.lstrip(" \t\n"))]
            if lead:
                rest = self._after_lead(n, t, quoted, text[len(lead):])
                return [Lit(lead, quoted)] + rest
        if t in ("word", "number", "extglob_pattern", "regex", "special_variable_name",
                 "variable_name", "test_operator", "file_descriptor"):
            return [Lit(_unescape(self.text(n)) if not quoted else self.text(n), quoted)]
        if t == "raw_string":
            return [Lit(self.text(n)[1:-1], True)]
        if t == "ansi_c_string":
            return [Lit(_ansi_c(self.text(n)[2:-1]), True)]
        if t == "string_content":
            return [Lit(_dq_unescape(self.text(n)), True)]
        if t in ("string", "translated_string"):
            # "" is still a word (an empty argument), not nothing
            return self.spanned(n, True, skip=('"', '$"')) or [Lit("", True)]
        if t == "concatenation":
            return self.spanned(n, quoted, skip=())
        if t == "simple_expansion":
            name = self.text(n).lstrip(" \t\n")[1:]
            return [Param(name, quoted=quoted)]
        if t == "expansion":
            return [self.expansion(n, quoted)]
        if t == "command_substitution":
            body = self.block([c for c in n.children if c.type not in ("$(", "`", ")")])
            return [Subst(tuple(body), self.text(n), quoted)]
        if t in ("arithmetic_expansion", "process_substitution", "brace_expression"):
            return [Arith(self.text(n), quoted)]
        if n.child_count:
            return self.spanned(n, quoted, skip=())
        return [Lit(self.text(n), quoted)]

    def _after_lead(self, n, t, quoted, text) -> list:
        if t == "simple_expansion":
            return [Param(text[1:], quoted=quoted)]
        if t == "expansion":
            return [self.expansion(n, quoted)]
        body = self.block([c for c in n.children if c.type not in ("$(", "`", ")")])
        return [Subst(tuple(body), text, quoted)]

    def spanned(self, n, quoted: bool, skip) -> list:
        """The children's parts, with the source text between them (whitespace inside a
        string) kept as literal."""
        out: list = []
        pos = None
        kids = [c for c in n.children if c.type not in skip]
        if n.type in ("string", "translated_string") and kids and kids[-1].type == '"':
            kids = kids[:-1]
        for c in kids:
            if pos is not None and c.start_byte > pos:
                out.append(Lit(self.data[pos:c.start_byte].decode("utf-8", "replace"), quoted))
            out.extend(self.parts(c, quoted))
            pos = c.end_byte
        if n.type in ("string", "translated_string") and pos is not None:
            end = n.end_byte - 1
            if end > pos:
                out.append(Lit(self.data[pos:end].decode("utf-8", "replace"), quoted))
        return out

    def expansion(self, n, quoted: bool) -> Param:
        kids = [c for c in n.children if c.type not in ("${", "}")]
        if kids and kids[0].type == "#" and len(kids) == 2:
            return Param(self.text(kids[1]), op="#len", quoted=quoted)
        if not kids:
            return Param("", quoted=quoted)
        name = self.text(kids[0])
        if kids[0].type == "subscript":
            return Param(name, op="?index", quoted=quoted)
        op = ""
        arg_start = None
        for i, c in enumerate(kids[1:], 1):
            if not c.is_named:
                op = c.type
                arg_start = i + 1
                break
        if not op:
            return Param(name, quoted=quoted)
        arg_nodes = kids[arg_start:] if arg_start is not None else []
        if arg_nodes:
            start = arg_nodes[0].start_byte
            # keep the operand's own spacing: `${A:+-a $A}`
            parts: list = []
            pos = start
            for c in arg_nodes:
                if c.start_byte > pos:
                    parts.append(Lit(self.data[pos:c.start_byte].decode("utf-8", "replace"),
                                     quoted))
                if c.is_named:
                    parts.extend(self.parts(c, quoted))
                else:
                    parts.append(Lit(self.text(c), quoted))
                pos = c.end_byte
            arg = tuple(parts)
        else:
            arg = ()
        return Param(name, op=op, arg=arg, quoted=quoted)


def _dangling_dollar(n) -> bool:
    """The node (a word or an assignment) ends with a lone `$` token."""
    if n.type == "variable_assignment":
        n = n.child_by_field_name("value")
        if n is None:
            return False
    return n.type == "concatenation" and n.child_count > 0 and n.children[-1].type == "$"


def _unescape(s: str, only: str = "") -> str:
    """Remove quoting backslashes: before any character, or (inside double quotes) only
    before those in `only`; a backslash-newline joins lines."""
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s) and (not only or s[i + 1] in only):
            if s[i + 1] != "\n":
                out.append(s[i + 1])
            i += 2
            continue
        out.append(s[i])
        i += 1
    return "".join(out)


def _dq_unescape(s: str) -> str:
    return _unescape(s, '$`"\\\n')


def _ansi_c(s: str) -> str:
    try:
        return s.encode("latin-1", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError:
        return s
