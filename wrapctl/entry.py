"""Console entry point for `wrapctl`.

`wrapctl shim ...` is dispatched before click or the core is imported: the shim is the
lean side of the toolkit and must start fast and stay small. `wrapctl daemon ...` is
dispatched before click and the client's command families are imported (`wrapctl -c X daemon`
still works through the group).
"""
import sys


def main(argv=None):
    args = sys.argv[1:] if argv is None else list(argv)
    if args and args[0] == "shim":
        from wrapctl.shims.main import main as shim_main
        return shim_main(args[1:])
    if args and args[0] == "daemon":
        # The core alone, without the client's command families (smaller, for its life).
        from wrapctl.daemon_main import main as daemon_main
        return daemon_main(args[1:])
    from wrapctl.cli import cli
    return cli.main(args=args, prog_name="wrapctl")


if __name__ == "__main__":
    sys.exit(main())
