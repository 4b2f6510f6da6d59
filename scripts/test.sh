#!/usr/bin/env bash
# Runs every test: the workspace's Rust tests (unit tests, the conformance
# suite on every backend, property tests, crash, torn-write, bit-flip and
# fault-injection tests, CLI and HTTP black-box tests, kill -9 loops), then
# schemathesis against the server's OpenAPI document. Long loops are
# scaled by env vars (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets "$@"
./scripts/schemathesis.sh
