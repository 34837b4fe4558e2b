#!/usr/bin/env bash
# README command 2 (and .ci/run): install everything the suite needs, then run it all.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_bun
ensure_test_packages
"$BUN" x tsc --noEmit -p .
"$BUN" test "$@"
