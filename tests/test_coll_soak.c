/*
 * Soak: thousands of mixed collectives back to back in one job, up to four
 * nonblocking ones in flight at once. Every call comes from a seeded
 * sequence all ranks draw alike: the collective, the count (0, or up to
 * 256 Ki elements on a log scale, at most 4 MiB a buffer), the dtype, op
 * and root, in place or not, blocking or not; weft picks the algorithm.
 * Every byte of every result and of the memory around it is checked
 * (tests/coll_case.c). make check: 1000 calls at 4 ranks; make check-long:
 * WT_SOAK_CALLS=5000 at 2, 4 and 8 ranks (WT_SOAK_SEED picks another
 * sequence).
 */
#include "build_config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coll_case.h"
#include "harness.h"

#define SK_WINDOW 4 /* nonblocking calls in flight at most */
#define SK_MAX_BYTES (4u << 20)

typedef struct sk_args {
    int calls;
    uint64_t seed;
} sk_args_t;

static uint64_t
sk_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static unsigned
sk_pick(uint64_t *s, unsigned n)
{
    return (unsigned)(sk_next(s) % n);
}

/* The i-th call of the sequence, for a comm of `size` ranks. */
static void
sk_draw(uint64_t *s, int size, wt_case_t *c)
{
    size_t es, per_rank;

    memset(c, 0, sizeof(*c));
    c->coll = (weft__coll_t)sk_pick(s, WEFT_COLL_COUNT);
    c->algo = -1;
    c->dt = (weft_dtype_t)sk_pick(s, 10);
    c->op = wt_coll_reduces(c->coll) ? (int)sk_pick(s, 5) : -1;
    if (c->op == WEFT_AVG && c->dt < WEFT_FLOAT16) {
        c->op = (int)sk_pick(s, 4); /* avg is for floating types */
    }
    c->root = wt_coll_rooted(c->coll) ? (int)sk_pick(s, (unsigned)size) : 0;
    c->inplace = wt_coll_has_inplace(c->coll) ? (int)sk_pick(s, 2) : 0;
    c->nb = (int)sk_pick(s, 3);
    c->seq = sk_next(s);
    if (sk_pick(s, 8) == 0) {
        c->count = 0;
    } else {
        c->count = ((size_t)1 << sk_pick(s, 19)) + sk_pick(s, 64);
    }
    /* the biggest buffer holds count elements per rank for the
     * collectives that gather or scatter blocks, count otherwise */
    es = weft_dtype_size(c->dt);
    per_rank = c->coll == WEFT_COLL_ALLREDUCE ||
                       c->coll == WEFT_COLL_REDUCE ||
                       c->coll == WEFT_COLL_BROADCAST ||
                       c->coll == WEFT_COLL_BARRIER
                   ? 1
                   : (size_t)size + 1;
    while (c->count > 0 && c->count * es * per_rank > SK_MAX_BYTES) {
        c->count /= 2;
    }
}

/* Finish the calls in flight, in the order they started, and check each;
 * the number of failures. */
static int
sk_drain(wt_case_run_t *runs, int *n)
{
    int failures = 0;

    for (int i = 0; i < *n; i++) {
        wt_case_run_t *x = &runs[i];
        char desc[256], first[512] = "";
        weft_status_t st = wt_case_finish(x);
        size_t bad;

        wt_case_desc(&x->c, x->size, desc, sizeof(desc));
        if (st != WEFT_OK) {
            WT_CHECK(0, "rank %d: %s: returned %s (%s)", x->rank, desc,
                     weft_status_string(st), weft_last_error());
            failures++;
        } else if ((bad = wt_case_verify(x, first, sizeof(first))) > 0) {
            WT_CHECK(0, "rank %d: %s: %zu wrong elements, first %s",
                     x->rank, desc, bad, first);
            failures++;
        }
        wt_case_free(x);
    }
    *n = 0;
    return failures;
}

static void
sk_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    const sk_args_t *a = arg;
    wt_case_run_t *runs = calloc(SK_WINDOW, sizeof(*runs));
    uint64_t s = a->seed;
    int inflight = 0, failures = 0, done = 0;

    (void)ctx;
    WT_CHECK(runs != NULL, "out of memory");
    for (int i = 0; runs != NULL && i < a->calls && failures == 0; i++) {
        wt_case_t c;
        wt_case_run_t *x;
        weft_status_t st;

        sk_draw(&s, weft_comm_size(w), &c);
        if (!wt_case_available(&c, w)) {
            continue;
        }
        if (c.nb == 0 || inflight == SK_WINDOW) {
            failures += sk_drain(runs, &inflight);
        }
        x = &runs[inflight];
        if (wt_case_setup(x, &c, w) != 0) {
            wt_case_free(x);
            failures++;
            break;
        }
        st = wt_case_start(x, w);
        if (st != WEFT_OK) {
            char desc[256];

            wt_case_desc(&c, x->size, desc, sizeof(desc));
            WT_CHECK(0, "rank %d: call %d: %s: returned %s (%s)", x->rank, i,
                     desc, weft_status_string(st), weft_last_error());
            wt_case_free(x);
            failures++;
            break;
        }
        inflight++;
        done++;
        if (c.nb == 0) {
            failures += sk_drain(runs, &inflight);
        }
    }
    failures += sk_drain(runs, &inflight);
    free(runs);
    WT_CHECK(failures == 0 && done > a->calls / 2,
             "%d failures, %d of %d calls run", failures, done, a->calls);
}

static int
sk_env(const char *name, int dflt)
{
    const char *v = getenv(name);

    return v != NULL && atoi(v) > 0 ? atoi(v) : dflt;
}

Test(coll_soak, thousands_of_mixed_collectives_stay_exact, .timeout = 7200)
{
    static const int ranks[] = {2, 4, 8};
    sk_args_t a = {sk_env("WT_SOAK_CALLS", 1000),
                   (uint64_t)sk_env("WT_SOAK_SEED", 1)};
    int longrun = getenv("WT_SOAK_CALLS") != NULL;

    for (int i = 0; i < 3; i++) {
        wt_job_t job = {.nranks = ranks[i],
                        .timeout_s = 60.0 + a.calls * 0.2,
                        .env = {"WEFT_LOG_LEVEL=error", NULL}};

        if (!longrun && ranks[i] != 4) {
            continue; /* make check: 4 ranks only */
        }
        cr_expect_eq(wt_run(&job, sk_body, &a), 0,
                     "%d ranks: %d mixed calls (seed %llu)", ranks[i],
                     a.calls, (unsigned long long)a.seed);
    }
}
