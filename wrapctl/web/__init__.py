"""The web UI at `/`: live process table, actions, log view (see docs/web.md)."""
from wrapctl.web.routes import install, ui_for

__all__ = ["install", "ui_for"]
