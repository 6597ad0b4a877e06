/*
 * The tcp transport's links, driven directly (helpers in
 * tl_tcp_helpers.c; part of the test_tl_tcp program): one link per pair,
 * set up lazily on first use. Pairs that connect from both ends at once,
 * progressed in random orders, end with one link (the lower rank's) and
 * every byte in order; a link one rank opened carries the other's
 * traffic too.
 */
#include "build_config.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "tl_tcp_helpers.h"
/* ---- one link per pair, set up lazily ---------------------------------- */

static unsigned
wt_rand(unsigned *state)
{
    *state = *state * 1103515245u + 12345u;
    return (*state >> 16) & 0x7fff;
}

typedef struct wt_sim_totals {
    unsigned waits;   /* the higher rank's rejected, it waited (a) */
    unsigned orphans; /* the higher rank's dropped in its handshake (b) */
} wt_sim_totals_t;

typedef struct wt_sim_msg {
    uint8_t *sbuf, *rbuf;
    wt_op_t s, r;
} wt_sim_msg_t;

/* Every rank sends two messages to every other before anyone progresses,
 * so every pair connects from both ends at once; then one rank at a time
 * is progressed, picked at random with random weights (connect and accept
 * processed in every order). One link per pair must come out, the lower
 * rank's, and every byte must arrive, in order (the second message is
 * received after the first, as an unexpected one). */
static void
wt_simultaneous(int n, unsigned seed, wt_sim_totals_t *tot)
{
    const size_t sizes[] = {8, 3000, wt_eager_default() + 1000};
    size_t len = sizes[seed % 3];
    unsigned state = seed * 7919u + 1, weight[WT_MAX_RANKS], wsum = 0;
    unsigned connects = 0, accepts = 0, drops = 0;
    static wt_sim_msg_t m[WT_MAX_RANKS][WT_MAX_RANKS][2];
    int left = 1;
    double deadline = weft__now() + 10.0;
    wt_tcp_job_t job;

    memset(m, 0, sizeof(m));
    wt_job_start(&job, n, NULL);
    for (int a = 0; a < n; a++) {
        weight[a] = 1 + wt_rand(&state) % 4;
        wsum += weight[a];
        for (int b = 0; b < n; b++) {
            for (int k = 0; k < 2 && a != b; k++) {
                wt_sim_msg_t *x = &m[a][b][k];

                x->sbuf = malloc(len);
                x->rbuf = calloc(1, len);
                wt_fill(x->sbuf, len, a, (int)seed * 16 + b * 2 + k);
                wt_send(&job, a, b, x->sbuf, len, 9, &x->s);
            }
            if (a != b) {
                wt_recv(&job, b, a, m[a][b][0].rbuf, len, 9, &m[a][b][0].r);
            }
        }
    }
    while (left > 0 && weft__now() < deadline) {
        unsigned pick = wt_rand(&state) % wsum;
        int who = 0;

        while (pick >= weight[who]) {
            pick -= weight[who++];
        }
        tcp->progress(job.r[who].tl);
        left = 0;
        for (int a = 0; a < n; a++) {
            for (int b = 0; b < n; b++) {
                wt_sim_msg_t *x = m[a][b];

                if (a != b && x[0].r.done && x[1].r.op.complete == NULL) {
                    wt_recv(&job, b, a, x[1].rbuf, len, 9, &x[1].r);
                }
                left += a != b && !(x[0].s.done && x[0].r.done && x[1].s.done &&
                                    x[1].r.done);
            }
        }
    }
    cr_assert_eq(left, 0, "%d ranks, seed %u, %zu bytes: not done", n, seed,
                 len);
    for (int a = 0; a < n; a++) {
        weft_tl_t *tl = job.r[a].tl;

        for (int b = 0; b < n; b++) {
            for (int k = 0; k < 2 && a != b; k++) {
                wt_sim_msg_t *x = &m[a][b][k];

                cr_assert(x->s.status == WEFT_OK && x->r.status == WEFT_OK);
                cr_assert_eq(
                    wt_verify(x->rbuf, len, a, (int)seed * 16 + b * 2 + k), len,
                    "%d ranks, seed %u: %d->%d message %d corrupted "
                    "or out of order",
                    n, seed, a, b, k);
                free(x->sbuf);
                free(x->rbuf);
            }
            cr_assert(a == b || wt_link_check(&job, a, b) == NULL,
                      "%d ranks, seed %u, %d-%d: %s", n, seed, a, b,
                      wt_link_check(&job, a, b));
            cr_assert(a == b || job.r[a].ep[b]->conn->own == (a < b),
                      "%d ranks, seed %u: the link %d-%d is the higher "
                      "rank's",
                      n, seed, a, b);
        }
        connects += tl->stats.connects;
        accepts += tl->stats.accepts;
        drops += tl->stats.sim_drops;
        tot->waits += tl->stats.sim_waits;
        tot->orphans += tl->stats.sim_drops - tl->stats.sim_waits;
    }
    /* one connection kept per pair; every other one was dropped */
    cr_assert_eq(accepts, n * (n - 1) / 2, "seed %u", seed);
    cr_assert_eq(connects - drops, n * (n - 1) / 2, "seed %u", seed);
    cr_assert(wt_no_failures(&job), "%d ranks, seed %u", n, seed);
    wt_job_stop(&job);
}

Test(tl_tcp, simultaneous_connects_two_ranks_every_order, .timeout = 30)
{
    wt_sim_totals_t tot = {0, 0};

    for (unsigned seed = 0; seed < 60; seed++) {
        wt_simultaneous(2, seed, &tot);
    }
    /* both ways of losing happened: rejected (then waited), dropped */
    cr_assert_gt(tot.waits, 0, "the higher rank was never rejected");
    cr_assert_gt(tot.orphans, 0, "the higher rank never dropped its own");
}

Test(tl_tcp, simultaneous_connects_four_ranks_every_order, .timeout = 30)
{
    wt_sim_totals_t tot = {0, 0};

    for (unsigned seed = 0; seed < 20; seed++) {
        wt_simultaneous(4, seed, &tot);
    }
    cr_assert_gt(tot.waits, 0, "the higher rank was never rejected");
    cr_assert_gt(tot.orphans, 0, "the higher rank never dropped its own");
}

/* The link rank 1 opened carries rank 0's traffic too: rank 0 never
 * connects, and eager and rendezvous messages cross in both directions at
 * once on the one socket (RTS, CTS and DATA of both interleaved), every
 * byte checked. */
Test(tl_tcp, link_opened_by_one_rank_is_used_both_ways, .timeout = 30)
{
    enum { N = 24 };
    const size_t eager = wt_eager_default();
    uint8_t *sbuf[2][N], *rbuf[2][N], hello[8] = "hello", in[8];
    wt_op_t s[2][N], r[2][N], hs, hr;
    weft__tcp_conn_t *link;
    size_t len[N];
    wt_tcp_job_t job;

    wt_job_start(&job, 2, NULL);
    wt_recv(&job, 0, 1, in, sizeof(in), 1, &hr);
    wt_send(&job, 1, 0, hello, sizeof(hello), 1, &hs);
    cr_assert(WT_WAIT(&job, hs.done && hr.done, 5.0));
    link = job.r[0].ep[1]->conn;
    cr_assert(link != NULL && !link->own, "rank 0's link is not rank 1's");
    for (int i = 0; i < N; i++) {
        len[i] = i % 4 == 3 ? eager + 1 + (size_t)i * 1000 : (size_t)i * 97;
        for (int k = 0; k < 2; k++) {
            sbuf[k][i] = malloc(len[i] + 1);
            rbuf[k][i] = calloc(1, len[i] + 1);
            wt_fill(sbuf[k][i], len[i], k, i);
            if (i % 2 == 0) {
                wt_recv(&job, 1 - k, k, rbuf[k][i], len[i], (uint64_t)i,
                        &r[k][i]);
            }
        }
    }
    for (int i = 0; i < N; i++) {
        wt_send(&job, 0, 1, sbuf[0][i], len[i], (uint64_t)i, &s[0][i]);
        wt_send(&job, 1, 0, sbuf[1][i], len[i], (uint64_t)i, &s[1][i]);
    }
    wt_progress_for(&job, 0.02);
    for (int i = 1; i < N; i += 2) {
        for (int k = 0; k < 2; k++) {
            wt_recv(&job, 1 - k, k, rbuf[k][i], len[i], (uint64_t)i, &r[k][i]);
        }
    }
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < 2; k++) {
            cr_assert(WT_WAIT(&job, s[k][i].done && r[k][i].done, 10.0),
                      "%d->%d message %d not done", k, 1 - k, i);
            cr_assert_eq(r[k][i].status, WEFT_OK);
            cr_assert_eq(r[k][i].bytes, len[i]);
            cr_assert_eq(wt_verify(rbuf[k][i], len[i], k, i), len[i],
                         "%d->%d message %d corrupted", k, 1 - k, i);
            free(sbuf[k][i]);
            free(rbuf[k][i]);
        }
    }
    cr_assert_eq(job.r[0].ep[1]->conn, link, "the link was replaced");
    cr_assert_null(wt_link_check(&job, 0, 1));
    cr_assert_eq(job.r[0].tl->stats.connects, 0, "rank 0 connected");
    cr_assert_eq(job.r[0].tl->stats.accepts, 1);
    cr_assert_eq(job.r[1].tl->stats.connects, 1);
    cr_assert_eq(job.r[1].tl->stats.accepts, 0);
    cr_assert(wt_no_failures(&job));
    wt_job_stop(&job);
}
