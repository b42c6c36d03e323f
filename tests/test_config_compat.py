"""Parse the same files with supervisor 4.3's own ServerOptions and compare the results.

This proves the defaults and the process/group model match supervisord, not our reading of it.
"""
import os
import pwd

import pytest

from config_helpers import write
from wrapctl.config import AUTO, load

options = pytest.importorskip("supervisor.options")
datatypes = pytest.importorskip("supervisor.datatypes")
loggers = pytest.importorskip("supervisor.loggers")

_AUTORESTART = {datatypes.RestartUnconditionally: "true", False: "false",
                datatypes.RestartWhenExitUnexpected: "unexpected"}


def supervisord_view(path):
    """Realize supervisord's options on `path` and reduce them to plain comparable values."""
    opts = options.ServerOptions()
    opts.realize(args=["-c", str(path)], doc="")

    def logfile(v):
        return AUTO if v is datatypes.Automatic else v

    groups = []
    for g in opts.process_group_configs:
        procs = []
        for p in sorted(g.process_configs, key=lambda p: (p.priority, p.name)):
            procs.append(dict(
                name=p.name, command=p.command, directory=p.directory, umask=p.umask,
                priority=p.priority, autostart=bool(p.autostart),
                autorestart=_AUTORESTART[p.autorestart], startsecs=p.startsecs,
                startretries=p.startretries, uid=p.uid, stdout_logfile=logfile(p.stdout_logfile),
                stdout_maxbytes=p.stdout_logfile_maxbytes, stdout_backups=p.stdout_logfile_backups,
                stdout_capture=p.stdout_capture_maxbytes, stdout_events=p.stdout_events_enabled,
                stdout_syslog=p.stdout_syslog, stderr_logfile=logfile(p.stderr_logfile),
                stderr_maxbytes=p.stderr_logfile_maxbytes, stderr_backups=p.stderr_logfile_backups,
                stderr_capture=p.stderr_capture_maxbytes, stderr_events=p.stderr_events_enabled,
                stderr_syslog=p.stderr_syslog, redirect_stderr=p.redirect_stderr,
                stopsignal=int(p.stopsignal), stopwaitsecs=p.stopwaitsecs,
                stopasgroup=p.stopasgroup, killasgroup=p.killasgroup,
                exitcodes=tuple(p.exitcodes), environment=dict(p.environment or {}),
                serverurl=p.serverurl))
        groups.append((g.name, g.priority, procs))
    daemon = dict(
        logfile=opts.logfile, logfile_maxbytes=opts.logfile_maxbytes,
        logfile_backups=opts.logfile_backups,
        loglevel=loggers.getLevelNumByDescription("info") if opts.loglevel is None else opts.loglevel,
        pidfile=opts.pidfile, umask=opts.umask, nodaemon=bool(opts.nodaemon),
        silent=bool(opts.silent), minfds=opts.minfds, minprocs=opts.minprocs,
        nocleanup=bool(opts.nocleanup), childlogdir=os.path.abspath(opts.childlogdir),
        directory=opts.directory, strip_ansi=bool(opts.strip_ansi),
        environment=opts.configroot.supervisord.environment, identifier=opts.identifier,
        uid=opts.uid)
    servers = []
    for s in opts.server_configs:
        if s["family"] == 1:  # AF_UNIX
            servers.append(("unix", s["file"], s["chmod"], s["username"], s["password"]))
        else:
            servers.append(("inet", s["host"], s["port"], s["username"], s["password"]))
    return groups, daemon, sorted(servers)


def wrapctl_view(path):
    cfg = load(str(path))
    groups = []
    for g in cfg.groups:
        procs = []
        for p in g.processes:
            procs.append(dict(
                name=p.name, command=p.command, directory=p.directory, umask=p.umask,
                priority=p.priority, autostart=p.autostart, autorestart=p.autorestart,
                startsecs=p.startsecs, startretries=p.startretries, uid=p.uid,
                stdout_logfile=p.stdout.logfile, stdout_maxbytes=p.stdout.maxbytes,
                stdout_backups=p.stdout.backups, stdout_capture=p.stdout.capture_maxbytes,
                stdout_events=p.stdout.events_enabled, stdout_syslog=p.stdout.syslog,
                stderr_logfile=p.stderr.logfile, stderr_maxbytes=p.stderr.maxbytes,
                stderr_backups=p.stderr.backups, stderr_capture=p.stderr.capture_maxbytes,
                stderr_events=p.stderr.events_enabled, stderr_syslog=p.stderr.syslog,
                redirect_stderr=p.redirect_stderr, stopsignal=p.stopsignal,
                stopwaitsecs=p.stopwaitsecs, stopasgroup=p.stopasgroup,
                killasgroup=p.killasgroup, exitcodes=p.exitcodes, environment=p.env,
                serverurl=p.serverurl))
        groups.append((g.name, g.priority, procs))
    d = cfg.daemon
    daemon = dict(
        logfile=d.logfile, logfile_maxbytes=d.logfile_maxbytes, logfile_backups=d.logfile_backups,
        loglevel=loggers.getLevelNumByDescription(d.loglevel), pidfile=d.pidfile, umask=d.umask,
        nodaemon=d.nodaemon, silent=d.silent, minfds=d.minfds, minprocs=d.minprocs,
        nocleanup=d.nocleanup, childlogdir=d.childlogdir, directory=d.directory,
        strip_ansi=d.strip_ansi, environment=dict(d.environment),
        identifier=d.identifier, uid=d.uid)
    servers = []
    if cfg.unix_server:
        u = cfg.unix_server
        servers.append(("unix", u.file, u.chmod, u.username, u.password))
    if cfg.inet_server:
        i = cfg.inet_server
        servers.append(("inet", i.host, i.port, i.username, i.password))
    return groups, daemon, sorted(servers)


def assert_same(path):
    ours, theirs = wrapctl_view(path), supervisord_view(path)
    assert ours[0] == theirs[0]
    assert ours[1] == theirs[1]
    assert ours[2] == theirs[2]


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_defaults_match_supervisord(cwd):
    assert_same(write(cwd, "s.conf", """
        [supervisord]
        [program:x]
        command=/bin/true
    """))


def test_full_program_matches_supervisord(cwd):
    me = pwd.getpwuid(os.getuid()).pw_name
    (cwd / "logs").mkdir()
    assert_same(write(cwd, "s.conf", f"""
        [supervisord]
        logfile=%(here)s/logs/main.log
        logfile_maxbytes=1MB
        logfile_backups=2
        loglevel=debug
        pidfile=%(here)s/logs/s.pid
        umask=027
        nodaemon=true
        minfds=100
        minprocs=50
        childlogdir=%(here)s/logs
        directory=%(here)s
        strip_ansi=true
        environment=GLOBAL="a b",SHARED=g
        identifier=ident
        user={me}

        [unix_http_server]
        file=%(here)s/s.sock
        chmod=0766
        username=u
        password=p

        [inet_http_server]
        port=127.0.0.1:19999

        [program:web]
        command=/bin/echo %(program_name)s %(process_num)s %(group_name)s %(ENV_GLOBAL)s %(ENV_OWN)s
        process_name=%(program_name)s-%(process_num)03d
        numprocs=3
        numprocs_start=1
        priority=10
        autostart=false
        startsecs=5
        startretries=1
        autorestart=true
        exitcodes=0,3
        stopsignal=INT
        stopwaitsecs=2
        stopasgroup=true
        user={me}
        stdout_logfile=%(here)s/logs/%(process_num)s.out ; comment
        stdout_logfile_maxbytes=10KB
        stdout_logfile_backups=1
        stdout_capture_maxbytes=1KB
        stdout_events_enabled=true
        stderr_logfile=NONE
        stderr_syslog=true
        environment=OWN="x, y",SHARED=p
        directory=/tmp
        umask=002
        serverurl=AUTO

        [program:other]
        command=/bin/cat
        redirect_stderr=true
        stderr_logfile=syslog
        priority=10

        [program:ingroup1]
        command=/bin/true
        priority=3
        [program:ingroup2]
        command=/bin/true
        priority=1
        [group:grp]
        programs=ingroup1,ingroup2
        priority=10

        [eventlistener:ev]
        command=/bin/cat
        events=PROCESS_STATE,TICK_5
    """))


def test_includes_and_here_match_supervisord(cwd):
    write(cwd, "conf.d/b.ini", """
        [program:b]
        command=/bin/echo %(here)s
        stdout_logfile=%(here)s/b.log
    """)
    write(cwd, "conf.d/a.ini", """
        [program:a]
        command=/bin/echo %(here)s %(host_node_name)s
        [group:g]
        programs=a
        priority=1
    """)
    write(cwd, "etc/sub/x.ini", "[program:x]\ncommand=/bin/true\n")
    assert_same(write(cwd, "s.conf", """
        [supervisord]
        logfile=%(here)s/s.log
        [include]
        files=conf.d/*.ini etc/*/*.ini
    """))


def test_default_section_and_comments_match_supervisord(cwd):
    assert_same(write(cwd, "s.conf", """
        [DEFAULT]
        startsecs=7
        [supervisord]
        [program:x]
        command=/bin/echo a;b #c ; real comment
        exitcodes=
        [program:y]
        command=/bin/echo
          continued # comment
        startsecs=2
    """))


def test_supervisors_sample_conf_loads_cleanly(cwd):
    """The file `echo_supervisord_conf` prints, with every commented option switched on."""
    import re
    sample = (os.path.dirname(options.__file__) + "/skel/sample.conf")
    text = open(sample).read()
    plain = cwd / "plain.conf"
    plain.write_text(text.replace("/tmp/", f"{cwd}/"))
    cfg = load(str(plain))
    assert cfg.warnings == ()
    assert_same(plain)
    # switch on the example [program:x] and [eventlistener:x] with all their options
    head, examples = text.split(";[program:theprogramname]")
    examples, tail = examples.split(";[group:thegroupname]")
    examples = re.sub(r"^;(?!(user|stdout_logfile|stderr_logfile)=)(\w+=|\[)", r"\2",
                      ";[program:theprogramname]" + examples, flags=re.M)
    body = head + examples + ";[group:thegroupname]" + tail
    full = cwd / "full.conf"
    full.write_text(body.replace("/tmp/", f"{cwd}/"))
    cfg = load(str(full))
    assert [g.kind for g in cfg.groups] == ["eventlistener", "program"]
    assert cfg.warnings == ()
    assert_same(full)
