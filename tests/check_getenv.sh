#!/bin/sh
# Only src/config.c reads the environment (STYLE.md, config); every other
# file asks the config table.
top_src=${WT_TOP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top_src" || exit 1
hits=$(grep -rn --include='*.c' --include='*.h' -E '\b(secure_)?getenv *\(' \
           src transports tools 2>/dev/null | grep -v '^src/config\.c:')
if [ -n "$hits" ]; then
    echo "check_getenv: getenv() outside src/config.c:"
    echo "$hits"
    exit 1
fi
echo "check_getenv: only src/config.c reads the environment"
