"""Client side of the control API: an XML-RPC proxy and a GET stream reader.

URLs: "unix:///path/to/sock", "http://host:port", or a bare "host:port". The proxy keeps
one HTTP/1.1 connection open across calls (as supervisorctl's SupervisorTransport), sends
basic auth when a username is given, and decodes base64/dateTime to bytes/datetime.
A failure to reach the server raises ClientError with a one-line message; faults are
xmlrpc.client.Fault and HTTP errors (401, 500) xmlrpc.client.ProtocolError as usual.
"""
import base64
import http.client
import socket
import urllib.parse
import xmlrpc.client


class ClientError(Exception):
    """The server could not be reached or the connection broke; str() is one line.

    `errno` is the underlying OS error number when there is one (ENOENT: no socket file,
    ECONNREFUSED: nothing listening), else None; `status` is the HTTP status when the
    server answered a stream request with something other than 200 (401, 404), else None.
    """

    def __init__(self, message, errno=None, status=None):
        super().__init__(message)
        self.errno = errno
        self.status = status


def _reason(exc):
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


class Endpoint:
    """A parsed server URL that can open HTTP connections to it."""

    def __init__(self, url):
        self.url = url
        if url.startswith("unix://"):
            self.socket_path = url[len("unix://"):]
            if not self.socket_path:
                raise ClientError(f"bad server URL {url!r}: no socket path")
            self.host, self.port = "localhost", None
            return
        if "://" not in url:
            url = "http://" + url
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ClientError(f"bad server URL {self.url!r}: use unix:///path or http://host:port")
        try:
            self.port = parts.port or 80
        except ValueError:
            raise ClientError(f"bad server URL {self.url!r}: bad port") from None
        self.socket_path = None
        self.host = parts.hostname

    def connection(self, timeout=None):
        endpoint = self

        class Conn(http.client.HTTPConnection):
            def connect(self):
                try:
                    if endpoint.socket_path is None:
                        super().connect()
                        return
                    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    if self.timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                        sock.settimeout(self.timeout)
                    try:
                        sock.connect(endpoint.socket_path)
                    except BaseException:
                        sock.close()
                        raise
                    self.sock = sock
                except OSError as exc:
                    raise ClientError(f"cannot connect to {endpoint.url}: {_reason(exc)}",
                                      exc.errno) from exc

        kwargs = {} if timeout is None else {"timeout": timeout}
        return Conn(self.host, self.port, **kwargs)


def _auth_header(username, password):
    token = base64.b64encode(f"{username}:{password or ''}".encode("utf-8")).decode("ascii")
    return "Basic " + token


class Transport(xmlrpc.client.Transport):
    def __init__(self, url, username=None, password=None, timeout=None):
        super().__init__(use_builtin_types=True)
        self.endpoint = Endpoint(url)
        self.username = username
        self.password = password
        self.timeout = timeout

    def make_connection(self, host):
        # xmlrpc.client caches (host, conn) in self._connection and reuses it while the
        # server keeps it alive; it also retries once when a kept-alive one was closed
        if self._connection[1] is not None:
            return self._connection[1]
        conn = self.endpoint.connection(self.timeout)
        self._connection = (host, conn)
        return conn

    def send_headers(self, connection, headers):
        if self.username is not None:
            auth = _auth_header(self.username, self.password)
            headers = list(headers) + [("Authorization", auth)]
        super().send_headers(connection, headers)

    def request(self, host, handler, request_body, verbose=False):
        # xmlrpc.client writes CR raw and XML parsers turn it into LF; its markup has no
        # CR, so escaping every one keeps string arguments exact
        request_body = request_body.replace(b"\r", b"&#13;")
        try:
            return super().request(host, handler, request_body, verbose)
        except ClientError:
            self.close()
            raise
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise ClientError(f"lost connection to {self.endpoint.url}: {_reason(exc)}",
                              getattr(exc, "errno", None)) from exc


def make_proxy(url, username=None, password=None, timeout=None):
    """An xmlrpc.client.ServerProxy talking to the server at `url` (see module doc)."""
    transport = Transport(url, username, password, timeout)
    return xmlrpc.client.ServerProxy("http://localhost/RPC2", transport=transport,
                                     use_builtin_types=True)


def open_stream(url, path, username=None, password=None, timeout=None):
    """GET `path` and yield the body in chunks as they arrive (for tail -f).

    Raises ClientError when the server cannot be reached or answers other than 200.
    Closing the generator closes the connection.
    """
    conn = Endpoint(url).connection(timeout)
    headers = {"Accept": "*/*"}
    if username is not None:
        headers["Authorization"] = _auth_header(username, password)
    try:
        try:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            raise ClientError(f"lost connection to {url}: {_reason(exc)}",
                              getattr(exc, "errno", None)) from exc
        if resp.status != 200:
            raise ClientError(f"cannot read {path} from {url}: {resp.status} {resp.reason}",
                              status=resp.status)
        while True:
            try:
                chunk = resp.read1(65536)
            except (OSError, http.client.HTTPException) as exc:
                raise ClientError(f"lost connection to {url}: {_reason(exc)}",
                                  getattr(exc, "errno", None)) from exc
            if not chunk:
                return
            yield chunk
    finally:
        conn.close()
