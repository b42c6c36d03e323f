"""`wrapctl recipes list|show|check`, `wrapctl adopt`, `wrapctl migrate`.

Exit statuses are documented in docs/adopt.md and docs/recipes.md.
"""
import json
import os
import shutil
import sys

import click

from wrapctl.cli import cli

EXIT_BAD_INPUT = 2


def _fail(prog: str, msg: str, status: int = EXIT_BAD_INPUT):
    click.echo(f"wrapctl {prog}: {msg}", err=True)
    sys.exit(status)


def _book(prog: str, dirs):
    from wrapctl.recipes import RecipeBook, RecipeError
    try:
        return RecipeBook.load(dirs)
    except RecipeError as e:
        _fail(prog, str(e))


_recipes_dir = click.option("--recipes-dir", "recipes_dirs", multiple=True, metavar="DIR",
                            help="Directory of user recipes (overrides bundled ones; "
                                 "repeatable).")


@cli.group("recipes")
def recipes_group():
    """Recipes: how to run known daemons in the foreground."""


@recipes_group.command("list")
@_recipes_dir
def recipes_list(recipes_dirs):
    """List the recipes (NAME, MODE, ORIGIN, DESCRIPTION)."""
    book = _book("recipes", recipes_dirs)
    for n in book.names():
        r = book.get(n)
        origin = "bundled" if r.bundled else r.file
        click.echo(f"{n:20} {r.mode:10} {origin:8} {r.description}")


@recipes_group.command("show")
@click.argument("name")
@_recipes_dir
def recipes_show(name, recipes_dirs):
    """Show a recipe's file and the program options it gives."""
    from wrapctl.recipes import program_options
    book = _book("recipes", recipes_dirs)
    r = book.get(name)
    if r is None:
        _fail("recipes", f"no recipe named {name!r} (see `wrapctl recipes list`)")
    click.echo(f"# {r.file}")
    with open(r.file) as f:
        click.echo(f.read().rstrip("\n"))
    click.echo("\n# as a program section:")
    click.echo(f"[program:{r.name}]")
    for k, v in program_options(r).items():
        click.echo(f"{k}={v}")


@recipes_group.command("check")
@click.argument("files", nargs=-1, required=True)
def recipes_check(files):
    """Validate recipe FILES; print one line per bad file, exit 2 if any."""
    from wrapctl.recipes import RecipeError, load_file
    bad = 0
    for fn in files:
        try:
            r = load_file(fn)
        except RecipeError as e:
            click.echo(f"wrapctl recipes: {e}", err=True)
            bad += 1
            continue
        click.echo(f"{fn}: ok ({r.name}, {r.mode})")
    if bad:
        sys.exit(EXIT_BAD_INPUT)


@cli.command("adopt")
@click.argument("script", required=False)
@click.option("--running", metavar="PIDFILE|PID",
              help="Attach the configured program --name (or SCRIPT's name) to this daemon, "
                   "already running, without restarting it.")
@click.option("--format", "fmt", type=click.Choice(["supervisord", "wrapctl", "json"]),
              default="supervisord", show_default=True)
@click.option("--mode", type=click.Choice(["auto", "recipe", "shim"]), default="auto",
              show_default=True)
@click.option("--name", default="", help="Program name (default: the script's name).")
@click.option("--defaults", "defaults", metavar="FILE",
              help="Use FILE instead of /etc/default/NAME.")
@click.option("--root", default="/", metavar="DIR", show_default=True,
              help="Read /etc/default and instance files under DIR.")
@click.option("--explain", is_flag=True, help="Show what was found and why, then the section.")
@click.option("--observe", is_flag=True,
              help="Run the script's start once (as root, in a cgroup of its own), write "
                   "the config from what stayed, then run its stop and kill what is left.")
@click.option("--observe-timeout", "observe_timeout", type=click.FloatRange(min=0.1),
              default=60.0, show_default=True, metavar="SECONDS",
              help="With --observe: the time limit of the start action.")
@click.option("--watch", "watch", multiple=True, metavar="DIR",
              help="With --observe: watch DIR for pidfiles instead of /run (repeatable; the "
                   "directories the script names are always watched).")
@_recipes_dir
@click.pass_context
def adopt_command(ctx, script, running, fmt, mode, name, defaults, root, explain, observe,
                  observe_timeout, watch, recipes_dirs):
    """Print a program section that runs the service of init SCRIPT in the foreground.

    SCRIPT is a path, or a name under ROOT/etc/init.d.

    Exit 0 written, 2 bad input, 3 oneshot (no program), 4 no recipe (--mode recipe),
    5 needs review (nothing written); with --observe also 6 refused (not root, or the
    service already runs: nothing run) and 7 the observation failed (time limit, failed
    start: all it started was killed).

    With --running PIDFILE|PID, tell the running `wrapctl daemon` to attach its program
    (--name, or SCRIPT's name) to that process without restarting it: exit 0 attached,
    1 refused by the daemon or unreachable, 2 bad input.
    """
    if running is not None:
        _adopt_running(ctx, running, name or (os.path.basename(script) if script else ""))
        return
    if script is None:
        _fail("adopt", "missing SCRIPT (or --running PIDFILE|PID --name NAME)")
    from wrapctl.adopt import (AdoptError, EXIT_ONESHOT, adopt, check_shim_access,
                               render_explain, render_ini, to_json)
    from wrapctl.initscript import ScriptError, read_script
    book = _book("adopt", recipes_dirs)
    if not os.path.exists(script) and "/" not in script:
        # `wrapctl adopt nginx` means the machine's /etc/init.d/nginx
        script = os.path.join(root, "etc", "init.d", script)
    if not os.path.exists(script):
        _fail("adopt", f"{script}: no such file")
    if os.path.isdir(script):
        _fail("adopt", f"{script}: is a directory (use `wrapctl migrate`)")
    try:
        info = read_script(script, root=root, defaults=defaults)
        if observe:
            ad = _observed(script, info, book, mode, name, root, observe_timeout, watch)
        else:
            ad = adopt(info, book, mode=mode, name=name, root=root)
    except (ScriptError, AdoptError) as e:
        _fail("adopt", str(e))
    check_shim_access(ad, _shim_to_check(root, fmt))
    status = ad.exit_status
    if mode == "recipe" and ad.recipe is None and info.kind == "daemon":
        status = 4
    if explain:
        click.echo(render_explain(ad))
    if fmt == "json":
        click.echo(json.dumps(to_json(ad), indent=2))
    elif ad.programs:
        click.echo(render_ini(ad, fmt), nl=False)
    if status == EXIT_ONESHOT:
        click.echo(f"wrapctl adopt: {script}: oneshot, no program written: "
                   f"{info.reasons[-1] if info.reasons else ''}", err=True)
    elif status:
        click.echo(f"wrapctl adopt: {script}: no program written: "
                   f"{ad.review[0] if ad.review else ad.decision}".replace("\x00", "$(...)"),
                   err=True)
    sys.exit(status)


def _observed(script, info, book, mode, name, root, time_limit, watch):
    """adopt() from what the script's start leaves running (wrapctl.adopt.observe)."""
    from wrapctl.adopt.observe import (EXIT_FAILED, EXIT_REFUSED, ObserveFailed,
                                       ObserveRefused, observe)
    from wrapctl.adopt.observed import adopt_observed, watch_dirs
    from wrapctl.shellwords import resolved
    pidfile = info.pidfile if info.pidfile and resolved(info.pidfile) else ""
    try:
        obs = observe(os.path.abspath(script), pidfile=pidfile, time_limit=time_limit,
                      watch=watch_dirs(info, list(watch) or ["/run"]))
        return adopt_observed(info, obs, book, mode=mode, name=name, root=root)
    except ObserveRefused as e:
        _fail("adopt", f"{script}: refused: {e}", status=EXIT_REFUSED)
    except ObserveFailed as e:
        _fail("adopt", f"{script}: {e}", status=EXIT_FAILED)


def _shim_to_check(root: str, fmt: str):
    """This machine's wrapctl-shim, when the output runs it here: supervisord's format (the
    wrapctl format has the core follow the daemon) and no --root (another machine's files)."""
    return shutil.which("wrapctl-shim") if root in ("", "/") and fmt == "supervisord" else None


def _adopt_running(ctx, running: str, name: str) -> None:
    import xmlrpc.client
    from wrapctl.cli.session import AuthRequired, ConnectionFailed, Ctl
    from wrapctl.cli.target import ConfigProblem
    from wrapctl.shims import pidfile as rules
    if not name:
        _fail("adopt", "--running needs the program's name: --name NAME")
    if running.isdigit():
        pid = int(running)
    else:
        reading = rules.read(running, os.geteuid())
        if reading.refusal is not None:
            _fail("adopt", f"{running}: pidfile {reading.refusal}")
        if reading.pid is None:
            _fail("adopt", f"{running}: no pid in it (missing or empty)")
        pid = reading.pid
    try:
        ctl = Ctl(ctx.obj or {})
        ctl.call("adoptRunning", name, pid, namespace="wrapctl")
    except ConfigProblem as e:
        _fail("adopt", str(e))
    except ConnectionFailed as e:
        _fail("adopt", e.text(), status=1)
    except AuthRequired:
        _fail("adopt", "Server requires authentication", status=1)
    except xmlrpc.client.Fault as e:
        _fail("adopt", f"{name}: {e.faultString}", status=1)
    click.echo(f"{name}: attached to running pid {pid}")


@cli.command("migrate")
@click.argument("directory")
@click.option("--out", "outdir", required=True, metavar="OUTDIR",
              help="Where to write programs/, include.conf and the report.")
@click.option("--format", "fmt", type=click.Choice(["supervisord", "wrapctl"]),
              default="supervisord", show_default=True)
@click.option("--root", default="/", metavar="DIR", show_default=True,
              help="Read /etc/default and instance files under DIR.")
@click.option("--defaults-dir", metavar="DIR",
              help="Use DIR/NAME instead of /etc/default/NAME.")
@click.option("--observe", is_flag=True,
              help="Run each script read as a daemon once (start, then stop; as root) and "
                   "write its config from what its start left running.")
@click.option("--observe-timeout", "observe_timeout", type=click.FloatRange(min=0.1),
              default=60.0, show_default=True, metavar="SECONDS",
              help="With --observe: the time limit of each start action.")
@click.option("--watch", "watch", multiple=True, metavar="DIR",
              help="With --observe: watch DIR for pidfiles instead of /run (repeatable).")
@_recipes_dir
def migrate_command(directory, outdir, fmt, root, defaults_dir, observe, observe_timeout,
                    watch, recipes_dirs):
    """Adopt every init script in DIRECTORY; write one file per service and a report.

    Exit 0 done (see the report for scripts that need review), 2 bad input; with
    --observe, 6 refused (not root: nothing run).
    """
    from wrapctl.migrate import MigrateError, Observing, plan, report_table, write
    book = _book("migrate", recipes_dirs)
    observing = None
    if observe:
        from wrapctl.adopt.observe import EXIT_REFUSED
        if os.geteuid() != 0:
            _fail("migrate", "refused: --observe runs the scripts' start as root: run it as "
                  "root", status=EXIT_REFUSED)
        observing = Observing(time_limit=observe_timeout, watch=list(watch) or ["/run"])
    try:
        m = plan(directory, book, root=root, defaults_dir=defaults_dir,
                 shim=_shim_to_check(root, fmt), observing=observing)
        write(m, outdir, fmt)
    except MigrateError as e:
        _fail("migrate", str(e))
    except OSError as e:
        _fail("migrate", f"{e.filename or outdir}: {e.strerror or e}")
    click.echo(report_table(m), nl=False)
