/*
 * Choosing between two forms of a node-local call by measuring them (see
 * shm_form.h).
 */
#include "build_config.h"
#include "collectives/algos/shm_form.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "log.h"

/* Each form is tried this many times per size class before the faster is
 * preferred. */
#define FORM_WARM 2
/* Weight of a new time in the smoothed one. */
#define FORM_ALPHA 0.25

static weft__shm_form_stat_t *
form_stat(weft__shm_area_t *ar, int kind, size_t bytes)
{
    int b = 0;

    for (size_t v = bytes >> 14; v > 0 && b < WEFT_SHM_FORM_BUCKETS - 1;
         v >>= 1) {
        b++;
    }
    return &ar->form[kind][b];
}

/* The faster form so far, or -1 while either is still being tried. */
static int
form_best(const weft__shm_form_stat_t *st)
{
    if (st->n[0] < FORM_WARM || st->n[1] < FORM_WARM) {
        return -1;
    }
    return st->spb[1] < st->spb[0] ? 1 : 0;
}

/* The other form is tried on one call in FORM_EXPLORE, or in
 * FORM_EXPLORE * (r - 1) where it measured r > 2 times slower (up to 9: a
 * single slow try, a time slice lost, must not bar it for long): a try
 * costs at most 1/FORM_EXPLORE of the calls' time. Which calls, from a
 * hash of the call's number. */
#define FORM_EXPLORE 64

static int
form_explores(const weft__shm_form_stat_t *st, int best, uint64_t d)
{
    double r = st->spb[1 - best] / st->spb[best];
    double every = FORM_EXPLORE * (r > 9 ? 8 : r > 2 ? r - 1 : 1);

    return (double)(d * 0x9E3779B97F4A7C15ull) < 18446744073709551616.0 / every;
}

static int
form_propose(const weft__shm_form_stat_t *st, uint64_t d)
{
    int best = form_best(st);

    if (best < 0) {
        return st->n[1] < st->n[0] ? 1 : 0;
    }
    return form_explores(st, best, d) ? 1 - best : best;
}

int
weft__shmc_form(weft__shmc_t *c, int kind, size_t bytes, uint64_t pieces,
                int *first_p)
{
    weft__shm_area_t *ar = c->ar;
    _Atomic uint64_t *word = &ar->ctl[0]->form[c->d % WEFT_SHM_FORM_SLOTS];
    uint64_t v;

    *first_p = 0;
    if (c->d >= ar->call.first && c->d < ar->call.end) {
        return ar->call.form; /* a later piece, or a later look */
    }
    v = atomic_load_explicit(word, memory_order_acquire);
    if (v >> 2 < c->d) {
        uint64_t mine = c->d << 2 | (uint64_t)form_propose(
                                        form_stat(ar, kind, bytes), c->d);

        if (atomic_compare_exchange_strong_explicit(
                word, &v, mine, memory_order_acq_rel, memory_order_acquire)) {
            v = mine;
        }
    }
    if (v >> 2 != c->d) {
        snprintf(c->why, sizeof(c->why),
                 "the form of node-local call %llu is taken by call %llu: "
                 "the members' calls differ",
                 (unsigned long long)c->d, (unsigned long long)(v >> 2));
        return -1;
    }
    ar->call.first = c->d;
    ar->call.end = c->d + (pieces > 0 ? pieces : 1);
    ar->call.kind = kind;
    ar->call.form = (int)(v & 1);
    ar->call.bytes = bytes;
    ar->call.t0 = weft__now();
    *first_p = 1;
    return ar->call.form;
}

void
weft__shmc_form_done(weft__shmc_t *c, int form)
{
    const weft__shm_form_call_t *k = &c->ar->call;
    weft__shm_form_stat_t *st = form_stat(c->ar, k->kind, k->bytes);
    double spb = (weft__now() - k->t0) / (double)(k->bytes ? k->bytes : 1);

    /* the form taken most smooths its figure, a call at most twice as
     * slow as the figure counting (one that lost a time slice would
     * count tens of times); the other one's, taken rarely, is replaced (a
     * stale figure would hold on for dozens of tries: the first calls
     * through fresh shared buffers fault their pages in, measured here
     * at 20 times their later time per byte) */
    if (st->n[form] > 0 && form == form_best(st)) {
        if (spb > 2 * st->spb[form]) {
            spb = 2 * st->spb[form];
        }
        st->spb[form] += FORM_ALPHA * (spb - st->spb[form]);
    } else {
        st->spb[form] = spb;
    }
    if (st->n[form] < UINT32_MAX) {
        st->n[form]++;
    }
}

int
weft__shmc_form_run(weft__shmc_t *c, int measured, int kind, size_t bytes,
                    int (*buffers)(weft__shmc_t *c),
                    int (*read)(weft__shmc_t *c, char *why, size_t why_len),
                    char *why, size_t why_len)
{
    int rc, first;

    if (measured) {
        int form = weft__shmc_form(c, kind, bytes, 1, &first);

        if (form < 0) {
            return weft__shmc_result(c, WEFT_ERR_MISMATCH, why, why_len);
        }
        c->pipe = form == WEFT_SHM_FORM_BUFFERS;
    }
    rc = c->pipe ? buffers(c) : read(c, why, why_len);
    if (rc == 1 && measured) {
        weft__shmc_form_done(c, c->pipe ? WEFT_SHM_FORM_BUFFERS
                                        : WEFT_SHM_FORM_READS);
    }
    /* a disagreement found on the way keeps its reason */
    return weft__shmc_result(c, rc, why, why_len);
}

void *
weft__shmc_form_scratch(weft__shm_area_t *ar, size_t n)
{
    if (ar->tmp_bytes < n) {
        void *p = realloc(ar->tmp, n);

        if (p == NULL) {
            return NULL;
        }
        ar->tmp = p;
        ar->tmp_bytes = n;
    }
    return ar->tmp;
}

void
weft__shmc_form_report(const weft__shm_area_t *ar, unsigned comm_id)
{
    static const char *const kinds[WEFT_SHM_FORM_KINDS] = {
        "allreduce", "allgather", "alltoall", "broadcast"};

    for (int k = 0; k < WEFT_SHM_FORM_KINDS; k++) {
        for (int b = 0; b < WEFT_SHM_FORM_BUCKETS; b++) {
            const weft__shm_form_stat_t *st = &ar->form[k][b];

            if (st->n[0] + st->n[1] > 0) {
                weft__log_info(WEFT_SUB_COLL,
                               "comm %u: %s from %zu KiB: through the "
                               "buffers %.3f ns/B (%u calls), reading %.3f "
                               "ns/B (%u)",
                               comm_id, kinds[k], (size_t)8 << b,
                               st->spb[0] * 1e9, st->n[0], st->spb[1] * 1e9,
                               st->n[1]);
            }
        }
    }
}
