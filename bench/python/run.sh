#!/usr/bin/env bash
# Python benchmarks (bench_python.py): a venv with the package (pip install .), jsonschema and
# the ecCodes Python bindings from PyPI, a generated sample, one core.
#   bench/python/run.sh [SECONDS]      results in bench/results/python.json
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-3}
venv=${WIS2MON_BENCH_VENV:-build-bench-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q . -C build-dir=build-python
"$venv/bin/python" -m pip install -q jsonschema eccodes || echo "bench: jsonschema/eccodes not installable; their baselines are skipped"
# The bindings bring their own newer ecCodes (eccodeslib); without it they load Debian's, the
# library wis2mon uses, so both sides decode with the same C code.
"$venv/bin/python" -m pip uninstall -q -y eccodeslib 2>/dev/null || true
export ECCODES_PYTHON_USE_FINDLIBS=1
mkdir -p bench/results
[ -x build/src/cli/wis2mon ] || scripts/build.sh build
build/src/cli/wis2mon sample --count 20000 --invalid 0.05 --seed 1 --out bench/results/python-sample.ndjson 2>/dev/null
taskset -c 0 "$venv/bin/python" bench/python/bench_python.py bench/results/python-sample.ndjson \
  --refdata "${WIS2MON_REFDATA:-../shared/refdata}" --seconds "$seconds" | tee bench/results/python.json
