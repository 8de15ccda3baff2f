#!/usr/bin/env bash
# The Global Cache benchmark (issue #18): wis2mon cache against wis2downloader (from PyPI) on
# the same stream, and the WIS2 Global Cache performance test load at 10x its rate.
#   bench/cache.sh [cache_bench.py options]   (builds build-bench, Release; writes
#                                              bench/results/cache.json)
# Needs mosquitto and network access to PyPI (a venv with paho-mqtt and wis2downloader).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_TYPE=Release BUILD_TARGETS=wis2mon_cli scripts/build.sh build-bench -DWIS2MON_BUILD_TESTS=OFF \
  -DWIS2MON_BUILD_EXAMPLES=OFF >/tmp/wis2mon-bench-build.log 2>&1 || { cat /tmp/wis2mon-bench-build.log; exit 1; }
mkdir -p bench/results
venv=bench/results/cache-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "wis2downloader==0.3.2" "paho-mqtt>=2"
fi
"$venv/bin/python" bench/cache_bench.py build-bench/src/cli/wis2mon bench/results/cache-tmp "$@" \
  | tee bench/results/cache.json
rm -rf bench/results/cache-tmp
