"""What a browser must not be able to make the control server do, sans-IO.

A web page can send requests to any address the browser reaches, 127.0.0.1 included, but
it cannot choose every header:
- Host: the page's own host name. A page on evil.example whose name the attacker re-points
  at 127.0.0.1 (DNS rebinding) still says `Host: evil.example:PORT`, so a TCP listener
  answers only Host values that name it (HostRule).
- Origin: a browser names the calling page's origin on every cross-origin request that
  can change state (and "null" where it hides it); only our own origin is served.
- Content-Type: without a CORS preflight (which we never grant) a cross-site page can only
  send text/plain, application/x-www-form-urlencoded or multipart/form-data bodies, or none;
  XML-RPC is text/xml (what supervisorctl and xmlrpc clients send), so a body of any other
  type is refused.
A client that is not a browser (supervisorctl, scripts) sends no Origin and is unaffected.
"""
import ipaddress
import urllib.parse

XML_TYPES = ("text/xml", "application/xml")
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
# Headers only browsers send: a request carrying one is treated as coming from a page.
BROWSER_MARKERS = ("origin", "sec-fetch-site", "sec-fetch-mode")


def _norm_host(name):
    name = name.strip().lower().rstrip(".")
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    try:
        return ipaddress.ip_address(name).compressed
    except ValueError:
        return name


def split_authority(value, default_port=80):
    """'Host: name:port' / '[v6]:port' / 'name' -> (normalized name, port); None if unparsable."""
    value = value.strip()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[1:end], value[end + 1:]
        if rest and not rest.startswith(":"):
            return None
        port = rest[1:]
    else:
        name, sep, port = value.rpartition(":")
        if not sep:
            name, port = value, ""
    if not name:
        return None
    if not port:
        return _norm_host(name), default_port
    if not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return _norm_host(name), int(port)


class HostRule:
    """The Host values a TCP listener answers to: the name it was configured with, the
    addresses it is bound to, and the loopback names, each with the listening port.

    A listener on every interface (no host, '*', 0.0.0.0, ::) is reached under names we
    cannot know (the machine's DNS names, aliases, NAT), and the loader refuses it without
    credentials: there any Host is accepted and basic auth is what guards it.
    """

    def __init__(self, host, bound):
        """`host`: as configured (None or '' for every interface); `bound`: [(ip, port)]."""
        self.any = host in (None, "", "*") or _norm_host(host) in ("0.0.0.0", "::")
        self.port = bound[0][1] if bound else None
        names = set(LOOPBACK_NAMES)
        if host:
            names.add(_norm_host(host))
        names.update(_norm_host(ip) for ip, _ in bound)
        self.names = names

    def refusal(self, host_header):
        """None when `host_header` names this listener, else the one-line reason."""
        if self.any or host_header is None:  # no Host: HTTP/1.0, never a browser
            return None
        parsed = split_authority(host_header)
        if parsed is not None and parsed[0] in self.names and parsed[1] == self.port:
            return None
        return (f"Host {host_header!r} does not name this server; use "
                f"127.0.0.1:{self.port} or localhost:{self.port}, or name the host "
                f"in [inet_http_server] port=")


def origin_refusal(request):
    """None unless the request names a foreign page in Origin: it must be this server's own
    origin, the scheme and authority the Host header names."""
    origin = request.header("origin")
    if origin is None:
        return None
    if origin.strip() == "null":
        return "requests from an opaque origin are refused"
    host = request.header("host")
    parts = urllib.parse.urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or host is None:
        return f"cross-origin request from {origin!r} refused"
    default = 443 if parts.scheme == "https" else 80
    if split_authority(parts.netloc, default) != split_authority(host, default):
        return f"cross-origin request from {origin!r} refused"
    return None


def xml_type_refusal(request):
    """None when the body of an XML-RPC POST is declared XML. An undeclared body is
    accepted from clients that are not browsers (some scripts omit the header); a browser
    always declares a form body, and one without is refused."""
    ctype = request.header("content-type")
    if ctype is None:
        if any(request.header(h) is not None for h in BROWSER_MARKERS):
            return "XML-RPC needs Content-Type: text/xml"
        return None
    if ctype.split(";", 1)[0].strip().lower() in XML_TYPES:
        return None
    return f"XML-RPC needs Content-Type: text/xml, not {ctype.strip()!r}"
