#!/usr/bin/env bash
# Runs every test: the workspace's Rust tests (unit tests, the conformance
# suite on every backend, property tests, crash, torn-write, bit-flip,
# power-cut and fault-injection tests, the PostgreSQL backend's conformance
# and model tests (scripts/postgres.sh makes sure PostgreSQL is up),
# CLI and HTTP black-box tests, kill -9
# loops), then schemathesis against the server's OpenAPI document; first
# the debugger's frontend checks (scripts/ui.sh), and after the Rust tests
# its browser tests (scripts/browser.sh, Debian's chromium). Long
# loops are scaled by env vars (see README). Ends with one summary line,
# `summary: N passed, N failed`.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target
log=target/test-output.log
./scripts/ui.sh 2>&1 | tee "$log"
./scripts/postgres.sh 2>&1 | tee -a "$log"
cargo test --workspace --all-targets "$@" 2>&1 | tee -a "$log"
./scripts/browser.sh 2>&1 | tee -a "$log"
./scripts/schemathesis.sh 2>&1 | tee -a "$log"
# Cargo's "test result" lines, node's "# pass N" / "# fail N", plus
# schemathesis's "N generated, N passed".
awk '
  /^test result: / { for (i = 1; i < NF; i++) { if ($(i+1) == "passed;") p += $i; if ($(i+1) == "failed;") f += $i } }
  /^# pass [0-9]+$/ { p += $3 }
  /^# fail [0-9]+$/ { f += $3 }
  /[0-9]+ generated, [0-9]+ passed/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^passed/) api = $i }
  END { printf "summary: %d passed, %d failed\n", p + api, f }
' "$log"
