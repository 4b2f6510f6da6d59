#!/usr/bin/env bash
# Runs every test of the workspace: unit tests, the conformance suite on
# every backend, property tests, crash, torn-write, bit-flip and
# fault-injection tests. Long loops are scaled by env vars (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets "$@"
