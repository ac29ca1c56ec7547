#!/bin/bash
# sniroute-accept-loop against real clients: curl and openssl s_client get
# the upstream their name routes to (the certificate check proves the TLS
# stream reached it untouched), unknown names and plain HTTP are refused,
# and a client stalled mid-hello delays nobody.
BIN=$1
. "$(dirname "$0")/lib.sh"
need curl

route_ab "$BIN"

get() { curl -sS --max-time 10 --cacert "$T/$2.pem" --resolve "$1:$P:127.0.0.1" "https://$1:$P/"; }

# A client that sends 20 bytes of a hello and stalls while the others run.
python3 - "$P" >"$T/stall.log" 2>&1 <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(bytes.fromhex("160301020001000200") + b"\x03\x03" + b"\x00" * 9)
time.sleep(8)
PY
PIDS+=($!)

out=$(get a.test a.test) || fail "curl a.test"
[ "$out" = "upstream=A sni=a.test" ] || fail "a.test got '$out'"
out=$(get www.b.test b.test) || fail "curl www.b.test"
[ "$out" = "upstream=B sni=www.b.test" ] || fail "www.b.test got '$out'"
out=$(get B.TEST b.test) || fail "curl B.TEST"
case $out in "upstream=B sni="*) ;; *) fail "B.TEST got '$out'";; esac

out=$(printf 'GET / HTTP/1.0\r\n\r\n' | openssl s_client -connect 127.0.0.1:$P -servername a.test \
  -CAfile "$T/a.test.pem" -verify_return_error -quiet 2>&1) || fail "s_client a.test: $out"
case $out in *"upstream=A sni=a.test"*) ;; *) fail "s_client a.test got '$out'";; esac

# Refusals: the connection is closed without a byte of answer.
out=$(openssl s_client -connect 127.0.0.1:$P -servername unknown.test </dev/null 2>&1) && fail "unknown.test was served"
case $out in *"upstream="*) fail "unknown.test reached an upstream";; esac
wait_log router "refused 'unknown.test': no such entry"
out=$(printf 'GET / HTTP/1.0\r\n\r\n' | curl -sS --max-time 5 "http://127.0.0.1:$P/" 2>&1) && fail "plain HTTP was served: $out"
wait_log router "refused '': no such entry"
pass
