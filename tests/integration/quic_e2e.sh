#!/usr/bin/env bash
# sniroute-proxy routes QUIC (HTTP/3) by SNI, end to end (issue 13):
# headless Chromium fetches https://one.test:PORT/ and https://two.test:PORT/
# over QUIC through one sniroute-proxy (a QUIC and a TCP listener on the
# same port) from two Caddy servers (HTTP/3 on, each with its own
# certificate from a throwaway CA); each Caddy's access log must show the
# request over HTTP/3 for its own name; three.test matches no route and
# gets no answer; over TCP the same port still routes both names (curl).
# Loopback only.  Exits 77 (skipped) when chromium, caddy, curl or openssl
# is missing.
#
#   tests/integration/quic_e2e.sh PATH/TO/sniroute-proxy
set -u
PROXY=$(realpath "$1")
for t in chromium caddy curl openssl python3; do
  command -v $t >/dev/null || { echo "skip: $t missing (scripts/test installs it)"; exit 77; }
done
W=$(mktemp -d -t sniroute-quic-e2e.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  [ -n "${KEEP:-}" ] && echo "kept $W" || rm -rf "$W"
}
trap cleanup EXIT
fail=0
check() { # NAME CONDITION-STATUS [DETAIL]
  if [ "$2" = 0 ]; then echo "ok   - $1"; else echo "FAIL - $1 ${3:-}"; fail=1; fi
}
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P=$(port) PA=$(port) PB=$(port)

# A CA and one certificate per name (P-256), signed by it.
cd "$W"
openssl req -x509 -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 2 \
  -subj /CN=sniroute-test-ca -keyout ca.key -out ca.crt 2>/dev/null
for n in one two; do
  openssl req -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj /CN=$n.test \
    -keyout $n.key -out $n.csr 2>/dev/null
  printf 'subjectAltName=DNS:%s.test\n' $n >$n.ext
  openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
    -extfile $n.ext -out $n.crt 2>/dev/null
done
# Chromium accepts a certificate by the SHA-256 of its public key.
spki() { openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der |
  openssl dgst -sha256 -binary | base64; }
SPKIS="$(spki one.crt),$(spki two.crt)"

# caddy NAME PORT: HTTP/1.1, 2 and 3 on PORT (TCP and UDP); its access log
# (JSON, logger http.log.access) goes to NAME.caddy.out with its other
# output.
caddy_start() {
  cat >"$1.Caddyfile" <<EOF
{
  admin off
  auto_https off
  servers {
    protocols h1 h2 h3
  }
}
https://$1.test:$2 {
  tls $W/$1.crt $W/$1.key
  log {
    format json
  }
  respond "hello from $1" 200
}
EOF
  XDG_DATA_HOME=$W/xdg XDG_CONFIG_HOME=$W/xdg HOME=$W \
    caddy run --config "$1.Caddyfile" --adapter caddyfile >"$1.caddy.out" 2>&1 &
  PIDS+=($!)
}
caddy_start one "$PA"
caddy_start two "$PB"

cat >proxy.conf <<EOF
listen 127.0.0.1:$P
listen 127.0.0.1:$P quic
quic_idle_timeout 3s
log $W/proxy.log
route one.test 127.0.0.1:$PA
route two.test 127.0.0.1:$PB
EOF
"$PROXY" --config proxy.conf 2>proxy.err &
PIDS+=($!)
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$PA" 2>/dev/null; r1=$?
  curl -s -o /dev/null "http://127.0.0.1:$PB" 2>/dev/null; r2=$?
  # 7: connection refused (not up yet); anything else means it listens.
  [ $r1 != 7 ] && [ $r2 != 7 ] && grep -q "listening on" proxy.err && break
  sleep 0.1
done

# browser NAME: the page Chromium gets over forced QUIC (empty on failure).
browser() {
  local rules="MAP one.test 127.0.0.1, MAP two.test 127.0.0.1, MAP three.test 127.0.0.1"
  timeout 60 chromium --headless=new --no-sandbox --disable-gpu \
    --user-data-dir="$W/chrome-$1" --enable-quic \
    --origin-to-force-quic-on="$1:$P" --host-resolver-rules="$rules" \
    --ignore-certificate-errors-spki-list="$SPKIS" \
    --virtual-time-budget=5000 --dump-dom "https://$1:$P/" 2>"$W/chrome-$1.err"
}

for n in one two; do
  page=$(browser $n.test)
  echo "$page" | grep -q "hello from $n"
  check "Chromium over QUIC: https://$n.test:$P/ answered by Caddy $n" $? "page: ${page:0:200}"
  grep http.log.access "$n.caddy.out" | grep "\"proto\":\"HTTP/3.0\"" |
    grep -q "\"host\":\"$n.test:$P\""
  check "Caddy $n's access log: the request over HTTP/3 for $n.test" $? \
    "$(grep http.log.access "$n.caddy.out" | head -c 400)"
done
other() { [ $1 = one ] && echo two || echo one; }
for n in one two; do
  ! grep http.log.access "$n.caddy.out" | grep -q "$(other $n).test"
  check "Caddy $n saw no request for $(other $n).test" $?
done

page=$(browser three.test)
! echo "$page" | grep -q "hello from"
check "three.test (no route) gets no answer" $? "page: ${page:0:200}"

for n in one two; do
  body=$(curl -s --max-time 10 --cacert ca.crt --resolve "$n.test:$P:127.0.0.1" \
    "https://$n.test:$P/")
  [ "$body" = "hello from $n" ]
  check "TCP on the same port: curl https://$n.test:$P/ reaches Caddy $n" $? "body: $body"
done

# The QUIC flows end after quic_idle_timeout and are logged.
sleep 5
for n in one two; do
  grep "sni=$n.test" proxy.log | grep -q "quic_version=0x00000001.*verdict=idle_timeout"
  check "proxy log: a QUIC flow for $n.test, ended by the idle timeout" $? \
    "$(grep "sni=$n.test" proxy.log | head -3)"
done
grep "sni=three.test" proxy.log | grep -q "quic_version=.*verdict=no_route"
check "proxy log: three.test's QUIC flow, verdict no_route" $? \
  "$(grep "sni=three.test" proxy.log | head -3)"
! grep -qE "Sanitizer|runtime error" proxy.err
check "no sanitizer report from the proxy" $? "$(grep -E -A5 'Sanitizer|runtime error' proxy.err | head -20)"
[ $fail = 0 ] || { echo "--- proxy stderr"; tail -n 20 proxy.err; echo "--- proxy log"; tail -n 20 proxy.log; }
exit $fail
