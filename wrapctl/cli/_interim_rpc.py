"""TEMPORARY stand-in for wrapctl.rpc.client (being written in parallel).

TODO: delete once wrapctl/rpc/client.py is committed; wrapctl.cli.control prefers it.
"""
import base64
import http.client
import socket
import urllib.parse
import xmlrpc.client


class ClientError(Exception):
    pass


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=None):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if self.timeout is not None:
            s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


def _connection(url, timeout=None):
    if url.startswith("unix://"):
        return _UnixConnection(url[len("unix://"):], timeout)
    u = urllib.parse.urlparse(url)
    return http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)


def _headers(username, password):
    h = {}
    if username is not None and password is not None:
        tok = base64.b64encode(f"{username}:{password}".encode()).decode()
        h["Authorization"] = f"Basic {tok}"
    return h


class _Transport(xmlrpc.client.Transport):
    def __init__(self, url, username, password, timeout):
        super().__init__()
        self._url, self._auth, self._timeout = url, _headers(username, password), timeout

    def make_connection(self, host):
        return _connection(self._url, self._timeout)

    def send_headers(self, connection, headers):
        super().send_headers(connection, headers)
        for k, v in self._auth.items():
            connection.putheader(k, v)


def make_proxy(url, username=None, password=None, timeout=None):
    return xmlrpc.client.ServerProxy(
        "http://127.0.0.1/RPC2", transport=_Transport(url, username, password, timeout))


def open_stream(url, path, username=None, password=None):
    conn = _connection(url)
    conn.request("GET", path, headers=_headers(username, password))
    resp = conn.getresponse()
    if resp.status != 200:
        raise ClientError(f"Cannot read, status code {resp.status}")
    while True:
        chunk = resp.read1(65536)
        if not chunk:
            return
        yield chunk
