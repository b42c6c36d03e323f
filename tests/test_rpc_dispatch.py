"""Dispatcher semantics against supervisor's: lookup, argument checks, system.*, multicall."""
import asyncio
import errno
import xmlrpc.client

import pytest

from wrapctl.rpc.dispatch import Dispatcher, MethodCrash, parse_doc_signature
from wrapctl.rpc.faults import Faults, RPCError
from wrapctl.rpc.xmlrpc import ParseError, dump_request


class NS:
    """Namespace like supervisor's rpcinterface classes."""

    def echo(self, name):
        """ Echo a name

        @param string name Process name
        @return string result The same name
        """
        return name

    async def slow(self, x, y=1):
        await asyncio.sleep(0)
        return x + y

    def bad_name(self):
        raise RPCError(Faults.BAD_NAME, "foo")

    def os_error(self):
        raise OSError(errno.ENOENT)

    def inner_type_error(self):
        return len(5)

    def returns_none(self):
        return None

    def _private(self):
        return "secret"

    @property
    def prop(self):
        raise AssertionError("properties must not be evaluated at registration")

    CONSTANT = 3


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def d():
    disp = Dispatcher()
    disp.register_instance("ns", NS())
    return disp


def call(d, name, *params):
    body = run(d.dispatch(name, list(params)))
    return xmlrpc.client.loads(body, use_builtin_types=True)[0][0]


def fault(d, name, *params):
    with pytest.raises(xmlrpc.client.Fault) as info:
        call(d, name, *params)
    return info.value.faultCode, info.value.faultString


def test_plain_and_async_methods(d):
    assert call(d, "ns.echo", "x") == "x"
    assert call(d, "ns.slow", 2) == 3
    assert call(d, "ns.slow", 2, 5) == 7


def test_register_plain_function_and_coroutine():
    disp = Dispatcher()

    async def add(a, b):
        return a + b
    disp.register("m.add", add, "@param int a\n@param int b\n@return int")
    disp.register("m.sub", lambda a, b: a - b, signature=["int", "int", "int"])
    assert call(disp, "m.add", 1, 2) == 3 and call(disp, "m.sub", 5, 2) == 3
    assert call(disp, "system.methodSignature", "m.add") == ["int", "int", "int"]
    assert call(disp, "system.methodSignature", "m.sub") == ["int", "int", "int"]
    with pytest.raises(ValueError):
        disp.register("m._hidden", add)


def test_list_methods_only_public_functions(d):
    assert call(d, "system.listMethods") == [
        "ns.bad_name", "ns.echo", "ns.inner_type_error", "ns.os_error", "ns.returns_none",
        "ns.slow", "system.listMethods", "system.methodHelp", "system.methodSignature",
        "system.multicall"]


@pytest.mark.parametrize("name", ["ns._private", "_ns.echo", "ns.echo._x", "ns.__init__",
                                  "ns.echo.__globals__", "ns", "", "ns.missing", "nope.echo",
                                  "ns.prop", "ns.CONSTANT", "system._list_methods"])
def test_unknown_or_private_names(d, name):
    assert fault(d, name) == (Faults.UNKNOWN_METHOD, "UNKNOWN_METHOD")


def test_wrong_argument_count_is_incorrect_parameters(d):
    assert fault(d, "ns.echo") == (Faults.INCORRECT_PARAMETERS, "INCORRECT_PARAMETERS")
    assert fault(d, "ns.echo", 1, 2) == (Faults.INCORRECT_PARAMETERS, "INCORRECT_PARAMETERS")
    assert fault(d, "system.listMethods", 1)[0] == Faults.INCORRECT_PARAMETERS


def test_rpcerror_becomes_fault(d):
    assert fault(d, "ns.bad_name") == (Faults.BAD_NAME, "BAD_NAME: foo")


@pytest.mark.parametrize("name", ["ns.os_error", "ns.inner_type_error", "ns.returns_none"])
def test_crash_inside_method_is_a_server_error_not_bad_params(d, name):
    """supervisord answers HTTP 500 to these; a TypeError inside is not the caller's fault."""
    with pytest.raises(MethodCrash):
        run(d.dispatch(name, []))


def test_method_help_and_signature(d):
    assert "Echo a name" in call(d, "system.methodHelp", "ns.echo")
    assert call(d, "system.methodSignature", "ns.echo") == ["string", "string"]
    assert call(d, "system.methodSignature", "system.multicall") == ["array", "array"]
    assert fault(d, "system.methodHelp", "ns.nope") == (
        Faults.SIGNATURE_UNSUPPORTED, "SIGNATURE_UNSUPPORTED")
    assert fault(d, "system.methodSignature", "ns.slow")[0] == Faults.SIGNATURE_UNSUPPORTED
    assert fault(d, "system.methodSignature", 5)[0] == Faults.SIGNATURE_UNSUPPORTED


def test_doc_signature_parser_agrees_with_supervisor():
    from supervisor.xmlrpc import gettags
    doc = NS.echo.__doc__
    tags = gettags(doc)
    theirs = [t[2] for t in tags if t[1] == "return"] + [t[2] for t in tags if t[1] == "param"]
    assert parse_doc_signature(doc) == theirs


def test_multicall_shapes_like_supervisor(d):
    results = call(d, "system.multicall", [
        {"methodName": "ns.echo", "params": ["Alvin"]},
        {"methodName": "ns.slow", "params": [1]},
        {"methodName": "ns.bad_name"},
        {"methodName": "ns.os_error"},
        {"methodName": "system.multicall", "params": [[]]},
        {},
        {"methodName": "bad.stopProcess"},
        {"methodName": "ns._private"},
        {"methodName": "ns.echo"},
        {"methodName": "ns.echo", "params": "abc"},
        "not a struct",
    ])
    assert results == [
        "Alvin",
        2,
        {"faultCode": Faults.BAD_NAME, "faultString": "BAD_NAME: foo"},
        {"faultCode": Faults.FAILED, "faultString": "FAILED: %s:2" % OSError},
        {"faultCode": Faults.INCORRECT_PARAMETERS,
         "faultString": "INCORRECT_PARAMETERS: Recursive system.multicall forbidden"},
        {"faultCode": Faults.INCORRECT_PARAMETERS,
         "faultString": "INCORRECT_PARAMETERS: No methodName"},
        {"faultCode": Faults.UNKNOWN_METHOD, "faultString": "UNKNOWN_METHOD"},
        {"faultCode": Faults.UNKNOWN_METHOD, "faultString": "UNKNOWN_METHOD"},
        {"faultCode": Faults.INCORRECT_PARAMETERS, "faultString": "INCORRECT_PARAMETERS"},
        {"faultCode": Faults.INCORRECT_PARAMETERS,
         "faultString": "INCORRECT_PARAMETERS: params is not an array"},
        {"faultCode": Faults.INCORRECT_PARAMETERS,
         "faultString": "INCORRECT_PARAMETERS: call is not a struct"},
    ]
    assert call(d, "system.multicall", []) == []
    assert fault(d, "system.multicall", {"x": 1})[0] == Faults.INCORRECT_PARAMETERS


def test_multicall_matches_supervisor_for_shared_cases():
    """The same calls through supervisor's own SystemNamespaceRPCInterface."""
    from supervisor.xmlrpc import SystemNamespaceRPCInterface

    class Theirs:
        def echo(self, name):
            return name

        def bad_name(self):
            raise RPCError(Faults.BAD_NAME, "foo")  # ours: same code and text
    calls = [{"methodName": "ns.echo", "params": ["a"]}, {"methodName": "ns.nope"},
             {"methodName": "system.multicall"}, {}, {"methodName": "ns.echo"}]
    theirs = SystemNamespaceRPCInterface([("ns", Theirs())]).multicall(calls)
    d = Dispatcher()
    d.register_instance("ns", Theirs())
    assert call(d, "system.multicall", calls) == theirs


def test_handle_parses_then_dispatches(d):
    body = run(d.handle(dump_request("ns.echo", ["hi"])))
    assert xmlrpc.client.loads(body)[0] == ("hi",)
    with pytest.raises(ParseError):
        run(d.handle(b"<nope"))
