"""Which daemon the control commands talk to: URL and credentials.

Order: -s/-u/-p; else [supervisorctl] serverurl/username/password of the config (-c FILE,
else supervisord's search path); else, as a wrapctl addition, the config's own
[unix_http_server] socket or [inet_http_server] port (with their credentials when stored in
plain text); else supervisorctl's default http://localhost:9001.

Only those sections of the main file are read, as supervisorctl does:
a config whose program sections are broken must not lock the operator out of `status` or
`shutdown`, so the full loader (wrapctl.config) is deliberately not used here.
"""
from __future__ import annotations

import configparser
import os
import sys
from typing import Optional

DEFAULT_URL = "http://localhost:9001"


class ConfigProblem(Exception):
    """The client cannot read its config or settings; str() is one line."""


def search_paths() -> list[str]:
    """supervisord's config search path, in its order."""
    here = os.path.dirname(os.path.dirname(sys.argv[0]))
    return [os.path.join(here, "etc", "supervisord.conf"),
            os.path.join(here, "supervisord.conf"),
            "supervisord.conf", "etc/supervisord.conf",
            "/etc/supervisord.conf", "/etc/supervisor/supervisord.conf"]


def find_config(path: Optional[str]) -> Optional[str]:
    if path is not None:
        if not os.path.exists(path):
            raise ConfigProblem(f"could not find config file {path}")
        return path
    for p in search_paths():
        if os.path.exists(p):
            return p
    return None


def _normalize(p: str) -> str:
    return os.path.normpath(os.path.abspath(os.path.expanduser(p)))


def _expand(value: str, here: str, where: str) -> str:
    names = {f"ENV_{k}": v for k, v in os.environ.items()}
    names["here"] = here
    try:
        return value % names
    except KeyError as e:
        raise ConfigProblem(f"{where}: %({e.args[0]})s cannot be expanded") from None
    except (ValueError, TypeError):
        raise ConfigProblem(f"{where}: bad %-expansion in {value!r}") from None


def _normalize_url(url: str) -> str:
    if url.startswith("unix://"):
        return "unix://" + _normalize(url[len("unix://"):])
    return url


def read_client_settings(path: str) -> tuple[Optional[str], Optional[str], Optional[str]]:
    """(serverurl, username, password) from [supervisorctl], or the socket fallback."""
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False)
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f, source=path)
    except OSError as e:
        raise ConfigProblem(f"could not read config file {path}: {e.strerror}") from None
    except (configparser.Error, UnicodeDecodeError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigProblem(f"{path}: {msg}") from None
    here = os.path.dirname(_normalize(path))
    url = user = password = None
    if parser.has_section("supervisorctl"):
        sec = parser["supervisorctl"]
        where = f"{path}: [supervisorctl]"
        if sec.get("serverurl"):
            url = _normalize_url(_expand(sec["serverurl"], here, where + " serverurl"))
        if sec.get("username") is not None:
            user = _expand(sec["username"], here, where + " username")
        if sec.get("password") is not None:
            password = _expand(sec["password"], here, where + " password")
    if url is None:
        url, server = _server_url(parser, here, path)
        if url is not None and user is None and password is None:
            # the server's own credentials, unless stored hashed ({SHA}...)
            u, p = server.get("username"), server.get("password")
            if u is not None and p is not None and not p.startswith("{SHA}"):
                user, password = u, p
    return url, user, password


def _server_url(parser, here: str, path: str):
    """The URL of the config's own [unix_http_server], else [inet_http_server], if any."""
    if parser.has_section("unix_http_server"):
        sec = parser["unix_http_server"]
        if sec.get("file"):
            where = f"{path}: [unix_http_server] file"
            return "unix://" + _normalize(_expand(sec["file"], here, where)), sec
    if parser.has_section("inet_http_server"):
        sec = parser["inet_http_server"]
        port = sec.get("port", "")
        if port:
            host, _, num = _expand(port, here, f"{path}: [inet_http_server] port").rpartition(":")
            if host in ("", "*", "0.0.0.0"):
                host = "localhost"
            return f"http://{host}:{num}", sec
    return None, None


def resolve_target(config_path: Optional[str], serverurl: Optional[str],
                   username: Optional[str], password: Optional[str]):
    """-> (url, username, password) for the control commands."""
    conf = find_config(config_path)
    c_url = c_user = c_pw = None
    if conf is not None:
        c_url, c_user, c_pw = read_client_settings(conf)
    # -s is used as given (supervisorctl prints it back verbatim in its errors).
    url = serverurl or c_url or DEFAULT_URL
    if not (url.startswith("unix://") or url.startswith("http://")):
        raise ConfigProblem(f"bad server URL {url!r}: use unix:///path or http://host:port")
    return (url,
            username if username is not None else c_user,
            password if password is not None else c_pw)
