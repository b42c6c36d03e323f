"""The configuration parser: every option, defaults, expansions, includes, the group model."""
import os
import platform
import pwd
import signal
import tempfile

import pytest

from config_helpers import load_text, proc, write
from wrapctl.config import (AUTO, ConfigError, EventListenerConfig, ProcessConfig, find_config,
                            load, search_paths)
from wrapctl.config.records import LogConfig

MINIMAL = """
[supervisord]
[program:x]
command=/bin/true
"""


def test_minimal_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_text(tmp_path, MINIMAL)
    assert cfg.path == str(tmp_path / "supervisord.conf")
    assert cfg.here == str(tmp_path)
    assert cfg.files == (cfg.path,)
    assert cfg.warnings == ()
    d = cfg.daemon
    assert d.logfile == str(tmp_path / "supervisord.log")
    assert d.pidfile == str(tmp_path / "supervisord.pid")
    assert d.childlogdir == os.path.abspath(tempfile.gettempdir())
    assert (d.logfile_maxbytes, d.logfile_backups, d.loglevel) == (50 * 1024 * 1024, 10, "info")
    assert (d.umask, d.nodaemon, d.silent, d.minfds, d.minprocs) == (0o022, False, False, 1024, 200)
    assert (d.nocleanup, d.strip_ansi, d.user, d.directory) == (False, False, None, None)
    assert (d.environment, d.identifier, d.uid) == ((), "supervisor", None)
    assert cfg.unix_server is None and cfg.inet_server is None
    assert cfg.ctl.serverurl == "http://localhost:9001"
    assert (cfg.ctl.prompt, cfg.ctl.username, cfg.ctl.history_file) == ("supervisor", None, None)
    [g] = cfg.groups
    assert (g.name, g.priority, g.kind) == ("x", 999, "program")
    [p] = g.processes
    assert type(p) is ProcessConfig
    assert p == ProcessConfig(name="x", group="x", command="/bin/true", program="x")
    assert p.stdout == LogConfig() and p.stdout.logfile == AUTO
    assert p.where.line == 2 and p.where.section == "program:x"


def test_program_every_option(tmp_path):
    me = pwd.getpwuid(os.getuid())
    (tmp_path / "logs").mkdir()
    cfg = load_text(tmp_path, f"""
        [supervisord]
        [program:web]
        command = /bin/echo hello
        process_name = w%(process_num)d
        numprocs = 2
        numprocs_start = 3
        priority = 7
        autostart = false
        startsecs = 0
        startretries = 9
        autorestart = true
        exitcodes = 0,2,255
        stopsignal = QUIT
        stopwaitsecs = 30
        stopasgroup = true
        killasgroup = true
        user = {me.pw_name}
        redirect_stderr = true
        stdout_logfile = %(here)s/logs/%(program_name)s-%(process_num)s.log
        stdout_logfile_maxbytes = 1KB
        stdout_logfile_backups = 0
        stdout_capture_maxbytes = 2MB
        stdout_events_enabled = yes
        stdout_syslog = on
        stderr_logfile = NONE
        stderr_logfile_maxbytes = 1GB
        stderr_logfile_backups = 4
        stderr_capture_maxbytes = 3
        stderr_events_enabled = 1
        stderr_syslog = true
        environment = A="1, 2",B=two
        directory = /tmp
        umask = 027
        serverurl = http://127.0.0.1:9999
    """)
    assert cfg.warnings == ()
    [g] = cfg.groups
    assert [p.name for p in g.processes] == ["w3", "w4"]
    p = g.processes[0]
    assert (p.command, p.program, p.group, p.process_num) == ("/bin/echo hello", "web", "web", 3)
    assert (p.priority, p.autostart, p.startsecs, p.startretries) == (7, False, 0, 9)
    assert (p.autorestart, p.exitcodes) == ("true", (0, 2, 255))
    assert (p.stopsignal, p.stopwaitsecs) == (signal.SIGQUIT, 30)
    assert (p.stopasgroup, p.killasgroup) == (True, True)
    assert (p.user, p.uid, p.gid) == (me.pw_name, me.pw_uid, me.pw_gid)
    assert p.redirect_stderr is True
    assert p.stdout == LogConfig(logfile=str(tmp_path / "logs" / "web-3.log"), maxbytes=1024,
                                 backups=0, capture_maxbytes=2 * 1024 * 1024,
                                 events_enabled=True, syslog=True)
    assert p.stderr == LogConfig(logfile=None, maxbytes=1024 ** 3, backups=4, capture_maxbytes=3,
                                 events_enabled=True, syslog=True)
    assert p.environment == (("A", "1, 2"), ("B", "two"))
    assert (p.directory, p.umask, p.serverurl) == ("/tmp", 0o027, "http://127.0.0.1:9999")
    assert g.processes[1].stdout.logfile == str(tmp_path / "logs" / "web-4.log")


@pytest.mark.parametrize("value,expected", [
    ("true", "true"), ("yes", "true"), ("On", "true"), ("1", "true"),
    ("false", "false"), ("no", "false"), ("off", "false"), ("0", "false"),
    ("unexpected", "unexpected"), ("UNEXPECTED", "unexpected"),
])
def test_autorestart_values(tmp_path, value, expected):
    cfg = load_text(tmp_path, MINIMAL + f"autorestart={value}\n")
    assert proc(cfg, "x").autorestart == expected


@pytest.mark.parametrize("value,expected", [
    ("TERM", 15), ("term", 15), ("SIGHUP", 1), ("KILL", 9), ("USR2", signal.SIGUSR2),
    ("9", 9), ("WINCH", signal.SIGWINCH),
])
def test_stopsignal_values(tmp_path, value, expected):
    assert proc(load_text(tmp_path, MINIMAL + f"stopsignal={value}\n"), "x").stopsignal == expected


@pytest.mark.parametrize("value,expected", [
    ("0", 0), ("100", 100), ("1kb", 1024), ("5KB", 5120), ("2MB", 2 * 1024 ** 2),
    ("3GB", 3 * 1024 ** 3),
])
def test_byte_sizes(tmp_path, value, expected):
    cfg = load_text(tmp_path, MINIMAL + f"stdout_logfile_maxbytes={value}\nstdout_logfile=NONE\n")
    assert proc(cfg, "x").stdout.maxbytes == expected


@pytest.mark.parametrize("value,expected", [
    ("NONE", None), ("none", None), ("OFF", None), ("AUTO", AUTO), ("auto", AUTO),
])
def test_logfile_special_values(tmp_path, value, expected):
    cfg = load_text(tmp_path, MINIMAL + f"stdout_logfile={value}\nstderr_logfile={value}\n")
    p = proc(cfg, "x")
    assert (p.stdout.logfile, p.stderr.logfile) == (expected, expected)


def test_logfile_relative_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_text(tmp_path, MINIMAL + "stdout_logfile=out.log\n")
    assert proc(cfg, "x").stdout.logfile == str(tmp_path / "out.log")


def test_logfile_syslog_is_deprecated_form_of_syslog_true(tmp_path):
    cfg = load_text(tmp_path, MINIMAL + "stdout_logfile=syslog\n")
    p = proc(cfg, "x")
    assert (p.stdout.logfile, p.stdout.syslog) == (None, True)
    [w] = cfg.warnings
    assert w.startswith(f"{cfg.path}:4: [program:x] stdout_logfile: ") and "deprecated" in w


def test_redirect_stderr_drops_stderr_logfile_with_warning(tmp_path):
    cfg = load_text(tmp_path, MINIMAL + "redirect_stderr=true\nstderr_logfile=/tmp/e.log\n")
    assert proc(cfg, "x").stderr.logfile is None
    [w] = cfg.warnings
    assert w.startswith(f"{cfg.path}:5: [program:x] stderr_logfile: ")


def test_redirect_stderr_auto_stderr_becomes_none_silently(tmp_path):
    cfg = load_text(tmp_path, MINIMAL + "redirect_stderr=true\n")
    assert proc(cfg, "x").stderr.logfile is None and cfg.warnings == ()


def test_auto_log_without_rotation_warns(tmp_path):
    cfg = load_text(tmp_path, MINIMAL + "stdout_logfile_maxbytes=0\n")
    [w] = cfg.warnings
    assert w.startswith(f"{cfg.path}:4: [program:x] stdout_logfile_maxbytes: ")


@pytest.mark.parametrize("opts,expected", [
    ("", (False, False)), ("stopasgroup=true\n", (True, True)),
    ("killasgroup=true\n", (False, True)), ("stopasgroup=false\nkillasgroup=false\n", (False, False)),
])
def test_killasgroup_defaults_to_stopasgroup(tmp_path, opts, expected):
    p = proc(load_text(tmp_path, MINIMAL + opts), "x")
    assert (p.stopasgroup, p.killasgroup) == expected


def test_user_by_number(tmp_path):
    cfg = load_text(tmp_path, MINIMAL + f"user={os.getuid()}\n")
    p = proc(cfg, "x")
    assert (p.uid, p.gid) == (os.getuid(), pwd.getpwuid(os.getuid()).pw_gid)


def test_exitcodes_empty_means_none_expected(tmp_path):
    assert proc(load_text(tmp_path, MINIMAL + "exitcodes=\n"), "x").exitcodes == ()


# -- numprocs and expansions -------------------------------------------------------------

def test_numprocs_names_and_numbers(tmp_path):
    cfg = load_text(tmp_path, """
        [supervisord]
        [program:q]
        command=/bin/sleep %(process_num)s %(numprocs)s
        process_name=%(program_name)s_%(process_num)02d
        numprocs=3
        numprocs_start=9
    """)
    ps = cfg.group("q").processes
    assert [(p.name, p.process_num, p.command) for p in ps] == [
        ("q_09", 9, "/bin/sleep 9 3"), ("q_10", 10, "/bin/sleep 10 3"),
        ("q_11", 11, "/bin/sleep 11 3")]


def test_numprocs_zero_gives_an_empty_group(tmp_path):
    cfg = load_text(tmp_path, MINIMAL + "numprocs=0\n")
    assert cfg.group("x").processes == ()


def test_expansions_in_program_options(tmp_path):
    cfg = load_text(tmp_path, """
        [supervisord]
        environment=GLOBAL="g v",SHARED=from-supervisord
        [group:grp]
        programs=p
        [program:p]
        command=/bin/echo %(here)s %(program_name)s %(group_name)s %(host_node_name)s 100%%
        environment=OWN=/%(program_name)s,SHARED=from-program
        directory=%(ENV_GLOBAL)s
        stdout_logfile=%(here)s%(ENV_OWN)s.log
        stderr_logfile=NONE
        serverurl=unix://%(ENV_HOME)s/%(program_name)s.sock
        exe=%(program_name)s-%(process_num)s
    """, environ={"HOME": "/home/u"})
    p = proc(cfg, "p")
    assert p.command == f"/bin/echo {tmp_path} p grp {platform.node()} 100%"
    assert p.directory == "g v"
    assert p.environment == (("GLOBAL", "g v"), ("SHARED", "from-program"), ("OWN", "/p"))
    assert p.stdout.logfile == f"{tmp_path}/p.log"
    # (a wrapctl-only option, expanded per process like command; recipe= now names a real
    # recipe, resolved before expansion, so exe= carries this check)
    assert p.extra == (("exe", "p-0"),)
    assert p.serverurl == "unix:///home/u/p.sock"


def test_program_environment_feeds_env_expansion_of_command(tmp_path):
    cfg = load_text(tmp_path, MINIMAL.replace("/bin/true", "/bin/echo %(ENV_MINE)s")
                    + "environment=MINE=yes\n")
    assert proc(cfg, "x").command == "/bin/echo yes"


def test_program_environment_is_not_visible_to_program_level_options(tmp_path):
    # supervisord expands priority & co. before the per-process environment exists
    with pytest.raises(ConfigError) as e:
        load_text(tmp_path, MINIMAL + "environment=P=5\npriority=%(ENV_P)s\n")
    assert "[program:x] priority: cannot expand %(ENV_P)s" in str(e.value)


def test_supervisord_environment_expands_in_later_sections(tmp_path):
    cfg = load_text(tmp_path, """
        [supervisord]
        environment=PORT=9123
        [inet_http_server]
        port=127.0.0.1:%(ENV_PORT)s
    """)
    assert (cfg.inet_server.host, cfg.inet_server.port) == ("127.0.0.1", 9123)


def test_environment_quoting(tmp_path):
    cfg = load_text(tmp_path, MINIMAL + """environment=A="x,y",B='q r',C=/p/a.b+c-d:e,D=""\n""")
    assert proc(cfg, "x").environment == (("A", "x,y"), ("B", "q r"), ("C", "/p/a.b+c-d:e"),
                                          ("D", ""))


def test_environ_argument_drives_env_expansions(tmp_path):
    cfg = load_text(tmp_path, MINIMAL.replace("/bin/true", "/bin/%(ENV_WHAT)s"),
                    environ={"WHAT": "false"})
    assert proc(cfg, "x").command == "/bin/false"


# -- syntax --------------------------------------------------------------------------------

def test_inline_comments_and_syntax(tmp_path):
    cfg = load_text(tmp_path, """
        ; a comment
        # another
        [supervisord]   ; comment after a header
        identifier = id;not-a-comment ; a comment
        [program:x]
        command: /bin/echo a#b  # comment
          continued
            more
        CommandX=1
    """)
    assert cfg.daemon.identifier == "id;not-a-comment"
    assert proc(cfg, "x").command == "/bin/echo a#b\ncontinued\nmore"
    [w] = cfg.warnings
    assert w == f"{cfg.path}:9: [program:x] commandx: unknown option"


def test_blank_line_inside_continued_value(tmp_path):
    cfg = load_text(tmp_path, "[supervisord]\n[program:x]\ncommand=/bin/echo a\n\n  b\n\n")
    assert proc(cfg, "x").command == "/bin/echo a\n\nb"


def test_default_section_is_inherited(tmp_path):
    cfg = load_text(tmp_path, """
        [DEFAULT]
        autostart=false
        [supervisord]
        [program:x]
        command=/bin/true
        [program:y]
        command=/bin/true
        autostart=true
    """)
    assert (proc(cfg, "x").autostart, proc(cfg, "y").autostart) == (False, True)


def test_repeated_option_later_wins_with_warning(tmp_path):
    cfg = load_text(tmp_path, MINIMAL + "priority=1\npriority=2\n")
    assert proc(cfg, "x").priority == 2
    [w] = cfg.warnings
    assert w.startswith(f"{cfg.path}:5: [program:x] priority: repeated option")


def test_reopened_section_merges(tmp_path):
    cfg = load_text(tmp_path, MINIMAL + "[program:y]\ncommand=/bin/true\n[program:x]\npriority=3\n")
    assert proc(cfg, "x").priority == 3 and proc(cfg, "x").command == "/bin/true"


# -- include ------------------------------------------------------------------------------

def test_include_globs_here_and_files(tmp_path):
    write(tmp_path, "conf.d/b.conf", """
        [program:b]
        command=/bin/echo %(here)s
    """)
    write(tmp_path, "conf.d/a.conf", """
        [program:a]
        command=/bin/echo %(here)s
        [unix_http_server]
        file=%(here)s/s.sock
    """)
    write(tmp_path, "conf.d/ignored.txt", "[program:z]\ncommand=/bin/true\n")
    cfg = load_text(tmp_path, """
        [supervisord]
        logfile=%(here)s/main.log
        [include]
        files = conf.d/*.conf   /nonexistent/*.conf
    """)
    sub = tmp_path / "conf.d"
    assert cfg.files == (cfg.path, str(sub / "a.conf"), str(sub / "b.conf"))
    assert proc(cfg, "a").command == f"/bin/echo {sub}"
    assert proc(cfg, "b").command == f"/bin/echo {sub}"
    assert cfg.unix_server.file == str(sub / "s.sock")
    assert cfg.daemon.logfile == str(tmp_path / "main.log")
    assert cfg.group("z") is None
    [w] = cfg.warnings
    assert w == f'{cfg.path}:4: [include] files: no file matches "/nonexistent/*.conf"'


def test_include_is_relative_to_including_file_not_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    write(tmp_path, "etc/sub/p.ini", "[program:p]\ncommand=/bin/true\n")
    cfg = load_text(tmp_path, "[supervisord]\n[include]\nfiles=sub/*.ini\n", name="etc/main.conf")
    assert proc(cfg, "p").where.file == str(tmp_path / "etc" / "sub" / "p.ini")


def test_supervisord_section_may_come_from_an_include(tmp_path):
    write(tmp_path, "d.conf", "[supervisord]\nidentifier=inc\n")
    cfg = load_text(tmp_path, "[include]\nfiles=d.conf\n")
    assert cfg.daemon.identifier == "inc"


def test_nested_include_is_ignored_with_warning(tmp_path):
    write(tmp_path, "one.conf", "[include]\nfiles=two.conf\n[program:one]\ncommand=/bin/true\n")
    write(tmp_path, "two.conf", "[program:two]\ncommand=/bin/true\n")
    cfg = load_text(tmp_path, "[supervisord]\n[include]\nfiles=one.conf\n")
    assert cfg.group("one") is not None and cfg.group("two") is None
    assert any("[include] is only read from the main file" in w for w in cfg.warnings)


def test_include_of_main_file_is_skipped(tmp_path):
    cfg = load_text(tmp_path, "[supervisord]\n[include]\nfiles=*.conf\n")
    assert cfg.files == (cfg.path,)
    assert any("already read" in w for w in cfg.warnings)


# -- groups -------------------------------------------------------------------------------

def test_group_model(tmp_path):
    cfg = load_text(tmp_path, """
        [supervisord]
        [program:solo]
        command=/bin/true
        priority=50
        [program:a]
        command=/bin/true
        priority=300
        [program:b]
        command=/bin/true
        priority=100
        [group:g]
        programs=a, b
        priority=50
        [program:zz]
        command=/bin/true
        [eventlistener:ev]
        command=/bin/cat
        events=PROCESS_STATE
    """)
    assert [(g.name, g.priority, g.kind) for g in cfg.groups] == [
        ("ev", -1, "eventlistener"), ("g", 50, "group"), ("solo", 50, "program"),
        ("zz", 999, "program")]
    g = cfg.group("g")
    assert [(p.name, p.group, p.priority) for p in g.processes] == [("b", "g", 100),
                                                                     ("a", "g", 300)]
    assert cfg.group("a") is None and cfg.group("b") is None
    assert [p.name for p in cfg.processes()] == ["ev", "b", "a", "solo", "zz"]


def test_program_in_two_groups_appears_in_both(tmp_path):
    cfg = load_text(tmp_path, MINIMAL + "[group:g1]\nprograms=x\n[group:g2]\nprograms=x\n")
    assert [(g.name, [p.group for p in g.processes]) for g in cfg.groups] == [
        ("g1", ["g1"]), ("g2", ["g2"])]


def test_group_name_expansion_follows_the_group(tmp_path):
    cfg = load_text(tmp_path, """
        [supervisord]
        [program:x]
        command=/bin/echo %(group_name)s
        [group:outer]
        programs=x
    """)
    assert proc(cfg, "x").command == "/bin/echo outer"


def test_empty_group(tmp_path):
    cfg = load_text(tmp_path, "[supervisord]\n[group:e]\n")
    assert cfg.group("e").processes == ()


# -- event listeners ------------------------------------------------------------------------

def test_eventlistener(tmp_path):
    cfg = load_text(tmp_path, """
        [supervisord]
        [eventlistener:mon]
        command=/usr/bin/python3 -u mon.py
        events=process_state, TICK_60,PROCESS_STATE
        buffer_size=50
        result_handler=mypkg.handlers:handle
        priority=5
    """)
    g = cfg.group("mon")
    assert (g.kind, g.priority) == ("eventlistener", 5)
    [p] = g.processes
    assert isinstance(p, EventListenerConfig)
    assert (p.events, p.buffer_size, p.result_handler) == (
        ("PROCESS_STATE", "TICK_60"), 50, "mypkg.handlers:handle")
    assert p.priority == 5


def test_eventlistener_defaults_and_stdout_capture_warning(tmp_path):
    cfg = load_text(tmp_path, """
        [supervisord]
        [eventlistener:m]
        command=/bin/cat
        events=TICK_5
        stdout_capture_maxbytes=1MB
    """)
    [p] = cfg.group("m").processes
    assert (p.buffer_size, p.result_handler, p.priority) == (
        10, "supervisor.dispatchers:default_handler", 999)
    assert p.stdout.capture_maxbytes == 0
    [w] = cfg.warnings
    assert w.startswith(f"{cfg.path}:5: [eventlistener:m] stdout_capture_maxbytes: ")


# -- servers and client ---------------------------------------------------------------------

def test_servers_and_ctl(tmp_path):
    me = pwd.getpwuid(os.getuid())
    cfg = load_text(tmp_path, f"""
        [supervisord]
        [unix_http_server]
        file=%(here)s/run/../sup.sock
        chmod=0770
        chown={me.pw_name}:{os.getgid()}
        username=u
        password={{SHA}}abc
        [inet_http_server]
        port=*:19001
        username=iu
        password=ip
        [supervisorctl]
        prompt=wrap
        history_file=~/.hist
        username=cu
        password=cp
    """)
    u = cfg.unix_server
    assert (u.file, u.chmod, u.chown) == (str(tmp_path / "sup.sock"), 0o770, (me.pw_uid, os.getgid()))
    assert (u.username, u.password) == ("u", "{SHA}abc")
    i = cfg.inet_server
    assert (i.host, i.port, i.username, i.password) == ("", 19001, "iu", "ip")
    c = cfg.ctl
    assert c.serverurl == f"unix://{tmp_path}/sup.sock"
    assert (c.prompt, c.username, c.password) == ("wrap", "cu", "cp")
    assert c.history_file == os.path.expanduser("~/.hist")


@pytest.mark.parametrize("port,expected", [
    ("9001", ("", 9001)), ("127.0.0.1:9002", ("127.0.0.1", 9002)),
    ("LocalHost:9003", ("localhost", 9003)), ("*:9004", ("", 9004)),
])
def test_inet_port_forms(tmp_path, port, expected):
    cfg = load_text(tmp_path, f"[supervisord]\n[inet_http_server]\nport={port}\n")
    assert (cfg.inet_server.host, cfg.inet_server.port) == expected
    assert cfg.ctl.serverurl == f"http://{expected[0] or 'localhost'}:{expected[1]}"


def test_unix_server_defaults(tmp_path):
    cfg = load_text(tmp_path, "[supervisord]\n[unix_http_server]\nfile=/tmp/x.sock\n")
    u = cfg.unix_server
    assert (u.chmod, u.chown, u.username, u.password) == (0o700, None, None, None)


def test_chown_user_only(tmp_path):
    cfg = load_text(tmp_path, f"[supervisord]\n[unix_http_server]\nfile=/tmp/x.sock\n"
                              f"chown={os.getuid()}\n")
    assert cfg.unix_server.chown == (os.getuid(), -1)


def test_ctl_explicit_serverurl(tmp_path):
    cfg = load_text(tmp_path, "[supervisord]\n[unix_http_server]\nfile=/tmp/x.sock\n"
                              "[supervisorctl]\nserverurl=unix://%(here)s/y.sock\n")
    assert cfg.ctl.serverurl == f"unix://{tmp_path}/y.sock"


def test_client_mode_needs_no_supervisord_section(tmp_path):
    cfg = load_text(tmp_path, "[supervisorctl]\nserverurl=http://h:1\n", client=True)
    assert cfg.ctl.serverurl == "http://h:1" and cfg.groups == ()


# -- supervisord section ------------------------------------------------------------------

def test_supervisord_every_option(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    me = pwd.getpwuid(os.getuid())
    (tmp_path / "logs").mkdir()
    cfg = load_text(tmp_path, f"""
        [supervisord]
        logfile=logs/s.log
        logfile_maxbytes=1MB
        logfile_backups=3
        loglevel=DEBUG
        pidfile=%(here)s/logs/s.pid
        umask=077
        nodaemon=true
        silent=true
        minfds=2048
        minprocs=100
        nocleanup=true
        childlogdir=%(here)s/logs
        user={me.pw_name}
        directory=%(here)s
        strip_ansi=true
        environment=K=v,L="w x"
        identifier=ident
    """)
    d = cfg.daemon
    assert (d.logfile, d.logfile_maxbytes, d.logfile_backups) == (
        str(tmp_path / "logs" / "s.log"), 1024 ** 2, 3)
    assert (d.loglevel, d.pidfile, d.umask) == ("debug", str(tmp_path / "logs" / "s.pid"), 0o077)
    assert (d.nodaemon, d.silent, d.minfds, d.minprocs, d.nocleanup) == (True, True, 2048, 100, True)
    assert (d.childlogdir, d.directory, d.strip_ansi) == (str(tmp_path / "logs"), str(tmp_path), True)
    assert (d.user, d.uid, d.gid) == (me.pw_name, me.pw_uid, me.pw_gid)
    assert (d.environment, d.identifier) == ((("K", "v"), ("L", "w x")), "ident")
    assert cfg.warnings == ()


@pytest.mark.parametrize("value,expected", [("NONE", None), ("off", None), ("syslog", "syslog")])
def test_supervisord_logfile_special(tmp_path, value, expected):
    cfg = load_text(tmp_path, f"[supervisord]\nlogfile={value}\n")
    assert cfg.daemon.logfile == expected


# -- wrapctl-only options, sections, warnings ------------------------------------------------

def test_wrapctl_only_options_go_to_extra(tmp_path):
    cfg = load_text(tmp_path, MINIMAL + """
        recipe=nginx
        pidfile=%(here)s/nginx.pid
        depends_on=db, cache
        ready=tcp:8080
        ready_timeout=2.5
        healthcheck=http://localhost:8080/
        backoff_max=60
        killtree=false
        exe=/usr/sbin/nginx
        [program:db]
        command=sleep 1
        [program:cache]
        command=sleep 1
    """.replace("        ", ""))
    p = proc(cfg, "x")
    assert p.extra == (("recipe", "nginx"), ("pidfile", f"{tmp_path}/nginx.pid"),
                       ("depends_on", "db, cache"), ("ready", "tcp:8080"),
                       ("ready_timeout", "2.5"), ("healthcheck", "http://localhost:8080/"),
                       ("backoff_max", "60"), ("killtree", "false"), ("exe", "/usr/sbin/nginx"))
    assert p.extra_get("recipe") == "nginx" and p.extra_get("nothing") is None
    assert cfg.warnings == ()


def test_plugin_sections_accepted_fcgi_and_unknown_warned(tmp_path):
    cfg = load_text(tmp_path, """
        [supervisord]
        [rpcinterface:supervisor]
        supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
        [ctlplugin:x]
        supervisor.ctl_factory = a.b:c
        [fcgi-program:f]
        command=/bin/true
        [mystery]
        a=1
    """)
    assert cfg.warnings == (
        f"{cfg.path}:6: [fcgi-program:f]: fcgi-program is not supported, section ignored",
        f"{cfg.path}:8: [mystery]: unknown section, ignored")


def test_unknown_options_warned_in_every_known_section(tmp_path):
    cfg = load_text(tmp_path, """
        [supervisord]
        foo=1
        [unix_http_server]
        file=/tmp/a.sock
        bar=2
        [group:g]
        baz=3
    """)
    assert cfg.warnings == (f"{cfg.path}:2: [supervisord] foo: unknown option",
                            f"{cfg.path}:5: [unix_http_server] bar: unknown option",
                            f"{cfg.path}:7: [group:g] baz: unknown option")


# -- search path --------------------------------------------------------------------------

def test_search_path_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    paths = search_paths()
    assert paths[2:] == [str(tmp_path / "supervisord.conf"), str(tmp_path / "etc" / "supervisord.conf"),
                         "/etc/supervisord.conf", "/etc/supervisor/supervisord.conf"]
    assert paths[0].endswith("/etc/supervisord.conf") and paths[1].endswith("/supervisord.conf")


def test_load_without_path_uses_cwd(tmp_path, monkeypatch):
    if any(os.path.exists(p) for p in search_paths()[:2]):
        pytest.skip("a supervisord.conf sits beside the interpreter")
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "etc/supervisord.conf", "[supervisord]\nidentifier=etc\n")
    assert load(environ={}).daemon.identifier == "etc"
    assert find_config() == str(tmp_path / "etc" / "supervisord.conf")
    write(tmp_path, "supervisord.conf", "[supervisord]\nidentifier=cwd\n")
    assert load(environ={}).daemon.identifier == "cwd"
    assert find_config(for_client=True) == str(tmp_path / "supervisord.conf")


def test_load_without_path_none_found(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if any(os.path.exists(p) for p in search_paths()):
        pytest.skip("a supervisord.conf exists in a default location on this machine")
    with pytest.raises(ConfigError) as e:
        load()
    msg = str(e.value)
    assert "\n" not in msg and "no configuration file found" in msg
    assert str(tmp_path / "supervisord.conf") in msg and "/etc/supervisor/supervisord.conf" in msg
