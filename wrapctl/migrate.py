"""`wrapctl migrate DIR --out OUTDIR`: adopt every init script of a machine.

Writes OUTDIR/programs/NAME.conf per service, OUTDIR/include.conf (an [include] section for
supervisord.conf), OUTDIR/report.txt and OUTDIR/report.json; nothing outside OUTDIR.
Start order comes from LSB Required-Start/Should-Start: supervisord gets priority= by
dependency depth, `--format wrapctl` also gets depends_on=.

With `observing` (`--observe`), each script read as starting a daemon is also run once
(wrapctl.adopt.observe: its start, then its stop) and its config is written from what its
start left running; the report says, per script, whether it was observed and why not.
Scripts read as oneshots are not run: their start and stop do boot and shutdown work.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Optional

from wrapctl.adopt import Adoption, AdoptError, adopt, check_shim_access, render_ini
from wrapctl.adopt.observe import ObserveFailed, ObserveRefused, observe
from wrapctl.adopt.observed import adopt_observed, watch_dirs
from wrapctl.initscript import ScriptError, read_script
from wrapctl.recipes import RecipeBook

# Files in /etc/init.d that are not services.
SKIP_NAMES = {"README", "skeleton", "rc", "rcS", ".depend.boot", ".depend.start",
              ".depend.stop", ".legacy-bootordering", "functions"}
SKIP_SUFFIXES = (".dpkg-old", ".dpkg-new", ".dpkg-dist", ".dpkg-bak", ".ucf-old", ".ucf-new",
                 ".ucf-dist", ".orig", ".rej", "~", ".bak", ".swp")
# insserv's virtual facilities (/etc/insserv.conf) that a migrated service can provide.
# $local_fs, $remote_fs, $network are the machine's own: nothing to order against.
FACILITIES = {
    "$syslog": ("rsyslog", "syslog-ng", "sysklogd", "inetutils-syslogd", "busybox-syslogd"),
    "$named": ("bind9", "named", "unbound", "dnsmasq", "pdns-recursor", "nsd", "knot"),
    "$time": ("ntp", "ntpsec", "chrony", "openntpd"),
    "$portmap": ("rpcbind", "portmap"),
    "$mail-transport-agent": ("postfix", "exim4", "sendmail", "opensmtpd", "nullmailer"),
}
BASE_PRIORITY = 100
STEP = 10


class MigrateError(Exception):
    """Bad input for migrate (one line)."""


@dataclass
class Row:
    script: str
    result: str                 # recipe | shim | foreground | oneshot skipped | needs review | unreadable
    programs: list[str] = field(default_factory=list)
    reason: str = ""
    review: list[str] = field(default_factory=list)
    file: str = ""
    observed: str = ""          # with --observe: "yes", or why not ("not observed: ...")


@dataclass
class Observing:
    """--observe settings: the start's time limit and the directories watched for
    pidfiles (with those each script names)."""
    time_limit: float = 60.0
    watch: list[str] = field(default_factory=lambda: ["/run"])


@dataclass
class Migration:
    rows: list[Row]
    adoptions: dict[str, Adoption]
    order: dict[str, int]       # program -> priority
    depends: dict[str, list[str]]


def _scripts(src: str) -> list[str]:
    out = []
    for fn in sorted(os.listdir(src)):
        p = os.path.join(src, fn)
        if fn in SKIP_NAMES or fn.startswith(".") or fn.endswith(SKIP_SUFFIXES):
            continue
        if os.path.isfile(p):
            out.append(p)
    return out


def plan(src: str, book: RecipeBook, *, root: str = "/", defaults_dir: Optional[str] = None,
         shim: Optional[str] = None, observing: Optional[Observing] = None) -> Migration:
    """Adopt every script in src. `shim`: where wrapctl-shim is, to check that programs
    running it as another user can (supervisord's format). `observing`: run each daemon
    script once and adopt what it started (the caller has checked that this is root)."""
    if not os.path.isdir(src):
        raise MigrateError(f"{src}: not a directory")
    rows: list[Row] = []
    adoptions: dict[str, Adoption] = {}
    for path in _scripts(src):
        name = os.path.basename(path)
        defaults = None
        if defaults_dir:
            cand = os.path.join(defaults_dir, name)
            defaults = cand if os.path.isfile(cand) else None
        try:
            info = read_script(path, root=root, defaults=defaults)
            ad, observed = (_observed(path, info, book, root, observing) if observing
                            else (adopt(info, book, root=root), ""))
            check_shim_access(ad, shim)
        except (ScriptError, AdoptError) as e:
            rows.append(Row(script=path, result="unreadable", reason=str(e)))
            continue
        except RecursionError:
            rows.append(Row(script=path, result="unreadable", reason="script too deeply nested"))
            continue
        result = {"oneshot": "oneshot skipped", "review": "needs review"}.get(
            ad.decision, ad.decision)
        reason = _reason(ad)
        rows.append(Row(script=path, result=result, programs=[p.name for p in ad.programs],
                        reason=reason, review=ad.review_for("supervisord"),
                        observed=observed))
        if ad.programs:
            adoptions[path] = ad
    order, depends = _start_order(adoptions)
    return Migration(rows=rows, adoptions=adoptions, order=order, depends=depends)


def _observed(path: str, info, book: RecipeBook, root: str,
              observing: Observing) -> tuple[Adoption, str]:
    """The adoption from what the script's start left running, or from reading alone (with
    why not in the review lines and the report)."""
    from wrapctl.shellwords import resolved
    if info.kind != "daemon":
        return adopt(info, book, root=root), ("not observed: read as a oneshot (observe it "
                                              "alone with `wrapctl adopt --observe`)")
    pidfile = info.pidfile if info.pidfile and resolved(info.pidfile) else ""
    try:
        obs = observe(os.path.abspath(path), pidfile=pidfile, time_limit=observing.time_limit,
                      watch=watch_dirs(info, observing.watch))
        return adopt_observed(info, obs, book, root=root), "yes"
    except (ObserveRefused, ObserveFailed) as e:
        why = ("not observed: " if isinstance(e, ObserveRefused) else "observation failed: ") \
            + str(e)
        ad = adopt(info, book, root=root)
        ad.review.insert(0, f"{why}; written from reading the script")
        return ad, why


def _reason(ad: Adoption, fmt: str = "supervisord") -> str:
    if ad.decision == "oneshot":
        return ad.info.reasons[-1] if ad.info.reasons else "runs no daemon"
    if ad.decision == "recipe":
        return f"recipe {ad.recipe.name}"
    if ad.decision == "review":
        return ad.review[0] if ad.review else "needs a person"
    if ad.decision == "foreground":
        return "no recipe; the script runs it without forking"
    la = ad.info.launch
    pidfile = next((p.wrapctl.get("pidfile", "") for p in ad.programs), "")
    if fmt == "wrapctl":
        return f"no recipe; wrapctl daemon follows {os.path.basename(la.daemon)}" + (
            f" via {pidfile}" if pidfile else " from the process tree it leaves")
    return f"no recipe; shim follows {os.path.basename(la.daemon)}" + (
        f" via {la.pidfile}" if la.pidfile else "")


def _start_order(adoptions: dict[str, Adoption]) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Priority by depth in the Required-Start/Should-Start graph (cycles share a level)."""
    provider: dict[str, list[str]] = {}
    for ad in adoptions.values():
        names = [p.name for p in ad.programs]
        for prov in ad.info.provides + [ad.info.name]:
            provider.setdefault(prov, [])
            provider[prov] += [n for n in names if n not in provider[prov]]
    deps: dict[str, list[str]] = {}
    for ad in adoptions.values():
        wanted = ad.info.lsb_list("Required-Start") + ad.info.lsb_list("Should-Start")
        for p in ad.programs:
            d: list[str] = []
            names: list[str] = []
            for w in wanted:
                w = w.lstrip("+")
                names += list(FACILITIES.get(w, (w,)))
            for w in names:
                for target in provider.get(w, []):
                    if target != p.name and target not in d and not target.startswith(
                            p.name + "-"):
                        d.append(target)
            deps[p.name] = d
    depth: dict[str, int] = {}

    def level(n: str, seen: tuple = ()) -> int:
        if n in depth:
            return depth[n]
        if n in seen:
            return 0
        lv = 0
        for d in deps.get(n, []):
            lv = max(lv, level(d, seen + (n,)) + 1)
        depth[n] = lv
        return lv

    for n in deps:
        level(n)
    return {n: BASE_PRIORITY + STEP * lv for n, lv in depth.items()}, deps


def write(m: Migration, out: str, fmt: str = "supervisord") -> list[str]:
    """Write the files; return their paths. Refuses to write outside `out`."""
    out = os.path.abspath(out)
    progdir = os.path.join(out, "programs")
    os.makedirs(progdir, exist_ok=True)
    written = []
    used: set[str] = set()
    for path, ad in m.adoptions.items():
        extra = {}
        for p in ad.programs:
            e = {"priority": str(m.order.get(p.name, BASE_PRIORITY))}
            if m.depends.get(p.name):
                e["depends_on"] = ",".join(m.depends[p.name])
            extra[p.name] = e
        base = ad.programs[0].name
        fn = base
        k = 2
        while fn in used:
            fn = f"{base}-{k}"
            k += 1
        used.add(fn)
        target = os.path.join(progdir, fn + ".conf")
        _inside(out, target)
        with open(target, "w") as f:
            f.write(render_ini(ad, fmt, extra))
        written.append(target)
        for r in m.rows:
            if r.script == path:
                r.file = os.path.relpath(target, out)
                # what the report says must match the files: the format's own notes
                r.review = ad.review_for(fmt)
                r.reason = _reason(ad, fmt)
    inc = os.path.join(out, "include.conf")
    with open(inc, "w") as f:
        f.write("; add this section to supervisord.conf (an included file cannot include)\n"
                f"[include]\nfiles = {progdir}/*.conf\n")
    written.append(inc)
    rep = os.path.join(out, "report.txt")
    with open(rep, "w") as f:
        f.write(report_table(m))
    written.append(rep)
    js = os.path.join(out, "report.json")
    with open(js, "w") as f:
        json.dump([r.__dict__ for r in m.rows], f, indent=1)
        f.write("\n")
    written.append(js)
    return written


def _inside(out: str, path: str) -> None:
    real = os.path.realpath(path)
    if not (real == out or real.startswith(os.path.realpath(out) + os.sep)):
        raise MigrateError(f"{path}: refusing to write outside {out}")


def report_table(m: Migration) -> str:
    head = ("SCRIPT", "RESULT", "PROGRAMS", "REASON")
    rows = [(os.path.basename(r.script), r.result, ",".join(r.programs) or "-",
             r.reason + (" [observed]" if r.observed == "yes" else "")
             + (f" [review: {'; '.join(r.review)}]" if r.review else ""))
            for r in m.rows]
    w0 = max([len(head[0])] + [len(r[0]) for r in rows])
    w1 = max([len(head[1])] + [len(r[1]) for r in rows])
    w2 = min(40, max([len(head[2])] + [len(r[2]) for r in rows]))
    lines = [f"{head[0]:{w0}}  {head[1]:{w1}}  {head[2]:{w2}}  {head[3]}"]
    for r in rows:
        lines.append(f"{r[0]:{w0}}  {r[1]:{w1}}  {r[2]:{w2}}  {r[3]}".replace("\x00", "$(...)"))
    counts: dict[str, int] = {}
    for r in m.rows:
        counts[r.result] = counts.get(r.result, 0) + 1
    lines.append("")
    lines.append("total: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    return "\n".join(lines) + "\n"
