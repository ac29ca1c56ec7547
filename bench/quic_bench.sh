#!/usr/bin/env bash
# sniroute-proxy's QUIC forwarding against nginx's stream UDP proxy_pass to
# one upstream (no SNI routing: the forwarding baseline), one worker each,
# on loopback (bench/README.md, "QUIC forwarding").
#
#   bench/quic_bench.sh [BUILD_DIR]      (default: build; needs its
#                                         sniroute-proxy and
#                                         sniroute-bench-quic-fwd)
#   SECONDS_FWD=5 SECONDS_FLOWS=2 N=10000 PORT_BASE=47300 bench/quic_bench.sh
#
# Per forwarder: datagrams per second forwarded from one client (1200-byte
# payloads, sent as fast as the sender can) and the forwarder's CPU time
# per forwarded datagram (utime+stime from /proc), new flows per second,
# and RSS growth per idle flow with N flows.  Prints Markdown rows.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:-$HERE/../build}
PROXY=$BUILD/bin/sniroute-proxy
LOAD=$BUILD/bin/sniroute-bench-quic-fwd
FWD_S=${SECONDS_FWD:-5}
FLOWS_S=${SECONDS_FLOWS:-2}
N=${N:-10000}
BASE=${PORT_BASE:-47300}
for f in "$PROXY" "$LOAD"; do [[ -x $f ]] || { echo "missing $f (build first)"; exit 1; }; done
command -v nginx >/dev/null || { echo "missing nginx"; exit 77; }
STREAM_MOD=""
for m in /usr/lib/nginx/modules/ngx_stream_module.so /usr/share/nginx/modules/ngx_stream_module.so; do
  [[ -f $m ]] && STREAM_MOD="load_module $m;"
done
ulimit -n $((N + 1000)) 2>/dev/null || { echo "cannot raise ulimit -n"; exit 1; }

W=$(mktemp -d -t quic-bench.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cpu_ticks() { awk '{print $14 + $15}' /proc/"$1"/stat; }
TCK=$(getconf CLK_TCK)

# start_sniroute PORT SINK [MAX_FLOWS] -> pid in $SPID.  The flow table is
# sized from quic_max_flows (2 slots per flow): for the memory test it is N,
# so that the table's pages count fully in the figure.
start_sniroute() {
  cat >"$W/px.conf" <<EOF
listen 127.0.0.1:$1 quic
route bench.test 127.0.0.1:$2
workers 1
log off
quic_max_flows ${3:-200000}
quic_idle_timeout 30s
EOF
  "$PROXY" --config "$W/px.conf" 2>"$W/px.err" &
  SPID=$!
  PIDS+=("$SPID")
  sleep 0.5
}

# start_nginx PORT SINK -> the worker's pid in $SPID
start_nginx() {
  mkdir -p "$W/ng"
  cat >"$W/ng/nginx.conf" <<EOF
$STREAM_MOD
worker_processes 1;
daemon off;
pid $W/ng/nginx.pid;
error_log $W/ng/error.log warn;
events { worker_connections $((N + 1000)); }
worker_rlimit_nofile $((N + 1000));
stream {
  server {
    listen 127.0.0.1:$1 udp;
    proxy_pass 127.0.0.1:$2;
    proxy_timeout 30s;
  }
}
EOF
  nginx -c "$W/ng/nginx.conf" -p "$W/ng" 2>"$W/ng/stderr" &
  local master=$!
  PIDS+=("$master")
  sleep 0.7
  SPID=$(pgrep -P "$master" | head -1)
}

stop() { kill "${PIDS[-1]}" 2>/dev/null; wait "${PIDS[-1]}" 2>/dev/null; unset 'PIDS[-1]'; }

# per_unit T0 T1 COUNT SECONDS: "X ns, CPU Y%" (forwarder CPU per unit)
per_unit() {
  awk -v a="$1" -v b="$2" -v t="$TCK" -v d="$3" -v s="$4" \
    'BEGIN { printf "%.0f ns, CPU %.0f%%", (b - a) / t * 1e9 / (d ? d : 1), (b - a) / t * 100 / s }'
}

# bench NAME START_FN PORTOFFSET
bench() {
  local name=$1 start=$2 p=$((BASE + $3))
  local t0 t1 out dg cpu
  $start $p $((p + 1))
  t0=$(cpu_ticks "$SPID")
  out=$("$LOAD" forward $p $((p + 1)) "$FWD_S")
  t1=$(cpu_ticks "$SPID")
  dg=$(sed -n 's/.*delivered=\([0-9]*\).*/\1/p' <<<"$out")
  cpu=$(per_unit "$t0" "$t1" "$dg" "$FWD_S")
  echo "$name: $out; forwarder CPU per datagram $cpu" >&2
  FWD_ROW="$(sed -n 's/.*dgrams_per_s=\([0-9]*\).*/\1/p' <<<"$out") | $cpu"
  stop
  $start $((p + 2)) $((p + 3))
  t0=$(cpu_ticks "$SPID")
  out=$("$LOAD" flows $((p + 2)) $((p + 3)) "$FLOWS_S")
  t1=$(cpu_ticks "$SPID")
  dg=$(sed -n 's/.*reached_sink=\([0-9]*\).*/\1/p' <<<"$out")
  cpu=$(per_unit "$t0" "$t1" "$dg" "$FLOWS_S")
  echo "$name: $out; forwarder CPU per new flow $cpu" >&2
  FLOWS_ROW="$(sed -n 's/.*flows_per_s=\([0-9]*\).*/\1/p' <<<"$out") | $cpu"
  stop
  $start $((p + 4)) $((p + 5)) "$N"
  out=$("$LOAD" idle $((p + 4)) $((p + 5)) "$N,$SPID")
  echo "$name: $out" >&2
  IDLE_ROW=$(sed -n 's/.*bytes_per_flow=\([0-9-]*\).*/\1/p' <<<"$out")
  stop
  echo "| $name | $FWD_ROW | $FLOWS_ROW | $IDLE_ROW |"
}

echo "| forwarder | datagrams/s (1 flow) | CPU per datagram, forwarder CPU | new flows/s | CPU per new flow, forwarder CPU | RSS bytes per idle flow (N=$N) |"
echo "|---|---|---|---|---|---|"
bench "sniroute-proxy (QUIC, SNI routed)" start_sniroute 0
bench "nginx stream UDP proxy_pass" start_nginx 10
