#!/usr/bin/env bash
# The debugger's browser tests: playwright-core (from ui/package-lock.json)
# driving Debian's chromium, installed here when missing (apt, as root),
# against the hindsight binary cargo built (target/debug/hindsight, or
# HINDSIGHT_BIN). Screenshots of each step: ui/target/screenshots/; the
# paging test's timings: ui/target/figures.json (HINDSIGHT_UI_EVENTS
# scales its history, default 1,000,000).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "browser tests: Debian's chromium is needed (apt-get install -y chromium, as root)" >&2
    exit 1
  fi
  apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
fi
bin="${HINDSIGHT_BIN:-$PWD/target/debug/hindsight}"
[ -x "$bin" ] || cargo build -q -p hindsight
cd ui
[ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund --loglevel=error
# One file at a time: the paging test's timings are not shared with another.
HINDSIGHT_BIN="$bin" HINDSIGHT_CHROMIUM="$(command -v chromium)" node --test --test-concurrency=1 browser/
echo "debugger figures (ui/target/figures.json): $(tr -d ' \n' < target/figures.json)"
