"""Read an init script as text and tell what it starts. The script is never executed.

`read_script(path)` returns a ScriptInfo: the LSB header, the variables it sets (with
/etc/default/NAME or a --defaults file applied), the daemon its start action launches, and
how (start-stop-daemon, /lib/init/init-d-script, LSB start_daemon, a wrapper such as
apache2ctl, or a direct call), or that it is a oneshot (sysctl, modules, firewall, clock).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Optional

from wrapctl.launch import (WRAPPERS, Launch, parse_rh_daemon, parse_ssd, parse_start_daemon,
                            ssd_options)
from wrapctl.shellwords import (UNRESOLVED, Command, Expander, assignment, logical_lines,
                                resolved, split_commands)

LSB_KEYS = ("Provides", "Required-Start", "Required-Stop", "Should-Start", "Should-Stop",
            "X-Start-Before", "X-Stop-After", "Default-Start", "Default-Stop",
            "Short-Description", "Description", "X-Interactive")

# Commands that never are the daemon in a start action.
NOT_DAEMONS = {
    "echo", "printf", "log_daemon_msg", "log_end_msg", "log_action_msg", "log_success_msg",
    "log_failure_msg", "log_warning_msg", "log_begin_msg", "log_progress_msg", "mkdir", "chown",
    "chmod", "chgrp", "touch", "rm", "ln", "cp", "mv", "install", "test", "[", "[[", "cat",
    "sleep", "exit", "return", "true", "false", ":", "local", "export", "set", "unset", "ulimit",
    "umask", "cd", "shift", "grep", "sed", "awk", "cut", "head", "tail", "id", "getent",
    "pidof", "pidofproc", "status_of_proc", "kill", "killall", "killproc", "pkill", "wait",
    "start-stop-daemon", "start_daemon", "daemon", "eval", "exec", "trap", "read", "break",
    "continue", "case", "esac", "if", "then", "else", "elif", "fi", "for", "while", "until",
    "do", "done", "in", "function", "{", "}", "basename", "dirname", "readlink", "mountpoint",
    "setsid", "nohup", "su", "runuser", "sudo", "chroot", "env", "nice", "ionice", "ps", "wc",
    "sort", "tr", "expr", "date", "logger", "find", "xargs", "stat", "which", "command",
    "type", "hash", "printenv", "tee", "sync", "udevadm", "udevsettle", "invoke-rc.d",
    "service", "systemctl", "init_is_upstart", "is_yes", "is_true", "run-parts", "dpkg",
    "mount", "umount", "sysctl", "modprobe", "insmod", "rmmod", "depmod", "hwclock",
    "iptables", "ip6tables", "iptables-restore", "ip6tables-restore", "nft", "ifup", "ifdown",
    "ip", "ifconfig", "route", "loadkeys", "setupcon", "kbd_mode", "consolechars", "setfont",
    "swapon", "swapoff", "fsck", "hostname", "dmesg", "alsactl", "sed", "seq",
}

@dataclass
class ScriptInfo:
    path: str
    name: str
    lsb: dict[str, str] = field(default_factory=dict)
    kind: str = "oneshot"           # daemon | oneshot
    launch: Optional[Launch] = None
    stop_signal: str = ""
    stop_timeout: int = 0
    reload_signal: str = ""
    reopen_signal: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    exported: dict[str, str] = field(default_factory=dict)
    defaults_files: list[str] = field(default_factory=list)
    sourced: list[str] = field(default_factory=list)
    instance_loop: str = ""         # the glob a start loop iterates, when it does
    run_dirs: list[str] = field(default_factory=list)   # mkdir'd by the start action
    # The start action's mkdir/install -d of directories (any absolute path) and the chown/
    # chmod of them, expanded, mkdir made idempotent: what a wrapper must redo at each start.
    run_setup: list[list[str]] = field(default_factory=list)
    disabled: str = ""              # where and why the start exits 0 before the daemon
    # Commands the start action runs that a sourced helper library defines (uwsgi's
    # do_command): what they start is not read.
    library_calls: list[str] = field(default_factory=list)
    # Where the pidfile was read when the start command does not name it ("stop line 68").
    pidfile_from: str = ""
    # Names and substitutions the shell-grammar reader could not know, "file:line: what".
    unresolved: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def libraries(self) -> list[str]:
        """Sourced files that are not settings (/etc/default, /etc/sysconfig): helpers."""
        return [f for f in self.sourced
                if not f.startswith(("/etc/default/", "/etc/sysconfig/"))]

    def lsb_list(self, key: str) -> list[str]:
        return self.lsb.get(key, "").split()

    @property
    def provides(self) -> list[str]:
        return self.lsb_list("Provides")

    @property
    def daemon(self) -> str:
        return self.launch.daemon if self.launch else ""

    @property
    def args(self) -> list[str]:
        return self.launch.args if self.launch else []

    @property
    def pidfile(self) -> str:
        return self.launch.pidfile if self.launch else ""

    def to_dict(self) -> dict:
        la = self.launch
        return {
            "script": self.path, "name": self.name, "kind": self.kind,
            "lsb": self.lsb,
            "style": la.style if la else "",
            "daemon": self.daemon, "started": la.program if la else "",
            "arguments": self.args, "pidfile": self.pidfile,
            "user": la.user if la else "", "group": la.group if la else "",
            "directory": la.chdir if la else "", "background": la.background if la else False,
            "wrapper": la.wrapper if la else "",
            "stop_signal": self.stop_signal, "stop_timeout": self.stop_timeout,
            "reload_signal": self.reload_signal, "reopen_signal": self.reopen_signal,
            "environment": self.exported, "defaults_files": self.defaults_files,
            "instance_loop": self.instance_loop, "run_dirs": self.run_dirs,
            "run_setup": self.run_setup,
            "disabled": self.disabled, "library_calls": self.library_calls,
            "unresolved": self.unresolved, "pidfile_from": self.pidfile_from,
            "reasons": self.reasons, "warnings": self.warnings,
        }


class ScriptError(Exception):
    """An init script that cannot be read at all (one line: file and reason)."""


def parse_lsb(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    m = re.search(r"^###\s*BEGIN INIT INFO\s*$(.*?)^###\s*END INIT INFO", text, re.M | re.S)
    if not m:
        return out
    key = None
    for line in m.group(1).splitlines():
        line = line.rstrip()
        mm = re.match(r"^#\s*([A-Za-z][\w-]*):\s*(.*)$", line)
        if mm and mm.group(1) in LSB_KEYS or (mm and mm.group(1).startswith("X-")):
            key = mm.group(1)
            out[key] = mm.group(2).strip()
        elif key and re.match(r"^#(\t|  )\s*\S", line):
            out[key] = (out[key] + " " + line[1:].strip()).strip()
    return out


def parse_assignments(text: str, env: dict[str, str], expander_factory,
                      exported: Optional[dict[str, str]] = None) -> dict[str, str]:
    """Apply a defaults file (plain assignments) onto env; return the names it set.
    `export NAME=value` and `export NAME` also land in `exported`."""
    set_here: dict[str, str] = {}
    for _, line in logical_lines(text):
        for words, _op, _bg in split_commands(line):
            export = bool(words) and words[0] == "export"
            if words and words[0] in ("export", "readonly"):
                words = words[1:]
            for w in words:
                a = assignment(w)
                if not a:
                    if export and exported is not None and re.match(r"^\w+$", w):
                        exported[w] = env.get(w, "")
                        continue
                    break
                name, raw, append = a
                val = expander_factory(env).word(raw)
                if append:
                    val = env.get(name, "") + val
                env[name] = val
                set_here[name] = val
                if export and exported is not None:
                    exported[name] = val
    return set_here


_KEYWORDS_OPEN = {"if": "if", "case": "case", "for": "loop", "while": "loop", "until": "loop"}
_KEYWORDS_CLOSE = {"fi": "if", "esac": "case", "done": "loop"}


class _Reader:
    def __init__(self, path: str, text: str, root: str, defaults: Optional[str],
                 name: Optional[str]):
        self.path, self.text, self.root, self.defaults = path, text, root, defaults
        self.name = name or os.path.basename(path)
        self.info = ScriptInfo(path=path, name=self.name)
        self.env: dict[str, str] = {}
        self.commands: list[Command] = []
        self.functions: dict[str, list[Command]] = {}
        self.init_d_script = False
        # Where each variable's value came from: "defaults" (a file in /etc/default),
        # "script" (an unconditional assignment), "guess" (one under if/loop/function).
        self.origin: dict[str, str] = {}
        self.missing_defaults: list[str] = []

    # -- variables --------------------------------------------------------------------
    def expander(self, env: dict[str, str], in_function: bool = False) -> Expander:
        def lookup(n: str) -> Optional[str]:
            if n == "0":
                return self.path
            if n.isdigit() or n in "#@*":
                # Inside a function the positional parameters are its own arguments.
                if in_function:
                    return UNRESOLVED
                return {"1": "start", "#": "1", "@": "start", "*": "start"}.get(n, "")
            return env.get(n)
        return Expander(lookup, self.subst)

    def subst(self, cmd: str) -> Optional[str]:
        words = split_commands(cmd)
        if len(words) != 1 or not words[0][0]:
            return None
        w = words[0][0]
        if w[0] == "basename" and len(w) >= 2:
            arg = self.expander(self.env).word(w[1])
            if not resolved(arg):
                return None
            base = os.path.basename(arg)
            if len(w) == 3:
                suf = self.expander(self.env).word(w[2])
                if base.endswith(suf):
                    base = base[: -len(suf)]
            return base
        if w[0] == "dirname" and len(w) == 2:
            arg = self.expander(self.env).word(w[1])
            return os.path.dirname(arg) if resolved(arg) else None
        return None

    def host_path(self, p: str) -> str:
        if self.root in ("", "/"):
            return p
        return os.path.join(self.root, p.lstrip("/"))

    def source(self, target: str, conditional: bool) -> None:
        if not resolved(target):
            self.info.warnings.append(f"sources a file whose name is not known: {target!r}")
            return
        base = os.path.basename(target)
        if target.endswith("/init-d-script") or base == "init-d-script":
            self.init_d_script = True
            return
        if target.startswith("/lib/lsb/") or target.startswith("/lib/init/") \
                or target.startswith("/etc/rc.d/init.d/functions"):
            return
        self.info.sourced.append(target)
        is_defaults = target.startswith("/etc/default/") or target.startswith("/etc/sysconfig/")
        if is_defaults and self.defaults:
            real = self.defaults
        else:
            real = self.host_path(target)
        if not os.path.isfile(real):
            if is_defaults:
                self.missing_defaults.append(target)
            return
        if not is_defaults and os.path.getsize(real) > 65536:
            return
        try:
            with open(real, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            return
        if is_defaults:
            self.info.defaults_files.append(real)
        before = dict(self.env)
        parse_assignments(text, self.env, self.expander, self.info.exported)
        for k, v in self.env.items():
            if before.get(k) != v:
                self.origin[k] = "defaults" if is_defaults else "guess"

    # -- structure ----------------------------------------------------------------------
    def scan(self) -> None:
        stack: list[tuple[str, str]] = []     # (kind, label)
        func: Optional[str] = None
        func_depth = 0
        branch: list[str] = []                # case pattern per case level
        pending_func: Optional[str] = None
        loop_glob = ""
        expect_pattern = False
        chains: list[dict] = []               # open `if`s: their branch and conditions
        for lineno, line in logical_lines(self.text):
            cond_of = None                    # (chain, branch) whose test the command is
            last_cond = None
            for words, op, bg in split_commands(line):
                if last_cond is not None and op in ("&&", "||", "|"):
                    last_cond[0]["compound"].add(last_cond[1])   # `if [ a ] && cmd`
                last_cond = None
                if not words:
                    continue
                # Function definitions: "name() {", "name ()", "function name {".
                if len(words) >= 1 and re.match(r"^[\w.:-]+\(\)$", words[0]):
                    pending_func = words[0][:-2]
                    words = words[1:]
                elif len(words) >= 2 and words[1] == "()":
                    pending_func = words[0]
                    words = words[2:]
                elif words[0] == "function" and len(words) >= 2:
                    pending_func = words[1].rstrip("()")
                    words = words[2:]
                    if words and words[0] == "()":
                        words = words[1:]
                if pending_func and words and words[0] == "{":
                    func, func_depth = pending_func, len(stack)
                    stack.append(("func", pending_func))
                    self.functions.setdefault(func, [])
                    pending_func = None
                    words = words[1:]
                if not words:
                    continue
                if pending_func and words[0] == "(":
                    pending_func = None
                if words[0] == "case":
                    stack.append(("case", ""))
                    branch.append("")
                    expect_pattern = True
                    words = words[words.index("in") + 1:] if "in" in words else []
                    if not words:
                        continue
                # Case patterns: "start)" or "start|restart)" at the head of a command.
                while stack and stack[-1][0] == "case" and words:
                    head = words[0]
                    if head == ";;":
                        if branch:
                            branch[-1] = ""
                        expect_pattern = True
                        words = []
                        break
                    if head == "esac":
                        break
                    if expect_pattern and head == "(" and len(words) > 1:
                        words = words[1:]
                        continue
                    if expect_pattern:
                        # A pattern may be split into words: "start | restart)".
                        k = next((k for k, w in enumerate(words) if w.endswith(")")), None)
                        if k is None:
                            break
                        branch[-1] = "".join(words[:k + 1])[:-1].lstrip("(")
                        expect_pattern = False
                        words = words[k + 1:]
                        continue
                    break
                if not words or words == [";;"]:
                    continue
                kw = words[0]
                if kw in ("else", "elif") and chains:
                    chains[-1]["branch"] += 1
                    if kw == "elif":
                        cond_of = (chains[-1], chains[-1]["branch"])
                    else:
                        chains[-1]["else"] = chains[-1]["branch"]
                if kw in ("then", "do", "else", "elif") and len(words) > 1:
                    words = words[1:]
                    kw = words[0]
                if kw in _KEYWORDS_OPEN and kw != "case":
                    stack.append((_KEYWORDS_OPEN[kw], ""))
                    if kw == "if":
                        chains.append({"branch": 0, "truth": {}, "compound": set(),
                                       "else": -1})
                        cond_of = (chains[-1], 0)
                    if kw == "for" and "in" in words:
                        loop_glob = " ".join(words[words.index("in") + 1:])
                    if kw in ("for",):
                        continue
                    words = words[1:]
                    if not words:
                        continue
                    kw = words[0]
                if kw in _KEYWORDS_CLOSE or kw == "}":
                    want = _KEYWORDS_CLOSE.get(kw, "func")
                    for k in range(len(stack) - 1, -1, -1):
                        if stack[k][0] == want or (want == "func" and stack[k][0] == "func"):
                            closed = stack[k:]
                            del stack[k:]
                            if any(c[0] == "case" for c in closed):
                                branch = branch[: len(branch) - sum(
                                    1 for c in closed if c[0] == "case")]
                            if want == "func" or any(c[0] == "func" for c in closed):
                                func = None
                            n_ifs = sum(1 for c in closed if c[0] == "if")
                            if n_ifs:
                                del chains[len(chains) - n_ifs:]
                            break
                    if kw == "}" or len(words) == 1:
                        continue
                    words = words[1:]
                if words and words[0] in ("then", "do", "else", "elif"):
                    words = words[1:]
                while words and words[0] in ("!", "time", "command", "builtin"):
                    words = words[1:]
                if not words:
                    continue
                ctx = {
                    "func": func, "branch": [b for b in branch if b],
                    "loop": loop_glob if any(s[0] == "loop" for s in stack) else "",
                    "conditional": len(stack) > 0 or op in ("&&", "||"),
                    "ifs": sum(1 for k in stack if k[0] == "if"),
                    "ifpath": tuple((c, c["branch"]) for c in chains
                                    if cond_of is None or c is not cond_of[0]),
                }
                k = 0
                while k < len(words) - 1 and assignment(words[k]):
                    k += 1
                if k and not assignment(words[k]):
                    words = words[k:]       # `VAR=x cmd`: the assignment is cmd's alone
                cmds = [Command(words=words, line=lineno, after_op=op, background=bg)]
                # `R=$(start-stop-daemon --start ...)` and `if ! $(cmd)`: the substituted
                # command runs too.
                for w in words:
                    for inner in _substitutions(w):
                        for iw, iop, ibg in split_commands(inner):
                            if iw:
                                cmds.append(Command(words=iw, line=lineno, after_op=iop,
                                                    background=ibg))
                if cond_of is not None:
                    ctx["cond"] = cond_of
                    last_cond, cond_of = cond_of, None
                for k, cmd in enumerate(cmds):
                    cmd.context = dict(ctx, substituted=k > 0)
                    self.commands.append(cmd)
                    if func:
                        self.functions[func].append(cmd)

    # -- evaluation ---------------------------------------------------------------------
    def evaluate(self) -> None:
        """One pass in file order: assignments, sourced files; snapshot env per command."""
        for cmd in self.commands:
            words = cmd.words
            exp = self.expander(self.env, in_function=bool(cmd.context.get("func")))
            if cmd.context.get("substituted"):
                cmd.context["env"] = dict(self.env)
                continue
            if cmd.context.get("cond"):
                chain, k = cmd.context["cond"]
                chain["truth"][k] = test_value(words, exp)
            head = words[0]
            if head in ("export", "readonly", "local", "declare", "typeset"):
                for w in words[1:]:
                    a = assignment(w)
                    if a:
                        self.assign(a, cmd, exported=head == "export")
                    elif head == "export" and re.match(r"^\w+$", w):
                        self.info.exported[w] = self.env.get(w, "")
                cmd.context["env"] = dict(self.env)
                continue
            if all(assignment(w) for w in words):
                for w in words:
                    self.assign(assignment(w), cmd)
            elif head in (".", "source") and len(words) >= 2:
                self.source(exp.word(words[1]), cmd.context["conditional"])
            elif head == ":" and len(words) >= 2:
                for w in words[1:]:
                    m = re.match(r'^"?\$\{(\w+):?=(.*)\}"?$', w)
                    if m and not self.env.get(m.group(1)):
                        self.env[m.group(1)] = exp.word(m.group(2))
            cmd.context["env"] = dict(self.env)
            cmd.context["origin"] = dict(self.origin)
        if self.init_d_script:
            # init-d-script reads /etc/default/$NAME after the script's own settings.
            name = self.env.get("NAME") or os.path.basename(self.env.get("DAEMON", "")) \
                or self.name
            for n in dict.fromkeys((name, self.name)):
                if n and f"/etc/default/{n}" not in self.info.sourced:
                    self.source(f"/etc/default/{n}", True)
        self.info.variables = {k: v for k, v in self.env.items() if resolved(v)}

    def assign(self, a, cmd: Command, exported: bool = False) -> None:
        name, raw, append = a
        val = self.expander(self.env, in_function=bool(cmd.context.get("func"))).word(raw)
        if append:
            val = self.env.get(name, "") + val
        if len(val) > 4096:
            val = UNRESOLVED    # grown in a loop: not a value we can know
        cond = cmd.context["conditional"]
        if any(branch_dead(c, k) for c, k in cmd.context.get("ifpath", ())):
            # A branch the script cannot take here (apache2: `elif [ "${SCRIPTNAME##apache2-}"
            # != "$SCRIPTNAME" ]` for the script named apache2).
            return
        old = self.env.get(name)
        if cond and not old and re.search(r"\$\{?" + name + r"\b", raw):
            # `[ "$NICE" ] && NICE="-n $NICE"`: decorates a value only when it is set.
            return
        if cond and old and resolved(old) and not append:
            # A guarded default (`[ -z "$X" ] && X=...`, inside if/case/function) does not
            # override a value already set, e.g. by /etc/default.
            return
        self.env[name] = val
        self.origin[name] = "guess" if cond or cmd.context["loop"] else "script"
        if exported:
            self.info.exported[name] = val

    def run_setup(self, cmds: list[Command]) -> None:
        """info.run_dirs: what the start action mkdirs; info.run_setup: those commands for
        absolute paths, and the chown/chmod of them."""
        made: list[list[str]] = []
        owned: list[list[str]] = []
        dirs: list[str] = []
        for c in cmds:
            raw = self.words_of(c)
            if raw and raw[0] in ("mkdir", "install") and (raw[0] == "mkdir" or "-d" in raw):
                for d in raw[1:]:
                    if d.startswith("/") and resolved(d) and d not in self.info.run_dirs:
                        self.info.run_dirs.append(d)
            w = [x.rstrip("/") or "/" for x in raw]
            if not w or not all(resolved(x) for x in w):
                continue
            targets = [x for x in w[1:] if not x.startswith("-")]
            if w[0] == "mkdir" or (w[0] == "install" and "-d" in w):
                # Any directory, not only /run's: a daemon cannot start without its log
                # or state dir either (issue 11), and only root could make it for a user.
                new = [t for t in targets if t.startswith("/")]
                if not new:
                    continue
                if w[0] == "mkdir" and not ({"-p", "--parents"} & set(w)):
                    w = ["mkdir", "-p"] + w[1:]
                if w not in made:
                    made.append(w)
                dirs += new
            elif w[0] in ("chown", "chmod") and len(targets) >= 2:
                # `chown redis:redis $RUNDIR $PIDFILE`: the dir's part (the file is the
                # daemon's to write).
                keep = [t for t in targets[1:] if t in dirs]
                w = [x for x in w if x not in targets[1:]] + keep
                if keep and w not in owned:
                    owned.append(w)
        self.info.run_setup = made + owned

    # -- finding the start ----------------------------------------------------------------
    def disabled_by(self, la: Launch) -> str:
        """Why the start action does not start the daemon here, or "".

        Debian scripts guard the start with a switch in /etc/default (tor's RUN_DAEMON,
        carbon's CARBON_CACHE_ENABLED, rsync's RSYNC_ENABLE): `[ "$X" = yes ] || exit 0`,
        `if [ "$X" != yes ]; then ... exit 0; fi` at the top or in the start branch, or the
        start inside `if "$X"; then`. Only a guard whose every test is known, on variables
        that are the machine's settings, counts: an unknown one is read as "the script
        starts it", which is what adopt does without this.
        """
        reach, start_cmds = self.start_context()
        la_cmd = next((c for c in self.commands if c.line == la.line and la.line), None)
        before = min((c.line for c in start_cmds), default=1 << 30)
        if la_cmd is not None and la_cmd.context["func"] is None:
            before = min(before, la.line)
        for i, c in enumerate(self.commands):
            ctx = c.context
            if ctx.get("substituted") or ctx["loop"] or not _exits_quietly(c):
                continue
            branch, func = ctx["branch"], ctx["func"]
            if func is None:
                on_path = (not branch and c.line < before) or (
                    len(branch) == 1 and _is_start_pattern(branch[0]) and (
                        la_cmd is None or la_cmd.context["func"] is not None
                        or c.line < la.line))
            else:
                on_path = func in reach and not branch and (
                    la_cmd is None or la_cmd.context["func"] != func or c.line < la.line)
            if not on_path:
                continue
            guards = []
            for chain, k in ctx.get("ifpath", ()):
                if not branch_live(chain, k):
                    break
                guards.append((chain, k))
            else:
                prev = self.commands[i - 1] if i else None
                if c.after_op in ("||", "&&"):
                    if prev is None or prev.line != c.line or prev.context.get("cond"):
                        continue
                    exp = self.expander(prev.context.get("env", {}))
                    if test_value(prev.words, exp) is not (c.after_op == "&&"):
                        continue
                    why = self._guard([prev], c.line)
                elif guards:
                    why = self._guard(self._conditions(guards), c.line)
                else:
                    continue        # an exit without a guard is the script's end
                if why:
                    return why
        return self._start_in_dead_branch(la_cmd, start_cmds)

    def _start_in_dead_branch(self, la_cmd: Optional[Command], start_cmds) -> str:
        """The start branch reaches the launch only through branches known not to run."""
        if la_cmd is None or la_cmd.context.get("loop"):
            return ""
        func = la_cmd.context["func"]
        if func is None:
            callers = [la_cmd]
        else:
            callers = [c for c in start_cmds if self._calls(c.words[0], func)]
        why = ""
        for c in callers:
            dead = [(chain, k) for chain, k in c.context.get("ifpath", ())
                    if branch_dead(chain, k)]
            if not dead:
                return ""
            why = why or self._guard(self._conditions(dead[:1]), c.line)
        return why

    def _calls(self, f: str, target: str) -> bool:
        seen, todo = set(), [f]
        while todo:
            g = todo.pop()
            if g == target:
                return True
            if g in seen or g not in self.functions:
                continue
            seen.add(g)
            todo += [c.words[0] for c in self.functions[g]]
        return False

    def _conditions(self, branches) -> list[Command]:
        """The test commands that decide the given (chain, branch) pairs."""
        return [t for t in self.commands if t.context.get("cond") and any(
            t.context["cond"][0] is g and t.context["cond"][1] <= k for g, k in branches)]

    def _guard(self, tests: list[Command], line: int) -> str:
        names = sorted({n for t in tests for w in t.words for n in re.findall(r"\$\{?(\w+)", w)})
        if not tests or not names:
            return ""
        env = tests[-1].context.get("env", {})
        origin = tests[-1].context.get("origin", {})
        # A value guessed from a branch or a loop (jetty's JAVA_HOME search), or a script
        # default that a missing /etc/default file would have replaced, is not the
        # machine's setting.
        trusted = ("defaults",) if self.missing_defaults else ("defaults", "script")
        if any(origin.get(n) not in trusted for n in names):
            return ""
        exp = self.expander(env)
        shown = "; ".join(" ".join(t.words) + (" is true" if test_value(t.words, exp)
                                               else " is false") for t in tests)
        vals = ", ".join(f"{n}={env[n]}" for n in names)
        return f"line {line}, {shown} ({vals})"

    def start_context(self) -> tuple[set[str], list[Command]]:
        """Functions reachable from the start branch, and the commands run for start."""
        start_cmds = [c for c in self.commands if not c.context["func"] and
                      any(_is_start_pattern(b) for b in c.context["branch"][:1])]
        reach: set[str] = set()
        todo = [c.words[0] for c in start_cmds]
        # init-d-script calls do_start; scripts without a case branch use start()/do_start().
        todo += ["do_start", "do_start_cmd", "do_start_cmd_override", "do_start_override",
                 "start", "d_start",
                 "start_daemon_" + self.name]
        while todo:
            f = todo.pop()
            if f in reach or f not in self.functions:
                continue
            reach.add(f)
            for c in self.functions[f]:
                todo.append(c.words[0])
        return reach, start_cmds

    def find_launch(self) -> Optional[Launch]:
        reach, start_cmds = self.start_context()
        pools = [start_cmds + [c for f in reach for c in self.functions[f]]]
        # Fall back to every command not in an obvious stop/status/reload context.
        pools.append([c for c in self.commands if not _non_start(c)])
        for pool in pools:
            found = [(c, la) for c in sorted(pool, key=lambda c: c.line)
                     for la in [self.launch_of(c)] if la]
            if found:
                # Several starts (pure-ftpd's optional upload daemon before the server): the
                # least nested in `if` is the service's own; the first among equals.
                fewest = min(c.context["ifs"] for c, _ in found)
                return next(la for c, la in found if c.context["ifs"] == fewest)
        if self.init_d_script:
            calls_cmd = any("do_start_cmd" in c.words
                            for c in self.functions.get("do_start_override", []))
            if "do_start_cmd" in self.functions or (
                    "do_start_override" in self.functions and not calls_cmd):
                return None     # the script replaced init-d-script's start and runs no daemon
            return self.init_d_launch()
        for pool in pools:
            for c in sorted(pool, key=lambda c: c.line):
                la = self.direct_of(c, pool)
                if la:
                    return la
        return self.wrapper_by_name()

    def words_of(self, c: Command, raw: Optional[list[str]] = None) -> list[str]:
        env = dict(self.env)
        env.update(c.context.get("env", {}))
        exp = self.expander(env, in_function=bool(c.context.get("func")))
        return exp.words(strip_redirections(raw if raw is not None else c.words))

    def head_of(self, c: Command) -> str:
        w = self.words_of(c, c.words[:1])
        return os.path.basename(w[0]) if w else ""

    def launch_of(self, c: Command) -> Optional[Launch]:
        raw = c.words
        head = self.head_of(c)
        if head in ("start-stop-daemon", "/sbin/start-stop-daemon"):
            words = self.words_of(c)
            la = parse_ssd(words[1:])
            if la is None:
                return None
            la.line = c.line
            la.background = la.background or c.background
            return la
        if head == "start_daemon":
            return self._at(parse_start_daemon(self.words_of(c)[1:]), c)
        if head in self.functions and c.context.get("func") != head:
            # start_stop_x() { start-stop-daemon "$@" --pidfile ...; } called with --start
            for body in self.functions[head]:
                raw_body = body.words
                if os.path.basename(raw_body[0]) != "start-stop-daemon" or not any(
                        w in _ALL_ARGS for w in raw_body):
                    continue
                merged: list[str] = []
                for w in raw_body:
                    merged += list(raw[1:]) if w in _ALL_ARGS else [w]
                la = parse_ssd(self.words_of(c, merged)[1:])
                if la:
                    la.line = c.line
                    return la
        if head == "daemon" and len(raw) > 1:
            return self._at(parse_rh_daemon(self.words_of(c)[1:]), c)
        return None

    @staticmethod
    def _at(la: Optional[Launch], c: Command) -> Optional[Launch]:
        if la is not None:
            la.line = c.line
        return la

    def init_d_launch(self) -> Optional[Launch]:
        env = self.env
        daemon = env.get("DAEMON", "")
        if not daemon:
            return None
        name = env.get("NAME") or os.path.basename(daemon)
        la = Launch(style="init-d-script", exec=daemon,
                    # $DAEMON_ARGS is expanded unquoted: field splitting only.
                    args=env.get("DAEMON_ARGS", "").split(),
                    pidfile=env.get("PIDFILE") or f"/var/run/{name}.pid")
        if env.get("PIDFILE") == "none":
            la.pidfile = ""
        start_args = env.get("START_ARGS", "")
        if start_args:
            extra = parse_ssd(["--start"] + start_args.split() + ["--exec", daemon])
            if extra:
                for k in ("user", "group", "chdir", "umask", "nice", "name", "startas",
                          "chroot"):
                    if getattr(extra, k):
                        setattr(la, k, getattr(extra, k))
                la.background |= extra.background
                la.make_pidfile |= extra.make_pidfile
                if extra.pidfile:
                    la.pidfile = extra.pidfile
        if env.get("COMMAND_NAME"):
            la.name = env["COMMAND_NAME"]
        return la

    def direct_of(self, c: Command, pool: list[Command]) -> Optional[Launch]:
        """A start action that runs the daemon itself: `$DAEMON $OPTS`, `su -c CMD`,
        `/usr/sbin/foo &`, a wrapper like `apache2ctl start`."""
        words = self.words_of(c)
        if not words:
            return None
        user = ""
        if os.path.basename(words[0]) in ("su", "runuser"):
            user, inner = _su_parts(words)
            if inner is None:
                return None
            sub = split_commands(inner)
            if not sub:
                return None
            words = self.expander(c.context.get("env", self.env)).words(sub[0][0])
            if not words:
                return None
        while words and os.path.basename(words[0]) in ("exec", "nohup", "setsid", "nice",
                                                       "env", "chpst", "ionice"):
            words = words[1:]
            while words and (words[0].startswith("-") or "=" in words[0]):
                words = words[1:]
        if not words:
            return None
        prog = words[0]
        base = os.path.basename(prog)
        if not resolved(prog) or base in NOT_DAEMONS or not base or base.startswith("$"):
            return None
        if assignment(prog) or prog.startswith("-"):
            return None
        if base in WRAPPERS:
            return Launch(style="wrapper", line=c.line, exec=prog, args=words[1:],
                          wrapper=base, user=user, background=c.background)
        daemon_var = self.env.get("DAEMON", "\x01")
        is_daemon_var = prog == daemon_var or base == os.path.basename(daemon_var)
        if not prog.startswith("/") and not is_daemon_var:
            # A bare command name is only trusted when it is what $DAEMON names.
            return None
        if prog == self.path or prog.startswith(("/etc/init.d/", "/etc/rc.d/")):
            return None     # `$0 start`: the script calling itself
        is_ctl = base.endswith(("ctl", "ctl.sh", "control")) or is_daemon_var
        if is_ctl and "start" in words[1:2] and self.runs_with(prog, "stop"):
            # `su - $USER -c "$CTL start"` ... `$CTL stop`: a control wrapper.
            return Launch(style="wrapper", line=c.line, exec=prog, args=words[1:],
                          wrapper=base, user=user, background=c.background)
        if not (is_daemon_var or c.background):
            return None     # a helper run in the start action (iscsiadm, a .sh), not $DAEMON
        if c.context["func"] and c.context["func"] not in self.start_context()[0] \
                and not c.context["branch"]:
            return None
        if any(a in ("-t", "--test", "configtest", "--version", "-V", "--help", "-h")
               for a in words[1:2]):
            return None
        if not self.stops_something():
            return None
        return Launch(style="direct", line=c.line, exec=prog, args=words[1:], user=user,
                      background=c.background)

    def wrapper_by_name(self) -> Optional[Launch]:
        """A start dispatched through shell functions we cannot follow (`$1 $v`, sourced
        helper libraries) that names a known wrapper: take the wrapper, and say so."""
        texts = [self.text] + [self._read_small(p) for p in self.info.sourced]
        texts = ["\n".join(ln for ln in t.splitlines() if not ln.lstrip().startswith("#"))
                 for t in texts]
        texts.sort(key=lambda t: 0 if re.search(r"/(" + "|".join(
            re.escape(w) for w in sorted(WRAPPERS)) + r")\b", t) else 1)
        for t in texts:
            for m in re.finditer(r"(?<![\w./-])((?:/[\w.-]+)*/?(" + "|".join(
                    re.escape(w) for w in sorted(WRAPPERS)) + r"))\b", t):
                prog = m.group(1)
                base = m.group(2)
                if base in ("postfix", "elasticsearch", "rabbitmq-server"):
                    continue
                self.info.warnings.append(
                    f"start goes through shell functions; found the wrapper {base} by name")
                return Launch(style="wrapper", exec=prog, wrapper=base)
        return None

    def _read_small(self, p: str) -> str:
        real = self.host_path(p)
        try:
            if os.path.getsize(real) <= 262144:
                with open(real, encoding="utf-8", errors="replace") as f:
                    return f.read()
        except OSError:
            pass
        return ""

    def runs_with(self, prog: str, verb: str) -> bool:
        for c in self.commands:
            w = self.words_of(c)
            if w and os.path.basename(w[0]) in ("su", "runuser"):
                _, inner = _su_parts(w)
                sub = split_commands(inner or "")
                w = self.expander(c.context.get("env", self.env)).words(sub[0][0]) if sub else []
            if len(w) >= 2 and w[0] == prog and verb in w[1:3]:
                return True
        return False

    def stops_something(self) -> bool:
        for c in self.commands:
            head = self.head_of(c)
            if head in ("killproc", "kill", "killall", "pkill"):
                return True
            if head == "start-stop-daemon" and any(x in ("--stop", "-K") for x in c.words):
                return True
        return False

    # -- stop and reload signals ----------------------------------------------------------
    def signals(self) -> None:
        for c in self.commands:
            branch = (c.context["branch"] or [""])[0]
            func = c.context["func"] or ""
            words = self.words_of(c)
            if not words or os.path.basename(words[0]) != "start-stop-daemon":
                continue
            if not any(w in ("--stop", "-K") for w in words):
                continue
            opts = ssd_options(words[1:])
            sig = opts.get("--signal", "")
            retry = opts.get("--retry", "")
            where = branch + " " + func
            if "reload" in where or "rotate" in where or "reopen" in where:
                if sig:
                    if "rotate" in where or "reopen" in where:
                        self.info.reopen_signal = self.info.reopen_signal or _signame(sig)
                    else:
                        self.info.reload_signal = self.info.reload_signal or _signame(sig)
                continue
            if "upgrade" in where or "status" in where:
                continue
            if retry and not self.info.stop_signal:
                parts = [p for p in retry.split("/") if p and p != "forever"]
                sigs = [p for p in parts if not p.isdigit()]
                nums = [int(p) for p in parts if p.isdigit()]
                self.info.stop_signal = _signame(sigs[0]) if sigs else (
                    _signame(sig) if sig else "TERM")
                if nums:
                    self.info.stop_timeout = nums[0]
            elif sig and not self.info.stop_signal and ("stop" in where):
                self.info.stop_signal = _signame(sig)

    def run(self) -> ScriptInfo:
        self.info.lsb = parse_lsb(self.text)
        first = self.text.split("\n", 1)[0]
        if first.startswith("#!") and "init-d-script" in first:
            self.init_d_script = True
        self.scan()
        self.evaluate()
        la = self.find_launch()
        info = self.info
        if la is None:
            info.kind = "oneshot"
            ran = sorted({self.head_of(c) for c in self.start_context()[1]} - {""})
            if info.libraries:
                info.library_calls = [h for h in ran if h not in NOT_DAEMONS
                                      and h not in self.functions and not assignment(h)
                                      and not h.startswith(("$", "/", "."))]
            info.reasons.append("the start action launches no daemon"
                                + (f" (it runs: {', '.join(ran[:8])})" if ran else ""))
        else:
            info.kind = "daemon"
            info.launch = la
            info.reasons.append(f"line {la.line}: {la.style} starts {la.program}"
                                if la.line else f"{la.style} starts {la.program}")
            if la.style == "init-d-script":
                info.reasons[-1] = ("the script runs on /lib/init/init-d-script with "
                                    f"DAEMON={la.exec}")
            for what, val in (("daemon", la.program), ("pidfile", la.pidfile),
                              ("user", la.user), ("directory", la.chdir)):
                if val and not resolved(val):
                    info.warnings.append(f"{what} is computed at run time: "
                                         f"{val.replace(UNRESOLVED, '$(...)')}")
            for a in la.args:
                if not resolved(a):
                    info.warnings.append("arguments are computed at run time; "
                                         "review the command")
                    break
            reach, start_cmds = self.start_context()
            self.run_setup(start_cmds + [c for f in reach for c in self.functions[f]])
            loop = next((c.context["loop"] for c in self.commands if c.line == la.line
                         and c.context["loop"]), "")
            if loop:
                info.instance_loop = self.expander(self.env).word(loop)
            info.disabled = self.disabled_by(la)
            self.signals()
        return info


_REDIR = re.compile(r"^[0-9]*(>>?|<|>&|<&|&>)(.*)$")


def _exits_quietly(c: Command) -> bool:
    w = c.words
    return w[0] == "exit" and (len(w) == 1 or w[1].rstrip(";") == "0")


def test_value(words: list[str], exp) -> Optional[bool]:
    """The value of a simple `[ ... ]`/`test ...` condition whose words are all known, else
    None: `[ A ]`, `[ -n A ]`, `[ -z A ]`, `[ A = B ]`, `[ A != B ]`, `$X` that is true or
    false, with a leading `!`."""
    neg = False
    if words and words[0] == "!":
        neg, words = True, words[1:]
    if len(words) == 1 and "$(" not in words[0] and "`" not in words[0]:
        # `if "$RSYNC_ENABLE"; then`: the value is run; true and false are known.
        v = exp.word(words[0])
        return None if v not in ("true", "false", ":") else (v != "false") != neg
    if len(words) >= 2 and words[0] == "[" and words[-1] == "]":
        args = words[1:-1]
    elif words and words[0] == "test":
        args = words[1:]
    else:
        return None
    if any("$(" in w or "`" in w for w in args):
        return None
    vals = [exp.word(w) for w in args]
    if any(UNRESOLVED in v for v in vals):
        return None
    if len(vals) == 1:
        r = vals[0] != ""
    elif len(vals) == 2 and vals[0] in ("-n", "-z"):
        r = (vals[1] != "") == (vals[0] == "-n")
    elif len(vals) == 3 and vals[1] in ("=", "==", "!="):
        r = (vals[0] == vals[2]) == (vals[1] != "!=")
    else:
        return None
    return r != neg


def branch_live(chain: dict, k: int) -> bool:
    """Branch k of an if/elif/else chain is known to run: its own condition is known true, or
    it is the else and every condition is known false; and no earlier condition is true."""
    if any(j in chain["compound"] for j in range(k + 1)):
        return False
    if any(chain["truth"].get(j) is not False for j in range(k)):
        return False
    return k == chain["else"] or chain["truth"].get(k) is True


def branch_dead(chain: dict, k: int) -> bool:
    """Branch k of an if/elif/else chain is known not to run: an earlier condition is known
    true, or its own is known false."""
    for j in range(k):
        if j not in chain["compound"] and chain["truth"].get(j) is True:
            return True
    return (k != chain["else"] and k not in chain["compound"]
            and chain["truth"].get(k) is False)


def strip_redirections(words: list[str]) -> list[str]:
    """Drop `>file`, `2>&1`, `< in` and the like: they are not arguments."""
    out, skip = [], False
    for w in words:
        if skip:
            skip = False
            continue
        m = _REDIR.match(w)
        if m and not w.startswith(("'", '"')):
            if not m.group(2):
                skip = True
            continue
        out.append(w)
    return out


_ALL_ARGS = ('"$@"', "$@", "$*", '"$*"')


def _substitutions(word: str) -> list[str]:
    """The bodies of $(...) and `...` in a raw word (outermost only)."""
    out, i, n = [], 0, len(word)
    while i < n:
        c = word[i]
        if c == "'" :
            j = word.find("'", i + 1)
            i = n if j < 0 else j + 1
            continue
        if c == "$" and word.startswith("$(", i) and not word.startswith("$((", i):
            from wrapctl.shellwords import _scan_balanced
            j = _scan_balanced(word, i + 1)
            out.append(word[i + 2:j])
            i = j + 1
            continue
        if c == "`":
            j = word.find("`", i + 1)
            j = n if j < 0 else j
            out.append(word[i + 1:j])
            i = j + 1
            continue
        i += 1
    return out


def _is_start_pattern(p: str) -> bool:
    return any(x.strip("'\"") == "start" for x in p.split("|"))


def _non_start(c: Command) -> bool:
    branch = (c.context["branch"] or [""])[0]
    func = (c.context["func"] or "").lower()
    if branch and not _is_start_pattern(branch) and "restart" not in branch:
        return True
    return any(x in func for x in ("stop", "status", "reload", "rotate", "check", "test",
                                   "upgrade", "usage", "kill"))


def _su_parts(words: list[str]) -> tuple[str, Optional[str]]:
    user, inner = "", None
    i = 1
    while i < len(words):
        w = words[i]
        if w in ("-c", "--command") and i + 1 < len(words):
            inner = words[i + 1]
            i += 2
            continue
        if w in ("-s", "--shell", "-g", "--group") and i + 1 < len(words):
            i += 2
            continue
        if w in ("-u", "--user") and i + 1 < len(words):
            user = words[i + 1]
            i += 2
            continue
        if w == "--":
            if words[0].endswith("runuser") and inner is None:
                inner = " ".join(words[i + 1:])
            break
        if not w.startswith("-") and not user:
            user = w
        i += 1
    return user, inner


def _signame(s: str) -> str:
    """A signal as a script names it ('-HUP', 'SIGHUP', '1') -> 'HUP'; unknown, as given."""
    from wrapctl.shims import signals
    s = s.strip().upper()
    try:
        return signals.name(signals.number(s)).removeprefix("SIG")
    except ValueError:
        return s[3:] if s.startswith("SIG") else s


def read_script(path: str, *, root: str = "/", defaults: Optional[str] = None,
                name: Optional[str] = None, text: Optional[str] = None,
                grammar: bool = True) -> ScriptInfo:
    """Read the init script at `path`. `root` prefixes absolute paths it sources
    (/etc/default/NAME); `defaults` replaces any /etc/default or /etc/sysconfig file.
    `grammar=False` gives the line reader's result alone (to compare the readers)."""
    if text is None:
        try:
            with open(path, "rb") as f:
                data = f.read(1 << 20)
        except OSError as e:
            raise ScriptError(f"{path}: {e.strerror or e}") from None
        if b"\0" in data[:4096]:
            raise ScriptError(f"{path}: not a shell script (binary data)")
        text = data.decode("utf-8", errors="replace")
    if defaults is not None and not os.path.isfile(defaults):
        raise ScriptError(f"{defaults}: defaults file not found")
    info = _Reader(path, text, root, defaults, name).run()
    if not grammar:
        return info
    from wrapctl.adopt.merge import merge_grammar_reading
    merge_grammar_reading(info, text, root=root, defaults=defaults)
    return info
