#!/usr/bin/env bash
# The main job (README quick start): set everything up, then run the live monitor on a
# generated WIS2 stream through a local mosquitto (`wis2mon demo`; no internet needed).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build >/dev/null
exec build/src/cli/wis2mon demo "$@"
