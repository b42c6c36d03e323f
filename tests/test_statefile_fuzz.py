"""The state-file reader (statefile.parse_state / validate) on any input: it never raises, and
what it returns is either nothing or records whose every field has its checked type. Pure:
no processes, no files."""
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from wrapctl.core import statefile

pytestmark = pytest.mark.timeout(120)

FIELDS = {"pid", "create_time", "laststart", "serial", "marker", "cgroup", "digest",
          "groups", "sessions", "logs"}


def well_typed(records):
    assert isinstance(records, dict)
    for key, rec in records.items():
        assert isinstance(key, str) and ":" in key
        assert set(rec) == FIELDS
        assert type(rec["pid"]) is int and 1 < rec["pid"] <= statefile.PID_MAX
        for f in ("create_time", "laststart"):
            assert type(rec[f]) is float and math.isfinite(rec[f])
        assert type(rec["serial"]) is int and rec["serial"] >= 0
        assert isinstance(rec["marker"], str)
        assert rec["marker"].endswith(f"/{key}/{rec['serial']}")
        assert rec["cgroup"] is None or isinstance(rec["cgroup"], str)
        assert isinstance(rec["digest"], str)
        for f in ("groups", "sessions"):
            assert all(type(x) is int and x > 1 for x in rec[f])
        assert set(rec["logs"]) <= {"stdout", "stderr"}
        assert all(p is None or (isinstance(p, str) and p.startswith("/"))
                   for p in rec["logs"].values())


def check(data):
    records, why = statefile.validate(data)
    well_typed(records)
    assert (why is None) or records == {}
    assert why is None or isinstance(why, str)
    return records, why


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20)

# Values near the right types: each field is sometimes right, sometimes subtly wrong.
anything = json_values
pids = st.integers(-3, statefile.PID_MAX + 3) | st.booleans() | st.floats() | st.text(max_size=3)
numbers = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-5, 2 ** 40) | \
    st.booleans() | st.none()
keys = st.sampled_from(["web:web", "g:p_1", "nocolon", ""]) | st.text(max_size=12)


@st.composite
def near_records(draw):
    key = draw(keys)
    serial = draw(st.integers(-2, 5) | st.booleans() | anything)
    rec = {
        "pid": draw(pids),
        "create_time": draw(numbers),
        "laststart": draw(numbers),
        "serial": serial,
        "marker": draw(st.just(f"123/{key}/{serial}") | st.text(max_size=10) | anything),
        "cgroup": draw(st.none() | st.just("/sys/fs/cgroup/x") | anything),
        "digest": draw(st.text(max_size=5) | anything),
        "groups": draw(st.lists(pids, max_size=3) | anything),
        "sessions": draw(st.lists(pids, max_size=3) | anything),
        "logs": draw(st.dictionaries(st.sampled_from(["stdout", "stderr", "x"]),
                                     st.none() | st.just("/var/log/x.log") | anything,
                                     max_size=2) | anything),
    }
    for k in draw(st.sets(st.sampled_from(sorted(rec)))):
        del rec[k]
    return key, rec


@st.composite
def near_files(draw):
    procs = dict(draw(st.lists(near_records(), max_size=3)))
    data = {"version": draw(st.just(1) | st.just(True) | st.just(1.0) | anything),
            "daemon": draw(anything), "processes": procs}
    return draw(st.just(data) | st.just(procs) | anything)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_files())
def test_validate_never_raises_and_returns_only_well_typed_records(data):
    check(data)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300) | near_files().map(lambda d: json.dumps(d).encode()))
def test_parse_never_raises_on_any_bytes(raw):
    records, why = statefile.parse_state(raw)
    well_typed(records)
    assert why is None or records == {}


def test_deep_nesting_and_huge_numbers_are_reasons_not_exceptions():
    for raw in (b"[" * 100000, b'{"version": 1, "processes": {"a:b": {"pid": ' +
                b"9" * 10000 + b"}}}", b"\xff\xfe", b"NaN"):
        records, why = statefile.parse_state(raw)
        assert records == {} and why


valid_records = st.builds(
    lambda key, pid, ct, serial, core, ids, logs: (key, {
        "pid": pid, "create_time": ct, "laststart": ct, "serial": serial,
        "marker": f"{core}/{key}/{serial}", "cgroup": None, "digest": "d",
        "groups": ids, "sessions": ids, "logs": logs}),
    st.from_regex(r"[a-z]{1,5}:[a-z_]{1,5}", fullmatch=True),
    st.integers(2, statefile.PID_MAX), st.floats(0, 2e9), st.integers(0, 10 ** 6),
    st.integers(1, statefile.PID_MAX), st.lists(st.integers(2, statefile.PID_MAX), max_size=3),
    st.fixed_dictionaries({"stdout": st.just("/l/a.log")}, optional={"stderr": st.none()}))


@settings(max_examples=300, deadline=None)
@given(st.lists(valid_records, max_size=4))
def test_what_the_core_writes_reads_back_unchanged(items):
    procs = dict(items)
    raw = json.dumps({"version": 1, "daemon": 7, "processes": procs}).encode()
    records, why = statefile.parse_state(raw)
    assert why is None
    assert records == procs
