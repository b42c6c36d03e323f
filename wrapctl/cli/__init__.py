"""The `wrapctl` command line (click). Each command family lives in its own module."""
import click

from wrapctl import __version__

# supervisorctl's commands. supervisorctl joins its arguments with spaces and splits the
# line again (onecmd), so `'signal HUP' x`, `signal 'HUP x'` and `'stop x'` all work there;
# scripts and Ansible's supervisorctl module rely on it (`'signal HUP' NAME`). wrapctl-only
# commands (adopt, migrate, recipes, daemon, shim) keep their arguments as given: their
# paths and commands may contain spaces.
SUPERVISORCTL_COMMANDS = frozenset(
    "status start stop restart signal pid clear version tail maintail fg "
    "avail reread add remove update reload shutdown".split())


class _Group(click.Group):
    def resolve_command(self, ctx, args):
        if args:
            words = " ".join(args).split()
            if words and words[0] in SUPERVISORCTL_COMMANDS:
                args = words
        return super().resolve_command(ctx, args)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="`wrapctl --version` is this package's version; `wrapctl version` is "
                    "the running daemon's supervisord-compatible version (4.3.0).")
@click.option("-c", "--configuration", "config_path", metavar="FILE",
              help="Configuration file (default: supervisord's search path).")
@click.option("-s", "--serverurl", metavar="URL",
              help="URL of the daemon: unix:///path/to.sock or http://host:port.")
@click.option("-u", "--username", help="User name for the daemon's basic auth.")
@click.option("-p", "--password", help="Password for the daemon's basic auth.")
@click.version_option(__version__, "--version", prog_name="wrapctl",
                      message="%(prog)s %(version)s",
                      help="Print wrapctl's package version (not the daemon's) and exit.")
@click.pass_context
def cli(ctx, config_path, serverurl, username, password):
    """wrapctl: supervise programs, including forking daemons."""
    ctx.obj = {"config_path": config_path, "serverurl": serverurl,
               "username": username, "password": password}


# Command families register themselves on `cli` when imported.
from wrapctl.cli import commands  # noqa: E402,F401
