#!/usr/bin/env bash
# The systemd unit as `cmake --install` writes it: installed under
# lib/systemd/system of the prefix, naming the installed binary, with the
# configuration check before the start, and accepted by
# `systemd-analyze verify` (binaries and man pages resolved in the
# scratch prefix).  A unit with a missing binary must be refused, so the
# check is known to look.
# usage: systemd_unit.sh BUILD_DIR
set -euo pipefail
build=$1
command -v systemd-analyze >/dev/null ||
  { echo "skip: systemd-analyze missing"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
unit=$work/prefix/lib/systemd/system/sniroute-proxy.service
fail=0
check() { # NAME COMMAND...
  local name=$1; shift
  if "$@"; then echo "ok   - $name"; else echo "FAIL - $name"; fail=1; fi
}
check "unit installed" test -f "$unit"
bin=$work/prefix/bin/sniroute-proxy
conf=$work/prefix/etc/sniroute/sniroute-proxy.conf
check "ExecStart runs the installed binary" \
  grep -qx "ExecStart=$bin --config $conf" "$unit"
check "ExecStartPre checks the configuration (-t)" \
  grep -qx "ExecStartPre=$bin -t --config $conf" "$unit"
check "ExecReload sends SIGHUP" grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$unit"
check "no placeholder left" bash -c "! grep -q @ '$unit'"
export MANPATH=$work/prefix/share/man # Documentation=man:... resolves
out=$(systemd-analyze verify "$unit" 2>&1) && rc=0 || rc=$?
if [ $rc -eq 0 ] && [ -z "$out" ]; then
  echo "ok   - systemd-analyze verify: clean"
else
  echo "FAIL - systemd-analyze verify ($rc): $out"
  fail=1
fi
sed "s#$bin#$work/prefix/bin/no-such-binary#" "$unit" >"$work/broken.service"
if systemd-analyze verify "$work/broken.service" >/dev/null 2>&1; then
  echo "FAIL - systemd-analyze verify accepts a unit whose binary is missing"
  fail=1
else
  echo "ok   - ... and refuses one whose binary is missing"
fi
exit $fail
