"""The pure parts of wrapctl.events: payloads and envelopes checked against supervisord 4.3's
own classes, the listener protocol, capture mode, pool buffering and serials."""
from types import SimpleNamespace as NS

import pytest
from supervisor import events as sev
from supervisor import process as sproc
from supervisor.states import ProcessStates

from wrapctl.events import payloads as P
from wrapctl.events import types
from wrapctl.events.capture import Capture, Comm, Output, prefix_at_end
from wrapctl.events.pool import Pool, Serial
from wrapctl.events.protocol import ListenerProtocol, ListenerState as L, Log


def sup_process(name="web", group="grp", pid=1234, backoff=0):
    return NS(config=NS(name=name), group=NS(config=NS(name=group)), pid=pid, backoff=backoff)


# ---- types ---------------------------------------------------------------------------------

def test_event_names_are_supervisords():
    names = {n for n in vars(sev.EventTypes) if not n.startswith("_")}
    assert types.ALL == names


def test_subscription_matches_supervisords_class_hierarchy():
    for sub in types.ALL:
        for ev in types.FAMILY:
            sup = issubclass(getattr(sev.EventTypes, ev), getattr(sev.EventTypes, sub))
            assert types.matches(sub, ev) == sup, (sub, ev)


# ---- payloads ------------------------------------------------------------------------------

STATES = ["STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL", "UNKNOWN"]


@pytest.mark.parametrize("to", STATES)
@pytest.mark.parametrize("expected", [True, False])
def test_process_state_payload(to, expected):
    proc = sup_process(pid=4321, backoff=2)
    cls = getattr(sev.EventTypes, f"PROCESS_STATE_{to}")
    want = cls(proc, ProcessStates.RUNNING, expected).payload()
    got = P.process_state(to, "web", "grp", "RUNNING", tries=2, pid=4321, expected=expected)
    assert got.payload == want
    assert got.name == f"PROCESS_STATE_{to}"


@pytest.mark.parametrize("data", [b"hello\n", b"", "caf\u00e9\n".encode(), b"\xff\xfe bad"])
@pytest.mark.parametrize("channel", ["stdout", "stderr"])
def test_log_and_communication_payloads(data, channel):
    proc = sup_process()
    log = getattr(sev.EventTypes, f"PROCESS_LOG_{channel.upper()}")(proc, 99, data)
    comm = getattr(sev.EventTypes, f"PROCESS_COMMUNICATION_{channel.upper()}")(proc, 99, data)
    assert P.process_log(channel, "web", "grp", 99, data).payload == log.payload()
    assert P.process_communication(channel, "web", "grp", 99, data).payload == comm.payload()


def test_other_payloads():
    assert P.remote_communication("t", "d\nx").payload == \
        sev.RemoteCommunicationEvent("t", "d\nx").payload()
    assert P.supervisor_state("RUNNING").payload == sev.SupervisorRunningEvent().payload()
    assert P.tick(60, 1200).payload == sev.Tick60Event(1200, None).payload()
    assert P.process_group(True, "g").payload == sev.ProcessGroupAddedEvent("g").payload()
    assert P.process_group(False, "g").name == "PROCESS_GROUP_REMOVED"


@pytest.mark.parametrize("payload", ["", "processname:x groupname:x", "caf\u00e9 \u2603\n"])
def test_envelope_matches_supervisord(payload):
    ev = P.Event("PROCESS_STATE_RUNNING", payload, serial=7, pool_serials={"mypool": 3})
    pool = NS(config=NS(name="mypool", options=NS(identifier="sid")))
    want = sproc.EventListenerPool._eventEnvelope(
        pool, sev.ProcessStateRunningEvent, 7, 3, payload).encode("utf-8")
    assert P.envelope(ev, "sid", "mypool") == want


def test_timeslice():
    assert P.timeslice(5, 1003.7) == 1000
    assert P.timeslice(60, 1199.9) == 1140
    assert P.timeslice(3600, 7200) == 7200


# ---- protocol ------------------------------------------------------------------------------

def kinds(effects):
    return [type(e).__name__ for e in effects if not isinstance(e, Log)]


def warnings(effects):
    return [e.message for e in effects if isinstance(e, Log) and e.level == "warn"]


def test_ready_event_result_ok_cycle():
    p = ListenerProtocol("lsn")
    assert p.state == L.ACKNOWLEDGED
    assert p.feed(b"REA") == [] and p.state == L.ACKNOWLEDGED
    assert kinds(p.feed(b"DY\n")) == ["Ready"] and p.ready
    p.sent()
    assert p.state == L.BUSY
    assert p.feed(b"RESULT 2\n") == [] and p.state == L.BUSY
    eff = p.feed(b"OKREADY\n")
    assert kinds(eff) == ["Processed", "Ready"]
    assert Log("debug", "lsn: BUSY -> ACKNOWLEDGED") in eff
    assert p.ready


def test_fail_result_rejects_and_stays_usable():
    p = ListenerProtocol("lsn")
    p.feed(b"READY\n")
    p.sent()
    eff = p.feed(b"RESULT 4\nFAIL")
    assert kinds(eff) == ["Rejected"]
    assert warnings(eff) == ["lsn: event was rejected"]
    assert p.state == L.ACKNOWLEDGED


def test_garbage_before_ready_is_unknown_for_good():
    p = ListenerProtocol("lsn")
    eff = p.feed(b"hello world\n")
    assert p.state == L.UNKNOWN
    assert warnings(eff) == ["lsn: has entered the UNKNOWN state and will no longer receive "
                             "events, this usually indicates the process violated the "
                             "eventlistener protocol"]
    assert p.feed(b"READY\n") == [] and p.state == L.UNKNOWN


def test_output_while_ready_is_a_violation():
    p = ListenerProtocol("lsn")
    p.feed(b"READY\n")
    p.feed(b"x")
    assert p.state == L.UNKNOWN


@pytest.mark.parametrize("line", [b"RESULT two", b"RESULT -3", b"RESULT ", b"RES"])
def test_bad_result_line(line):
    p = ListenerProtocol("lsn")
    p.feed(b"READY\n")
    p.sent()
    eff = p.feed(line + b"\nOK")
    assert kinds(eff) == ["Rejected"]
    assert warnings(eff)[0] == f"lsn: bad result line: '{line.decode()}'"
    assert p.state == L.UNKNOWN


def test_zero_length_result_is_handled_at_once():
    p = ListenerProtocol("lsn")
    p.feed(b"READY\n")
    p.sent()
    assert kinds(p.feed(b"RESULT 0\n")) == ["Rejected"]
    assert p.state == L.ACKNOWLEDGED


def test_custom_handler_outcomes():
    p = ListenerProtocol("lsn", handler=lambda r: "error")
    p.feed(b"READY\n")
    p.sent()
    eff = p.feed(b"RESULT 2\nOK")
    assert kinds(eff) == ["Rejected"]
    assert "lsn: event caused an error" in warnings(eff)
    assert p.state == L.UNKNOWN


def test_reset_starts_over():
    p = ListenerProtocol("lsn")
    p.feed(b"junk!!!")
    p.reset()
    assert kinds(p.feed(b"READY\n")) == ["Ready"]


# ---- capture -------------------------------------------------------------------------------

B, E = P.BEGIN_TOKEN, P.END_TOKEN


def test_capture_splits_log_and_comm():
    c = Capture(100)
    out = c.feed(b"before " + B + b"secret" + E + b" after, long enough to pass on")
    assert out == [Output(b"before ", True), Output(b"secret", False), Comm(b"secret"),
                   Output(b" after, long enough to pass on", True)]


def test_capture_token_split_across_reads():
    c = Capture(100)
    out = []
    for piece in (b"log line ", B[:5], B[5:] + b"da", b"ta" + E[:3], E[3:], b"tail of the output"):
        out += c.feed(piece)
    out += c.flush()
    assert [o for o in out if isinstance(o, Comm)] == [Comm(b"data")]
    assert b"".join(o.data for o in out if isinstance(o, Output) and o.to_file) == \
        b"log line tail of the output"


def test_capture_bound_drops_from_the_front_like_boundio():
    c = Capture(5)
    out = c.feed(B + b"a" * 30)     # one write larger than the bound is kept whole
    out += c.feed(b"b" * 25)        # 30 + 25 > 5: drop 25 from the front
    out += c.feed(E + b"x" * 30)
    assert Comm(b"a" * 5 + b"b" * 25) in out


def test_output_no_longer_than_a_token_waits_then_flushes():
    c = Capture(10)
    assert c.feed(b"bye") == []
    assert c.flush() == [Output(b"bye", True)]


def test_prefix_at_end():
    assert prefix_at_end(b"abc<!--X", B) == 5
    assert prefix_at_end(b"abc", B) == 0


# ---- pool ----------------------------------------------------------------------------------

def ev(n):
    return P.Event("TICK_5", f"when:{n}")


def test_serials_global_and_per_pool():
    g = Serial()
    a, b = Pool("a", ["EVENT"], 10, g), Pool("b", ["TICK"], 10, g)
    e1, e2 = ev(1), ev(2)
    a.accept(e1)
    b.accept(e1)
    b.accept(e2)
    assert (e1.serial, e1.pool_serials) == (0, {"a": 0, "b": 0})
    assert (e2.serial, e2.pool_serials) == (1, {"b": 1})


def test_overflow_discards_oldest_with_supervisords_message():
    p = Pool("p", ["EVENT"], 2, Serial())
    logs = []
    for i in range(4):
        logs += p.accept(ev(i))
    assert [e.payload for e in p.buffer] == ["when:2", "when:3"]
    assert logs == [("error", "pool p event buffer overflowed, discarding event 0"),
                    ("error", "pool p event buffer overflowed, discarding event 1")]


def test_dispatch_oldest_first_and_rebuffer_at_head():
    p = Pool("p", ["EVENT"], 10, Serial())
    for i in range(3):
        p.accept(ev(i))
    sent = []

    def send(e):
        if len(sent) < 2:
            sent.append(e.payload)
            return True
        return False
    logs = p.dispatch(send)
    assert sent == ["when:0", "when:1"]
    assert [e.payload for e in p.buffer] == ["when:2"]
    assert logs == [("debug", "rebuffering event 2 for pool p (buf size=0, max=10)")]


def test_rejected_event_goes_back_to_the_head_keeping_its_serials():
    p = Pool("p", ["EVENT"], 10, Serial())
    e0, e1 = ev(0), ev(1)
    p.accept(e0)
    p.accept(e1)
    p.dispatch(lambda e: e is e0)
    p.accept(e0, head=True)
    assert p.buffer == [e0, e1] and e0.pool_serials == {"p": 0}


def test_overlapping_subscriptions_buffer_an_event_once():
    p = Pool("p", ["PROCESS_STATE", "PROCESS_STATE_EXITED", "EVENT"], 10, Serial())
    e = P.process_state("EXITED", "x", "x", "RUNNING", pid=1)
    assert p.subscribes(e.name)
    p.accept(e)
    assert p.buffer == [e]


# ---- tick timers follow subscriptions (EventBus with stand-in daemon/supervisor objects) ----

def test_tick_timers_exist_only_while_subscribed():
    import asyncio
    from wrapctl.config.records import EventListenerConfig, GroupConfig
    from wrapctl.events import EventBus

    def group(name, events):
        lc = EventListenerConfig(name=name, group=name, command="x", events=tuple(events))
        gc = GroupConfig(name=name, processes=(lc,), kind="eventlistener")
        return NS(name=name, config=gc, processes={})

    loop = asyncio.new_event_loop()
    try:
        bus = EventBus()
        bus.attach(NS(loop=loop, logger=NS(enabled=lambda lvl: False, debug=print)))
        sup = NS(loop=loop, groups={"a": group("a", ["PROCESS_STATE"])},
                 config=NS(daemon=NS(identifier="supervisor")))
        bus.supervisor_started(sup)
        assert bus.ticks == {}
        sup.groups["t"] = group("t", ["TICK"])
        bus.group_added("t")
        assert sorted(bus.ticks) == [5, 60, 3600]
        handles = [h for _, h in bus.ticks.values()]
        del sup.groups["t"]
        bus.group_removed("t")
        assert bus.ticks == {} and all(h.cancelled() for h in handles)
        sup.groups["e"] = group("e", ["EVENT"])
        bus.group_added("e")
        assert sorted(bus.ticks) == [5, 60, 3600]
    finally:
        loop.close()


def test_a_failing_hook_is_logged_and_output_still_logged():
    from wrapctl.events import EventBus
    lines = []
    bus = EventBus()
    bus.attach(NS(loop=None, logger=NS(critical=lines.append)))
    broken = NS(config=None, name="x")          # no channel configs: the hook fails
    assert bus.process_output(broken, "stderr", b"data") == b"data"
    assert len(lines) == 1 and lines[0].startswith("event system error in process_output: ")


def test_resume_takes_a_silent_reattached_listener_as_ready():
    p = ListenerProtocol("lsn")
    assert p.resume() == []                     # only after reattached()
    p.reattached()
    eff = p.resume()
    assert p.ready and Log("info", "lsn: re-attached listener taken as READY") in eff
    assert p.resume() == []
    assert kinds(p.feed(b"REA") + p.feed(b"DY\n")) == [] and p.ready   # the unread READY
    p.sent()
    assert p.state == L.BUSY


@pytest.mark.parametrize("resumed", [False, True])
def test_reattached_listener_may_first_send_a_result_for_a_lost_event(resumed):
    p = ListenerProtocol("lsn")
    p.reattached()
    if resumed:
        p.resume()
    eff = p.feed(b"RESUL") + p.feed(b"T 2\nOKREADY\n")
    assert kinds(eff) == ["Processed", "Ready"] and p.ready
    assert p.feed(b"x") and p.state == L.UNKNOWN     # strict again afterwards


def test_reattached_listener_garbage_is_still_a_violation():
    p = ListenerProtocol("lsn")
    p.reattached()
    p.feed(b"hello!!")
    assert p.state == L.UNKNOWN
