#!/usr/bin/env python3
"""Measure the init-script reader and `adopt` on a corpus of real Debian init scripts.

The corpus is not in git. Build it (Debian only; files land in CACHE, nothing is installed):

    python bench/initscript_corpus.py --fetch PKG... --cache /tmp/initcorpus
    python bench/initscript_corpus.py --fetch-labelled --cache /tmp/initcorpus

which runs `apt-get download` for each package and extracts only etc/ and the init helper
files under usr/share into CACHE/x/<deb name>/. Then:

    python bench/initscript_corpus.py --cache /tmp/initcorpus [--list]

reports, over every script found: daemon vs oneshot counts, adopt decisions, crashes, and
whether the binary each written program runs is shipped by a corpus package; and
against bench/initscript_labels.tsv (hand-labelled): kind accuracy, daemon-path accuracy and
pidfile accuracy (on the labelled scripts that state them), programs written for daemons, and
whether a recipe was used wherever one matches the daemon.
"""
from __future__ import annotations

import argparse
import glob
import os
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from wrapctl.adopt import adopt  # noqa: E402
from wrapctl.adopt.interp import interpret  # noqa: E402
from wrapctl.adopt.recognize import recognize  # noqa: E402
from wrapctl.initscript import parse_lsb, read_script  # noqa: E402
from wrapctl.recipes import RecipeBook  # noqa: E402
from wrapctl.shellwords import UNRESOLVED  # noqa: E402

LABELS = os.path.join(HERE, "initscript_labels.tsv")


def fetch(cache: str, packages: list[str]) -> None:
    debs = os.path.join(cache, "debs")
    os.makedirs(debs, exist_ok=True)
    for p in packages:
        if glob.glob(os.path.join(debs, f"{p}_*.deb")):
            continue
        r = subprocess.run(["apt-get", "download", "-q", p], cwd=debs,
                           capture_output=True, text=True)
        if r.returncode:
            print(f"fetch {p}: {r.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
    for deb in sorted(glob.glob(os.path.join(debs, "*.deb"))):
        dest = os.path.join(cache, "x", os.path.basename(deb)[:-4])
        if os.path.isdir(dest):
            continue
        os.makedirs(dest)
        tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", dest, "--wildcards", "./etc/*",
                        "./usr/share/*/init*", "./usr/share/postgresql-common/*",
                        "./usr/share/*/*-common"], stdin=tar.stdout, stderr=subprocess.DEVNULL)
        tar.wait()


def shipped_files(cache: str) -> set[str]:
    """Every path the corpus packages ship (from `dpkg-deb -c`, cached in CACHE/files.txt)."""
    cached = os.path.join(cache, "files.txt")
    if not os.path.exists(cached):
        paths = []
        for deb in sorted(glob.glob(os.path.join(cache, "debs", "*.deb"))):
            out = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True).stdout
            for line in out.splitlines():
                name = line.split(None, 5)[-1].split(" -> ")[0].split(" link to ")[0]
                paths.append(name[1:] if name.startswith("./") else name)
        with open(cached, "w") as f:
            f.write("\n".join(paths) + "\n")
    with open(cached) as f:
        return {ln.rstrip("/") for ln in f.read().splitlines()}


def program_binary(command: str) -> str:
    """The executable a program section runs: after a shim's `--`, after `sh -c '... exec`,
    in any nesting (adopt puts its /run setup around a shim)."""
    words = shlex.split(command)
    while True:
        if words and os.path.basename(words[0]) == "wrapctl-shim" and "--" in words:
            words = words[words.index("--") + 1:]
        elif words[:2] == ["/bin/sh", "-c"] and len(words) > 2:
            inner = words[2].split("exec ", 1)[-1]
            if inner.startswith('"$0"') and len(words) > 3:
                words = words[3:]       # sh -c '... && exec "$0" "$@"' DAEMON ARGS
            else:
                words = shlex.split(inner)
        else:
            return words[0] if words else ""


def load_labels() -> dict[str, tuple[str, str, str, str]]:
    """key -> (kind, daemon, pidfile, set); set is "tuned" or, after the held-out marker
    line, "held-out" (labelled after the reader's rules were written)."""
    out = {}
    part = "tuned"
    with open(LABELS) as f:
        for line in f:
            if "held-out" in line and line.startswith("#"):
                part = "held-out"
            if line.startswith("#") or line.startswith("package/script") or not line.strip():
                continue
            key, kind, daemon, pid = line.rstrip("\n").split("\t")
            out[key] = (kind, daemon, pid, part)
    return out


def key_of(path: str) -> str:
    pkgdir = path.split("/x/", 1)[1].split("/", 1)[0]
    return pkgdir.split("_", 1)[0] + "/" + os.path.basename(path)


def clean(v: str) -> str:
    return v.replace(UNRESOLVED, "?")


def grammar_reading(path: str, root: str, known_daemons) -> tuple[str, str, str]:
    """(kind, daemon, pidfile) from the tree-sitter reader (wrapctl.adopt.interp and
    .recognize) alone, as the labels state them."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    it = interpret(path, text, root=root)
    rec = recognize(it, provides=parse_lsb(text).get("Provides", "").split(),
                    known_daemons=known_daemons, script=path)
    la = rec.launch
    if la is None:
        return "oneshot", "-", "-", ""
    # The labels state the start command's pidfile; one found in another action is
    # reported apart.
    pid = "-" if rec.pidfile_from else (clean(la.pidfile) or "-")
    other = f"{clean(la.pidfile)} ({rec.pidfile_from})" if rec.pidfile_from else ""
    return "daemon", clean(la.daemon), pid, other


def compare(scripts: list[str], labels, book) -> None:
    """Score the line reader ("old": read_script(grammar=False)) and the grammar reader
    ("new": interp + recognize) side by side on the labelled scripts; list where they
    differ. read_script itself merges the two (wrapctl.adopt.merge): the default run."""
    exes = frozenset(e for r in book.recipes.values() for e in r.executables)
    score = {(r, m): [0, 0] for r in ("old", "new") for m in ("kind", "daemon", "pidfile")}
    diffs = []
    elsewhere: list[str] = []
    t_new = 0.0
    for path in scripts:
        root = path.split("/etc/init.d/")[0]
        t = time.monotonic()
        try:
            new = grammar_reading(path, root, exes)
        except Exception as e:      # the measurement must see crashes, not stop on them
            new = ("crash", f"{type(e).__name__}: {e}", "", "")
        t_new += time.monotonic() - t
        new, other = new[:3], new[3]
        if other:
            elsewhere.append(f"{key_of(path)}: {other}")
        info = read_script(path, root=root, grammar=False)     # the line reader alone
        la = info.launch
        old = (info.kind, clean(la.daemon) if la else "-",
               (clean(la.pidfile) or "-") if la else "-")
        if new != old:
            diffs.append(f"{key_of(path):45} old {old}  new {new}")
        lab = labels.get(key_of(path))
        if not lab:
            continue
        kind, daemon, pid, _part = lab
        for reader, got in (("old", old), ("new", new)):
            for m, want, g, scored in (("kind", kind, got[0], True),
                                       ("daemon", daemon, got[1], kind == "daemon"
                                        and daemon != "?" and got[0] == "daemon"),
                                       ("pidfile", pid, got[2], kind == "daemon"
                                        and pid != "?" and got[0] == "daemon")):
                if scored:
                    score[(reader, m)][1] += 1
                    score[(reader, m)][0] += want == g
                    if want != g and reader == "new":
                        diffs.append(f"  label miss (new) {key_of(path)}: {m}: want {want} "
                                     f"got {g}")
    print(f"grammar reader: {1000 * t_new / len(scripts):.1f} ms/script")
    for m in ("kind", "daemon", "pidfile"):
        o, n = score[("old", m)], score[("new", m)]
        print(f"{m:8} old {o[0]}/{o[1]}   new {n[0]}/{n[1]}")
    print(f"pidfile found only in another action (not the start command): {len(elsewhere)}")
    for e in elsewhere:
        print("  " + e)
    print("where the readers differ:")
    for d in diffs:
        print("  " + d)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", default="/tmp/initcorpus")
    ap.add_argument("--fetch", nargs="*", metavar="PKG")
    ap.add_argument("--fetch-labelled", action="store_true")
    ap.add_argument("--list", action="store_true", help="print one line per script")
    ap.add_argument("--compare", action="store_true",
                    help="score the old reader and the grammar reader side by side")
    a = ap.parse_args(argv)
    labels = load_labels()
    if a.fetch is not None or a.fetch_labelled:
        if os.path.exists(os.path.join(a.cache, "files.txt")):
            os.unlink(os.path.join(a.cache, "files.txt"))
        pkgs = list(a.fetch or [])
        if a.fetch_labelled:
            pkgs += sorted({k.split("/")[0] for k in labels})
        fetch(a.cache, pkgs)
    book = RecipeBook.load(system=False)
    scripts = sorted(glob.glob(os.path.join(a.cache, "x", "*", "etc", "init.d", "*")))
    scripts = [s for s in scripts if os.path.isfile(s) and not s.endswith(
        ("README", "skeleton", ".dpkg-dist"))]
    if not scripts:
        print(f"no scripts under {a.cache}/x/*/etc/init.d (use --fetch)", file=sys.stderr)
        return 2
    if a.compare:
        compare(scripts, labels, book)
        return 0
    kinds: dict[str, int] = {}
    decisions: dict[str, int] = {}
    crashes = []
    score = {"kind": [0, 0], "daemon": [0, 0], "pidfile": [0, 0], "written": [0, 0],
             "binary": [0, 0], "recipe": [0, 0]}
    files = shipped_files(a.cache)
    unshipped: list[str] = []
    misses = []
    elsewhere: list[str] = []
    t0 = time.monotonic()
    for path in scripts:
        root = path.split("/etc/init.d/")[0]
        try:
            info = read_script(path, root=root)
            ad = adopt(info, book, root=root)
        except Exception as e:      # the measurement must see crashes, not stop on them
            crashes.append(f"{path}: {type(e).__name__}: {e}")
            continue
        # adopt's kind: a script the reader finds no daemon in may still be one a recipe
        # runs (uwsgi's start goes through a helper library).
        kind_got = "oneshot" if ad.decision == "oneshot" else "daemon"
        kinds[kind_got] = kinds.get(kind_got, 0) + 1
        decisions[ad.decision] = decisions.get(ad.decision, 0) + 1
        la = info.launch
        if a.list:
            print(f"{key_of(path):45} {info.kind:7} {ad.decision:10} "
                  f"{clean(la.daemon) if la else '-':40} {clean(la.pidfile) if la else '-'}")
        if kind_got == "daemon":
            score["written"][1] += 1
            score["written"][0] += bool(ad.programs)
            for prog in ad.programs:
                binary = program_binary(prog.options["command"])
                score["binary"][1] += 1
                if binary in files or os.path.exists(binary):
                    score["binary"][0] += 1
                else:
                    unshipped.append(f"{key_of(path)}: {binary}")
            exes = [os.path.basename(x) for x in (la.daemon, la.exec, la.startas) if x] \
                if la else [ad.recipe.name] if ad.recipe else []
            if any(e in r.executables for r in book.recipes.values() for e in exes):
                score["recipe"][1] += 1
                score["recipe"][0] += ad.decision in ("recipe", "review") and ad.recipe is not None
        lab = labels.get(key_of(path))
        if not lab:
            continue
        kind, daemon, pid, part = lab
        got_daemon = clean(la.daemon) if la else "-"
        # The labels state the start command's pidfile; one read from the stop or status
        # action is counted apart (below).
        got_pid = (clean(la.pidfile) or "-") if la and not info.pidfile_from else "-"
        if la and info.pidfile_from:
            elsewhere.append(f"{key_of(path)}: {clean(la.pidfile)} ({info.pidfile_from}); "
                             f"label {pid}")
        for name, want, got, scored in (
                ("kind", kind, kind_got, True),
                ("daemon", daemon, got_daemon, kind == "daemon" and daemon != "?"
                 and info.kind == "daemon"),
                ("pidfile", pid, got_pid, kind == "daemon" and pid != "?"
                 and info.kind == "daemon")):
            if not scored:
                continue
            score[name][1] += 1
            held = score.setdefault(name + "@" + part, [0, 0])
            held[1] += 1
            if want == got:
                score[name][0] += 1
                held[0] += 1
            else:
                misses.append(f"{key_of(path)}: {name}: want {want} got {got}")
    dt = time.monotonic() - t0
    n = len(scripts)
    print(f"corpus: {n} scripts in {a.cache} ({dt:.1f}s, {1000 * dt / n:.1f} ms/script)")
    print("kind: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    print("adopt: " + ", ".join(f"{k} {v}" for k, v in sorted(decisions.items())))
    print(f"crashes: {len(crashes)}")
    for c in crashes:
        print(f"  {c}")
    for name, text in (("kind", "daemon vs oneshot (labelled)"),
                       ("daemon", "daemon path (labelled, stated)"),
                       ("pidfile", "pidfile (labelled, stated)"),
                       ("written", "daemon scripts with a program written (all)"),
                       ("binary", "programs whose binary is shipped (all)"),
                       ("recipe", "recipe used where one matches the daemon (all)")):
        ok, tot = score[name]
        pct = 100.0 * ok / tot if tot else 0.0
        line = f"{text:48} {ok:4}/{tot:<4} {pct:5.1f}%"
        if name + "@held-out" in score:
            hok, htot = score[name + "@held-out"]
            line += f"   (held-out {hok}/{htot})"
        print(line)
    if elsewhere:
        print(f"pidfile read from another action than the start command: {len(elsewhere)}")
        for e in elsewhere:
            print(f"  {e}")
    if unshipped:
        print("program binaries no corpus package ships:")
        for u in unshipped:
            print(f"  {u}")
    if misses:
        print("misses:")
        for m in misses:
            print(f"  {m}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
