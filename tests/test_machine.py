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


# ---- the state x event table and the events of issue 10 ----------------------------------

def settle(pm, effects, now):
    """What the edge does synchronously: a Finish is answered with exited()."""
    out = list(effects)
    for e in effects:
        if isinstance(e, m.Finish):
            out += settle(pm, pm.exited(e.status, e.message, now), now)
    return out


def in_state(state, **kw):
    """A fresh machine brought to `state` by ordinary events."""
    pm = m.ProcessMachine(cfg(**kw))
    if state == S.STOPPED:
        return pm
    if state == S.FATAL:
        pm.give_up(0.0)
        return pm
    pm.start(0.0)
    pm.spawned(10, 0.0)
    if state == S.STARTING:
        return pm
    if state == S.BACKOFF:
        pm.exited(1, "exit status 1", 0.05)
        return pm
    pm.timer(max(1.0, pm.delay))
    if pm.state != S.RUNNING:       # needs_ready
        pm.ready(1.0, "test")
    if state == S.RUNNING:
        return pm
    if state == S.STOPPING:
        pm.stop(2.0)
        return pm
    if state == S.EXITED:
        pm.exited(0, "exit status 0", 5.0)
        return pm
    if state == S.UNKNOWN:
        pm.kill_failed("EPERM", 2.0)
        return pm
    raise AssertionError(state)


EVENTS = {
    "start": [lambda pm, t: pm.start(t)],
    "autostart": [lambda pm, t: pm.autostart(t)],
    "stop": [lambda pm, t: pm.stop(t)],
    "kill": [lambda pm, t: pm.kill(signal.SIGTERM, t), lambda pm, t: pm.kill(signal.SIGKILL, t)],
    "give_up": [lambda pm, t: pm.give_up(t)],
    "cancel_restart": [lambda pm, t: pm.cancel_restart()],
    "unhealthy": [lambda pm, t: pm.unhealthy("3 times", t)],
    "stop_command_done": [lambda pm, t: pm.stop_command_done(0, t),
                          lambda pm, t: pm.stop_command_done(1, t)],
    "adopted": [lambda pm, t: pm.adopted(99, 0.0, t)],
    "kill_failed": [lambda pm, t: pm.kill_failed("EPERM", t)],
    "spawned": [lambda pm, t: pm.spawned(11, t)],
    "spawn_failed": [lambda pm, t: pm.spawn_failed("can't find command", t)],
    "ready": [lambda pm, t: pm.ready(t, "tcp")],
    "not_ready": [lambda pm, t: pm.not_ready("not ready after 60 s", t)],
    "moved": [lambda pm, t: pm.moved(12, "the pidfile moved on")],
    "exited": [lambda pm, t, s=s: pm.exited(s, "x", t) for s in (0, 1, -1)],
    "launcher_exited": [lambda pm, t, s=s, v=v: pm.launcher_exited(s, "x", t, v)
                        for s in (0, 1) for v in (True, False)],
    "forked": [lambda pm, t: pm.forked(13, "the process tree's top", t),
               lambda pm, t: pm.forked(13, "pid from /run/x.pid", t)],
    "fork_refused": [lambda pm, t: pm.fork_refused("p: cannot tell the daemon", t)],
    "leftovers_gone": [lambda pm, t: pm.leftovers_gone(t)],
    "timer": [lambda pm, t: pm.timer(t)],
}
CONFIGS = [dict(), dict(startsecs=0), dict(autorestart="true"), dict(stopcommand="stop it"),
           dict(forking="off"), dict(pidfile="/run/x.pid", startsecs=0),
           dict(startretries=0)]


def test_every_event_method_is_in_the_table():
    events = {e for row in m.TRANSITIONS.values() for e in row} | set(m.NEUTRAL_EVENTS)
    methods = {n for n in vars(m.ProcessMachine) if not n.startswith("_")
               and callable(getattr(m.ProcessMachine, n))} - {"backoff_wait", "in_fork_window"}
    assert methods == set(EVENTS) == events


@pytest.mark.parametrize("state", list(S))
def test_the_table_matches_the_machine(state):
    reached = set()
    for kw in CONFIGS:
        for event, calls in EVENTS.items():
            for call in calls:
                for when in (0.5, 100.0):   # within startsecs / stopwaitsecs, and long after
                    pm = in_state(state, **kw)
                    if pm.state != state:
                        continue            # not reachable so with this config
                    reached.add(state)
                    settle(pm, call(pm, when), when)
                    allowed = m.TRANSITIONS[state].get(event, frozenset({state}))
                    assert pm.state in allowed, (state, event, kw, when, pm.state)
    assert reached == {state}


def test_table_text_lists_every_transition():
    rows = m.table_text().splitlines()
    assert rows[0] == "| state | event | may lead to |"
    n = sum(len(row) for row in m.TRANSITIONS.values())
    assert len(rows) == n + 2
    assert "| STARTING | launcher_exited | STARTING BACKOFF EXITED FATAL |" in rows


def forking_starting(**kw):
    pm = m.ProcessMachine(cfg(startsecs=5, **kw))
    pm.start(100.0)
    pm.spawned(42, 100.0)
    return pm


def test_launcher_exit_leaving_processes_is_a_fork():
    pm = forking_starting()
    assert pm.in_fork_window(0)
    eff = pm.launcher_exited(0, "exit status 0", 100.2, survivors=True)
    assert kinds(eff, m.FindMain) and not kinds(eff, m.Finish)
    assert pm.state == S.STARTING and pm.awaiting_main
    eff = pm.forked(77, "pid from /run/d.pid", 100.3)
    assert pm.pid == 77 and not pm.awaiting_main and pm.forked_how == "pid from /run/d.pid"
    assert pm.state == S.STARTING and not states(eff)
    eff = pm.timer(105.0)                       # startsecs counted from the launch
    assert states(eff) == [(S.STARTING, S.RUNNING)]
    # a daemon found by its pidfile is the daemon: its exit is an exit, not a fork
    assert not pm.in_fork_window(0)


def test_launcher_exit_without_survivors_or_with_a_bad_status_is_an_exit():
    for status, survivors in ((0, False), (1, True)):
        pm = forking_starting()
        eff = pm.launcher_exited(status, f"exit status {status}", 100.2, survivors)
        assert kinds(eff, m.Finish) == [m.Finish(status, f"exit status {status}")]
        assert not kinds(eff, m.FindMain)
        settle(pm, eff, 100.2)
        assert pm.state == S.BACKOFF and pm.spawnerr.startswith("Exited too quickly")


def test_forking_off_is_supervisords_rule():
    pm = forking_starting(forking="off")
    assert not pm.in_fork_window(0)
    eff = pm.launcher_exited(0, "exit status 0", 100.2, survivors=True)
    assert kinds(eff, m.Finish) and not kinds(eff, m.FindMain)


def test_fork_window_is_starting_or_the_launcher_with_startsecs_zero():
    pm = forking_starting()
    pm.timer(105.0)
    assert pm.state == S.RUNNING and not pm.in_fork_window(0)
    pm = m.ProcessMachine(cfg(startsecs=0))
    pm.start(1.0)
    pm.spawned(5, 1.0)
    assert pm.state == S.RUNNING and pm.in_fork_window(0)
    eff = pm.launcher_exited(0, "exit status 0", 1.1, survivors=True)
    assert kinds(eff, m.FindMain)
    pm.forked(6, "the process tree's top", 1.1)
    assert pm.state == S.RUNNING and pm.pid == 6
    # the middle of a double fork, taken from the tree, exits too: a fork again
    assert pm.in_fork_window(0)
    pm.forked(7, "pid from /run/x.pid", 1.2)
    assert not pm.in_fork_window(0)


def test_the_middle_of_a_double_fork_exiting_is_a_fork_again():
    pm = forking_starting()
    pm.launcher_exited(0, "exit status 0", 100.1, True)
    pm.forked(43, "the process tree's top", 100.1)
    eff = pm.launcher_exited(0, "exit status 0", 100.2, True)
    assert kinds(eff, m.FindMain)
    pm.forked(44, "the process tree's top", 100.2)
    assert pm.pid == 44 and pm.state == S.STARTING


def test_fork_refused_kills_the_tree_and_fails_the_start():
    pm = forking_starting(startretries=0)
    pm.launcher_exited(0, "exit status 0", 100.1, True)
    line = "p: cannot tell the daemon among 2 unrelated processes its command left: 1 (a), 2 (b)"
    eff = pm.fork_refused(line, 100.1)
    assert kinds(eff, m.KillTree) == [m.KillTree(signal.SIGKILL)]
    assert m.Log("warn", line) in eff
    settle(pm, eff, 100.1)
    assert pm.state == S.FATAL and pm.spawnerr == line and pm.pid == 0


def test_forked_after_startsecs_runs_at_once_and_is_ignored_when_stopped():
    pm = forking_starting()
    pm.launcher_exited(0, "exit status 0", 104.9, True)
    eff = pm.forked(50, "the process tree's top", 105.1)
    assert states(eff) == [(S.STARTING, S.RUNNING)]
    pm = m.ProcessMachine(cfg())
    assert pm.forked(50, "x", 1.0) == [] and pm.pid == 0


def test_stop_while_only_the_launcher_ran_kills_what_it_left():
    pm = forking_starting(pidfile="/run/d.pid")
    pm.launcher_exited(0, "exit status 0", 100.1, True)     # waiting for the pidfile
    assert pm.awaiting_main
    eff = pm.stop(100.2)
    assert not kinds(eff, m.Kill)               # the launcher's pid may be anyone's now
    assert kinds(eff, m.KillTree) == [m.KillTree(signal.SIGKILL)]
    assert kinds(eff, m.Finish)
    settle(pm, eff, 100.2)
    assert pm.state == S.STOPPED


def test_not_ready_while_waiting_for_the_daemon_kills_the_tree():
    pm = forking_starting(pidfile="/run/d.pid", ready="tcp:127.0.0.1:1")
    pm.launcher_exited(0, "exit status 0", 100.1, True)
    eff = pm.not_ready("not ready after 60 s (pidfile /run/d.pid)", 160.0)
    assert kinds(eff, m.KillTree) and not kinds(eff, m.Kill)
    settle(pm, eff, 160.0)
    assert pm.state == S.BACKOFF and pm.spawnerr.startswith("not ready after 60 s")


def test_not_ready_kills_the_main_pid():
    pm = forking_starting(ready="tcp:127.0.0.1:1")
    eff = pm.not_ready("not ready", 101.0)
    assert kinds(eff, m.Kill) == [m.Kill(42, signal.SIGKILL, True)]
    pm.exited(-1, "terminated by SIGKILL", 101.1)
    assert pm.state == S.BACKOFF and pm.spawnerr == "not ready"


def test_ready_is_running_only_while_starting():
    pm = forking_starting(ready="tcp:127.0.0.1:1")
    assert pm.timer(105.0) == [] and pm.state == S.STARTING    # no startsecs with ready=
    eff = pm.ready(101.0, "tcp:127.0.0.1:1")
    assert states(eff) == [(S.STARTING, S.RUNNING)]
    assert pm.ready(102.0, "again") == []


def test_moved_follows_the_new_pid_once():
    pm = forking_starting()
    eff = pm.moved(43, "the pidfile moved on")
    assert pm.pid == 43 and kinds(eff, m.Log)
    assert pm.moved(43, "the pidfile moved on") == []
    assert not pm.in_fork_window(0)


def test_adopted_is_running_with_the_recorded_start():
    pm = m.ProcessMachine(cfg())
    eff = pm.adopted(77, 50.0, 60.0)
    assert states(eff) == [(S.STOPPED, S.RUNNING)]
    assert pm.pid == 77 and pm.laststart == 50.0 and not pm.in_fork_window(0)


def test_kill_failed_is_unknown():
    pm = in_state(S.RUNNING)
    pm.stop(2.0)
    eff = pm.kill_failed("Operation not permitted", 2.0)
    assert states(eff) == [(S.STOPPING, S.UNKNOWN)]
    assert m.Timer(None) in eff and not pm.killing


def test_give_up_is_fatal_from_backoff():
    pm = in_state(S.BACKOFF)
    eff = pm.give_up(1.0)
    assert states(eff) == [(S.BACKOFF, S.FATAL)] and m.Timer(None) in eff


def test_leftovers_gone_lets_the_waiting_restart_happen():
    pm = in_state(S.RUNNING, autorestart="true")
    eff = pm.exited(-1, "terminated by SIGKILL", 50.0, leftovers=True)
    assert pm.state == S.EXITED and pm.restart_pending and not kinds(eff, m.Spawn)
    eff = pm.leftovers_gone(51.0)
    assert kinds(eff, m.Spawn) and pm.state == S.STARTING


def test_unhealthy_stops_then_starts_again():
    pm = in_state(S.RUNNING)
    eff = pm.unhealthy("3 times, tcp:127.0.0.1:1", 10.0)
    assert kinds(eff, m.Kill) == [m.Kill(10, signal.SIGTERM, False)]
    assert pm.state == S.STOPPING
    eff = pm.exited(0, "exit status 0", 10.5)
    assert [n for _, n in states(eff)] == [S.STOPPED, S.STARTING] and kinds(eff, m.Spawn)
    # not while the supervisor shuts down
    pm = in_state(S.RUNNING)
    pm.unhealthy("x", 10.0)
    pm.may_autostart = False
    pm.exited(0, "exit status 0", 10.5)
    assert pm.state == S.STOPPED
    assert in_state(S.STOPPED).unhealthy("x", 1.0) == []


def test_stop_command_runs_first_then_sigkill_after_stopwaitsecs():
    pm = in_state(S.RUNNING, stopcommand="/etc/init.d/d stop", stopwaitsecs=10)
    eff = pm.stop(20.0)
    assert kinds(eff, m.RunStopCommand) and not kinds(eff, m.Kill)
    assert pm.state == S.STOPPING and m.Timer(30.0) in eff
    assert pm.stop_command_done(0, 21.0) == []     # then the main pid's exit ends it
    eff = pm.timer(30.0)
    assert kinds(eff, m.Kill) == [m.Kill(10, signal.SIGKILL, False)]
    pm.exited(-1, "terminated by SIGKILL", 30.1)
    assert pm.state == S.STOPPED


def test_a_failed_stop_command_falls_back_to_the_stop_signal():
    pm = in_state(S.RUNNING, stopcommand="/etc/init.d/d stop")
    pm.stop(20.0)
    eff = pm.stop_command_done(1, 20.5)
    assert kinds(eff, m.Kill) == [m.Kill(10, signal.SIGTERM, False)]
    assert pm.state == S.STOPPING


def test_architecture_doc_prints_the_current_table():
    import os
    doc = os.path.join(os.path.dirname(__file__), "..", "docs", "architecture.md")
    assert m.table_text() in open(doc).read()


def test_pidfile_alone_is_running_startsecs_after_the_launch():
    pm = forking_starting(pidfile="/run/d.pid")         # startsecs=5, launched at 100
    eff = pm.ready(101.0, "pidfile /run/d.pid")
    assert not states(eff) and m.Timer(105.0) in eff
    eff = pm.timer(105.0)
    assert states(eff) == [(S.STARTING, S.RUNNING)]
    assert m.Log("info", "success: p entered RUNNING state, ready (pidfile /run/d.pid)") in eff
    pm = forking_starting(pidfile="/run/d.pid")
    pm.ready(101.0, "pidfile /run/d.pid")
    pm.exited(0, "exit status 0", 102.0)                # found, then died: a failed start
    assert pm.state == S.BACKOFF
