"""`wrapctl migrate DIR --out OUTDIR` on the fixture init scripts."""
import json
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "fixtures", "initd")
SCRIPTS = os.path.join(FIX, "scripts")
ROOT = os.path.join(FIX, "root")


def migrate(out, *extra):
    return subprocess.run([sys.executable, "-m", "wrapctl", "migrate", SCRIPTS, "--out",
                           str(out), "--root", ROOT, *extra], capture_output=True, text=True,
                          timeout=120)


def snapshot(top):
    out = {}
    for d, _, files in os.walk(top):
        for f in files:
            p = os.path.join(d, f)
            st = os.stat(p)
            out[p] = (st.st_size, st.st_mtime_ns)
    return out


def test_migrate_writes_programs_include_and_report(tmp_path):
    out = tmp_path / "out"
    before_fix = snapshot(FIX)
    before_tmp = set(os.listdir(tmp_path))
    p = migrate(out)
    assert p.returncode == 0, p.stderr
    assert snapshot(FIX) == before_fix
    assert set(os.listdir(tmp_path)) == before_tmp | {"out"}
    files = sorted(os.listdir(out / "programs"))
    assert files == sorted(f"{n}.conf" for n in (
        "appsvc", "dbsafe", "frontproxy", "kvstore", "lsbdaemon", "metricsd",
        "pgclusters-15-main", "relayd", "sendmail", "servlet", "streamd", "uwsgi-blog",
        "vpn-backup", "webserver"))
    inc = (out / "include.conf").read_text()
    assert f"files = {out}/programs/*.conf" in inc
    report = (out / "report.txt").read_text()
    assert p.stdout == report
    rows = {line.split()[0]: line for line in report.splitlines()[1:] if line.strip()
            and not line.startswith("total")}
    assert "oneshot skipped" in rows["clock"] and "oneshot skipped" in rows["firewall"]
    assert "recipe" in rows["frontproxy"] and "recipe nginx" in rows["frontproxy"]
    assert "shim" in rows["lsbdaemon"] and "/var/run/exampled.pid" in rows["lsbdaemon"]
    assert "the shim identifies the daemon as 'streamd'" in rows["streamd"]
    assert "pgclusters-15-main,pgclusters-15-reports" in rows["pgclusters"]
    # Switched off in /etc/default/relayd: written, but not started.
    assert "autostart=false" in rows["relayd"] and "RUN_DAEMON=no" in rows["relayd"]
    assert "autostart=false" in (out / "programs" / "relayd.conf").read_text()
    assert "autostart=false" not in (out / "programs" / "lsbdaemon.conf").read_text()
    assert report.rstrip().splitlines()[-1].startswith("total: ")
    js = json.loads((out / "report.json").read_text())
    assert {r["result"] for r in js} >= {"recipe", "shim", "foreground", "oneshot skipped"}


def test_start_order_from_lsb_dependencies(tmp_path):
    out = tmp_path / "out"
    assert migrate(out, "--format", "wrapctl").returncode == 0

    def opts(name):
        text = (out / "programs" / f"{name}.conf").read_text()
        return dict(re.findall(r"^(\w+)=(.*)$", text, re.M))
    # metricsd Requires kvstore; appsvc requires dbsafe (which Provides mysql too)
    assert int(opts("metricsd")["priority"]) > int(opts("kvstore")["priority"])
    assert opts("metricsd")["depends_on"] == "kvstore"
    assert int(opts("appsvc")["priority"]) > int(opts("dbsafe")["priority"])
    assert opts("appsvc")["depends_on"] == "dbsafe"
    assert "depends_on" not in opts("frontproxy")     # Should-Start appserver: not here


def test_supervisord_output_loads_in_supervisor(tmp_path):
    options = pytest.importorskip("supervisor.options")
    out = tmp_path / "out"
    assert migrate(out).returncode == 0
    for f in (out / "programs").iterdir():
        text = f.read_text()
        assert "depends_on" not in text
        # supervisord resolves user= when it parses; these users do not exist here
        f.write_text(re.sub(r"^user=(app|metrics|mysql|tomcat)$", "user=root", text, flags=re.M))
    conf = tmp_path / "supervisord.conf"
    conf.write_text(f"[supervisord]\nlogfile={tmp_path}/s.log\npidfile={tmp_path}/s.pid\n\n"
                    + (out / "include.conf").read_text())
    opts = options.ServerOptions()
    opts.realize(args=["-c", str(conf)], doc="")
    names = {p.name for g in opts.process_group_configs for p in g.process_configs}
    assert {"frontproxy", "kvstore", "pgclusters-15-reports", "vpn-office"} <= names


def test_bad_directory_exit_2(tmp_path):
    p = subprocess.run([sys.executable, "-m", "wrapctl", "migrate", str(tmp_path / "none"),
                        "--out", str(tmp_path / "o")], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2 and "not a directory" in p.stderr
    assert not (tmp_path / "o").exists()


def test_unwritable_out_exit_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    p = migrate(blocker / "sub")
    assert p.returncode == 2 and "Traceback" not in p.stderr


def test_facilities_order_after_their_providers(tmp_path):
    src = tmp_path / "initd"
    src.mkdir()
    (src / "frontproxy").write_text(open(os.path.join(SCRIPTS, "frontproxy")).read())
    (src / "rsyslog").write_text("""#!/bin/sh
### BEGIN INIT INFO
# Provides:          rsyslog
# Required-Start:    $remote_fs $time
# Default-Start:     2 3 4 5
### END INIT INFO
case "$1" in
  start) start-stop-daemon --start --pidfile /run/rsyslogd.pid --exec /usr/sbin/rsyslogd ;;
  stop) start-stop-daemon --stop --pidfile /run/rsyslogd.pid ;;
esac
""")
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "wrapctl", "migrate", str(src), "--out", str(out),
                        "--format", "wrapctl"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    front = (out / "programs" / "frontproxy.conf").read_text()
    syslog = (out / "programs" / "rsyslog.conf").read_text()
    assert "depends_on=rsyslog" in front           # Required-Start: $syslog
    assert "priority=110" in front and "priority=100" in syslog
    assert "rsyslogd -n -iNONE" in syslog
