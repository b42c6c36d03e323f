"""`wrapctl daemon`: run the supervisor core.

The command lives outside the wrapctl.cli package, whose import loads every command
family: `wrapctl daemon` (see wrapctl/entry.py) loads none of them and stays a few MiB
smaller for its whole life. The group lists it too (added in wrapctl/cli/commands.py).
"""
import sys

import click

EXIT_CONFIG = 2     # bad configuration (as supervisord's usage error)
EXIT_STARTUP = 1    # could not start: pidfile held, socket in use, ...


@click.command("daemon", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--configuration", "config_path", metavar="FILE",
              help="Configuration file (default: supervisord's search path).")
@click.option("-n", "--nodaemon", is_flag=True, help="Stay in the foreground.")
@click.pass_context
def daemon_command(ctx, config_path, nodaemon):
    """Run the supervisor core on a supervisord.conf."""
    from wrapctl import config as configmod
    from wrapctl.core.daemon import DaemonError, run
    from wrapctl.rpc.http import BindError

    path = config_path or (ctx.obj or {}).get("config_path")
    try:
        config = configmod.load(path)
    except configmod.ConfigError as e:
        click.echo(f"wrapctl daemon: {e}", err=True)
        sys.exit(EXIT_CONFIG)
    for w in config.warnings:
        click.echo(f"wrapctl daemon: warning: {w}", err=True)
    try:
        status = run(config, nodaemon)
    except DaemonError as e:
        click.echo(f"wrapctl daemon: {e}", err=True)
        sys.exit(e.status)
    except BindError as e:
        click.echo(f"wrapctl daemon: {e}", err=True)
        sys.exit(EXIT_STARTUP)
    sys.exit(status)
