#!/usr/bin/env bash
# The main job (README quick start): set everything up, then validate a generated sample
# of realistic WIS2 notifications and show what the validator found.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build >/dev/null
out=${WIS2MON_DEMO_DIR:-out}
mkdir -p "$out"
wis2mon=build/src/cli/wis2mon
echo "== generating a sample stream"
$wis2mon sample --count 2000 --seed 7 --invalid 0.05 --deviations 0.15 --out "$out/sample.ndjson"
echo "== validating it (lenient mode, the default)"
set +e
$wis2mon validate --format json "$out/sample.ndjson" >"$out/report.ndjson"
status=$?
set -e
[ $status -le 1 ] || { echo "validation failed to run (exit $status)"; exit $status; }
python3 - "$out/report.ndjson" <<'PY'
import collections, json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
bad = [l for l in lines if not l["valid"]]
warned = [l for l in lines if l["valid"] and l["warnings"]]
print(f"{len(lines)} notifications: {len(lines) - len(bad)} valid ({len(warned)} with warnings), {len(bad)} invalid")
rules = collections.Counter(e["rule"] for l in bad for e in l["errors"])
for rule, n in rules.most_common():
    print(f"  {n:5d}  {rule}")
print("warnings (accepted in lenient mode, errors with --strict):")
for rule, n in collections.Counter(w["rule"] for l in warned for w in l["warnings"]).most_common():
    print(f"  {n:5d}  {rule}")
if bad:
    e = bad[0]["errors"][0]
    print(f"first invalid: {bad[0]['source']}  {e['path']} [{e['rule']}] {e['message']}")
PY
echo "== full report: $out/report.ndjson"
echo "next: $wis2mon validate --strict $out/sample.ndjson | less"
