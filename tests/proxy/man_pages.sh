#!/usr/bin/env bash
# The manual pages agree with the program and render cleanly:
#   * sniroute-proxy.conf(5) describes exactly the directives the parser
#     accepts (its own table, printed by --list-directives);
#   * sniroute-proxy(8) describes exactly the options --help lists;
#   * groff renders both without a warning (-ww), and man -l shows them.
# usage: man_pages.sh PATH/TO/sniroute-proxy SOURCE_DIR
set -euo pipefail
bin=$1
man=$2/docs/man
command -v groff >/dev/null || { echo "skip: groff missing"; exit 77; }
fail=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# compare WHAT HAVE_FILE WANT_FILE: both sets equal, each non-trivial.
compare() {
  local what=$1 a=$2 b=$3
  if [ "$(wc -l <"$a")" -lt 10 ] || [ "$(wc -l <"$b")" -lt 10 ]; then
    echo "FAIL - $what: too few entries extracted ($(wc -l <"$a"), $(wc -l <"$b"))"
    fail=1
  elif ! diff -u "$a" "$b"; then
    echo "FAIL - $what differ (-: program, +: page)"
    fail=1
  else
    echo "ok   - $what: $(wc -l <"$a") entries, the same in the program and the page"
  fi
}

# The first word of the line after each .TP of section $2 in page $1, with
# roff's \- as -.
tp_words() {
  awk -v sec="$2" '
    /^\.SH / { on = ($0 == ".SH " sec); next }
    on && /^\.TP/ { grab = 1; next }
    on && grab { grab = 0; sub(/^\.[A-Z]+ +/, ""); print }' "$1" |
    sed 's/\\-/-/g'
}

"$bin" --list-directives | sort >"$work/directives.prog"
tp_words "$man/sniroute-proxy.conf.5" DIRECTIVES | awk '{ print $1 }' |
  sed 's/"//g' | sort >"$work/directives.page"
compare "directives" "$work/directives.prog" "$work/directives.page"

# Options: every -x / --word at the start of a --help line, and every one
# named on the .TP lines of the OPTIONS section.
"$bin" --help | grep -oE '^ +(-[a-z], )?--?[a-z][a-z-]*' |
  grep -oE -- '--?[a-z][a-z-]*' | sort -u >"$work/options.prog"
tp_words "$man/sniroute-proxy.8" OPTIONS | grep -oE -- '(^|[ "])--?[a-z][a-z-]*' |
  grep -oE -- '--?[a-z][a-z-]*' | sort -u >"$work/options.page"
compare "options" "$work/options.prog" "$work/options.page"

for page in sniroute-proxy.8 sniroute-proxy.conf.5; do
  warn=$(groff -ww -z -man "$man/$page" 2>&1 || echo "groff failed")
  if [ -n "$warn" ]; then
    echo "FAIL - groff -ww $page: $warn"
    fail=1
  else
    echo "ok   - groff -ww $page: no warning"
  fi
  if command -v man >/dev/null; then
    out=$(MANWIDTH=80 man -l "$man/$page" 2>&1) || true
    title=$(printf '%s\n' "$out" | head -n 1)
    case $title in
      SNIROUTE-PROXY*) echo "ok   - man -l $page: $title" ;;
      *) echo "FAIL - man -l $page: $title"; fail=1 ;;
    esac
  fi
done
exit $fail
