#!/bin/sh
# An AWS Lambda layer (zip) holding wis2mon, made from its manylinux wheel with pip alone
# (docs/aws-lambda.md). Works on any machine with Python 3 and pip: pip is told the Lambda
# platform, so it takes the wheel for it whatever machine this runs on.
#
#   build-layer.sh WHEEL_OR_REQUIREMENT [PYTHON_VERSION] [OUT_ZIP]
#   build-layer.sh dist/wis2mon-0.1.0-cp313-cp313-manylinux_2_31_x86_64.whl 3.13 wis2mon-layer.zip
set -eu
[ $# -ge 1 ] || { echo "usage: $0 WHEEL_OR_REQUIREMENT [PYTHON_VERSION] [OUT_ZIP]" >&2; exit 2; }
what=$1
python=${2:-3.13}
out=${3:-wis2mon-layer.zip}
case $out in /*) ;; *) out=$PWD/$out ;; esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Lambda's Python runtimes run Amazon Linux 2023: glibc 2.34, x86-64. A layer's python/ folder
# is put on sys.path (as /opt/python).
python3 -m pip install --quiet --target "$tmp/python" --only-binary=:all: --implementation cp \
  --python-version "$python" --platform manylinux_2_34_x86_64 --platform manylinux_2_31_x86_64 "$what"
rm -f "$out"
(cd "$tmp" && python3 -m zipfile -c "$out" python)
echo "$out: $(du -k "$out" | cut -f1) KiB zipped, $(du -sk "$tmp/python" | cut -f1) KiB unpacked"
