#!/usr/bin/env bash
# Run the shared SNI-proxy benchmark (../shared/bench, read-only: copied to a
# temporary directory first) with sniroute-proxy as the extra contestant,
# next to direct, nginx, HAProxy, sniproxy and sslh.  ~3 minutes; Markdown
# report on stdout, progress on stderr.  Extra environment (DUR, REPS,
# CONTESTANTS, PORT_BASE, ...) is passed to the harness.  SNIROUTE_LOG
# (default off, as every contestant runs) gives sniroute-proxy's --log,
# e.g. SNIROUTE_LOG=/dev/null for the cost of its default logging.
# SNIROUTE_ARGS adds options to sniroute-proxy's command line, e.g.
# SNIROUTE_ARGS="--preconnect 1" (off by default, as in the proxy).
#
#   bench/proxy_bench.sh [PATH/TO/sniroute-proxy] > result.md
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
PROXY=$(realpath "${1:-$root/build/bin/sniroute-proxy}")
SRC=${BENCH_DIR:-$root/../shared/bench}
[[ -x $PROXY ]] || { echo "no proxy binary at $PROXY (build first)" >&2; exit 1; }
[[ -f $SRC/run-all.sh ]] || { echo "benchmark harness not found at $SRC" >&2; exit 1; }
tmp=$(mktemp -d -t sniroute-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cp -r "$SRC" "$tmp/bench"
chmod -R u+w "$tmp/bench"
cd "$tmp/bench"
EXTRA_NAME=sniroute \
EXTRA_CMD="$PROXY --listen {LISTEN} {ROUTE_ARGS} --default {DEFAULT} --workers 1 --log ${SNIROUTE_LOG:-off} ${SNIROUTE_ARGS:-}" \
EXTRA_ROUTE_ARG='--route {NAME}={ADDR}' ./run-all.sh
