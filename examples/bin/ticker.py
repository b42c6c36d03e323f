#!/usr/bin/env python3
"""Prints a numbered line every second to stdout, and a warning to stderr every tenth."""
import sys
import time

n = 0
while True:
    n += 1
    print(f"tick {n}", flush=True)
    if n % 10 == 0:
        print(f"tick {n}: ten more seconds gone", file=sys.stderr, flush=True)
    time.sleep(1)
