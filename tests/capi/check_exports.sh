#!/usr/bin/env bash
# Every symbol the shared library exports carries the prefix: wis2mon_ for C, the wis2mon
# namespace for C++ (and its type info and vtables). Every function wis2mon.h declares is
# exported. Every C++ function the library defines in the wis2mon namespace (not detail, not
# anonymous) is exported too: a public type or function without WIS2MON_API would link from
# the static library but not from the shared one.
#   check_exports.sh LIBWIS2MON_SO WIS2MON_H [LIBWIS2MON_A]
set -euo pipefail
lib=$1
header=$2
symbols=$(nm -D --defined-only "$lib" | awk '{print $3}')
stray=$(echo "$symbols" | c++filt | grep -v -e '^wis2mon_' -e '^wis2mon::' -e '^typeinfo for wis2mon::' \
  -e '^typeinfo name for wis2mon::' -e '^vtable for wis2mon::' -e '^VTT for wis2mon::' || true)
if [ -n "$stray" ]; then
  echo "exported symbols without the wis2mon prefix:"
  echo "$stray" | head -20
  exit 1
fi
declared=$(grep -o 'wis2mon_[a-z_0-9]*(' "$header" | tr -d '(' | sort -u)
missing=$(comm -23 <(echo "$declared") <(echo "$symbols" | grep '^wis2mon_' | sort -u))
if [ -n "$missing" ]; then
  echo "declared in wis2mon.h but not exported: $missing"
  exit 1
fi
if [ $# -ge 3 ]; then
  defined=$(nm -C --defined-only "$3" 2>/dev/null | awk '$2 == "T"' | cut -d' ' -f3- | grep '^wis2mon::' |
    grep -v -e '^wis2mon::detail::' -e '(anonymous namespace)' | sort -u)
  hidden=$(comm -23 <(echo "$defined") <(nm -C -D --defined-only "$lib" | awk '$2 ~ /^[TW]$/' | cut -d' ' -f3- | sort -u))
  if [ -n "$hidden" ]; then
    echo "defined in wis2mon:: but not exported by the shared library (WIS2MON_API missing, or make it detail):"
    echo "$hidden" | head -20
    exit 1
  fi
  echo "$(echo "$defined" | wc -l) wis2mon:: functions defined, all exported"
fi
echo "$(echo "$symbols" | wc -l) exported symbols, all prefixed; $(echo "$declared" | wc -l) C functions declared and exported"
