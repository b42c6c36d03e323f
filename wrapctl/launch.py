"""How an init script's start action launches its daemon (Launch), and start-stop-daemon's
command line (parse_ssd, ssd_options), as dpkg's start-stop-daemon(8) defines it."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from wrapctl.shellwords import UNRESOLVED

# Wrappers whose own start verb forks the real daemon.
WRAPPERS = {"apache2ctl", "apachectl", "pg_ctlcluster", "pg_ctl", "catalina.sh", "startup.sh",
            "mysqld_safe", "mariadbd-safe", "mysqld_multi", "authdaemond", "postfix",
            "rabbitmq-server", "ovs-ctl", "supervisorctl", "jsvc", "elasticsearch", "ipsec"}
# Commands that start-stop-daemon could run but that are shells or interpreters.
INTERPRETERS = {"sh", "bash", "dash", "python", "python3", "perl", "ruby", "java", "env", "node"}
_SSD_LONG = {
    "-S": "--start", "-K": "--stop", "-T": "--status", "-x": "--exec", "-a": "--startas",
    "-p": "--pidfile", "-c": "--chuid", "-u": "--user", "-g": "--group", "-d": "--chdir",
    "-b": "--background", "-m": "--make-pidfile", "-n": "--name", "-N": "--nicelevel",
    "-k": "--umask", "-r": "--chroot", "-o": "--oknodo", "-q": "--quiet", "-v": "--verbose",
    "-t": "--test", "-R": "--retry", "-s": "--signal", "-P": "--procsched", "-I": "--iosched",
    "-C": "--no-close", "-O": "--output", "-H": "--help",
}
_SSD_FLAGS = {"--start", "--stop", "--status", "--background", "--make-pidfile", "--oknodo",
              "--quiet", "--verbose", "--test", "--no-close", "--remove-pidfile", "--help"}
_SSD_VALUE = {"--exec", "--startas", "--pidfile", "--chuid", "--user", "--group", "--chdir",
              "--name", "--nicelevel", "--umask", "--chroot", "--retry", "--signal",
              "--procsched", "--iosched", "--output", "--notify-await", "--notify-timeout",
              "--ppid"}
_SSD_ALL = _SSD_FLAGS | _SSD_VALUE


@dataclass
class Launch:
    """How the start action launches the daemon."""
    style: str                      # start-stop-daemon | init-d-script | start_daemon | daemon | wrapper | direct
    line: int = 0
    exec: str = ""                  # --exec: the binary the process will be
    startas: str = ""               # what is run (defaults to exec)
    args: list[str] = field(default_factory=list)
    pidfile: str = ""
    user: str = ""
    group: str = ""
    chdir: str = ""
    chroot: str = ""
    umask: str = ""
    nice: str = ""
    name: str = ""
    background: bool = False        # start-stop-daemon --background or "cmd &": no self-fork
    make_pidfile: bool = False
    wrapper: str = ""

    @property
    def program(self) -> str:
        return self.startas or self.exec

    @property
    def daemon(self) -> str:
        """The daemon binary: --exec when the start command is an interpreter or wrapper."""
        run = os.path.basename(self.startas) if self.startas else ""
        if self.exec and (not self.startas or run in INTERPRETERS):
            return self.exec
        return self.startas or self.exec




def ssd_options(words: list[str]) -> dict[str, str]:
    opts: dict[str, str] = {}
    i = 0
    while i < len(words):
        w = words[i]
        if w == "--":
            opts["--"] = " ".join(words[i + 1:])
            break
        if w.startswith("--") and "=" in w:
            k, v = w.split("=", 1)
            opts[k] = v
            i += 1
            continue
        if w.startswith("-") and not w.startswith("--") and len(w) > 2 and w[:2] in _SSD_LONG \
                and _SSD_LONG[w[:2]] in _SSD_VALUE:
            opts[_SSD_LONG[w[:2]]] = w[2:]
            i += 1
            continue
        k = _SSD_LONG.get(w, w)
        if k in _SSD_VALUE and i + 1 < len(words):
            opts[k] = words[i + 1]
            i += 2
            continue
        opts[k] = "1"
        i += 1
    return opts


def parse_ssd(words: list[str]) -> Optional[Launch]:
    """A start-stop-daemon --start call (arguments after the command name)."""
    la = Launch(style="start-stop-daemon")
    start = test = False
    i = 0
    while i < len(words):
        w = words[i]
        if w == "--":
            la.args = words[i + 1:]
            break
        if w.startswith("--") and "=" in w:
            k, v = w.split("=", 1)
        elif (w.startswith("-") and not w.startswith("--") and len(w) > 2
              and w[:2] in _SSD_LONG and _SSD_LONG[w[:2]] in _SSD_VALUE):
            k, v = _SSD_LONG[w[:2]], w[2:]
        elif w.startswith("-") and not w.startswith("--") and len(w) > 2 \
                and all(("-" + ch) in _SSD_LONG for ch in w[1:]):
            # bundled short flags: -oqS
            for ch in w[1:]:
                k = _SSD_LONG["-" + ch]
                start |= k == "--start"
                test |= k == "--test"
                la.background |= k == "--background"
                la.make_pidfile |= k == "--make-pidfile"
            i += 1
            continue
        else:
            k = _SSD_LONG.get(w, w)
            v = None
            if k in _SSD_VALUE:
                if i + 1 >= len(words):
                    break
                nxt = words[i + 1]
                if nxt.startswith("--") and (nxt == "--" or nxt.split("=")[0] in _SSD_ALL):
                    # an empty variable left the option without its value
                    i += 1
                    continue
                v = nxt
                i += 1
        i += 1
        if k == "--start":
            start = True
        elif k in ("--stop", "--status"):
            return None
        elif k == "--test":
            test = True
        elif k == "--exec":
            la.exec = v or ""
        elif k == "--startas":
            la.startas = v or ""
        elif k == "--pidfile":
            la.pidfile = v or ""
        elif k in ("--chuid", "--user") and v:
            u, _, g = v.partition(":")
            if k == "--chuid" or not la.user:
                la.user = u
            if g:
                la.group = g
        elif k == "--group":
            la.group = v or ""
        elif k == "--chdir":
            la.chdir = v or ""
        elif k == "--chroot":
            la.chroot = v or ""
        elif k == "--umask":
            la.umask = v or ""
        elif k == "--nicelevel":
            la.nice = v or ""
        elif k == "--name":
            la.name = v or ""
        elif k == "--background":
            la.background = True
        elif k == "--make-pidfile":
            la.make_pidfile = True
    if not start or test:
        return None
    if la.exec and la.exec in la.args[1:] and la.args[la.args.index(la.exec) - 1] == "--":
        # `--startas aa-exec -- --profile=P -- $DAEMON ARGS` (tor; the reader may not know
        # the --startas, computed at run time): a launcher that execs the daemon. What is
        # supervised is the daemon with its own arguments.
        la.args = la.args[la.args.index(la.exec) + 1:]
        la.startas = ""
    if not (la.exec or la.startas):
        la.exec = UNRESOLVED        # a start whose program comes from a file we cannot read
    base = os.path.basename(la.program)
    if base in WRAPPERS:
        la.wrapper = base
    return la


def parse_start_daemon(w: list[str]) -> Optional[Launch]:
    """LSB's `start_daemon [-f] [-n nicelevel] [-p pidfile] pathname [args...]`."""
    la = Launch(style="start_daemon")
    i = 0
    while i < len(w) and w[i].startswith("-"):
        if w[i] in ("-n", "-p") and i + 1 < len(w):
            if w[i] == "-p":
                la.pidfile = w[i + 1]
            else:
                la.nice = w[i + 1]
            i += 2
            continue
        i += 1
    return _program_at(la, w, i)


def parse_rh_daemon(w: list[str]) -> Optional[Launch]:
    """Red Hat's `daemon [--user U] [--pidfile F] [+/-nicelevel] program [args...]`."""
    la = Launch(style="daemon")
    i = 0
    while i < len(w) and (w[i].startswith("-") or w[i].startswith("+")):
        opt = w[i]
        key, eq, value = opt.partition("=")
        if key in ("--user", "--pidfile"):
            if not eq:
                if i + 1 >= len(w):
                    return None
                value = w[i + 1]
                i += 1
            setattr(la, "user" if key == "--user" else "pidfile", value)
        i += 1
    return _program_at(la, w, i)


# startproc(8) options that take a value, and the Launch field each fills ("" = none).
_STARTPROC_VALUED = {"-p": "pidfile", "-u": "user", "-g": "group", "-n": "nice",
                     "-c": "chroot", "-l": "", "-t": "", "-T": "", "-e": "", "-i": ""}


def parse_startproc(w: list[str]) -> Optional[Launch]:
    """SUSE's `startproc [-p pidfile] [-u user] [-g group] ... program [args...]`."""
    la = Launch(style="startproc")
    i = 0
    while i < len(w) and w[i].startswith("-"):
        if w[i] in _STARTPROC_VALUED and i + 1 < len(w):
            if _STARTPROC_VALUED[w[i]]:
                setattr(la, _STARTPROC_VALUED[w[i]], w[i + 1])
            i += 2
            continue
        i += 1
    return _program_at(la, w, i)


def _program_at(la: Launch, w: list[str], i: int) -> Optional[Launch]:
    """The program and its arguments start at w[i], past the launcher's own options; no
    program there means no launch."""
    if i >= len(w):
        return None
    la.exec, la.args = w[i], w[i + 1:]
    return la

