#!/usr/bin/env python3
"""Python benchmarks of the wis2mon package, each against a baseline measured in the same run:

1. Notification.parse (parse + validate, lenient) vs the Python jsonschema package on the
   official WNM schema (one prebuilt Draft 2020-12 validator with format checks, json.loads
   included) over the same messages. Target: at least 50x.
2. decode_bufr vs the ecCodes Python bindings doing the same extraction (handle, unpack, the
   same keys per subset), on generated single-subset messages and on the 2147-subset
   compressed reference file.

Usage: bench_python.py SAMPLE_NDJSON [--refdata DIR] [--seconds S]
(bench/python/run.sh makes the venv, the sample and runs it.) Prints one JSON object."""

import argparse
import json
import sys
import time
from pathlib import Path

import wis2mon
from wis2mon import _wis2mon


def rate(fn, items, seconds):
    """Items per second of fn over items, repeated for at least `seconds` (after one warm-up)."""
    for it in items[: min(len(items), 50)]:
        fn(it)
    done, start = 0, time.perf_counter()
    while True:
        for it in items:
            fn(it)
        done += len(items)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def parse_bench(sample, schema_path, seconds):
    lines = [l.strip().encode() for l in open(sample) if l.strip()]
    out = {"messages": len(lines), "mean_bytes": round(sum(map(len, lines)) / len(lines))}
    valid = sum(wis2mon.Notification.parse(l).valid for l in lines)
    out["valid_share"] = round(valid / len(lines), 3)
    out["wis2mon_parse_per_s"] = rate(lambda l: wis2mon.Notification.parse(l).valid, lines, seconds)
    try:
        import jsonschema
    except ImportError:
        out["jsonschema"] = "not installed"
        return out
    if not schema_path or not Path(schema_path).is_file():
        out["jsonschema"] = "no WNM schema (refdata absent)"
        return out
    validator = jsonschema.Draft202012Validator(json.load(open(schema_path)), format_checker=jsonschema.FormatChecker())

    def baseline(line):
        try:
            doc = json.loads(line)
        except ValueError:
            return False
        return not any(True for _ in validator.iter_errors(doc))

    out["jsonschema_per_s"] = rate(baseline, lines, seconds)
    out["ratio"] = out["wis2mon_parse_per_s"] / out["jsonschema_per_s"]
    return out


# The keys the surface_obs decoder reads (first occurrence), for the ecCodes baseline.
KEYS = ["blockNumber", "stationNumber", "stationOrSiteName", "latitude", "longitude",
        "heightOfStationGroundAboveMeanSeaLevel", "year", "month", "day", "hour", "minute", "airTemperature",
        "dewpointTemperature", "relativeHumidity", "nonCoordinatePressure", "pressureReducedToMeanSeaLevel",
        "windDirection", "windSpeed", "maximumWindGustSpeed", "horizontalVisibility",
        "totalPrecipitationOrTotalWaterEquivalent"]


def eccodes_extract(eccodes, data):
    """Handle, unpack, the same keys per subset: one dict per subset."""
    h = eccodes.codes_new_from_message(data)
    try:
        eccodes.codes_set(h, "unpack", 1)
        n = eccodes.codes_get(h, "numberOfSubsets")
        columns = {}
        for k in KEYS:
            key = "#1#" + k
            try:
                if k == "stationOrSiteName":
                    v = eccodes.codes_get_string_array(h, key) if n > 1 else [eccodes.codes_get_string(h, key)]
                else:
                    v = list(eccodes.codes_get_array(h, key))
            except eccodes.KeyValueNotFoundError:
                v = [None]
            columns[k] = v if len(v) == n else v * n
        return [{k: columns[k][i] for k in KEYS} for i in range(n)]
    finally:
        eccodes.codes_release(h)


def bufr_bench(refdata, seconds):
    singles = [_wis2mon._sample_synop_bufr(10 + i % 90, i % 1000, air_temperature=250 + i % 50) for i in range(200)]
    cases = {"single-subset synop (generated, 200 msgs)": singles}
    big = Path(refdata or "") / "bufr" / "esoh_SurfaceLand_subset_2147_307103_compressed.buf"
    if big.is_file():
        cases["2147-subset compressed 307103 (refdata)"] = [big.read_bytes()]
    try:
        import eccodes
    except (ImportError, RuntimeError) as e:  # the bindings load libeccodes at import
        eccodes = None
        missing = str(e)
    out = {}
    for name, messages in cases.items():
        subsets = sum(len(wis2mon.decode_bufr(m)) for m in messages)
        case = {"subsets_per_pass": subsets}
        case["wis2mon_records_per_s"] = rate(lambda m: wis2mon.decode_bufr(m), messages, seconds) * subsets / len(messages)
        if eccodes is None:
            case["eccodes_python"] = f"not installed: {missing}"
        else:
            check = sum(len(eccodes_extract(eccodes, m)) for m in messages)
            assert check == subsets, (check, subsets)
            case["eccodes_python_records_per_s"] = (
                rate(lambda m: eccodes_extract(eccodes, m), messages, seconds) * subsets / len(messages))
            case["ratio"] = case["wis2mon_records_per_s"] / case["eccodes_python_records_per_s"]
        out[name] = case
    if eccodes is not None:
        out["eccodes_python_version"] = eccodes.__version__
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sample")
    ap.add_argument("--refdata", default=None)
    ap.add_argument("--seconds", type=float, default=3.0)
    a = ap.parse_args()
    schema = Path(a.refdata) / "wis2" / "wnm" / "wis2-notification-message-bundled.json" if a.refdata else None
    result = {
        "python": sys.version.split()[0],
        "wis2mon": wis2mon.__version__,
        "parse": parse_bench(a.sample, schema, a.seconds),
        "decode_bufr": bufr_bench(a.refdata, a.seconds),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
