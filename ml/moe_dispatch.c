/*
 * MoE dispatch: the checks, the routing plan (which rows go where), the
 * count exchange, and the chunked all-to-alls with the caller's expert
 * function run on each chunk as it arrives.
 */
#include <stdlib.h>
#include <string.h>
#include <weft/ml_moe.h>

#include "ml/ml_util.h"
#include "ml/moe_handle.h"

#define MOE_MAGIC  0x6d6f6531 /* "moe1" */
#define MOE_FAILED 0x6d6f6578 /* "moex": this rank refused its call */
#define MOE_NHDR  7

static const char *const moe_hdr_name[MOE_NHDR] = {
    "version", "dtype", "hidden", "topk", "nexperts", "chunks", "recv_cap"};

void
weft_moe_handle_destroy(weft_moe_handle_t *h)
{
    if (h == NULL) {
        return;
    }
    for (size_t c = 0; h->creq != NULL && c < h->nchunks; c++) {
        weft_request_free(h->creq[c]);
    }
    free(h->scount);
    free(h->tok_rows);
    free(h->src_rank);
    free(h->src_token);
    free(h->local_expert);
    free(h->weight);
    free(h->pair_row);
    free(h->pair_expert);
    free(h->row_pair);
    free(h->expert_pair_begin);
    free(h->s_el);
    weft__moe_buf_put(h->partial, h->partial_bytes);
    weft__moe_buf_put(h->back, h->back_bytes);
    free(h->acc);
    free(h->creq);
    free(h->cposted);
    free(h);
}

static weft_status_t
moe_check_args(weft_comm_t *comm, const weft_moe_params_t *p, const void *x,
               size_t ntok, const int64_t *topk_idx, const void *recv_x,
               size_t recv_cap, weft_moe_handle_t **handle_p)
{
    int n = weft_comm_size(comm);

    WEFT_ML_ARG(comm != NULL, "weft_moe_dispatch: comm is NULL");
    WEFT_ML_ARG(p != NULL, "weft_moe_dispatch: params is NULL");
    WEFT_ML_ARG(handle_p != NULL, "weft_moe_dispatch: handle_p is NULL");
    WEFT_ML_ARG(p->topk > 0 && p->topk <= MOE_MAX_TOPK,
                "weft_moe_dispatch: params->topk %zu is outside [1, %d]",
                p->topk, MOE_MAX_TOPK);
    WEFT_ML_ARG(p->hidden > 0, "weft_moe_dispatch: params->hidden is 0");
    WEFT_ML_ARG(weft_dtype_size(p->dtype) > 0,
                "weft_moe_dispatch: params->dtype (%d) is not a "
                "weft_dtype_t",
                (int)p->dtype);
    WEFT_ML_ARG(p->nexperts > 0 && p->nexperts % (size_t)n == 0,
                "weft_moe_dispatch: params->nexperts %zu is not a positive "
                "multiple of the %d ranks",
                p->nexperts, n);
    WEFT_ML_ARG(!(p->field_mask & WEFT_MOE_PARAM_CHUNKS) || p->chunks > 0,
                "weft_moe_dispatch: params->chunks is 0");
    WEFT_ML_ARG(!(p->field_mask & WEFT_MOE_PARAM_MODE) ||
                    p->mode == WEFT_MOE_DROPLESS ||
                    p->mode == WEFT_MOE_CAPACITY,
                "weft_moe_dispatch: params->mode %d is not a "
                "weft_moe_mode_t",
                (int)p->mode);
    WEFT_ML_ARG(x != NULL || ntok == 0,
                "weft_moe_dispatch: x is NULL with %zu tokens", ntok);
    WEFT_ML_ARG(topk_idx != NULL || ntok == 0,
                "weft_moe_dispatch: topk_idx is NULL with %zu tokens", ntok);
    WEFT_ML_ARG(recv_x != NULL || recv_cap == 0,
                "weft_moe_dispatch: recv_x is NULL with recv_cap %zu",
                recv_cap);
    return weft__moe_check_idx("weft_moe_dispatch", topk_idx, ntok, p->topk,
                               p->nexperts);
}

static weft_status_t
moe_alloc(weft_moe_handle_t *h)
{
    size_t cr = h->nchunks * (size_t)h->nranks;

    h->scount = calloc(4 * cr, sizeof(size_t));
    h->s_el = calloc(4 * cr, sizeof(size_t));
    h->tok_rows = malloc((h->ntok * h->topk + 1) * sizeof(size_t));
    h->creq = calloc(h->nchunks, sizeof(*h->creq));
    h->cposted = calloc(h->nchunks, 1);
    h->acc = malloc(h->hidden * sizeof(double));
    if (h->scount == NULL || h->s_el == NULL || h->tok_rows == NULL ||
        h->creq == NULL || h->cposted == NULL || h->acc == NULL) {
        return weft_log_error(WEFT_ERR_NO_MEMORY, WEFT_LOG_WARN, WEFT_SUB_ML,
                              "weft_moe_dispatch: out of memory");
    }
    h->sbase = h->scount + cr;
    h->rcount = h->scount + 2 * cr;
    h->rbase = h->scount + 3 * cr;
    h->s_disp = h->s_el + cr;
    h->r_el = h->s_el + 2 * cr;
    h->r_disp = h->s_el + 3 * cr;
    return WEFT_OK;
}

static size_t
moe_chunk_of(const weft_moe_handle_t *h, size_t t)
{
    /* chunk c holds tokens [c * ntok / C, (c + 1) * ntok / C) */
    return ((t + 1) * h->nchunks - 1) / h->ntok;
}

/* The send plan: per token its destination ranks in first-slot order,
 * the rows per (chunk, rank), and the rows' places. */
static void
moe_plan_send(weft_moe_handle_t *h, const int64_t *idx,
              const unsigned char *kept)
{
    size_t k = h->topk, P = (size_t)h->nranks, row = 0;

    for (size_t t = 0; t < h->ntok; t++) {
        size_t c = moe_chunk_of(h, t), nd = 0;

        for (size_t j = 0; j < k; j++) {
            size_t d, i;

            if (!kept[t * k + j]) {
                continue;
            }
            d = (size_t)idx[t * k + j] / h->nlocal;
            for (i = 0; i < nd && h->tok_rows[t * k + i] != d; i++) {
            }
            if (i == nd) {
                h->tok_rows[t * k + nd++] = d; /* the rank, for now */
                h->scount[c * P + d]++;
            }
        }
        for (size_t i = nd; i < k; i++) {
            h->tok_rows[t * k + i] = MOE_NONE;
        }
    }
    for (size_t i = 0; i < h->nchunks * P; i++) {
        h->sbase[i] = row;
        row += h->scount[i];
    }
    h->nsent = row;
}

/* Pack rows and metadata: data in (chunk, rank, token) order, metadata
 * [token, local expert x k, weight x k] as int32 in (rank, chunk, token)
 * order (one all-to-all for every chunk). tok_rows turns from ranks into
 * send rows. */
static void
moe_pack(weft_moe_handle_t *h, const void *x, const int64_t *idx,
         const float *w, const unsigned char *kept, char *sendbuf,
         int32_t *meta, const size_t *mbase)
{
    size_t k = h->topk, P = (size_t)h->nranks, rowb = h->hidden * h->esize;
    size_t mrow = 1 + 2 * k;
    size_t *fill = calloc(h->nchunks * P + P, sizeof(size_t));
    size_t *mfill = fill + h->nchunks * P;

    for (size_t t = 0; t < h->ntok; t++) {
        size_t c = moe_chunk_of(h, t);

        for (size_t i = 0; i < k && h->tok_rows[t * k + i] != MOE_NONE; i++) {
            size_t d = h->tok_rows[t * k + i];
            size_t r = h->sbase[c * P + d] + fill[c * P + d]++;
            int32_t *m = &meta[(mbase[d] + mfill[d]++) * mrow];

            memcpy(sendbuf + r * rowb, (const char *)x + t * rowb, rowb);
            m[0] = (int32_t)t;
            for (size_t j = 0; j < k; j++) {
                int64_t e = idx[t * k + j];
                float wj = w != NULL ? w[t * k + j] : 1.0f;

                m[1 + j] = kept[t * k + j] && (size_t)e / h->nlocal == d
                               ? (int32_t)((size_t)e % h->nlocal)
                               : -1;
                memcpy(&m[1 + k + j], &wj, sizeof(wj));
            }
            h->tok_rows[t * k + i] = r;
        }
    }
    free(fill);
}

/* A rank that refused its own call (bad data, no memory) still takes part
 * in the count exchange, with a header that says so: the other ranks
 * return at once naming it, instead of waiting for it until the
 * deadline. Its own error stays its weft_last_error. */
static void
moe_tell_failure(weft_comm_t *comm)
{
    size_t W = MOE_NHDR + (size_t)weft_comm_size(comm);
    int64_t *mine = calloc(W, sizeof(int64_t));
    int64_t *all = malloc(W * (size_t)weft_comm_size(comm) * sizeof(int64_t));

    if (mine != NULL && all != NULL) { /* (without: the others time out) */
        mine[0] = MOE_FAILED;
        (void)weft_allgather(mine, all, W, WEFT_INT64, comm);
    }
    free(mine);
    free(all);
}

/* One allgather of every rank's header and rows per destination: every
 * rank checks every header and every receive room, so all of them agree
 * to stop or go. With chunks, an alltoall then gives the rows per chunk. */
static weft_status_t
moe_exchange_counts(weft_moe_handle_t *h, size_t recv_cap, size_t *needed_p)
{
    size_t P = (size_t)h->nranks, C = h->nchunks, W = MOE_NHDR + P;
    size_t me = (size_t)h->rank;
    int64_t *mine = calloc(W + 2 * C * P, sizeof(int64_t));
    int64_t *all = malloc(P * W * sizeof(int64_t));
    int64_t *per_c = mine + W, *got_c = per_c + C * P;
    weft_status_t st;
    int hdr_ok;

    if (all == NULL || mine == NULL) {
        free(all);
        free(mine);
        return weft_log_error(WEFT_ERR_NO_MEMORY, WEFT_LOG_WARN, WEFT_SUB_ML,
                              "weft_moe_dispatch: out of memory");
    }
    mine[0] = MOE_MAGIC;
    mine[1] = h->dtype;
    mine[2] = (int64_t)h->hidden;
    mine[3] = (int64_t)h->topk;
    mine[4] = (int64_t)h->nexperts;
    mine[5] = (int64_t)C;
    mine[6] = (int64_t)recv_cap;
    for (size_t c = 0; c < C; c++) {
        for (size_t d = 0; d < P; d++) {
            mine[MOE_NHDR + d] += (int64_t)h->scount[c * P + d];
            per_c[d * C + c] = (int64_t)h->scount[c * P + d];
        }
    }
    st = weft_allgather(mine, all, W, WEFT_INT64, h->comm);
    if (st == WEFT_OK) { /* the header but the receive room */
        st = weft__ml_headers_agree("weft_moe_dispatch", all, W, (int)P,
                                    (int)me, mine, MOE_NHDR - 1, moe_hdr_name,
                                    MOE_FAILED);
    }
    hdr_ok = st == WEFT_OK;
    for (size_t q = 0; hdr_ok && q < P; q++) {
        size_t need = 0, cap = (size_t)all[q * W + MOE_NHDR - 1];

        for (size_t s = 0; s < P; s++) {
            need += (size_t)all[s * W + MOE_NHDR + q]; /* s sends q */
        }
        if (q == me) {
            h->nrecv = need;
            if (needed_p != NULL) {
                *needed_p = need;
            }
        }
        if (need > cap && st == WEFT_OK) { /* the first; every need told */
            st = weft_log_error(WEFT_ERR_TRUNCATED, WEFT_LOG_WARN, WEFT_SUB_ML,
                                "weft_moe_dispatch: rank %zu receives %zu "
                                "rows, its recv_cap is %zu",
                                q, need, cap);
        }
    }
    if (st == WEFT_OK && C > 1) {
        st = weft_alltoall(per_c, got_c, C, WEFT_INT64, h->comm);
    }
    for (size_t s = 0; st == WEFT_OK && s < P; s++) {
        for (size_t c = 0; c < C; c++) {
            h->rcount[c * P + s] = C > 1 ? (size_t)got_c[s * C + c]
                                         : (size_t)all[s * W + MOE_NHDR + me];
        }
    }
    free(all);
    free(mine);
    return st;
}

static weft_status_t
moe_alloc_recv(weft_moe_handle_t *h)
{
    size_t k = h->topk, rows = h->nrecv + 1;

    h->src_rank = malloc(rows * sizeof(int32_t));
    h->src_token = malloc(rows * sizeof(int32_t));
    h->local_expert = malloc(rows * k * sizeof(int32_t));
    h->weight = malloc(rows * k * sizeof(float));
    h->row_pair = malloc(rows * k * sizeof(size_t));
    h->expert_pair_begin = calloc(h->nchunks * (h->nlocal + 1), sizeof(size_t));
    if (h->src_rank == NULL || h->src_token == NULL ||
        h->local_expert == NULL || h->weight == NULL || h->row_pair == NULL ||
        h->expert_pair_begin == NULL) {
        return weft_log_error(WEFT_ERR_NO_MEMORY, WEFT_LOG_WARN, WEFT_SUB_ML,
                              "weft_moe_dispatch: out of memory");
    }
    return WEFT_OK;
}

/* Metadata arrived in (source, chunk, token) order: spread it over the
 * received rows. */
static void
moe_unpack_meta(weft_moe_handle_t *h, const int32_t *meta)
{
    size_t k = h->topk, P = (size_t)h->nranks, mrow = 1 + 2 * k, m = 0;

    for (size_t s = 0; s < P; s++) {
        for (size_t c = 0; c < h->nchunks; c++) {
            for (size_t i = 0; i < h->rcount[c * P + s]; i++, m++) {
                size_t r = h->rbase[c * P + s] + i;
                const int32_t *src = &meta[m * mrow];

                h->src_rank[r] = (int32_t)s;
                h->src_token[r] = src[0];
                memcpy(&h->local_expert[r * k], &src[1], k * sizeof(int32_t));
                memcpy(&h->weight[r * k], &src[1 + k], k * sizeof(float));
            }
        }
    }
}

/* The counts and displacements of every data all-to-all (elements). */
static void
moe_data_layout(weft_moe_handle_t *h)
{
    size_t P = (size_t)h->nranks, row = 0;

    for (size_t c = 0; c < h->nchunks; c++) {
        for (size_t s = 0; s < P; s++) {
            h->rbase[c * P + s] = row;
            row += h->rcount[c * P + s];
        }
    }
    for (size_t i = 0; i < h->nchunks * P; i++) {
        h->s_el[i] = h->scount[i] * h->hidden;
        h->s_disp[i] = h->sbase[i] * h->hidden;
        h->r_el[i] = h->rcount[i] * h->hidden;
        h->r_disp[i] = h->rbase[i] * h->hidden;
    }
}

/* Post the metadata all-to-all and every chunk's data all-to-all, wait
 * for the metadata, build the pair lists, then run fn on each chunk as
 * it completes. */
static weft_status_t
moe_exchange(weft_moe_handle_t *h, const char *sendbuf, void *recv_x,
             const int32_t *meta_s, const size_t *mbase, weft_moe_chunk_fn_t fn,
             void *arg)
{
    size_t P = (size_t)h->nranks, C = h->nchunks, mrow = 1 + 2 * h->topk;
    size_t *mcount = calloc(4 * P, sizeof(size_t));
    int32_t *meta_r = malloc((h->nrecv * mrow + 1) * sizeof(int32_t));
    weft_request_t **req = calloc(C + 1, sizeof(*req));
    static char moe_dummy[8];
    weft_status_t st = WEFT_OK, fst = WEFT_OK;
    size_t posted = 0;

    if (mcount == NULL || meta_r == NULL || req == NULL) {
        st = weft_log_error(WEFT_ERR_NO_MEMORY, WEFT_LOG_WARN, WEFT_SUB_ML,
                            "weft_moe_dispatch: out of memory");
        goto out;
    }
    for (size_t r = 0, rd = 0; r < P; r++) {
        size_t in = 0;

        for (size_t c = 0; c < C; c++) {
            mcount[r] += h->scount[c * P + r] * mrow;
            in += h->rcount[c * P + r] * mrow;
        }
        mcount[P + r] = mbase[r] * mrow;
        mcount[2 * P + r] = in;
        mcount[3 * P + r] = rd;
        rd += in;
    }
    st = weft_ialltoallv(meta_s, mcount, mcount + P, meta_r, mcount + 2 * P,
                         mcount + 3 * P, WEFT_INT32, h->comm, &req[C]);
    for (size_t c = 0; st == WEFT_OK && c < C; c++, posted++) {
        st = weft_ialltoallv(sendbuf, &h->s_el[c * P], &h->s_disp[c * P],
                             recv_x != NULL ? recv_x : moe_dummy,
                             &h->r_el[c * P], &h->r_disp[c * P], h->dtype,
                             h->comm, &req[c]);
    }
    if (st == WEFT_OK) {
        st = weft_wait(req[C]);
        req[C] = NULL;
    }
    if (st == WEFT_OK) {
        moe_unpack_meta(h, meta_r);
        st = weft__moe_build_pairs(h);
    }
    for (size_t c = 0; c < posted; c++) {
        weft_status_t w = weft_wait(req[c]);

        req[c] = NULL;
        if (st == WEFT_OK) {
            st = w;
        }
        h->arrived = c + 1;
        if (st == WEFT_OK && fst == WEFT_OK && fn != NULL) {
            weft_moe_chunk_t chunk;

            weft_moe_handle_chunk(h, c, &chunk);
            fst = fn(arg, h, &chunk);
        }
    }
out:
    if (req != NULL) {
        weft_waitall(C + 1, req); /* what an error left pending */
    }
    free(mcount);
    free(meta_r);
    free(req);
    return st != WEFT_OK ? st : fst;
}

weft_status_t
weft_moe_dispatch(weft_comm_t *comm, const weft_moe_params_t *params,
                  const void *x, size_t ntok, const int64_t *topk_idx,
                  const float *topk_w, void *recv_x, size_t recv_cap,
                  weft_moe_chunk_fn_t fn, void *arg, size_t *needed_p,
                  weft_moe_handle_t **handle_p)
{
    const weft_moe_params_t *p = params;
    weft_moe_handle_t *h;
    unsigned char *kept = NULL;
    char *sendbuf = NULL; /* h->back */
    int32_t *meta = NULL;
    size_t *mbase = NULL;
    weft_status_t st;
    int capacity_mode;

    st = moe_check_args(comm, p, x, ntok, topk_idx, recv_x, recv_cap, handle_p);
    if (st == WEFT_OK) {
        h = calloc(1, sizeof(*h));
        st = h != NULL ? WEFT_OK
                       : weft_log_error(WEFT_ERR_NO_MEMORY, WEFT_LOG_WARN,
                                        WEFT_SUB_ML,
                                        "weft_moe_dispatch: out of memory");
    }
    if (st != WEFT_OK) {
        if (comm != NULL) {
            moe_tell_failure(comm);
        }
        return st;
    }
    capacity_mode =
        (p->field_mask & WEFT_MOE_PARAM_MODE) && p->mode == WEFT_MOE_CAPACITY;
    h->comm = comm;
    h->rank = weft_comm_rank(comm);
    h->nranks = weft_comm_size(comm);
    h->nexperts = p->nexperts;
    h->nlocal = p->nexperts / (size_t)h->nranks;
    h->topk = p->topk;
    h->hidden = p->hidden;
    h->dtype = p->dtype;
    h->esize = weft_dtype_size(p->dtype);
    h->nchunks = (p->field_mask & WEFT_MOE_PARAM_CHUNKS) ? p->chunks : 1;
    h->ntok = ntok;
    h->capacity = MOE_NONE;
    st = capacity_mode ? weft_moe_capacity(p, ntok, &h->capacity) : WEFT_OK;
    if (st == WEFT_OK) {
        st = moe_alloc(h);
    }
    kept = malloc(ntok * h->topk + 1);
    if (st == WEFT_OK && kept == NULL) {
        st = weft_log_error(WEFT_ERR_NO_MEMORY, WEFT_LOG_WARN, WEFT_SUB_ML,
                            "weft_moe_dispatch: out of memory");
    }
    if (st == WEFT_OK) {
        h->dropped = weft__moe_select(topk_idx, ntok, h->topk, h->nexperts,
                                      h->capacity, kept);
        moe_plan_send(h, topk_idx, kept);
        st = moe_exchange_counts(h, recv_cap, needed_p);
    } else {
        moe_tell_failure(comm);
    }
    if (st == WEFT_OK) {
        size_t P = (size_t)h->nranks, mrow = 1 + 2 * h->topk;

        moe_data_layout(h);
        /* packed in the buffer that receives the combine's partials */
        h->back =
            weft__moe_buf_get(h->nsent * h->hidden * h->esize, &h->back_bytes);
        sendbuf = h->back;
        meta = malloc((h->nsent * mrow + 1) * sizeof(int32_t));
        mbase = calloc(P, sizeof(size_t));
        st = moe_alloc_recv(h);
        if (st == WEFT_OK &&
            (sendbuf == NULL || meta == NULL || mbase == NULL)) {
            st = weft_log_error(WEFT_ERR_NO_MEMORY, WEFT_LOG_WARN, WEFT_SUB_ML,
                                "weft_moe_dispatch: out of memory");
        }
        for (size_t d = 1; st == WEFT_OK && d < P; d++) {
            mbase[d] = mbase[d - 1];
            for (size_t c = 0; c < h->nchunks; c++) {
                mbase[d] += h->scount[c * P + d - 1];
            }
        }
    }
    if (st == WEFT_OK) {
        moe_pack(h, x, topk_idx, topk_w, kept, sendbuf, meta, mbase);
        st = moe_exchange(h, sendbuf, recv_x, meta, mbase, fn, arg);
    }
    free(kept);
    free(meta);
    free(mbase);
    if (h->capacity == MOE_NONE) {
        h->capacity = 0;
    }
    if (st != WEFT_OK) {
        weft_moe_handle_destroy(h);
        return st;
    }
    *handle_p = h;
    return WEFT_OK;
}
