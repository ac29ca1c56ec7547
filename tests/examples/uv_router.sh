#!/bin/bash
# sniroute-uv against real TLS clients (curl, openssl s_client): routed by
# name, the hello replayed exactly (the handshake with the upstream
# completes and the certificate checks), including a hello cut into many
# records and one delivered a byte per TCP segment; unknown names refused.
BIN=$1
. "$(dirname "$0")/lib.sh"
need curl

route_ab "$BIN"

# get NAME CA PORT: body of https://NAME/ through 127.0.0.1:PORT.
get() { curl -sS --max-time 15 --cacert "$T/$2.pem" --resolve "$1:$3:127.0.0.1" "https://$1:$3/"; }

out=$(get a.test a.test $P) || fail "curl a.test"
[ "$out" = "upstream=A sni=a.test" ] || fail "a.test got '$out'"
out=$(get www.b.test b.test $P) || fail "curl www.b.test"
[ "$out" = "upstream=B sni=www.b.test" ] || fail "www.b.test got '$out'"
for v in -tls1_2 -tls1_3; do
  out=$(printf 'GET / HTTP/1.0\r\n\r\n' | openssl s_client $v -connect 127.0.0.1:$P -servername b.test \
    -CAfile "$T/b.test.pem" -verify_return_error -quiet 2>&1) || fail "s_client $v: $out"
  case $out in *"upstream=B sni=b.test"*) ;; *) fail "s_client $v got '$out'";; esac
done

# Hello in 40-byte records: several records, one read or a few.
start split python3 "$HERE/reframe.py" "$P" --record 40
out=$(get a.test a.test $PORT) || fail "curl a.test, 40-byte records"
[ "$out" = "upstream=A sni=a.test" ] || fail "split records got '$out'"
wait_log router "route sni=a.test -> 127.0.0.1:$PA reads=[0-9]+ records=([6-9]|[1-9][0-9]+) "

# Hello in 100-byte records, one byte per segment, 2 ms apart.
start dribble python3 "$HERE/reframe.py" "$P" --record 100 --byte-delay-ms 2
out=$(printf 'GET / HTTP/1.0\r\n\r\n' | openssl s_client -connect 127.0.0.1:$PORT -servername slow.b.test \
  -CAfile "$T/b.test.pem" -verify_return_error -quiet 2>&1) || fail "s_client byte at a time: $out"
case $out in *"upstream=B sni=slow.b.test"*) ;; *) fail "byte at a time got '$out'";; esac
line=$(grep "route sni=slow.b.test" "$T/router.log") || fail "no route line"
reads=$(sed -n 's/.*reads=\([0-9]*\).*/\1/p' <<<"$line")
bytes=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' <<<"$line")
echo "byte at a time: $line"
# Scheduling may merge a few segments; most reads must be single bytes.
[ "$reads" -ge $((bytes / 2)) ] || fail "only $reads reads for $bytes bytes"

# Unknown name: closed before any upstream sees it.
out=$(openssl s_client -connect 127.0.0.1:$P -servername nobody.test </dev/null 2>&1) && fail "nobody.test served"
wait_log router "refused 'nobody.test'"
grep -q "nobody.test" "$T/upA.log" "$T/upB.log" && fail "an upstream saw nobody.test"
pass
