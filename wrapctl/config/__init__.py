"""The configuration: supervisord's INI format, read once into typed records.

    cfg = load("/etc/supervisord.conf")      # or load() to search supervisord's paths
    for proc in cfg.processes(): ...

Errors raise ConfigError, whose str() is one line: 'file:line: [section] option: reason'.
Warnings (unknown options, deprecated forms) are in cfg.warnings, in the same form.
"""
from __future__ import annotations

import os
from typing import Mapping, Optional

from wrapctl.config.errors import ConfigError
from wrapctl.config.loader import WRAPCTL_PROGRAM_OPTIONS, Loader
from wrapctl.config.records import (AUTO, NONE, Config, CtlConfig, DaemonConfig,
                                    EventListenerConfig, GroupConfig, InetServerConfig,
                                    LogConfig, ProcessConfig, UnixServerConfig, Where, replace)
from wrapctl.config.search import find_config, search_paths

__all__ = [
    "load", "find_config", "search_paths", "ConfigError", "WRAPCTL_PROGRAM_OPTIONS",
    "AUTO", "NONE", "Config", "CtlConfig", "DaemonConfig", "EventListenerConfig",
    "GroupConfig", "InetServerConfig", "LogConfig", "ProcessConfig", "UnixServerConfig",
    "Where", "replace",
]


def load(path: Optional[str] = None, *, environ: Optional[Mapping[str, str]] = None,
         client: bool = False) -> Config:
    """Read a supervisord configuration file and its [include]s into a Config.

    path None searches supervisord's default locations. environ (default os.environ) gives
    the %(ENV_X)s names. client=True accepts a file without [supervisord] (for the ctl).
    Relative paths (logfile, pidfile, sockets) are made absolute against the current
    directory, as supervisord does.
    """
    if path is None:
        path = find_config(for_client=client)
        if path is None:
            raise ConfigError("no configuration file found (tried: "
                              + ", ".join(search_paths()) + "); use -c FILE")
    return Loader(path, os.environ if environ is None else environ, client=client).load()
