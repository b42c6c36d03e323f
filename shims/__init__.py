"""The shim: keep a forking daemon in the foreground (stdlib, psutil, inotify_simple only)."""
