#!/usr/bin/env python3
"""Baselines: the Python jsonschema validator on the official WNM schema.

- prebuilt: one Draft202012Validator with FormatChecker, reused for every message (the
  fastest way to use jsonschema; json.loads included);
- per_message: jsonschema.validate(message, schema, format_checker=...) per message, which
  checks the schema each call: how simple tools call it (pywis-pubsub's ETS even builds a
  new validator per message after reading the schema file).
Usage: jsonschema_baseline.py SCHEMA NDJSON [--seconds S]. Prints one JSON object."""
import importlib.metadata
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

    def prebuilt(line):
        return not list(validator.iter_errors(json.loads(line)))

    def ets_style(line):
        # What pywis-pubsub's WNM ETS does for each message: read the schema, build a
        # Draft 2020-12 validator, collect the errors.
        with open(schema_path) as fh:
            v = jsonschema.Draft202012Validator(json.load(fh))
        return not list(v.iter_errors(json.loads(line)))

    def per_message(line):
        try:
            jsonschema.validate(json.loads(line), schema, format_checker=jsonschema.FormatChecker())
            return True
        except jsonschema.ValidationError:
            return False

    out = {"jsonschema_version": importlib.metadata.version("jsonschema")}
    for name, check in [("prebuilt", prebuilt), ("ets_style", ets_style), ("per_message", per_message)]:
        n = valid = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            for line in lines:
                try:
                    valid += check(line)
                except json.JSONDecodeError:
                    pass
                n += 1
                if n % 100 == 0 and time.perf_counter() - t0 >= seconds:
                    break
        out[f"{name}_per_s"] = round(n / (time.perf_counter() - t0))
        out[f"{name}_valid"] = valid
        out[f"{name}_messages"] = n
    print(json.dumps(out))


if __name__ == "__main__":
    main()
