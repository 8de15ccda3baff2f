#!/usr/bin/env python3
"""Baseline: the Python jsonschema validator on the official WNM schema, the way the
reference Python tools validate (json.loads, then Draft 2020-12 with FormatChecker).
Usage: jsonschema_baseline.py SCHEMA NDJSON [--seconds S]. Prints one JSON object."""
import json
import sys
import time

import jsonschema


def main():
    schema_path, data_path = sys.argv[1], sys.argv[2]
    seconds = float(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else 3.0
    schema = json.load(open(schema_path))
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    lines = [l for l in open(data_path) if l.strip()]
    n = valid = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for line in lines:
            try:
                errors = list(validator.iter_errors(json.loads(line)))
            except json.JSONDecodeError:
                errors = ["malformed"]
            valid += not errors
            n += 1
            if n % 200 == 0 and time.perf_counter() - t0 >= seconds:
                break
    elapsed = time.perf_counter() - t0
    print(json.dumps({"messages": n, "valid": valid, "jsonschema_per_s": round(n / elapsed),
                      "jsonschema_version": jsonschema.__version__}))


if __name__ == "__main__":
    main()
