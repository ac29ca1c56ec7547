# Sourced by scripts/demo, scripts/demo-proxy and scripts/test.  They share
# build/, so a directory keeps the generator it was first configured with
# (cmake refuses another one), and each script passes the options it
# depends on explicitly instead of relying on what the cache holds.

# sniroute_generator DIR: sets SNIROUTE_GEN to the generator arguments for
# DIR: the one in its cache, else Ninja when installed, else Makefiles.
sniroute_generator() {
  local cached=
  if [ -f "$1/CMakeCache.txt" ]; then
    cached=$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$1/CMakeCache.txt")
  fi
  if [ -n "$cached" ]; then
    SNIROUTE_GEN=(-G "$cached")
  elif command -v ninja >/dev/null 2>&1; then
    SNIROUTE_GEN=(-G Ninja)
  else
    SNIROUTE_GEN=(-G "Unix Makefiles")
  fi
}

# sniroute_configure_demo DIR: what the demos run: the library, the
# examples (sniroute-inspect) and sniroute-proxy, none of which needs
# cmocka.  The tests stay configured when cmocka is there, so that
# scripts/test and the demos can take turns on one directory without
# switching them off and on.
sniroute_configure_demo() {
  local opts=(-DSNIROUTE_BUILD_EXAMPLES=ON -DSNIROUTE_BUILD_PROXY=ON -DSNIROUTE_BUILD_TESTS=OFF)
  pkg-config --exists cmocka 2>/dev/null && opts[2]=-DSNIROUTE_BUILD_TESTS=ON
  # The build type scripts/test uses, so that taking turns rebuilds nothing.
  [ -f "$1/CMakeCache.txt" ] || opts+=(-DCMAKE_BUILD_TYPE=Release)
  sniroute_generator "$1"
  cmake -S . -B "$1" "${SNIROUTE_GEN[@]}" "${opts[@]}"
}
