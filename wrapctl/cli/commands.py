"""Imports every command family so that each registers itself on the `cli` group.

One line per family; a family's module owns its commands.
"""
from wrapctl.cli import control  # noqa: F401
from wrapctl.cli import daemon_cmd  # noqa: F401
from wrapctl.cli import recipes_cmd  # noqa: F401
