#!/usr/bin/env bash
# HTTP appends measured from outside the process: wrk (installed from
# Debian if missing) drives a release `hindsight serve` on a fresh store
# in target/, with 64 keep-alive connections and then 1, one event per
# request; a raw O_DSYNC probe on the same disk (dd, 100-byte writes)
# gives the fdatasync rate the 1-connection figure is compared with.
# Prints one JSON object. SECONDS_PER_RUN=N (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${SECONDS_PER_RUN:-10}"
if ! command -v wrk >/dev/null; then
  apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
cargo build --release -q
work="target/wrk-append"
rm -rf "$work" && mkdir -p "$work"
probe_out=$(dd if=/dev/zero of="$work/probe" bs=100 count=3000 oflag=dsync 2>&1 | tail -1)
probe_secs=$(echo "$probe_out" | sed -E 's/.*copied, ([0-9.]+) s.*/\1/')
raw_rate=$(awk -v s="$probe_secs" 'BEGIN { printf "%.0f", 3000 / s }')
run() {
  local connections=$1
  rm -rf "$work/data"
  ./target/release/hindsight --data-dir "$work/data" serve --listen 127.0.0.1:0 --max-connections 1024 >"$work/serve.out" 2>"$work/serve.err" &
  local pid=$!
  for _ in $(seq 1 100); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.05; done
  local addr
  addr=$(sed -E 's/.*"listening":"([^"]+)".*/\1/' "$work/serve.out" | head -1)
  local threads=2
  [ "$connections" -lt 2 ] && threads=1
  wrk -t"$threads" -c"$connections" -d"${secs}s" --latency -s scripts/wrk/append.lua "http://$addr" | sed -n 's/^WRK //p'
  kill -TERM "$pid"; wait "$pid" || true
}
c64=$(run 64)
c1=$(run 1)
one_rate=$(echo "$c1" | sed -E 's/.*"events_per_sec":([0-9.]+).*/\1/')
ratio=$(awk -v a="$one_rate" -v b="$raw_rate" 'BEGIN { printf "%.3f", a / b }')
echo "{\"workload\":\"wrk-append\",\"seconds\":$secs,\"durability\":\"fdatasync before every acknowledgement\",\"raw_dsync_writes_per_sec\":$raw_rate,\"connections_64\":$c64,\"connections_1\":$c1,\"one_connection_vs_raw\":$ratio}"
