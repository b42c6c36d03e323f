"""Digests and constant-time comparison without loading OpenSSL.

hashlib, hmac and secrets import _hashlib, which maps OpenSSL's libcrypto: about 4 MiB of a
long-running daemon's RSS, for sha1 of its own data and a password compare. CPython's
built-in implementations do the same work; the stdlib modules are the fallback.
"""
try:
    from _sha1 import sha1  # noqa: F401
except ImportError:     # pragma: no cover (other interpreters)
    from hashlib import sha1  # noqa: F401

try:
    from _operator import _compare_digest as compare_digest  # noqa: F401
except ImportError:     # pragma: no cover
    from hmac import compare_digest  # noqa: F401
