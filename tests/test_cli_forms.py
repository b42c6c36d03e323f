"""Argument forms: supervisorctl joins its arguments with spaces and reparses the line, so
`'signal HUP' x`, `signal 'HUP x'` and `'stop x'` work there (Ansible's supervisorctl module
passes `signal HUP` as one argument). wrapctl must give the same text, status and effect.
Also: --version / version --verbose say which version is which, a missing daemon gets a
hint on how to start one, and `shim` is listed in the help.
"""
import pytest

from test_cli_server import PY, normalize, run_wrapctl, server, wait_for  # noqa: F401

PROGRAMS = f"""
[program:a]
command=sleep 1000
startsecs=0

[program:sig]
command={PY} -u -c "import signal,sys,time; signal.signal(signal.SIGHUP, lambda *a: print('hup', flush=True)); print('ready', flush=True); time.sleep(1000)"
startsecs=0
"""

SIGNAL_FORMS = [("signal HUP", "sig"), ("signal", "HUP sig"), ("signal HUP sig",),
                ("signal", "HUP", "sig"), ("signal ", " HUP", "", "sig ")]


@pytest.fixture
def s(server):
    s = server(PROGRAMS)
    s.wait_state("a", "RUNNING")
    s.wait_state("sig", "RUNNING")
    return s


def hups(s):
    return s.rpc().readProcessStdoutLog("sig", 0, 0).count("hup")


def compare(a, b, args):
    assert (normalize(b.stdout), b.returncode) == (normalize(a.stdout), a.returncode), \
        f"{args}: supervisorctl={a!r} wrapctl={b!r}"
    assert "Traceback" not in b.stderr and "No such command" not in b.stderr, b.stderr


@pytest.mark.parametrize("args", SIGNAL_FORMS)
def test_signal_forms(s, args):
    a = s.ctl(*args)
    assert (a.stdout, a.returncode) == ("sig: signalled\n", 0), a
    wait_for(lambda: hups(s) == 1, what="supervisorctl's HUP")
    b = s.wrapctl(*args)
    compare(a, b, args)
    wait_for(lambda: hups(s) == 2, what="wrapctl's HUP")


@pytest.mark.parametrize("form", [("stop a",), ("stop", "a "), (" stop  a",)])
def test_stop_start_forms(s, form):
    rpc = s.rpc()
    a = s.ctl(*form)
    assert rpc.getProcessInfo("a")["statename"] == "STOPPED"
    rpc.startProcess("a")
    b = s.wrapctl(*form)
    compare(a, b, form)
    assert rpc.getProcessInfo("a")["statename"] == "STOPPED"
    start = tuple(w.replace("stop", "start") for w in form)
    a = s.ctl(*start)
    rpc.stopProcess("a")
    b = s.wrapctl(*start)
    compare(a, b, start)
    assert rpc.getProcessInfo("a")["statename"] == "RUNNING"


@pytest.mark.parametrize("args", [("status a",), ("status", "a sig"), ("pid a",),
                                  ("signal 'HUP'", "sig"), ("signal HUP",), ("signal",),
                                  ("stop nope",), ("tail", "-100 sig"), ("version x",)])
def test_other_forms(s, args):
    compare(s.ctl(*args), s.wrapctl(*args), args)


def test_ansible_style(s):
    """community.general.supervisorctl, state=signalled: `status`, parsed by columns, then
    [path, -c, conf, 'signal HUP', name] for each RUNNING match, and it fails unless the
    output holds 'NAME: signalled'."""
    for tool in (s.ctl, s.wrapctl):
        before = hups(s)
        out = tool("status")
        running = [line.split()[0] for line in out.stdout.splitlines()
                   if line.split()[1] == "RUNNING"]
        assert "sig" in running
        r = tool("signal HUP", "sig")
        assert r.returncode == 0 and "sig: signalled" in r.stdout, r
        wait_for(lambda: hups(s) == before + 1, what="HUP")
        r = tool("stop", "a")
        assert r.returncode == 0 and "a: stopped" in r.stdout
        r = tool("start", "a")
        assert r.returncode == 0 and "a: started" in r.stdout


def test_wrapctl_only_commands_keep_their_arguments(tmp_path):
    # `recipes show 'x y'` is one (unknown) recipe name, not two words re-split.
    r = run_wrapctl(None, "recipes show", "nginx")
    assert r.returncode == 2 and "No such command" in r.stderr


def test_versions_say_what_they_are(s):
    r = run_wrapctl(None, "--version")
    assert (r.stdout, r.returncode) == ("wrapctl 0.1.0\n", 0)
    r = s.wrapctl("version")
    assert (r.stdout, r.returncode) == ("4.3.0\n", 0)
    r = s.wrapctl("version", "--verbose")
    assert r.returncode == 0
    assert r.stdout == (f"daemon at {s.url}: supervisord-compatible version 4.3.0\n"
                        "client: wrapctl 0.1.0 (`wrapctl --version`)\n")
    assert "wrapctl --version" in run_wrapctl(None, "version", "--help").stdout


def test_no_daemon_says_how_to_start(tmp_path):
    conf = tmp_path / "c.conf"
    sock = tmp_path / "gone.sock"
    conf.write_text(f"[supervisorctl]\nserverurl=unix://{sock}\n")
    for args, rc in ((("status",), 4), (("stop", "a"), 7), (("reread",), 1), (("version",), 7)):
        r = run_wrapctl(str(conf), *args)
        assert (r.stdout, r.returncode) == (f"unix://{sock} no such file\n", rc), r
        assert r.stderr == (f"wrapctl: no daemon at unix://{sock}: start it with "
                            f"`wrapctl daemon -c {conf}`\n"), r


def test_shim_in_help():
    r = run_wrapctl(None, "--help")
    assert r.returncode == 0
    assert any(line.split()[:1] == ["shim"] for line in r.stdout.splitlines()), r.stdout
