"""Method registry and dispatcher with supervisor's system.* namespace.

Behaviour follows supervisor.xmlrpc (API 3.0):
- a name is callable only if registered and no dotted part starts with "_"
  (CVE-2017-11610), else UNKNOWN_METHOD;
- a wrong number of arguments is INCORRECT_PARAMETERS, checked against the function's
  signature before the call (a TypeError raised inside a method is a crash, not bad input);
- an RPCError raised by a method becomes a fault response;
- any other exception, or a result that cannot be marshalled, is a server error: dispatch()
  raises MethodCrash and the HTTP layer answers 500, as supervisord does;
- system.multicall runs calls in order and returns their raw values (not wrapped in
  one-element arrays: that is what supervisord returns, so xmlrpc.client.MultiCall does not
  fit either server), with failures as {'faultCode', 'faultString'} structs, a crash as
  FAILED "FAILED: <class>:<message>", and recursion refused.
"""
import inspect
import logging

from .faults import Faults, RPCError
from .xmlrpc import dump_fault, dump_response, parse_request

log = logging.getLogger("wrapctl.rpc")


class MethodCrash(Exception):
    """A method failed unexpectedly, or its result could not be marshalled (HTTP 500)."""


class _Method:
    __slots__ = ("func", "help", "signature", "params")

    def __init__(self, func, help, signature):
        self.func = func
        self.help = help
        self.signature = signature
        try:
            self.params = inspect.signature(func)
        except (TypeError, ValueError):  # builtins without introspectable signature
            self.params = None


def parse_doc_signature(doc):
    """[return_type, param_type, ...] from "@param type name" / "@return type" lines, or None."""
    rtype = None
    ptypes = []
    for line in (doc or "").splitlines():
        parts = line.strip().split()
        if len(parts) >= 2 and parts[0] == "@return":
            rtype = parts[1]
        elif len(parts) >= 2 and parts[0] == "@param":
            ptypes.append(parts[1])
    return None if rtype is None else [rtype] + ptypes


def _public(name):
    return all(part and not part.startswith("_") for part in name.split("."))


class Dispatcher:
    def __init__(self):
        self._methods = {}
        self.register("system.listMethods", self._list_methods, _LIST_HELP)
        self.register("system.methodHelp", self._method_help, _HELP_HELP)
        self.register("system.methodSignature", self._method_signature, _SIG_HELP)
        self.register("system.multicall", self._multicall, _MULTI_HELP)

    def register(self, name, func, help="", signature=None):
        """Publish `func` (plain or `async def`) as `name`.

        `help` is returned by system.methodHelp; `signature` ([rtype, ptype...]) by
        system.methodSignature, else it is read from "@return"/"@param" lines in `help`.
        """
        if not _public(name):
            raise ValueError(f"RPC method name {name!r} has an empty or private part")
        self._methods[name] = _Method(func, help, signature)

    def register_instance(self, namespace, obj):
        """Publish every public method of `obj` as namespace.method, docstring as help."""
        seen = set()
        for klass in type(obj).__mro__[:-1]:  # not object's
            for attr, value in vars(klass).items():
                if attr.startswith("_") or attr in seen:
                    continue
                seen.add(attr)
                # only functions: properties and class attributes are not published
                if inspect.isfunction(value):
                    func = getattr(obj, attr)
                    self.register(f"{namespace}.{attr}", func, inspect.getdoc(func) or "")

    def method_names(self):
        return sorted(self._methods)

    def _lookup(self, name):
        if not isinstance(name, str) or not _public(name):
            raise RPCError(Faults.UNKNOWN_METHOD)
        method = self._methods.get(name)
        if method is None:
            raise RPCError(Faults.UNKNOWN_METHOD)
        return method

    async def call(self, name, params):
        """Run one method; RPCError for faults, any other exception is the method's own."""
        method = self._lookup(name)
        if method.params is not None:
            try:
                method.params.bind(*params)
            except TypeError:
                raise RPCError(Faults.INCORRECT_PARAMETERS) from None
        result = method.func(*params)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def dispatch(self, name, params):
        """The XML response body for one call, faults included; raises MethodCrash."""
        try:
            value = await self.call(name, params)
        except RPCError as err:
            return dump_fault(err.code, err.text)
        except Exception as exc:
            log.error("XML-RPC method %s raised", name, exc_info=True)
            raise MethodCrash(f"{name}: {type(exc).__name__}: {exc}") from exc
        try:
            return dump_response(value)
        except (TypeError, OverflowError, ValueError) as exc:
            log.error("XML-RPC method %s returned an unmarshallable value: %s", name, exc)
            raise MethodCrash(f"{name}: cannot marshal result: {exc}") from exc

    async def handle(self, body):
        """Parse a request body and dispatch it; raises xmlrpc.ParseError or MethodCrash."""
        name, params = parse_request(body)
        return await self.dispatch(name, params)

    # system namespace

    def _list_methods(self):
        return self.method_names()

    def _method_help(self, name):
        method = self._methods.get(name) if isinstance(name, str) else None
        if method is None:
            raise RPCError(Faults.SIGNATURE_UNSUPPORTED)
        return method.help

    def _method_signature(self, name):
        method = self._methods.get(name) if isinstance(name, str) else None
        if method is None:
            raise RPCError(Faults.SIGNATURE_UNSUPPORTED)
        sig = method.signature if method.signature is not None else parse_doc_signature(method.help)
        if sig is None:
            raise RPCError(Faults.SIGNATURE_UNSUPPORTED)
        return list(sig)

    async def _multicall(self, calls):
        if not isinstance(calls, list):
            raise RPCError(Faults.INCORRECT_PARAMETERS)
        results = []
        for call in calls:
            try:
                if not isinstance(call, dict):
                    raise RPCError(Faults.INCORRECT_PARAMETERS, "call is not a struct")
                name = call.get("methodName")
                params = call.get("params", [])
                if name is None:
                    raise RPCError(Faults.INCORRECT_PARAMETERS, "No methodName")
                if name == "system.multicall":
                    raise RPCError(Faults.INCORRECT_PARAMETERS,
                                   "Recursive system.multicall forbidden")
                if not isinstance(params, list):
                    raise RPCError(Faults.INCORRECT_PARAMETERS, "params is not an array")
                value = await self.call(name, params)
            except RPCError as err:
                value = {"faultCode": err.code, "faultString": err.text}
            except Exception as exc:
                log.error("XML-RPC method %s raised inside multicall", call.get("methodName"),
                          exc_info=True)
                value = {"faultCode": Faults.FAILED,
                         "faultString": f"FAILED: {type(exc)}:{exc}"}
            results.append(value)
        return results


_LIST_HELP = """Return an array listing the available method names

@return array result  An array of method names available (strings).
"""
_HELP_HELP = """Return a string showing the method's documentation

@param string name   The name of the method.
@return string result The documentation for the method name.
"""
_SIG_HELP = """Return an array describing the method signature in the
form [rtype, ptype, ptype...] where rtype is the return data type
of the method, and ptypes are the parameter data types that the
method accepts in method argument order.

@param string name  The name of the method.
@return array result  The result.
"""
_MULTI_HELP = """Process an array of calls, and return an array of
results. Calls should be structs of the form {'methodName':
string, 'params': array}. Each result will either be a
single-item array containing the result value, or a struct of
the form {'faultCode': int, 'faultString': string}. This is
useful when you need to make lots of small calls without lots
of round trips.

@param array calls  An array of call requests
@return array result  An array of results
"""
