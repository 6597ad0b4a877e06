/*
 * What the collective matrix and its companions share (see coll_mx.h).
 */
#include "build_config.h"
#include "coll_mx.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "harness.h"

uint64_t
mx_mix(uint64_t a, uint64_t b)
{
    uint64_t z = a * 0x9e3779b97f4a7c15ull + b + 0x632be59bd9b4e019ull;

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t
mx_next(uint64_t *state)
{
    *state = mx_mix(*state, 1);
    return *state;
}

void
mx_record(mx_shared_t *sh, const char *msg)
{
    int no = 0;

    __atomic_add_fetch(&sh->fails, 1, __ATOMIC_SEQ_CST);
    if (__atomic_compare_exchange_n(&sh->first_taken, &no, 1, 0,
                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
        snprintf(sh->first, sizeof(sh->first), "%s", msg);
    }
}

int
mx_env_int(const char *name, int dflt)
{
    const char *v = getenv(name);

    return v != NULL && *v != '\0' ? atoi(v) : dflt;
}

mx_shared_t *
mx_shared_new(weft__coll_t coll)
{
    mx_shared_t *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    cr_assert(sh != MAP_FAILED, "mmap failed");
    memset(sh, 0, sizeof(*sh));
    sh->coll = coll;
    sh->full = mx_env_int("WT_COLL_FULL", 0);
    sh->ncases = mx_env_int("WT_COLL_CASES", 32);
    sh->seed = (uint64_t)mx_env_int("WT_COLL_SEED", 1);
    return sh;
}

wt_case_t
mx_spec_case(const mx_spec_t *sp, int size, int algo, uint64_t seq)
{
    return (wt_case_t){.coll = sp->coll,
                       .algo = algo,
                       .dt = sp->dt,
                       .op = sp->op,
                       .count = sp->count,
                       .inplace = sp->inplace,
                       .root = sp->root_last ? size - 1 : 0,
                       .nb = 1,
                       .seq = seq};
}

void
mx_fail_case(mx_shared_t *sh, const wt_case_run_t *x, const char *what,
             weft_status_t st)
{
    char desc[256], msg[1024];

    wt_case_desc(&x->c, x->size, desc, sizeof(desc));
    snprintf(msg, sizeof(msg), "rank %d: %s: %s: %s (%s)", x->rank, desc, what,
             weft_status_string(st), weft_last_error());
    WT_CHECK(0, "%s", msg);
    mx_record(sh, msg);
}

void
mx_verify_case(mx_shared_t *sh, wt_case_run_t *x)
{
    char first[768] = "";
    size_t bad = wt_case_verify(x, first, sizeof(first));

    if (bad > 0) {
        WT_CHECK(0, "%s", first);
        mx_record(sh, first);
    }
}
