"""Forking daemon: kill -9 to RUNNING on the new master, `wrapctl daemon` vs supervisord 4.3.

    python3 bench/forking_bench.py                     # 20 kills per program, a 30 s cap
    python3 bench/forking_bench.py --repeats 5 --cap 10 --program initd --json out.json

The programs are the lines a supervisord user writes for nginx, unchanged:
  initd  `command=<tmp>/init.d/nginx start`, where <tmp>/init.d/nginx is Debian's init script
         (tests/fixtures/forking/nginx.initd) adapted only in the two paths it reads;
         wrapctl resolves it at config load (nginx's recipe: nginx in the foreground);
  plain  `command=/usr/sbin/nginx -c <tmp>/nginx.conf -e ...`: nginx daemonizes, and
         wrapctl's forking detection follows the master it leaves.
Either way nginx runs on its own config, pidfile and high loopback port in a temp dir
(tests/forking_support.py). startsecs is left at its default (1 s), so "RUNNING" includes
that second, for both supervisors.

One sample: SIGKILL to the nginx master, then the time until
  - port: a new master (the one pid holding the listening port whose parent does not hold
    it; /proc/net/tcp and /proc/PID/fd, never process names) whose /proc/PID/exe is nginx
    answers HTTP on the port;
  - running: moreover the supervisor's getProcessInfo says RUNNING on that very pid.
The wait reads /proc every 5 ms and calls getProcessInfo once the port answers (a sample's
API calls wake the daemon; the time between the kill and the new master takes none).

supervisord: the command exits at once, leaving nginx behind; supervisord says "Exited too
quickly" and retries: with the init script until FATAL (each retry finds nginx running),
with plain nginx for ever (each retry is a duplicate nginx that fails to bind after 2.5 s,
longer than startsecs: RUNNING on the duplicate, exited, respawned). The orphan keeps
running outside it. Once in that lasting state, its master is killed the same way and the bench waits up to --cap seconds for a new
master on the port and RUNNING: it never comes (the orphaned workers go on serving the old
socket, unsupervised). That is reported as "no recovery within CAP s", and the ratio as a
lower bound (CAP / wrapctl's median).

Needs nginx (nginx-light) and the package installed with its test extra (`pip install -e
'.[test]'`: the bench reuses tests/harness.py's Daemon). Everything it starts is killed at the
end by port and temp path.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import forking_support as fs  # noqa: E402

TICK = 0.005


def _new_master(case, old):
    """The new master's pid once it holds the port, is nginx and answers; else None.
    old: the killed master and its workers (a last old worker holding the port alone looks
    like a master)."""
    owner = case.owner()
    if owner and owner not in old and fs.exe(owner) == case.exe and case.answers():
        return owner
    return None


def _running_on(d, pid):
    info = d.info("x")
    return info["statename"] == "RUNNING" and info["pid"] == pid


def one_kill(d, case, cap):
    """Kill the current master; (port_s, running_s), either None when not reached in cap."""
    old = case.owner()
    assert old and fs.exe(old) == case.exe, f"no nginx master on port {case.port}"
    family = fs.descendants(old) | fs.holders(case.port)
    t0 = time.monotonic()
    os.kill(old, 9)
    port_s = running_s = None
    new = None
    while time.monotonic() - t0 < cap:
        if new is None:
            new = _new_master(case, family)
            if new is not None:
                port_s = time.monotonic() - t0
        if new is not None and _running_on(d, new):
            running_s = time.monotonic() - t0
            break
        time.sleep(TICK)
    return port_s, running_s


def wait_running_on_owner(d, case, deadline=30):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        owner = case.owner()
        if owner and _running_on(d, owner) and case.answers():
            return owner
        time.sleep(0.02)
    raise RuntimeError(f"x never RUNNING on the port's owner: {d.info('x')}\n"
                       f"{d.mainlog_text()[-2000:]}")


PROGRAMS = {"initd": fs.nginx_initd, "plain": fs.nginx_plain}


def run_wrapctl(program, repeats, cap, keep=False):
    root = tempfile.mkdtemp(prefix="fkb")
    os.chmod(root, 0o755)
    case = PROGRAMS[program](os.path.join(root, "case"))
    d = fs.supervisor(case, "wrapctl", os.path.join(root, "wrapctl"))
    samples = []
    try:
        d.start(case.section("x"))
        wait_running_on_owner(d, case)
        for _ in range(repeats):
            port_s, running_s = one_kill(d, case, cap)
            samples.append({"port_s": port_s, "running_s": running_s})
            if running_s is None:
                info = d.info("x")
                samples[-1]["miss"] = {
                    "state": f"{info['statename']} pid={info['pid']} {info['description']}",
                    "port_owner": case.owner(), "log_tail": d.mainlog_text()[-3000:]}
                print(f"{case.name}: not RUNNING on the new master within {cap:g} s: "
                      f"{samples[-1]['miss']['state']}, port owner "
                      f"{samples[-1]['miss']['port_owner']}", file=sys.stderr)
                break
            wait_running_on_owner(d, case)
    finally:
        d.stop()
        fs.reap(case.root, case.ports)
        if not keep:
            subprocess.run(["rm", "-rf", root])
    return summarize(samples, repeats, cap)


def settle_supervisord(d, case, deadline=60):
    """Wait for supervisord's lasting answer to the line: FATAL (init script: every retry
    finds nginx running and exits), or RUNNING on a duplicate that is not the port's master
    (plain nginx: each retry is a new nginx that fails to bind after 2.5 s, longer than
    startsecs, so RUNNING, exited, respawned, for ever). Returns it in words."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        info, owner = d.info("x"), case.owner()
        if info["statename"] == "FATAL" and owner:
            return f"FATAL: {info['description']}; nginx master {owner} orphaned"
        if info["statename"] == "RUNNING" and owner and info["pid"] != owner:
            return (f"RUNNING on pid {info['pid']}, a duplicate nginx that cannot bind; the "
                    f"master holding the port, {owner}, is an orphan")
        time.sleep(0.05)
    raise RuntimeError(f"supervisord: neither FATAL nor a duplicate: {d.info('x')}")


def run_supervisord(program, cap, keep=False):
    root = tempfile.mkdtemp(prefix="fkb")
    os.chmod(root, 0o755)
    case = PROGRAMS[program](os.path.join(root, "case"))
    d = fs.supervisor(case, "supervisord", os.path.join(root, "supervisord"))
    try:
        d.start(case.section("x"))
        before = settle_supervisord(d, case)
        port_s, running_s = one_kill(d, case, cap)
        after = d.info("x")
    finally:
        d.stop()
        fs.reap(case.root, case.ports)
        if not keep:
            subprocess.run(["rm", "-rf", root])
    out = summarize([{"port_s": port_s, "running_s": running_s}], 1, cap)
    out["state_before_kill"] = before
    out["state_after_cap"] = f"{after['statename']}: {after['description']}"
    return out


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def summarize(samples, repeats, cap):
    out = {"repeats": repeats, "cap_s": cap, "samples": samples}
    for key in ("port_s", "running_s"):
        got = [s[key] for s in samples if s[key] is not None]
        out[key.replace("_s", "_reached")] = f"{len(got)}/{len(samples)}"
        if got and len(got) == len(samples):
            out[key.replace("_s", "_median_ms")] = round(statistics.median(got) * 1000, 1)
            out[key.replace("_s", "_p90_ms")] = round(pct(got, 0.9) * 1000, 1)
    return out


def machine():
    nginx = subprocess.run([fs.NGINX, "-v"], capture_output=True, text=True).stderr.strip()
    import supervisor.options
    return {"nproc": os.cpu_count(), "kernel": platform.release(),
            "python": platform.python_version(), "supervisor": supervisor.options.VERSION,
            "nginx": nginx.split("/", 1)[-1],
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def cell(res, key):
    if f"{key}_median_ms" in res:
        return f"{res[key + '_median_ms']:.0f} / {res[key + '_p90_ms']:.0f}"
    return f"not reached within {res['cap_s']:g} s ({res[key + '_reached']})"


LABELS = {"initd": "`init.d/nginx start`", "plain": "`nginx -c ...` (daemonizes)"}


def table(res) -> str:
    lines = ["| kill -9 of the nginx master to ... (median / p90, ms) | supervisord 4.3 | "
             "wrapctl | ratio (sd/wc) |", "|---|---|---|---|"]
    for program in PROGRAMS:
        if program in res and {"wrapctl", "supervisord"} <= set(res[program]):
            lines += _rows(res[program], LABELS[program])
    return "\n".join(lines)


def _rows(res, what) -> list:
    w, s = res["wrapctl"], res["supervisord"]
    lines = []
    for key, label in (("port", f"{what}: new master answering on the port"),
                       ("running", f"{what}: RUNNING on the new master")):
        if f"{key}_median_ms" in w and f"{key}_median_ms" not in s:
            ratio = f"> {s['cap_s'] * 1000 / w[key + '_median_ms']:.0f}x (never)"
        elif f"{key}_median_ms" in w and f"{key}_median_ms" in s:
            ratio = f"{s[key + '_median_ms'] / w[key + '_median_ms']:.1f}x"
        else:
            ratio = "-"
        lines.append(f"| {label} | {cell(s, key)} | {cell(w, key)} | {ratio} |")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=20, help="kills for wrapctl (default 20)")
    ap.add_argument("--cap", type=float, default=30.0,
                    help="seconds to wait for a recovery before calling it none (default 30)")
    ap.add_argument("--only", choices=("wrapctl", "supervisord"))
    ap.add_argument("--program", choices=tuple(PROGRAMS), action="append",
                    help="initd and/or plain (default both)")
    ap.add_argument("--json", help="write the results here too")
    a = ap.parse_args(argv)
    if fs.missing(fs.NGINX):
        print(f"{fs.NGINX} is not installed (apt-get install nginx-light)", file=sys.stderr)
        return 2
    res = {"machine": machine()}
    print(json.dumps(res["machine"]), flush=True)
    for program in a.program or PROGRAMS:
        res[program] = {}
        for kind in ("wrapctl", "supervisord"):
            if a.only and a.only != kind:
                continue
            t = time.monotonic()
            res[program][kind] = (run_wrapctl(program, a.repeats, a.cap) if kind == "wrapctl"
                                  else run_supervisord(program, a.cap))
            brief = {k: v for k, v in res[program][kind].items() if k != "samples"}
            print(f"{program}, {kind} ({time.monotonic() - t:.0f} s): {json.dumps(brief)}",
                  flush=True)
    if table(res).count("\n") > 1:
        print(table(res))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
