"""[supervisord] autoreload=true: edits to the config files are applied by themselves."""
from harness import BASE_INI, wait_for


def write(d, programs):
    with open(d.conf, "w") as f:
        f.write(BASE_INI.format(sock=d.sock).replace("[supervisord]\n",
                                                     "[supervisord]\nautoreload=true\n"
                                                     "autoreload_delay=0.1\n") + programs)


def test_edit_is_applied_and_unchanged_program_keeps_running(wrapctld):
    base = ("[program:keep]\ncommand=sleep 1000\nstartsecs=0\n"
            "[program:edit]\ncommand=sleep 1001\nstartsecs=0\n")
    d = wrapctld(base.replace("[supervisord]", ""))
    write(d, base)
    d.stop()
    d.start()
    keep = d.wait_state("keep", "RUNNING")["pid"]
    edit = d.wait_state("edit", "RUNNING")["pid"]
    write(d, base.replace("sleep 1001", "sleep 1002") +
          "[program:new]\ncommand=sleep 1003\nstartsecs=0\n")
    wait_for(lambda: any(i["name"] == "new" and i["statename"] == "RUNNING"
                         for i in d.rpc().getAllProcessInfo()), what="new program")
    wait_for(lambda: d.info("edit")["pid"] not in (0, edit), what="edited program restarted")
    assert d.info("keep")["pid"] == keep


def test_broken_edit_is_reported_and_nothing_is_touched(wrapctld):
    base = "[program:keep]\ncommand=sleep 1000\nstartsecs=0\n"
    d = wrapctld(base)
    write(d, base)
    d.stop()
    d.start()
    keep = d.wait_state("keep", "RUNNING")["pid"]
    write(d, base + "[program:bad]\ncommand=sleep 1\nstartsecs=soon\n")
    wait_for(lambda: "autoreload:" in open(d.mainlog).read() and
             "startsecs" in open(d.mainlog).read(), what="error in the main log")
    line = [l for l in open(d.mainlog) if "autoreload:" in l][-1]
    assert "supervisord.conf:" in line and "[program:bad] startsecs" in line
    assert d.info("keep")["pid"] == keep
    assert [i["name"] for i in d.rpc().getAllProcessInfo()] == ["keep"]
