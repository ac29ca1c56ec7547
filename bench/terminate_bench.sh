#!/usr/bin/env bash
# TLS handshakes per second per worker: sniroute-proxy `terminate` against
# nginx `stream` with `ssl`, same certificate, same client, one run
# (bench/README.md, "TLS termination").  Loopback only; every process
# started here is stopped by PID.
#
#   bench/terminate_bench.sh [PATH/TO/sniroute-proxy] > result.md
#
# Environment: DUR (seconds per measurement, default 5), CLIENTS (parallel
# `openssl s_time -new` processes, default 4).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
PROXY=$(realpath "${1:-$root/build/bin/sniroute-proxy}")
DUR=${DUR:-5}
CLIENTS=${CLIENTS:-4}
NGX_MOD=/usr/lib/nginx/modules/ngx_stream_module.so
for t in nginx openssl taskset; do
  command -v "$t" >/dev/null || { echo "$t not found" >&2; exit 1; }
done
[[ -x $PROXY ]] || { echo "no proxy binary at $PROXY" >&2; exit 1; }
[[ -f $NGX_MOD ]] || { echo "no $NGX_MOD (libnginx-mod-stream)" >&2; exit 1; }

T=$(mktemp -d -t sniroute-tlsbench.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT

# Two CPUs: the server under test on CPU 1, clients and the upstream on 0.
SERVER_CPU=1
CLIENT_CPU=0
UP=${PORT_BASE:-27400}
LISTEN=$((UP + 1))

openssl req -x509 -nodes -days 2 -subj /CN=bench.test -newkey rsa:2048 \
  -keyout "$T/rsa.key" -out "$T/rsa.crt" 2>/dev/null
openssl req -x509 -nodes -days 2 -subj /CN=bench.test -newkey ec \
  -pkeyopt ec_paramgen_curve:P-256 -keyout "$T/ec.key" -out "$T/ec.crt" \
  2>/dev/null

# The plain upstream both contestants connect to: its own nginx, answering
# one line and closing.
cat >"$T/up.conf" <<EOF
load_module $NGX_MOD;
worker_processes 1;
daemon off;
pid $T/up.pid;
error_log $T/up.err;
events { worker_connections 4096; }
stream { server { listen 127.0.0.1:$UP; return "ok\n"; } }
EOF
taskset -c $CLIENT_CPU nginx -c "$T/up.conf" -e "$T/up.err" &
PIDS+=($!)

wait_port() {
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on $1" >&2
  return 1
}
wait_port $UP

# CPU seconds (user + system) of a process and its threads.
cpu_s() {
  awk '{ printf "%.2f", ($14 + $15) / '"$(getconf CLK_TCK)"' }' "/proc/$1/stat"
}

# Runs CLIENTS s_time clients for DUR s against LISTEN; prints
# "handshakes cpu_seconds" of server pid $1.
measure() {
  local pid=$1 c0 c1 i total=0 n
  c0=$(cpu_s "$pid")
  for i in $(seq "$CLIENTS"); do
    taskset -c $CLIENT_CPU openssl s_time -connect 127.0.0.1:$LISTEN -new \
      -time "$DUR" >"$T/st.$i" 2>&1 &
  done
  wait $(jobs -p | tail -n "$CLIENTS")
  c1=$(cpu_s "$pid")
  for i in $(seq "$CLIENTS"); do
    n=$(awk '/connections in [0-9.]+s;/ { print $1; exit }' "$T/st.$i")
    total=$((total + ${n:-0}))
  done
  echo "$total $(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')"
}

row() { # name kind result
  read -r n cpu <<<"$3"
  awk -v name="$1" -v kind="$2" -v n="$n" -v cpu="$cpu" -v d="$DUR" 'BEGIN {
    printf "| %s | %s | %d | %.0f | %.0f |\n", name, kind, n, n / d,
      n ? cpu * 1e6 / n : 0 }'
}

echo "| server | certificate | handshakes in ${DUR}s | handshakes/s | server CPU us/handshake |"
echo "|---|---|---:|---:|---:|"
for kind in rsa ec; do
  cat >"$T/px.conf" <<EOF
listen 127.0.0.1:$LISTEN
workers 1
log off
upstream up 127.0.0.1:$UP terminate cert=$T/$kind.crt key=$T/$kind.key
route default up
EOF
  taskset -c $SERVER_CPU "$PROXY" --config "$T/px.conf" 2>"$T/px.err" &
  pid=$!
  PIDS+=($pid)
  wait_port $LISTEN
  row sniroute-proxy "$kind" "$(measure $pid)"
  kill "$pid"
  wait "$pid" 2>/dev/null || true

  cat >"$T/ngx.conf" <<EOF
load_module $NGX_MOD;
worker_processes 1;
daemon off;
pid $T/ngx.pid;
error_log $T/ngx.err;
events { worker_connections 4096; }
stream {
  server {
    listen 127.0.0.1:$LISTEN ssl;
    ssl_certificate $T/$kind.crt;
    ssl_certificate_key $T/$kind.key;
    proxy_pass 127.0.0.1:$UP;
  }
}
EOF
  taskset -c $SERVER_CPU nginx -c "$T/ngx.conf" -e "$T/ngx.err" &
  master=$!
  PIDS+=($master)
  wait_port $LISTEN
  worker=$(pgrep -P "$master" | head -n 1)
  row "nginx stream ssl" "$kind" "$(measure "$worker")"
  kill -QUIT "$master"
  wait "$master" 2>/dev/null || true
done
echo
echo "versions: $("$PROXY" --version), $(nginx -v 2>&1 | sed 's/.*: //'), $(openssl version | cut -d' ' -f1-2); clients: $CLIENTS x openssl s_time -new (TLS 1.3, full handshakes), ${DUR}s each"
