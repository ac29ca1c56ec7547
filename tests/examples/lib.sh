# Shared by the example tests: throwaway certificates, processes started
# in the background and killed by PID on exit, free ports on loopback.
# Sourced, not run.
set -u

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; for f in "$T"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }; done; exit 1; }
need() { for c in "$@"; do command -v "$c" >/dev/null 2>&1 || skip "$c not installed"; done; }

need openssl python3
T=$(mktemp -d "${TMPDIR:-/tmp}/sniroute-test.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# mkcert NAME: $T/NAME.pem and $T/NAME.key, valid for NAME and *.NAME.
mkcert() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj "/CN=$1" -addext "subjectAltName=DNS:$1,DNS:*.$1" \
    -keyout "$T/$1.key" -out "$T/$1.pem" >/dev/null 2>&1 || fail "openssl req for $1"
}

# start NAME CMD...: run CMD in the background with output in $T/NAME.log,
# wait for its "listening on ADDR:PORT" line; sets PID and PORT.
start() {
  local name=$1; shift
  "$@" >"$T/$name.log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  local i
  for i in $(seq 200); do
    PORT=$(sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' "$T/$name.log" | head -n 1)
    [ -n "$PORT" ] && return 0
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.05
  done
  fail "$name did not start"
}

# wait_log NAME REGEX: wait up to 5 s for REGEX in $T/NAME.log.
wait_log() {
  local i
  for i in $(seq 100); do grep -Eq "$2" "$T/$1.log" && return 0; sleep 0.05; done
  fail "no '$2' in $1.log"
}

# pass: fail instead if any process logged a sanitizer report (ASan and
# UBSan builds print them on stderr, which the logs hold).
pass() {
  if grep -Elq "ERROR: (Address|Leak)Sanitizer|runtime error:" "$T"/*.log 2>/dev/null; then
    fail "sanitizer report in $(grep -El "Sanitizer|runtime error:" "$T"/*.log | tr '\n' ' ')"
  fi
  echo "PASS"
}

# route_ab BIN: TLS upstreams for a.test (PA) and b.test and below (PB),
# each with its own certificate, and BIN listening on P with that map.
route_ab() {
  mkcert a.test; mkcert b.test
  start upA python3 "$HERE/tls_upstream.py" --cert "$T/a.test.pem" --key "$T/a.test.key" --tag A
  PA=$PORT
  start upB python3 "$HERE/tls_upstream.py" --cert "$T/b.test.pem" --key "$T/b.test.key" --tag B
  PB=$PORT
  printf 'a.test 127.0.0.1:%s\n.b.test 127.0.0.1:%s   # b.test and below\n' "$PA" "$PB" >"$T/map"
  start router "$1" 127.0.0.1:0 "$T/map"
  P=$PORT
}
