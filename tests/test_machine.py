"""The process state machine alone: supervisord's rules as events and effects, no processes."""
import signal
from types import SimpleNamespace

import pytest

from wrapctl.core import machine as m
from wrapctl.core.states import ProcessState as S


def cfg(**kw):
    base = dict(name="p", startsecs=1, startretries=3, autostart=True, autorestart="unexpected",
                exitcodes=(0,), stopsignal=signal.SIGTERM, stopwaitsecs=10,
                stopasgroup=False, killasgroup=False)
    base.update(kw)
    return SimpleNamespace(**base)


def kinds(effects, kind):
    return [e for e in effects if isinstance(e, kind)]


def states(effects):
    return [(e.old, e.new) for e in kinds(effects, m.StateChange)]


def test_start_runs_after_startsecs_timer():
    pm = m.ProcessMachine(cfg(startsecs=5))
    eff = pm.autostart(100.0)
    assert states(eff) == [(S.STOPPED, S.STARTING)]
    assert kinds(eff, m.Spawn)
    eff = pm.spawned(42, 100.01)
    assert pm.state == S.STARTING
    assert kinds(eff, m.Timer) == [m.Timer(105.0)]
    eff = pm.timer(105.0)
    assert states(eff) == [(S.STARTING, S.RUNNING)]
    assert pm.pid == 42


def test_startsecs_zero_is_running_at_once():
    pm = m.ProcessMachine(cfg(startsecs=0))
    pm.start(1.0)
    eff = pm.spawned(7, 1.0)
    assert states(eff) == [(S.STARTING, S.RUNNING)]
    assert not kinds(eff, m.Timer)


def test_autostart_false_does_nothing():
    pm = m.ProcessMachine(cfg(autostart=False))
    assert pm.autostart(1.0) == []
    assert pm.state == S.STOPPED


def test_backoff_waits_grow_then_fatal():
    pm = m.ProcessMachine(cfg(startsecs=1, startretries=3))
    now = 10.0
    pm.start(now)
    waits = []
    for attempt in range(4):
        pm.spawned(100 + attempt, now)
        eff = pm.exited(1, "exit status 1", now + 0.1)
        if attempt < 3:
            assert pm.state == S.BACKOFF
            timer = kinds(eff, m.Timer)[-1]
            waits.append(round(timer.at - (now + 0.1), 3))
            now = timer.at
            eff = pm.timer(now)
            assert kinds(eff, m.Spawn)
        else:
            assert pm.state == S.FATAL
    assert waits == [1.0, 2.0, 3.0]
    assert pm.spawnerr == "Exited too quickly (process log may have details)"


def test_spawn_error_goes_backoff_with_message():
    pm = m.ProcessMachine(cfg(startretries=0))
    pm.start(1.0)
    eff = pm.spawn_failed("can't find command '/nope'", 1.0)
    assert (S.STARTING, S.BACKOFF) in states(eff)
    assert pm.state == S.FATAL           # startretries=0: gives up at once
    assert pm.spawnerr == "can't find command '/nope'"


@pytest.mark.parametrize("autorestart,code,restarts", [
    ("unexpected", 0, False), ("unexpected", 3, True), ("true", 0, True), ("false", 3, False)])
def test_autorestart_rules(autorestart, code, restarts):
    pm = m.ProcessMachine(cfg(startsecs=0, autorestart=autorestart))
    pm.start(1.0)
    pm.spawned(5, 1.0)
    eff = pm.exited(code, f"exit status {code}", 50.0)
    assert (S.RUNNING, S.EXITED) in states(eff)
    assert bool(kinds(eff, m.Spawn)) is restarts
    assert pm.state == (S.STARTING if restarts else S.EXITED)


def test_unexpected_exit_description():
    pm = m.ProcessMachine(cfg(startsecs=0, autorestart="false"))
    pm.start(1.0)
    pm.spawned(5, 1.0)
    pm.exited(3, "exit status 3", 2.0)
    assert pm.spawnerr == "Bad exit code 3"
    assert pm.exitstatus == 3


def test_stop_then_sigkill_after_stopwaitsecs_to_group():
    pm = m.ProcessMachine(cfg(startsecs=0, stopwaitsecs=4, stopasgroup=False, killasgroup=True))
    pm.start(1.0)
    pm.spawned(9, 1.0)
    eff = pm.stop(2.0)
    assert kinds(eff, m.Kill) == [m.Kill(9, signal.SIGTERM, False)]
    assert kinds(eff, m.Timer) == [m.Timer(6.0)]
    assert pm.state == S.STOPPING
    eff = pm.timer(6.0)
    assert kinds(eff, m.Kill) == [m.Kill(9, signal.SIGKILL, True)]
    eff = pm.exited(-1, "terminated by SIGKILL", 6.1)
    assert states(eff) == [(S.STOPPING, S.STOPPED)]
    assert not kinds(eff, m.Spawn)


def test_stop_in_backoff_is_stopped_without_signal():
    pm = m.ProcessMachine(cfg())
    pm.start(1.0)
    pm.spawn_failed("boom", 1.0)
    eff = pm.stop(1.5)
    assert pm.state == S.STOPPED
    assert not kinds(eff, m.Kill)
    assert m.Timer(None) in eff


def test_no_restart_while_shutting_down():
    pm = m.ProcessMachine(cfg(startsecs=0, autorestart="true"))
    pm.start(1.0)
    pm.spawned(5, 1.0)
    pm.may_autostart = False
    eff = pm.exited(0, "exit status 0", 3.0)
    assert not kinds(eff, m.Spawn)
    assert pm.state == S.EXITED


def test_already_running_start_is_refused_with_warning():
    pm = m.ProcessMachine(cfg(startsecs=0))
    pm.start(1.0)
    pm.spawned(5, 1.0)
    eff = pm.start(2.0)
    assert not kinds(eff, m.Spawn)
    assert kinds(eff, m.Log)[0].level == "warn"


def _fail_fast(pm, now, times):
    """Let the process die too quickly `times` times; return the waits between tries."""
    waits = []
    pm.start(now)
    for attempt in range(times):
        pm.spawned(100 + attempt, now)
        eff = pm.exited(1, "exit status 1", now + 0.1)
        if pm.state != S.BACKOFF:
            break
        timer = kinds(eff, m.Timer)[-1]
        waits.append(round(timer.at - (now + 0.1), 3))
        now = timer.at
        pm.timer(now)
    return waits


def test_exponential_backoff_capped_by_backoff_max():
    c = cfg(startretries=7)
    c.extra_get = lambda k, d=None: {"backoff_max": "5"}.get(k, d)
    pm = m.ProcessMachine(c)
    assert _fail_fast(pm, 10.0, 8) == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0]
    assert pm.state == S.FATAL


def test_unlimited_retries_never_fatal():
    pm = m.ProcessMachine(cfg(startretries=-1))
    waits = _fail_fast(pm, 10.0, 30)
    assert len(waits) == 30 and waits[-1] == 30.0
    assert pm.state == S.STARTING


def test_a_program_killed_after_a_while_is_restarted_at_once():
    pm = m.ProcessMachine(cfg(startsecs=0, autorestart="true"))
    for t in (10.0, 10.5, 11.0):                # killed half a second after each start
        pm.start(t) if pm.state != S.STARTING else None
        pm.spawned(5, t)
        eff = pm.exited(-1, "terminated by SIGKILL", t + 0.5)
        assert kinds(eff, m.Spawn), "restarted without waiting"


def test_a_program_that_keeps_exiting_at_once_is_restarted_once_a_second():
    pm = m.ProcessMachine(cfg(startsecs=0, autorestart="true"))
    pm.start(10.0)
    pm.spawned(5, 10.0)
    eff = pm.exited(0, "exit status 0", 10.01)      # one early exit: restarted at once
    assert kinds(eff, m.Spawn) and pm.state == S.STARTING
    pm.spawned(6, 10.01)
    eff = pm.exited(0, "exit status 0", 10.02)      # again: a crash loop, paced
    assert pm.state == S.EXITED and not kinds(eff, m.Spawn)
    assert kinds(eff, m.Timer)[-1] == m.Timer(11.01)
    eff = pm.timer(11.01)
    assert kinds(eff, m.Spawn) and pm.state == S.STARTING


def test_restart_waits_for_leftovers():
    pm = m.ProcessMachine(cfg(startsecs=0, autorestart="true"))
    pm.start(10.0)
    pm.spawned(5, 10.0)
    eff = pm.exited(-1, "terminated by SIGKILL", 20.0, leftovers=True)
    assert pm.state == S.EXITED and not kinds(eff, m.Spawn)
    assert any("left behind" in e.message for e in kinds(eff, m.Log))
    eff = pm.leftovers_gone(21.0)
    assert kinds(eff, m.Spawn) and pm.state == S.STARTING


def test_a_stop_cancels_a_restart_that_waits_for_leftovers():
    pm = m.ProcessMachine(cfg(startsecs=0, autorestart="true"))
    pm.start(10.0)
    pm.spawned(5, 10.0)
    pm.exited(-1, "terminated by SIGKILL", 20.0, leftovers=True)
    eff = pm.cancel_restart()
    assert any("cancelled" in e.message for e in kinds(eff, m.Log))
    assert not pm.restart_pending
    assert not kinds(pm.leftovers_gone(21.0), m.Spawn)
    assert pm.state == S.EXITED


def test_crash_loop_pace_and_leftovers_both_hold_the_restart():
    pm = m.ProcessMachine(cfg(startsecs=0, autorestart="true"))
    pm.start(10.0)
    pm.spawned(5, 10.0)
    pm.exited(0, "exit status 0", 10.01)            # restarted at once
    pm.spawned(6, 10.01)
    pm.exited(0, "exit status 0", 10.02, leftovers=True)   # paced to 11.01
    assert not kinds(pm.leftovers_gone(10.5), m.Spawn), "before the pace allows"
    assert kinds(pm.timer(11.01), m.Spawn)


def test_when_the_pace_allows_first_the_leftovers_start_it():
    pm = m.ProcessMachine(cfg(startsecs=0, autorestart="true"))
    pm.start(10.0)
    pm.spawned(5, 10.0)
    pm.exited(0, "exit status 0", 10.01)
    pm.spawned(6, 10.01)
    pm.exited(0, "exit status 0", 10.02, leftovers=True)
    assert not kinds(pm.timer(11.01), m.Spawn), "leftovers still there"
    assert kinds(pm.leftovers_gone(12.0), m.Spawn)


def test_crash_loop_pace_does_not_depend_on_a_fast_machine():
    # On a loaded machine a program that exits at once is reaped 0.1-0.3 s after its spawn
    # (seen: median 0.124 s, 25 restarts a second, the API unanswered for 77 s).
    pm = m.ProcessMachine(cfg(startsecs=0, autorestart="true"))
    pm.start(10.0)
    pm.spawned(5, 10.0)
    t, spawns = 10.0, []
    while t < 15.0:
        t += 0.124
        eff = pm.exited(0, "exit status 0", t)
        if not kinds(eff, m.Spawn):
            assert pm.restart_pending
            t = pm.restart_at
            assert kinds(pm.timer(t), m.Spawn)
        spawns.append(t)
        pm.spawned(6, t)
    # At most AUTO_RESTARTS automatic restarts in any second.
    for k in range(m.AUTO_RESTARTS, len(spawns)):
        assert spawns[k] - spawns[k - m.AUTO_RESTARTS] >= m.MIN_RESTART_INTERVAL - 1e-9
    assert len(spawns) <= 2 * 5 + 2


def test_kills_from_outside_are_restarted_at_once_however_often():
    # kill -9 of the program (an operator, the crash benchmark) is not a loop of its own.
    pm = m.ProcessMachine(cfg(startsecs=0, autorestart="true"))
    pm.start(10.0)
    t = 10.0
    for _ in range(6):
        pm.spawned(5, t)
        t += 0.3
        assert kinds(pm.exited(-1, "terminated by SIGKILL", t), m.Spawn)
