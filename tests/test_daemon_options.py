"""[program:x] options with an observable effect, on wrapctl and supervisord 4.3 side by side."""
import json
import os
import pwd
import signal
import socket
import xmlrpc.client

import pytest

from harness import alive, read_text, script, wait_for
from harness import settled_wrapctld  # noqa: F401  (overrides conftest's wrapctld)

# Prints one JSON line (argv, cwd, environment), then idles.
DUMP = """\
import json, os, sys, time
print(json.dumps({'argv': sys.argv[1:], 'cwd': os.getcwd(), 'env': dict(os.environ)}),
      flush=True)
time.sleep(1000)
"""

# Notes 'start NAME' in argv[1] once its TERM handler is set, 'stop NAME' when TERM arrives.
ORDER = """\
import signal, sys, time
path, name = sys.argv[1], sys.argv[2]
def note(what):
    with open(path, 'a') as f:
        f.write(what + ' ' + name + '\\n')
def on_term(*a):
    note('stop')
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
note('start')
time.sleep(1000)
"""

# Writes the name of the first signal it gets (of INT, HUP, USR1, QUIT) to argv[1], exits 0.
SIGNAME = """\
import signal, sys, time
def got(sig, frame):
    with open(sys.argv[1], 'w') as f:
        f.write(signal.Signals(sig).name)
    sys.exit(0)
for s in (signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGQUIT):
    signal.signal(s, got)
print('ready', flush=True)
time.sleep(1000)
"""


def dumped(path):
    """The JSON line the DUMP script printed into the log at path."""
    text = wait_for(lambda: (t := read_text(path)).endswith("\n") and t, what=f"output in {path}")
    return json.loads(text.splitlines()[0])


def names(d):
    return [(i["group"], i["name"]) for i in d.rpc().getAllProcessInfo()]


def test_numprocs_and_process_name(wrapctld, kind):
    d = wrapctld("[program:x]\ncommand=sleep 1000\nstartsecs=0\nnumprocs=3\nnumprocs_start=5\n"
                 "process_name=%(program_name)s_%(process_num)02d\n", kind=kind)
    assert names(d) == [("x", "x_05"), ("x", "x_06"), ("x", "x_07")]
    pids = [d.wait_state(f"x:x_0{n}", "RUNNING")["pid"] for n in (5, 6, 7)]
    assert len(set(pids)) == 3 and all(map(alive, pids))
    d.settle()
    results = d.rpc().stopProcessGroup("x")
    assert sorted(r["name"] for r in results) == ["x_05", "x_06", "x_07"]
    assert not any(map(alive, pids))


def test_expansions_and_group(wrapctld, kind, tmp_path, monkeypatch):
    monkeypatch.setenv("WRAPCTL_T_X", "from-env")
    cmd = script(tmp_path, "dump", DUMP)
    d = wrapctld("[group:g]\nprograms=x\n"
                 f"[program:x]\ncommand={cmd} %(here)s %(program_name)s %(process_num)s "
                 "%(group_name)s %(numprocs)s %(host_node_name)s %(ENV_WRAPCTL_T_X)s\n"
                 "process_name=%(program_name)s-%(process_num)s\nnumprocs=2\nstartsecs=0\n"
                 "stdout_logfile=%(here)s/out-%(program_name)s-%(process_num)s.log\n"
                 'environment=EXPANDED="%(program_name)s/%(process_num)s/%(group_name)s"\n',
                 kind=kind)
    assert names(d) == [("g", "x-0"), ("g", "x-1")]
    host = socket.gethostname()
    for n in (0, 1):
        out = dumped(os.path.join(d.root, f"out-x-{n}.log"))
        assert out["argv"] == [d.root, "x", str(n), "g", "2", host, "from-env"]
        assert out["env"]["EXPANDED"] == f"x/{n}/g"
        assert out["env"]["SUPERVISOR_PROCESS_NAME"] == f"x-{n}"
        assert out["env"]["SUPERVISOR_GROUP_NAME"] == "g"


def test_environment_and_supervisor_variables(wrapctld, kind, tmp_path):
    cmd = script(tmp_path, "dump", DUMP)
    d = wrapctld(f"[program:x]\ncommand={cmd}\nstartsecs=0\nstdout_logfile=%(here)s/x.log\n"
                 'environment=A="1",B="two words",C=plain\n'
                 f"[program:y]\ncommand={cmd}\nstartsecs=0\nstdout_logfile=%(here)s/y.log\n"
                 "serverurl=http://127.0.0.1:9\n", kind=kind)
    env = dumped(os.path.join(d.root, "x.log"))["env"]
    assert (env["A"], env["B"], env["C"]) == ("1", "two words", "plain")
    assert env["SUPERVISOR_ENABLED"] == "1"
    assert env["SUPERVISOR_PROCESS_NAME"] == "x"
    assert env["SUPERVISOR_GROUP_NAME"] == "x"
    assert env["SUPERVISOR_SERVER_URL"] == "unix://" + d.sock
    assert env["WRAPCTL_TEST_SESSION"] == os.environ["WRAPCTL_TEST_SESSION"]    # inherited
    env = dumped(os.path.join(d.root, "y.log"))["env"]
    assert env["SUPERVISOR_SERVER_URL"] == "http://127.0.0.1:9"
    assert "A" not in env


def test_directory_and_umask(wrapctld, kind, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    probe = script(tmp_path, "probe", "import os, sys\nopen(sys.argv[1], 'w').close()\n"
                                      "print(os.getcwd(), flush=True)\n")
    d = wrapctld(f"[program:x]\ncommand={probe} made-by-x\ndirectory={work}\numask=027\n"
                 "startsecs=0\nautorestart=false\nstdout_logfile=%(here)s/x.log\n"
                 f"[program:y]\ncommand={probe} made-by-y\ndirectory={work}\numask=0\n"
                 "startsecs=0\nautorestart=false\nstdout_logfile=%(here)s/y.log\n", kind=kind)
    d.wait_state("x", "EXITED")
    d.wait_state("y", "EXITED")
    assert read_text(os.path.join(d.root, "x.log")) == f"{work}\n"
    assert (work / "made-by-x").stat().st_mode & 0o777 == 0o640
    assert (work / "made-by-y").stat().st_mode & 0o777 == 0o666


def test_priority_start_order_and_reverse_stop_order(wrapctld, kind, tmp_path):
    cmd = script(tmp_path, "order", ORDER)
    progs = {"c": 100, "a": 300, "b": 200, "d": 150}
    ini = "".join(f"[program:{n}]\ncommand={cmd} {tmp_path}/order {n}\npriority={p}\n"
                  "startsecs=0\nstopwaitsecs=5\n" for n, p in progs.items())
    d = wrapctld(ini, kind=kind)
    wait_for(lambda: read_text(tmp_path / "order").count("start") == 4, what="four starts")
    spawned = [m.split("'")[1] for _, _, m in d.log_matches(r"^spawned: '")]
    assert spawned == ["c", "d", "b", "a"]
    d.stop()
    stops = [line.split()[1] for line in read_text(tmp_path / "order").splitlines()
             if line.startswith("stop")]
    assert stops == ["a", "b", "d", "c"]


GROUP_OF_THREE = ("[group:g]\nprograms=p1,p2,p3\n" + "".join(
    f"[program:p{n}]\ncommand=sleep 1000\nstartsecs=0\npriority={prio}\nautostart={{auto}}\n"
    for n, prio in ((1, 30), (2, 10), (3, 20))))


def test_priority_inside_a_group_on_group_start(wrapctld, kind):
    d = wrapctld(GROUP_OF_THREE.format(auto="false"), kind=kind)
    d.rpc().startProcessGroup("g")
    spawned = [m.split("'")[1] for _, _, m in d.log_matches(r"^spawned: '")]
    assert spawned == ["p2", "p3", "p1"]


def test_priority_inside_a_group_at_autostart(wrapctld):
    # supervisord 4.3 autostarts a group's processes in programs= order, ignoring their
    # priority (its startProcessGroup does sort); wrapctl follows priority in both cases.
    d = wrapctld(GROUP_OF_THREE.format(auto="true"))
    d.wait_log(r"^spawned: 'p\d'", count=3)
    spawned = [m.split("'")[1] for _, _, m in d.log_matches(r"^spawned: '")]
    assert spawned == ["p2", "p3", "p1"]


def test_stopsignal(wrapctld, kind, tmp_path):
    cmd = script(tmp_path, "signame", SIGNAME)
    d = wrapctld(f"[program:x]\ncommand={cmd} %(here)s/got\nstopsignal=INT\nstartsecs=0\n"
                 "stdout_logfile=%(here)s/x.log\n"
                 f"[program:y]\ncommand={cmd} %(here)s/got-y\nstopsignal=USR1\nstartsecs=0\n"
                 "stdout_logfile=%(here)s/y.log\n", kind=kind)
    for n in ("x", "y"):
        d.wait_state(n, "RUNNING")
        wait_for(lambda: "ready" in read_text(os.path.join(d.root, f"{n}.log")))
        d.rpc().stopProcess(n)
    assert read_text(os.path.join(d.root, "got")) == "SIGINT"
    assert read_text(os.path.join(d.root, "got-y")) == "SIGUSR1"
    d.wait_log(r"^stopped: x \(exit status 0\)$")


SHELL_WITH_CHILD = "sh -c 'sleep 1000 & echo $! > %(here)s/child; wait'"
TERM_DEAF_SHELL_WITH_CHILD = "sh -c 'trap \"\" TERM; sleep 1000 & echo $! > %(here)s/child; wait'"


def _child_pid(d):
    path = os.path.join(d.root, "child")
    return int(wait_for(lambda: (t := read_text(path)).endswith("\n") and t, what="child pid"))


def test_stopasgroup_stops_the_shells_child(wrapctld, kind):
    d = wrapctld(f"[program:x]\ncommand={SHELL_WITH_CHILD}\nstartsecs=0\nstopasgroup=true\n"
                 "killasgroup=true\n", kind=kind)
    pid = d.wait_state("x", "RUNNING")["pid"]
    child = _child_pid(d)
    assert alive(child)
    d.rpc().stopProcess("x")
    assert not alive(pid)
    wait_for(lambda: not alive(child), what="child gone")


def test_without_stopasgroup_the_child_survives(wrapctld, kind):
    # wrapctl stops a program's whole tree by default; killtree=false is supervisord's way
    # (a wrapctl-only option, so only the wrapctl variant gets it).
    extra = "killtree=false\n" if kind == "wrapctl" else ""
    d = wrapctld(f"[program:x]\ncommand={SHELL_WITH_CHILD}\nstartsecs=0\n{extra}", kind=kind)
    pid = d.wait_state("x", "RUNNING")["pid"]
    child = _child_pid(d)
    try:
        d.rpc().stopProcess("x")
        assert not alive(pid)
        assert alive(child)
    finally:
        os.kill(child, signal.SIGKILL)


def test_wrapctl_stops_the_whole_tree_by_default(wrapctld):
    d = wrapctld(f"[program:x]\ncommand={SHELL_WITH_CHILD}\nstartsecs=0\n")
    pid = d.wait_state("x", "RUNNING")["pid"]
    child = _child_pid(d)
    d.rpc().stopProcess("x")
    assert not alive(pid)
    wait_for(lambda: not alive(child), what="child gone")


def test_killasgroup_kills_the_shells_child_after_stopwaitsecs(wrapctld, kind):
    d = wrapctld(f"[program:x]\ncommand={TERM_DEAF_SHELL_WITH_CHILD}\nstartsecs=0\n"
                 "stopwaitsecs=1\nkillasgroup=true\n", kind=kind)
    pid = d.wait_state("x", "RUNNING")["pid"]
    child = _child_pid(d)
    d.rpc().stopProcess("x")
    assert not alive(pid)
    wait_for(lambda: not alive(child), what="child gone")
    d.wait_log(r"^stopped: x \(terminated by SIGKILL\)$")


@pytest.mark.skipif(os.geteuid() != 0, reason="user= needs root")
def test_user(wrapctld, kind):
    pw = pwd.getpwnam("nobody")
    d = wrapctld("[program:x]\ncommand=sh -c 'id -u && id -g'\nuser=nobody\nstartsecs=0\n"
                 "autorestart=false\nstdout_logfile=%(here)s/x.log\n", kind=kind)
    d.wait_state("x", "EXITED")
    assert read_text(os.path.join(d.root, "x.log")).split() == [str(pw.pw_uid), str(pw.pw_gid)]


OUT_AND_ERR = ("import sys, time\nprint('to-out', flush=True)\n"
               "sys.stderr.write('to-err\\n')\nsys.stderr.flush()\ntime.sleep(1000)\n")


def test_logfiles_redirect_stderr_and_none(wrapctld, kind, tmp_path):
    cmd = script(tmp_path, "outerr", OUT_AND_ERR)
    d = wrapctld(f"[program:x]\ncommand={cmd}\nstartsecs=0\nstdout_logfile=%(here)s/o.log\n"
                 "stderr_logfile=%(here)s/e.log\n"
                 f"[program:r]\ncommand={cmd}\nstartsecs=0\nstdout_logfile=%(here)s/r.log\n"
                 "redirect_stderr=true\n"
                 f"[program:n]\ncommand={cmd}\nstartsecs=0\nstdout_logfile=NONE\n"
                 "stderr_logfile=NONE\n", kind=kind)
    # explicit paths
    o, e = os.path.join(d.root, "o.log"), os.path.join(d.root, "e.log")
    wait_for(lambda: read_text(o) == "to-out\n" and read_text(e) == "to-err\n",
             what="both logs")
    info = d.info("x")
    assert (info["stdout_logfile"], info["stderr_logfile"]) == (o, e)
    assert d.rpc().tailProcessStderrLog("x", 0, 100)[0] == "to-err\n"
    # redirect_stderr: both streams in the stdout log, no stderr log
    r = os.path.join(d.root, "r.log")
    wait_for(lambda: sorted(read_text(r).split()) == ["to-err", "to-out"], what="merged log")
    assert d.info("r")["stderr_logfile"] == ""
    # NONE: no file at all
    info = d.wait_state("n", "RUNNING")
    assert (info["stdout_logfile"], info["stderr_logfile"]) == ("", "")
    assert d.rpc().tailProcessStdoutLog("n", 0, 100) == ["", 0, False]
    for call in (d.rpc().readProcessStdoutLog, d.rpc().readProcessStderrLog):
        with pytest.raises(xmlrpc.client.Fault) as exc:
            call("n", 0, 100)
        assert exc.value.faultCode == 20      # NO_FILE
    assert os.listdir(os.path.join(d.root, "logs")) == []


def test_auto_logs_in_childlogdir(wrapctld, kind, tmp_path):
    cmd = script(tmp_path, "outerr", OUT_AND_ERR)
    logs = tmp_path / "d0" / "logs"
    logs.mkdir(parents=True)
    # A leftover AUTO log of an earlier run: removed at start-up (nocleanup=false).
    stale = logs / "old-stdout---supervisor-abc123.log"
    stale.write_text("stale")
    d = wrapctld(f"[program:x]\ncommand={cmd}\nstartsecs=0\n", kind=kind)
    info = d.wait_state("x", "RUNNING")
    for ch in ("stdout", "stderr"):
        path = info[f"{ch}_logfile"]
        assert os.path.dirname(path) == str(logs)
        assert os.path.basename(path).startswith(f"x-{ch}---supervisor-")
        assert path.endswith(".log")
        wait_for(lambda: read_text(path) == f"to-{ch[3:]}\n", what=f"{ch} in {path}")
    assert not stale.exists()


def test_include_relative_to_including_file(wrapctld, kind, tmp_path):
    cmd = script(tmp_path, "dump", DUMP)
    conf_d = tmp_path / "d0" / "conf.d"
    conf_d.mkdir(parents=True)
    (conf_d / "one.conf").write_text(f"[program:inc]\ncommand={cmd} %(here)s\nstartsecs=0\n"
                                     "stdout_logfile=%(here)s/inc.log\n")
    (conf_d / "two.conf").write_text("[group:both]\nprograms=inc2,main\n"
                                     "[program:inc2]\ncommand=sleep 1000\nstartsecs=0\n")
    (conf_d / "skipped.ini").write_text("[program:never]\ncommand=sleep 1000\n")
    d = wrapctld("[include]\nfiles=conf.d/*.conf\n"
                 "[program:main]\ncommand=sleep 1000\nstartsecs=0\n", kind=kind)
    assert sorted(names(d)) == [("both", "inc2"), ("both", "main"), ("inc", "inc")]
    # %(here)s in an included file is the included file's directory.
    assert dumped(str(conf_d / "inc.log"))["argv"] == [str(conf_d)]
