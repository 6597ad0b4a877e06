# TAP helpers for the end-to-end scripts (sourced): each case prints
# "ok N - what" or "not ok N - what" with the case's output ($d/out,
# $d/err) as comments; the script ends with `echo "1..$n"; exit $fail`.
n=0
fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n - # SKIP $1"; }
bad() {
    n=$((n + 1)); fail=1; echo "not ok $n - $1"
    for f in "$d/out" "$d/err"; do
        [ -s "$f" ] && sed 's/^/#   /' "$f"
    done
    return 0
}
# has COUNT PATTERN FILE: PATTERN (grep -E) matches exactly COUNT lines
has() { [ "$(grep -cE -- "$2" "$3" 2>/dev/null)" = "$1" ]; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
