"""wrapctl: supervise forking services."""
__version__ = "0.1.0"
