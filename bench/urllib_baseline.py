#!/usr/bin/env python3
"""Baseline: a sequential urllib loop that downloads and verifies objects one after the
other, the way the reference Python tools download.
Usage: urllib_baseline.py URL_BASE COUNT [SIZE]. Prints one JSON object."""
import hashlib
import json
import sys
import time
import urllib.request

from data_server import object_bytes

base, count = sys.argv[1], int(sys.argv[2])
size = int(sys.argv[3]) if len(sys.argv) > 3 else 10240
expected = [hashlib.sha512(object_bytes(n, size)).digest() for n in range(count)]
t0 = time.perf_counter()
ok = 0
for n in range(count):
    with urllib.request.urlopen(f"{base}/obj/{n}") as r:
        ok += hashlib.sha512(r.read()).digest() == expected[n]
secs = time.perf_counter() - t0
print(json.dumps({"objects": count, "verified": ok, "seconds": round(secs, 2), "verified_per_s": round(ok / secs, 1)}))
