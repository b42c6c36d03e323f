"""The daemon on real processes: start-up, states, stop, logs, shutdown."""
import os
import signal

from harness import alive, py, wait_for


def test_programs_start_and_shutdown_stops_them(wrapctld):
    d = wrapctld("[program:a]\ncommand=sleep 1000\nstartsecs=0\n"
                 "[program:b]\ncommand=sleep 1000\nstartsecs=0\n")
    pa = d.wait_state("a", "RUNNING")["pid"]
    pb = d.wait_state("b", "RUNNING")["pid"]
    assert alive(pa) and alive(pb)
    d.stop()
    assert not alive(pa) and not alive(pb)


def test_kill_9_restarts_with_new_pid(wrapctld):
    d = wrapctld("[program:a]\ncommand=sleep 1000\nstartsecs=0\nautorestart=true\n")
    old = d.wait_state("a", "RUNNING")["pid"]
    os.kill(old, signal.SIGKILL)
    info = wait_for(lambda: (i := d.info("a"))["pid"] not in (0, old) and
                    i["statename"] == "RUNNING" and i, what="new pid")
    assert alive(info["pid"])


def test_output_goes_to_log_and_tail(wrapctld):
    d = wrapctld("[program:a]\ncommand=" + py("print('hello out'); import sys,time; "
                                              "sys.stderr.write('hello err'); time.sleep(1000)")
                 + "\nstartsecs=0\n")
    d.wait_state("a", "RUNNING")
    wait_for(lambda: "hello out" in d.rpc().tailProcessStdoutLog("a", 0, 100)[0])
    wait_for(lambda: "hello err" in d.rpc().tailProcessStderrLog("a", 0, 100)[0])
