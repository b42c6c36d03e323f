"""Shutdown while a forking program is still STARTING (issue 10, item 6).

The program's launcher has exited and its daemon has not written the pidfile yet, so a stop
ends it at once, inside the shutdown's own pass over the groups. That used to pop the stop
queue twice: the next group was dropped unstopped, the daemon said "exiting" with it still
running, and a later reap raised IndexError.
"""
import signal

import pytest

from harness import alive, wait_for


@pytest.mark.timeout(60)
def test_shutdown_while_forking_program_starts(wrapctld, tmp_path):
    pidfile = tmp_path / "late.pid"
    d = wrapctld(
        "[program:late]\n"
        "command=sh -c 'setsid sh -c \"sleep 30; echo \\$\\$ > %(here)s/late.pid; "
        "exec sleep 100\" & exit 0'\n"
        f"pidfile={pidfile}\n"
        "[program:steady]\ncommand=sleep 100\nstartsecs=0\n")
    d.wait_state("steady", "RUNNING")
    assert d.info("late")["statename"] == "STARTING"
    steady = d.info("steady")["pid"]
    d.signal(signal.SIGTERM)
    assert d.wait_exit(timeout=30) == 0
    out = d.output() + d.mainlog_text()
    assert "Traceback" not in out and "IndexError" not in out, out
    # The other group was stopped before the daemon exited, not dropped from the queue.
    assert d.log_matches(r"^stopped: steady"), d.mainlog_text()
    wait_for(lambda: not alive(steady), 10, "steady gone")
