#!/usr/bin/env bash
# Proof that the portable wheels in dist/ (scripts/build-wheels.sh) run on clean systems:
#  1. `auditwheel show` gives a manylinux tag of glibc 2.34 or lower;
#  2. `objdump -T` of every ELF file in a wheel: no GLIBC symbol version above 2.34 and no
#     GLIBCXX above 3.4.29 (Amazon Linux 2023: glibc 2.34, GCC 11's libstdc++);
#  3. the unpacked size, under AWS Lambda's 250 MB limit for a zip deployment;
#  4. for each Python of WIS2MON_CHECK_ROOTS ("suite:python", default "bookworm:3.11
#     trixie:3.13"), a minimal Debian root made with debootstrap (python3, python3-venv and the
#     mosquitto the tests start; no compiler, no -dev package, which is checked): pip installs
#     the wheel with pytest, boto3 and moto, and the Python tests (tests/python) run there.
# Needs root. Run after build-wheels.sh; CI runs both (scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=${WIS2MON_WHEEL_WORK:-$repo/build-wheels}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
roots=${WIS2MON_CHECK_ROOTS:-"bookworm:3.11 trixie:3.13"}
build_root=$work/bullseye
refdata=$repo/../shared/refdata
lambda_limit=$((250 * 1000 * 1000))

say() { printf '\n==== check-wheels: %s\n' "$*"; }
fail() { echo "check-wheels: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, chroot)"
shopt -s nullglob
wheels=(dist/wis2mon-*manylinux*.whl)
[ ${#wheels[@]} -gt 0 ] || fail "no manylinux wheel in dist/ (run scripts/build-wheels.sh)"

. scripts/debian-root.sh
in_root() { chroot_run "$@"; }

# 1-3, per wheel.
for w in "${wheels[@]}"; do
  say "$(basename "$w")"
  # auditwheel runs in the build root (it has it); the wheel is copied in.
  if [ -x "$build_root/usr/local/bin/auditwheel" ]; then
    mount_root "$build_root"
    cp "$w" "$build_root/tmp/"
    show=$(in_root "$build_root" auditwheel show "/tmp/$(basename "$w")")
    rm -f "$build_root/tmp/$(basename "$w")"
  else
    show=$(auditwheel show "$w")
  fi
  echo "$show" | head -3
  tag=$(echo "$show" | grep -o 'manylinux_2_[0-9]*_x86_64' | head -1)
  [ -n "$tag" ] || fail "auditwheel show gives no manylinux tag"
  minor=$(echo "$tag" | sed 's/manylinux_2_\([0-9]*\)_x86_64/\1/')
  [ "$minor" -le 34 ] || fail "$tag is newer than manylinux_2_34"
  unpacked=$(mktemp -d)
  python3 -m zipfile -e "$w" "$unpacked"
  newest_glibc=0 newest_glibcxx=0
  while IFS= read -r f; do
    file "$f" | grep -q ELF || continue
    versions=$(objdump -T "$f" | { grep -o 'GLIBC\(XX\)\?_[0-9.]*' || true; } | sort -u)
    g=$(echo "$versions" | sed -n 's/^GLIBC_//p' | sort -V | tail -1)
    x=$(echo "$versions" | sed -n 's/^GLIBCXX_//p' | sort -V | tail -1)
    printf '  %-60s GLIBC_%s%s\n' "${f#"$unpacked"/}" "$g" "${x:+ GLIBCXX_$x}"
    [ "$(printf '%s\n2.34\n' "$g" | sort -V | tail -1)" = 2.34 ] || fail "$f needs GLIBC_$g (> 2.34)"
    [ -z "$x" ] || [ "$(printf '%s\n3.4.29\n' "$x" | sort -V | tail -1)" = 3.4.29 ] ||
      fail "$f needs GLIBCXX_$x (> 3.4.29)"
  done < <(find "$unpacked" -type f \( -name '*.so' -o -name '*.so.*' \))
  size=$(du -sb "$unpacked" | cut -f1)
  echo "  unpacked: $((size / 1000 / 1000)) MB (Lambda's limit for layers plus function: 250 MB)"
  [ "$size" -lt "$lambda_limit" ] || fail "unpacked size $size is over Lambda's 250 MB"
  rm -rf "$unpacked"
done

# 4. Clean roots: install the wheel with pip alone and run the Python tests.
for spec in $roots; do
  suite=${spec%%:*} pyver=${spec##*:}
  tag=cp${pyver/./}
  wheel=$(ls dist/wis2mon-*-"$tag"-"$tag"-manylinux*.whl 2>/dev/null | head -1)
  [ -n "$wheel" ] || fail "no $tag wheel in dist/ for the $suite root"
  r=$work/clean-$suite
  stamp=$r/.wis2mon-clean-root-1
  if [ ! -e "$stamp" ]; then
    say "making a minimal Debian $suite root (debootstrap --variant=minbase)"
    remove_root "$r"
    debootstrap --variant=minbase --include=python3,python3-venv,mosquitto,mosquitto-clients,ca-certificates,file \
      "$suite" "$r" "$mirror" >"$work/debootstrap-$suite.log" 2>&1 || { tail -20 "$work/debootstrap-$suite.log"; exit 1; }
    touch "$stamp"
  fi
  mount_root "$r"
  say "$suite (Python $pyver): $(basename "$wheel") with pip alone, then tests/python"
  # The claim is "no compiler, no -dev package": checked, not assumed.
  if in_root "$r" sh -c 'command -v cc || command -v gcc || command -v c++ || command -v g++'; then
    fail "the $suite root has a compiler"
  fi
  dev=$(in_root "$r" dpkg-query -W -f '${Package}\n' | grep -- '-dev$' || true)
  [ -z "$dev" ] || fail "the $suite root has -dev packages: $dev"
  in_root "$r" python3 -c "import sys; assert sys.version.startswith('$pyver'), sys.version"
  rm -rf "$r/venv" "$r/src" "$r/wheel" && mkdir -p "$r/src" "$r/wheel"
  cp "$wheel" "$r/wheel/"
  # The tests and the docs they run, not the package's sources: the wheel is what is tested.
  git ls-files -z tests/python tests/lambda docs examples/python examples/lambda README.md pyproject.toml | tar --null -T - -cf - | tar -xf - -C "$r/src"
  in_root "$r" python3 -m venv /venv
  in_root "$r" /venv/bin/pip install -q "/wheel/$(basename "$wheel")" pytest boto3 "moto[server]"
  refarg=()
  if [ -d "$refdata" ]; then
    mkdir -p "$r/refdata"
    mountpoint -q "$r/refdata" || { mount --bind -o ro "$refdata" "$r/refdata" && mounted+=("$r/refdata"); }
    refarg=(WIS2MON_REFDATA=/refdata)
  fi
  out=$(in_root "$r" env "${refarg[@]}" sh -c 'cd /src && /venv/bin/python -m pytest -q -rs -p no:cacheprovider tests/python' 2>&1) ||
    { echo "$out" | tail -80; fail "the Python tests failed in the $suite root"; }
  echo "$out" | tail -3
  # Everything ran: a skipped test would be a missing part of the clean root, not a pass.
  if echo "$out" | tail -1 | grep -q skipped; then fail "tests were skipped in the $suite root"; fi
  # The layer recipe of docs/aws-lambda.md: made with pip alone, unpacked at /opt as Lambda
  # does, used by a plain interpreter with the handler's folder as the task root.
  in_root "$r" env PATH=/venv/bin:/usr/bin:/bin sh -c \
    "cd /src && examples/lambda/build-layer.sh /wheel/$(basename "$wheel") $pyver /tmp/wis2mon-layer.zip"
  rm -rf "$r/opt/python" && in_root "$r" python3 -m zipfile -e /tmp/wis2mon-layer.zip /opt
  in_root "$r" env PYTHONPATH=/opt/python sh -c 'cd /src && python3 tests/lambda/layer_smoke.py examples/python'
  # The wheel, not a source tree, was imported.
  in_root "$r" sh -c 'cd / && /venv/bin/python -c "import wis2mon, sys; print(\"imported\", wis2mon.__file__, wis2mon.__version__)"'
done
say "all wheels checked"
