#!/bin/bash
# sniroute-tls-server with openssl s_client and curl for several names,
# unknown names refused with unrecognized_name (and, with the peek, without
# an SSL object), then the CPU cost of a refusal measured both ways in the
# same run: REFUSE_N connections (default 500; the report used 2000) per
# mode, alternating rounds, server CPU from getrusage via SIGUSR1.
BIN=$1
. "$(dirname "$0")/lib.sh"
need curl
N=${REFUSE_N:-500}
ROUNDS=5

mkcert a.test; mkcert b.test; mkcert c.test
sites=(--site a.test "$T/a.test.pem" "$T/a.test.key"
       --site .b.test "$T/b.test.pem" "$T/b.test.key"
       --site 'c.*' "$T/c.test.pem" "$T/c.test.key")
start peek "$BIN" --refuse peek 127.0.0.1:0 "${sites[@]}"
PPEEK=$PORT; PID_PEEK=$PID
start cb "$BIN" --refuse callback 127.0.0.1:0 "${sites[@]}"
PCB=$PORT; PID_CB=$PID

for P in $PPEEK $PCB; do
  for pair in a.test:a.test:a.test b.test:b.test:.b.test www.b.test:b.test:.b.test c.test:c.test:c.*; do
    IFS=: read -r name ca pat <<<"$pair"
    out=$(curl -sS --max-time 10 --cacert "$T/$ca.pem" --resolve "$name:$P:127.0.0.1" "https://$name:$P/") \
      || fail "curl $name on $P"
    [ "$out" = "site=$pat sni=$name" ] || fail "curl $name on $P got '$out'"
  done
  for v in -tls1_2 -tls1_3; do
    out=$(printf 'GET / HTTP/1.0\r\n\r\n' | openssl s_client $v -connect 127.0.0.1:$P -servername a.test \
      -CAfile "$T/a.test.pem" -verify_return_error -quiet 2>&1) || fail "s_client $v a.test: $out"
    case $out in *"site=a.test sni=a.test"*) ;; *) fail "s_client $v got '$out'";; esac
    out=$(openssl s_client $v -connect 127.0.0.1:$P -servername nobody.test </dev/null 2>&1) \
      && fail "s_client $v nobody.test was served"
    case $out in *"unrecognized name"*"alert number 112"*) ;; *) fail "s_client $v nobody.test: $out";; esac
  done
  out=$(curl -sS --max-time 10 -k --resolve "x.test:$P:127.0.0.1" "https://x.test:$P/" 2>&1) \
    && fail "curl x.test was served"
  case $out in *"unrecognized name"*) ;; *) fail "curl x.test: $out";; esac
done

# stats PID: "cpu_us ssl_objects" of the server.
stats() {
  local log=$2 before i
  before=$(grep -c '^cpu_us=' "$T/$log.log")
  kill -USR1 "$1"
  for i in $(seq 100); do
    [ "$(grep -c '^cpu_us=' "$T/$log.log")" -gt "$before" ] && break
    sleep 0.02
  done
  grep '^cpu_us=' "$T/$log.log" | tail -n 1 | sed 's/cpu_us=\([0-9]*\) ssl_objects=\([0-9]*\).*/\1 \2/'
}

per=$((N / ROUNDS))
peek_us=(); cb_us=()
for r in $(seq $ROUNDS); do
  for mode in peek cb; do
    if [ $mode = peek ]; then pid=$PID_PEEK; port=$PPEEK; else pid=$PID_CB; port=$PCB; fi
    read -r c0 s0 <<<"$(stats $pid $mode)"
    python3 "$HERE/refuse_clients.py" "$port" "$per" unknown.test || fail "$mode: not every connection refused"
    read -r c1 s1 <<<"$(stats $pid $mode)"
    us=$(awk -v a="$c0" -v b="$c1" -v n="$per" 'BEGIN{printf "%.1f", (b-a)/n}')
    if [ $mode = peek ]; then
      [ "$s1" = "$s0" ] || fail "peek mode created $((s1 - s0)) SSL objects for refused names"
      peek_us+=("$us")
    else
      [ $((s1 - s0)) -eq "$per" ] || fail "callback mode: $((s1 - s0)) SSL objects for $per connections"
      cb_us+=("$us")
    fi
  done
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
echo "refusal server CPU, $ROUNDS rounds x $per connections per mode (us/connection):"
echo "  peek:     ${peek_us[*]}  median $(median "${peek_us[@]}")"
echo "  callback: ${cb_us[*]}  median $(median "${cb_us[@]}")"
pass
