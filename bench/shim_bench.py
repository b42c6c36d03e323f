"""Benchmark of the shim (not a test): detection latency, idle wakeups, RSS, start-up cost.

    python bench/shim_bench.py [--runs 50] [--idle 30] [--starts 30]

Detection latency: from kill -9 of the daemon's main pid to the shim's exit, seen through a
pidfd on the shim (median of --runs). Idle wakeups: growth of the shim's context switches
(/proc/PID/status) over --idle seconds with a daemon that does nothing. RSS: VmRSS of that
idle shim. Start-up: wall time of `wrapctl-shim -- true` minus that of `true`, median of
--starts. supervisord's pidproxy, idling on a foreground `sleep`, is measured alongside.

Each shim figure is taken three ways: as installed here (editable install: its import
finder and other .pth files run at every interpreter start; where PYTHONDONTWRITEBYTECODE
is set, the shim is compiled from source each time), as a plain install runs it (a copy of
the package with its .pyc, found first on PYTHONPATH), and the same with `python -S` (no
site processing at all; the shim needs only the stdlib).
"""
import argparse
import compileall
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

PY = sys.executable
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS = ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches", "VmRSS", "VmHWM", "RssAnon")


def proc_status(pid):
    vals = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in KEYS:
                vals[k] = int(v.split()[0])
    return vals


def plain_copy(tmp):
    """wrapctl/__init__.py + wrapctl/shims/ copied to tmp: importable with python -S."""
    dst = os.path.join(tmp, "plain", "wrapctl")
    os.makedirs(dst)
    shutil.copy(os.path.join(ROOT, "wrapctl", "__init__.py"), dst)
    shutil.copytree(os.path.join(ROOT, "shims"), os.path.join(dst, "shims"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    # An installed package has its .pyc files; the source tree here may not (this
    # environment sets PYTHONDONTWRITEBYTECODE), so "as installed here" compiles each time.
    compileall.compile_dir(dst, quiet=1)
    return os.path.dirname(dst)


class Flavour:
    def __init__(self, name, argv, env=None):
        self.name, self.argv, self.env = name, argv, env


def start_daemon_shim(fl, tmp):
    """A shim around `sleep` daemonized by sh; returns (shim Popen, daemon pid)."""
    pf = os.path.join(tmp, "d.pid")
    if os.path.exists(pf):
        os.unlink(pf)
    shim = subprocess.Popen(fl.argv + ["--pidfile", pf, "--", "sh", "-c",
                                       f"sleep 1000 & echo $! > {pf}"],
                            stderr=subprocess.PIPE, text=True, env=fl.env, cwd=tmp)
    line = shim.stderr.readline()          # "wrapctl-shim: daemon is pid N (sleep)"
    if "daemon is pid" not in line:
        raise SystemExit(f"shim did not adopt: {line!r}")
    return shim, int(line.split("daemon is pid")[1].split()[0])


def latency(fl, runs, tmp):
    samples = []
    for _ in range(runs):
        shim, pid = start_daemon_shim(fl, tmp)
        fd = os.pidfd_open(shim.pid)
        t0 = time.perf_counter()
        os.kill(pid, signal.SIGKILL)
        select.select([fd], [], [], 10)
        samples.append(time.perf_counter() - t0)
        os.close(fd)
        rc = shim.wait()
        shim.stderr.close()
        assert rc == 137, rc
    return samples


def idle(flavours, seconds, tmp):
    """{name: (context switches over `seconds`, {VmRSS, VmHWM, RssAnon} in KiB)}."""
    procs = {}
    for i, fl in enumerate(flavours):
        sub = os.path.join(tmp, f"idle{i}")
        os.makedirs(sub, exist_ok=True)
        procs[fl.name] = start_daemon_shim(fl, sub)[0]
    procs["supervisor pidproxy"] = subprocess.Popen(
        [PY, "-m", "supervisor.pidproxy", os.path.join(tmp, "x.pid"), "/bin/sleep", "1000"])
    time.sleep(1)                          # let them settle before counting
    before = {n: proc_status(p.pid) for n, p in procs.items()}
    time.sleep(seconds)
    after = {n: proc_status(p.pid) for n, p in procs.items()}
    out = {n: (sum(after[n][k] - before[n][k] for k in KEYS[:2]), after[n]) for n in procs}
    from wrapctl.shims import procfs
    proxy = procs.pop("supervisor pidproxy")
    kids = procfs.children(proxy.pid)
    proxy.kill()
    proxy.wait()
    for pid in kids:                       # pidproxy's `sleep`, by pid
        os.kill(pid, signal.SIGKILL)
    for p in procs.values():
        p.send_signal(signal.SIGTERM)
        p.wait()
        p.stderr.close()
    return out


def wall(argv, n, env=None):
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        # cwd: not the source tree, whose wrapctl/ (without shims/) would shadow the copy.
        subprocess.run(argv, check=True, stderr=subprocess.DEVNULL, env=env, cwd="/")
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--idle", type=float, default=30.0)
    ap.add_argument("--starts", type=int, default=30)
    a = ap.parse_args()
    ms = lambda s: f"{s * 1000:.1f} ms"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        plain_env = dict(os.environ, PYTHONPATH=plain_copy(tmp))
        flavours = [Flavour("as installed here", [PY, "-m", "wrapctl.shims.main"]),
                    Flavour("plain install", [PY, "-m", "wrapctl.shims.main"], plain_env),
                    Flavour("plain install, python -S",
                            [PY, "-S", "-m", "wrapctl.shims.main"], plain_env)]
        idles = idle(flavours, a.idle, tmp)
        direct = wall(["/bin/true"], a.starts)
        for fl in flavours:
            lat = sorted(latency(fl, a.runs, tmp))
            rows.append((f"detection latency, kill -9 -> shim exit, median of {a.runs} "
                         f"({fl.name})",
                         f"{ms(statistics.median(lat))} (p90 "
                         f"{ms(lat[max(0, int(len(lat) * 0.9) - 1)])})", "<= 10 ms"))
        for fl in flavours:
            rows.append((f"wakeups in {a.idle:g} s idle ({fl.name})",
                         str(idles[fl.name][0]), "0"))
        mib = lambda kib: f"{kib / 1024:.1f} MiB"
        for fl in flavours:
            m = idles[fl.name][1]
            rows.append((f"RSS: peak (VmHWM) / now (VmRSS) / anonymous ({fl.name})",
                         f"{mib(m['VmHWM'])} / {mib(m['VmRSS'])} / {mib(m['RssAnon'])}",
                         "<= 15 MiB"))
        for fl in flavours:
            rows.append((f"added start-up, `shim -- true` minus `true` ({fl.name})",
                         ms(wall(fl.argv + ["-q", "--", "/bin/true"], a.starts, fl.env)
                            - direct), "-"))
        rows.append(("added start-up via `python -m wrapctl shim -- true` (here)",
                     ms(wall([PY, "-m", "wrapctl", "shim", "-q", "--", "/bin/true"],
                             a.starts) - direct), "-"))
        rows.append(("for scale: `python -c pass` here / `python -S -c pass`",
                     f"{ms(wall([PY, '-c', 'pass'], a.starts))} / "
                     f"{ms(wall([PY, '-S', '-c', 'pass'], a.starts))}", "-"))
        pp = idles["supervisor pidproxy"]
        rows.append((f"pidproxy: wakeups in {a.idle:g} s idle; RSS peak / now / anonymous",
                     f"{pp[0]}; {mib(pp[1]['VmHWM'])} / {mib(pp[1]['VmRSS'])} / "
                     f"{mib(pp[1]['RssAnon'])}", "-"))
    w = max(len(r[0]) for r in rows)
    print(f"| {'measure':<{w}} | result | target |")
    print(f"|{'-' * (w + 2)}|--------|--------|")
    for r in rows:
        print(f"| {r[0]:<{w}} | {r[1]} | {r[2]} |")


if __name__ == "__main__":
    main()
