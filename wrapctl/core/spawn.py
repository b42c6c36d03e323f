"""Turning a ProcessConfig into a running child: argv lookup, environment, fork/exec.

Spawning goes through subprocess.Popen, whose fork/exec runs in C (_posixsubprocess): no
Python code runs in the child, the exec error comes back to the parent synchronously, and
user, group, umask, directory and process group are all set between fork and exec.
"""
from __future__ import annotations

import os
import shlex
import stat
import subprocess
from typing import Optional


class SpawnError(Exception):
    """The command cannot be started; str() is supervisord's spawnerr text."""


def execv_args(command: str, env_path: Optional[str]) -> tuple[str, list[str]]:
    """(filename, argv) for a command line, searching PATH as supervisord does."""
    try:
        argv = shlex.split(command)
    except ValueError as e:
        raise SpawnError(f"can't parse command {command!r}: {e}")
    if not argv:
        raise SpawnError("command is empty")
    program = argv[0]
    st = None
    filename = program
    if "/" in program:
        try:
            st = os.stat(program)
        except OSError:
            st = None
    else:
        path = env_path if env_path is not None else os.environ.get("PATH", os.defpath)
        for d in path.split(os.pathsep):
            found = os.path.join(d, program)
            try:
                st = os.stat(found)
            except OSError:
                continue
            filename = found
            break
    if st is None:
        raise SpawnError(f"can't find command {filename!r}")
    if stat.S_ISDIR(st.st_mode):
        raise SpawnError(f"command at {filename!r} is a directory")
    if not stat.S_IMODE(st.st_mode) & 0o111:
        raise SpawnError(f"command at {filename!r} is not executable")
    if not os.access(filename, os.X_OK):
        raise SpawnError(f"no permission to run command {filename!r}")
    return filename, argv


def child_environment(config, serverurl: Optional[str],
                      marker: Optional[str] = None) -> dict[str, str]:
    env = dict(os.environ)
    if marker is not None:
        from wrapctl.core.tree import MARKER
        env[MARKER] = marker
    env["SUPERVISOR_ENABLED"] = "1"
    url = config.serverurl if config.serverurl is not None else serverurl
    if url:
        env["SUPERVISOR_SERVER_URL"] = url
    env["SUPERVISOR_PROCESS_NAME"] = config.name
    env["SUPERVISOR_GROUP_NAME"] = config.group
    env.update(config.environment)
    return env


def spawn(config, serverurl: Optional[str], marker: Optional[str] = None) -> subprocess.Popen:
    """Start the child in its own process group with three pipes; raise SpawnError."""
    env = child_environment(config, serverurl, marker)
    filename, argv = execv_args(config.command, env.get("PATH") if "PATH" in config.env else None)
    kwargs = {}
    if config.uid is not None and os.geteuid() == 0:
        import pwd
        try:
            pw = pwd.getpwuid(config.uid)
            groups = os.getgrouplist(pw.pw_name, pw.pw_gid)
        except KeyError:
            groups = []
        kwargs.update(user=config.uid, group=config.gid if config.gid is not None else config.uid,
                      extra_groups=groups)
    elif config.uid is not None and config.uid != os.geteuid():
        raise SpawnError(f"couldn't setuid to {config.uid}: Can't drop privilege as nonroot user")
    try:
        return subprocess.Popen(
            argv, executable=filename, env=env, cwd=config.directory,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if config.redirect_stderr else subprocess.PIPE,
            umask=config.umask if config.umask is not None else -1,
            process_group=0, close_fds=True, bufsize=0, **kwargs)
    except FileNotFoundError as e:
        if config.directory and e.filename == config.directory:
            raise SpawnError(f"couldn't chdir to {config.directory}: ENOENT")
        raise SpawnError(f"couldn't exec {argv[0]}: ENOENT")
    except PermissionError as e:
        raise SpawnError(f"couldn't exec {argv[0]}: EACCES ({e.strerror})")
    except OSError as e:
        if e.errno == 11:
            raise SpawnError(f"Too many processes in process table to spawn '{config.name}'")
        if e.errno == 24:
            raise SpawnError(f"too many open files to spawn '{config.name}'")
        raise SpawnError(f"unknown error during fork for '{config.name}': {e.strerror}")
