/*
 * Transport conformance over the public p2p API: one suite, instantiated
 * for every transport and several rank counts. Ranks exchange around a
 * ring (with one rank, a rank sends to itself through self).
 */
#include "build_config.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <weft.h>

#include "harness.h"
#include "tl_registry.h"

typedef struct tl_case {
    char tl[16]; /* inline: parameters are copied into the worker */
    int nranks;
    int nodes; /* > 1: split into "nodes" (shm inside, tcp between) */
    char sub[16]; /* modules: UCX_TLS (ucx) or FI_PROVIDER (ofi) */
} tl_case_t;

/* the eager limits of every transport are pinned to this in the job, so
 * the sizes below straddle the protocol boundary whatever the defaults */
#define EAGER 65536

static tl_case_t conformance_cases[] = {
    {"self", 1, 0, ""},
    {"tcp", 2, 0, ""},
    {"tcp", 3, 0, ""},
    {"tcp", 4, 0, ""},
    {"tcp", 8, 0, ""},
    {"shm", 2, 0, ""},
    {"shm", 3, 0, ""},
    {"shm", 4, 0, ""},
    {"shm", 8, 0, ""},
    {"shm,tcp", 4, 2, ""},
    /* the modules (skipped when not built): ucx over UCX's tcp and its
     * shared memory; ofi over libfabric's tcp (tcp;ofi_rxm) and shm
     * providers */
    {"ucx", 2, 0, "tcp"},
    {"ucx", 4, 0, "tcp"},
    {"ucx", 2, 0, "sm"},
    {"ucx", 3, 0, "sm"},
    {"ofi", 2, 0, "tcp"},
    {"ofi", 4, 0, "tcp"},
    {"ofi", 2, 0, "shm"},
    {"ofi", 4, 0, "shm"},
};

/* A module transport that is not built here skips the case, naming why
 * (make check puts the build tree's modules in WEFT_TL_MODULE_PATH). */
static void
skip_unless_loadable(const tl_case_t *c)
{
    char why[512];

    if (weft__tl_registry_is_module(c->tl) &&
        !wt_module_loadable(c->tl, why, sizeof(why))) {
        cr_skip_test("transport %s is not built here: %s", c->tl, why);
    }
}

static int
run(const tl_case_t *c, wt_rank_fn_t fn)
{
    char tl_sub[48];
    wt_job_t job = {.nranks = c->nranks,
                    .tl = c->tl,
                    .nodes = c->nodes,
                    .timeout_s = 120,
                    .env = {"WEFT_TCP_EAGER_LIMIT=64KiB",
                            "WEFT_SELF_EAGER_LIMIT=64KiB",
                            "WEFT_SHM_EAGER_LIMIT=64KiB",
                            "WEFT_SHM_RING_SIZE=512KiB"}};

    skip_unless_loadable(c);
    if (c->sub[0] != '\0') {
        int ucx = strcmp(c->tl, "ucx") == 0;

        snprintf(tl_sub, sizeof(tl_sub), "%s=%s",
                 ucx ? "UCX_TLS" : "FI_PROVIDER", c->sub);
        job.env[4] = tl_sub;
        job.env[5] = ucx ? "UCX_NET_DEVICES=lo" : "FI_TCP_IFACE=lo";
    }
    return wt_run(&job, fn, NULL);
}

#define NEXT(_w) ((weft_comm_rank(_w) + 1) % weft_comm_size(_w))
#define PREV(_w)                                                               \
    ((weft_comm_rank(_w) + weft_comm_size(_w) - 1) % weft_comm_size(_w))

/* One test of the suite: body run for every case of conformance_cases. */
#define CONFORMANCE_TEST(_name, _body, _timeout)                               \
    ParameterizedTestParameters(tl_conformance, _name)                         \
    {                                                                          \
        return cr_make_param_array(tl_case_t, conformance_cases,               \
                                   sizeof(conformance_cases) /                 \
                                       sizeof(conformance_cases[0]));          \
    }                                                                          \
    ParameterizedTest(tl_case_t *c, tl_conformance, _name,                     \
                      .timeout = _timeout)                                     \
    {                                                                          \
        cr_assert_eq(run(c, _body), 0, "%s%s%s with %d ranks", c->tl,          \
                     c->sub[0] ? "/" : "", c->sub, c->nranks);                 \
    }

/* ---- sizes around the protocol limits -------------------------------- */

static void
sizes_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    static const size_t sizes[] = {0,         1,           EAGER - 1,
                                   EAGER,     EAGER + 1,   (1 << 20) + 3,
                                   64u << 20};

    for (int i = 0; i < (int)(sizeof(sizes) / sizeof(sizes[0])); i++) {
        size_t n = sizes[i];
        uint8_t *out = malloc(n + 1), *in = malloc(n + 64);
        weft_request_t *r[2];
        size_t got = 12345;

        wt_fill(out, n, weft_comm_rank(w), i);
        memset(in, 0xee, n + 64);
        WT_OK(weft_irecv(in, n, PREV(w), i, w, &r[0]));
        WT_OK(weft_isend(out, n, NEXT(w), i, w, &r[1]));
        WT_OK(weft_waitall(2, r));
        WT_CHECK(wt_verify(in, n, PREV(w), i) == n,
                 "size %zu: byte %zu wrong", n, wt_verify(in, n, PREV(w), i));
        for (int g = 0; g < 64; g++) {
            WT_CHECK(in[n + g] == 0xee, "size %zu: written past the end", n);
        }
        /* the blocking forms, and the size reported by weft_recv */
        if (weft_comm_size(w) == 1) {
            /* a blocking send to self of a large message would wait for a
             * receive that is never posted: use the combined call */
            WT_OK(weft_sendrecv(out, n, 0, 100 + i, in, n + 64, 0, 100 + i,
                                w));
            got = n;
        } else if (weft_comm_rank(w) % 2 == 0) {
            WT_OK(weft_send(out, n, NEXT(w), 100 + i, w));
            WT_OK(weft_recv(in, n + 64, PREV(w), 100 + i, w, &got));
        } else {
            WT_OK(weft_recv(in, n + 64, PREV(w), 100 + i, w, &got));
            WT_OK(weft_send(out, n, NEXT(w), 100 + i, w));
        }
        WT_CHECK(got == n, "size %zu: weft_recv reported %zu", n, got);
        WT_CHECK(wt_verify(in, n, PREV(w), i) == n, "size %zu (blocking)", n);
        free(out);
        free(in);
    }
}

CONFORMANCE_TEST(sizes, sizes_body, 180)

/* ---- many outstanding requests ----------------------------------------- */

#define MANY 1000

static void
many_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    static uint32_t out[MANY], in[MANY];
    static weft_request_t *r[2 * MANY];

    for (int i = 0; i < MANY; i++) {
        out[i] = (uint32_t)(weft_comm_rank(w) * 100000 + i);
        in[i] = 0;
        WT_OK(weft_irecv(&in[i], sizeof(in[i]), PREV(w), i, w, &r[i]));
    }
    for (int i = 0; i < MANY; i++) {
        WT_OK(weft_isend(&out[i], sizeof(out[i]), NEXT(w), i, w,
                         &r[MANY + i]));
    }
    WT_OK(weft_waitall(2 * MANY, r));
    for (int i = 0; i < MANY; i++) {
        WT_CHECK(in[i] == (uint32_t)(PREV(w) * 100000 + i),
                 "message %d: got %u", i, in[i]);
    }
}

CONFORMANCE_TEST(many_outstanding, many_body, 120)

/* ---- blocking sends behind nonblocking ones, one tag ------------------ */

/* Large nonblocking sends (past the eager limit) and small blocking ones
 * (which a transport may push out at once: weft_tl_ops_t.inject) on one
 * tag: the receiver, whose receives are all posted first, gets them in
 * the order sent; a blocking send that overtook a pending one would land
 * in the buffer of another message (each message's bytes name it). */
static void
order_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    enum { NO = 24 };
    static uint8_t out[NO][EAGER + 10], in[NO][EAGER + 10];
    weft_request_t *r[2 * NO];
    int nr = 0;

    (void)ctx;
    (void)arg;
    for (int i = 0; i < NO; i++) {
        WT_OK(weft_irecv(in[i], sizeof(in[i]), PREV(w), 5, w, &r[i]));
    }
    WT_OK(weft_barrier(w)); /* every receive is posted */
    for (int i = 0; i < NO; i++) {
        size_t n = i % 3 == 0 ? sizeof(out[i]) : (size_t)(8 + i);

        wt_fill(out[i], n, weft_comm_rank(w), i);
        if (i % 3 == 0) {
            WT_OK(weft_isend(out[i], n, NEXT(w), 5, w, &r[NO + nr++]));
        } else {
            WT_OK(weft_send(out[i], n, NEXT(w), 5, w));
        }
    }
    WT_OK(weft_waitall((size_t)nr, r + NO));
    WT_OK(weft_waitall(NO, r));
    for (int i = 0; i < NO; i++) {
        size_t n = i % 3 == 0 ? sizeof(out[i]) : (size_t)(8 + i);

        WT_CHECK(wt_verify(in[i], n, PREV(w), i) == n,
                 "message %d (%zu bytes) is not the one sent %d-th", i, n, i);
    }
}

CONFORMANCE_TEST(blocking_sends_keep_order, order_body, 120)

/* ---- tags: out of order, and FIFO within one tag -------------------------- */

static void
tags_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    enum { NT = 16, NF = 100 };
    static uint8_t big_out[NT][EAGER + 10], big_in[NT][EAGER + 10];
    uint32_t fifo_out[NF], fifo_in[NF];
    weft_request_t *r[NT + NF];

    /* receives posted in reverse tag order; sizes straddle the eager
     * limit so both protocols are crossed */
    for (int t = NT - 1; t >= 0; t--) {
        WT_OK(weft_irecv(big_in[t], sizeof(big_in[t]), PREV(w), t, w, &r[t]));
    }
    for (int t = 0; t < NT; t++) {
        size_t n = t % 2 ? sizeof(big_out[t]) : 100;

        wt_fill(big_out[t], n, weft_comm_rank(w), t);
        WT_OK(weft_send(big_out[t], n, NEXT(w), t, w));
    }
    WT_OK(weft_waitall(NT, r));
    for (int t = 0; t < NT; t++) {
        size_t n = t % 2 ? sizeof(big_out[t]) : 100;

        WT_CHECK(wt_verify(big_in[t], n, PREV(w), t) == n, "tag %d", t);
    }
    /* one tag, many messages: received in the order sent */
    for (int i = 0; i < NF; i++) {
        fifo_out[i] = (uint32_t)i;
        WT_OK(weft_isend(&fifo_out[i], sizeof(uint32_t), NEXT(w), 7, w,
                         &r[i]));
    }
    for (int i = 0; i < NF; i++) {
        WT_OK(weft_recv(&fifo_in[i], sizeof(uint32_t), PREV(w), 7, w, NULL));
        WT_CHECK(fifo_in[i] == (uint32_t)i, "fifo: message %d came as %u", i,
                 fifo_in[i]);
    }
    WT_OK(weft_waitall(NF, r));
}

CONFORMANCE_TEST(out_of_order_tags, tags_body, 120)

/* ---- truncation: the receiver gets a prefix and an error ------------------ */

static void
truncation_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    static const size_t sizes[] = {100, EAGER + 100, (1 << 20) + 7};
    enum { CAP = 50 };

    for (int i = 0; i < 3; i++) {
        size_t n = sizes[i];
        uint8_t *out = malloc(n), in[CAP + 16];
        weft_request_t *rs, *rr;
        weft_status_t st;

        wt_fill(out, n, weft_comm_rank(w), i);
        memset(in, 0xee, sizeof(in));
        WT_OK(weft_irecv(in, CAP, PREV(w), i, w, &rr));
        WT_OK(weft_isend(out, n, NEXT(w), i, w, &rs));
        st = weft_wait(rr);
        WT_CHECK(st == WEFT_ERR_TRUNCATED, "size %zu: receive returned %s", n,
                 weft_status_string(st));
        WT_OK(weft_wait(rs)); /* the sender is not at fault */
        WT_CHECK(wt_verify(in, CAP, PREV(w), i) == CAP, "size %zu: prefix", n);
        for (int g = CAP; g < CAP + 16; g++) {
            WT_CHECK(in[g] == 0xee, "size %zu: byte %d past the buffer", n, g);
        }
        free(out);
    }
    /* truncation is not fatal: the communicator still works */
    {
        uint32_t a = 42, b = 0;

        WT_OK(weft_sendrecv(&a, 4, NEXT(w), 99, &b, 4, PREV(w), 99, w));
        WT_CHECK(b == 42, "after truncation: got %u", b);
        WT_CHECK(weft_comm_error(w, NULL, NULL) == WEFT_OK,
                 "truncation made the comm fail");
    }
}

CONFORMANCE_TEST(truncation, truncation_body, 120)

/* ---- unexpected messages: the send arrives before the receive ------------- */

static void
unexpected_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    static const size_t sizes[] = {8, EAGER, 4u << 20};
    static uint8_t out[3][4u << 20], in[3][4u << 20];
    weft_request_t *r[3];

    for (int i = 0; i < 3; i++) {
        wt_fill(out[i], sizes[i], weft_comm_rank(w), i);
        WT_OK(weft_isend(out[i], sizes[i], NEXT(w), i, w, &r[i]));
    }
    usleep(100 * 1000); /* let them arrive unmatched */
    for (int i = 2; i >= 0; i--) {
        WT_OK(weft_recv(in[i], sizes[i], PREV(w), i, w, NULL));
        WT_CHECK(wt_verify(in[i], sizes[i], PREV(w), i) == sizes[i],
                 "size %zu", sizes[i]);
    }
    WT_OK(weft_waitall(3, r));
}

CONFORMANCE_TEST(unexpected_first, unexpected_body, 120)

/* ---- weft_test polling loop ----------------------------------------------- */

static void
test_poll_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    static uint8_t out[1 << 20], in[1 << 20];
    weft_request_t *rr, *rs;
    int done_r = 0, done_s = 0, spins = 0;

    wt_fill(out, sizeof(out), weft_comm_rank(w), 3);
    WT_OK(weft_irecv(in, sizeof(in), PREV(w), 3, w, &rr));
    WT_OK(weft_isend(out, sizeof(out), NEXT(w), 3, w, &rs));
    while (!done_r || !done_s) {
        if (!done_r) {
            WT_OK(weft_test(rr, &done_r));
        }
        if (!done_s) {
            WT_OK(weft_test(rs, &done_s));
        }
        if (++spins % 1000 == 0) {
            usleep(100);
        }
        if (spins > 50 * 1000 * 1000) {
            WT_CHECK(0, "weft_test never completed");
            return;
        }
    }
    WT_CHECK(wt_verify(in, sizeof(in), PREV(w), 3) == sizeof(in), "data");
}

CONFORMANCE_TEST(test_polling, test_poll_body, 120)
