#!/usr/bin/env bash
# Install sniroute into a scratch prefix and build a consumer with
# find_package, with pkg-config, and via add_subdirectory.  The build is
# configured for another prefix and installed with --prefix, as packagers
# and `cmake --install build --prefix ...` users do: everything installed
# must name the prefix it was installed to.
# usage: run.sh SOURCE_DIR
set -euo pipefail
src=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
vec="$src/tests/vectors/001-openssl-default/hello.bin"
want="ok test-tcp-proxy.example.com"

cmake -S "$src" -B "$work/lib" -DSNIROUTE_BUILD_TESTS=OFF -DSNIROUTE_BUILD_EXAMPLES=OFF \
  -DSNIROUTE_INSTALL=ON -DCMAKE_INSTALL_PREFIX="$work/configured-prefix" \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/lib" -j2 >/dev/null
cmake --install "$work/lib" --prefix "$work/prefix" >/dev/null
[ ! -e "$work/configured-prefix" ] || { echo "install wrote to the configured prefix"; exit 1; }

# 0. sniroute-proxy: installed, runs, no test framework needed to build it
ver=$("$work/prefix/bin/sniroute-proxy" --version)
[[ $ver =~ ^sniroute-proxy\ [0-9]+\.[0-9]+\.[0-9]+\ \(libsniroute\ [0-9]+\.[0-9]+\.[0-9]+\)$ ]] ||
  { echo "sniroute-proxy --version: $ver"; exit 1; }
[ -f "$work/prefix/share/doc/sniroute/examples/sniroute-proxy.conf" ] ||
  { echo "sample sniroute-proxy.conf not installed"; exit 1; }
# Operations files: man pages and the systemd unit, naming this prefix.
for f in share/man/man8/sniroute-proxy.8 share/man/man5/sniroute-proxy.conf.5 \
         lib/systemd/system/sniroute-proxy.service; do
  [ -s "$work/prefix/$f" ] || { echo "$f not installed"; exit 1; }
done
grep -qx "ExecStart=$work/prefix/bin/sniroute-proxy --config $work/prefix/etc/sniroute/sniroute-proxy.conf" \
  "$work/prefix/lib/systemd/system/sniroute-proxy.service" ||
  { echo "sniroute-proxy.service does not name the installed binary"; exit 1; }
echo "sniroute-proxy: ok ($ver; man pages, systemd unit)"

# 1. find_package
cmake -S "$here" -B "$work/pkg" -DMODE=package -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/pkg" >/dev/null
got=$("$work/pkg/consumer" "$vec"); [ "$got" = "$want" ] || { echo "find_package: $got"; exit 1; }
echo "find_package: ok"

# 2. pkg-config: flags, library path and run path all from sniroute.pc
pcdir=$(ls -d "$work"/prefix/lib*/pkgconfig | head -n 1)
PKG_CONFIG_PATH=$pcdir
export PKG_CONFIG_PATH
pc_prefix=$(pkg-config --variable=prefix sniroute)
[ "$pc_prefix" = "$work/prefix" ] || { echo "sniroute.pc prefix=$pc_prefix, want $work/prefix"; exit 1; }
cc -std=c11 "$here/main.c" -o "$work/pc-consumer" $(pkg-config --cflags sniroute) \
  $(pkg-config --libs sniroute) -Wl,-rpath,"$(pkg-config --variable=libdir sniroute)"
got=$("$work/pc-consumer" "$vec"); [ "$got" = "$want" ] || { echo "pkg-config: $got"; exit 1; }
echo "pkg-config: ok"

# 3. add_subdirectory
cmake -S "$here" -B "$work/sub" -DMODE=subdir -DSNIROUTE_SOURCE="$src" >/dev/null
cmake --build "$work/sub" >/dev/null
got=$("$work/sub/consumer" "$vec"); [ "$got" = "$want" ] || { echo "add_subdirectory: $got"; exit 1; }
echo "add_subdirectory: ok"
