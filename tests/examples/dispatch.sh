#!/bin/bash
# sniroute-dispatch hands sockets to sniroute-handoff-echo: the server sees
# the client's own address (127.0.0.2), echoes byte-exact, survives a
# restart (a connection made while it is down is delivered once it is
# back; without a server it is closed after --queue-ms), and bulk
# throughput through the dispatcher is compared with connecting to the
# echo server directly (BULK_MB per run, default 32; 3 alternating runs).
DISPATCH=$1 ECHO=$2
. "$(dirname "$0")/lib.sh"
MB=${BULK_MB:-32}

mkcert echo.test
CTL=$T/ctl.sock
printf 'echo.test echo\n.echo.test echo\n' >"$T/map"
start dispatch "$DISPATCH" --queue-ms 3000 127.0.0.1:0 "$CTL" "$T/map"
PD=$PORT
echo_args=(--cert "$T/echo.test.pem" --key "$T/echo.test.key" --register "$CTL" echo)
start echo1 "$ECHO" "${echo_args[@]}" --listen 127.0.0.1:0
PE=$PORT; PID_ECHO=$PID
wait_log echo1 "registered as echo"
wait_log dispatch "registered echo"

client() { python3 "$HERE/echo_client.py" "$@"; }

# Real address and byte-exact echo, through the dispatcher.
out=$(client "$PD" www.echo.test "$T/echo.test.pem" --src 127.0.0.2 --bytes 1000003) || fail "echo via dispatcher: $out"
local_addr=$(sed -n 's/^local=\([^ ]*\) bytes=.*/\1/p' <<<"$out")
[ -n "$local_addr" ] || fail "no result: $out"
wait_log echo1 "conn peer=$local_addr via=handoff sni=www.echo.test"
# openssl s_client too, from 127.0.0.2.
out=$( (printf 'ping from s_client\n'; sleep 0.5) | timeout 10 openssl s_client -connect 127.0.0.1:$PD \
  -bind 127.0.0.2:0 -servername echo.test -CAfile "$T/echo.test.pem" -verify_return_error -quiet -no_ign_eof 2>&1)
case $out in *"ping from s_client"*) ;; *) fail "s_client echo: $out";; esac
wait_log echo1 "conn peer=127.0.0.2:[0-9]+ via=handoff sni=echo.test"
# An unknown name is refused by the dispatcher and never reaches the server.
openssl s_client -connect 127.0.0.1:$PD -servername other.test </dev/null >/dev/null 2>&1 && fail "other.test served"
wait_log dispatch "refused .* sni=other.test"

# Throughput: dispatcher vs direct, alternating, same server.
via=(); direct=()
for r in 1 2 3; do
  o=$(client "$PD" echo.test "$T/echo.test.pem" --bytes $((MB << 20))) || fail "bulk via dispatcher: $o"
  via+=("$(sed -n 's/.*MBps=//p' <<<"$o" | tail -n 1)")
  o=$(client "$PE" echo.test "$T/echo.test.pem" --bytes $((MB << 20))) || fail "bulk direct: $o"
  direct+=("$(sed -n 's/.*MBps=//p' <<<"$o" | tail -n 1)")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

# Restart: kill the server, connect while it is down, start it again.
kill -9 "$PID_ECHO"; wait "$PID_ECHO" 2>/dev/null
client "$PD" echo.test "$T/echo.test.pem" --bytes 100000 >"$T/queued.log" 2>&1 &
QPID=$!; PIDS+=("$QPID")
sleep 1
"$ECHO" "${echo_args[@]}" >"$T/echo2.log" 2>&1 &
PID_ECHO=$!; PIDS+=("$PID_ECHO")
wait "$QPID" || fail "connection made during the restart: $(cat "$T/queued.log")"
wait_log echo2 "via=handoff sni=echo.test"
out=$(client "$PD" echo.test "$T/echo.test.pem" --bytes 100000) || fail "after restart: $out"
grep -q "server echo gone" "$T/dispatch.log" || fail "dispatcher did not notice the dead server"

# No server at all: the client is closed after --queue-ms, not left hanging.
kill -9 "$PID_ECHO"; wait "$PID_ECHO" 2>/dev/null
t0=$(date +%s%N)
out=$(client "$PD" echo.test "$T/echo.test.pem" --bytes 1000 --timeout 10) && fail "served without a server: $out"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
case $out in *"handshake failed"*) ;; *) fail "no server: $out";; esac
[ "$ms" -ge 2500 ] && [ "$ms" -lt 8000 ] || fail "no server: closed after $ms ms (queue 3000 ms)"
wait_log dispatch "dropped .* no server echo within 3000 ms"

echo "bulk echo ${MB} MiB, MB/s: via dispatcher ${via[*]} (median $(median "${via[@]}")); direct ${direct[*]} (median $(median "${direct[@]}"))"
pass
