#!/usr/bin/env python3
"""Runs for a few seconds, then fails with exit status 3: autorestart=unexpected restarts it."""
import os
import time

print(f"flaky {os.getpid()} up; will fail in 7 s", flush=True)
time.sleep(7)
print("flaky failing now", flush=True)
raise SystemExit(3)
