"""The shim: keep a forking daemon in the foreground (stdlib only: see docs/shim.md)."""
