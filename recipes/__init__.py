"""Bundled recipes: one TOML file per daemon (package data)."""
