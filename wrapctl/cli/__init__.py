"""The `wrapctl` command line (click). Each command family lives in its own module."""
import click

from wrapctl import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--configuration", "config_path", metavar="FILE",
              help="Configuration file (default: supervisord's search path).")
@click.option("-s", "--serverurl", metavar="URL",
              help="URL of the daemon: unix:///path/to.sock or http://host:port.")
@click.option("-u", "--username", help="User name for the daemon's basic auth.")
@click.option("-p", "--password", help="Password for the daemon's basic auth.")
@click.version_option(__version__, "--version", prog_name="wrapctl")
@click.pass_context
def cli(ctx, config_path, serverurl, username, password):
    """wrapctl: supervise programs, including forking daemons."""
    ctx.obj = {"config_path": config_path, "serverurl": serverurl,
               "username": username, "password": password}


# Command families register themselves on `cli` when imported.
from wrapctl.cli import commands  # noqa: E402,F401
