"""run_dirs=: the core makes a program's directories as root before each start, also for a
program that runs as another user (what an init script does for /run/NAME)."""
import grp
import os
import shutil
import subprocess
import sys

import pytest

from harness import nobody_or_skip, wait_for
from wrapctl.core import rundirs


def test_dir_made_for_a_program_that_drops_to_its_user(wrapctld, open_tmp):
    nobody = nobody_or_skip()
    run = os.path.join(open_tmp, "run", "svc")
    group = grp.getgrgid(nobody.pw_gid).gr_name
    d = wrapctld(f"[program:svc]\ncommand=/bin/sh -c 'touch {run}/ok && exec sleep 1000'\n"
                 f"user=nobody\nrun_dirs={run} nobody:{group} 0750\nstartsecs=0\n"
                 "autorestart=false\n")
    d.wait_state("svc", "RUNNING")
    wait_for(lambda: os.path.exists(f"{run}/ok"), what="the program wrote into its dir")
    st = os.stat(run)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (nobody.pw_uid, nobody.pw_gid, 0o750)
    assert os.stat(f"{run}/ok").st_uid == nobody.pw_uid
    # A boot empties /run: the next start makes it again.
    d.ctl("stop", "svc")
    shutil.rmtree(os.path.join(open_tmp, "run"))
    d.ctl("start", "svc")
    d.wait_state("svc", "RUNNING")
    wait_for(lambda: os.path.exists(f"{run}/ok"), what="the dir made again")


def test_a_link_in_its_place_is_refused_not_followed(wrapctld, open_tmp):
    nobody_or_skip()
    target = os.path.join(open_tmp, "elsewhere")
    os.mkdir(target, 0o700)
    link = os.path.join(open_tmp, "svc")
    os.symlink(target, link)
    d = wrapctld(f"[program:svc]\ncommand=sleep 1000\nuser=nobody\nrun_dirs={link}\n"
                 "startsecs=0\nstartretries=0\nautorestart=false\n")
    d.wait_state("svc", "FATAL")
    assert f"couldn't make run dir {link}: not a directory" in open(d.mainlog).read()
    st = os.stat(target)
    assert (st.st_uid, st.st_mode & 0o7777) == (0, 0o700)     # untouched


@pytest.mark.parametrize("value,reason", [
    ("run/x", "is not an absolute path"),
    ("/run/x root root 0755", "want PATH [OWNER[:GROUP]] [MODE]"),
    ("/run/x, ", "empty entry"),
    ("/run/x ro$ot", "is not a user name"),
])
def test_bad_entry_is_a_config_error_naming_the_option(tmp_path, value, reason):
    conf = tmp_path / "s.conf"
    conf.write_text(f"[supervisord]\nlogfile={tmp_path}/l\npidfile={tmp_path}/p\n"
                    f"[program:x]\ncommand=sleep 1\nrun_dirs={value}\n")
    p = subprocess.run([sys.executable, "-m", "wrapctl", "-c", str(conf), "daemon", "-n"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "run_dirs" in p.stderr and reason in p.stderr and p.stderr.count("\n") == 1


def test_parse_defaults():
    assert rundirs.parse("/run/a, /run/b/ redis, /run/c root:nut 0770") == (
        rundirs.RunDir("/run/a"), rundirs.RunDir("/run/b", "redis"),
        rundirs.RunDir("/run/c", "root", "nut", 0o770))
