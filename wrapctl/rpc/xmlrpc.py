"""XML-RPC codec, sans-IO: request bytes in, Python values out; values in, response bytes out.

Requests come from untrusted peers, so they are parsed by defusedxml's expat parser with
DTDs, entity declarations and external references refused (no billion laughs, no XXE), and
with element nesting bounded by MAX_DEPTH. The body size is bounded by the HTTP layer.

Decoded types: int/i4/i8/i1/i2/biginteger -> int, boolean -> bool, string and bare <value>
text -> str, double/float -> float, dateTime.iso8601 -> datetime.datetime, base64 -> bytes,
nil -> None, array -> list, struct -> dict. Anything else is a ParseError.

Responses are written by xmlrpc.client.dumps without allow_none (as supervisord: a method
returning None is a server bug, not a <nil/>), so ints must fit in 32 bits (use capped_int
for timestamps, as supervisor does). Characters XML 1.0 cannot carry (NUL and other C0
controls, lone surrogates from undecodable log bytes) are replaced by U+FFFD, and CR is sent
as &#13;, so any log text reaches the client parseable and with its line endings intact.
"""
import base64
import binascii
import datetime
import re
import xmlrpc.client

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser
from xml.etree.ElementTree import ParseError as _ExpatError

MAX_DEPTH = 64  # element nesting; supervisor's deepest call (multicall) needs 9

MAXINT = xmlrpc.client.MAXINT
MININT = xmlrpc.client.MININT


class ParseError(ValueError):
    """The request body is not an XML-RPC methodCall; str() is the reason."""


def capped_int(value):
    """int(value) clamped to the 32-bit range XML-RPC <int> can carry."""
    return max(MININT, min(MAXINT, int(value)))


class _Node:
    __slots__ = ("tag", "text", "children")

    def __init__(self, tag):
        self.tag = tag
        self.text = []
        self.children = []


class _Builder:
    """expat target building a minimal tree, refusing nesting deeper than MAX_DEPTH."""

    def __init__(self):
        self.stack = []
        self.root = None

    def start(self, tag, attrs):
        if len(self.stack) >= MAX_DEPTH:
            raise ParseError(f"elements nested deeper than {MAX_DEPTH}")
        # namespaced tags ({uri}nil, as Apache's ex:nil) count by their local name
        node = _Node(tag.rpartition("}")[2])
        if self.stack:
            self.stack[-1].children.append(node)
        else:
            self.root = node
        self.stack.append(node)

    def end(self, tag):
        self.stack.pop()

    def data(self, text):
        if self.stack:
            self.stack[-1].text.append(text)

    def close(self):
        return self.root


def _text(node):
    return "".join(node.text)


_INT_RE = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")


def _int(node):
    s = _text(node).strip()
    if not _INT_RE.match(s):
        raise ParseError(f"bad <{node.tag}> value {s[:40]!r}")
    try:
        return int(s)
    except ValueError:  # more digits than int() accepts
        raise ParseError(f"<{node.tag}> value too long") from None


def _bool(node):
    s = _text(node).strip()
    if s not in ("0", "1"):
        raise ParseError(f"bad <boolean> value {s[:40]!r}")
    return s == "1"


def _double(node):
    s = _text(node).strip()
    if not _FLOAT_RE.match(s):
        raise ParseError(f"bad <{node.tag}> value {s[:40]!r}")
    return float(s)


def _datetime(node):
    s = _text(node).strip()
    for fmt in ("%Y%m%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.datetime.strptime(s, fmt)
        except ValueError:
            pass
    raise ParseError(f"bad <dateTime.iso8601> value {s[:40]!r}")


def _base64(node):
    s = "".join(_text(node).split())
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        raise ParseError("bad <base64> value") from None


def _nil(node):
    if node.children or _text(node).strip():
        raise ParseError("<nil> must be empty")
    return None


def _array(node):
    if len(node.children) != 1 or node.children[0].tag != "data":
        raise ParseError("<array> must hold one <data>")
    return [_value(v) for v in _only(node.children[0], "value")]


def _struct(node):
    out = {}
    for member in _only(node, "member"):
        names = [c for c in member.children if c.tag == "name"]
        values = [c for c in member.children if c.tag == "value"]
        if len(names) != 1 or len(values) != 1 or len(member.children) != 2:
            raise ParseError("<member> must hold one <name> and one <value>")
        out[_text(names[0])] = _value(values[0])
    return out


def _only(node, tag):
    for child in node.children:
        if child.tag != tag:
            raise ParseError(f"unexpected <{child.tag}> in <{node.tag}>")
    return node.children


_TYPES = {
    "int": _int, "i4": _int, "i8": _int, "i1": _int, "i2": _int, "biginteger": _int,
    "boolean": _bool,
    "string": _text,
    "double": _double, "float": _double,
    "dateTime.iso8601": _datetime,
    "base64": _base64,
    "nil": _nil,
    "array": _array,
    "struct": _struct,
}


def _value(node):
    if node.tag != "value":
        raise ParseError(f"expected <value>, got <{node.tag}>")
    if not node.children:
        return _text(node)
    if len(node.children) != 1:
        raise ParseError("<value> must hold one typed element")
    typed = node.children[0]
    decode = _TYPES.get(typed.tag)
    if decode is None:
        raise ParseError(f"unknown type <{typed.tag}>")
    if decode is not _array and decode is not _struct and decode is not _nil and typed.children:
        raise ParseError(f"<{typed.tag}> must hold text only")
    return decode(typed)


def _parse_tree(body):
    builder = _Builder()
    parser = DefusedXMLParser(target=builder, forbid_dtd=True, forbid_entities=True,
                              forbid_external=True)
    try:
        parser.feed(body)
        root = parser.close()
    except ParseError:
        raise
    except DefusedXmlException as exc:
        raise ParseError(f"forbidden XML construct: {type(exc).__name__}") from None
    except _ExpatError as exc:
        raise ParseError(f"not well-formed XML: {exc}") from None
    except (ValueError, LookupError) as exc:  # e.g. an unknown declared encoding
        raise ParseError(f"unreadable XML: {exc}") from None
    if root is None:
        raise ParseError("empty document")
    return root


def parse_request(body):
    """Decode a methodCall body; returns (method_name, params_list) or raises ParseError."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    root = _parse_tree(body)
    if root.tag != "methodCall":
        raise ParseError(f"root element is <{root.tag}>, not <methodCall>")
    method = None
    params = []
    seen_params = False
    for child in root.children:
        if child.tag == "methodName" and method is None:
            if child.children:
                raise ParseError("<methodName> must hold text only")
            method = _text(child).strip()
        elif child.tag == "params" and not seen_params:
            seen_params = True
            for param in _only(child, "param"):
                if len(param.children) != 1:
                    raise ParseError("<param> must hold one <value>")
                params.append(_value(param.children[0]))
        else:
            raise ParseError(f"unexpected <{child.tag}> in <methodCall>")
    if not method:
        raise ParseError("no method name")
    return method, params


def dump_request(method, params):
    """Encode a methodCall (for clients and tests)."""
    return _finish(xmlrpc.client.dumps(tuple(params), methodname=method))


def dump_response(value):
    """Encode a methodResponse carrying `value`.

    Raises TypeError (None, non-str dict keys, unknown objects) or OverflowError (an int
    beyond 32 bits) when the value cannot be carried; the dispatcher treats that as a
    server error, as supervisord does.
    """
    return _finish(xmlrpc.client.dumps((value,), methodresponse=True))


def dump_fault(code, string):
    """Encode a methodResponse carrying a <fault>."""
    return _finish(xmlrpc.client.dumps(xmlrpc.client.Fault(code, string), methodresponse=True))


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _finish(text):
    # markup is ASCII with '\n' newlines, so these only ever touch string content
    text = _NOT_XML.sub("\ufffd", text).replace("\r", "&#13;")
    return text.encode("utf-8")
