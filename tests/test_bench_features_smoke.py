"""bench/features_bench.py cannot rot: its scenarios run at minimal size against wrapctl.

Only that each scenario produces numbers, and that nothing it started is left running, is
checked; no wall-clock figure is asserted.
"""
import pytest

from harness import load_bench, numbers


@pytest.fixture(scope="module")
def bench():
    return load_bench("features_bench")


def test_dependency_chain(bench):
    r = bench.dependency_chain(links=3, delay=0.01, runs=1)
    numbers(r, "baseline_s", "wrapctl_s", "overhead_ms_per_link", "handoff_ms",
            "link_ms", "baseline_link_ms")
    assert r["left_by_daemon"] == 0 and r["left_running"] == 0


def test_reattach_after_core_sigkill(bench):
    r = bench.reattach("wrapctl", n=5, runs=1)
    numbers(r, "s", "first_answer_s", "daemon_cpu_s", "shutdown_s")
    assert r["same_pids_min"] == 5 and r["duplicates"] == 0
    assert r["left_by_daemon"] == 0 and r["left_running"] == 0


def test_table_renders(bench):
    chain = {"links": 3, "delay_ms": 10.0, "runs": 1, "overhead_ms_per_link": 1.5,
             "wrapctl_s": 0.05, "baseline_s": 0.04, "handoff_ms": 0.3,
             "link_ms": 11.0, "baseline_link_ms": 10.5}
    side = {"programs": 5, "runs": 1, "s": 1.0, "first_answer_s": 0.5, "daemon_cpu_s": 0.4,
            "same_pids_min": 5, "duplicates": 0, "left_by_daemon": 0, "shutdown_s": 0.1}
    out = bench.table({"chain": [chain], "reattach": {
        "supervisord": dict(side, same_pids_min=0, duplicates=5), "wrapctl": side}})
    assert "< 2 ms: met" in out and "0: met" in out and "no depends_on" in out
