#!/usr/bin/env bash
# The collective matrix over the ofi transport alone (WEFT_TL=self,ofi):
# libfabric's tcp provider (tcp;ofi_rxm on loopback) and its shm provider,
# each with 2 and 8 ranks. A sample of the cases (WT_COLL_CASES) keeps it
# short; skipped where the ofi module is not built.
set -u
B=${WT_TOP_BUILDDIR:-.}
. "${WT_TOP_SRCDIR:-.}/tests/tap.sh"
d=$(mktemp -d) || exit 1
trap 'rm -rf "$d"' EXIT

have_module() {
    local IFS=:
    for dir in ${WEFT_TL_MODULE_PATH:-}; do
        [ -e "$dir/weft_tl_ofi.so" ] && return 0
    done
    return 1
}

# matrix PROVIDER RANKS FILTER
matrix() {
    WEFT_TL=self,ofi FI_PROVIDER=$1 FI_TCP_IFACE=lo WT_COLL_CASES=4 \
        WT_COLL_RANKS=$2 timeout 300 \
        "$B/tests/test_coll_matrix" --filter "coll_matrix/$3" \
        >"$d/out" 2>"$d/err"
}

if ! have_module; then
    skip "ofi: weft_tl_ofi.so is not built (libfabric >= 1.17 not found by configure)"
    skip "ofi: weft_tl_ofi.so is not built"
    echo "1..$n"
    exit 0
fi
# every collective of the matrix (the tests of several collectives at
# once, test_coll_inflight, stay with the default transports)
for sel in '[!s]*' 'scatter'; do
    if matrix tcp 2,8 "$sel" && ! grep -q 'Tested: 0 ' "$d/err"; then
        ok "collective matrix ($sel) over ofi, provider tcp, 2 and 8 ranks"
    else
        bad "collective matrix ($sel) over ofi, provider tcp, 2 and 8 ranks"
    fi
    if matrix shm 2,8 "$sel" && ! grep -q 'Tested: 0 ' "$d/err"; then
        ok "collective matrix ($sel) over ofi, provider shm, 2 and 8 ranks"
    else
        bad "collective matrix ($sel) over ofi, provider shm, 2 and 8 ranks"
    fi
done
echo "1..$n"
exit $fail
