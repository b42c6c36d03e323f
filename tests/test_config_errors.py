"""Every bad configuration gives one ConfigError line: 'FILE:LINE: [section] option: reason'."""
import pytest

from config_helpers import load_text, write
from wrapctl.config import ConfigError, load

P = "[supervisord]\n[program:x]\ncommand=/bin/true\n"     # program options start at line 4

# (config text, line, section, option, a fragment of the reason)
CASES = [
    # syntax
    ("command=/bin/true\n", 1, "", "", "outside any [section]"),
    ("[supervisord]\nthis is not an option\n", 2, "supervisord", "", "not an option line"),
    ("[supervisord]\n= value\n", 2, "supervisord", "", "not an option line"),
    # required things
    ("[program:x]\ncommand=/bin/true\n", 0, "", "", "no [supervisord] section"),
    ("[supervisord]\n[program:x]\npriority=1\n", 2, "program:x", "command", "missing required"),
    ("[supervisord]\n[include]\n", 2, "include", "files", "missing required"),
    ("[supervisord]\n[unix_http_server]\nchmod=0700\n", 2, "unix_http_server", "file",
     "missing required"),
    ("[supervisord]\n[inet_http_server]\nusername=a\npassword=b\n", 2, "inet_http_server",
     "port", "missing required"),
    ("[supervisord]\n[eventlistener:e]\ncommand=/bin/cat\n", 2, "eventlistener:e", "events",
     "missing required"),
    ("[supervisord]\n[rpcinterface:r]\nfoo=1\n", 2, "rpcinterface:r", "",
     "supervisor.rpcinterface_factory"),
    # section names
    ("[supervisord]\n[program:a b]\ncommand=/bin/true\n", 2, "program:a b", "", "invalid name"),
    ("[supervisord]\n[program:a:b]\ncommand=/bin/true\n", 2, "program:a:b", "", "invalid name"),
    ("[supervisord]\n[program:]\ncommand=/bin/true\n", 2, "program:", "", "empty name"),
    ("[supervisord]\n[group:g/h]\n", 2, "group:g/h", "", "invalid name"),
    # program values
    (P + "priority=high\n", 4, "program:x", "priority", "not an integer"),
    (P + "autostart=maybe\n", 4, "program:x", "autostart", "not a boolean"),
    (P + "autorestart=sometimes\n", 4, "program:x", "autorestart", "not an autorestart value"),
    (P + "startsecs=-1\n", 4, "program:x", "startsecs", "below the minimum"),
    (P + "startretries=x\n", 4, "program:x", "startretries", "not an integer"),
    (P + "exitcodes=0,256\n", 4, "program:x", "exitcodes", "outside 0..255"),
    (P + "exitcodes=0,a\n", 4, "program:x", "exitcodes", "not a list of exit codes"),
    (P + "stopsignal=NOPE\n", 4, "program:x", "stopsignal", "not a signal name"),
    (P + "stopsignal=999\n", 4, "program:x", "stopsignal", "not a signal number"),
    (P + "stopwaitsecs=soon\n", 4, "program:x", "stopwaitsecs", "not an integer"),
    (P + "stopasgroup=true\nkillasgroup=false\n", 5, "program:x", "killasgroup",
     "requires killasgroup=true"),
    (P + "user=no-such-user-wrapctl\n", 4, "program:x", "user", "no such user"),
    (P + "user=4000000000\n", 4, "program:x", "user", "no such user id"),
    (P + "redirect_stderr=perhaps\n", 4, "program:x", "redirect_stderr", "not a boolean"),
    (P + "stdout_logfile=/nonexistent/dir/x.log\n", 4, "program:x", "stdout_logfile",
     "does not exist"),
    (P + "stderr_logfile_maxbytes=10XB\n", 4, "program:x", "stderr_logfile_maxbytes",
     "not a byte size"),
    (P + "stdout_logfile_backups=-2\n", 4, "program:x", "stdout_logfile_backups",
     "below the minimum"),
    (P + "stdout_capture_maxbytes=lots\n", 4, "program:x", "stdout_capture_maxbytes",
     "not a byte size"),
    (P + "stderr_events_enabled=2\n", 4, "program:x", "stderr_events_enabled", "not a boolean"),
    (P + "stdout_syslog=x\n", 4, "program:x", "stdout_syslog", "not a boolean"),
    (P + "umask=999\n", 4, "program:x", "umask", "not an octal number"),
    (P + "numprocs=two\n", 4, "program:x", "numprocs", "not an integer"),
    (P + "numprocs=2\n", 4, "program:x", "numprocs", "requires %(process_num) in process_name"),
    (P + "numprocs=2\nprocess_name=foo\n", 5, "program:x", "process_name",
     "requires %(process_num)"),
    (P + "process_name=a b\n", 4, "program:x", "process_name", "invalid name"),
    (P + "numprocs_start=x\n", 4, "program:x", "numprocs_start", "not an integer"),
    (P + "environment=A=1,B\n", 4, "program:x", "environment", "bad KEY=value list"),
    (P + "environment=A=\"unclosed\n", 4, "program:x", "environment", "No closing quotation"),
    ("[supervisord]\n[program:x]\ncommand=\n", 3, "program:x", "command", "empty command"),
    ("[supervisord]\n[program:x]\ncommand=/bin/sh -c 'oops\n", 3, "program:x", "command",
     "cannot split command"),
    # expansions
    ("[supervisord]\n[program:x]\ncommand=/bin/%(nope)s\n", 3, "program:x", "command",
     "cannot expand %(nope)s"),
    ("[supervisord]\n[program:x]\ncommand=/bin/%(ENV_NOT_SET)s\n", 3, "program:x", "command",
     "cannot expand %(ENV_NOT_SET)s"),
    ("[supervisord]\n[program:x]\ncommand=date +%Y\n", 3, "program:x", "command",
     "bad %-expansion"),
    ("[supervisord]\n[program:x]\ncommand=/bin/%(program_name)d\n", 3, "program:x", "command",
     "bad %-expansion"),
    (P + "priority=%(process_num)s\n", 4, "program:x", "priority", "cannot expand"),
    ("[supervisord]\nlogfile=%(program_name)s\n", 2, "supervisord", "logfile", "cannot expand"),
    # wrapctl-only options
    (P + "ready_timeout=soon\n", 4, "program:x", "ready_timeout", "not a number"),
    (P + "backoff_max=-1\n", 4, "program:x", "backoff_max", "not a finite number"),
    (P + "killtree=sure\n", 4, "program:x", "killtree", "not a boolean"),
    (P + "depends_on=a b/c\n", 4, "program:x", "depends_on", "invalid name"),
    (P + "recipe=\n", 4, "program:x", "recipe", "empty value"),
    # groups
    ("[supervisord]\n[group:g]\nprograms=a,b\n[program:a]\ncommand=/bin/true\n", 3, "group:g",
     "programs", "unknown program 'b'"),
    ("[supervisord]\n[group:g]\npriority=x\n", 3, "group:g", "priority", "not an integer"),
    (P + "[group:x]\n", 4, "group:x", "", "group name 'x' is already used"),
    (P + "[group:g]\nprograms=x,x\n", 2, "program:x", "", "appears twice in group 'g'"),
    # event listeners
    ("[supervisord]\n[eventlistener:e]\ncommand=c\nevents=NOPE\n", 4, "eventlistener:e",
     "events", "unknown event type 'NOPE'"),
    ("[supervisord]\n[eventlistener:e]\ncommand=c\nevents=TICK_5\nredirect_stderr=true\n", 5,
     "eventlistener:e", "redirect_stderr", "not allowed"),
    ("[supervisord]\n[eventlistener:e]\ncommand=c\nevents=TICK_5\nbuffer_size=0\n", 5,
     "eventlistener:e", "buffer_size", "below the minimum"),
    ("[supervisord]\n[eventlistener:e]\ncommand=c\nevents=TICK_5\nresult_handler=a b\n", 5,
     "eventlistener:e", "result_handler", "not a 'module:attribute'"),
    # [supervisord]
    ("[supervisord]\nloglevel=loud\n", 2, "supervisord", "loglevel", "not a log level"),
    ("[supervisord]\nlogfile=/nonexistent/dir/s.log\n", 2, "supervisord", "logfile",
     "does not exist"),
    ("[supervisord]\npidfile=/nonexistent/dir/s.pid\n", 2, "supervisord", "pidfile",
     "does not exist"),
    ("[supervisord]\nchildlogdir=/nonexistent/dir\n", 2, "supervisord", "childlogdir",
     "not an existing directory"),
    ("[supervisord]\ndirectory=/nonexistent/dir\n", 2, "supervisord", "directory",
     "not an existing directory"),
    ("[supervisord]\numask=8\n", 2, "supervisord", "umask", "not an octal number"),
    ("[supervisord]\nminfds=many\n", 2, "supervisord", "minfds", "not an integer"),
    ("[supervisord]\nnodaemon=sure\n", 2, "supervisord", "nodaemon", "not a boolean"),
    ("[supervisord]\nuser=no-such-user-wrapctl\n", 2, "supervisord", "user", "no such user"),
    ("[supervisord]\nenvironment=A\n", 2, "supervisord", "environment", "bad KEY=value list"),
    ("[supervisord]\nlogfile_maxbytes=1TB\n", 2, "supervisord", "logfile_maxbytes",
     "not a byte size"),
    # servers and client
    ("[supervisord]\n[unix_http_server]\nfile=/tmp/s\nchmod=rw\n", 4, "unix_http_server",
     "chmod", "not an octal number"),
    ("[supervisord]\n[unix_http_server]\nfile=/tmp/s\nchown=no-such-user-wrapctl\n", 4,
     "unix_http_server", "chown", "no such user"),
    ("[supervisord]\n[unix_http_server]\nfile=/tmp/s\nchown=root:no-such-group-wrapctl\n", 4,
     "unix_http_server", "chown", "no such group"),
    ("[supervisord]\n[unix_http_server]\nfile=/tmp/s\nusername=u\n", 4, "unix_http_server",
     "username", "must be given together"),
    ("[supervisord]\n[inet_http_server]\nport=9001\npassword=p\n", 4, "inet_http_server",
     "password", "must be given together"),
    ("[supervisord]\n[inet_http_server]\nport=http\n", 3, "inet_http_server", "port",
     "not a valid port number"),
    ("[supervisord]\n[inet_http_server]\nport=127.0.0.1:70000\n", 3, "inet_http_server", "port",
     "not a valid port number"),
    ("[supervisord]\n[inet_http_server]\nport=127.0.0.1:\n", 3, "inet_http_server", "port",
     "no port number"),
    ("[supervisord]\n[supervisorctl]\nserverurl=nowhere\n", 3, "supervisorctl", "serverurl",
     "not a URL"),
]


@pytest.mark.parametrize("text,line,section,option,reason", CASES,
                         ids=[f"{i}-{c[3] or c[2] or c[4][:20]}" for i, c in enumerate(CASES)])
def test_error_is_one_line_naming_where(tmp_path, text, line, section, option, reason):
    with pytest.raises(ConfigError) as e:
        load_text(tmp_path, text)
    err = e.value
    msg = str(err)
    path = str(tmp_path / "supervisord.conf")
    prefix = path + (f":{line}" if line else "") + (f": [{section}]" if section else "")
    prefix += f" {option}" if option else ""
    assert "\n" not in msg
    assert msg.startswith(prefix + ": "), msg
    assert reason in msg, msg
    assert (err.where.file, err.where.line, err.where.section, err.where.option) == (
        path, line, section, option)


def test_error_in_included_file_names_that_file(tmp_path):
    inc = write(tmp_path, "conf.d/bad.conf", "[program:b]\ncommand=/bin/true\npriority=x\n")
    with pytest.raises(ConfigError) as e:
        load_text(tmp_path, "[supervisord]\n[include]\nfiles=conf.d/*.conf\n")
    assert str(e.value).startswith(f"{inc}:3: [program:b] priority: not an integer")


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as e:
        load(str(tmp_path / "absent.conf"))
    assert str(e.value) == f"{tmp_path}/absent.conf: configuration file not found"


def test_unreadable_bytes(tmp_path):
    path = tmp_path / "bin.conf"
    path.write_bytes(b"[supervisord]\n\xff\xfe\n")
    with pytest.raises(ConfigError) as e:
        load(str(path))
    assert str(e.value) == f"{path}:2: not valid UTF-8 text"
