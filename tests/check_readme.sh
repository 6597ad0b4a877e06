#!/bin/sh
# The README's table of WEFT_* variables must equal what the config table
# says (weft-info -m). With --update, rewrite the README's table instead.
top_src=${WT_TOP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
top_build=${WT_TOP_BUILDDIR:-.}
readme=$top_src/README.md
info=$top_build/tools/weft-info
tmp=$(mktemp) || exit 1
trap 'rm -f "$tmp" "$tmp.new"' EXIT

"$info" -m >"$tmp" || { echo "check_readme: weft-info -m failed"; exit 1; }
if [ "${1:-}" = --update ]; then
    awk -v table="$tmp" '
        /^<!-- config-table/ { print; print "| variable | default | meaning |";
                               print "|---|---|---|";
                               while ((getline l < table) > 0) print l;
                               skip = 1; next }
        /^<!-- end config-table -->/ { skip = 0 }
        !skip { print }' "$readme" >"$tmp.new" && cp "$tmp.new" "$readme"
    echo "check_readme: README.md updated"
    exit 0
fi
sed -n '/^<!-- config-table/,/^<!-- end config-table -->/p' "$readme" |
    grep '^| `WEFT_' >"$tmp.new"
if ! diff -u "$tmp.new" "$tmp"; then
    echo "check_readme: README.md's variable table differs from the config"
    echo "table (above: - README, + src/config.c); run"
    echo "  WT_TOP_BUILDDIR=<build dir> tests/check_readme.sh --update"
    exit 1
fi
echo "check_readme: README lists all $(wc -l <"$tmp") variables"
