#!/usr/bin/env bash
# `npm run build` / `bun run build`: install Bun and the dependencies if needed (without install
# scripts, as the release build requires), then cross-compile with scripts/build.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_bun
exec "$BUN" scripts/build.ts "$@"
