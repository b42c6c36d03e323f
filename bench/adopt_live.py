#!/usr/bin/env python3
"""Run what `wrapctl adopt` writes for real Debian 12 init scripts, one daemon at a time.

    python bench/adopt_live.py [--install] [--run CORE:FORMAT]... [--control]
                               [--json OUT] [--only SCRIPT...] [PKG...]

CORE:FORMAT is wrapctl:wrapctl (default: `wrapctl daemon` on `adopt --format wrapctl`),
wrapctl:supervisord or supervisord:supervisord (real supervisord 4.3). ADOPT_LIVE_KEEP=1
keeps each run's temp dir (config, core and program logs).

With `--install` (and only then) it first runs `apt-get install -y --no-install-recommends`
for the packages, with a /usr/sbin/policy-rc.d that returns 101 so that no package script
starts its service (created only if absent, and removed afterwards only if it created it).
Then, for every /etc/init.d script those packages ship:

- `wrapctl adopt SCRIPT --format wrapctl` (core wrapctl) or `--format supervisord`
  (core supervisord: run by real supervisord 4.3) is written into a temp config with its
  own unix socket and childlogdir, and `wrapctl daemon -n` (or supervisord -n) runs it;
- each program must reach RUNNING and keep the same pid for 3 s more (startsecs honoured),
  its tree must hold the daemon binary, the recipe's readiness hint (port or socket) must be
  listened on by that tree, `kill -9` of the daemon must give a new RUNNING pid, and `stop`
  must leave no process of either tree;
- after shutdown, any process left (seen in a tree, or carrying the bench's environment
  marker) is a failure, and is killed by pid.

With `--control`, each failing script is also run as itself (`SCRIPT start`, 3 s, `SCRIPT
stop`, leftovers killed by pid): when the script cannot keep its daemon running here either
(no config, disabled in /etc/default, no hardware), the row is `env`, not counted.

Prints a table and the fraction of daemon scripts that work; oneshots are listed apart.
Must run as root on a scratch machine: the daemons use their default ports and paths.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import xmlrpc.client

import psutil

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from wrapctl.recipes import RecipeBook  # noqa: E402
from initscript_corpus import program_binary  # noqa: E402
from wrapctl.shellwords import UNRESOLVED  # noqa: E402

PACKAGES = [
    "nginx-light", "redis-server", "memcached", "apache2", "lighttpd", "haproxy", "dnsmasq",
    "squid", "vsftpd", "openssh-server", "cron", "rsyslog", "postfix",
    "dovecot-imapd", "unbound", "bind9", "chrony", "cups", "mosquitto", "snmpd", "privoxy",
    "tor", "slapd", "samba", "keepalived", "postgresql", "mariadb-server", "php8.2-fpm",
    "openvpn", "zabbix-agent", "varnish", "uwsgi", "rpcbind", "at", "sysstat",
    "smartmontools", "avahi-daemon", "sane-utils", "openbsd-inetd", "nut-server",
    "rsync", "tftpd-hpa", "opendkim", "fail2ban", "acpid", "irqbalance", "haveged",
]
# Asked for, not installed here, and why.
DROPPED = {
    "exim4-daemon-light": "conflicts with postfix (one mail-transport-agent per system)",
    "ntpsec": "conflicts with chrony (one time-daemon per system)",
    "inetutils-inetd": "conflicts with openbsd-inetd (one inet-superserver per system)",
    "proftpd-core": "conflicts with vsftpd (one ftp-server per system)",
    "xinetd": "conflicts with openbsd-inetd (one inet-superserver per system)",
    "nfs-kernel-server": "needs the kernel NFS server (nfsd filesystem) in this VM",
    "ifupdown": "its script is a oneshot that would reconfigure this VM's network",
}
POLICY = "/usr/sbin/policy-rc.d"
# The daemon behind a control command that stays its parent (`postfix start-fg` runs
# postfix-script, which waits for master).
REAL_DAEMON = {"postfix": "/usr/lib/postfix/sbin/master"}
MARK = "WRAPCTL_ADOPT_LIVE"
KEEP = bool(os.environ.get("ADOPT_LIVE_KEEP"))     # keep each run's temp dir and logs
PYBIN = os.path.dirname(sys.executable)
PATH = f"{PYBIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def snapshot() -> set[tuple[int, float]]:
    out = set()
    for p in psutil.process_iter(["create_time"]):
        out.add((p.pid, p.info["create_time"]))
    return out


def install(packages: list[str]) -> int:
    before = snapshot()
    made_policy = not os.path.exists(POLICY)
    if made_policy:
        with open(POLICY, "w") as f:
            f.write("#!/bin/sh\n# written by wrapctl bench/adopt_live.py\nexit 101\n")
        os.chmod(POLICY, 0o755)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        r = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends",
                            "-o", "Dpkg::Options::=--force-confdef",
                            "-o", "Dpkg::Options::=--force-confold", *packages], env=env)
    finally:
        if made_policy:
            os.unlink(POLICY)
    # A maintainer script that starts a daemon despite policy-rc.d leaves an orphan running
    # a binary of these packages: ours to stop (anything else may be another user's).
    files = package_files(packages)
    for p in psutil.process_iter(["create_time", "ppid", "name", "exe"]):
        if (p.pid, p.info["create_time"]) in before or p.info["ppid"] != 1 \
                or p.info["exe"] not in files:
            continue
        log(f"install left pid {p.pid} ({p.info['name']}) running: killing it")
        try:
            p.kill()
        except psutil.Error:
            pass
    return r.returncode


def package_files(packages: list[str]) -> set[str]:
    r = subprocess.run(["dpkg", "-L", *packages], capture_output=True, text=True)
    return {ln for ln in r.stdout.splitlines() if ln.startswith("/")}


def init_scripts(packages: list[str]) -> list[str]:
    """Scripts the packages ship, or dependencies of the same family (nginx-light's is in
    nginx-common, postgresql's in postgresql-common)."""
    deps = set(packages)
    todo = [(p, p.split("-")[0].split(".")[0]) for p in packages]
    for _ in range(2):      # nginx-light -> nginx -> nginx-common
        nxt = []
        for p, stem in todo:
            r = subprocess.run(["dpkg-query", "-W", "-f=${Depends}", p], capture_output=True,
                               text=True)
            for alt in r.stdout.replace("|", ",").split(","):
                name = alt.strip().split(" ")[0].split(":")[0]
                if name.startswith(stem) and name not in deps:
                    deps.add(name)
                    nxt.append((name, stem))
        todo = nxt
    installed = [d for d in sorted(deps) if subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", d], capture_output=True,
        text=True).stdout.endswith("installed")]
    out = []
    for f in sorted(package_files(installed)):
        if f.startswith("/etc/init.d/") and os.path.isfile(f) and f not in out:
            out.append(f)
    return out


def wrapctl(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wrapctl", *args], capture_output=True,
                          text=True, timeout=60)


def wait_for(pred, timeout: float, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


def tree(pid: int) -> set[tuple[int, float]]:
    try:
        p = psutil.Process(pid)
        procs = [p] + p.children(recursive=True)
    except psutil.Error:
        return set()
    out = set()
    for q in procs:
        try:
            out.add((q.pid, q.create_time()))
        except psutil.Error:
            pass
    return out


def alive(procs) -> list[int]:
    left = []
    for pid, ctime in procs:
        try:
            p = psutil.Process(pid)
            if p.create_time() == ctime and p.status() != psutil.STATUS_ZOMBIE:
                left.append(pid)
        except psutil.Error:
            pass
    return sorted(left)


def marked(tag: str) -> set[tuple[int, float]]:
    """Processes that inherited the bench's environment marker for this run."""
    out = set()
    for p in psutil.process_iter(["create_time"]):
        try:
            if p.environ().get(MARK) == tag and p.status() != psutil.STATUS_ZOMBIE:
                out.add((p.pid, p.info["create_time"]))
        except psutil.Error:
            pass
    return out


def describe(pids) -> str:
    out = []
    for pid in pids:
        try:
            out.append(f"{pid} {psutil.Process(pid).name()}")
        except psutil.Error:
            out.append(str(pid))
    return ", ".join(out)


def exe_of(pid: int) -> str:
    try:
        return psutil.Process(pid).exe()
    except psutil.Error:
        return ""


def same_binary(a: str, b: str) -> bool:
    if not a or not b:
        return False
    ra, rb = os.path.realpath(a), os.path.realpath(shutil.which(b) or b)
    return ra == rb or os.path.basename(ra) == os.path.basename(rb)


def listening(procs, port: int = 0, path: str = "") -> bool:
    for pid, _ in procs:
        try:
            conns = psutil.Process(pid).net_connections(kind="inet" if port else "unix")
        except psutil.Error:
            continue
        for c in conns:
            if port and c.laddr and c.laddr.port == port and (
                    c.status == psutil.CONN_LISTEN or c.type == socket.SOCK_DGRAM):
                return True
            if path and c.laddr == path:
                return True
    return False


CONF = """[unix_http_server]
file={d}/s.sock

[supervisord]
logfile={d}/supervisord.log
pidfile={d}/supervisord.pid
childlogdir={d}/logs
nodaemon=true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{d}/s.sock

{programs}
"""


class Core:
    """`wrapctl daemon -n` or real supervisord 4.3 on a temp config, driven over XML-RPC."""

    def __init__(self, kind: str, d: str, programs: str, tag: str):
        self.kind, self.d, self.tag = kind, d, tag
        os.makedirs(os.path.join(d, "logs"), exist_ok=True)
        self.conf = os.path.join(d, "supervisord.conf")
        with open(self.conf, "w") as f:
            f.write(CONF.format(d=d, programs=programs))
        self.proc: subprocess.Popen | None = None
        self.seen: set[tuple[int, float]] = set()
        self.rpc = None

    def start(self) -> str:
        from supervisor.xmlrpc import SupervisorTransport
        mod = ["-m", "wrapctl", "daemon"] if self.kind == "wrapctl" else \
            ["-m", "supervisor.supervisord"]
        env = dict(os.environ, PATH=PATH, **{MARK: self.tag})
        self.out = open(os.path.join(self.d, "core.out"), "w")
        self.proc = subprocess.Popen([sys.executable, *mod, "-n", "-c", self.conf], env=env,
                                     stdout=self.out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        sock = os.path.join(self.d, "s.sock")
        if not wait_for(lambda: os.path.exists(sock) or self.proc.poll() is not None, 30) \
                or self.proc.poll() is not None:
            return "core did not start: " + self.core_log()
        self.rpc = xmlrpc.client.ServerProxy(
            "http://127.0.0.1", transport=SupervisorTransport(None, None, "unix://" + sock))
        return ""

    def core_log(self) -> str:
        text = ""
        for fn in ("core.out", "supervisord.log"):
            try:
                with open(os.path.join(self.d, fn), errors="replace") as f:
                    text += f.read()
            except OSError:
                pass
        return " | ".join(text.strip().splitlines()[-3:])

    def prog_log(self, name: str) -> str:
        text = []
        for fn in sorted(os.listdir(os.path.join(self.d, "logs"))):
            if fn.startswith(name + "-"):
                with open(os.path.join(self.d, "logs", fn), errors="replace") as f:
                    lines = [ln for ln in f.read().strip().splitlines() if ln.strip()]
                text += lines[-2:]
        return " | ".join(text)[-300:]

    def info(self, name: str) -> tuple[str, int]:
        try:
            i = self.rpc.supervisor.getProcessInfo(name)
        except (OSError, xmlrpc.client.Error) as e:
            return f"rpc error {e}", 0
        return i["statename"], i["pid"]

    def names(self) -> list[str]:
        return [(i["group"] + ":" + i["name"]) if i["group"] != i["name"] else i["name"]
                for i in self.rpc.supervisor.getAllProcessInfo()]

    def wait_running(self, name: str, not_pid: int = 0, timeout: float = 45) -> int:
        def ok():
            state, pid = self.info(name)
            if state in ("FATAL", "EXITED") and not not_pid:
                return -1
            return pid if state == "RUNNING" and pid and pid != not_pid else 0
        pid = wait_for(ok, timeout) or 0
        if pid > 0:
            self.seen |= tree(pid)
        return pid

    def shutdown(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                self.rpc.supervisor.shutdown()
            except (OSError, xmlrpc.client.Error):
                self.proc.terminate()
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc:
            self.out.close()


def check_program(core: Core, name: str, prog: dict, book: RecipeBook, recipe: str) -> str:
    """'' when the program passes every check, else the first reason it does not."""
    pid = core.wait_running(name)
    if pid <= 0:
        st, _ = core.info(name)
        return f"not RUNNING ({st}): {core.prog_log(name) or core.core_log()}"
    time.sleep(3)
    st, pid2 = core.info(name)
    if st != "RUNNING" or pid2 != pid:
        return f"RUNNING pid {pid} then {st} pid {pid2}: {core.prog_log(name)}"
    first = tree(pid)
    core.seen |= first
    want = [program_binary(prog["command"])]
    r = book.get(recipe) if recipe else None
    if r:
        want.append(r.daemon)
    want += [REAL_DAEMON[os.path.basename(w)] for w in want if os.path.basename(w) in REAL_DAEMON]
    main_pid = next((p for p, _ in sorted(first)
                     if any(same_binary(exe_of(p), w) for w in want)), 0)
    if not main_pid:
        return (f"no {'/'.join(os.path.basename(w) for w in want if w)} in the tree of "
                f"{pid} ({describe(p for p, _ in sorted(first))})")
    port, path = 0, ""
    ready = prog.get("ready") or ""
    if ready.startswith("tcp:"):
        port = int(ready.rsplit(":", 1)[1])
    elif ready.startswith("unix:"):
        path = ready[5:]
    elif r and (r.ready_port or r.ready_socket):
        port, path = r.ready_port, r.ready_socket
    if (port or path) and not wait_for(lambda: listening(tree(pid), port, path), 30, 0.3):
        return f"RUNNING but not listening on {port or path}"
    os.kill(main_pid, signal.SIGKILL)
    new = core.wait_running(name, not_pid=pid)
    if new <= 0:
        st, _ = core.info(name)
        return f"after kill -9 of {main_pid}: {st}, not RUNNING again: {core.prog_log(name)}"
    if not wait_for(lambda: not alive(first), 30):
        return f"after kill -9, left of the old tree: {describe(alive(first))}"
    second = tree(new)
    core.seen |= second
    if (port or path) and not wait_for(lambda: listening(tree(new), port, path), 30, 0.3):
        return f"restarted (pid {new}) but not listening on {port or path}"
    try:
        core.rpc.supervisor.stopProcess(name, False)
    except (OSError, xmlrpc.client.Error) as e:
        return f"stopProcess: {e}"
    if not wait_for(lambda: core.info(name)[0] in ("STOPPED", "EXITED", "FATAL"), 60):
        return f"stop: still {core.info(name)[0]}"
    left = wait_for(lambda: not alive(first | second), 20) or alive(first | second)
    if left is not True:
        return f"after stop, left: {describe(left)}"
    return ""


def started_since(before: set[tuple[int, float]], tag: str, binaries: list[str]):
    """Processes started after `before` that carry the marker `tag`, or run one of
    `binaries` outside every process tree that existed before (apache2ctl clears the
    environment, so the marker alone misses its daemon)."""
    old = {pid for pid, _ in before} - {1}
    out = set(marked(tag))
    for p in psutil.process_iter(["create_time", "exe"]):
        if (p.pid, p.info["create_time"]) in before or p.pid in old:
            continue
        if not any(same_binary(p.info["exe"] or "", b) for b in binaries if b):
            continue
        try:
            if any(q.pid in old for q in p.parents()) or p.status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.Error:
            continue
        out.add((p.pid, p.info["create_time"]))
    return out


def control(script: str, binaries: list[str]) -> str:
    """Does the init script itself keep its daemon running here? Run `SCRIPT start`, look
    3 s later for what it started (see started_since), `SCRIPT stop`, kill what is left by
    pid. A daemon that the script cannot run either (no config, disabled in /etc/default,
    hardware absent) is not a failure of the adoption."""
    tag = uuid.uuid4().hex
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "LANG": "C", MARK: tag}
    before = snapshot()
    try:
        r = subprocess.run([script, "start"], env=env, capture_output=True, text=True,
                           timeout=90, stdin=subprocess.DEVNULL)
        out = (r.stdout + r.stderr).strip().replace("\n", " | ")[-160:]
    except subprocess.TimeoutExpired:
        out = "start timed out"
    time.sleep(3)
    running = started_since(before, tag, binaries)
    try:
        subprocess.run([script, "stop"], env=env, capture_output=True, timeout=90,
                       stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pass
    wait_for(lambda: not alive(running | marked(tag)), 15)
    for pid in alive(running | marked(tag)):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    if running:
        return f"init script runs it ({describe(p for p, _ in sorted(running))})"
    return f"init script does not run it either: {out}"


def expected_binaries(script: str, book: RecipeBook) -> list[str]:
    try:
        data = json.loads(wrapctl("adopt", script, "--format", "json").stdout)
    except ValueError:
        return []
    out = [data.get("daemon", ""), data.get("started", "")]
    out += [program_binary(p["command"]) for p in data.get("programs", [])]
    r = book.get(data.get("recipe") or "")
    if r:
        out.append(r.daemon)
    out += [REAL_DAEMON[os.path.basename(b)] for b in out if os.path.basename(b) in REAL_DAEMON]
    return [b for b in out if b and UNRESOLVED not in b and b.startswith("/")]


def classify(data: dict) -> str:
    if data.get("decision") in ("recipe", "shim", "foreground"):
        return data["decision"] + (f" {data['recipe']}" if data.get("recipe") else "")
    return data.get("decision") or "?"


def run_script(script: str, core_kind: str, fmt: str, book: RecipeBook) -> list[dict]:
    base = {"script": script, "core": core_kind, "format": fmt}
    j = wrapctl("adopt", script, "--format", "json")
    try:
        data = json.loads(j.stdout)
    except ValueError:
        return [dict(base, program="", how="?", result="FAIL",
                     reason=f"adopt json exit {j.returncode}: {j.stderr.strip()[:200]}")]
    how = classify(data)
    if data.get("kind") == "oneshot":
        return [dict(base, program="", how="oneshot", result="oneshot",
                     reason="; ".join(data.get("reasons", []))[:200])]
    a = wrapctl("adopt", script, "--format", fmt)
    if a.returncode != 0 or not data.get("programs"):
        reason = a.stderr.strip().splitlines()[-1:] or ["no program"]
        res = "no instance" if a.returncode == 5 else "FAIL"
        return [dict(base, program="", how=how, result=res,
                     reason=f"adopt exit {a.returncode}: {reason[0][:200]}")]
    d = tempfile.mkdtemp(prefix=f"adopt-live-{os.path.basename(script)}-")
    tag = uuid.uuid4().hex
    core = Core(core_kind, d, a.stdout, tag)
    rows = []
    try:
        err = core.start()
        if err:
            return [dict(base, program="", how=how, result="FAIL", reason=err[:300])]
        progs = {p["name"]: p for p in data["programs"]}
        for name in core.names():
            prog = progs.get(name.split(":")[-1], data["programs"][0])
            t0 = time.monotonic()
            if data.get("disabled"):
                # Written with autostart=false (switched off in /etc/default): the config
                # must still work once an operator starts it.
                try:
                    core.rpc.supervisor.startProcess(name, False)
                except (OSError, xmlrpc.client.Error):
                    pass
            reason = check_program(core, name, prog, book, data.get("recipe", ""))
            rows.append(dict(base, program=name, how=how, result="FAIL" if reason else "ok",
                             reason=reason, seconds=round(time.monotonic() - t0, 1)))
            try:    # the next program's ports must be free (instances may share them)
                core.rpc.supervisor.stopProcess(name, True)
            except (OSError, xmlrpc.client.Error):
                pass
    finally:
        core.shutdown()
        left = set(alive(core.seen)) | set(p for p, _ in marked(tag))
        if left:
            msg = f"left after shutdown: {describe(left)} (killed)"
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            if rows:
                for r in rows:
                    r["result"] = "FAIL"
                    r["reason"] = (r["reason"] + "; " if r["reason"] else "") + msg
            else:
                rows.append(dict(base, program="", how=how, result="FAIL", reason=msg))
        if not left and not KEEP:
            shutil.rmtree(d, ignore_errors=True)
        else:
            rows[-1]["logs"] = d
    return rows


def summary(rows: list[dict], core_kind: str, fmt: str) -> tuple[int, int, list[str]]:
    by_script: dict[str, list[dict]] = {}
    for r in rows:
        if r["core"] == core_kind and r["format"] == fmt:
            by_script.setdefault(r["script"], []).append(r)
    ok = total = 0
    noinst = []
    for script, rs in by_script.items():
        if any(r["result"] == "oneshot" for r in rs):
            continue
        if all(r["result"] in ("no instance", "env") for r in rs):
            noinst.append(script)
            continue
        total += 1
        ok += all(r["result"] == "ok" for r in rs)
    return ok, total, noinst


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("packages", nargs="*", metavar="PKG")
    ap.add_argument("--install", action="store_true",
                    help="apt-get install the packages first (services not started)")
    ap.add_argument("--install-only", action="store_true")
    ap.add_argument("--run", action="append", metavar="CORE:FORMAT",
                    help="wrapctl:wrapctl (default), wrapctl:supervisord, supervisord:supervisord")
    ap.add_argument("--only", nargs="*", metavar="SCRIPT", help="script names to run")
    ap.add_argument("--json", metavar="OUT")
    ap.add_argument("--control", action="store_true",
                    help="for each failure, run the init script itself (start, then stop)")
    a = ap.parse_args(argv)
    pkgs = a.packages or PACKAGES
    if a.install or a.install_only:
        rc = install(pkgs)
        if rc or a.install_only:
            return rc
    if os.geteuid() != 0:
        print("adopt_live: must run as root (daemons use their real paths and ports)",
              file=sys.stderr)
        return 2
    runs = a.run or ["wrapctl:wrapctl"]
    for run in runs:
        if run not in ("wrapctl:wrapctl", "wrapctl:supervisord", "supervisord:supervisord"):
            print(f"adopt_live: --run {run}: unknown", file=sys.stderr)
            return 2
    installed = [p for p in pkgs if subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True,
        text=True).stdout.endswith("installed")]
    missing = sorted(set(pkgs) - set(installed))
    scripts = init_scripts(installed)
    if a.only:
        scripts = [s for s in scripts if os.path.basename(s) in a.only]
    book = RecipeBook.load(system=False)
    rows: list[dict] = []
    t0 = time.monotonic()
    for run in runs:
        core_kind, fmt = run.split(":")
        for s in scripts:
            log(f"{run} {s} ...")
            got = run_script(s, core_kind, fmt, book)
            if a.control and any(r["result"] == "FAIL" for r in got):
                verdict = control(s, expected_binaries(s, book))
                for r in got:
                    if r["result"] == "FAIL":
                        r["control"] = verdict
                        if "does not run it" in verdict:
                            r["result"] = "env"
            for r in got:
                log(f"  {r['program'] or '-'}: {r['result']} {r['reason']}"
                    + (f" [control: {r['control']}]" if r.get("control") else ""))
            rows += got
    width = max([len(os.path.basename(r["script"])) + len(r["program"]) for r in rows] + [20])
    for run in runs:
        core_kind, fmt = run.split(":")
        print(f"\n## core {core_kind}, adopt --format {fmt}\n")
        print(f"{'script/program':{width + 3}} {'how':22} {'result':11} reason")
        for r in rows:
            if (r["core"], r["format"]) != (core_kind, fmt):
                continue
            label = os.path.basename(r["script"]) + (f" {r['program']}" if r["program"] and
                                                     r["program"] != os.path.basename(
                                                         r["script"]) else "")
            print(f"{label:{width + 3}} {r['how']:22} {r['result']:11} {r['reason']}"
                  + (f" [control: {r['control']}]" if r.get("control") else ""))
        ok, total, noinst = summary(rows, core_kind, fmt)
        oneshots = sorted({os.path.basename(r["script"]) for r in rows
                           if r["result"] == "oneshot" and r["core"] == core_kind
                           and r["format"] == fmt})
        skipped = ", ".join(os.path.basename(x) for x in noinst) or "-"
        print(f"\nworking: {ok}/{total} daemon scripts"
              f" ({100 * ok / total if total else 0:.1f}%);"
              f" no instance, or the init script cannot run it either (not counted): {skipped};"
              f" oneshots (not counted): {', '.join(oneshots) or '-'}")
    print(f"\npackages not installed: {', '.join(missing) or '-'};"
          f" {len(scripts)} scripts, {time.monotonic() - t0:.0f}s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rows": rows, "missing": missing, "dropped": DROPPED}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
