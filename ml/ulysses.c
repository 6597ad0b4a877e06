/*
 * Ulysses sequence parallelism: all-to-all from sequence-sharded
 * [rows][heads][d] to head-sharded [P*rows][heads/P][d], attention over
 * the whole sequence for the rank's heads with the block kernel, and
 * all-to-all back. Rank r gets heads r*heads/P .. (r+1)*heads/P - 1 (and
 * the matching kv heads, so grouped-query attention keeps its groups).
 */
#include "ml/ring_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ml/ml_half.h"
#include "ml/ml_util.h"

typedef struct uly {
    ring_setup_t s;
    const weft_ring_attn_params_t *p;
    weft_comm_t *comm;
    size_t n;       /* P * rows: the whole sequence */
    size_t hp, kvp; /* heads, kv heads per rank */
    int64_t *pos;   /* [n] positions of the whole sequence */
    void *pack;     /* staging for the all-to-alls */
} uly_t;

/* [rows][nh][d] <-> [P][rows][nh/P][d] (rank p's block holds head group
 * p): to_groups 1 the first into the second, 0 back. */
static void
uly_move_heads(const uly_t *u, const void *src, size_t nh, size_t esize,
               void *dst, int to_groups)
{
    size_t rows = u->p->rows, d = u->p->head_dim, g = nh / u->s.size;
    size_t chunk = g * d * esize;

    for (int p = 0; p < u->s.size; p++) {
        for (size_t i = 0; i < rows; i++) {
            size_t grouped = ((size_t)p * rows + i) * chunk;
            size_t natural = (i * nh + (size_t)p * g) * d * esize;

            memcpy((char *)dst + (to_groups ? grouped : natural),
                   (const char *)src + (to_groups ? natural : grouped), chunk);
        }
    }
}

/* Sequence-sharded src (nh heads of width d of dtype) -> head-sharded
 * dst [n][nh/P][d]. */
static weft_status_t
uly_to_heads(uly_t *u, const void *src, size_t nh, size_t d, weft_dtype_t dtype,
             void *dst)
{
    size_t esize = weft_dtype_size(dtype);
    size_t count = u->p->rows * (nh / u->s.size) * d;
    double t0 = weft__ring_now();
    weft_status_t st;

    if (d == u->p->head_dim) {
        uly_move_heads(u, src, nh, esize, u->pack, 1);
    } else { /* lse: one value per head */
        for (int p = 0; p < u->s.size; p++) {
            for (size_t i = 0; i < u->p->rows; i++) {
                size_t g = nh / u->s.size;

                memcpy((char *)u->pack + ((size_t)p * u->p->rows + i) * g * 4,
                       (const char *)src + (i * nh + (size_t)p * g) * 4, g * 4);
            }
        }
    }
    st = weft_alltoall(u->pack, dst, count, dtype, u->comm);
    if (u->s.stats != NULL) {
        u->s.stats->wait_s += weft__ring_now() - t0;
    }
    return st;
}

/* Head-sharded fp32 src [n][nh/P][d] -> sequence-sharded dst. */
static weft_status_t
uly_to_seq(uly_t *u, const float *src, size_t nh, size_t d, float *dst)
{
    size_t g = nh / u->s.size, count = u->p->rows * g * d;
    double t0 = weft__ring_now();

    WEFT_ML_CHECK(weft_alltoall(src, u->pack, count, WEFT_FLOAT32, u->comm));
    if (d == u->p->head_dim) {
        uly_move_heads(u, u->pack, nh, sizeof(float), dst, 0);
    } else {
        for (int p = 0; p < u->s.size; p++) {
            for (size_t i = 0; i < u->p->rows; i++) {
                memcpy(dst + i * nh + (size_t)p * g,
                       (const float *)u->pack +
                           ((size_t)p * u->p->rows + i) * g,
                       g * sizeof(float));
            }
        }
    }
    if (u->s.stats != NULL) {
        u->s.stats->wait_s += weft__ring_now() - t0;
    }
    return WEFT_OK;
}

static weft_status_t
uly_init(uly_t *u, weft_comm_t *comm, const weft_ring_attn_params_t *p,
         const char *fn)
{
    memset(u, 0, sizeof(*u));
    WEFT_ML_CHECK(weft__ring_setup(comm, p, fn, &u->s));
    WEFT_ML_ARG(p->heads % (size_t)u->s.size == 0,
                "%s: params->heads %zu is not a multiple of the rank count "
                "%d",
                fn, p->heads, u->s.size);
    WEFT_ML_ARG(p->kv_heads % (size_t)u->s.size == 0,
                "%s: params->kv_heads %zu is not a multiple of the rank "
                "count %d",
                fn, p->kv_heads, u->s.size);
    u->p = p;
    u->comm = comm;
    u->n = (size_t)u->s.size * p->rows;
    u->hp = p->heads / (size_t)u->s.size;
    u->kvp = p->kv_heads / (size_t)u->s.size;
    /* staging: the largest sequence-sharded tensor, in fp32 */
    u->pack =
        malloc(p->rows * u->s.q_row * sizeof(float) + u->n * sizeof(int64_t));
    if (u->pack == NULL) {
        return weft_log_error(WEFT_ERR_NO_MEMORY, WEFT_LOG_WARN, WEFT_SUB_ML,
                              "%s: no memory for staging", fn);
    }
    u->pos =
        (int64_t *)((char *)u->pack + p->rows * u->s.q_row * sizeof(float));
    for (int r = 0; r < u->s.size; r++) {
        weft__ring_positions(p->layout, u->s.size, p->rows, r,
                             u->pos + (size_t)r * p->rows);
    }
    return WEFT_OK;
}

/* The whole-sequence block of the rank's heads. */
static weft_ring_block_t
uly_block(const uly_t *u, const void *q, const void *k, const void *v)
{
    return (weft_ring_block_t){
        .step = 0,
        .src_rank = u->s.rank,
        .causal = u->p->causal,
        .q = q,
        .k = k,
        .v = v,
        .q_pos = u->pos,
        .k_pos = u->pos,
        .q_rows = u->n,
        .kv_rows = u->n,
        .heads = u->hp,
        .kv_heads = u->kvp,
        .head_dim = u->p->head_dim,
        .dtype = u->p->dtype,
        .scale = u->s.scale,
    };
}

/* The working memory of a call (NULL: said why). */
static char *
uly_alloc(const char *fn, size_t bytes)
{
    char *m = malloc(bytes);

    if (m == NULL) {
        weft_log_error(WEFT_ERR_NO_MEMORY, WEFT_LOG_WARN, WEFT_SUB_ML,
                       "%s: no memory for %zu bytes", fn, bytes);
    }
    return m;
}

static void
uly_finish(uly_t *u, void *mem, double t0)
{
    free(mem);
    free(u->pack);
    weft__ring_stats_end(u->s.stats, t0);
}

/* The fp32 part of the scratch, after the dtype part, aligned. */
static float *
uly_floats(char *after)
{
    return (float *)(((uintptr_t)after + 7) & ~(uintptr_t)7);
}

static weft_status_t
uly_fwd_run(uly_t *u, const void *q, const void *k, const void *v, char *m,
            float *out, float *lse)
{
    const weft_ring_attn_params_t *p = u->p;
    size_t d = p->head_dim, es = u->s.esize;
    char *hq = m, *hk = hq + u->n * u->hp * d * es,
         *hv = hk + u->n * u->kvp * d * es;
    float *ho = uly_floats(hv + u->n * u->kvp * d * es);
    float *hl = ho + u->n * u->hp * d;

    WEFT_ML_CHECK(uly_to_heads(u, q, p->heads, d, p->dtype, hq));
    WEFT_ML_CHECK(uly_to_heads(u, k, p->kv_heads, d, p->dtype, hk));
    WEFT_ML_CHECK(uly_to_heads(u, v, p->kv_heads, d, p->dtype, hv));
    weft_ring_block_t blk = uly_block(u, hq, hk, hv);
    double t0 = weft__ring_now();

    weft_status_t st = u->s.fwd_fn(u->s.user, &blk, ho, hl);

    if (st != WEFT_OK) {
        return weft__ring_kernel_failed(&u->s, st, "forward", -1, -1);
    }
    if (u->s.stats != NULL) {
        u->s.stats->blocks = 1;
        u->s.stats->compute_s += weft__ring_now() - t0;
    }
    WEFT_ML_CHECK(uly_to_seq(u, ho, p->heads, d, out));
    return uly_to_seq(u, hl, p->heads, 1, lse);
}

weft_status_t
weft_ulysses_attn_fwd(weft_comm_t *comm, const weft_ring_attn_params_t *p,
                      const void *q, const void *k, const void *v, float *out,
                      float *lse)
{
    static const char fn[] = "weft_ulysses_attn_fwd";
    uly_t u;
    double t0 = weft__ring_now();

    WEFT_ML_CHECK(weft__ring_agree(
        comm, p, fn, weft__ring_check_fwd(fn, q, k, v, out, lse)));
    WEFT_ML_CHECK(uly_init(&u, comm, p, fn));
    size_t d = p->head_dim, es = u.s.esize;
    size_t bytes = u.n * (u.hp + 2 * u.kvp) * d * es +
                   u.n * u.hp * (d + 1) * sizeof(float) + 8;
    char *m = uly_alloc(fn, bytes);
    weft_status_t st =
        m != NULL ? uly_fwd_run(&u, q, k, v, m, out, lse) : WEFT_ERR_NO_MEMORY;

    uly_finish(&u, m, t0);
    return st;
}

static weft_status_t
uly_bwd_run(uly_t *u, const void *const in[4], const float *out,
            const float *lse, char *m, float *dq, float *dk, float *dv)
{
    const weft_ring_attn_params_t *p = u->p;
    size_t d = p->head_dim, es = u->s.esize;
    size_t nq = u->n * u->hp * d, nkv = u->n * u->kvp * d;
    char *hq = m, *hk = hq + nq * es, *hv = hk + nkv * es, *hdo = hv + nkv * es;
    float *ho = uly_floats(hdo + nq * es), *hl = ho + nq;
    float *hdl = hl + u->n * u->hp;
    float *hdq = hdl + u->n * u->hp, *hdk = hdq + nq, *hdv = hdk + nkv;

    WEFT_ML_CHECK(uly_to_heads(u, in[0], p->heads, d, p->dtype, hq));
    WEFT_ML_CHECK(uly_to_heads(u, in[1], p->kv_heads, d, p->dtype, hk));
    WEFT_ML_CHECK(uly_to_heads(u, in[2], p->kv_heads, d, p->dtype, hv));
    WEFT_ML_CHECK(uly_to_heads(u, in[3], p->heads, d, p->dtype, hdo));
    WEFT_ML_CHECK(uly_to_heads(u, out, p->heads, d, WEFT_FLOAT32, ho));
    WEFT_ML_CHECK(uly_to_heads(u, lse, p->heads, 1, WEFT_FLOAT32, hl));
    double t0 = weft__ring_now();

    for (size_t r = 0; r < u->n * u->hp; r++) { /* delta = rowsum(dO*O) */
        float sum = 0.0f, *row = hdq; /* hdq as scratch before it is used */

        weft__ml_load_f32(hdo, p->dtype, r * d, d, row);
        for (size_t e = 0; e < d; e++) {
            sum += row[e] * ho[r * d + e];
        }
        hdl[r] = sum;
    }
    memset(hdq, 0, (nq + 2 * nkv) * sizeof(float));
    weft_ring_block_t blk = uly_block(u, hq, hk, hv);
    weft_status_t st =
        u->s.bwd_fn(u->s.user, &blk, hdo, hl, hdl, hdq, hdk, hdv);

    if (st != WEFT_OK) {
        return weft__ring_kernel_failed(&u->s, st, "backward", -1, -1);
    }
    if (u->s.stats != NULL) {
        u->s.stats->blocks = 1;
        u->s.stats->compute_s += weft__ring_now() - t0;
    }
    WEFT_ML_CHECK(uly_to_seq(u, hdq, p->heads, d, dq));
    WEFT_ML_CHECK(uly_to_seq(u, hdk, p->kv_heads, d, dk));
    return uly_to_seq(u, hdv, p->kv_heads, d, dv);
}

weft_status_t
weft_ulysses_attn_bwd(weft_comm_t *comm, const weft_ring_attn_params_t *p,
                      const void *q, const void *k, const void *v,
                      const void *dout, const float *out, const float *lse,
                      float *dq, float *dk, float *dv)
{
    static const char fn[] = "weft_ulysses_attn_bwd";
    const void *in[4] = {q, k, v, dout};
    uly_t u;
    double t0 = weft__ring_now();

    WEFT_ML_CHECK(weft__ring_agree(
        comm, p, fn,
        weft__ring_check_bwd(fn, q, k, v, dout, out, lse, dq, dk, dv)));
    WEFT_ML_CHECK(uly_init(&u, comm, p, fn));
    size_t d = p->head_dim, es = u.s.esize;
    size_t nq = u.n * u.hp * d, nkv = u.n * u.kvp * d;
    size_t bytes = (2 * nq + 2 * nkv) * es +
                   (2 * nq + 2 * nkv + 2 * u.n * u.hp) * sizeof(float) + 8;
    char *m = uly_alloc(fn, bytes);
    weft_status_t st = m != NULL ? uly_bwd_run(&u, in, out, lse, m, dq, dk, dv)
                                 : WEFT_ERR_NO_MEMORY;

    uly_finish(&u, m, t0);
    return st;
}
