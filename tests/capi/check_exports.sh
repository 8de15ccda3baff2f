#!/usr/bin/env bash
# Every symbol the shared library exports carries the prefix: wis2mon_ for C, the wis2mon
# namespace for C++ (and its type info and vtables). Every function wis2mon.h declares is
# exported.
#   check_exports.sh LIBWIS2MON_SO WIS2MON_H
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
echo "$(echo "$symbols" | wc -l) exported symbols, all prefixed; $(echo "$declared" | wc -l) C functions declared and exported"
