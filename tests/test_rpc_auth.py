"""Basic auth decisions (sans-IO), checked against supervisor's own authorizer."""
import base64
import hashlib

import pytest

from supervisor.http import encrypted_dictionary_authorizer
from wrapctl.rpc.auth import BAD_REQUEST, OK, UNAUTHORIZED, BasicAuth


def header(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


SHA = "{SHA}" + hashlib.sha1("pässword".encode()).hexdigest()


@pytest.mark.parametrize("stored", ["pässword", SHA, "with:colon", ""])
@pytest.mark.parametrize("user,given", [("admin", "pässword"), ("admin", "with:colon"),
                                        ("admin", ""), ("admin", "wrong"), ("other", "pässword"),
                                        ("admin", SHA)])
def test_same_verdict_as_supervisor(stored, user, given):
    theirs = encrypted_dictionary_authorizer({"admin": stored}).authorize((user, given))
    ours = BasicAuth("admin", stored).check(header(user, given))
    assert ours == (OK if theirs else UNAUTHORIZED)


def test_missing_malformed_and_other_schemes():
    auth = BasicAuth("u", "p")
    assert auth.check(None) == UNAUTHORIZED
    assert auth.check("Bearer abc") == UNAUTHORIZED
    assert auth.check("Basic !!!notbase64") == BAD_REQUEST
    assert auth.check("Basic " + base64.b64encode(b"\xff\xfe:x").decode()) == BAD_REQUEST
    assert auth.check("Basic " + base64.b64encode(b"nocolon").decode()) == UNAUTHORIZED
    assert auth.check(header("u", "p").encode()) == OK
    assert auth.check("basic " + header("u", "p")[6:]) == OK
    assert auth.challenge() == 'Basic realm="default"'
