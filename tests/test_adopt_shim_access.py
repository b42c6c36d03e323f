"""adopt warns when a program runs wrapctl-shim as a user who cannot execute it (found live:
zabbix-agent with wrapctl installed under /root, where supervisord logged EACCES)."""
import os
import shutil

import pytest

from harness import nobody_or_skip
from wrapctl.adopt import Adoption, Program, check_shim_access
from wrapctl.initscript import ScriptInfo


def fake_shim(d, mode=0o755, interpreter="/bin/sh"):
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "wrapctl-shim")
    with open(path, "w") as f:
        f.write(f"#!{interpreter}\nexit 0\n")
    os.chmod(path, mode)
    return path


def adoption(user):
    opts = {"command": "wrapctl-shim --pidfile /run/x.pid -- /usr/sbin/x"}
    if user:
        opts["user"] = user
    return Adoption(info=ScriptInfo(path="/etc/init.d/x", name="x"), decision="recipe",
                    programs=[Program(name="x", options=opts)])


@pytest.mark.parametrize("layout,blocked", [
    ("open", ""),
    ("closed-dir", "is not searchable for nobody"),
    ("closed-file", "is not executable for nobody"),
    ("closed-interpreter", "is not searchable for nobody"),
])
def test_review_names_what_blocks_the_user(open_tmp, layout, blocked):
    user = nobody_or_skip().pw_name
    interp = "/bin/sh"
    if layout == "closed-interpreter":
        private = os.path.join(open_tmp, "private")
        os.makedirs(private, mode=0o700)
        interp = os.path.join(private, "python3")
        shutil.copy("/bin/sh", interp)
    shim = fake_shim(os.path.join(open_tmp, "closed" if layout == "closed-dir" else "bin"),
                     mode=0o700 if layout == "closed-file" else 0o755, interpreter=interp)
    if layout == "closed-dir":
        os.chmod(os.path.dirname(shim), 0o700)
    ad = adoption(user)
    check_shim_access(ad, shim)
    if not blocked:
        assert ad.review == []
    else:
        assert len(ad.review) == 1 and blocked in ad.review[0]
        assert ad.review[0].startswith(f"x runs wrapctl-shim as {user}, who cannot run {shim}")


def test_root_or_no_user_or_no_shim_says_nothing(open_tmp):
    shim = fake_shim(os.path.join(open_tmp, "bin"), mode=0o700)
    for user in ("", "root", "0"):
        ad = adoption(user)
        check_shim_access(ad, shim)
        assert ad.review == []
    ad = adoption("nobody")
    check_shim_access(ad, None)
    assert ad.review == []
