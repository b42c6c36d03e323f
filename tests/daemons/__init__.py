"""Test daemons for the shim tests (scripts) and the helpers that drive them (shimkit)."""
