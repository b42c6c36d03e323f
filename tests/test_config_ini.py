"""The line-aware INI reader gives exactly what supervisord's RawConfigParser gives."""
import configparser

import pytest
from hypothesis import given, settings, strategies as st

from wrapctl.config import ConfigError
from wrapctl.config.ini import IniDocument

WORDS = st.sampled_from(["a", "B", "x y", "p:q", "DEFAULT", "k=v", "1"])
INDENT = st.sampled_from(["", "", "", " ", "  ", "\t"])
TEXT = st.lists(st.sampled_from(["a", "b c", ";", " ;", "#", " #", "=", ":", "%", " ", "[", "]"]),
                max_size=5).map("".join)


@st.composite
def lines(draw):
    kind = draw(st.sampled_from(["header", "option", "option", "option", "comment", "blank",
                                 "text"]))
    indent = draw(INDENT)
    if kind == "header":
        return f"{indent}[{draw(WORDS)}]{draw(st.sampled_from(['', ' ; c', ' x']))}"
    if kind == "option":
        return f"{indent}{draw(WORDS)}{draw(st.sampled_from(['=', ' = ', ': ', ':']))}{draw(TEXT)}"
    if kind == "comment":
        return f"{indent}{draw(st.sampled_from([';', '#']))}{draw(TEXT)}"
    if kind == "blank":
        return indent
    return f"{indent}{draw(TEXT)}"


def supervisord_parse(text):
    # the settings of supervisor.options.UnhosedConfigParser
    p = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False)
    p.read_string(text)
    out = {s: dict(p.items(s, raw=True)) for s in p.sections()}
    out["DEFAULT"] = dict(p.defaults())
    return out


def our_parse(text):
    doc = IniDocument()
    doc.read_string(text, "f.conf")
    out = {}
    for name, sect in doc.sections.items():
        keys = list(doc.defaults.options) + list(sect.options)
        out[name] = {k: doc.get(name, k).value for k in keys}
    out["DEFAULT"] = {k: o.value for k, o in doc.defaults.options.items()}
    return out


@settings(max_examples=400, deadline=None)
@given(st.lists(lines(), max_size=12))
def test_reader_matches_configparser(ls):
    text = "\n".join(ls) + "\n"
    try:
        expected = supervisord_parse(text)
    except configparser.Error:
        with pytest.raises(ConfigError):
            our_parse(text)
        return
    assert our_parse(text) == expected


def test_option_lines_are_recorded():
    doc = IniDocument()
    doc.read_string("[s]\na = 1\n  two\n\nb: 2 ; c\n", "f.conf")
    a, b = doc.sections["s"].options.values()
    assert (a.value, a.line, b.value, b.line, a.file) == ("1\ntwo", 2, "2", 5, "f.conf")
