/*
 * ucx's isend_head / irecv_head (a message as a short head and a body,
 * gathered into and scattered out of UCX's buffers by generic datatypes),
 * driven through the ABI inside a 2-rank job. Over UCX's shared memory:
 * every split/whole combination with the plain isend and irecv, posted
 * and unexpected, bodies of 0 B to 1 MiB, truncation with guards past
 * both parts, every byte checked. Over UCX's tcp (measured slower that
 * way) both decline and post nothing. Skips when the module is not built.
 */
#include "build_config.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>

#include "context.h"
#include "harness.h"

#define HLEN  48
#define GUARD 4096

typedef struct uh_op {
    weft_tl_op_t op; /* first: the completion finds us from it */
    int done;
    weft_status_t status;
    size_t bytes;
} uh_op_t;

static void
uh_complete(weft_tl_op_t *op, weft_status_t status, size_t bytes)
{
    uh_op_t *o = (uh_op_t *)op;

    o->done++;
    o->status = status;
    o->bytes = bytes;
}

/* This rank's ucx transport and its link to the other rank. */
typedef struct uh_link {
    weft_context_t *ctx;
    const weft_tl_ops_t *ops;
    weft_tl_t *tl;
    weft_tl_ep_t *ep;
} uh_link_t;

static int
uh_link(weft_context_t *ctx, weft_comm_t *w, uh_link_t *l)
{
    int peer = 1 - weft_comm_rank(w);
    uint8_t b = 0;

    /* a message first, so that the link to the peer is made */
    if (weft_sendrecv(&b, 1, peer, 1, &b, 1, peer, 1, w) != WEFT_OK) {
        return 0;
    }
    l->ctx = ctx;
    l->ops = ctx->tls[ctx->peers[peer].tl].ops;
    l->tl = ctx->tls[ctx->peers[peer].tl].tl;
    l->ep = ctx->peers[peer].ep;
    return strcmp(l->ops->name, "ucx") == 0;
}

/* Progress ucx (under the context's lock) until o is done, or 20 s. */
static int
uh_wait(uh_link_t *l, uh_op_t *o)
{
    double end = wt_now() + 20;

    while (!o->done && wt_now() < end) {
        pthread_mutex_lock(&l->ctx->lock);
        l->ops->progress(l->tl);
        pthread_mutex_unlock(&l->ctx->lock);
    }
    return o->done;
}

typedef struct uh_case {
    int split_send, split_recv, unexpected;
    size_t len, room;
} uh_case_t;

/* Rank 1's receive: into head and body (split) or got. */
static void
uh_post_recv(uh_link_t *l, const uh_case_t *c, uint8_t *head, uint8_t *body,
             uint8_t *got, uint64_t tag, uh_op_t *o, const char *what)
{
    weft_status_t st;

    pthread_mutex_lock(&l->ctx->lock);
    st = c->split_recv ? l->ops->irecv_head(l->ep, head, HLEN, body,
                                            c->room - HLEN, tag, &o->op)
                       : l->ops->irecv(l->ep, got, c->room, tag, &o->op);
    pthread_mutex_unlock(&l->ctx->lock);
    WT_CHECK(st == WEFT_OK, "%s: receive posted: %d", what, (int)st);
}

/* Rank 0 sends c->len bytes, rank 1 receives into c->room. */
static void
uh_run(uh_link_t *l, weft_comm_t *w, const uh_case_t *c, int seq)
{
    int me = weft_comm_rank(w);
    size_t want = c->len < c->room ? c->len : c->room;
    uint64_t tag = 1000 + (uint64_t)seq; /* the kind 0 (p2p) of comm 0 */
    uint8_t *msg = malloc(c->len), *got = malloc(c->room + GUARD);
    uint8_t *head = malloc(HLEN + GUARD), *body = malloc(c->room + GUARD);
    uh_op_t o = {.op.complete = uh_complete};
    weft_status_t st;
    char what[128];

    snprintf(what, sizeof(what), "%zu into %zu (send %s, recv %s, %s)", c->len,
             c->room, c->split_send ? "split" : "whole",
             c->split_recv ? "split" : "whole",
             c->unexpected ? "unexpected" : "posted");
    WT_CHECK(msg != NULL && got != NULL && head != NULL && body != NULL,
             "memory");
    memset(got, 0xee, c->room + GUARD);
    memset(head, 0xee, HLEN + GUARD);
    memset(body, 0xee, c->room + GUARD);
    /* posted: the receive goes first, then the barrier lets the send go;
     * unexpected: the send goes first, and lands before the barrier ends */
    if (me == 1 && !c->unexpected) {
        uh_post_recv(l, c, head, body, got, tag, &o, what);
    }
    if (me == 0) {
        wt_fill(msg, c->len, 0, seq);
        pthread_mutex_lock(&l->ctx->lock);
        st = c->split_send ? l->ops->isend_head(l->ep, msg, HLEN, msg + HLEN,
                                                c->len - HLEN, tag, &o.op)
                           : l->ops->isend(l->ep, msg, c->len, tag, &o.op);
        pthread_mutex_unlock(&l->ctx->lock);
        WT_CHECK(st == WEFT_OK, "%s: send posted: %d", what, (int)st);
    }
    WT_OK(weft_barrier(w)); /* unexpected: the message is in UCX's queue
                             * (eager) or announced (rendezvous) by now */
    if (me == 1 && c->unexpected) {
        uh_post_recv(l, c, head, body, got, tag, &o, what);
    }
    WT_CHECK(uh_wait(l, &o), "%s: not done", what);
    WT_CHECK(o.done == 1, "%s: completed %d times", what, o.done);
    if (me == 0) {
        WT_CHECK(o.status == WEFT_OK && o.bytes == c->len,
                 "%s: the sender got %s, %zu bytes", what,
                 weft_status_string(o.status), o.bytes);
    } else {
        WT_CHECK(o.status == (c->len > c->room ? WEFT_ERR_TRUNCATED : WEFT_OK),
                 "%s: %s", what, weft_status_string(o.status));
        WT_CHECK(o.bytes == want, "%s: %zu bytes", what, o.bytes);
        if (c->split_recv) {
            memcpy(got, head, HLEN);
            memcpy(got + HLEN, body, c->room - HLEN);
            for (size_t i = 0; i < GUARD; i++) {
                WT_CHECK(
                    head[HLEN + i] == 0xee && body[c->room - HLEN + i] == 0xee,
                    "%s: written past the head or body (byte %zu)", what, i);
            }
        } else {
            for (size_t i = c->room; i < c->room + GUARD; i++) {
                WT_CHECK(got[i] == 0xee, "%s: past the buffer: byte %zu", what,
                         i);
            }
        }
        WT_CHECK(wt_verify(got, want, 0, seq) == want, "%s: byte %zu wrong",
                 what, wt_verify(got, want, 0, seq));
    }
    WT_OK(weft_barrier(w));
    free(msg);
    free(got);
    free(head);
    free(body);
}

/* Over UCX's tcp: both decline, and nothing was posted under their tag
 * (a plain message there is the first to match). */
static void
declined_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    uint8_t msg[HLEN + 16], head[HLEN], body[16];
    uh_op_t o = {.op.complete = uh_complete};
    uh_case_t plain = {0, 0, 0, HLEN + 16, HLEN + 16};
    weft_status_t st;
    uh_link_t l;

    (void)arg;
    if (!uh_link(ctx, w, &l)) {
        WT_CHECK(0, "the peer is not reached over ucx");
        return;
    }
    pthread_mutex_lock(&ctx->lock);
    st = weft_comm_rank(w) == 0
             ? l.ops->isend_head(l.ep, msg, HLEN, msg + HLEN, 16, 1005, &o.op)
             : l.ops->irecv_head(l.ep, head, HLEN, body, 16, 1005, &o.op);
    pthread_mutex_unlock(&ctx->lock);
    WT_CHECK(st == WEFT_INPROGRESS, "not declined: %d", (int)st);
    uh_run(&l, w, &plain, 5); /* tag 1005 */
    WT_CHECK(o.done == 0, "a declined op completed");
}

static void
every_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    static const size_t lens[] = {HLEN, HLEN + 1, 1000, 70000, (1u << 20) + 5};
    uh_link_t l;
    int seq = 0;

    (void)arg;
    if (!uh_link(ctx, w, &l)) {
        WT_CHECK(0, "the peer is not reached over ucx");
        return;
    }
    for (int k = 1; k < 4; k++) { /* at least one side split */
        for (int unexpected = 0; unexpected < 2; unexpected++) {
            for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
                uh_case_t c = {k & 1, (k >> 1) & 1, unexpected, lens[i],
                               lens[i]};

                uh_run(&l, w, &c, seq++);
                c.room = lens[i] + 100; /* more room than it fills */
                uh_run(&l, w, &c, seq++);
            }
        }
    }
    /* truncated: past the head alone, past head and body, by far */
    {
        static const uh_case_t cut[] = {{0, 1, 0, HLEN + 10, HLEN},
                                        {1, 1, 0, 500, 100},
                                        {1, 1, 1, 70000, 1000},
                                        {0, 1, 0, (1u << 20) + 5, 4096}};

        for (int i = 0; i < 4; i++) {
            uh_run(&l, w, &cut[i], seq++);
        }
    }
}

typedef struct uh_tls {
    char tls[8]; /* UCX_TLS (inline: parameters are copied) */
} uh_tls_t;

static uh_tls_t uh_tls[] = {{"tcp"}, {"sm"}};

ParameterizedTestParameters(tl_ucx_head, over_shared_memory_only)
{
    return cr_make_param_array(uh_tls_t, uh_tls, 2);
}

ParameterizedTest(uh_tls_t *t, tl_ucx_head, over_shared_memory_only,
                  .timeout = 120)
{
    char why[512], env[32];

    if (!wt_module_loadable("ucx", why, sizeof(why))) {
        cr_skip_test("transport ucx is not built here: %s", why);
    }
    snprintf(env, sizeof(env), "UCX_TLS=%s", t->tls);
    {
        wt_job_t job = {.nranks = 2,
                        .tl = "self,ucx",
                        .timeout_s = 100,
                        .env = {env, "UCX_NET_DEVICES=lo", "WEFT_TIMEOUT=30s"}};
        int sm = strcmp(t->tls, "sm") == 0;

        cr_assert_eq(wt_run(&job, sm ? every_body : declined_body, NULL), 0,
                     "UCX_TLS=%s", t->tls);
    }
}
