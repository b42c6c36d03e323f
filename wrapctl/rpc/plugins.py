"""Third-party [rpcinterface:x] plugins (supervisor_twiddler, supervisor_cache, ...), loaded
as supervisord loads them: `supervisor.rpcinterface_factory = module:callable` is imported
when the configuration is read (a factory that cannot be imported is a config error, as
supervisord's get_plugins makes it), then called as factory(supervisord, **other options)
when the servers start, and the returned object's public methods are published as x.method.

Plugins are written against supervisord's internals, which wrapctl does not have. They get
SupervisordView: get_state(), options.logger, options.mood and process_groups (its keys: the
group names). Anything else a method reaches for raises Unsupported, which the caller sees
as one FAILED fault naming what was missing, not a traceback and an HTTP 500.
"""
from __future__ import annotations

import functools
import importlib.metadata
import inspect
import types

from wrapctl.rpc.faults import Faults, RPCError

# supervisor's own factory: wrapctl serves that namespace itself (rpc/api.py).
MAIN_FACTORY = "supervisor.rpcinterface:make_main_rpcinterface"
RESERVED = ("supervisor", "system", "wrapctl")


class PluginError(Exception):
    """A factory that cannot be imported or called; the message is one line."""


class Unsupported(AttributeError):
    """A plugin reached for a supervisord internal wrapctl does not provide. An
    AttributeError, so plugins probing with getattr(x, name, default) see it as absent."""


def resolve(spec: str):
    """The factory named by "module:callable" (supervisor.compat.import_spec's grammar)."""
    try:
        factory = importlib.metadata.EntryPoint(name="x", value=spec, group="x").load()
    except Exception as e:  # any import-time failure of third-party code is one line
        raise PluginError(f"{spec} cannot be resolved: {type(e).__name__}: {e}") from None
    if not callable(factory):
        raise PluginError(f"{spec} is not callable")
    return factory


class _Absent:
    """Stands for a supervisord object wrapctl has no equivalent of."""

    def __init__(self, what: str):
        self._what = what

    def __getattr__(self, name):
        raise Unsupported(f"{self._what}.{name}")


class _OptionsView(_Absent):
    def __init__(self, daemon):
        super().__init__("supervisord.options")
        self._daemon = daemon

    @property
    def logger(self):
        # wrapctl's Logger has supervisor's level numbers and log(level, msg)
        return self._daemon.logger

    @property
    def mood(self):
        return int(self._daemon.mood)


class SupervisordView(_Absent):
    """What a plugin factory gets as `supervisord`."""

    def __init__(self, daemon):
        super().__init__("supervisord")
        self._daemon = daemon
        self.options = _OptionsView(daemon)

    def get_state(self):
        return int(self._daemon.mood)

    @property
    def process_groups(self):
        return {name: _Absent(f"supervisord.process_groups[{name!r}]")
                for name in self._daemon.supervisor.groups}


def _plugin_fault(exc):
    """supervisor.xmlrpc.RPCError (a different class from ours) as our RPCError, its text
    kept as the plugin built it (plugin codes are not in our table)."""
    err = RPCError(exc.code)
    err.text = exc.text
    return err


def _published(namespace, name, func):
    @functools.wraps(func)  # keeps the signature dispatch checks arguments against
    def call(*args):
        try:
            result = func(*args)
        except Unsupported as e:
            raise RPCError(Faults.FAILED, f"{namespace}.{name} needs {e.args[0]}, a supervisord "
                           "internal wrapctl does not provide") from None
        except Exception as e:
            if type(e).__name__ == "RPCError" and isinstance(getattr(e, "code", None), int) \
                    and isinstance(getattr(e, "text", None), str):
                raise _plugin_fault(e) from None
            raise
        if isinstance(result, types.FunctionType):
            # supervisord's deferred (NOT_DONE_YET) results need its polling main loop
            raise RPCError(Faults.FAILED, f"{namespace}.{name} returned a deferred result, "
                           "which wrapctl does not support")
        return result
    return call


def install(dispatcher, daemon) -> None:
    """Make every configured plugin and publish its methods; PluginError on failure."""
    view = None
    for p in getattr(daemon.config, "rpc_plugins", ()):
        if view is None:
            view = SupervisordView(daemon)
        try:
            inst = resolve(p.factory)(view, **dict(p.options))
        except PluginError as e:
            raise PluginError(f"{p.where}: {e}") from None
        except Exception as e:
            raise PluginError(f"{p.where}: {p.factory} could not make the {p.name!r} RPC "
                              f"interface: {type(e).__name__}: {e}") from None
        for attr in dir(type(inst)):
            func = getattr(inst, attr, None) if not attr.startswith("_") else None
            # methods only: properties and data attributes are not published
            if inspect.ismethod(func) or inspect.isfunction(func):
                dispatcher.register(f"{p.name}.{attr}", _published(p.name, attr, func),
                                    inspect.getdoc(func) or "")
        daemon.logger.info(f"RPC interface {p.name!r} initialized")
