"""Benchmark of issue 6's mechanisms: a dependency chain with tcp readiness, and re-attaching
to 500 programs after the core is killed with SIGKILL (wrapctl daemon vs supervisord 4.3).

    python bench/features_bench.py              # full run (about 2 minutes)
    python bench/features_bench.py --quick      # smoke run: 5 links, 50 programs
    python bench/features_bench.py --only 1 --json out.json

Same conventions as bench/core_bench.py (whose Daemon class it uses): foreground daemons
in short temp dirs under /tmp, both daemons in one run where that means something, shut
down over the API, leftovers killed by pid. Every process a scenario starts carries a token
in its environment (the daemons inherit it, so their programs and wrapctl's fd holder do
too); after the scenario the bench checks that no process carries it any more.

1. Dependency chain (wrapctl only: supervisord has no dependencies). LINKS programs, p01 ..
   pNN, p(n) depends_on=p(n-1), each listening on its own loopback port DELAY ms after it
   starts, ready=tcp:127.0.0.1:PORT, autostart=false. Timed: startProcess("pNN", True), which
   starts the chain one link after the other, until it returns. Baseline: the bench runs the
   same commands in order itself (spawn, retry connect every 0.1 ms until the port accepts,
   next). Overhead per link = (T_wrapctl - T_baseline) / LINKS; median of RUNS, baseline and
   wrapctl runs interleaved. The listener is a 20-line C program when a C compiler is
   present (so a link costs DELAY plus about a millisecond), else `python -S`.
   The daemon's log lines (stamped as the bench reads them) give each link's time under
   wrapctl (p(n) spawned -> p(n+1) spawned), to set beside the baseline's, and the hand-off
   (p(n) RUNNING -> p(n+1) spawned; negative when the dependant is spawned before the
   RUNNING line is written).
2. Re-attach after a core SIGKILL: N `sleep` programs (startsecs=0, AUTO logs), all RUNNING;
   kill -9 the daemon, start it again on the same config, time from the new daemon's launch
   until getAllProcessInfo answers with all N RUNNING (polled, 20 ms between calls). Then
   count programs with the same pid as before and duplicates (processes of a program beyond
   one). supervisord restarts every program and leaves the old ones running: N duplicates.
   Median of RUNS kill/restart cycles, each on a fresh daemon. Then the daemon is shut down
   over the API: the time until it exits, and what it left running, are kept too.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import xmlrpc.client

import psutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import core_bench  # noqa: E402  (a sibling script, not a package)
from core_bench import BenchError, Daemon, machine  # noqa: E402
from wrapctl.rpc.client import ClientError  # noqa: E402

PY = sys.executable
TOKEN_VAR = "WRAPCTL_FEATURES_BENCH"

LISTENER_C = r"""
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
/* listener DELAY_US PORT: sleep, then listen on 127.0.0.1:PORT until killed */
int main(int argc, char **argv) {
    if (argc != 3) return 2;
    long us = atol(argv[1]);
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
    nanosleep(&ts, NULL);
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(atoi(argv[2]));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 64)) return 1;
    for (;;) pause();
}
"""

LISTENER_PY = ("import socket,time; time.sleep({d}); s=socket.socket(); "
               "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); "
               "s.bind(('127.0.0.1',{port})); s.listen(64); time.sleep(10**6)")


# ---- the token: what a scenario started, and whether any of it is left ------------------

class Tagged:
    """Sets a fresh token in os.environ for the duration of a scenario (inherited by the
    daemons, their programs, wrapctl's fd holder and the baseline's listeners)."""

    def __enter__(self):
        self.token = uuid.uuid4().hex
        self.old = os.environ.get(TOKEN_VAR)
        os.environ[TOKEN_VAR] = self.token
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is not None:
            self.reap_leftovers(deadline=5)     # a failed scenario leaves nothing behind
        if self.old is None:
            os.environ.pop(TOKEN_VAR, None)
        else:
            os.environ[TOKEN_VAR] = self.old

    def processes(self, name: str | None = None) -> list[psutil.Process]:
        """Live (non-zombie) processes carrying the token; only those named `name`."""
        out = []
        for p in psutil.process_iter(["pid", "name", "status"]):
            if p.pid == os.getpid() or p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if name is not None and p.info["name"] != name:
                continue
            try:
                if p.environ().get(TOKEN_VAR) == self.token:
                    out.append(p)
            except psutil.Error:
                pass
        return out

    def reap_leftovers(self, deadline: float = 10) -> int:
        """How many tagged processes were still alive `deadline` s after cleanup; they are
        killed by pid (create time checked by psutil)."""
        end = time.monotonic() + deadline
        while True:
            left = self.processes()
            if not left or time.monotonic() > end:
                break
            time.sleep(0.05)
        for p in left:
            try:
                p.kill()
            except psutil.Error:
                pass
        return len(left)


# ---- 1. dependency chain ---------------------------------------------------------------

def listener_command(workdir: str) -> tuple[list[str], str]:
    """(argv prefix taking DELAY_US PORT, what it is)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc:
        src, exe = os.path.join(workdir, "listener.c"), os.path.join(workdir, "listener")
        with open(src, "w") as f:
            f.write(LISTENER_C)
        r = subprocess.run([cc, "-O2", "-o", exe, src], capture_output=True)
        if r.returncode == 0:
            return [exe], "C listener"
    return [], "python -S listener"


def link_argv(prefix: list[str], delay: float, port: int) -> list[str]:
    if prefix:
        return prefix + [str(round(delay * 1e6)), str(port)]
    return [PY, "-S", "-c", LISTENER_PY.format(d=delay, port=port)]


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_port(port: int, proc: subprocess.Popen, deadline: float = 30) -> None:
    end = time.monotonic() + deadline
    while True:
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", port))
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > end:
                raise BenchError(f"baseline: port {port} never accepted (exit {proc.poll()})")
        finally:
            s.close()
        time.sleep(0.0001)


def baseline_chain(argvs: list[list[str]], ports: list[int]) -> float:
    """Run the links in order, each once the previous one accepts; seconds for all."""
    procs = []
    try:
        t0 = time.monotonic()
        for argv, port in zip(argvs, ports):
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            procs.append(p)
            wait_port(port, p)
        return time.monotonic() - t0
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def chain_programs(argvs: list[list[str]], ports: list[int]) -> str:
    out = []
    for i, (argv, port) in enumerate(zip(argvs, ports), 1):
        dep = f"depends_on=p{i - 1:02d}\n" if i > 1 else ""
        out.append(f"[program:p{i:02d}]\ncommand={shlex.join(argv)}\nautostart=false\n"
                   f"ready=tcp:127.0.0.1:{port}\n{dep}"
                   "stdout_logfile=NONE\nstderr_logfile=NONE\n")
    return "".join(out)


def dependency_chain(links: int = 20, delay: float = 0.05, runs: int = 5) -> dict:
    """Scenario 1 against wrapctl (with the bench's own sequential baseline)."""
    names = [f"p{i:02d}" for i in range(1, links + 1)]
    work = tempfile.mkdtemp(prefix="wcfl", dir="/tmp")
    with Tagged() as tag:
        try:
            prefix, what = listener_command(work)
            ports = free_ports(links)
            argvs = [link_argv(prefix, delay, port) for port in ports]
            base, wc, handoff, link = [], [], [], []
            with Daemon("wrapctl", chain_programs(argvs, ports)) as d:
                d.start()
                d.remember_children()
                for _ in range(runs):
                    base.append(baseline_chain(argvs, ports))
                    since = d.mark()
                    t0 = time.monotonic()
                    d.rpc().startProcess(names[-1], True)
                    wc.append(time.monotonic() - t0)
                    h, k = _link_times(d, names, since)
                    handoff += h
                    link += k
                    infos = d.rpc().getAllProcessInfo()
                    if not all(i["statename"] == "RUNNING" for i in infos):
                        raise BenchError("wrapctl: chain not all RUNNING after startProcess")
                    d.remember_children()
                    d.rpc().stopAllProcesses(True)
                left_by_daemon, _ = shutdown_and_count(d, tag)
            left = tag.reap_leftovers()
        finally:
            shutil.rmtree(work, ignore_errors=True)
    t_base, t_wc = statistics.median(base), statistics.median(wc)
    return {"links": links, "delay_ms": delay * 1000, "listener": what, "runs": runs,
            "baseline_s": t_base, "wrapctl_s": t_wc,
            "overhead_ms_per_link": (t_wc - t_base) / links * 1000,
            "baseline_link_ms": t_base / links * 1000,
            "handoff_ms": statistics.median(handoff),
            "link_ms": statistics.median(link),
            "baseline_samples_s": base, "wrapctl_samples_s": wc,
            "left_by_daemon": left_by_daemon, "left_running": left}


def _link_times(d: Daemon, names: list[str], since: int) -> tuple[list, list]:
    """Per link, from the daemon's log echo: ms from p(n) RUNNING to p(n+1) spawned, and
    from p(n) spawned to p(n+1) spawned."""
    spawned, running = {}, {}
    with d.cond:
        lines = d.lines[since:]
    for t, text in lines:
        for n in names:
            if f"spawned: '{n}' with pid" in text:
                spawned[n] = t
            elif f"success: {n} entered RUNNING" in text:
                running[n] = t
    # The last RUNNING line may be read a moment after startProcess returned.
    if len(running) < len(names):
        d.wait_line(re.compile(f"success: {names[-1]} entered RUNNING"), since)
        return _link_times(d, names, since)
    handoff = [(spawned[b] - running[a]) * 1000 for a, b in zip(names, names[1:])]
    link = [(spawned[b] - spawned[a]) * 1000 for a, b in zip(names, names[1:])]
    return handoff, link


# ---- 2. re-attach after a core SIGKILL -------------------------------------------------

def sleep_programs(n: int) -> str:
    # A distinct argument per program: its processes can be counted from outside.
    return "".join(f"[program:s{i:03d}]\ncommand=sleep {100000 + i}\nstartsecs=0\n"
                   for i in range(n))


def all_running(d: Daemon, n: int, deadline: float = 300, gap: float = 0.02) -> tuple:
    """Poll getAllProcessInfo until n entries all RUNNING: (time of that answer, time of the
    first answer of any kind, {name: pid})."""
    end = time.monotonic() + deadline
    first = None
    while True:
        try:
            infos = d.rpc().getAllProcessInfo()
            now = time.monotonic()
            first = first or now
            if len(infos) == n and all(i["statename"] == "RUNNING" for i in infos):
                return now, first, {i["name"]: i["pid"] for i in infos}
        except (OSError, ClientError, xmlrpc.client.Error):
            d._proxy = None         # not up yet (or a fault while it sets up): ask again
        if d.proc.poll() is not None:
            raise BenchError(f"{d.kind} exited:\n{d.output()[-2000:]}")
        if time.monotonic() > end:
            raise BenchError(f"{d.kind}: not all {n} RUNNING after {deadline} s")
        time.sleep(gap)


def kill_core(d: Daemon) -> None:
    d.remember_children()           # the programs (and the fd holder) survive: kill by pid later
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(timeout=30)


def shutdown_and_count(d: Daemon, tag: Tagged, expected: int = 0) -> tuple[int, float]:
    """Shut the daemon down over the API: (how many tagged processes beyond `expected`
    (supervisord's orphans from before its SIGKILL) are alive 10 s after it exited,
    seconds from the shutdown call to the daemon's exit)."""
    d.remember_children()
    t0 = time.monotonic()
    try:
        d.rpc().shutdown()
    except (OSError, ClientError, xmlrpc.client.Error) as e:
        raise BenchError(f"{d.kind}: shutdown failed: {e}")
    d.proc.wait(timeout=120)
    took = time.monotonic() - t0
    end = time.monotonic() + 10
    while True:
        extra = len(tag.processes()) - expected
        if extra <= 0 or time.monotonic() > end:
            return max(extra, 0), took
        time.sleep(0.05)


def reattach_once(kind: str, n: int) -> dict:
    with Tagged() as tag:
        with Daemon(kind, sleep_programs(n)) as d:
            d.launch()
            _, _, before = all_running(d, n)
            kill_core(d)
            alive = sum(psutil.pid_exists(p) for p in before.values())
            if alive != n:
                raise BenchError(f"{kind}: only {alive} of {n} programs survived the SIGKILL")
            d.launch()
            t_all, t_first, after = all_running(d, n)
            same = sum(after.get(k) == v for k, v in before.items())
            per_program: dict[str, int] = {}
            for p in tag.processes("sleep"):
                try:
                    arg = p.cmdline()[1]
                except (psutil.Error, IndexError):
                    continue
                per_program[arg] = per_program.get(arg, 0) + 1
            dup = sum(c - 1 for c in per_program.values())
            cpu = core_bench.cpu_seconds(d.pid)
            launched = d.launched
            left_by_daemon, shutdown_s = shutdown_and_count(
                d, tag, n if kind == "supervisord" else 0)
        left = tag.reap_leftovers()
    return {"s": t_all - launched, "first_answer_s": t_first - launched,
            "daemon_cpu_s": cpu, "same_pids": same, "duplicates": dup,
            "shutdown_s": shutdown_s, "left_by_daemon": left_by_daemon, "left_running": left}


def reattach(kind: str, n: int = 500, runs: int = 3) -> dict:
    """Scenario 2: median of `runs` kill/restart cycles, each on a fresh daemon."""
    samples = [reattach_once(kind, n) for _ in range(runs)]
    out = {"programs": n, "runs": runs}
    for k in samples[0]:
        vals = [s[k] for s in samples]
        worst = k in ("duplicates", "left_by_daemon", "left_running")
        out[k] = max(vals) if worst else statistics.median(vals)
    out["samples_s"] = [s["s"] for s in samples]
    out["same_pids_min"] = min(s["same_pids"] for s in samples)
    return out


# ---- report ------------------------------------------------------------------------------

def table(res: dict) -> str:
    head = ("scenario", "supervisord 4.3", "wrapctl", "ratio (sd/wc)", "target")
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]

    def row(*cells):
        lines.append("| " + " | ".join(cells) + " |")

    met = lambda ok: "met" if ok else "not met"        # noqa: E731
    for c in res.get("chain", []):
        row(f"1. chain of {c['links']}, {c['delay_ms']:g} ms delay: overhead per link, ms "
            f"(median of {c['runs']})", "no depends_on", f"{c['overhead_ms_per_link']:.1f}",
            "-", f"< 2 ms: {met(c['overhead_ms_per_link'] < 2)}")
        row("   ... whole chain: wrapctl / baseline, s", "-",
            f"{c['wrapctl_s']:.3f} / {c['baseline_s']:.3f}", "-", "")
        row("   ... one link: wrapctl (spawn to next spawn) / baseline, ms", "-",
            f"{c['link_ms']:.1f} / {c['baseline_link_ms']:.1f}", "-", "")
        row("   ... hand-off, RUNNING to the dependant's spawn, ms", "-",
            f"{c['handoff_ms']:.1f}", "-", "")
    if "reattach" in res:
        s, w = res["reattach"]["supervisord"], res["reattach"]["wrapctl"]
        n = w["programs"]
        row(f"2. core SIGKILL, {n} programs: restart to all RUNNING (median of {w['runs']}, s)",
            f"{s['s']:.2f}", f"{w['s']:.2f}", core_bench.ratio(s["s"], w["s"]), "")
        row("   ... first API answer, s", f"{s['first_answer_s']:.2f}",
            f"{w['first_answer_s']:.2f}", core_bench.ratio(s["first_answer_s"],
                                                          w["first_answer_s"]), "")
        row("   ... new daemon's CPU time until then, s", f"{s['daemon_cpu_s']:.2f}",
            f"{w['daemon_cpu_s']:.2f}", core_bench.ratio(s["daemon_cpu_s"],
                                                        w["daemon_cpu_s"]), "")
        row("   ... programs with the same pid (worst run)", str(s["same_pids_min"]),
            str(w["same_pids_min"]), "-", f"all {n}: {met(w['same_pids_min'] == n)}")
        row("   ... duplicate processes (worst run)", str(s["duplicates"]),
            str(w["duplicates"]), "-", f"0: {met(w['duplicates'] == 0)}")
        row("   ... processes left after its shutdown, beyond the orphans (worst run)",
            str(s["left_by_daemon"]), str(w["left_by_daemon"]), "-",
            f"0: {met(w['left_by_daemon'] == 0)}")
        row("   ... then shutdown over the API until the daemon exits, s",
            f"{s['shutdown_s']:.2f}", f"{w['shutdown_s']:.2f}",
            core_bench.ratio(s["shutdown_s"], w["shutdown_s"]), "")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 5 links, 50 programs")
    ap.add_argument("--only", default="1,2", help="scenarios: 1 chain, 2 re-attach")
    ap.add_argument("--delays", default="50,20", help="link delays in ms (scenario 1)")
    ap.add_argument("--json", metavar="FILE", help="also write the raw results here")
    args = ap.parse_args(argv)
    only = {s.strip() for s in args.only.split(",")}
    links, runs, n, cycles = (5, 2, 50, 1) if args.quick else (20, 7, 500, 3)
    core_bench.enough_fds()
    info = machine()
    print(f"# {info['nproc']} x {info['cpu']}, {info['ram_gib']} GiB, {info['os']}, "
          f"Python {info['python']}, supervisor {info['supervisor']}, {info['date']}",
          flush=True)
    print(f"# wrapctl from {info['wrapctl']} ({info['wrapctl_bytecode']})", flush=True)
    res: dict = {}
    try:
        if "1" in only:
            print("chain/supervisord: skipped (supervisord has no dependencies)", flush=True)
            res["chain"] = []
            for ms in (float(x) for x in args.delays.split(",")):
                t = time.monotonic()
                c = dependency_chain(links, ms / 1000, runs)
                res["chain"].append(c)
                _report(f"chain/wrapctl {ms:g} ms", t, c)
        if "2" in only:
            res["reattach"] = {}
            for kind in core_bench.KINDS:
                t = time.monotonic()
                res["reattach"][kind] = reattach(kind, n, cycles)
                _report(f"reattach/{kind}", t, res["reattach"][kind])
    except BenchError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    print()
    print(table(res))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "results": res}, f, indent=1)
    done = res.get("chain", []) + list(res.get("reattach", {}).values())
    by_daemon = sum(r["left_by_daemon"] for r in done)
    left = sum(r["left_running"] for r in done)
    if by_daemon:
        print(f"WARNING: a daemon's shutdown left {by_daemon} processes running "
              "(the bench killed them by pid)", file=sys.stderr)
    if left:
        print(f"WARNING: {left} processes outlived the bench's cleanup (killed by pid)",
              file=sys.stderr)
    return 0


def _report(label: str, t: float, r: dict) -> None:
    print(f"{label} ({time.monotonic() - t:.0f} s): "
          + json.dumps({k: core_bench._round(v) for k, v in r.items()}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
