#!/usr/bin/env bash
# sniroute-proxy with and without `fastopen` upstreams (TCP Fast Open),
# against the same Fast Open capable backends, alternating, in one run:
# proxy CPU per routed connection at C=64 and p50 latency at C=1.
#
#   bench/fastopen_bench.sh [PATH/TO/sniroute-proxy] > result.md
#   ROUNDS=5 DUR=3 bench/fastopen_bench.sh
#
# Server-side Fast Open needs net.ipv4.tcp_fastopen bit 2: the script runs
# itself again under `unshare --net` (root) and sets it there only, on the
# namespace's own loopback.  Uses the shared harness's loadgen and backend
# (../shared/bench, copied to a temporary directory and built there); the
# one change to that copy: the backend's listener gets TCP_FASTOPEN when
# TFO=1 is in its environment (a line added by sed below).  Layout as in
# the harness: proxy on CPU 1, load generator and backends on CPU 0.
# CPU is the proxy's run time from /proc/PID/task/*/schedstat over each
# C=64 run, divided by its connections.  ~1 minute.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
PROXY=$(realpath "${1:-$root/build/bin/sniroute-proxy}")
SRC=${BENCH_DIR:-$root/../shared/bench}
ROUNDS=${ROUNDS:-5} DUR=${DUR:-3}
[[ -x $PROXY ]] || { echo "no proxy binary at $PROXY (build first)" >&2; exit 1; }
[[ -f $SRC/src/backend.c ]] || { echo "benchmark harness not found at $SRC" >&2; exit 1; }

if [[ -z ${SNIROUTE_FO_NETNS:-} ]]; then
  SNIROUTE_FO_NETNS=1 exec unshare --net "$0" "$PROXY"
fi
ip link set lo up || exit 1
echo 3 >/proc/sys/net/ipv4/tcp_fastopen || exit 1

W=$(mktemp -d -t sniroute-fo.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cp -r "$SRC" "$W/h" && chmod -R u+w "$W/h"
sed -i 's|^\( *\)if (listen(fd, 4096) < 0)|\1{ int q = 4096; if (getenv("TFO")) setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN, \&q, sizeof q); }\n&|' \
  "$W/h/src/backend.c"
grep -q TCP_FASTOPEN "$W/h/src/backend.c" || { echo "could not patch the backend" >&2; exit 1; }
make -s -C "$W/h" >/dev/null || exit 1
BK=$W/h/build/backend LG=$W/h/build/loadgen

B=62900
for i in 1 2 3; do TFO=1 taskset -c 0 "$BK" -p $((B + i)) -i B$i -m echo & PIDS+=($!); done
# One ClientHello per name, captured from openssl as the harness does.
for n in alpha beta zeta; do
  "$BK" -p $((B + 9)) -i X -c "$W/$n.bin" & bp=$!
  sleep 0.2
  timeout 5 openssl s_client -connect 127.0.0.1:$((B + 9)) -servername $n.bench.test \
    -alpn h2,http/1.1 </dev/null >/dev/null 2>&1
  sleep 0.1; kill $bp 2>/dev/null; wait $bp 2>/dev/null
done
HELLOS="-h $W/alpha.bin,B1 -h $W/beta.bin,B2 -h $W/zeta.bin,B3"

conf() { # port option
  printf 'listen 127.0.0.1:%d\nworkers 1\nlog off\n' "$1"
  printf 'upstream a 127.0.0.1:%d %s\nupstream b 127.0.0.1:%d %s\nupstream c 127.0.0.1:%d %s\n' \
    $((B + 1)) "$2" $((B + 2)) "$2" $((B + 3)) "$2"
  printf 'route alpha.bench.test a\nroute beta.bench.test b\nroute default c\n'
}
conf $((B + 11)) "" >"$W/plain.conf"
conf $((B + 12)) fastopen >"$W/fastopen.conf"
taskset -c 1 "$PROXY" --config "$W/plain.conf" 2>/dev/null & P_PLAIN=$!; PIDS+=($!)
taskset -c 1 "$PROXY" --config "$W/fastopen.conf" 2>/dev/null & P_FO=$!; PIDS+=($!)
sleep 0.5

cpu_ns() { local s=0 f; for f in /proc/$1/task/*/schedstat; do s=$((s + $(cut -d' ' -f1 "$f"))); done; echo $s; }
tfo_active() { awk '/^TcpExt:/ { if (!h) { for (i = 1; i <= NF; i++) k[i] = $i; h = 1 } else for (i = 1; i <= NF; i++) if (k[i] == "TCPFastOpenActive") print $i }' /proc/net/netstat; }
kv() { grep -o " $2=[0-9.]*" <<<" $1" | cut -d= -f2; }
declare -A CPU LAT
for r in $(seq "$ROUNDS"); do
  for v in plain:$((B + 11)):$P_PLAIN fastopen:$((B + 12)):$P_FO; do
    IFS=: read -r name port pid <<<"$v"
    c0=$(cpu_ns "$pid") t0=$(tfo_active)
    res=$(taskset -c 0 "$LG" -t 127.0.0.1:$port -m conn -c 64 -d "$DUR" $HELLOS | tail -n 1)
    c1=$(cpu_ns "$pid") t1=$(tfo_active)
    n=$(kv "$res" conns)
    lat=$(taskset -c 0 "$LG" -t 127.0.0.1:$port -m conn -c 1 -d 1 $HELLOS | tail -n 1)
    cpu=$(awk -v a="$c0" -v b="$c1" -v n="$n" 'BEGIN { printf "%.1f", n ? (b - a) / 1000 / n : 0 }')
    CPU[$name]+="$cpu " LAT[$name]+="$(kv "$lat" p50_us) "
    echo "round $r $name: conns=$n misroutes=$(kv "$res" misroutes) errors=$(kv "$res" errors)" \
      "cpu_us_per_conn=$cpu fastopen_connects=$((t1 - t0)) c1_p50_us=$(kv "$lat" p50_us)" >&2
  done
done
med() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo "| proxy | CPU us/conn (C=64), median of $ROUNDS | runs | p50 us @C=1, median | runs |"
echo "|---|---:|---|---:|---|"
for name in plain fastopen; do
  echo "| sniroute-proxy $name | $(med <<<"${CPU[$name]}") | ${CPU[$name]% } | $(med <<<"${LAT[$name]}") | ${LAT[$name]% } |"
done
