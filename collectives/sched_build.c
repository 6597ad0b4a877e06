/*
 * The schedule engine, building: a schedule and its steps, dependencies
 * and fences, scratch, and what tests and the mismatch check read back
 * (sched.c runs them).
 */
#include "build_config.h"
#include "collectives/sched.h"

#include <stdlib.h>
#include <string.h>

#include "collectives/sched_int.h"
#include "collectives/scratch.h"
#include "context.h"
#include "errmsg.h"

/* ---- building ---- */

weft_status_t
weft__sched_create(weft_comm_t *comm, weft_dtype_t dtype, weft_op_t op,
                   const char *algo, weft__sched_t **s_p)
{
    weft__sched_t *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_COLL,
                           "out of memory for a collective schedule");
    }
    s->comm = comm;
    s->failed_step = -1;
    s->dtype = s->user_dtype = dtype;
    s->op = s->user_op = op;
    s->algo = algo;
    s->nsend = calloc((size_t)comm->size, sizeof(*s->nsend));
    s->nrecv = calloc((size_t)comm->size, sizeof(*s->nrecv));
    if (s->nsend == NULL || s->nrecv == NULL) {
        weft__sched_free(s);
        return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_COLL,
                           "out of memory for a collective schedule of %d "
                           "ranks",
                           comm->size);
    }
    *s_p = s;
    return WEFT_OK;
}

void
weft__sched_free(weft__sched_t *s)
{
    if (s == NULL) {
        return;
    }
    if (s->ops != NULL) {
        for (int i = 0; i < s->nsteps; i++) {
            free(s->ops[i]);
        }
    }
    for (int i = 0; i < s->nscratch; i++) {
        weft__scratch_put(&s->comm->ctx->scratch, s->scratch[i],
                          s->scratch_size[i]);
    }
    free(s->scratch);
    free(s->scratch_size);
    free(s->descs);
    free(s->ops);
    free(s->parts);
    free(s->nsend);
    free(s->nrecv);
    free(s->steps);
    free(s);
}

static sched_step_t *
sched_add(weft__sched_t *s, weft__step_kind_t kind, int *idx_p)
{
    sched_step_t *st;

    *idx_p = -1;
    if (s->nomem) {
        return NULL;
    }
    if (s->nsteps == s->cap) {
        int cap = s->cap ? 2 * s->cap : 32;
        sched_step_t *steps = realloc(s->steps, (size_t)cap * sizeof(*steps));

        if (steps == NULL) {
            s->nomem = 1;
            return NULL;
        }
        s->steps = steps;
        s->cap = cap;
    }
    *idx_p = s->nsteps;
    st = &s->steps[s->nsteps++];
    memset(st, 0, sizeof(*st));
    st->kind = (uint8_t)kind;
    st->after = s->fence;
    return st;
}

int
weft__sched_send(weft__sched_t *s, const void *buf, size_t bytes, int peer)
{
    int i;
    sched_step_t *st = sched_add(s, WEFT_STEP_SEND, &i);

    if (st != NULL) {
        st->src = buf;
        st->n = bytes;
        st->peer = peer;
        st->subtag = s->nsend[peer]++ & SCHED_SUBTAG_MASK;
    }
    return i;
}

int
weft__sched_recv(weft__sched_t *s, void *buf, size_t bytes, int peer)
{
    int i;
    sched_step_t *st = sched_add(s, WEFT_STEP_RECV, &i);

    if (st != NULL) {
        st->dst = buf;
        st->n = bytes;
        st->peer = peer;
        st->subtag = s->nrecv[peer]++ & SCHED_SUBTAG_MASK;
    }
    return i;
}

int
weft__sched_reduce(weft__sched_t *s, void *dst, const void *src, size_t count)
{
    int i;
    sched_step_t *st = sched_add(s, WEFT_STEP_REDUCE, &i);

    if (st != NULL) {
        st->dst = dst;
        st->src = src;
        st->n = count;
    }
    return i;
}

int
weft__sched_reduce3(weft__sched_t *s, void *dst, const void *a, const void *b,
                    size_t count)
{
    int i;
    sched_step_t *st = sched_add(s, WEFT_STEP_REDUCE3, &i);

    if (st != NULL) {
        st->dst = dst;
        st->src = a;
        st->src2 = b;
        st->n = count;
    }
    return i;
}

int
weft__sched_copy(weft__sched_t *s, void *dst, const void *src, size_t bytes)
{
    int i;
    sched_step_t *st = sched_add(s, WEFT_STEP_COPY, &i);

    if (st != NULL) {
        st->dst = dst;
        st->src = src;
        st->n = bytes;
    }
    return i;
}

int
weft__sched_convert(weft__sched_t *s, void *dst, weft_dtype_t to,
                    const void *src, weft_dtype_t from, size_t count)
{
    int i;
    sched_step_t *st = sched_add(s, WEFT_STEP_CONVERT, &i);

    if (st != NULL) {
        st->dst = dst;
        st->src = src;
        st->dt_to = (uint8_t)to;
        st->dt_from = (uint8_t)from;
        st->n = count;
    }
    return i;
}

int
weft__sched_scale(weft__sched_t *s, void *buf, size_t count)
{
    int i;
    sched_step_t *st = sched_add(s, WEFT_STEP_SCALE, &i);

    if (st != NULL) {
        st->dst = buf;
        st->n = count;
    }
    return i;
}

int
weft__sched_poll(weft__sched_t *s, const weft__sched_poll_ops_t *ops,
                 void *state)
{
    int i;
    sched_step_t *st = sched_add(s, WEFT_STEP_POLL, &i);

    if (st != NULL) {
        st->poll = ops;
        st->dst = state;
    }
    return i;
}

int
weft__sched_wait_part(weft__sched_t *s, size_t partition)
{
    int i;
    sched_step_t *st = sched_add(s, WEFT_STEP_WAIT_PART, &i);

    if (st != NULL) {
        st->peer = (int)partition;
        if (partition >= s->nparts) {
            uint8_t *p = realloc(s->parts, partition + 1);

            if (p == NULL) {
                s->nomem = 1;
                return -1;
            }
            memset(p + s->nparts, 0, partition + 1 - s->nparts);
            s->parts = p;
            s->nparts = partition + 1;
        }
    }
    return i;
}

void
weft__sched_dep(weft__sched_t *s, int step, int on)
{
    sched_step_t *st;

    if (step < 0 || on < 0 || s->nomem) {
        return;
    }
    st = &s->steps[step];
    if (on <= st->after - 1) {
        return; /* a fence already orders them */
    }
    for (int i = 0; i < st->ndeps; i++) {
        if (st->deps[i] == on) {
            return;
        }
    }
    if (st->ndeps == WEFT_STEP_DEPS) {
        /* more than fit: wait for everything before `on` as well, which
         * is stricter and still correct */
        st->before = on + 1 > st->before ? on + 1 : st->before;
        return;
    }
    st->deps[st->ndeps++] = on;
}

void
weft__sched_fence(weft__sched_t *s)
{
    s->fence = s->nsteps;
}

void *
weft__sched_scratch(weft__sched_t *s, size_t bytes)
{
    int n = s->nscratch + 1;
    void **list;
    size_t *sizes;
    void *p;

    if (s->nomem) {
        return NULL;
    }
    list = realloc(s->scratch, (size_t)n * sizeof(*list));
    if (list != NULL) {
        s->scratch = list;
    }
    sizes = realloc(s->scratch_size, (size_t)n * sizeof(*sizes));
    if (sizes != NULL) {
        s->scratch_size = sizes;
    }
    p = list != NULL && sizes != NULL
            ? weft__scratch_get(&s->comm->ctx->scratch, bytes, &sizes[n - 1])
            : NULL;
    if (p == NULL) {
        s->nomem = 1;
        return NULL;
    }
    s->scratch[s->nscratch++] = p;
    return p;
}

void
weft__sched_set_reduction(weft__sched_t *s, weft_dtype_t dtype, weft_op_t op)
{
    s->dtype = dtype;
    s->op = op;
}

void
weft__sched_user_reduction(const weft__sched_t *s, weft_dtype_t *dtype_p,
                           weft_op_t *op_p)
{
    *dtype_p = s->user_dtype;
    *op_p = s->user_op;
}

weft_comm_t *
weft__sched_comm(const weft__sched_t *s)
{
    return s->comm;
}

void
weft__sched_stats(const weft__sched_t *s, uint64_t *sent_p,
                  uint64_t *received_p, double *first_byte_p,
                  const char **algo_p)
{
    *sent_p = s->bytes_sent;
    *received_p = s->bytes_received;
    *first_byte_p = s->first_byte_s;
    *algo_p = s->algo;
}

int
weft__sched_nsteps(const weft__sched_t *s)
{
    return s->nsteps;
}

weft__step_kind_t
weft__sched_step_kind(const weft__sched_t *s, int step)
{
    return (weft__step_kind_t)s->steps[step].kind;
}

int
weft__sched_step_peer(const weft__sched_t *s, int step)
{
    return s->steps[step].peer;
}

size_t
weft__sched_step_size(const weft__sched_t *s, int step)
{
    return s->steps[step].n;
}
