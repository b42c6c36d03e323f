"""The one error a bad configuration raises: a single line naming where and why."""
from __future__ import annotations

from typing import Optional

from wrapctl.config.records import Where


class ConfigError(Exception):
    """A configuration that cannot be used. str() is one line: 'file:line: [section] option: reason'."""

    def __init__(self, reason: str, where: Optional[Where] = None):
        super().__init__(reason)
        self.reason = reason
        self.where = where

    def __str__(self) -> str:
        if self.where is None:
            return self.reason
        return f"{self.where}: {self.reason}"
