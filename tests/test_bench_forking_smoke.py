"""bench/forking_bench.py cannot rot: one kill at minimal size against wrapctl, and the table.

Only that figures come out is checked; no wall-clock figure is asserted.
"""
import pytest

import forking_support as fs
from harness import load_bench, numbers

pytestmark = pytest.mark.skipif(fs.missing(fs.NGINX), reason="nginx not installed")


@pytest.fixture(scope="module")
def bench():
    return load_bench("forking_bench")


@pytest.mark.timeout(60)
def test_one_kill_plain_nginx(bench):
    r = bench.run_wrapctl("plain", repeats=1, cap=20)
    numbers(r, "port_median_ms", "running_median_ms")


def test_table_renders(bench):
    never = {"cap_s": 30.0, "port_reached": "0/1", "running_reached": "0/1"}
    fine = {"port_median_ms": 30.0, "port_p90_ms": 40.0, "running_median_ms": 1000.0,
            "running_p90_ms": 1010.0}
    out = bench.table({"initd": {"supervisord": never, "wrapctl": fine}})
    assert "not reached within 30 s" in out and "> 1000x (never)" in out
