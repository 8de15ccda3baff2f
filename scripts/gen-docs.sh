#!/usr/bin/env bash
# Regenerates the generated parts of docs/ from the code: docs/configuration.md is the output of
# `wis2mon config docs` (the option tables bound to the options structs). ctest's
# docs_configuration fails when the file and the code disagree.
#   scripts/gen-docs.sh [path/to/wis2mon]   (default: build/src/cli/wis2mon)
set -euo pipefail
cd "$(dirname "$0")/.."
exe=${1:-build/src/cli/wis2mon}
"$exe" config docs >docs/configuration.md
echo "docs/configuration.md regenerated"
