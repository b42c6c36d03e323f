"""Imports every command family so that each registers itself on the `cli` group.

One line per family; a family's module owns its commands. The daemon command is defined
without the group (so `wrapctl daemon` loads none of the others) and added here.
"""
from wrapctl import daemon_main
from wrapctl.cli import cli, control, recipes_cmd  # noqa: F401

cli.add_command(daemon_main.daemon_command)
