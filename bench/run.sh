#!/usr/bin/env bash
# Runs every benchmark with its baseline in the same run and writes bench/results/latest.md.
#   bench/run.sh            (builds in build-bench, Release)
# Needs ../shared/refdata for the jsonschema baseline (skipped without it).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_TYPE=Release scripts/build.sh build-bench -DWIS2MON_BUILD_TESTS=OFF -DWIS2MON_BUILD_EXAMPLES=OFF >/tmp/wis2mon-bench-build.log 2>&1 ||
  { cat /tmp/wis2mon-bench-build.log; exit 1; }
mkdir -p bench/results
sample=bench/results/sample.ndjson
build-bench/src/cli/wis2mon sample --count 20000 --seed 11 --invalid 0.05 --out "$sample" 2>/dev/null
schema=${WIS2MON_REFDATA:-../shared/refdata}/wis2/wnm/wis2-notification-message-bundled.json

validate=$(taskset -c 0 build-bench/bench/bench_validate "$sample" --seconds 3)
# The same on real traffic: the WNM captures and examples of the reference data, repeated to
# 20,000 lines (written here at run time, never committed).
captures='{}'
capture_baseline='{}'
refdata=${WIS2MON_REFDATA:-../shared/refdata}
if [ -d "$refdata/wis2/captures" ]; then
  python3 - "$refdata/wis2" bench/results/captures.ndjson <<'PY'
import glob, json, sys
root, out = sys.argv[1], sys.argv[2]
msgs = []
for f in glob.glob(root + "/captures/*/*.jsonl"):
    msgs += [json.loads(l)["message"] for l in open(f)]
for pattern in ("/captures/*/notifications/*.json", "/captures/ifremer-argo/*.json", "/wnm/examples/*.json"):
    msgs += [json.load(open(f)) for f in sorted(glob.glob(root + pattern))]
with open(out, "w") as o:
    for i in range(20000):
        o.write(json.dumps(msgs[i % len(msgs)], ensure_ascii=False, separators=(",", ":")) + "\n")
PY
  captures=$(taskset -c 0 build-bench/bench/bench_validate bench/results/captures.ndjson --seconds 3)
fi
router=$(taskset -c 0 build-bench/bench/bench_router --filters 5000 --seconds 3)
decode='{}'
[ -d "$refdata/bufr" ] && decode=$(taskset -c 0 build-bench/bench/bench_decode "$refdata" --seconds 3)
# Sinks write to a directory on the same disk as the build (not tmpfs).
sinks=$(taskset -c 0 build-bench/bench/bench_sinks bench/results/sinks-tmp --rows 200000)
rm -rf bench/results/sinks-tmp
baseline='{}'
if [ -f "$schema" ] && python3 -c 'import jsonschema' 2>/dev/null; then
  baseline=$(taskset -c 0 python3 bench/jsonschema_baseline.py "$schema" "$sample" --seconds 5)
  [ "$captures" != '{}' ] && capture_baseline=$(taskset -c 0 python3 bench/jsonschema_baseline.py "$schema" bench/results/captures.ndjson --seconds 5)
fi
# Downloads: 20,000 objects of 10 KB, each answered after 100 ms, at most 1,000 in flight;
# the data server runs on the other core.
taskset -c 1 python3 bench/data_server.py --delay-ms 100 >bench/results/data_server.port &
server_pid=$!
trap 'kill $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s bench/results/data_server.port ] && break; sleep 0.1; done
data_url="http://127.0.0.1:$(head -1 bench/results/data_server.port)"
download=$(taskset -c 0 build-bench/bench/bench_download "$data_url" --count 20000 --in-flight 1000)
download_baseline=$(cd bench && taskset -c 0 python3 urllib_baseline.py "$data_url" 40)
kill $server_pid

echo "validate: $validate"
echo "download: $download"
echo "download baseline: $download_baseline"
echo "router:   $router"
echo "baseline: $baseline"
echo "decode:   $decode"
echo "sinks:    $sinks"

python3 - "$validate" "$router" "$baseline" "$captures" "$capture_baseline" "$download" "$download_baseline" "$decode" "$sinks" <<'PY' | tee bench/results/latest.md
import json, platform, subprocess, sys
v, r, b, c, cb, d, db, dec, snk = (json.loads(a) for a in sys.argv[1:])
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"Machine: {cpu}, one core (taskset -c 0). Command: `bench/run.sh`.\n")
print("| benchmark | result | baseline (same run) | ratio |")
print("|---|---|---|---|")
base = b.get("prebuilt_per_s")
if base:
    print(f"| parse+validate, lenient, {v['messages']} generated msgs of ~{v['avg_bytes']} B | {v['validate_per_s']:,} msg/s "
          f"({v['validate_mb_per_s']} MB/s) | Python jsonschema {b['jsonschema_version']}, official WNM schema, one prebuilt "
          f"validator: {base:,} msg/s | {v['validate_per_s'] / base:.0f}x |")
    print(f"| (same) | | as pywis-pubsub's ETS does it (schema read, validator built per message): "
          f"{b['ets_style_per_s']:,} msg/s | {v['validate_per_s'] / b['ets_style_per_s']:.0f}x |")
    print(f"| (same) | | jsonschema.validate() per message: {b['per_message_per_s']:,} msg/s | "
          f"{v['validate_per_s'] / b['per_message_per_s']:.0f}x |")
else:
    print(f"| parse+validate, lenient | {v['validate_per_s']:,} msg/s | no refdata: no jsonschema baseline | - |")
print(f"| parse+validate, strict | {v['validate_strict_per_s']:,} msg/s | RapidJSON DOM parse alone: "
      f"{v['rapidjson_dom_parse_per_s']:,} msg/s | {v['validate_strict_per_s'] / v['rapidjson_dom_parse_per_s']:.2f} of bare parse |")
print(f"| parse+validate, no inline-content digest | {v['validate_no_inline_verify_per_s']:,} msg/s | RapidJSON DOM parse alone | "
      f"{v['validate_no_inline_verify_per_s'] / v['rapidjson_dom_parse_per_s']:.2f} of bare parse |")
if c and cb:
    print(f"| parse+validate, lenient, real captures + official examples ({c['messages']} lines, ~{c['avg_bytes']} B) | "
          f"{c['validate_per_s']:,} msg/s | prebuilt jsonschema validator: {cb['prebuilt_per_s']:,} msg/s; ETS style: "
          f"{cb['ets_style_per_s']:,} msg/s | {c['validate_per_s'] / cb['prebuilt_per_s']:.0f}x; "
          f"{c['validate_per_s'] / cb['ets_style_per_s']:.0f}x |")
if base:
    print(f"| ceiling: RapidJSON in-situ SAX parse, null handler | {v['rapidjson_sax_null_per_s']:,} msg/s | "
          f"prebuilt jsonschema validator | {v['rapidjson_sax_null_per_s'] / base:.0f}x |")
print(f"| downloads: {d['objects']} objects of 10 KB, 100 ms server delay, {d['in_flight']} in flight, sha512 verified | "
      f"{d['verified_per_s']:,} verified/s ({d['verified']} of {d['objects']}) | sequential Python urllib loop, same server: "
      f"{db['verified_per_s']} verified/s | {d['verified_per_s'] / db['verified_per_s']:.0f}x |")
print(f"| router, {r['filters']} filters, {r['avg_matches']} matches/topic | {r['router_matches_per_s']:,} topics/s | "
      f"linear scan with topic_matches: {r['linear_scan_matches_per_s']:,} topics/s | "
      f"{r['router_matches_per_s'] / r['linear_scan_matches_per_s']:.0f}x |")
for key, label in (("single_307096", "BUFR decode, single-subset 301150+307096"),
                   ("uncompressed_58_subsets_307080", "BUFR decode, uncompressed 58-subset 307080"),
                   ("compressed_2147_subsets_307103", "BUFR decode, compressed 2147-subset 307103")):
    if key in dec:
        e = dec[key]
        print(f"| {label} | {e['records_per_s']:,} records/s | bare ecCodes loop (handle, unpack, same keys, no records): "
              f"{e['bare_eccodes_subsets_per_s']:,} subsets/s | {e['overhead']:.2f}x the bare loop's time |")
if "cap_oasis" in dec:
    e = dec["cap_oasis"]
    print(f"| CAP decode + validate, the {e['alerts']} OASIS examples | {e['alerts_per_s']:,} alerts/s | bare libxml2 "
          f"parse of the same bytes: {e['bare_libxml2_parse_per_s']:,}/s | {e['alerts_per_s'] / e['bare_libxml2_parse_per_s']:.2f} of bare parse |")
print(f"| SQLite sink, {snk['rows']:,} surface_obs rows (24 fields) in batches of 1,000, WAL, synchronous=FULL | "
      f"{snk['sqlite_batch_1000_rows_per_s']:,} rows/s | the same rows, one INSERT per transaction (prepared, WAL, FULL; "
      f"{snk['baseline_rows']:,} rows): {snk['sqlite_row_per_txn_rows_per_s']:,} rows/s | "
      f"{snk['sqlite_batch_1000_rows_per_s'] / snk['sqlite_row_per_txn_rows_per_s']:.0f}x |")
print(f"| NDJSON sink, same rows, batches of 1,000, fsync per batch | {snk['ndjson_mb_per_s']} MB/s plain, "
      f"{snk['ndjson_gzip_mb_per_s']} MB/s gzip (JSON bytes) | the same bytes pre-serialized, write()+fsync per batch: "
      f"{snk['raw_write_fsync_mb_per_s']} MB/s | {snk['ndjson_mb_per_s'] / snk['raw_write_fsync_mb_per_s']:.2f} of raw writes |")
PY

# End to end (issue #6): mosquitto -> monitor -> SQLite next to mosquitto_sub on the same
# stream (docs/benchmarks.md explains the two measurements). Needs mosquitto.
if command -v mosquitto >/dev/null && command -v mosquitto_sub >/dev/null && command -v mosquitto_pub >/dev/null; then
  rm -rf bench/results/monitor-tmp
  echo "monitor:  $(build-bench/bench/bench_monitor bench/results/monitor-tmp --messages 30000 2>/dev/null | tail -1)"
  echo "arrival:  $(build-bench/bench/bench_arrival bench/results/monitor-tmp --messages 30000 2>/dev/null | tail -1)"
  rm -rf bench/results/monitor-tmp
fi
echo "Python package benchmarks: bench/python/run.sh"
