"""recipe=NAME in a program section: the core fills in the recipe's options."""
import pytest

from wrapctl import config


def load(tmp_path, body):
    f = tmp_path / "s.conf"
    f.write_text("[supervisord]\nlogfile=%(here)s/s.log\npidfile=%(here)s/s.pid\n" + body)
    return config.load(str(f))


def proc(cfg, name):
    return next(p for p in cfg.processes() if p.name == name)


def test_recipe_fills_in_command_and_stop_signal(tmp_path):
    p = proc(load(tmp_path, "[program:web]\nrecipe=nginx\n"), "web")
    assert p.command.startswith("/usr/sbin/nginx") and "daemon off;" in p.command
    assert p.stopsignal == 3            # QUIT: nginx's graceful stop
    assert p.extra_get("recipe") == "nginx"


def test_explicit_options_override_the_recipe(tmp_path):
    p = proc(load(tmp_path, "[program:web]\nrecipe=nginx\nstopsignal=TERM\n"
                            "command=/usr/sbin/nginx -g 'daemon off;' -c /x.conf\n"), "web")
    assert p.stopsignal == 15
    assert p.command.endswith("-c /x.conf")


def test_unknown_recipe_is_a_one_line_error(tmp_path):
    with pytest.raises(config.ConfigError) as e:
        load(tmp_path, "[program:x]\nrecipe=nosuchdaemon\n")
    assert str(e.value).endswith("s.conf:5: [program:x] recipe: no recipe named "
                                 "'nosuchdaemon' (wrapctl recipes list)")
