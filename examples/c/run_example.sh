#!/usr/bin/env bash
# Runs the C example on 200 generated notifications and checks its numbers add up: every
# message pushed, and one record per valid message that was not a duplicate.
#   run_example.sh WIS2MON_CLI EXAMPLE_C_MONITOR
set -euo pipefail
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$1" sample --count 200 --invalid 0.1 --seed 7 --out "$dir/in.ndjson" 2>/dev/null
"$2" "$dir/in.ndjson" "$dir" >"$dir/out.txt" 2>"$dir/err.txt" || { cat "$dir/err.txt"; exit 1; }
python3 - "$dir/out.txt" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
summary = [l for l in lines if l.startswith("pushed ")][0].split()
stats = json.loads([l for l in lines if l.startswith("stats ")][0][len("stats "):])
pushed, records = int(summary[1].rstrip(",")), int(summary[3])
printed = [l for l in lines if l.startswith("notifications ")]
assert pushed == 200 == stats["received"], (pushed, stats)
assert stats["invalid"] > 0 and stats["valid"] + stats["invalid"] == 200, stats
assert records == len(printed) == stats["valid"] - stats["duplicates"] == stats["records"], (records, stats)
print(f"example_c_monitor: {pushed} pushed, {stats['invalid']} invalid, {stats['duplicates']} duplicates, {records} records")
PY
