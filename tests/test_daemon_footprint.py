"""What a running `wrapctl daemon` keeps mapped: not OpenSSL (about 4 MiB of RSS; the
daemon serves plain HTTP, and an https:// check loads ssl only when it runs, see
tests/test_daemon_ready_kinds.py). docs/benchmarks.md has the RSS at 500 programs."""
import pytest

pytestmark = pytest.mark.timeout(60)


def mapped(pid, name):
    with open(f"/proc/{pid}/maps") as f:
        return any(name in line for line in f)


def test_daemon_does_not_load_openssl(wrapctld):
    d = wrapctld("[program:a]\ncommand=sleep 1000\nstartsecs=0\n")
    d.wait_state("a", "RUNNING")
    d.rpc().getAllProcessInfo()
    d.rpc().readProcessStdoutLog("a", 0, 100)
    assert not mapped(d.proc.pid, "libcrypto"), "the daemon mapped OpenSSL's libcrypto"
    assert not mapped(d.proc.pid, "_ssl."), "the daemon loaded the ssl module"
