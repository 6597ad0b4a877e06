/*
 * K/V rotation around the ring: double-buffered streams, one per
 * direction, whose next round is posted before the current block is
 * computed.
 */
#include "ml/ring_internal.h"

#include <stdlib.h>
#include <string.h>

#include "ml/ml_util.h"

int
weft__ring_peer(const ring_setup_t *s, int hops)
{
    return (int)(((long)s->rank + hops % s->size + s->size) % s->size);
}

weft_status_t
weft__ring_kv_init(ring_kv_t *kv, const ring_setup_t *s,
                   const weft_ring_attn_params_t *p, const void *k,
                   const void *v)
{
    int two_way = p->mode == WEFT_RING_TWO_WAY;
    int rounds[2] = {two_way ? s->size / 2 : s->size - 1,
                     two_way ? (s->size - 1) / 2 : 0};
    size_t nbuf = 1;

    memset(kv, 0, sizeof(*kv));
    kv->k_bytes = p->rows * s->kv_row * s->esize;
    kv->bytes = 2 * kv->k_bytes;
    for (int i = 0; i < 2; i++) {
        if (rounds[i] > 0) {
            ring_stream_t *st = &kv->st[kv->nst++];

            st->nrounds = rounds[i];
            st->dir = i == 0 ? 1 : -1;
            st->tag = RING_TAG_BASE + i;
            nbuf += rounds[i] > 1 ? 2 : 1;
        }
    }
    kv->mem = malloc(nbuf * kv->bytes);
    if (kv->mem == NULL) {
        return weft_log_error(WEFT_ERR_NO_MEMORY, WEFT_LOG_WARN, WEFT_SUB_ML,
                              "ring attention: no memory for %zu K/V "
                              "blocks of %zu bytes",
                              nbuf, kv->bytes);
    }
    kv->local = kv->mem;
    memcpy(kv->local, k, kv->k_bytes);
    memcpy((char *)kv->local + kv->k_bytes, v, kv->k_bytes);
    char *next = (char *)kv->mem + kv->bytes;
    for (int i = 0; i < kv->nst; i++) {
        ring_stream_t *st = &kv->st[i];

        st->buf[1] = next;
        next += kv->bytes;
        st->buf[0] = st->nrounds > 1 ? next : NULL;
        next += st->nrounds > 1 ? kv->bytes : 0;
    }
    return WEFT_OK;
}

const char *
weft__ring_kv_block(const ring_kv_t *kv, int i, int t)
{
    return t == 0 ? kv->local : kv->st[i].buf[t & 1];
}

int
weft__ring_kv_src(const ring_kv_t *kv, const ring_setup_t *s, int i, int t)
{
    return weft__ring_peer(s, -kv->st[i].dir * t);
}

static void
kv_done(void *arg, weft_status_t status)
{
    (void)status;
    *(double *)arg = weft__ring_now();
}

static weft_status_t
kv_track(weft_request_t *req, double *done_s)
{
    *done_s = 0.0;
    return weft_request_on_complete(req, kv_done, done_s);
}

weft_status_t
weft__ring_kv_post(ring_kv_t *kv, const ring_setup_t *s, weft_comm_t *comm,
                   int t)
{
    for (int i = 0; i < kv->nst; i++) {
        ring_stream_t *st = &kv->st[i];

        if (t + 1 > st->nrounds) {
            continue;
        }
        st->posted_s = weft__ring_now();
        WEFT_ML_CHECK(weft_irecv(st->buf[(t + 1) & 1], kv->bytes,
                                 weft__ring_peer(s, -st->dir), st->tag, comm,
                                 &st->req[0]));
        WEFT_ML_CHECK(kv_track(st->req[0], &st->done_s[0]));
        WEFT_ML_CHECK(weft_isend(weft__ring_kv_block(kv, i, t), kv->bytes,
                                 weft__ring_peer(s, st->dir), st->tag, comm,
                                 &st->req[1]));
        WEFT_ML_CHECK(kv_track(st->req[1], &st->done_s[1]));
    }
    return WEFT_OK;
}

void
weft__ring_kv_poll(ring_kv_t *kv)
{
    for (int i = 0; i < kv->nst; i++) {
        for (int j = 0; j < 2; j++) {
            ring_stream_t *rs = &kv->st[i];
            int done = 0;
            weft_status_t st;

            if (rs->req[j] == NULL) {
                continue;
            }
            st = weft_test(rs->req[j], &done);
            if (done) {
                rs->req[j] = NULL;
                rs->status = rs->status == WEFT_OK ? st : rs->status;
            }
        }
    }
}

weft_status_t
weft__ring_kv_wait(ring_kv_t *kv, const ring_setup_t *s)
{
    weft_status_t st = WEFT_OK;
    double t0 = weft__ring_now(), end = 0.0, posted = 0.0;
    int any = 0;

    for (int i = 0; i < kv->nst; i++) {
        ring_stream_t *rs = &kv->st[i];

        if (rs->posted_s == 0.0) {
            continue; /* nothing posted since the last wait */
        }
        any = 1;
        weft_status_t w = weft_waitall(2, rs->req);

        rs->req[0] = rs->req[1] = NULL;
        st = st == WEFT_OK ? rs->status : st;
        st = st == WEFT_OK ? w : st;
        rs->status = WEFT_OK;
        for (int j = 0; j < 2; j++) {
            end = rs->done_s[j] > end ? rs->done_s[j] : end;
        }
        posted = posted == 0.0 || rs->posted_s < posted ? rs->posted_s : posted;
        rs->posted_s = 0.0;
    }
    if (any && s->stats != NULL) {
        s->stats->wait_s += weft__ring_now() - t0;
        s->stats->transfer_s += end - posted;
        s->stats->rounds++;
    }
    return st;
}

void
weft__ring_kv_free(ring_kv_t *kv)
{
    for (int i = 0; i < kv->nst; i++) {
        weft_request_free(kv->st[i].req[0]);
        weft_request_free(kv->st[i].req[1]);
        kv->st[i].req[0] = kv->st[i].req[1] = NULL;
    }
    free(kv->mem);
    kv->mem = NULL;
}
