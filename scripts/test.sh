#!/usr/bin/env bash
# README command 2 (and .ci/run): install everything the suite needs, then run it all:
#   1. type-check and the whole suite from source;
#   2. build the release binaries (twice, to check the build is reproducible);
#   3. the end-to-end tests again, against the compiled x64 binary;
#   4. the arm64 binary under qemu-aarch64-static: --version, validate, run, database check.
# With arguments (`npm test -- test/run.e2e.test.ts`), only `bun test` runs, with them.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_bun
ensure_test_packages

step() { printf '\n== %s\n' "$*" >&2; }

step "type-check"
"$BUN" x tsc --noEmit -p .
# The dashboard's browser code has its own tsconfig (DOM types): see src/web/ui/tsconfig.json.
"$BUN" x tsc --noEmit -p src/web/ui

step "test suite (source)"
"$BUN" test "$@"
[ "$#" -gt 0 ] && exit 0

step "release build (reproducibility check, then dist/)"
"$BUN" scripts/build.ts --check-reproducible
"$BUN" scripts/build.ts

step "end-to-end tests against dist/picoflow-linux-x64"
# Every test file that drives the command line (through test/helpers.ts) runs again, with the
# compiled binary in place of `bun src/main.ts`. Unit tests of modules would only repeat.
mapfile -t e2e < <(grep -l -E '\b(cli|spawnCli|picoflowCommand|startDaemon|serveDaemon)\(' test/*.test.ts)
PICOFLOW_BIN=dist/picoflow-linux-x64 "$BUN" test "${e2e[@]}"

step "arm64 binary under qemu-aarch64-static"
"$BUN" scripts/smoke-arm64.ts dist/picoflow-linux-arm64
