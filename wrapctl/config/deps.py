"""depends_on=: which processes a process waits for, and the cycle check.

A name in depends_on is a program ([program:x]: all its processes), a group ([group:x]: all
its processes) or a process name ("group:process"). Resolved once per configuration.
"""
from __future__ import annotations

from wrapctl.config.errors import ConfigError
from wrapctl.config.records import Config, Where


def _targets(config: Config, name: str) -> list[str]:
    """Process keys ("group:process") a depends_on name stands for."""
    out = []
    if ":" in name:
        gname, pname = name.split(":", 1)
        g = config.group(gname)
        if g is not None:
            out = [f"{g.name}:{p.name}" for p in g.processes if pname in ("*", p.name)]
        return out
    g = config.group(name)
    if g is not None:
        return [f"{g.name}:{p.name}" for p in g.processes]
    for g in config.groups:
        out.extend(f"{g.name}:{p.name}" for p in g.processes if p.program == name)
    return out


def dependency_map(config: Config) -> dict[str, tuple[str, ...]]:
    """{"group:process": ("group:process", ...)} for every process with depends_on."""
    deps: dict[str, tuple[str, ...]] = {}
    for g in config.groups:
        for p in g.processes:
            raw = p.extra_get("depends_on")
            if not raw:
                continue
            wanted: list[str] = []
            for name in raw.replace(",", " ").split():
                targets = _targets(config, name)
                if not targets:
                    where = p.where or Where(config.path)
                    raise ConfigError(f"depends on {name!r}, which is no program, group or "
                                      "process", Where(where.file, where.line, where.section,
                                                       "depends_on"))
                wanted.extend(t for t in targets if t != f"{g.name}:{p.name}" and t not in wanted)
            deps[f"{g.name}:{p.name}"] = tuple(wanted)
    return deps


def check_cycles(config: Config, deps: dict[str, tuple[str, ...]]) -> None:
    """Raise ConfigError naming the first dependency cycle found (a -> b -> a)."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = {k: WHITE for k in deps}
    stack: list[str] = []

    def visit(node: str) -> None:
        color[node] = GREY
        stack.append(node)
        for nxt in deps.get(node, ()):
            c = color.get(nxt, BLACK if nxt not in deps else WHITE)
            if c == GREY:
                cycle = [_spec(k) for k in stack[stack.index(nxt):] + [nxt]]
                proc = _process(config, node)
                where = (proc.where if proc is not None and proc.where else Where(config.path))
                raise ConfigError("dependency cycle: " + " -> ".join(cycle),
                                  Where(where.file, where.line, where.section, "depends_on"))
            if c == WHITE:
                visit(nxt)
        stack.pop()
        color[node] = BLACK

    for node in sorted(deps):
        if color[node] == WHITE:
            visit(node)


def _spec(key: str) -> str:
    gname, pname = key.split(":", 1)
    return pname if gname == pname else key


def _process(config: Config, key: str):
    gname, pname = key.split(":", 1)
    g = config.group(gname)
    if g is None:
        return None
    for p in g.processes:
        if p.name == pname:
            return p
    return None


def check(config: Config) -> dict[str, tuple[str, ...]]:
    deps = dependency_map(config)
    check_cycles(config, deps)
    return deps
