"""bench/core_bench.py cannot rot: its scenarios run at minimal size against wrapctl.

Only that each scenario produces numbers is checked; no wall-clock figure is asserted.
"""
import pytest

from harness import load_bench, numbers


@pytest.fixture(scope="module")
def bench():
    return load_bench("core_bench")


def test_crash_to_running(bench):
    numbers(bench.crash_to_running("wrapctl", repeats=2, jitter=0),
            "ms", "pid_live_ms", "running_logged_ms")


def test_many_programs(bench):
    r = bench.many_programs("wrapctl", n=5, calls=2)
    numbers(r, "start_s", "last_running_logged_s", "getall_ms", "getall_call_ms", "start_cpu_s", "rss_mib")
    assert len(r["getall_samples_ms"]) == 2


def test_idle_wakeups(bench):
    numbers(bench.idle_wakeups("wrapctl", programs=2, seconds=0.5),
            "wakeups_per_s", "switches")


@pytest.mark.parametrize("wait", [False, True])
def test_slow_stop(bench, wait):
    numbers(bench.slow_stop("wrapctl", window=0.5, wait=wait), "cpu_percent", "wakeups_per_s")


def test_table_renders(bench):
    fake = {"supervisord": {"ms": 2000.0, "pid_live_ms": 1000.0, "running_logged_ms": 2000.0},
            "wrapctl": {"ms": 2.0, "pid_live_ms": 2.0, "running_logged_ms": 1.0}}
    out = bench.table({"crash": fake}, 5)
    assert "1000.0x" in out and "met" in out
