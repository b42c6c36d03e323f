"""Imports every command family so that each registers itself on the `cli` group.

One line per family; a family's module owns its commands. The daemon command is defined
without the group and without click (so `wrapctl daemon` loads none of this); the group
reaches it through the wrapper below (`wrapctl -c FILE daemon`).
"""
import sys

import click

from wrapctl import daemon_main
from wrapctl.cli import cli, control, recipes_cmd  # noqa: F401


@cli.command("daemon", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--configuration", "config_path", metavar="FILE",
              help="Configuration file (default: supervisord's search path).")
@click.option("-n", "--nodaemon", is_flag=True, help="Stay in the foreground.")
@click.pass_context
def daemon_command(ctx, config_path, nodaemon):
    """Run the supervisor core on a supervisord.conf."""
    path = config_path or (ctx.obj or {}).get("config_path")
    sys.exit(daemon_main.run_daemon(path, nodaemon))
