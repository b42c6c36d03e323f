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


# `wrapctl shim ...` is dispatched by wrapctl.entry before click is loaded; this entry lists
# it in `wrapctl --help` and serves `wrapctl -c FILE shim ...`.
@cli.command("shim", add_help_option=False,
             context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
             short_help="Run a daemon in the foreground for a supervisor (shim --help).")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def shim_command(args):
    """Run COMMAND, find the daemon it starts, and mirror its life in the foreground."""
    from wrapctl.shims.main import main as shim_main
    sys.exit(shim_main(list(args)))
