#!/usr/bin/env bash
# Installs every build and test dependency of libwis2mon from Debian 12 packages.
# Safe to run again; needs root (or sudo). Set WIS2MON_SKIP_APT=1 to skip.
set -euo pipefail
[ "${WIS2MON_SKIP_APT:-0}" = 1 ] && exit 0

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git curl ca-certificates python3 python3-venv python3-pip python3-pytest python3-jsonschema
  # libraries the library links (private)
  rapidjson-dev libsqlite3-dev libssl-dev zlib1g-dev libcurl4-openssl-dev libzip-dev libpq-dev
  libeccodes-dev libxml2-dev libpaho-mqtt-dev libyaml-cpp-dev libcpp-httplib-dev libmicrohttpd-dev
  # command line and tests
  libcli11-dev doctest-dev openssl
  # the Python package (pybind11 from Debian; scikit-build-core comes from PyPI at build time)
  pybind11-dev python3-dev
  # real servers the tests start on loopback ports: InfluxDB 1.x, mosquitto (+ its clients)
  influxdb mosquitto mosquitto-clients
  # ... and PostgreSQL (initdb and postgres into a temporary directory; psql for the checks)
  postgresql
  # the dashboard's browser test (headless, driven by Playwright from PyPI), Prometheus and
  # promtool for the alerting rules and the Grafana dashboards' queries
  chromium prometheus
  # the portable wheels: Debian roots for building them and for proving them (build-wheels.sh)
  debootstrap file xz-utils binutils
  # libFuzzer, sanitizers and formatting
  clang libclang-rt-14-dev clang-format
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
