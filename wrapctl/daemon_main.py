"""`wrapctl daemon`: run the supervisor core.

The command lives outside the wrapctl.cli package and parses its two options by hand:
`wrapctl daemon` (see wrapctl/entry.py) loads neither the client's command families nor
click, and stays a few MiB smaller for its whole life. The group lists it too, through a
click wrapper in wrapctl/cli/commands.py.
"""
import sys

EXIT_CONFIG = 2     # bad configuration (as supervisord's usage error)
EXIT_STARTUP = 1    # could not start: pidfile held, socket in use, ...
EXIT_USAGE = 2      # unknown option (as click's usage errors)

USAGE = """\
Usage: wrapctl daemon [OPTIONS]

  Run the supervisor core on a supervisord.conf.

Options:
  -c, --configuration FILE  Configuration file (default: supervisord's search path).
  -n, --nodaemon            Stay in the foreground.
  -h, --help                Show this message and exit.
"""


def parse_args(args: list[str]) -> tuple[object, bool]:
    """(config path or None, nodaemon), or "help"; raise ValueError with the usage error."""
    path, nodaemon = None, False
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-h", "--help"):
            return "help", False
        if a in ("-n", "--nodaemon"):
            nodaemon = True
        elif a in ("-c", "--configuration"):
            if i + 1 >= len(args):
                raise ValueError(f"Option '{a}' requires an argument.")
            i += 1
            path = args[i]
        elif a.startswith("--configuration="):
            path = a.split("=", 1)[1]
        elif a.startswith("-c") and len(a) > 2:
            path = a[2:]
        elif a in ("-nc", "-cn") and i + 1 < len(args):
            nodaemon, path = True, args[i + 1]
            i += 1
        else:
            raise ValueError(f"No such option: {a}")
        i += 1
    return path, nodaemon


def main(args: list[str]) -> int:
    try:
        path, nodaemon = parse_args(args)
    except ValueError as e:
        sys.stderr.write(USAGE.split("\n\n")[0] + "\nTry 'wrapctl daemon -h' for help.\n\n"
                         f"Error: {e}\n")
        return EXIT_USAGE
    if path == "help":
        sys.stdout.write(USAGE)
        return 0
    return run_daemon(path, nodaemon)


def _import_without_ssl() -> None:
    """asyncio and xmlrpc.client import ssl as they load, and ssl maps OpenSSL's libcrypto:
    about 4 MiB of the daemon's RSS, for a daemon that serves plain HTTP. They are imported
    with ssl hidden; an https:// check imports ssl itself when it runs (core/ready.py)."""
    if "ssl" in sys.modules or "asyncio" in sys.modules:
        return
    sys.modules["ssl"] = None
    try:
        import asyncio  # noqa: F401
        import xmlrpc.client  # noqa: F401
    finally:
        del sys.modules["ssl"]


def run_daemon(config_path, nodaemon: bool) -> int:
    """Load the configuration and run the core; the exit status."""
    _import_without_ssl()
    from wrapctl import config as configmod
    from wrapctl.core.daemon import DaemonError, run
    from wrapctl.rpc.http import BindError

    try:
        config = configmod.load(config_path)
    except configmod.ConfigError as e:
        sys.stderr.write(f"wrapctl daemon: {e}\n")
        return EXIT_CONFIG
    try:
        return run(config, nodaemon)
    except DaemonError as e:
        sys.stderr.write(f"wrapctl daemon: {e}\n")
        return e.status
    except BindError as e:
        sys.stderr.write(f"wrapctl daemon: {e}\n")
        return EXIT_STARTUP
