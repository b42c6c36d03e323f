"""Whole-tree stop: a program's descendants do not outlive it (killtree, the default)."""
import os
import signal
import sys

import psutil

from harness import alive, py, wait_for

# A shell that starts a background child and a double-forked setsid() grandchild (whose
# parent exits at once, so it is orphaned), then waits. Each child
# writes its pid to a file so the test knows exactly which processes to look for.
FAMILY = """#!/bin/sh
{trap}
sleep 1000 &
echo $! >> {pids}
{py} -c 'import os, time; os.fork() and os._exit(0); os.setsid(); open("{pids}", "a").write(str(os.getpid()) + "\\n"); time.sleep(1000)' &
wait
"""


def family(tmp_path, ignore_term=False):
    pids = tmp_path / "pids"
    script = tmp_path / "family.sh"
    script.write_text(FAMILY.format(trap="trap '' TERM" if ignore_term else "", pids=pids,
                                    py=sys.executable))
    script.chmod(0o755)
    return pids, str(script)


def read_pids(path, n):
    wait_for(lambda: path.exists() and len(path.read_text().split()) >= n, what=f"{n} pids")
    return [int(x) for x in path.read_text().split()]


def test_stop_kills_setsid_descendants(wrapctld, tmp_path):
    pids_file, cmd = family(tmp_path)
    d = wrapctld(f"[program:fam]\ncommand={cmd}\nstartsecs=0\nstopwaitsecs=2\n")
    main = d.wait_state("fam", "RUNNING")["pid"]
    kids = read_pids(pids_file, 2)
    assert all(alive(p) for p in kids)
    d.rpc().stopProcess("fam")
    assert not alive(main)
    wait_for(lambda: not any(alive(p) for p in kids), deadline=10, what="descendants gone")


def test_crash_of_main_process_cleans_up_its_tree(wrapctld, tmp_path):
    pids_file, cmd = family(tmp_path)
    d = wrapctld(f"[program:fam]\ncommand={cmd}\nstartsecs=0\nautorestart=false\n"
                 "stopwaitsecs=2\n")
    main = d.wait_state("fam", "RUNNING")["pid"]
    kids = read_pids(pids_file, 2)
    os.kill(main, signal.SIGKILL)
    d.wait_state("fam", "EXITED")
    wait_for(lambda: not any(alive(p) for p in kids), deadline=10, what="descendants gone")


def test_killtree_false_keeps_supervisord_behaviour(wrapctld, tmp_path):
    pids_file, cmd = family(tmp_path)
    d = wrapctld(f"[program:fam]\ncommand={cmd}\nstartsecs=0\nkilltree=false\n")
    d.wait_state("fam", "RUNNING")
    kids = read_pids(pids_file, 2)
    d.rpc().stopProcess("fam")
    try:
        assert all(alive(p) for p in kids), "killtree=false must leave children running"
    finally:
        for p in kids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_orphans_are_reparented_to_the_daemon(wrapctld, tmp_path):
    pids_file, cmd = family(tmp_path)
    d = wrapctld(f"[program:fam]\ncommand={cmd}\nstartsecs=0\n")
    d.wait_state("fam", "RUNNING")
    kids = read_pids(pids_file, 2)
    daemon = d.proc.pid
    # the grandchild's parent exits at once: as a subreaper, the daemon inherits it
    grand = psutil.Process(kids[1])
    wait_for(lambda: grand.ppid() == daemon, deadline=10, what="re-parenting to the daemon")
