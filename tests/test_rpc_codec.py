"""XML-RPC codec and fault codes: round trips, supervisor parity, hostile input."""
import datetime
import math
import time
import xmlrpc.client

import pytest
from hypothesis import given, settings, strategies as st

import supervisor.xmlrpc as sx
from wrapctl.rpc import xmlrpc as codec
from wrapctl.rpc.faults import Faults, RPCError, fault_description
from wrapctl.rpc.xmlrpc import ParseError, parse_request


def test_fault_codes_match_supervisor():
    ours = {k: v for k, v in vars(Faults).items() if not k.startswith("_")}
    theirs = {k: v for k, v in vars(sx.Faults).items() if not k.startswith("_")}
    assert ours == theirs
    for code in list(theirs.values()) + [0, 999]:
        assert fault_description(code) == sx.getFaultDescription(code)


@pytest.mark.parametrize("code,extra", [(Faults.BAD_NAME, "foo"), (Faults.FAILED, None),
                                        (Faults.SPAWN_ERROR, ""), (12345, "x")])
def test_rpcerror_text_matches_supervisor(code, extra):
    ours, theirs = RPCError(code, extra), sx.RPCError(code, extra)
    assert (ours.code, ours.text, str(ours)) == (theirs.code, theirs.text, str(theirs))


# values xmlrpc.client can marshal and our parser must return unchanged
_ints = st.integers(min_value=codec.MININT, max_value=codec.MAXINT)
_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                       blacklist_characters="\x00\x01\x02\x03\x04\x05\x06\x07"
                                       "\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17"
                                       "\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\r\ufffe\uffff"))
_scalars = (_ints | st.booleans() | _text | st.binary(max_size=64)
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.datetimes(min_value=datetime.datetime(1900, 1, 1),
                           max_value=datetime.datetime(9999, 1, 1)).map(
                               lambda d: d.replace(microsecond=0))
            | st.none())
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(_text, inner, max_size=4), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(method=st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,10}\.[A-Za-z][A-Za-z0-9_]{0,10}",
                            fullmatch=True),
       params=st.lists(_values, max_size=5))
def test_request_round_trip(method, params):
    body = xmlrpc.client.dumps(tuple(params), method, allow_none=True).encode("utf-8")
    assert parse_request(body) == (method, params)


@settings(max_examples=300, deadline=None)
@given(value=_values.filter(lambda v: v is not None))
def test_response_round_trip_through_xmlrpc_client(value):
    try:
        body = codec.dump_response(value)
    except TypeError:  # None nested inside: not marshallable, as with supervisord
        return
    (got,), _ = xmlrpc.client.loads(body, use_builtin_types=True)
    assert got == value


@settings(max_examples=200, deadline=None)
@given(text=st.text())
def test_any_string_result_reaches_the_client_parseable(text):
    """Log text may hold NULs, escapes, CRs, lone surrogates: the client still parses it."""
    (got,), _ = xmlrpc.client.loads(codec.dump_response(text))
    assert len(got) == len(text)
    assert got.count("\n") == text.count("\n") and got.count("\r") == text.count("\r")


def test_fault_round_trip():
    with pytest.raises(xmlrpc.client.Fault) as info:
        xmlrpc.client.loads(codec.dump_fault(Faults.BAD_NAME, "BAD_NAME: foo"))
    assert (info.value.faultCode, info.value.faultString) == (10, "BAD_NAME: foo")


def test_unmarshallable_results_raise():
    with pytest.raises(TypeError):
        codec.dump_response(None)
    with pytest.raises(OverflowError):
        codec.dump_response(2 ** 40)
    assert codec.capped_int(2 ** 40) == codec.MAXINT
    assert codec.capped_int(-(2 ** 40)) == codec.MININT
    assert codec.capped_int(time.time()) > 0


def test_explicit_types_and_bare_strings():
    body = b"""<?xml version="1.0"?>
<methodCall><methodName> supervisor.x </methodName><params>
<param><value>bare text</value></param>
<param><value></value></param>
<param><value><i8>9000000000</i8></value></param>
<param><value><i4> -7 </i4></value></param>
<param><value><boolean>0</boolean></value></param>
<param><value><double>-1.5e3</double></value></param>
<param><value><dateTime.iso8601>20240102T03:04:05</dateTime.iso8601></value></param>
<param><value><base64>aGVs
bG8=</base64></value></param>
<param><value><nil/></value></param>
<param><value><struct><member><name>k</name><value><array><data/></array></value></member>
</struct></value></param>
</params></methodCall>"""
    assert parse_request(body) == ("supervisor.x", [
        "bare text", "", 9000000000, -7, False, -1500.0,
        datetime.datetime(2024, 1, 2, 3, 4, 5), b"hello", None, {"k": []}])


def test_params_are_optional_and_encoding_declarations_honoured():
    assert parse_request(b"<methodCall><methodName>a.b</methodName></methodCall>") == ("a.b", [])
    latin = ("<?xml version='1.0' encoding='iso-8859-1'?><methodCall><methodName>a.b"
             "</methodName><params><param><value>caf\xe9</value></param></params>"
             "</methodCall>").encode("latin-1")
    assert parse_request(latin) == ("a.b", ["caf\xe9"])


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<methodCall><methodName>&lol9;</methodName></methodCall>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<methodCall><methodName>a.b</methodName><params><param><value>&e;</value></param>
</params></methodCall>"""

BAD = {
    "billion laughs": BILLION_LAUGHS,
    "external entity": XXE,
    "bare doctype": b'<!DOCTYPE methodCall SYSTEM "http://example.invalid/x.dtd"><methodCall/>',
    "deep nesting": (b"<methodCall><methodName>a.b</methodName><params><param>"
                     + b"<value><array><data>" * 200),
    "deep but well formed": (b"<methodCall><methodName>a.b</methodName><params><param>"
                             + b"<value><array><data>" * 40 + b"<value>x</value>"
                             + b"</data></array></value>" * 40 + b"</param></params></methodCall>"),
    "not xml": b"\x00\xff garbage {json: 1}",
    "empty": b"",
    "wrong root": b"<methodResponse><params/></methodResponse>",
    "no method name": b"<methodCall><params/></methodCall>",
    "blank method name": b"<methodCall><methodName>  </methodName></methodCall>",
    "bad int": b"<methodCall><methodName>a.b</methodName><params><param><value><int>1_0</int>"
               b"</value></param></params></methodCall>",
    "huge int": b"<methodCall><methodName>a.b</methodName><params><param><value><int>"
                + b"9" * 5000 + b"</int></value></param></params></methodCall>",
    "bad boolean": b"<methodCall><methodName>a.b</methodName><params><param><value>"
                   b"<boolean>yes</boolean></value></param></params></methodCall>",
    "nan": b"<methodCall><methodName>a.b</methodName><params><param><value>"
           b"<double>nan</double></value></param></params></methodCall>",
    "bad date": b"<methodCall><methodName>a.b</methodName><params><param><value>"
                b"<dateTime.iso8601>yesterday</dateTime.iso8601></value></param></params>"
                b"</methodCall>",
    "bad base64": b"<methodCall><methodName>a.b</methodName><params><param><value>"
                  b"<base64>!!!</base64></value></param></params></methodCall>",
    "unknown type": b"<methodCall><methodName>a.b</methodName><params><param><value>"
                    b"<object>x</object></value></param></params></methodCall>",
    "two values": b"<methodCall><methodName>a.b</methodName><params><param><value>"
                  b"<int>1</int><int>2</int></value></param></params></methodCall>",
    "member without name": b"<methodCall><methodName>a.b</methodName><params><param><value>"
                           b"<struct><member><value>1</value></member></struct></value>"
                           b"</param></params></methodCall>",
    "array without data": b"<methodCall><methodName>a.b</methodName><params><param><value>"
                          b"<array><value>1</value></array></value></param></params>"
                          b"</methodCall>",
    "stray element": b"<methodCall><methodName>a.b</methodName><foo/></methodCall>",
    "unknown encoding": b"<?xml version='1.0' encoding='klingon'?><methodCall/>",
    "truncated": b"<methodCall><methodName>a.b</methodName><params><param><value>",
}


@pytest.mark.timeout(10)
@pytest.mark.parametrize("name", sorted(BAD))
def test_hostile_or_broken_requests_are_parse_errors(name):
    with pytest.raises(ParseError) as info:
        parse_request(BAD[name])
    assert str(info.value)


def test_large_flat_request_parses():
    values = list(range(100000))
    body = xmlrpc.client.dumps((values,), "a.b").encode()
    assert parse_request(body) == ("a.b", [values])


@settings(max_examples=300, deadline=None)
@given(junk=st.binary(max_size=300))
def test_arbitrary_bytes_never_escape_as_other_errors(junk):
    try:
        parse_request(junk)
    except ParseError:
        pass


@settings(max_examples=300, deadline=None)
@given(body=st.text(alphabet="<>/ abcdefghilmnoprstuvwxyzCNV0123456789.-", max_size=200))
def test_tag_soup_never_escapes_as_other_errors(body):
    try:
        parse_request(("<methodCall><methodName>a.b</methodName><params><param><value>"
                       + body).encode())
    except ParseError:
        pass


def test_float_edge_values():
    (got,), _ = xmlrpc.client.loads(codec.dump_response(1e308))
    assert got == 1e308 and not math.isinf(got)
