#!/usr/bin/env bash
# RSS growth of an SNI proxy holding N connections that have sent no hello:
# sniroute-proxy versus nginx (stream + ssl_preread), same test, loopback.
#
#   bench/idle_rss.sh [PATH/TO/sniroute-proxy]     (default: build/bin/...)
#   N=10000 HOLD=3 PORT_BASE=62800 bench/idle_rss.sh
#
# For each proxy: start it (one process, one worker), read VmRSS, open N
# TCP connections that send nothing, wait until the proxy has accepted them
# all, read VmRSS again, close everything.  Prints one Markdown row per
# proxy.  Needs python3 (client) and nginx + libnginx-mod-stream; raises
# RLIMIT_NOFILE (ulimit -n) to 6 N + 1000: sniroute-proxy's default
# max_connections is RLIMIT_NOFILE / 6 (a relayed connection may hold two
# sockets and two pipes, proxy/fdbudget.h), so N idle connections need
# that limit although each holds one descriptor.  Raising the hard limit
# needs root (or a hard limit that high).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
PROXY=${1:-$HERE/../build/bin/sniroute-proxy}
N=${N:-10000}
HOLD=${HOLD:-2}
BASE=${PORT_BASE:-62800}
UP=$((BASE + 1)) PXP=$((BASE + 2)) NGP=$((BASE + 3))

need=$((6 * N + 1000))
hard=$(ulimit -Hn)
if [[ $hard != unlimited ]] && ((hard < need)) && ! ulimit -Hn "$need" 2>/dev/null; then
  # No privilege to raise the hard limit: fewer connections, said on stderr.
  N=$(((hard - 1000) / 6))
  need=$((6 * N + 1000))
  echo "hard RLIMIT_NOFILE is $hard: measuring N=$N idle connections" >&2
fi
ulimit -n "$need" 2>/dev/null || { echo "cannot raise ulimit -n to $need (hard: $(ulimit -Hn))"; exit 1; }
for t in python3 nginx ss; do command -v $t >/dev/null || { echo "missing $t"; exit 77; }; done
STREAM_MOD=""
for m in /usr/lib/nginx/modules/ngx_stream_module.so /usr/share/nginx/modules/ngx_stream_module.so; do
  [[ -f $m ]] && STREAM_MOD="load_module $m;"
done

W=$(mktemp -d -t idle-rss.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null
  done
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rss_kb() { awk '/^VmRSS/{print $2}' /proc/"$1"/status; }
wait_port() { for _ in $(seq 100); do [[ -n $(ss -Hltn "sport = :$1") ]] && return 0; sleep 0.05; done; return 1; }

# An upstream that never gets used (nobody sends a hello) but must exist.
python3 -c "
import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
s.bind(('127.0.0.1',$UP)); s.listen(16); time.sleep(600)" &
PIDS+=($!)

# Client: N idle connections, kept until the proxy has accepted them all.
cat >"$W/client.py" <<'EOF'
import socket, sys, time, os
port, n, hold, pid = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
def fds(p):
    try: return len(os.listdir("/proc/%s/fd" % p))
    except OSError: return -1
base = fds(pid)
socks = []
t0 = time.monotonic()
for i in range(n):
    s = socket.socket()
    # several source addresses keep clear of ephemeral-port limits
    s.bind(("127.0.0.%d" % (2 + i % 8), 0))
    s.connect(("127.0.0.1", port))
    socks.append(s)
# wait until the proxy holds them (its fd count grows by n)
deadline = time.monotonic() + 30
while time.monotonic() < deadline and fds(pid) < base + n:
    time.sleep(0.1)
time.sleep(hold)
rss = [l.split()[1] for l in open("/proc/%s/status" % pid) if l.startswith("VmRSS")][0]
print("%s %d %.1f" % (rss, fds(pid) - base, time.monotonic() - t0), flush=True)
for s in socks: s.close()
EOF

run() { # name pid port
  local before after held el
  sleep 0.5
  before=$(rss_kb "$2")
  read -r after held el < <(timeout 120 python3 "$W/client.py" "$3" "$N" "$HOLD" "$2")
  # held: how much the proxy's descriptors grew (client.py); a row with
  # fewer than N says so instead of dividing by N.
  awk -v n="$1" -v c="$N" -v held="$held" -v b="$before" -v a="$after" 'BEGIN {
    if (held > c) held = c
    note = (held < c) ? " (of " c ")" : ""
    per = (held > 0) ? (a - b) * 1024 / held : 0
    printf "| %s | %d%s | %d | %.1f | %d | %.0f |\n", n, held, note, b, a / 1024, a - b, per }'
}

echo "| proxy | idle conns | RSS before KiB | RSS after MiB | growth KiB | bytes/conn |"
echo "|---|---:|---:|---:|---:|---:|"

# nginx: stream + ssl_preread + map, one process, one worker.
mkdir -p "$W/ngx"
cat >"$W/ngx/nginx.conf" <<EOF
$STREAM_MOD
daemon off; master_process off; worker_processes 1;
worker_rlimit_nofile $need;
pid $W/ngx/nginx.pid;
error_log $W/ngx/error.log error;
events { worker_connections $need; }
stream {
  map \$ssl_preread_server_name \$up { alpha.test 127.0.0.1:$UP; default 127.0.0.1:$UP; }
  server { listen 127.0.0.1:$NGP backlog=4096; ssl_preread on; preread_timeout 60s; proxy_pass \$up; }
}
EOF
nginx -p "$W/ngx" -c "$W/ngx/nginx.conf" -e "$W/ngx/error.log" &
NG=$!
PIDS+=($NG)
wait_port $NGP && run "nginx $(nginx -v 2>&1 | sed 's|.*/||')" $NG $NGP
kill $NG

"$PROXY" --listen 127.0.0.1:$PXP --route alpha.test=127.0.0.1:$UP --default 127.0.0.1:$UP \
  --workers 1 --log off --hello-timeout 60s &
SP=$!
PIDS+=($SP)
wait_port $PXP && run "sniroute-proxy" $SP $PXP
