"""Event listeners on the real daemon: wrapctl and supervisord 4.3 side by side.

A listener written here records every envelope it gets (header fields and payload, one JSON
line each, written before it answers) into a file; the tests compare what both daemons send.
"""
import json
import os
import signal
import time

import pytest

from harness import ctx_switches, read_text, script, wait_for, wait_quiet

# argv: record-file mode [gate-file]. Modes (comma-separated): failfirst (answer FAIL the
# first time an event serial is seen), crashfirst (exit on the first event ever, noted by a
# file next to the record), slow, ignoreterm, garbage (violate the protocol), gate (say
# READY only once the gate file exists), yes (answer YES instead of OK).
LISTENER = """\
import json, os, signal, sys, time
out, mode = sys.argv[1], sys.argv[2].split(',')
if 'ignoreterm' in mode:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if 'gate' in mode:
    while not os.path.exists(sys.argv[3]):
        time.sleep(0.05)
if 'garbage' in mode:
    sys.stdout.write('this is not the protocol\\n')
    sys.stdout.flush()
    time.sleep(1000)
seen = set()
while True:
    sys.stdout.write('READY\\n')
    sys.stdout.flush()
    line = sys.stdin.readline()
    if not line:
        break
    h = dict(x.split(':', 1) for x in line.split())
    h['payload'] = sys.stdin.read(int(h['len']))
    h['me'] = os.environ['SUPERVISOR_PROCESS_NAME']
    with open(out, 'a') as f:
        f.write(json.dumps(h) + '\\n')
    if 'crashfirst' in mode and not os.path.exists(out + '.crashed'):
        open(out + '.crashed', 'w').close()
        os._exit(3)
    if 'slow' in mode:
        time.sleep(0.3)
    if 'yes' in mode:
        sys.stdout.write('RESULT 3\\nYES')
    elif 'failfirst' in mode and h['serial'] not in seen:
        seen.add(h['serial'])
        sys.stdout.write('RESULT 4\\nFAIL')
    else:
        sys.stdout.write('RESULT 2\\nOK')
    sys.stdout.flush()
"""


def listener(tmp_path, events, mode="ok", name="rec", extra=""):
    cmd = script(tmp_path, "listener", LISTENER)
    rec = tmp_path / f"{name}.jsonl"
    gate = tmp_path / "gate"
    return rec, (f"[eventlistener:{name}]\ncommand={cmd} {rec} {mode} {gate}\n"
                 f"events={events}\n{extra}\n")


def records(path, **match):
    out = []
    for line in read_text(path).splitlines():
        r = json.loads(line)
        if all(r.get(k) == v or (k == "payload" and v in r["payload"]) for k, v in match.items()):
            out.append(r)
    return out


def wait_records(path, n=1, deadline=30, **match):
    try:
        return wait_for(lambda: len(r := records(path, **match)) >= n and r, deadline,
                        f"{n} records {match}")
    except AssertionError:
        raise AssertionError(f"wanted {n} x {match}, got:\n{read_text(path)}")


def names(recs):
    return [r["eventname"] for r in recs]


def nopid(payload):
    import re
    return re.sub(r"pid:\d+", "pid:N", payload)


# ---- process state -----------------------------------------------------------------------

def test_state_events_of_a_flapping_program(wrapctld, kind, tmp_path):
    rec, lsn = listener(tmp_path, "PROCESS_STATE")
    d = wrapctld(lsn + "[program:flap]\ncommand=false\nstartsecs=10\nstartretries=2\n", kind=kind)
    recs = wait_records(rec, eventname="PROCESS_STATE_FATAL")
    got = [r["payload"] for r in records(rec) if "processname:flap " in r["payload"]]
    assert got == [
        "processname:flap groupname:flap from_state:STOPPED tries:0",
        "processname:flap groupname:flap from_state:STARTING tries:1",
        "processname:flap groupname:flap from_state:BACKOFF tries:1",
        "processname:flap groupname:flap from_state:STARTING tries:2",
        "processname:flap groupname:flap from_state:BACKOFF tries:2",
        "processname:flap groupname:flap from_state:STARTING tries:3",
        "processname:flap groupname:flap from_state:BACKOFF",
    ]
    flap = [r["eventname"] for r in records(rec) if "processname:flap " in r["payload"]]
    assert flap == ["PROCESS_STATE_STARTING", "PROCESS_STATE_BACKOFF"] * 3 + \
        ["PROCESS_STATE_FATAL"]
    assert recs[0]["ver"] == "3.0" and recs[0]["server"] == "supervisor"


def test_state_events_running_exited_stopped_carry_pids(wrapctld, kind, tmp_path):
    rec, lsn = listener(tmp_path, "PROCESS_STATE")
    exit3 = script(tmp_path, "exit3", "import sys, time\ntime.sleep(1.3)\nsys.exit(3)\n")
    d = wrapctld(lsn + f"[program:e]\ncommand={exit3}\nstartsecs=1\nautorestart=false\n"
                       "[program:s]\ncommand=sleep 1000\nstartsecs=0\n", kind=kind)
    wait_records(rec, payload="processname:e groupname:e from_state:RUNNING expected:0")
    spid = d.info("s")["pid"]
    d.rpc().stopProcess("s")
    wait_records(rec, eventname="PROCESS_STATE_STOPPED", payload="processname:s ")
    e = [r["payload"] for r in records(rec) if "processname:e " in r["payload"]]
    assert [nopid(p) for p in e] == [
        "processname:e groupname:e from_state:STOPPED tries:0",
        "processname:e groupname:e from_state:STARTING pid:N",
        "processname:e groupname:e from_state:RUNNING expected:0 pid:N"]
    assert e[1].split("pid:")[1] == e[2].split("pid:")[1] != "0"
    s = [r["payload"] for r in records(rec) if "processname:s " in r["payload"]]
    assert s == ["processname:s groupname:s from_state:STOPPED tries:0",
                 f"processname:s groupname:s from_state:STARTING pid:{spid}",
                 f"processname:s groupname:s from_state:RUNNING pid:{spid}",
                 f"processname:s groupname:s from_state:STOPPING pid:{spid}"]


# ---- groups, supervisor state, remote communication --------------------------------------

def test_startup_order_and_group_add_remove(wrapctld, kind, tmp_path):
    rec, lsn = listener(tmp_path, "PROCESS_GROUP,SUPERVISOR_STATE_CHANGE,PROCESS_STATE_STARTING")
    d = wrapctld(lsn + "[program:a]\ncommand=sleep 1000\npriority=5\n"
                       "[program:b]\ncommand=sleep 1000\npriority=600\n", kind=kind)
    wait_records(rec, 3, eventname="PROCESS_STATE_STARTING")
    first = [(r["eventname"], r["payload"]) for r in records(rec)][:4]
    assert first == [("PROCESS_GROUP_ADDED", "groupname:rec\n"),
                     ("PROCESS_GROUP_ADDED", "groupname:a\n"),
                     ("PROCESS_GROUP_ADDED", "groupname:b\n"),
                     ("SUPERVISOR_STATE_CHANGE_RUNNING", "")]
    assert [int(r["serial"]) for r in records(rec)[:4]] == [0, 1, 2, 3]
    assert [int(r["poolserial"]) for r in records(rec)[:4]] == [0, 1, 2, 3]
    # remove b, add c through reread/update
    with open(d.conf) as f:
        conf = f.read()
    with open(d.conf, "w") as f:
        f.write(conf.replace("[program:b]", "[program:c]"))
    d.rpc().reloadConfig()
    d.rpc().stopProcessGroup("b")
    d.rpc().removeProcessGroup("b")
    d.rpc().addProcessGroup("c")
    wait_records(rec, eventname="PROCESS_GROUP_ADDED", payload="groupname:c\n")
    tail = [(r["eventname"], r["payload"]) for r in records(rec)
            if r["eventname"].startswith("PROCESS_GROUP")][3:]
    assert tail == [("PROCESS_GROUP_REMOVED", "groupname:b\n"),
                    ("PROCESS_GROUP_ADDED", "groupname:c\n")]


def test_stopping_event_at_shutdown(wrapctld, kind, tmp_path):
    # The listener (priority -1) is stopped last, so it is still RUNNING when STOPPING comes;
    # p's STOPPED reaches neither daemon's listener: its group stops in that same moment.
    rec, lsn = listener(tmp_path, "SUPERVISOR_STATE_CHANGE,PROCESS_STATE_STOPPED",
                        mode="ignoreterm", extra="stopwaitsecs=2\n")
    d = wrapctld(lsn + "[program:p]\ncommand=sleep 1000\nstartsecs=0\n", kind=kind)
    wait_records(rec, eventname="SUPERVISOR_STATE_CHANGE_RUNNING")
    d.wait_state("rec", "RUNNING")
    d.stop()
    assert names(records(rec)) == ["SUPERVISOR_STATE_CHANGE_RUNNING",
                                   "SUPERVISOR_STATE_CHANGE_STOPPING"]


def test_remote_communication(wrapctld, kind, tmp_path):
    rec, lsn = listener(tmp_path, "REMOTE_COMMUNICATION")
    d = wrapctld(lsn, kind=kind)
    assert d.rpc().sendRemoteCommEvent("mytype", "some data\nline two \u2603") is True
    r = wait_records(rec)[0]
    assert (r["eventname"], r["payload"]) == ("REMOTE_COMMUNICATION",
                                              "type:mytype\nsome data\nline two \u2603")
    assert int(r["len"]) == len(r["payload"])     # characters, as supervisord counts


# ---- output events -------------------------------------------------------------------------

def test_log_events_for_stdout_and_stderr(wrapctld, kind, tmp_path):
    rec, lsn = listener(tmp_path, "PROCESS_LOG")
    talk = script(tmp_path, "talk", "import os, time\nos.write(1, b'out line\\n')\n"
                                    "time.sleep(0.5)\nos.write(2, b'err line\\n')\n"
                                    "time.sleep(1000)\n")
    d = wrapctld(lsn + f"[program:t]\ncommand={talk}\nstdout_events_enabled=true\n"
                       "stderr_events_enabled=true\n", kind=kind)
    recs = wait_records(rec, 2)
    pid = d.info("t")["pid"]
    assert [(r["eventname"], r["payload"]) for r in recs] == [
        ("PROCESS_LOG_STDOUT", f"processname:t groupname:t pid:{pid} channel:stdout\nout line\n"),
        ("PROCESS_LOG_STDERR", f"processname:t groupname:t pid:{pid} channel:stderr\nerr line\n")]


def test_no_log_events_unless_enabled(wrapctld, tmp_path):
    rec, lsn = listener(tmp_path, "PROCESS_LOG,REMOTE_COMMUNICATION")
    d = wrapctld(lsn + "[program:t]\ncommand=sh -c 'echo hello; sleep 1000'\n")
    d.wait_state("t", "RUNNING")
    d.rpc().sendRemoteCommEvent("x", "y")
    assert names(wait_records(rec)) == ["REMOTE_COMMUNICATION"]


CAPTURE = """\
import sys, time
sys.stdout.write('plain before <!--XSUPERVISOR:BEGIN-->captured ')
sys.stdout.flush()
time.sleep(0.2)
sys.stdout.write('text<!--XSUPERVISOR:END--> plain after, long enough to be written\\n')
sys.stdout.flush()
time.sleep(1000)
"""


def test_communication_capture_mode(wrapctld, kind, tmp_path):
    rec, lsn = listener(tmp_path, "PROCESS_COMMUNICATION")
    log = tmp_path / "c.log"
    d = wrapctld(lsn + f"[program:c]\ncommand={script(tmp_path, 'cap', CAPTURE)}\n"
                       f"stdout_logfile={log}\nstdout_capture_maxbytes=1KB\n", kind=kind)
    r = wait_records(rec)[0]
    pid = d.info("c")["pid"]
    assert (r["eventname"], r["payload"]) == (
        "PROCESS_COMMUNICATION_STDOUT", f"processname:c groupname:c pid:{pid}\ncaptured text")
    wait_for(lambda: "plain after" in read_text(log))
    assert read_text(log) == "plain before  plain after, long enough to be written\n"


def test_big_payload_goes_through_a_full_pipe(wrapctld, tmp_path):
    rec, lsn = listener(tmp_path, "PROCESS_LOG_STDOUT")
    big = script(tmp_path, "big", "import os, time\nos.write(1, b'x' * 65536)\n"
                                  "time.sleep(1000)\n")
    d = wrapctld(lsn + f"[program:big]\ncommand={big}\nstdout_events_enabled=true\n")
    def data():
        return "".join(r["payload"].split("\n", 1)[1] for r in records(rec))
    got = wait_for(lambda: len(d := data()) >= 65536 and d)
    assert got == "x" * 65536


# ---- buffering, rejection, pools -----------------------------------------------------------

def test_buffer_overflow_drops_oldest(wrapctld, kind, tmp_path):
    rec, lsn = listener(tmp_path, "REMOTE_COMMUNICATION", mode="gate", extra="buffer_size=3\n")
    d = wrapctld(lsn, kind=kind)
    for i in range(5):
        d.rpc().sendRemoteCommEvent("n", str(i))
    d.wait_log(r"^pool rec event buffer overflowed, discarding event 1$")
    assert len(d.log_matches("event buffer overflowed")) == 2
    d.log_matches(r"^pool rec event buffer overflowed, discarding event 0$")
    (tmp_path / "gate").touch()
    recs = wait_records(rec, 3)
    assert [(r["serial"], r["poolserial"], r["payload"]) for r in recs] == [
        ("2", "2", "type:n\n2"), ("3", "3", "type:n\n3"), ("4", "4", "type:n\n4")]


def test_rejected_event_is_sent_again(wrapctld, kind, tmp_path):
    rec, lsn = listener(tmp_path, "REMOTE_COMMUNICATION", mode="failfirst")
    d = wrapctld(lsn, kind=kind)
    d.wait_state("rec", "RUNNING")
    d.rpc().sendRemoteCommEvent("a", "1")
    d.rpc().sendRemoteCommEvent("b", "2")
    recs = wait_records(rec, 4)
    assert [(r["serial"], r["payload"]) for r in recs] == [
        ("0", "type:a\n1"), ("0", "type:a\n1"), ("1", "type:b\n2"), ("1", "type:b\n2")]
    assert len(d.wait_log(r"^rec: event was rejected$", 2)) == 2


def test_listener_crash_mid_event_gets_it_again_after_respawn(wrapctld, kind, tmp_path):
    rec, lsn = listener(tmp_path, "REMOTE_COMMUNICATION", mode="crashfirst",
                        extra="startsecs=0\n")
    d = wrapctld(lsn, kind=kind)
    d.wait_state("rec", "RUNNING")
    d.rpc().sendRemoteCommEvent("t", "once")
    recs = wait_records(rec, 2)
    assert [(r["serial"], r["payload"]) for r in recs] == [("0", "type:t\nonce")] * 2


def test_pool_of_listeners_each_event_once(wrapctld, kind, tmp_path):
    rec, lsn = listener(tmp_path, "REMOTE_COMMUNICATION", mode="slow",
                        extra="numprocs=2\nprocess_name=%(program_name)s_%(process_num)s\n"
                              "buffer_size=20\n")
    d = wrapctld(lsn, kind=kind)
    d.wait_state("rec:rec_0", "RUNNING")
    d.wait_state("rec:rec_1", "RUNNING")
    for i in range(6):
        d.rpc().sendRemoteCommEvent("n", str(i))
    recs = wait_records(rec, 6)
    assert sorted(int(r["poolserial"]) for r in recs) == list(range(6))
    assert {r["me"] for r in recs} == {"rec_0", "rec_1"}
    time.sleep(0.5)
    assert len(records(rec)) == 6


def test_protocol_violation_puts_listener_in_unknown(wrapctld, kind, tmp_path):
    rec, lsn = listener(tmp_path, "REMOTE_COMMUNICATION", mode="garbage")
    d = wrapctld(lsn, kind=kind)
    d.wait_log(r"^rec: has entered the UNKNOWN state and will no longer receive events, this "
               r"usually indicates the process violated the eventlistener protocol$")
    d.rpc().sendRemoteCommEvent("t", "x")
    time.sleep(0.3)
    assert records(rec) == []


# ---- ticks ---------------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_tick_5(wrapctld, tmp_path):
    rec, lsn = listener(tmp_path, "TICK_5")
    d = wrapctld(lsn)
    r = wait_records(rec, 2, deadline=20)
    whens = [int(x["payload"].split(":")[1]) for x in r]
    assert all(w % 5 == 0 for w in whens) and whens[1] - whens[0] == 5
    assert names(r) == ["TICK_5", "TICK_5"]


@pytest.mark.timeout(60)
def test_idle_daemon_with_a_listener_makes_no_wakeups(wrapctld, tmp_path):
    rec, lsn = listener(tmp_path, "PROCESS_STATE,REMOTE_COMMUNICATION")
    d = wrapctld(lsn)
    d.wait_state("rec", "RUNNING")
    wait_records(rec, eventname="PROCESS_STATE_RUNNING")
    wait_quiet(d.proc.pid)
    before = ctx_switches(d.proc.pid)
    time.sleep(5.5)                 # longer than a TICK_5 period
    assert ctx_switches(d.proc.pid) - before == 0


# ---- config changes ------------------------------------------------------------------------

@pytest.mark.parametrize("tool", ["wrapctl", "supervisorctl"])
def test_update_changes_a_pools_subscriptions(wrapctld, tmp_path, tool):
    rec, lsn = listener(tmp_path, "PROCESS_GROUP")
    d = wrapctld(lsn + "[program:p]\ncommand=sleep 1000\n")
    wait_records(rec, 2)
    with open(d.conf) as f:
        conf = f.read()
    with open(d.conf, "w") as f:
        f.write(conf.replace("events=PROCESS_GROUP", "events=REMOTE_COMMUNICATION"))
    r = d.wrapctl("update") if tool == "wrapctl" else d.ctl("update")
    assert r.returncode == 0, r.stdout + r.stderr
    d.wait_state("rec", "RUNNING")
    d.rpc().sendRemoteCommEvent("after", "update")
    wait_records(rec, eventname="REMOTE_COMMUNICATION")
    assert not [r for r in records(rec) if r["payload"] == "groupname:rec\n"][1:], \
        "the changed pool must not see PROCESS_GROUP events any more"


def test_serials_across_a_hup_restart(wrapctld, kind, tmp_path):
    # Both restart everything: pools are made afresh (poolserial from 0) and every group is
    # added again; the global serial goes on.
    rec, lsn = listener(tmp_path, "PROCESS_GROUP_ADDED,REMOTE_COMMUNICATION")
    d = wrapctld(lsn, kind=kind)
    wait_records(rec, 1)
    d.rpc().sendRemoteCommEvent("before", "hup")
    wait_records(rec, 2)
    d.signal(signal.SIGHUP)
    wait_records(rec, 2, eventname="PROCESS_GROUP_ADDED")
    if kind == "wrapctl":
        d.wait_log(r"^restarted with the re-read configuration$")
    d.wait_state("rec", "RUNNING")
    d.rpc().sendRemoteCommEvent("after", "hup")
    wait_records(rec, 2, eventname="REMOTE_COMMUNICATION")
    got = [(r["eventname"], r["serial"], r["poolserial"]) for r in records(rec)]
    assert got == [("PROCESS_GROUP_ADDED", "0", "0"), ("REMOTE_COMMUNICATION", "1", "1"),
                   ("PROCESS_GROUP_ADDED", "2", "0"), ("REMOTE_COMMUNICATION", "3", "1")]


HANDLER = """\
from supervisor.dispatchers import RejectEvent
def handle(event, response):
    if response != b'YES':
        raise RejectEvent(response)
"""


def test_custom_result_handler(wrapctld, kind, tmp_path):
    os.makedirs(tmp_path / "d0")
    (tmp_path / "d0" / "yeshandler.py").write_text(HANDLER)     # the daemon's cwd
    rec, lsn = listener(tmp_path, "REMOTE_COMMUNICATION", mode="yes",
                        extra="result_handler=yeshandler:handle\n")
    d = wrapctld(lsn, kind=kind)
    d.wait_state("rec", "RUNNING")
    d.rpc().sendRemoteCommEvent("a", "1")
    d.rpc().sendRemoteCommEvent("b", "2")
    wait_records(rec, 2)
    time.sleep(0.3)
    assert [r["payload"] for r in records(rec)] == ["type:a\n1", "type:b\n2"]
    assert not d.log_matches("rejected")


def test_capture_remainder_reaches_the_log_at_exit(wrapctld, tmp_path):
    # Output no longer than a token is held back while capture is on; supervisord loses it
    # when the process exits, wrapctl writes it (docs/events.md).
    log = tmp_path / "short.log"
    d = wrapctld(f"[program:short]\ncommand=sh -c 'printf bye; sleep 0.3'\nstartsecs=0\n"
                 f"autorestart=false\nstdout_logfile={log}\nstdout_capture_maxbytes=1KB\n")
    d.wait_state("short", "EXITED")
    assert read_text(log) == "bye"


@pytest.mark.timeout(90)
def test_listener_reattached_after_a_core_sigkill_gets_events(wrapctld, tmp_path):
    rec, lsn = listener(tmp_path, "REMOTE_COMMUNICATION", extra="startsecs=0\n")
    d = wrapctld(lsn)
    pid = d.wait_state("rec", "RUNNING")["pid"]
    d.rpc().sendRemoteCommEvent("before", "kill")
    wait_records(rec, 1)
    time.sleep(0.2)                     # its READY for the next event goes to the old core
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(timeout=30)
    d.start()
    assert d.wait_state("rec", "RUNNING")["pid"] == pid
    d.wait_log(r"^rec: re-attached listener taken as READY$")
    d.rpc().sendRemoteCommEvent("after", "kill")
    assert [r["payload"] for r in wait_records(rec, 2)] == ["type:before\nkill",
                                                           "type:after\nkill"]


@pytest.mark.timeout(90)
def test_listener_busy_when_the_core_is_killed_goes_on_after_reattach(wrapctld, tmp_path):
    rec, lsn = listener(tmp_path, "REMOTE_COMMUNICATION", mode="slow", extra="startsecs=0\n")
    d = wrapctld(lsn)
    d.wait_state("rec", "RUNNING")
    d.rpc().sendRemoteCommEvent("during", "kill")
    wait_records(rec, 1)                # it now answers after 0.3 s, to no core
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(timeout=30)
    d.start()
    d.wait_state("rec", "RUNNING")
    d.rpc().sendRemoteCommEvent("after", "kill")
    assert [r["payload"] for r in wait_records(rec, 2)] == ["type:during\nkill",
                                                           "type:after\nkill"]
    assert not d.log_matches("UNKNOWN state")
