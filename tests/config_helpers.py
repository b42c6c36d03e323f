"""Helpers shared by the tests/test_config*.py files (this module holds no tests)."""
import textwrap

from wrapctl.config import load


def write(directory, name, text):
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def load_text(tmp_path, text, name="supervisord.conf", environ=None, **kw):
    path = write(tmp_path, name, text)
    return load(str(path), environ={} if environ is None else environ, **kw)


def proc(cfg, name):
    for p in cfg.processes():
        if p.name == name:
            return p
    raise KeyError(name)
