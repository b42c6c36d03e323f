"""wrapctl.adopt.grammar: shell text to the tree the interpreter walks (pure, no processes)."""
from __future__ import annotations

import pytest

from wrapctl.adopt import grammar as g

pytestmark = pytest.mark.timeout(30)


def one(text: str):
    s = g.parse(text)
    assert not s.errors, s.errors
    assert len(s.body) == 1, s.body
    return s.body[0]


def test_append_assignment_keeps_its_parts():
    c = one('ARGS="$ARGS -u $web_user"\n')
    assert isinstance(c, g.Command) and not c.words
    a = c.assigns[0]
    assert a.name == "ARGS" and not a.append
    assert a.value.parts == (g.Param("ARGS", quoted=True), g.Lit(" -u ", True),
                             g.Param("web_user", quoted=True))


def test_parameter_expansions_keep_operator_and_operand():
    c = one('echo ${A:-/run/x} ${B:=d} ${C#*/} ${D%%.pid} ${E:+-e $E} ${#F}\n')
    ps = [w.parts[0] for w in c.words[1:]]
    assert [(p.name, p.op) for p in ps] == [("A", ":-"), ("B", ":="), ("C", "#"),
                                           ("D", "%%"), ("E", ":+"), ("F", "#len")]
    assert ps[0].arg == (g.Lit("/run/x"),)
    assert ps[4].arg == (g.Lit("-e "), g.Param("E"))


def test_command_substitution_is_kept_with_its_parsed_body():
    c = one("NAME=$(basename $0)\n")
    sub = c.assigns[0].value.parts[0]
    assert isinstance(sub, g.Subst)
    body = sub.body[0]
    assert [w.text for w in body.words] == ["basename", "$0"]


def test_backquotes_inside_a_default_are_a_substitution():
    # tree-sitter-bash alone keeps `...` inside ${X:-...} as text
    c = one("P=${P:-`conf -h base_dir`}\n")
    p = c.assigns[0].value.parts[0]
    assert p.op == ":-" and isinstance(p.arg[0], g.Subst)


def test_expansion_after_a_slash_is_not_split_off():
    # tree-sitter-bash ends the word at the second `$` of /run/$N/$N.pid
    c = one("PIDFILE=/run/$NAME/$NAME.pid\n")
    assert not c.words
    assert c.assigns[0].value.parts == (g.Lit("/run/"), g.Param("NAME"), g.Lit("/"),
                                        g.Param("NAME"), g.Lit(".pid"))
    c = one("cmd --pidfile /run/$N/$N.pid -x\n")
    assert [w.text for w in c.words] == ["cmd", "--pidfile", "/run/$N/$N.pid", "-x"]


def test_blank_before_a_dollar_in_a_string_is_text():
    c = one('A="-f $C -P $P $OPTS"\n')
    parts = c.assigns[0].value.parts
    assert g.Param("OPTS", quoted=True) in parts
    assert "".join(p.text if isinstance(p, g.Lit) else "$" + p.name for p in parts) \
        == "-f $C -P $P $OPTS"


def test_empty_string_is_an_argument():
    c = one('test "$x" != ""\n')
    assert len(c.words) == 4 and c.words[3].parts == (g.Lit("", True),)


def test_structure_functions_case_if_andor_source_with_lines():
    s = g.parse("""#!/bin/sh
. /lib/lsb/init-functions
[ -r /etc/default/x ] && . /etc/default/x
d_start() {
    $DAEMON -D || OPTIONS="--daemon $OPTIONS"
}
case "$1" in
  start|restart) d_start ;;
  *) exit 3 ;;
esac
if [ "$A" = yes ]; then a; elif test -n "$B"; then b; else c; fi
for i in one two; do run $i & done
""")
    assert not s.errors
    src, andor, fdef, case, iff, loop = s.body
    assert isinstance(src, g.Command) and src.words[0].literal == "." and src.line == 2
    assert isinstance(andor, g.AndOr) and [op for op, _ in andor.items] == ["", "&&"]
    assert andor.items[0][1].words[0].literal == "["
    assert isinstance(fdef, g.FuncDef) and fdef.name == "d_start" and fdef.line == 4
    inner = fdef.body[0]
    assert isinstance(inner, g.AndOr) and inner.items[1][0] == "||" and inner.line == 5
    assert isinstance(case, g.Case) and [p.literal for p in case.items[0].patterns] \
        == ["start", "restart"]
    assert isinstance(iff, g.If) and len(iff.clauses) == 2 and iff.orelse is not None
    assert isinstance(loop, g.For) and [w.literal for w in loop.words] == ["one", "two"]
    assert loop.body[0].background


def test_test_command_words_in_source_order():
    # test(1)'s own precedence (-a looser than =), not tree-sitter's
    c = one('[ ! -f "$P" -a "x$A" = xy ]\n')
    assert [w.text for w in c.words] == ["[", "!", "-f", '"$P"', "-a", '"x$A"', "=", "xy",
                                         "]"]


def test_syntax_error_is_reported_not_raised():
    s = g.parse("start() {\n  echo (\n}\ncase\n")
    assert s.errors
