#!/usr/bin/env bash
# README command 1: install Bun and the dependencies if needed, then run the example workflow.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_bun
exec "$BUN" src/main.ts run examples/hello.yaml "$@"
