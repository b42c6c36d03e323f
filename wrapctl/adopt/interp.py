"""An abstract interpreter of init scripts: what each action (start, stop, status, reload,
...) would run, without running anything.

The script is walked as a shell would walk it with $1 set to the action: assignments,
/etc/default and /etc/sysconfig files and helper libraries it sources (found under `root`,
else on this machine for libraries such as /lib/lsb/init-functions), functions called with
their arguments, case dispatch, and/or lists, if/elif/else, for loops over known words or
globs under `root`. A condition is decided when its test can be (string tests, -n/-z,
=/!=, numbers, file tests on files that exist under `root`, `command -v` of a function);
otherwise both ways are walked and their variables joined, preferring a value a branch
assigned over the value before it (the branch that assigns is the one that matters for
what the daemon gets: `cmd || OPTIONS="--daemon $OPTIONS"`). An exit or return under any
condition is recorded, not taken: the reader wants what the action runs when it runs (a
disable switch in /etc/default is reported, it does not hide the daemon). A value that
cannot be known (most command substitutions, `read`, arithmetic on unknowns) stays the
UNKNOWN marker and its name is reported with its line.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import glob as _glob
import os
import re
from typing import Optional

from wrapctl.adopt import grammar as g
from wrapctl.adopt.records import (ACTIONS, UNKNOWN, Action, Exit, Interpretation, Run,
                                   Unresolved, known)

# Functions of the LSB and Red Hat libraries whose meaning is their name: kept as commands
# (recognized later), not walked into, even when a sourced library defines them.
PRIMITIVES = {"start_daemon", "killproc", "status_of_proc", "pidofproc", "daemon",
              "startproc", "checkproc", "killproc", "status", "pidofproc"}
_QUIET_PREFIXES = ("log_", "vlog_")          # output only: not walked, cheap
_SYSTEM_LIBS = ("/lib/lsb/", "/lib/init/", "/usr/lib/lsb/", "/etc/rc.d/init.d/functions",
                "/etc/init.d/functions", "/etc/lsb-base-logging.sh")
_IFS = re.compile(r"[ \t\n]+")
_MAX_STEPS = 40000
_MAX_DEPTH = 24
_MAX_LOOP = 16
_MAX_FILE = 262144


class _Exit(Exception):
    pass


class _Return(Exception):
    def __init__(self, status):
        self.status = status


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Budget(Exception):
    pass


@dataclasses.dataclass
class _State:
    env: dict
    exported: dict
    funcs: dict
    pos: list
    arg0: str
    status: Optional[bool] = True

    def fork(self) -> "_State":
        return _State(dict(self.env), dict(self.exported), dict(self.funcs), list(self.pos),
                      self.arg0, self.status)


@dataclasses.dataclass(frozen=True)
class _Ctx:
    file: str
    funcs: tuple = ()
    guarded: bool = False
    test: bool = False
    captured: bool = False
    loop: tuple = ()
    user: str = ""
    via: tuple = ()
    conds: tuple = ()          # texts of the decided tests this code runs under
    lconds: int = 0            # conditions since the function or file began (for return)
    depth: int = 0
    bg: bool = False
    dead: str = ""             # walking a branch known not to run (see Run.dead)


class Interpreter:
    def __init__(self, path: str, text: str, *, root: str = "/", defaults: Optional[str] = None,
                 env: Optional[dict] = None):
        self.path, self.text, self.root, self.defaults = path, text, root or "/", defaults
        self.base_env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                         # what wrapctl sets when it runs the script (no systemctl redirect)
                         "SYSTEMCTL_SKIP_REDIRECT": "true"}
        self.base_env.update(env or {})
        self._trees: dict[str, g.Script] = {}
        self.unresolved: dict[tuple, Unresolved] = {}
        self.syntax_errors: list[int] = []

    # -- entry ------------------------------------------------------------------------------
    def interpret(self, actions=ACTIONS) -> Interpretation:
        out = Interpretation(path=self.path)
        main = self._tree(self.path)
        self.syntax_errors = main.errors if main else []
        for a in actions:
            out.actions[a] = self.run(a)
        out.unresolved = list(self.unresolved.values())
        out.syntax_errors = list(self.syntax_errors)
        fn: list[str] = []
        for a in out.actions.values():
            fn += [f for f in a.env.get("\0funcs", "").split() if f not in fn]
            a.env.pop("\0funcs", None)
        out.functions = fn
        return out

    def run(self, action: str) -> Action:
        self.act = Action(name=action)
        self.steps = 0
        self.last_argv: list[str] = []
        self.breaking = False
        self.skipped_return = False
        st = _State(dict(self.base_env), {}, {}, [action], self.path)
        lib = self._init_d_script()
        try:
            if lib:
                # `#!/bin/sh /lib/init/init-d-script`: the library runs, sourcing the script.
                st.pos, st.arg0 = [self.path, action], "/lib/init/init-d-script"
                self.block(self._tree(lib).body, st, _Ctx(file=lib))
            else:
                self.block(self._tree(self.path).body, st, _Ctx(file=self.path))
        except _Exit:
            pass
        except (_Return, _Break, _Continue):
            pass
        except _Budget:
            self.act.truncated = True
        except RecursionError:
            self.act.truncated = True
        self.act.env = {k: v for k, v in st.env.items()}
        self.act.env["\0funcs"] = " ".join(st.funcs)
        self.act.exported = {k: st.env.get(k, v) for k, v in st.exported.items()}
        return self.act

    def _init_d_script(self) -> Optional[str]:
        first = self.text.split("\n", 1)[0]
        if first.startswith("#!") and "/lib/init/init-d-script" in first:
            return self._locate("/lib/init/init-d-script")
        return None

    # -- files ------------------------------------------------------------------------------
    def _host(self, p: str) -> str:
        if self.root in ("", "/"):
            return p
        return os.path.join(self.root, p.lstrip("/"))

    @staticmethod
    def _settings(p: str) -> bool:
        return p.startswith(("/etc/default/", "/etc/sysconfig/"))

    def _locate(self, target: str) -> Optional[str]:
        if target == self.path:
            return self.path
        if not target.startswith("/"):
            return None
        if self._settings(target) and self.defaults:
            return self.defaults
        cand = self._host(target)
        if os.path.isfile(cand):
            return cand
        if self.root not in ("", "/") and not self._settings(target) \
                and not target.startswith("/etc/") and os.path.isfile(target):
            return target       # a system library (/lib/lsb, /lib/init) of this machine
        return None

    def _locate_dir(self, d: str) -> Optional[str]:
        if not d.startswith("/"):
            return None
        for cand in (self._host(d), d if not d.startswith("/etc/") else ""):
            if cand and os.path.isdir(cand):
                return cand
        return None

    def _tree(self, real: str) -> Optional[g.Script]:
        if real in self._trees:
            return self._trees[real]
        if real == self.path:
            tree = g.parse(self.text)
        else:
            tree = _file_tree(real)
        self._trees[real] = tree
        return tree

    def _text_tree(self, text: str) -> g.Script:
        key = "\0text:" + text
        if key not in self._trees:
            self._trees[key] = g.parse(text)
        return self._trees[key]

    # -- reporting ------------------------------------------------------------------------
    def _unknown(self, what: str, line: int, ctx: _Ctx) -> None:
        key = (what, line, ctx.file)
        if key not in self.unresolved:
            self.unresolved[key] = Unresolved(what, line, ctx.file)

    def _step(self) -> None:
        self.steps += 1
        if self.steps > _MAX_STEPS:
            raise _Budget()

    # -- statements -----------------------------------------------------------------------
    def block(self, nodes, st: _State, ctx: _Ctx) -> Optional[bool]:
        for n in nodes:
            st.status = self.node(n, st, ctx)
        return st.status

    def node(self, n, st: _State, ctx: _Ctx) -> Optional[bool]:
        self._step()
        if n.background and not isinstance(n, g.Command):
            ctx = dataclasses.replace(ctx, bg=True)
        if isinstance(n, g.Command):
            return self.command(n, st, ctx)
        if isinstance(n, g.AndOr):
            return self.andor(n, st, ctx)
        if isinstance(n, g.Pipeline):
            status = None
            for item in n.items:
                sub = st.fork()
                try:
                    status = self.node(item, sub, ctx)
                except _Exit:
                    pass
            return status
        if isinstance(n, g.Not):
            s = self.node(n.body, st, ctx)
            return None if s is None else not s
        if isinstance(n, g.If):
            return self.if_(n.clauses, n.orelse, st, ctx)
        if isinstance(n, g.Case):
            return self.case(n, st, ctx)
        if isinstance(n, g.For):
            return self.for_(n, st, ctx)
        if isinstance(n, g.While):
            return self.while_(n, st, ctx)
        if isinstance(n, g.FuncDef):
            st.funcs[n.name] = (n, ctx.file)
            return True
        if isinstance(n, g.Group):
            if n.subshell:
                sub = st.fork()
                try:
                    return self.block(n.body, sub, ctx)
                except _Exit:
                    return None
            return self.block(n.body, st, ctx)
        return None

    def _cond_ctx(self, ctx: _Ctx, text: str, decided: bool) -> _Ctx:
        if decided:
            return dataclasses.replace(ctx, conds=ctx.conds + (text,), lconds=ctx.lconds + 1)
        return dataclasses.replace(ctx, guarded=True, conds=ctx.conds + ("",),
                                   lconds=ctx.lconds + 1)

    def andor(self, n: g.AndOr, st: _State, ctx: _Ctx) -> Optional[bool]:
        status = None
        prev_text = ""
        for k, (op, item) in enumerate(n.items):
            if k == 0:
                status = self.node(item, st, ctx)
                prev_text = _node_text(item)
                continue
            if (op == "&&" and status is False) or (op == "||" and status is True):
                self.dead_walk(lambda s, c, it=item: self.node(it, s, c), st, ctx,
                               prev_text + (" is false" if op == "&&" else " is true"))
                continue
            if status is None:
                c2 = self._cond_ctx(ctx, "", False)
                status = self.choice(st, [lambda s, it=item: self.node(it, s, c2), None])
            else:
                text = prev_text + (" is true" if status else " is false")
                status = self.node(item, st, self._cond_ctx(ctx, text, True))
            prev_text = _node_text(item)
        return status

    def if_(self, clauses, orelse, st: _State, ctx: _Ctx) -> Optional[bool]:
        for k, (cond, body) in enumerate(clauses):
            tctx = dataclasses.replace(ctx, test=True)
            status = self.block(cond, st, tctx)
            text = "; ".join(_node_text(c) for c in cond)
            if status is True:
                rest = clauses[k + 1:]
                if rest or orelse is not None:
                    self.dead_walk(lambda s, c, r=rest: self.if_(r, orelse, s, c) if r else
                                   self.block(orelse, s, c), st, ctx, text + " is true")
                return self.block(body, st, self._cond_ctx(ctx, text + " is true", True))
            if status is False:
                self.dead_walk(lambda s, c, b=body: self.block(b, s, c), st, ctx,
                               text + " is false")
                continue
            rest = clauses[k + 1:]
            c2 = self._cond_ctx(ctx, "", False)
            alts: list = [lambda s, b=body: self.block(b, s, c2)]
            if rest:
                alts.append(lambda s, r=rest: self.if_(r, orelse, s, c2))
            elif orelse is not None:
                alts.append(lambda s: self.block(orelse, s, c2))
            else:
                alts.append(None)
            return self.choice(st, alts)
        if orelse is not None:
            conds = "; ".join(_node_text(c) for cl in clauses for c in cl[0])
            return self.block(orelse, st, self._cond_ctx(ctx, conds + " is false", True))
        return True

    def dead_walk(self, fn, st: _State, ctx: _Ctx, why: str) -> None:
        """Walk a branch a known test rules out, on a copy that is then dropped: what it
        would run is recorded (Run.dead) so a disabled or fallback start is still seen."""
        if ctx.dead or ctx.captured:
            return
        c = dataclasses.replace(ctx, dead=why, lconds=ctx.lconds + 1, conds=ctx.conds + ("",))
        try:
            fn(st.fork(), c)
        except (_Exit, _Return, _Break, _Continue):
            pass

    def choice(self, st: _State, alts: list) -> Optional[bool]:
        """Walk each alternative (None: do nothing) from the same state and join them."""
        base = st.fork()
        outs: list[_State] = []
        statuses = []
        for alt in alts:
            s = base.fork()
            if alt is not None:
                try:
                    statuses.append(alt(s))
                except (_Exit, _Return, _Break, _Continue):
                    continue        # that path leaves; what the others do goes on
            else:
                statuses.append(base.status)
            outs.append(s)
        if not outs:
            return None
        for name in {k for s in outs for k in s.env}:
            before = base.env.get(name)
            vals = [s.env.get(name) for s in outs]
            changed = [v for v in vals if v != before]
            if before is not None and not known(before):
                # Unknown before: a default given on one path while the others keep it
                # (`[ -z "$PID" ] && PID=/run/x.pid` after PID=$(awk ... conf)) is the best
                # guess; anything else (cleared on one path, set on another) stays unknown.
                if len(changed) == len(vals) or len(set(changed)) != 1 or not changed[0]:
                    continue
            if changed and changed[0] is not None:
                st.env[name] = changed[0]
            elif changed and all(v is None for v in changed) and len(changed) == len(vals):
                st.env.pop(name, None)
        for s in outs:
            for k, v in s.exported.items():
                st.exported.setdefault(k, v)
            for k, v in s.funcs.items():
                st.funcs.setdefault(k, v)
        pos = [s.pos for s in outs if s.pos != base.pos]
        if pos:
            st.pos = pos[0]
        return statuses[0] if statuses and all(x == statuses[0] for x in statuses) else None

    def case(self, n: g.Case, st: _State, ctx: _Ctx) -> Optional[bool]:
        subject = self.string(n.subject, st, ctx, n.line)
        if known(subject):
            # Items a settings value rules out are walked as dead branches; items of the
            # dispatch on the action ($1) are the other actions, not walked.
            on_args = any(isinstance(p, g.Param) and p.name.isdigit() for p in n.subject.parts)
            hit = None
            for item in n.items:
                if hit is None and any(fnmatch.fnmatchcase(subject, self.pattern(p, st, ctx))
                                       for p in item.patterns):
                    hit = item
                elif not on_args:
                    self.dead_walk(lambda s, c, b=item.body: self.block(b, s, c), st, ctx,
                                   f"case {n.subject.text} is {subject!r}")
            return self.block(hit.body, st, ctx) if hit is not None else True
        c2 = self._cond_ctx(ctx, "", False)
        alts: list = [lambda s, b=item.body: self.block(b, s, c2) for item in n.items]
        alts.append(None)
        return self.choice(st, alts)

    def for_(self, n: g.For, st: _State, ctx: _Ctx) -> Optional[bool]:
        if n.words is None:
            values = list(st.pos)
        else:
            values = []
            for w in n.words:
                for f in self.fields(w, st, ctx, n.line):
                    values.extend(self._glob(f) if _has_glob(w) else [f])
        status: Optional[bool] = True
        if not values:
            # No instance configured here (INTERFACES empty in /etc/default): what one
            # instance would run is still what the script starts.
            def once(s, c):
                s.env[n.var] = UNKNOWN
                try:
                    self.block(n.body, s, dataclasses.replace(
                        c, loop=c.loop + ((n.var, UNKNOWN),)))
                except (_Break, _Continue):
                    pass
            self.dead_walk(once, st, ctx, f"for {n.var}: the list is empty")
        for v in values[:_MAX_LOOP]:
            st.env[n.var] = v
            lctx = dataclasses.replace(ctx, loop=ctx.loop + ((n.var, v),))
            self.breaking = False
            try:
                status = self.block(n.body, st, lctx)
            except _Break:
                break
            except _Continue:
                continue
            if self.breaking:
                self.breaking = False
                break
        return status

    def _glob(self, pattern: str) -> list[str]:
        if not known(pattern) or not pattern.startswith("/"):
            return [pattern]
        found = sorted(_glob.glob(self._host(pattern)))
        if not found:
            return [pattern]
        if self.root in ("", "/"):
            return found
        n = len(self.root.rstrip("/"))
        return [p[n:] for p in found]

    def while_(self, n: g.While, st: _State, ctx: _Ctx) -> Optional[bool]:
        self.block(n.cond, st, dataclasses.replace(ctx, test=True))
        c2 = self._cond_ctx(ctx, "", False)

        def body(s):
            try:
                return self.block(n.body, s, c2)
            except (_Break, _Continue):
                return None
        self.choice(st, [body, None])
        self.breaking = False
        return True

    # -- commands --------------------------------------------------------------------------
    def command(self, n: g.Command, st: _State, ctx: _Ctx) -> Optional[bool]:
        if not n.words:
            for a in n.assigns:
                self.assign(a, st, ctx, n.decl, n.line)
            return True
        env: dict[str, str] = {}
        for a in n.assigns:
            if a.value is not None:
                env[a.name] = self.string(a.value, st, ctx, n.line)
        argv: list[str] = []
        for w in n.words:
            argv.extend(self.fields(w, st, ctx, n.line))
        self.last_argv = argv
        if not argv:
            return True
        return self.exec_argv(argv, env, st, ctx, n.line, n.background, argv)

    def assign(self, a: g.Assign, st: _State, ctx: _Ctx, decl: str, line: int) -> None:
        if a.value is None:
            if decl == "export":
                st.exported[a.name] = st.env.get(a.name, "")
            elif decl == "local":
                st.env[a.name] = ""
            return
        val = self.string(a.value, st, ctx, line)
        if a.append:
            val = (st.env.get(a.name) or "") + val
        if len(val) > 8192:
            val = UNKNOWN
        st.env[a.name] = val
        if decl == "export":
            st.exported[a.name] = val

    def exec_argv(self, argv, env, st: _State, ctx: _Ctx, line: int, bg: bool,
                  full: list[str]) -> Optional[bool]:
        head = argv[0]
        base = head.rsplit("/", 1)[-1]
        cond_exit = bool(ctx.conds) or ctx.guarded
        if head in (".", "source"):
            if len(argv) < 2:
                return None
            st.env.update(env)      # assignments before a special builtin stay
            return self.source(argv[1], argv[2:], st, ctx, line)
        if head == "exit":
            if ctx.dead:
                return None
            self.act.exits.append(Exit(line, ctx.file, argv[1] if len(argv) > 1 else "",
                                       decided=" and ".join(c for c in ctx.conds if c),
                                       guarded=ctx.guarded))
            if not cond_exit:
                raise _Exit()
            return None
        if head == "return":
            code = argv[1] if len(argv) > 1 else ""
            status = None if not code.isdigit() else code == "0"
            if not ctx.lconds and ctx.depth:
                raise _Return(status)
            self.skipped_return = True
            return status
        if head in ("break", "continue"):
            if not ctx.lconds:
                raise _Break() if head == "break" else _Continue()
            if head == "break":
                self.breaking = True
            return True
        if head == "shift":
            k = int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else 1
            st.pos = st.pos[k:]
            return True
        if head == "set":
            if "--" in argv:
                st.pos = argv[argv.index("--") + 1:]
            elif len(argv) > 1 and argv[1][:1] not in ("-", "+"):
                st.pos = argv[1:]
            return True
        if head == "unset":
            funcs = "-f" in argv
            for name in argv[1:]:
                if name.startswith("-"):
                    continue
                (st.funcs if funcs else st.env).pop(name, None)
            return True
        if head in ("export", "readonly", "local", "declare", "typeset"):
            for w in argv[1:]:
                m = re.match(r"^([A-Za-z_]\w*)=(.*)$", w, re.S)
                if m:
                    st.env[m.group(1)] = m.group(2)
                    if head == "export":
                        st.exported[m.group(1)] = m.group(2)
                elif head == "export" and re.match(r"^[A-Za-z_]\w*$", w):
                    st.exported[w] = st.env.get(w, "")
            return True
        if head == "eval":
            text = " ".join(argv[1:])
            if not known(text):
                self._unknown("eval " + text.replace(UNKNOWN, "?"), line, ctx)
                return None
            return self.block(self._text_tree(text).body, st, ctx)
        if head in (":", "true"):
            return True
        if head == "false":
            return False
        if head in ("[", "test", "[["):
            return self.test(argv, head)
        if head == "read":
            for name in argv[1:]:
                if not name.startswith("-"):
                    st.env[name] = UNKNOWN
            return None
        if head in ("alias", "trap", "umask", "ulimit", "cd", "hash", "wait", "getopts"):
            return None
        if head == "command" and len(argv) > 2 and argv[1] in ("-v", "-V"):
            name = argv[2]
            if name in st.funcs or name in _BUILTINS:
                return True
            return None
        if head in st.funcs and not self._opaque(head, st):
            return self.call(head, argv, env, st, ctx, line)
        inner = _peel(argv)
        if inner is not None:
            kind, payload, user = inner
            wctx = dataclasses.replace(ctx, via=ctx.via + (base,), user=user or ctx.user)
            if kind == "argv":
                if not payload:
                    return None
                return self.exec_argv(payload[0], {**env, **payload[1]}, st, wctx, line, bg,
                                      full)
            if kind == "string":
                text, args = payload
                if not known(text):
                    self._unknown(f"{base} -c {text.replace(UNKNOWN, '?')}", line, ctx)
                    self._record(argv, env, ctx, line, bg, full)
                    return None
                sub = st.fork()
                sub.funcs = {}          # a new shell: the script's functions are not there
                if args:
                    sub.arg0, sub.pos = args[0], args[1:]
                try:
                    return self.block(self._text_tree(text).body, sub, wctx)
                except (_Exit, _Return, _Break, _Continue):
                    return None
        self._record(argv, env, ctx, line, bg, full)
        return None

    def _opaque(self, name: str, st: _State) -> bool:
        """A system library's start_daemon, killproc, log_*: kept as a command (its name
        says what it does). The script's own function of that name is walked."""
        if name not in PRIMITIVES and not name.startswith(_QUIET_PREFIXES):
            return False
        file = st.funcs[name][1]
        if self.root not in ("", "/") and file.startswith(self.root.rstrip("/") + "/"):
            file = file[len(self.root.rstrip("/")):]
        return file.startswith(_SYSTEM_LIBS)

    def _record(self, argv, env, ctx: _Ctx, line: int, bg: bool, full) -> None:
        self.act.runs.append(Run(
            argv=list(argv), line=line, file=ctx.file, env=dict(env), user=ctx.user,
            via=ctx.via, funcs=ctx.funcs, guarded=ctx.guarded, conds=len(ctx.conds),
            test=ctx.test,
            captured=ctx.captured, background=bg or ctx.bg, loop=ctx.loop, dead=ctx.dead,
            wrapper_argv=list(full)))

    def call(self, name, argv, env, st: _State, ctx: _Ctx, line: int) -> Optional[bool]:
        node, file = st.funcs[name]
        if ctx.depth >= _MAX_DEPTH or name in ctx.funcs[-3:] and ctx.funcs.count(name) > 2:
            self._record(argv, env, ctx, line, False, argv)
            return None
        saved_pos, saved_env = st.pos, {k: st.env.get(k) for k in env}
        st.pos = list(argv[1:])
        st.env.update(env)
        locals_before = dict(st.env)
        fctx = dataclasses.replace(ctx, file=file, funcs=ctx.funcs + (name,), test=False,
                                   depth=ctx.depth + 1, lconds=0)
        declared = _locals(node.body)
        outer_skip, self.skipped_return = self.skipped_return, False
        try:
            status = self.block(node.body, st, fctx)
            if self.skipped_return:
                status = None       # it may have returned earlier, with another status
        except _Return as r:
            status = r.status if not self.skipped_return else None
        finally:
            self.skipped_return = outer_skip
            st.pos = saved_pos
            for k in declared:
                if k in locals_before:
                    st.env[k] = locals_before[k]
                else:
                    st.env.pop(k, None)
            for k, v in saved_env.items():
                if v is None:
                    st.env.pop(k, None)
                else:
                    st.env[k] = v
        return status

    def source(self, target: str, args, st: _State, ctx: _Ctx, line: int) -> Optional[bool]:
        if not known(target):
            self._unknown("source " + target.replace(UNKNOWN, "?"), line, ctx)
            return None
        if target not in self.act.sourced:
            self.act.sourced.append(target)
        real = self._locate(target)
        if real is None or ctx.depth >= _MAX_DEPTH:
            return False
        tree = self._tree(real)
        if tree is None:
            return False
        if real not in self.act.read:
            self.act.read.append(real)
        saved = st.pos
        if args:
            st.pos = list(args)
        try:
            return self.block(tree.body, st, dataclasses.replace(
                ctx, file=real, depth=ctx.depth + 1, lconds=0))
        except _Return as r:
            return r.status
        finally:
            if args:
                st.pos = saved

    # -- tests -----------------------------------------------------------------------------
    def test(self, argv: list[str], head: str) -> Optional[bool]:
        args = argv[1:]
        if head in ("[", "[[") and args and args[-1] in ("]", "]]"):
            args = args[:-1]
        try:
            val, i = self._or(args, 0, head == "[[")
        except IndexError:
            return None
        return val if i == len(args) else None

    def _or(self, a, i, dbl):
        v, i = self._and(a, i, dbl)
        while i < len(a) and a[i] in ("-o", "||"):
            w, i = self._and(a, i + 1, dbl)
            v = True if (v is True or w is True) else (False if v is False and w is False
                                                       else None)
        return v, i

    def _and(self, a, i, dbl):
        v, i = self._not(a, i, dbl)
        while i < len(a) and a[i] in ("-a", "&&"):
            w, i = self._not(a, i + 1, dbl)
            v = False if (v is False or w is False) else (True if v and w else None)
        return v, i

    def _not(self, a, i, dbl):
        if a[i] == "!" and i + 1 < len(a):
            v, i = self._not(a, i + 1, dbl)
            return (None if v is None else not v), i
        return self._primary(a, i, dbl)

    def _primary(self, a, i, dbl):
        if a[i] == "(":
            v, i = self._or(a, i + 1, dbl)
            return v, i + 1
        if i + 2 < len(a) and a[i + 1] in _BINOPS:
            return _binary(a[i], a[i + 1], a[i + 2], dbl), i + 3
        if a[i] in _UNOPS and i + 1 < len(a):
            return self._unary(a[i], a[i + 1]), i + 2
        s = a[i]
        return (True if s.replace(UNKNOWN, "") else (None if UNKNOWN in s else False)), i + 1

    def _unary(self, op: str, s: str) -> Optional[bool]:
        if op in ("-n", "-z"):
            if s.replace(UNKNOWN, ""):
                return op == "-n"
            return None if UNKNOWN in s else op == "-z"
        if not known(s) or not s.startswith("/"):
            return None
        p = self._host(s)
        if not os.path.lexists(p):
            # Absent here says nothing of the machine the config is for (a corpus holds
            # only /etc; a package may be installed later): undecided.
            return None
        if op in ("-e", "-a"):
            return True
        if op == "-f":
            return os.path.isfile(p)
        if op == "-d":
            return os.path.isdir(p)
        if op in ("-L", "-h"):
            return os.path.islink(p)
        if op == "-s":
            return os.path.getsize(p) > 0
        if op == "-x":
            return os.access(p, os.X_OK) or None
        if op in ("-r", "-w"):
            return True
        return None

    # -- words -----------------------------------------------------------------------------
    def fields(self, w: g.Word, st: _State, ctx: _Ctx, line: int = 0) -> list[str]:
        pieces = self._pieces(w.parts, st, ctx, line, False)
        out: list[str] = []
        cur, have = "", False
        for text, kind in pieces:
            if kind == "break":
                out.append(cur)
                cur, have = "", False
                continue
            if kind == "split":
                parts = _IFS.split(text)
                for k, part in enumerate(parts):
                    if k > 0 and (have or cur):
                        out.append(cur)
                        cur, have = "", False
                    cur += part
                    have = have or bool(part)
                continue
            cur += text
            have = True
        if have or cur:
            out.append(cur)
        return out

    def string(self, w: g.Word, st: _State, ctx: _Ctx, line: int = 0) -> str:
        return "".join(t if k != "break" else " "
                       for t, k in self._pieces(w.parts, st, ctx, line, True))

    def pattern(self, w: g.Word, st: _State, ctx: _Ctx) -> str:
        out = ""
        for p in w.parts:
            if isinstance(p, g.Lit):
                out += _glob_escape(p.text) if p.quoted else p.text
            else:
                val = "".join(t for t, _ in self._pieces((p,), st, ctx, 0, True))
                out += _glob_escape(val) if getattr(p, "quoted", False) else val
        return out

    def _pieces(self, parts, st, ctx, line, whole) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for p in parts:
            if isinstance(p, g.Lit):
                out.append((p.text, "lit"))
            elif isinstance(p, g.Param):
                if p.name in ("@", "*") and not p.op:
                    if p.quoted and p.name == "@" and not whole:
                        for k, v in enumerate(st.pos):
                            if k:
                                out.append(("", "break"))
                            out.append((v, "lit"))
                        continue
                    val = " ".join(st.pos)
                else:
                    val = self.param(p, st, ctx, line)
                out.append((val, "lit" if p.quoted or whole else "split"))
            elif isinstance(p, g.Subst):
                val = self.subst(p, st, ctx, line)
                out.append((val, "lit" if p.quoted or whole else "split"))
            elif isinstance(p, g.Arith):
                out.append((self.arith(p.text, st), "lit"))
        return out

    def lookup(self, name: str, st: _State) -> Optional[str]:
        if name.isdigit():
            k = int(name)
            if k == 0:
                return st.arg0
            return st.pos[k - 1] if k <= len(st.pos) else None
        if name == "#":
            return str(len(st.pos))
        if name == "?":
            return {True: "0", False: "1"}.get(st.status, UNKNOWN)
        if name in ("$", "!", "PPID", "RANDOM", "UID", "EUID"):
            return UNKNOWN
        if name == "-":
            return ""
        return st.env.get(name)

    def param(self, p: g.Param, st: _State, ctx: _Ctx, line: int) -> str:
        val = self.lookup(p.name, st)
        if val is not None and not known(val) and not p.op.startswith(":"):
            self._unknown("$" + p.name, line, ctx)
        op = p.op
        if not op:
            return val if val is not None else ""
        if op == "#len":
            return str(len(val)) if val is not None and known(val) else (
                "0" if val is None else UNKNOWN)

        def arg() -> str:
            return "".join(t if k != "break" else " "
                           for t, k in self._pieces(p.arg, st, ctx, line, True))
        if op in (":-", "-", ":=", "="):
            unset = val is None or (op.startswith(":") and (val == "" or not known(val)))
            if not unset:
                return val
            d = arg()
            if op in (":=", "="):
                st.env[p.name] = d
            return d
        if op in (":+", "+"):
            return arg() if val is not None and (val != "" or op == "+") else ""
        if op in (":?", "?"):
            return val if val is not None else UNKNOWN
        if val is None:
            val = ""
        if op in ("#", "##", "%", "%%"):
            pat = arg()
            if not known(val) or not known(pat):
                return UNKNOWN
            return _trim(val, pat, op)
        self._unknown("${" + p.name + op + "...}", line, ctx)
        return UNKNOWN

    def subst(self, p: g.Subst, st: _State, ctx: _Ctx, line: int) -> str:
        sub = st.fork()
        cctx = dataclasses.replace(ctx, captured=True)
        self.last_argv = []
        try:
            self.block(list(p.body), sub, cctx)
        except (_Exit, _Return, _Break, _Continue):
            pass
        argv = self.last_argv
        if len(p.body) == 1 and isinstance(p.body[0], g.Command) and argv:
            v = _known_output(argv, self)
            if v is not None:
                return v
        self._unknown(p.text, line, ctx)
        return UNKNOWN

    def arith(self, text: str, st: _State) -> str:
        body = text[3:-2] if text.startswith("$((") else text

        def name(m):
            v = st.env.get(m.group(1)) if not m.group(1).isdigit() else self.lookup(
                m.group(1), st)
            return v if v is not None and re.fullmatch(r"-?\d+", v) else "\x00"
        expr = re.sub(r"\$?\{?([A-Za-z_]\w*|\d+)\}?", name, body)
        if "\x00" in expr or not re.fullmatch(r"[\d\s+\-*/%()<>=!&|]*", expr):
            return UNKNOWN
        try:
            expr = expr.replace("/", "//").replace("&&", " and ").replace("||", " or ")
            return str(int(eval(expr, {"__builtins__": {}}, {})))  # noqa: S307 digits only
        except Exception:
            return UNKNOWN


_FILE_TREES: dict[tuple, Optional[g.Script]] = {}


def _file_tree(real: str) -> Optional[g.Script]:
    """A sourced file's tree, kept across scripts while the file is unchanged (every
    script on Debian sources /lib/lsb/init-functions)."""
    try:
        st = os.stat(real)
    except OSError:
        return None
    key = (real, st.st_mtime_ns, st.st_size, st.st_ino)
    if key in _FILE_TREES:
        return _FILE_TREES[key]
    tree = None
    if st.st_size <= _MAX_FILE:
        try:
            with open(real, encoding="utf-8", errors="replace") as f:
                tree = g.parse(f.read())
        except OSError:
            tree = None
    if len(_FILE_TREES) > 256:
        _FILE_TREES.clear()
    _FILE_TREES[key] = tree
    return tree


def _known_output(argv: list[str], it: Interpreter) -> Optional[str]:
    """The output of the few commands whose output is their arguments."""
    head = argv[0].rsplit("/", 1)[-1]
    if not all(known(a) for a in argv):
        return None
    if head == "basename" and len(argv) in (2, 3):
        b = argv[1].rstrip("/").rsplit("/", 1)[-1]
        if len(argv) == 3 and b.endswith(argv[2]) and b != argv[2]:
            b = b[: -len(argv[2])]
        return b
    if head == "dirname" and len(argv) == 2:
        return os.path.dirname(argv[1].rstrip("/")) or "."
    if head == "echo":
        args = argv[1:]
        while args and args[0] in ("-n", "-e", "-E"):
            args = args[1:]
        return " ".join(args)
    if head == "run-parts" and "--list" in argv and not argv[-1].startswith("-"):
        # what run-parts would run: the directory's files (init-functions' hooks)
        d = argv[-1]
        real = it._locate_dir(d)
        if real is None:
            return None
        names = sorted(n for n in os.listdir(real) if re.fullmatch(r"[\w-]+", n)
                       and os.path.isfile(os.path.join(real, n)))
        return " ".join(os.path.join(d, n) for n in names)
    if head == "printf" and len(argv) >= 2 and "%" not in argv[1] and "\\" not in argv[1]:
        return argv[1]
    return None


_BUILTINS = {".", ":", "[", "alias", "break", "cd", "command", "continue", "echo", "eval",
             "exec", "exit", "export", "false", "getopts", "hash", "local", "printf", "pwd",
             "read", "readonly", "return", "set", "shift", "test", "times", "trap", "true",
             "type", "ulimit", "umask", "unalias", "unset", "wait"}
_BINOPS = {"=", "==", "!=", "-eq", "-ne", "-lt", "-gt", "-le", "-ge", "<", ">", "=~", "-nt",
           "-ot", "-ef"}
_UNOPS = {"-n", "-z", "-e", "-f", "-d", "-x", "-r", "-w", "-s", "-L", "-h", "-p", "-S",
          "-c", "-b", "-g", "-u", "-k", "-t", "-O", "-G", "-N", "-a"}


def _could_equal(x: str, y: str) -> bool:
    """Whether x, with its unknown parts standing for any text, could be y."""
    rx = ".*".join(re.escape(p) for p in x.split(UNKNOWN))
    return re.fullmatch(rx, y, re.S) is not None


def _binary(x: str, op: str, y: str, dbl: bool) -> Optional[bool]:
    if op in ("=", "==", "!=") and not dbl and known(x) != known(y):
        # "/run/a/?/x.pid" = none: the known parts already differ
        if not _could_equal(*((x, y) if not known(x) else (y, x))):
            return op == "!="
        return None
    if not known(x) or not known(y):
        return None
    if op in ("=", "=="):
        return fnmatch.fnmatchcase(x, y) if dbl else x == y
    if op == "!=":
        return not fnmatch.fnmatchcase(x, y) if dbl else x != y
    if op in ("-eq", "-ne", "-lt", "-gt", "-le", "-ge"):
        try:
            a, b = int(x.strip()), int(y.strip())
        except ValueError:
            return None
        return {"-eq": a == b, "-ne": a != b, "-lt": a < b, "-gt": a > b, "-le": a <= b,
                "-ge": a >= b}[op]
    if op == "<":
        return x < y
    if op == ">":
        return x > y
    return None


def _trim(val: str, pat: str, op: str) -> str:
    if op in ("#", "##"):
        rng = range(len(val) + 1) if op == "#" else range(len(val), -1, -1)
        for k in rng:
            if fnmatch.fnmatchcase(val[:k], pat):
                return val[k:]
        return val
    rng = range(len(val), -1, -1) if op == "%" else range(len(val) + 1)
    for k in rng:
        if fnmatch.fnmatchcase(val[k:], pat):
            return val[:k]
    return val


def _glob_escape(s: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", s)


def _has_glob(w: g.Word) -> bool:
    return any(isinstance(p, g.Lit) and not p.quoted and re.search(r"[*?\[]", p.text)
               for p in w.parts)


def _node_text(n) -> str:
    if isinstance(n, g.Command):
        return " ".join(w.text for w in n.words) or " ".join(
            f"{a.name}=" + (a.value.text if a.value else "") for a in n.assigns)
    if isinstance(n, g.Not):
        return "! " + _node_text(n.body)
    if isinstance(n, g.AndOr):
        return " ".join((op + " " if op else "") + _node_text(x) for op, x in n.items)
    return type(n).__name__.lower()


def _locals(body) -> set[str]:
    out: set[str] = set()
    for n in body:
        if isinstance(n, g.Command) and n.decl == "local":
            out.update(a.name for a in n.assigns)
        elif isinstance(n, g.AndOr):
            out |= _locals([x for _, x in n.items])
        elif isinstance(n, (g.Group,)):
            out |= _locals(n.body)
    return out


# -- wrappers ---------------------------------------------------------------------------
# Commands that run another command: (options that take a value). Peeled to find what is
# really run and as whom.
_PLAIN = {"nohup": (), "setsid": (), "exec": ("-a",), "time": (), "builtin": (),
          "command": (), "nice": ("-n", "--adjustment"), "ionice": ("-c", "-n", "-p"),
          "stdbuf": ("-i", "-o", "-e"), "chrt": (), "taskset": (), "numactl": (),
          "setpriv": ("--reuid", "--regid", "--groups", "--inh-caps", "--bounding-set"),
          "daemonize": ("-p", "-l", "-u", "-e", "-o", "-c"), "unbuffer": ()}


def _peel(argv: list[str]):
    """("argv", (argv, env), user) | ("string", (text, args), user) | None."""
    base = argv[0].rsplit("/", 1)[-1]
    rest = argv[1:]
    if base in ("sh", "bash", "dash") and len(rest) >= 2 and rest[0] == "-c":
        return "string", (rest[1], rest[2:]), ""
    if base in ("su", "runuser"):
        return _su(base, rest)
    if base == "sudo":
        user, i = "", 0
        while i < len(rest) and rest[i].startswith("-"):
            if rest[i] == "--":
                i += 1
                break
            if rest[i] in ("-u", "--user", "-g", "--group") and i + 1 < len(rest):
                if rest[i] in ("-u", "--user"):
                    user = rest[i + 1]
                i += 2
                continue
            i += 1
        return "argv", ((rest[i:], {}) if rest[i:] else None), user
    if base == "chroot":
        user, i = "", 0
        while i < len(rest) and rest[i].startswith("-"):
            if rest[i].startswith("--userspec="):
                user = rest[i].split("=", 1)[1].split(":")[0]
            i += 1
        i += 1          # the new root
        return "argv", ((rest[i:], {}) if rest[i:] else None), user
    if base == "env":
        env, i = {}, 0
        while i < len(rest):
            w = rest[i]
            if w in ("-u", "--unset", "-C", "--chdir") and i + 1 < len(rest):
                i += 2
                continue
            if w.startswith("-"):
                i += 1
                continue
            m = re.match(r"^([A-Za-z_]\w*)=(.*)$", w, re.S)
            if not m:
                break
            env[m.group(1)] = m.group(2)
            i += 1
        return "argv", ((rest[i:], env) if rest[i:] else None), ""
    if base == "chpst":
        user, i = "", 0
        while i < len(rest) and rest[i].startswith("-"):
            w = rest[i]
            if w in ("-u", "-U") and i + 1 < len(rest):
                if w == "-u":
                    user = rest[i + 1].lstrip(":").split(":")[0]
                i += 2
                continue
            if w in ("-e", "-/", "-n", "-l", "-L", "-m", "-d", "-o", "-p", "-f", "-c") \
                    and i + 1 < len(rest):
                i += 2
                continue
            i += 1
        return "argv", ((rest[i:], {}) if rest[i:] else None), user
    if base in _PLAIN:
        if base == "command" and rest and rest[0] in ("-v", "-V"):
            return None
        valued = _PLAIN[base]
        i = 0
        while i < len(rest) and rest[i].startswith("-"):
            if rest[i] == "--":
                i += 1
                break
            if rest[i] in valued and i + 1 < len(rest):
                i += 2
                continue
            i += 1
        if base in ("chrt", "taskset") and i < len(rest):
            i += 1      # the priority / cpu mask
        return "argv", ((rest[i:], {}) if rest[i:] else None), ""
    return None


def _su(base: str, rest: list[str]):
    user, text, i = "", None, 0
    tail: list[str] = []
    while i < len(rest):
        w = rest[i]
        if w in ("-c", "--command") and i + 1 < len(rest):
            text = rest[i + 1]
            i += 2
            continue
        if w.startswith("--command="):
            text = w.split("=", 1)[1]
            i += 1
            continue
        if w in ("-s", "--shell", "-g", "--group", "-G", "--supp-group") and i + 1 < len(rest):
            i += 2
            continue
        if w in ("-u", "--user") and i + 1 < len(rest):
            user = rest[i + 1]
            i += 2
            continue
        if w == "--":
            tail = rest[i + 1:]
            break
        if not w.startswith("-") and not user:
            user = w
        elif not w.startswith("-") and text is not None:
            tail = rest[i:]
            break
        i += 1
    if text is not None:
        return "string", (text, tail), user
    if base == "runuser" and tail:
        return "argv", (tail, {}), user
    return None


def interpret(path: str, text: str, *, root: str = "/", defaults: Optional[str] = None,
              actions=ACTIONS) -> Interpretation:
    """Walk the script's actions (see the module's docstring)."""
    return Interpreter(path, text, root=root, defaults=defaults).interpret(actions)

