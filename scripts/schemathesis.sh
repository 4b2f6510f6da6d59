#!/usr/bin/env bash
# Fuzzes the HTTP API from its own /openapi.json with schemathesis
# (installed from PyPI into target/schemathesis-venv on first use): no
# response may be a 5xx, and every response must match the schema.
# /v1/subscribe is left out because an event stream never ends; the Rust
# black-box tests cover it.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/schemathesis-venv
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'schemathesis==4.32.5'
fi
bin=${HINDSIGHT_BIN:-${CARGO_TARGET_DIR:-target}/debug/hindsight}
[ -x "$bin" ] || cargo build --quiet --bin hindsight
data=$(mktemp -d)
out=$(mktemp)
"$bin" --data-dir "$data" serve --listen 127.0.0.1:0 >"$out" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$data" "$out"' EXIT
for _ in $(seq 1 100); do
  grep -q listening "$out" && break
  sleep 0.1
done
addr=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["listening"])' "$out")
# Run from under target/ so schemathesis's own cache stays out of the tree.
mkdir -p target/schemathesis-run
cd target/schemathesis-run
"../../$venv/bin/schemathesis" run "http://$addr/openapi.json" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --exclude-path /v1/subscribe \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-30}" \
  --workers 2
