"""superlance (PyPI) listeners against `wrapctl daemon`: crashmail, httpok, memmon.

The sendmail program is a stand-in script that appends the mail to a file (the only thing
here that is not the real one: no mail transport exists in the test environment).
"""
import os
import signal
import socket
import sys

import pytest

from harness import read_text, script, wait_for

BIN = os.path.dirname(sys.executable)

SENDMAIL = """\
import sys
with open(sys.argv[1], 'a') as f:
    f.write(sys.stdin.read() + '\\n--\\n')
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_crashmail_mails_a_kill_9(wrapctld, kind, tmp_path):
    mail = tmp_path / "mail.txt"
    sendmail = script(tmp_path, "sendmail", SENDMAIL) + f" {mail}"
    d = wrapctld(f"[eventlistener:crashmail]\n"
                 f"command={BIN}/crashmail -p crashy -m ops@example.com -s \"{sendmail}\"\n"
                 f"events=PROCESS_STATE_EXITED\nstderr_logfile={tmp_path}/crashmail.err\n"
                 "[program:crashy]\ncommand=sleep 1000\nstartsecs=0\n"
                 "[program:calm]\ncommand=sleep 1000\nstartsecs=0\n", kind=kind)
    d.wait_state("crashmail", "RUNNING")
    pid = d.wait_state("crashy", "RUNNING")["pid"]
    d.rpc().stopProcess("calm")        # an expected stop: no mail
    os.kill(pid, signal.SIGKILL)
    text = wait_for(lambda: read_text(mail), what="a mail")
    assert "To: ops@example.com\n" in text
    assert f"Process crashy in group crashy exited unexpectedly (pid {pid}) from state RUNNING" \
        in text
    assert " crashy crashed at " in text
    assert text.count("\n--\n") == 1


WEB = """\
import http.server, os, sys, time
port, hang = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if os.path.exists(hang):
            os.unlink(hang)
            time.sleep(1000)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'ok')
    def log_message(self, *a):
        pass
http.server.HTTPServer(('127.0.0.1', port), H).serve_forever()
"""


@pytest.mark.timeout(90)
def test_httpok_restarts_a_hung_web_app(wrapctld, tmp_path):
    port, hang = free_port(), tmp_path / "hang"
    web = script(tmp_path, "web", WEB)
    err = tmp_path / "httpok.err"
    d = wrapctld(f"[eventlistener:httpok]\n"
                 f"command={BIN}/httpok -p web -t 2 http://127.0.0.1:{port}/\n"
                 f"events=TICK_5\nstderr_logfile={err}\n"
                 f"[program:web]\ncommand={web} {port} {hang}\n")
    pid = d.wait_state("web", "RUNNING")["pid"]
    hang.touch()
    wait_for(lambda: d.info("web")["pid"] not in (0, pid), deadline=60, what="web restarted")
    d.wait_state("web", "RUNNING")
    assert "web is in RUNNING state, restarting" in read_text(err)
    assert "web restarted" in read_text(err)
    assert not hang.exists()


GROW = """\
import time
hog = []
for _ in range(150):
    hog.append(bytearray(1024 * 1024))
    time.sleep(0.02)
time.sleep(1000)
"""


@pytest.mark.timeout(90)
def test_memmon_restarts_a_growing_program(wrapctld, tmp_path):
    err = tmp_path / "memmon.err"
    d = wrapctld(f"[eventlistener:memmon]\ncommand={BIN}/memmon -p grow=60MB\n"
                 f"events=TICK_5\nstderr_logfile={err}\n"
                 f"[program:grow]\ncommand={script(tmp_path, 'grow', GROW)}\n")
    pid = d.wait_state("grow", "RUNNING")["pid"]
    wait_for(lambda: d.info("grow")["pid"] not in (0, pid), deadline=60, what="grow restarted")
    text = read_text(err)
    assert "Restarting grow:grow" in text, text
