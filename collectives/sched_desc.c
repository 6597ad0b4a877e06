/*
 * Call descriptors in the schedule engine: every collective tells each
 * peer what it called (collective, count, dtype, op, root, sequence)
 * before or with its first message, so that ranks that disagree fail with
 * WEFT_ERR_MISMATCH naming both calls instead of exchanging wrong data or
 * hanging, and so that a timeout can name the ranks that had not arrived.
 */
#include "build_config.h"
#include "collectives/sched_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "errmsg.h"

void
weft__sched_set_desc(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft__coll_desc_make(&s->desc, a, s->user_dtype, s->user_op);
    s->has_desc = s->comm->ctx->cfg.coll.check_mismatch;
}

void
weft__sched_desc_withdraw(weft__sched_t *s, int sends_too)
{
    weft_context_t *ctx = s->comm->ctx;

    for (int i = 0; i < s->ndescs; i++) {
        sched_desc_t *d = &s->descs[i];

        if (d->posted && (sends_too || !d->send)) {
            ctx->tls[d->tl].ops->cancel(d->ep, &d->op);
            ctx->tls[d->tl].inflight--;
            d->posted = 0;
            if (d->send) {
                s->desc_sends--;
            }
        }
    }
}

int
weft__sched_desc_check(weft__sched_t *s, int peer, const uint8_t *wire,
                       size_t bytes, int exact)
{
    weft__coll_desc_t theirs;
    uint32_t seq = 0;
    char mine_txt[96], their_txt[96];

    if (bytes < WEFT_COLL_DESC_WIRE ||
        (exact && bytes != WEFT_COLL_DESC_WIRE) ||
        weft__coll_desc_decode(wire, &theirs, &seq) != 0) {
        s->desc_status = WEFT_ERR_PROTOCOL;
        snprintf(s->desc_why, sizeof(s->desc_why),
                 "rank %d sent a malformed call descriptor (%zu bytes)", peer,
                 bytes);
        return 0;
    }
    if (weft__coll_desc_equal(&theirs, &s->desc) &&
        theirs.hist == s->desc.hist) {
        return 1;
    }
    if (weft__coll_desc_equal(&theirs, &s->desc)) {
        /* the same call, after different ones: the call before differed
         * where its data could not show it (two ranks that each took
         * themselves for a broadcast's root returned with their own);
         * found here, at the next call, for lack of anything sooner */
        weft__coll_desc_t mp = {{s->desc.prev[0], s->desc.prev[1]}, 0, {0}};
        weft__coll_desc_t tp = {{theirs.prev[0], theirs.prev[1]}, 0, {0}};

        weft__coll_desc_text(&mp, mine_txt, sizeof(mine_txt));
        weft__coll_desc_text(&tp, their_txt, sizeof(their_txt));
        s->desc_status = WEFT_ERR_MISMATCH;
        snprintf(s->desc_why, sizeof(s->desc_why),
                 "mismatch: rank %d called %s (its collective #%u on comm "
                 "%u) where rank %d called %s (#%u), found at the next "
                 "call",
                 peer, their_txt, seq - 1, s->comm->id, s->comm->rank, mine_txt,
                 s->desc_seq - 1);
        return 0;
    }
    weft__coll_desc_text(&s->desc, mine_txt, sizeof(mine_txt));
    weft__coll_desc_text(&theirs, their_txt, sizeof(their_txt));
    s->desc_status = WEFT_ERR_MISMATCH;
    snprintf(s->desc_why, sizeof(s->desc_why),
             "mismatch: rank %d called %s (its collective #%u on comm %u) "
             "where rank %d called %s (#%u)",
             peer, their_txt, seq, s->comm->id, s->comm->rank, mine_txt,
             s->desc_seq);
    return 0;
}

/* A descriptor sent or received (inside a transport's progress: only
 * record; sched_advance acts on it). */
static void
sched_desc_complete(weft_tl_op_t *op, weft_status_t status, size_t bytes)
{
    sched_desc_t *d = weft__container_of(op, sched_desc_t, op);
    weft__sched_t *s = d->s;

    s->comm->ctx->tls[d->tl].inflight--;
    if (!d->posted) {
        return;
    }
    d->posted = 0;
    s->news = 1;
    s->comm->ctx->sched_news = 1;
    if (d->send) {
        s->desc_sends--;
    } else {
        s->desc_recvs--;
    }
    if (s->desc_status != WEFT_OK) {
        return;
    }
    if (status != WEFT_OK) {
        s->desc_status = status;
        snprintf(s->desc_why, sizeof(s->desc_why),
                 "exchanging the call's descriptor with rank %d: %s", d->peer,
                 weft_status_string(status));
        return;
    }
    if (!d->send) {
        weft__sched_desc_check(s, d->peer, d->wire, bytes, 1);
    }
}

/* The first send to and recv from each peer: small ones carry the
 * descriptor in front (pack, a scratch buffer); for the others need[] is
 * set to 2: a descriptor message of its own. need[] holds 1 for a peer
 * not decided yet, 0 for none. */
static void
sched_desc_pack(weft__sched_t *s, uint8_t *need_send, uint8_t *need_recv)
{
    for (int i = 0; i < s->nsteps; i++) {
        sched_step_t *st = &s->steps[i];
        int send = st->kind == WEFT_STEP_SEND;
        uint8_t *need = send ? need_send : need_recv;

        if ((!send && st->kind != WEFT_STEP_RECV) || need[st->peer] != 1) {
            continue;
        }
        need[st->peer] = 2;
        if (st->n > SCHED_DESC_PACK_MAX) {
            continue;
        }
        st->pack = weft__sched_scratch(
            s, WEFT_COLL_DESC_WIRE + (send ? st->n : SCHED_DESC_PACK_MAX));
        if (st->pack != NULL) { /* else a message of its own */
            need[st->peer] = 0;
        }
    }
}

/* Send this call's descriptor to every peer the schedule sends to, and
 * expect one from every peer it receives from: in front of the first
 * message when that is small, else as a message of its own before it, so
 * a receiver checks it first. */
weft_status_t
weft__sched_desc_post(weft__sched_t *s)
{
    weft_comm_t *comm = s->comm;
    weft_context_t *ctx = comm->ctx;
    uint64_t tag = weft__comm_tag(comm, WEFT_TAG_KIND_DESC, s->seq);
    uint8_t *need = calloc(2 * (size_t)comm->size, 1);
    weft_status_t st = WEFT_OK;
    int n = 0;

    if (need == NULL) {
        return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_COLL,
                           "%s: out of memory", s->what);
    }
    for (int p = 0; p < comm->size; p++) {
        need[p] = s->nsend[p] > 0;
        need[comm->size + p] = s->nrecv[p] > 0;
    }
    /* two ranks: the peer's first message says it arrived, whatever it
     * carries. More: a peer's first message to this rank may wait on a
     * third rank, and only a descriptor sent at the start tells this rank
     * who has arrived (timeouts name the ones that had not) */
    if (comm->size == 2) {
        sched_desc_pack(s, need, need + comm->size);
    }
    for (int p = 0; p < 2 * comm->size; p++) {
        need[p] = need[p] != 0 ? 2 : 0; /* not packed: a message of its own */
        n += need[p] == 2;
    }
    if (n > 0 && (s->descs = calloc((size_t)n, sizeof(*s->descs))) == NULL) {
        free(need);
        return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_COLL,
                           "%s: out of memory", s->what);
    }
    for (int p = 0; p < comm->size && st == WEFT_OK; p++) {
        for (int send = 1; send >= 0 && st == WEFT_OK; send--) {
            sched_desc_t *d = &s->descs[s->ndescs];

            if (need[(send ? 0 : comm->size) + p] != 2) {
                continue;
            }
            s->ndescs++;
            d->s = s;
            d->peer = p;
            d->send = send;
            d->op.complete = sched_desc_complete;
            st =
                weft__ctx_ep(ctx, weft__comm_job_rank(comm, p), &d->tl, &d->ep);
            if (st != WEFT_OK) {
                break;
            }
            d->posted = 1;
            ctx->tls[d->tl].inflight++; /* before: it may complete inside */
            if (send) {
                s->desc_sends++;
                weft__coll_desc_encode(&s->desc, s->desc_seq, d->wire);
                st = ctx->tls[d->tl].ops->isend(d->ep, d->wire, sizeof(d->wire),
                                                tag, &d->op);
            } else {
                s->desc_recvs++;
                st = ctx->tls[d->tl].ops->irecv(d->ep, d->wire, sizeof(d->wire),
                                                tag, &d->op);
            }
            if (st < 0 && d->posted) {
                ctx->tls[d->tl].inflight--;
                d->posted = 0;
                s->desc_sends -= send;
                s->desc_recvs -= !send;
            }
            st = st < 0 ? st : WEFT_OK;
        }
    }
    free(need);
    return st;
}

void
weft__sched_list_peer(char *buf, size_t len, size_t *off, int n, int peer)
{
    if (buf == NULL || *off >= len || n > SCHED_LIST_MAX) {
        return;
    }
    *off += (size_t)(n == SCHED_LIST_MAX
                         ? snprintf(buf + *off, len - *off, ", ...")
                         : snprintf(buf + *off, len - *off, "%s%d",
                                    n ? ", " : "", peer));
}

int
weft__sched_not_arrived(const weft__sched_t *s, char *buf, size_t len)
{
    size_t off = 0;
    int n = 0;

    if (len > 0) {
        buf[0] = '\0';
    }
    for (int i = 0; i < s->ndescs + s->nsteps; i++) {
        int peer;

        if (i < s->ndescs) {
            const sched_desc_t *d = &s->descs[i];

            if (!d->posted || d->send) {
                continue;
            }
            peer = d->peer;
        } else {
            const sched_step_t *st = &s->steps[i - s->ndescs];

            if (st->pack == NULL || st->kind != WEFT_STEP_RECV ||
                st->state == STEP_DONE) {
                continue;
            }
            peer = st->peer;
        }
        weft__sched_list_peer(buf, len, &off, n++, peer);
    }
    return n;
}
