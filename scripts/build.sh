#!/usr/bin/env bash
# Configure and build into a folder (default: build). Extra arguments go to cmake.
#   scripts/build.sh [BUILD_DIR] [-DOPTION=VALUE ...]
# BUILD_TARGETS="a b" builds only those targets. Warnings are errors here (WIS2MON_WERROR=OFF
# to turn that off); a plain cmake build leaves them warnings.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
[ $# -gt 0 ] && shift
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S . -B "$dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} -DWIS2MON_WERROR=${WIS2MON_WERROR:-ON} "$@" >/dev/null
targets=()
for t in ${BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$dir" --parallel "$(nproc)" "${targets[@]}"
