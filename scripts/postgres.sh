#!/usr/bin/env bash
# Makes sure the PostgreSQL the tests use is reachable: HINDSIGHT_TEST_POSTGRES
# (default postgres://postgres@127.0.0.1:5432/postgres, the machine's own
# server with trust auth). When it is the local default and it is down,
# starts the local cluster (pg_ctlcluster, as root). Each test creates a
# database of its own (hs_test_<uuid>) and drops it when it ends.
set -euo pipefail
url="${HINDSIGHT_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}"
if pg_isready -q -d "$url" 2>/dev/null; then
  exit 0
fi
if [ -n "${HINDSIGHT_TEST_POSTGRES:-}" ]; then
  echo "postgres: $url is not reachable" >&2
  exit 1
fi
if ! command -v pg_ctlcluster >/dev/null; then
  echo "postgres: no PostgreSQL at 127.0.0.1:5432 and no local cluster to start (set HINDSIGHT_TEST_POSTGRES)" >&2
  exit 1
fi
version="$(ls /etc/postgresql | sort -V | tail -1)"
pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
for _ in $(seq 1 50); do
  pg_isready -q -d "$url" 2>/dev/null && exit 0
  sleep 0.2
done
echo "postgres: started the $version cluster, but $url does not answer" >&2
exit 1
