#!/usr/bin/env bash
# The whole test suite (README quick start, and what CI runs): set everything up, then
#  0. check the formatting (clang-format);
#  1. the plain Release build a user or packager runs (cmake -DCMAKE_BUILD_TYPE=Release, default
#     options: warnings are not errors there), which must succeed and print no warning; ctest on
#     it (unit, CLI contract, the dashboard in headless chromium, examples, docs/configuration.md,
#     exports);
#  2. build with AddressSanitizer + UndefinedBehaviorSanitizer and warnings as errors, ctest again;
#  3. install, then build an outside project against it with find_package and pkg-config, and
#     compile and link every C++/C snippet of README.md and docs/ against the installed library;
#  4. pip wheel . and pip install . into fresh venvs, and the Python tests (tests/python); then
#     the portable (manylinux) wheels, built in a Debian 11 root and installed with pip alone
#     into minimal Debian roots without compiler or -dev package, where the Python tests run;
#  5. run each libFuzzer target for a fixed short budget (FUZZ_SECONDS, default 30).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scripts/install-deps.sh
jobs=$(nproc)
SUDO_APT=""
[ "$(id -u)" -ne 0 ] && SUDO_APT="sudo"
# S3Proxy 2.6.0's jar-with-dependencies, as published on Maven Central.
S3PROXY_SHA256=12e5e88d805cfed07f7d88b4a44a0d8ecb9f9d3cebeb544bb34fbc4ded1049d8

step() { printf '\n==== %s\n' "$*"; }

step "format (clang-format --dry-run)"
unformatted=$(git ls-files '*.cpp' '*.hpp' | while read -r f; do clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || echo "$f"; done)
if [ -n "$unformatted" ]; then
  echo "clang-format would change:"; echo "$unformatted"; exit 1
fi

step "pygeoapi from PyPI (the WIS2 Global Replay stand-in of the backfill test)"
if python3 -m venv build-tools/pygeoapi >/dev/null && build-tools/pygeoapi/bin/pip install -q pygeoapi; then
  export WIS2MON_PYGEOAPI="$root/build-tools/pygeoapi/bin/pygeoapi"
else
  echo "pygeoapi could not be installed: the backfill test will be skipped"
fi

step "Playwright from PyPI (drives Debian's chromium in the dashboard test; it downloads no browser)"
python3 -m venv build-tools/browser >/dev/null
build-tools/browser/bin/pip install -q "playwright==1.65.2" pytest
export WIS2MON_BROWSER_PYTHON="$root/build-tools/browser/bin/python" WIS2MON_BROWSER_REQUIRED=1

step "S3Proxy from Maven Central (the S3-compatible server of the object storage tests, tests/unit/s3_server.hpp)"
command -v java >/dev/null ||
  { $SUDO_APT apt-get update -qq && $SUDO_APT apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null; }
s3proxy_jar="$root/build-tools/s3proxy/s3proxy-2.6.0.jar"
if ! { [ -f "$s3proxy_jar" ] && echo "$S3PROXY_SHA256  $s3proxy_jar" | sha256sum -c --quiet; }; then
  mkdir -p "$(dirname "$s3proxy_jar")"
  curl -fsSL --retry 3 -o "$s3proxy_jar.part" \
    https://repo1.maven.org/maven2/org/gaul/s3proxy/2.6.0/s3proxy-2.6.0-jar-with-dependencies.jar
  echo "$S3PROXY_SHA256  $s3proxy_jar.part" | sha256sum -c --quiet
  mv "$s3proxy_jar.part" "$s3proxy_jar"
fi
export WIS2MON_S3PROXY="$s3proxy_jar"
echo "S3Proxy 2.6.0 at $s3proxy_jar, $(java -version 2>&1 | head -1)"

step "plain Release build (cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release && cmake --build build-release)"
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
if ! cmake --build build-release --parallel "$jobs" >build-release/build.log 2>&1; then
  tail -100 build-release/build.log; exit 1
fi
# Warnings are errors in CI: this build has none (the ASan build below uses -Werror itself).
if grep -q 'warning:' build-release/build.log; then
  grep -A8 'warning:' build-release/build.log | head -80
  echo "the plain Release build printed warnings"; exit 1
fi
echo "built with no warning"
step "ctest"
(cd build-release && ctest --output-on-failure -j "$jobs")
echo "the dashboard test's screenshot and scale figures: build-release/artifacts/"

step "build with ASan + UBSan"
scripts/build.sh build-asan -DWIS2MON_SANITIZE=ON -DWIS2MON_BUILD_BENCH=OFF
step "ctest under ASan + UBSan"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j "$jobs")

step "install + find_package + pkg-config"
prefix=$(mktemp -d)
cmake --install build-release --prefix "$prefix" >/dev/null
for f in prometheus/wis2mon-rules.yml grafana/wis2mon-monitor.json grafana/wis2mon-observations.json; do
  test -f "$prefix/share/wis2mon/$f" || { echo "not installed: share/wis2mon/$f"; exit 1; }
done
cmake -S examples/consumer -B "$prefix/consumer-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/consumer-build" >/dev/null
LD_LIBRARY_PATH="$prefix/lib" "$prefix/consumer-build/consumer"
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --modversion wis2mon
c++ -std=c++17 examples/consumer/main.cpp -o "$prefix/consumer-pc" \
  $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs wis2mon)
LD_LIBRARY_PATH="$prefix/lib" "$prefix/consumer-pc" >/dev/null
# The C API from the installed tree: the C example built with pkg-config as a C99 program,
# with the rpath docs/c-api.md gives (it runs without LD_LIBRARY_PATH).
cc -std=c99 examples/c/monitor_file.c -o "$prefix/c-example" \
  $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs wis2mon) -Wl,-rpath,"$prefix/lib"
"$root/build-release/src/cli/wis2mon" sample --count 20 --out "$prefix/in.ndjson" 2>/dev/null
"$prefix/c-example" "$prefix/in.ndjson" "$prefix" | tail -1
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --static --libs wis2mon | grep -q -- "-lstdc++ -lm" ||
  { echo "pkg-config --static --libs wis2mon lacks the C++ runtime"; exit 1; }
# Every code snippet of README.md and docs/, compiled and linked against the installed library.
python3 tests/docs/check_snippets.py --prefix "$prefix" >"$prefix/snippets.log" || { cat "$prefix/snippets.log"; exit 1; }
tail -1 "$prefix/snippets.log"
rm -rf "$prefix"

step "Python package: pip wheel ., the wheel in a fresh venv + pytest; pip install . in another"
pytmp=$(mktemp -d)
# build-dir: the second build (pip install .) reuses the first one's compiled objects.
python3 -m pip wheel -q . -w "$pytmp/dist" -C build-dir=build-python
ls "$pytmp/dist"
python3 -m venv "$pytmp/wheel-venv"
# boto3 and moto's S3-compatible server: the Lambda helpers' S3 tests (Lambda provides boto3).
"$pytmp/wheel-venv/bin/python" -m pip install -q "$pytmp"/dist/wis2mon-*.whl pytest boto3 "moto[server]"
WIS2MON_REFDATA="$root/../shared/refdata" "$pytmp/wheel-venv/bin/python" -m pytest -q -p no:cacheprovider tests/python
python3 -m venv "$pytmp/install-venv"
"$pytmp/install-venv/bin/python" -m pip install -q . -C build-dir=build-python
(cd /tmp && "$pytmp/install-venv/bin/python" -c "import wis2mon; print('pip install .: wis2mon', wis2mon.__version__)")
rm -rf "$pytmp"

step "portable wheels: built in a Debian 11 root, proven in clean Debian roots (scripts/build-wheels.sh, check-wheels.sh)"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO scripts/build-wheels.sh
$SUDO scripts/check-wheels.sh

step "libFuzzer targets, ${FUZZ_SECONDS:-30} s each"
CC=clang CXX=clang++ BUILD_TARGETS="fuzz_notification fuzz_topic fuzz_bufr fuzz_cap" scripts/build.sh build-fuzz \
  -DWIS2MON_BUILD_FUZZ=ON -DWIS2MON_BUILD_BENCH=OFF -DWIS2MON_BUILD_EXAMPLES=OFF -DWIS2MON_BUILD_TESTS=ON
corpus=$(mktemp -d)
mkdir -p "$corpus/notification" "$corpus/topic" "$corpus/bufr" "$corpus/cap"
build-release/src/cli/wis2mon sample --count 64 --invalid 0.3 --out "$corpus/all.ndjson" 2>/dev/null
split -l 1 "$corpus/all.ndjson" "$corpus/notification/sample-"
printf '+/a/wis2/+/data/#\norigin/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop' >"$corpus/topic/a"
printf '$share/g/#\ncache/a/wis2/int-eumetsat/metadata' >"$corpus/topic/b"
# Seeds for the decoders: the reference samples when they are there (copied to the temporary
# corpus only), else a minimal start.
printf 'BUFR' >"$corpus/bufr/min"
printf '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</identifier></alert>' >"$corpus/cap/min"
if [ -d "$root/../shared/refdata/bufr" ]; then
  find "$root/../shared/refdata/bufr" -size -20k \( -name '*.bufr*' -o -name '*.bin' \) -exec cp {} "$corpus/bufr/" \;
  find "$root/../shared/refdata/cap" -size -40k \( -name '*.xml' -o -name '*.cap' \) -exec cp {} "$corpus/cap/" \;
fi
export LSAN_OPTIONS="suppressions=$root/tests/sanitizers/lsan.supp"
export UBSAN_OPTIONS="suppressions=$root/tests/sanitizers/ubsan.supp:halt_on_error=1"
for target in notification topic bufr cap; do
  # On a finding, show the report and keep the input that caused it (its bytes in base64, so
  # the CI log alone is enough to reproduce it).
  if ! (cd "$corpus" && "$root/build-fuzz/tests/fuzz_$target" -max_total_time="${FUZZ_SECONDS:-30}" -max_len=40000 \
          -print_final_stats=0 -artifact_prefix="$corpus/finding-" "$corpus/$target" >"$corpus/$target.log" 2>&1); then
    grep -v -e '^#[0-9]' -e '^$' "$corpus/$target.log" | tail -60
    for f in "$corpus"/finding-*; do [ -f "$f" ] && { echo "== $f"; base64 -w0 "$f" | head -c 200000; echo; }; done
    exit 1
  fi
  echo "fuzz_$target: $({ grep -a '^Done' "$corpus/$target.log" || true; } | tail -1)"
done
rm -rf "$corpus"

# The closing line CI reads: counts from every ctest run above.
echo
echo "all test stages passed"
