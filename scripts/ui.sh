#!/usr/bin/env bash
# The debugger's frontend (ui/): installs its npm dependencies (exact
# versions from package-lock.json, into ui/node_modules), type-checks it,
# runs its unit tests, and checks that the build committed in
# crates/server/ui/ (which the server embeds) is what the sources build
# to now, and that src/openapi.d.ts is what openapi-typescript makes of
# ui/openapi.json (the server's document; a Rust test keeps that copy
# current). `scripts/ui.sh build` regenerates both instead.
set -euo pipefail
cd "$(dirname "$0")/../ui"
command -v node >/dev/null || { echo "ui: node (18 or later) is needed on the PATH" >&2; exit 1; }
npm ci --no-audit --no-fund --loglevel=error
types() { npx --no-install openapi-typescript openapi.json --output "$1" >/dev/null; }
if [ "${1:-check}" = build ]; then
  types src/openapi.d.ts
  node build.mjs
  exit 0
fi
mkdir -p target
types target/openapi.d.ts
if ! diff -q target/openapi.d.ts src/openapi.d.ts >/dev/null; then
  echo "ui: src/openapi.d.ts is not what ui/openapi.json generates: run scripts/ui.sh build and commit it" >&2
  exit 1
fi
npx --no-install tsc --noEmit -p .
npm test
rm -rf target/check
node build.mjs --out target/check
if ! diff -r target/check ../crates/server/ui; then
  echo "ui: crates/server/ui/ is not what ui/ builds to: run scripts/ui.sh build and commit it" >&2
  exit 1
fi
echo "ui: typecheck, unit tests, the API types and the committed build are current"
