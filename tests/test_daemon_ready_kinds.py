"""ready= over unix sockets, HTTP and HTTPS, and healthcheck= over HTTP, on real servers.

The HTTP server answers with the status written in a file, so a test can make it fail
(500: not ready) and recover (200) without restarting it. HTTPS uses a self-signed
certificate made with the openssl command (the probe does not verify certificates: it
checks its own child, usually on loopback)."""
import os
import shutil
import socket
import subprocess

import pytest

from harness import PY, py, wait_for

pytestmark = pytest.mark.timeout(90)
HTTPSTATUS = os.path.join(os.path.dirname(__file__), "daemons", "httpstatus.py")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_ready_http_waits_for_a_2xx_answer(wrapctld, tmp_path, scheme):
    port = free_port()
    status = tmp_path / "status"
    status.write_text("500")
    args = f"{port} {status}"
    if scheme == "https":
        if shutil.which("openssl") is None:
            pytest.skip("no openssl command to make a certificate")
        cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", str(key), "-out", str(cert), "-days", "1",
                        "-subj", "/CN=localhost"], check=True, capture_output=True)
        args += f" {cert} {key}"
    d = wrapctld(f"[program:web]\ncommand={PY} {HTTPSTATUS} {args}\n"
                 f"ready={scheme}://127.0.0.1:{port}/health\nready_timeout=60\n")
    # The server answers 500 meanwhile: STARTING, although the port is open.
    wait_for(lambda: _answers(port), what="server listening")
    d.wait_state("web", "STARTING")
    assert d.info("web")["statename"] == "STARTING"
    status.write_text("204")
    d.wait_state("web", "RUNNING")
    assert f"ready ({scheme}://127.0.0.1:{port}/health)" in open(d.mainlog).read()


def _answers(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_healthcheck_http_restarts_after_failures(wrapctld, tmp_path):
    port = free_port()
    status = tmp_path / "status"
    d = wrapctld(f"[program:web]\ncommand={PY} {HTTPSTATUS} {port} {status}\n"
                 f"ready=http://127.0.0.1:{port}/\nhealthcheck=http://127.0.0.1:{port}/\n"
                 "healthcheck_interval=0.2\nhealthcheck_failures=2\n")
    d.wait_state("web", "RUNNING")
    first = d.info("web")["pid"]
    status.write_text("503")
    wait_for(lambda: d.info("web")["pid"] not in (0, first), what="a restart")
    status.write_text("200")
    d.wait_state("web", "RUNNING")
    assert "healthcheck of web failed" in open(d.mainlog).read()


def test_ready_unix_waits_for_the_socket(wrapctld, tmp_path):
    path = tmp_path / "srv.sock"
    go = tmp_path / "go"
    cmd = py("import os,socket,time; "
             f"[time.sleep(0.05) for _ in iter(lambda: os.path.exists({str(go)!r}), True)]; "
             f"s=socket.socket(socket.AF_UNIX); s.bind({str(path)!r}); s.listen(); "
             "time.sleep(1000)")
    d = wrapctld(f"[program:u]\ncommand={cmd}\nready=unix:{path}\n")
    d.wait_state("u", "STARTING")
    assert d.info("u")["statename"] == "STARTING"
    go.write_text("")
    d.wait_state("u", "RUNNING")
    assert f"ready (unix:{path})" in open(d.mainlog).read()
