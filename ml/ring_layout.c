/*
 * Sequence layouts: which global positions a rank's rows are, and the part
 * of a (q block, k/v block) pair a causal mask leaves work in.
 */
#include "ml/ring_internal.h"

#include "ml/ml_util.h"

static int64_t
ring_pos(weft_ring_layout_t layout, int nranks, size_t rows, int rank, size_t i)
{
    size_t half = rows / 2;

    switch (layout) {
    case WEFT_RING_ZIGZAG: {
        /* chunks of rows/2: rank r holds chunk r, then chunk 2P-1-r */
        size_t chunk = i < half ? (size_t)rank : 2 * (size_t)nranks - 1 - rank;

        return (int64_t)(chunk * half + i % half);
    }
    case WEFT_RING_STRIPED:
        return (int64_t)(i * (size_t)nranks + (size_t)rank);
    default:
        return (int64_t)((size_t)rank * rows + i);
    }
}

weft_status_t
weft_ring_attn_position(weft_ring_layout_t layout, int nranks, size_t rows,
                        int rank, size_t i, int64_t *pos_p)
{
    WEFT_ML_ARG(pos_p != NULL, "weft_ring_attn_position: pos_p is NULL");
    WEFT_ML_ARG((unsigned)layout < WEFT_RING_LAYOUT_COUNT,
                "weft_ring_attn_position: layout %d is not a "
                "weft_ring_layout_t",
                (int)layout);
    WEFT_ML_ARG(nranks > 0 && rank >= 0 && rank < nranks,
                "weft_ring_attn_position: rank %d of nranks %d", rank, nranks);
    WEFT_ML_ARG(i < rows, "weft_ring_attn_position: row %zu of rows %zu", i,
                rows);
    WEFT_ML_ARG(layout != WEFT_RING_ZIGZAG || rows % 2 == 0,
                "weft_ring_attn_position: zigzag needs even rows, not %zu",
                rows);
    *pos_p = ring_pos(layout, nranks, rows, rank, i);
    return WEFT_OK;
}

void
weft__ring_positions(weft_ring_layout_t layout, int nranks, size_t rows,
                     int rank, int64_t *pos)
{
    for (size_t i = 0; i < rows; i++) {
        pos[i] = ring_pos(layout, nranks, rows, rank, i);
    }
}

int
weft__ring_block_range(const int64_t *q_pos, const int64_t *k_pos, size_t rows,
                       int causal, ring_range_t *r)
{
    *r = (ring_range_t){0, rows, 0, rows, 0};
    if (!causal || rows == 0) {
        return rows > 0;
    }
    /* rows that see at least one key: q_pos >= the first key */
    while (r->q0 < rows && q_pos[r->q0] < k_pos[0]) {
        r->q0++;
    }
    if (r->q0 == rows) {
        return 0;
    }
    /* keys that some row sees: k_pos <= the last row */
    while (r->k1 > 0 && k_pos[r->k1 - 1] > q_pos[rows - 1]) {
        r->k1--;
    }
    /* a mask is needed unless the last key is visible to the first row */
    r->causal = k_pos[r->k1 - 1] > q_pos[r->q0];
    return 1;
}

int
weft__ring_block_plan(const ring_setup_t *s, const weft_ring_attn_params_t *p,
                      const int64_t *q_pos, int64_t *k_pos, int src,
                      ring_range_t *r, size_t *chunk_p)
{
    size_t per_row, rows;

    weft__ring_positions(p->layout, s->size, p->rows, src, k_pos);
    if (!weft__ring_block_range(q_pos, k_pos, p->rows, p->causal, r)) {
        if (s->stats != NULL) {
            s->stats->skipped++;
        }
        return 0;
    }
    per_row = (r->k1 - r->k0) * p->heads * p->head_dim;
    rows = per_row > 0 ? ((size_t)1 << 18) / per_row : 16;
    *chunk_p = rows < 1 ? 1 : rows > 16 ? 16 : rows;
    return 1;
}

weft_ring_block_t
weft__ring_chunk(const ring_setup_t *s, const weft_ring_attn_params_t *p,
                 const char *q, const int64_t *q_pos, const int64_t *k_pos,
                 const char *kv, size_t k_bytes, const ring_range_t *r,
                 size_t c0, size_t c1, int step, int src)
{
    weft_ring_block_t blk = {
        .step = step,
        .src_rank = src,
        .causal = r->causal,
        .q = q + c0 * s->q_row * s->esize,
        .k = kv + r->k0 * s->kv_row * s->esize,
        .v = kv + k_bytes + r->k0 * s->kv_row * s->esize,
        .q_pos = q_pos + c0,
        .k_pos = k_pos + r->k0,
        .q_rows = c1 - c0,
        .kv_rows = r->k1 - r->k0,
        .heads = p->heads,
        .kv_heads = p->kv_heads,
        .head_dim = p->head_dim,
        .dtype = p->dtype,
        .scale = s->scale,
    };

    return blk;
}
