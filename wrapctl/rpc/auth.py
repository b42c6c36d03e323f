"""HTTP basic auth as supervisord checks it, sans-IO.

The configured password is either plain text or "{SHA}" followed by the hex SHA-1 of the
password (supervisord's [unix_http_server]/[inet_http_server] `password`). Comparisons are
constant-time. A malformed Authorization header is a 400, a missing or wrong one a 401.
"""
import base64
import binascii

from wrapctl.digest import compare_digest, sha1

OK = 200
BAD_REQUEST = 400
UNAUTHORIZED = 401


class BasicAuth:
    def __init__(self, username, password, realm="default"):
        self.username = username
        self.password = "" if password is None else str(password)
        self.realm = realm

    def challenge(self):
        """Value of the WWW-Authenticate header sent with a 401."""
        return f'Basic realm="{self.realm}"'

    def password_matches(self, given):
        stored = self.password
        if stored.startswith("{SHA}"):
            given = sha1(given.encode("utf-8")).hexdigest()
            return compare_digest(stored[5:].lower().encode(), given.encode())
        return compare_digest(stored.encode("utf-8"), given.encode("utf-8"))

    def check(self, authorization):
        """OK, BAD_REQUEST or UNAUTHORIZED for an Authorization header (str, bytes or None)."""
        if authorization is None:
            return UNAUTHORIZED
        if isinstance(authorization, bytes):
            authorization = authorization.decode("latin-1")
        scheme, _, cookie = authorization.strip().partition(" ")
        if scheme.lower() != "basic":
            return UNAUTHORIZED
        try:
            decoded = base64.b64decode(cookie.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return BAD_REQUEST
        user, sep, password = decoded.partition(":")
        if not sep:
            return UNAUTHORIZED
        user_ok = compare_digest(user.encode("utf-8"), str(self.username).encode("utf-8"))
        pass_ok = self.password_matches(password)
        return OK if (user_ok and pass_ok) else UNAUTHORIZED
