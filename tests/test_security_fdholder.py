"""Issue 12, attack 1: the fd holder, which keeps a copy of every program's pipes while the
core is down, against user nobody. Nobody asks it for the pipes (gets nothing), binds its
name before the core starts (is sent nothing, and the core still works, under another name),
and stops reading (the core never waits for it); a holder of ours that stops reading is
given up with one warning, the core answering all along."""
import json
import os
import signal
import subprocess

import psutil
import pytest

from harness import Daemon, alive, nobody_or_skip, wait_for
from wrapctl.core import keeper
from wrapctl.rpc.client import make_proxy

pytestmark = pytest.mark.timeout(120)

# As nobody: connect to each name, ask GET, print what came back (texts and fd count).
ASK = r"""
import array, json, socket, sys
out = {}
for name in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(5)
    try:
        s.connect(b"\0" + name.encode())
    except OSError as e:
        out[name] = {"connect": type(e).__name__}
        continue
    got = {"msgs": [], "fds": 0}
    try:
        s.sendmsg([b"GET"])
        while True:
            msg, anc, _f, _a = s.recvmsg(4096, socket.CMSG_SPACE(256 * 4))
            for _l, _t, data in anc:
                got["fds"] += len(data) // 4
            if not msg:
                break
            got["msgs"].append(msg.decode())
            if msg == b"END":
                break
    except OSError as e:
        got["error"] = type(e).__name__
    out[name] = got
print(json.dumps(out))
"""

# As nobody: bind the holder's name first. "reply" answers GET with END and reads all that
# follows; "mute" accepts and never reads. On a line on stdin: print what it was sent.
SQUAT = r"""
import json, select, socket, sys
name, mode = sys.argv[1], sys.argv[2]
l = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
l.bind(b"\0" + name.encode())
l.listen(8)
print("ready", flush=True)
got = {"conns": 0, "msgs": [], "fds": 0}
conns = []
while True:
    r, _, _ = select.select([l, sys.stdin] + (conns if mode == "reply" else []), [], [])
    for s in r:
        if s is sys.stdin:
            print(json.dumps(got), flush=True)
            sys.exit(0)
        if s is l:
            c, _ = l.accept()
            got["conns"] += 1
            conns.append(c)
            continue
        try:
            msg, anc, _f, _a = s.recvmsg(4096, socket.CMSG_SPACE(256 * 4))
        except OSError:
            msg, anc = b"", []
        for _l, _t, data in anc:
            got["fds"] += len(data) // 4
        if not msg:
            conns.remove(s)
            continue
        got["msgs"].append(msg.decode()[:40])
        if msg == b"GET":
            s.sendmsg([b"END"])
"""

PROGRAM = "[program:a]\ncommand=sleep 1000\nstartsecs=0\n"


def as_nobody(*argv):
    return ["runuser", "-u", "nobody", "--", *argv]


def daemon(tmp_path):
    d = Daemon("wrapctl", tmp_path / "d")
    return d, keeper.holder_names(os.path.join(d.root, "supervisord.pid.state"))


def holder_pids(d):
    return [p.pid for p in psutil.Process(d.proc.pid).children()
            if "wrapctl.core.fdholder" in " ".join(p.cmdline())]


def kill_core(d):
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(timeout=30)


def test_nobody_asking_the_holder_gets_no_pipes(tmp_path):
    nobody_or_skip()
    d, names = daemon(tmp_path)
    try:
        d.start(PROGRAM)
        d.wait_state("a", "RUNNING")
        assert holder_pids(d)
        r = subprocess.run(as_nobody("python3", "-c", ASK, *names), capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        answers = json.loads(r.stdout)
        served = answers[names[0]]
        assert "connect" not in served, served      # the holder is there, and hangs up
        assert all(a.get("fds", 0) == 0 and not a.get("msgs") for a in answers.values()), \
            answers
        # Still serving the core: a core killed now re-attaches through it.
        pid = d.info("a")["pid"]
        kill_core(d)
        d.start()
        assert d.info("a")["pid"] == pid
    finally:
        d.stop()


@pytest.mark.parametrize("mode", ["reply", "mute"])
def test_name_squatted_by_nobody_is_sent_nothing_and_the_core_still_works(tmp_path, mode):
    nobody_or_skip()
    d, names = daemon(tmp_path)
    squat = subprocess.Popen(as_nobody("python3", "-c", SQUAT, names[0], mode),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert squat.stdout.readline().strip() == "ready"
        # mute: a core that waited for the squatter's answer would never come up.
        d.start(PROGRAM, deadline=30)
        a = d.wait_state("a", "RUNNING")["pid"]
        # The core's own holder, under the next name, keeps the pipes across a SIGKILL.
        kill_core(d)
        d.start()
        assert d.info("a")["pid"] == a
    finally:
        d.stop()
        report, _ = squat.communicate("quit\n", timeout=30)
    got = json.loads(report)
    assert got["msgs"] == [] and got["fds"] == 0, got
    warned = d.log_matches(r"fd holder: @%s is held by uid %d \(pid \d+\), not by this "
                           r"core's user: using @%s$" % (names[0], nobody_or_skip().pw_uid,
                                                         names[1]))
    assert len(warned) == 2, d.mainlog_text()        # one line at each start


def test_holder_that_stops_reading_never_blocks_the_core(tmp_path):
    """The holder is ours but stopped (SIGSTOP): hundreds of requests (each start hands it
    three pipes, each exit drops them) fill its socket; the core queues them and answers
    every call at once; after 10 s without progress it gives the holder up (one warning)
    and kills it."""
    d, _names = daemon(tmp_path)
    many = ("[program:m]\ncommand=sleep 1000\nnumprocs=100\nstartsecs=0\nautostart=false\n"
            "process_name=%(program_name)s_%(process_num)03d\n")
    holder = None
    try:
        d.start(PROGRAM + many)
        d.wait_state("a", "RUNNING")
        [holder] = holder_pids(d)
        os.kill(holder, signal.SIGSTOP)
        rpc = make_proxy(d.url, timeout=10).supervisor     # a frozen core: socket.timeout
        for call in ("startProcessGroup", "stopProcessGroup", "startProcessGroup"):
            getattr(rpc, call)("m", False)
            want = "STOPPED" if call.startswith("stop") else "RUNNING"
            wait_for(lambda: all(i["statename"] == want for i in rpc.getAllProcessInfo()
                                 if i["group"] == "m"), what=f"{call} done")
        assert rpc.getState()["statename"] == "RUNNING"
        given_up = d.wait_log(r"fd holder @\S+: it has taken no request for 10 s: "
                              r"no longer used", deadline=60)
        assert len(given_up) == 1
        wait_for(lambda: not alive(holder), what="the stuck holder killed")
        assert rpc.getState()["statename"] == "RUNNING"
        rpc.stopProcessGroup("m", True)
    finally:
        if holder is not None and alive(holder):
            os.kill(holder, signal.SIGKILL)
        d.stop()
