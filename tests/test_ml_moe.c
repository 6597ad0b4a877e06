/*
 * MoE dispatch/combine (weft/ml_moe.h) with 1, 2, 4 and 8 ranks (the
 * layout and capacity functions alone: test_ml_moe_layout.c): every
 * received row identified by
 * its payload (source rank and token); dispatch, an expert of known
 * effect and combine against an ordered fp32 reference, bitwise; the
 * capacity formulas and drops of both conventions; chunks with the
 * caller's compute and early combines; no tokens on a rank, every token
 * to one expert, -1 slots; truncation with the needed count; bad input,
 * also on one rank only (every rank returns at once, naming it).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>
#include <weft/ml.h>

#include "harness.h"

/* ---- deterministic routing, computable for any rank ------------------ */

typedef struct moe_case {
    int nranks;
    size_t ntok;    /* tokens of rank r: ntok + 3 * r */
    int empty_rank; /* this rank has no tokens (-1: none) */
    size_t nexperts, topk, hidden;
    size_t chunks;
    int capacity; /* 0 dropless, 1 DeepSpeed, 2 Tutel */
    double cf;
    int none_pct;      /* % of slots that are -1 */
    int one_expert;    /* every slot to expert 0 (slot 0) / -1 (others) */
    int scale_expert;  /* expert e multiplies by e + 1 (else identity) */
    int early_combine; /* the chunk function posts its combine */
    weft_dtype_t dtype;
} moe_case_t;

static uint64_t
moe_hash(uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t x = a * 0x9e3779b97f4a7c15ull ^
                 (b + 0x632be59bd9b4e019ull) * 0xbf58476d1ce4e5b9ull ^
                 (c + 7) * 0x94d049bb133111ebull;

    x ^= x >> 31;
    x *= 0xd6e8feb86869ab5ull;
    x ^= x >> 29;
    return x;
}

static size_t
case_ntok(const moe_case_t *c, int r)
{
    return r == c->empty_rank ? 0 : c->ntok + 3 * (size_t)r;
}

/* distinct experts per token (as a gate gives), some -1 */
static void
case_route(const moe_case_t *c, int r, int64_t *idx, float *w)
{
    size_t n = case_ntok(c, r), k = c->topk;

    for (size_t t = 0; t < n; t++) {
        for (size_t j = 0; j < k; j++) {
            uint64_t hsh = moe_hash((uint64_t)r, t, j);
            int64_t e;
            int dup;

            w[t * k + j] = (float)(1 + hsh % 251) / 97.0f;
            if (c->one_expert) {
                idx[t * k + j] = j == 0 ? 0 : -1;
                continue;
            }
            if ((int)(hsh >> 40) % 100 < c->none_pct) {
                idx[t * k + j] = -1;
                continue;
            }
            do {
                e = (int64_t)(hsh % c->nexperts);
                hsh = moe_hash(hsh, t, j + 100);
                dup = 0;
                for (size_t i = 0; i < j; i++) {
                    dup |= idx[t * k + i] == e;
                }
            } while (dup);
            idx[t * k + j] = e;
        }
    }
}

/* the payload: source rank and token in every element (exact in fp32) */
static float
case_x(int r, size_t t, size_t h)
{
    return (float)(r * 65536 + (int)t * 8 + (int)(h & 7));
}

static size_t
case_capacity(const moe_case_t *c, size_t n)
{
    size_t cap;

    if (c->capacity == 1) { /* ceil(S / E * k * cf), at least 4 */
        double v = (double)n / (double)c->nexperts * (double)c->topk * c->cf;

        cap = (size_t)v + ((double)(size_t)v < v);
        return cap < 4 ? 4 : cap;
    }
    /* k * floor(cf * ceil(S / E)) */
    return c->topk *
           (size_t)(c->cf * (double)((n + c->nexperts - 1) / c->nexperts));
}

/* kept[t][j] by first-slots-first priority; returns the drops */
static size_t
case_keep(const moe_case_t *c, int r, const int64_t *idx, unsigned char *kept)
{
    size_t n = case_ntok(c, r), k = c->topk, dropped = 0;
    size_t cap = c->capacity ? case_capacity(c, n) : (size_t)-1;
    size_t fill[64] = {0};

    for (size_t j = 0; j < k; j++) {
        for (size_t t = 0; t < n; t++) {
            int64_t e = idx[t * k + j];

            kept[t * k + j] = e >= 0 && fill[e] < cap;
            if (e >= 0) {
                dropped += fill[e]++ >= cap;
            }
        }
    }
    return dropped;
}

static void
case_params(const moe_case_t *c, weft_moe_params_t *p)
{
    memset(p, 0, sizeof(*p));
    p->nexperts = c->nexperts;
    p->topk = c->topk;
    p->hidden = c->hidden;
    p->dtype = c->dtype;
    p->field_mask = WEFT_MOE_PARAM_CHUNKS | WEFT_MOE_PARAM_MODE;
    p->chunks = c->chunks;
    p->mode = c->capacity ? WEFT_MOE_CAPACITY : WEFT_MOE_DROPLESS;
    if (c->capacity) {
        p->field_mask |=
            WEFT_MOE_PARAM_CAPACITY_RULE | WEFT_MOE_PARAM_CAPACITY_FACTOR;
        p->capacity_rule = c->capacity == 1 ? WEFT_MOE_CAPACITY_DEEPSPEED
                                            : WEFT_MOE_CAPACITY_TUTEL;
        p->capacity_factor = c->cf;
    }
}

/* ---- the rank body ---------------------------------------------------- */

typedef struct moe_rank {
    const moe_case_t *c;
    float *recv_x, *expert_y;
    size_t next_chunk, rows_seen;
    int bad_chunk;
} moe_rank_t;

static void
run_expert(moe_rank_t *st, const weft_moe_chunk_t *ch, int me)
{
    const moe_case_t *c = st->c;
    size_t H = c->hidden, L = c->nexperts / (size_t)c->nranks;

    for (size_t e = 0; e < L; e++) {
        float s = c->scale_expert ? (float)(me * L + e + 1) : 1.0f;

        for (size_t p = ch->expert_pair_begin[e];
             p < ch->expert_pair_begin[e + 1]; p++) {
            const float *xin = &st->recv_x[ch->pair_row[p] * H];

            if (ch->pair_expert[p] != (int32_t)e) {
                st->bad_chunk = 1;
            }
            for (size_t h = 0; h < H; h++) {
                st->expert_y[p * H + h] = s * xin[h];
            }
        }
    }
}

static weft_status_t
chunk_fn(void *arg, weft_moe_handle_t *handle, const weft_moe_chunk_t *ch)
{
    moe_rank_t *st = arg;

    if (ch->index != st->next_chunk++ || ch->row_begin != st->rows_seen) {
        st->bad_chunk = 1;
    }
    st->rows_seen = ch->row_end;
    run_expert(st, ch, wt_rank);
    if (st->c->early_combine && ch->index + 1 < st->c->chunks &&
        weft_moe_combine_chunk(handle, ch->index + 1, st->expert_y,
                               st->c->dtype) != WEFT_ERR_INVALID_ARG) {
        st->bad_chunk = 1; /* chunk index + 1 has not arrived yet */
    }
    if (st->c->early_combine) {
        return weft_moe_combine_chunk(handle, ch->index, st->expert_y,
                                      st->c->dtype);
    }
    return WEFT_OK;
}

/* The rows rank `me` must receive, in order: (chunk, source, token). */
static size_t
expected_rows(const moe_case_t *c, int me, int32_t *src, int32_t *tok)
{
    size_t n = 0, k = c->topk, L = c->nexperts / (size_t)c->nranks;

    for (size_t ch = 0; ch < c->chunks; ch++) {
        for (int s = 0; s < c->nranks; s++) {
            size_t ns = case_ntok(c, s);
            int64_t *idx = malloc((ns * k + 1) * sizeof(int64_t));
            float *w = malloc((ns * k + 1) * sizeof(float));
            unsigned char *kept = malloc(ns * k + 1);

            case_route(c, s, idx, w);
            case_keep(c, s, idx, kept);
            for (size_t t = ch * ns / c->chunks; t < (ch + 1) * ns / c->chunks;
                 t++) {
                int here = 0;

                for (size_t j = 0; j < k; j++) {
                    here |= kept[t * k + j] &&
                            (size_t)idx[t * k + j] / L == (size_t)me;
                }
                if (here) {
                    if (src != NULL) {
                        src[n] = s;
                        tok[n] = (int32_t)t;
                    }
                    n++;
                }
            }
            free(idx);
            free(w);
            free(kept);
        }
    }
    return n;
}

static void
check_rows(const moe_case_t *c, weft_moe_handle_t *hd, const float *recv_x,
           size_t nrecv, const int32_t *esrc, const int32_t *etok, int me)
{
    const int32_t *src, *tok, *le;
    const float *wt;
    size_t k = c->topk, H = c->hidden, L = c->nexperts / (size_t)c->nranks;
    int bad = 0;

    WT_OK(weft_moe_handle_rows(hd, &src, &tok, &le, &wt));
    for (size_t r = 0; r < nrecv && bad < 5; r++) {
        size_t ns = case_ntok(c, esrc[r]);
        int64_t *idx = malloc((ns * k + 1) * sizeof(int64_t));
        float *w = malloc((ns * k + 1) * sizeof(float));
        unsigned char *kept = malloc(ns * k + 1);
        size_t t = (size_t)etok[r];

        case_route(c, esrc[r], idx, w);
        case_keep(c, esrc[r], idx, kept);
        if (src[r] != esrc[r] || tok[r] != etok[r]) {
            WT_CHECK(0, "row %zu from rank %d token %d, want %d token %d", r,
                     src[r], tok[r], esrc[r], etok[r]);
            bad++;
        }
        for (size_t h = 0; h < H; h++) {
            if (recv_x[r * H + h] != case_x(esrc[r], t, h)) {
                WT_CHECK(0,
                         "row %zu element %zu: %g, want %g (rank %d "
                         "token %zu)",
                         r, h, recv_x[r * H + h], case_x(esrc[r], t, h),
                         esrc[r], t);
                bad++;
                break;
            }
        }
        for (size_t j = 0; j < k; j++) {
            int64_t e = idx[t * k + j];
            int32_t want = kept[t * k + j] && (size_t)e / L == (size_t)me
                               ? (int32_t)((size_t)e % L)
                               : -1;

            if (le[r * k + j] != want || wt[r * k + j] != w[t * k + j]) {
                WT_CHECK(0,
                         "row %zu slot %zu: expert %d weight %g, want %d "
                         "%g",
                         r, j, le[r * k + j], wt[r * k + j], want,
                         w[t * k + j]);
                bad++;
            }
        }
        free(idx);
        free(w);
        free(kept);
    }
}

/* y[t] by the documented order: ranks in the order the slots first name
 * them, local slots in slot order, fp32. */
static void
reference_y(const moe_case_t *c, int me, float *y)
{
    size_t n = case_ntok(c, me), k = c->topk, H = c->hidden;
    size_t L = c->nexperts / (size_t)c->nranks;
    int64_t *idx = malloc((n * k + 1) * sizeof(int64_t));
    float *w = malloc((n * k + 1) * sizeof(float));
    unsigned char *kept = malloc(n * k + 1);

    case_route(c, me, idx, w);
    case_keep(c, me, idx, kept);
    for (size_t t = 0; t < n; t++) {
        for (size_t h = 0; h < H; h++) {
            float acc = 0.0f, x = case_x(me, t, h);
            int done[64] = {0};

            for (size_t j = 0; j < k; j++) {
                size_t d;
                float part = 0.0f;

                if (!kept[t * k + j]) {
                    continue;
                }
                d = (size_t)idx[t * k + j] / L;
                if (done[d]) {
                    continue;
                }
                done[d] = 1;
                for (size_t i = j; i < k; i++) {
                    int64_t e = idx[t * k + i];
                    float s = c->scale_expert ? (float)(e + 1) : 1.0f;

                    if (kept[t * k + i] && (size_t)e / L == d) {
                        part += w[t * k + i] * (s * x);
                    }
                }
                acc += part;
            }
            y[t * H + h] = acc;
        }
    }
    free(idx);
    free(w);
    free(kept);
}

static void
moe_body(weft_context_t *ctx, weft_comm_t *world, void *arg)
{
    const moe_case_t *c = arg;
    int me = weft_comm_rank(world);
    size_t n = case_ntok(c, me), k = c->topk, H = c->hidden, needed = 0;
    size_t nexp = expected_rows(c, me, NULL, NULL);
    int64_t *idx = malloc((n * k + 1) * sizeof(int64_t));
    float *w = malloc((n * k + 1) * sizeof(float));
    float *x = malloc((n * H + 1) * sizeof(float));
    float *y = malloc((n * H + 1) * sizeof(float));
    float *yref = malloc((n * H + 1) * sizeof(float));
    unsigned char *kept = malloc(n * k + 1);
    int32_t *esrc = malloc((nexp + 1) * sizeof(int32_t));
    int32_t *etok = malloc((nexp + 1) * sizeof(int32_t));
    moe_rank_t st = {.c = c};
    weft_moe_params_t p;
    weft_moe_handle_t *hd = NULL;
    weft_moe_info_t info;
    size_t want_drop;

    (void)ctx;
    case_route(c, me, idx, w);
    want_drop = case_keep(c, me, idx, kept);
    for (size_t t = 0; t < n; t++) {
        for (size_t h = 0; h < H; h++) {
            x[t * H + h] = case_x(me, t, h);
        }
    }
    expected_rows(c, me, esrc, etok);
    st.recv_x = malloc((nexp + 1) * H * sizeof(float));
    st.expert_y = malloc((nexp * k + 1) * H * sizeof(float));
    case_params(c, &p);
    WT_OK(weft_moe_dispatch(world, &p, x, n, idx, w, st.recv_x, nexp,
                            c->chunks > 1 ? chunk_fn : NULL, &st, &needed,
                            &hd));
    if (hd == NULL) {
        return;
    }
    WT_OK(weft_moe_handle_info(hd, &info));
    WT_CHECK(needed == nexp && info.nrecv == nexp,
             "received %zu rows (needed %zu), want %zu", info.nrecv, needed,
             nexp);
    WT_CHECK(info.dropped == want_drop, "dropped %zu, want %zu", info.dropped,
             want_drop);
    WT_CHECK(!c->capacity || info.capacity == case_capacity(c, n),
             "capacity %zu, want %zu", info.capacity, case_capacity(c, n));
    check_rows(c, hd, st.recv_x, nexp, esrc, etok, me);
    if (c->chunks > 1) {
        WT_CHECK(!st.bad_chunk && st.next_chunk == c->chunks &&
                     st.rows_seen == nexp,
                 "chunk function: %zu calls, %zu rows, order ok %d",
                 st.next_chunk, st.rows_seen, !st.bad_chunk);
    } else {
        weft_moe_chunk_t ch;

        WT_OK(weft_moe_handle_chunk(hd, 0, &ch));
        WT_CHECK(ch.row_begin == 0 && ch.row_end == nexp &&
                     ch.pair_begin == 0 && ch.pair_end == info.npairs,
                 "chunk 0: rows [%zu, %zu) pairs [%zu, %zu)", ch.row_begin,
                 ch.row_end, ch.pair_begin, ch.pair_end);
        run_expert(&st, &ch, me);
        WT_CHECK(!st.bad_chunk, "a pair outside its expert's range");
    }
    WT_OK(weft_moe_combine(hd, st.expert_y, WEFT_FLOAT32, y));
    reference_y(c, me, yref);
    for (size_t i = 0; i < n * H; i++) {
        if (memcmp(&y[i], &yref[i], sizeof(float)) != 0) {
            WT_CHECK(0, "y[%zu][%zu] = %.9g, want %.9g", i / H, i % H, y[i],
                     yref[i]);
            break;
        }
    }
    weft_moe_handle_destroy(hd);
    free(idx);
    free(w);
    free(x);
    free(y);
    free(yref);
    free(kept);
    free(esrc);
    free(etok);
    free(st.recv_x);
    free(st.expert_y);
}

static void
run_case(moe_case_t c, const char *what)
{
    static const int ranks[] = {1, 2, 4, 8};

    for (int i = 0; i < 4; i++) {
        wt_job_t job = {.nranks = ranks[i],
                        .timeout_s = 60,
                        .env = {"WEFT_TIMEOUT=30s", NULL}};

        if (c.nexperts % (size_t)ranks[i] != 0) {
            continue;
        }
        c.nranks = ranks[i];
        cr_expect_eq(wt_run(&job, moe_body, &c), 0, "%s, %d ranks", what,
                     ranks[i]);
    }
}

/* ---- dispatch and combine over ranks ---------------------------------- */

/* defaults, then the case's own fields (designated initializers that
 * override the defaults on purpose) */
#pragma GCC diagnostic ignored "-Woverride-init"
#define MOE_CASE(...)                                                          \
    ((moe_case_t){.ntok = 40,                                                  \
                  .empty_rank = -1,                                            \
                  .nexperts = 8,                                               \
                  .topk = 2,                                                   \
                  .hidden = 24,                                                \
                  .chunks = 1,                                                 \
                  .cf = 1.0,                                                   \
                  .dtype = WEFT_FLOAT32,                                       \
                  __VA_ARGS__})

Test(ml_moe, dropless_top2_identity_round_trip, .timeout = 120)
{
    run_case(MOE_CASE(.ntok = 40), "dropless top-2 identity");
}

Test(ml_moe, dropless_top3_scaled_experts, .timeout = 120)
{
    run_case(MOE_CASE(.topk = 3, .scale_expert = 1, .none_pct = 10),
             "dropless top-3 scaled");
}

Test(ml_moe, capacity_deepspeed_drops, .timeout = 120)
{
    run_case(MOE_CASE(.capacity = 1, .cf = 0.5, .ntok = 60, .scale_expert = 1),
             "capacity DeepSpeed cf 0.5");
}

Test(ml_moe, capacity_tutel_drops, .timeout = 120)
{
    run_case(MOE_CASE(.capacity = 2, .cf = 0.75, .ntok = 60, .topk = 1,
                      .scale_expert = 1),
             "capacity Tutel top-1 cf 0.75");
    run_case(MOE_CASE(.capacity = 2, .cf = 1.0, .ntok = 45, .scale_expert = 1),
             "capacity Tutel top-2 cf 1.0");
}

Test(ml_moe, chunks_with_early_combine, .timeout = 120)
{
    run_case(MOE_CASE(.chunks = 3, .early_combine = 1, .scale_expert = 1),
             "3 chunks, combine posted from the chunk function");
    run_case(MOE_CASE(.chunks = 4, .capacity = 1, .cf = 0.5),
             "4 chunks, capacity");
}

Test(ml_moe, edge_cases, .timeout = 120)
{
    run_case(MOE_CASE(.empty_rank = 1, .chunks = 2), "rank 1 has no tokens");
    run_case(MOE_CASE(.one_expert = 1, .scale_expert = 1),
             "every token to expert 0");
    run_case(MOE_CASE(.none_pct = 60, .topk = 4, .nexperts = 16),
             "60% of slots -1");
    run_case(MOE_CASE(.ntok = 0, .empty_rank = 0),
             "rank 0 without tokens, the others few");
}

/* ---- half types: identity round trip is exact with one expert ------ */

static void
half_body(weft_context_t *ctx, weft_comm_t *world, void *arg)
{
    const weft_dtype_t *dt = arg;
    int me = weft_comm_rank(world), P = weft_comm_size(world);
    enum { N = 33, H = 16 };
    uint16_t x[N * H], y[N * H], recv[N * 4 * H], out[N * 4 * H];
    int64_t idx[N];
    weft_moe_params_t p = {
        .nexperts = (size_t)P * 2, .topk = 1, .hidden = H, .dtype = *dt};
    weft_moe_handle_t *hd = NULL;
    weft_moe_info_t info;
    weft_moe_chunk_t ch;

    (void)ctx;
    for (size_t i = 0; i < N * H; i++) {
        x[i] = (uint16_t)(0x3c00 + (moe_hash((uint64_t)me, i, 3) % 0x3ff));
    }
    for (size_t t = 0; t < N; t++) {
        idx[t] = (int64_t)(moe_hash((uint64_t)me, t, 4) % p.nexperts);
    }
    WT_OK(weft_moe_dispatch(world, &p, x, N, idx, NULL, recv, N * 4, NULL, NULL,
                            NULL, &hd));
    if (hd == NULL) {
        return;
    }
    WT_OK(weft_moe_handle_info(hd, &info));
    WT_OK(weft_moe_handle_chunk(hd, 0, &ch));
    for (size_t q = 0; q < info.npairs; q++) {
        memcpy(&out[q * H], &recv[ch.pair_row[q] * H], H * 2);
    }
    WT_OK(weft_moe_combine(hd, out, *dt, y));
    for (size_t i = 0; i < N * H; i++) {
        WT_CHECK(y[i] == x[i], "%s y[%zu] = %#x, want %#x",
                 weft_dtype_name(*dt), i, y[i], x[i]);
        if (y[i] != x[i]) {
            break;
        }
    }
    weft_moe_handle_destroy(hd);
}

Test(ml_moe, half_types_round_trip_exactly, .timeout = 60)
{
    weft_dtype_t dts[] = {WEFT_BFLOAT16, WEFT_FLOAT16};

    for (int i = 0; i < 2; i++) {
        cr_expect_eq(wt_run_ranks(4, half_body, &dts[i]), 0, "%s",
                     weft_dtype_name(dts[i]));
    }
}

/* fp64 rows: top-2 with weights, accumulated in fp64 (exact order for
 * two slots: w0 * x + w1 * x from zero) */
static void
f64_body(weft_context_t *ctx, weft_comm_t *world, void *arg)
{
    int me = weft_comm_rank(world), P = weft_comm_size(world);
    enum { N = 29, H = 8, K = 2 };
    double x[N * H], y[N * H], recv[N * 4 * H], out[N * 4 * K * H];
    int64_t idx[N * K];
    float w[N * K];
    weft_moe_params_t p = {.nexperts = (size_t)P * 2,
                           .topk = K,
                           .hidden = H,
                           .dtype = WEFT_FLOAT64};
    weft_moe_handle_t *hd = NULL;
    weft_moe_info_t info;
    weft_moe_chunk_t ch;

    (void)ctx;
    (void)arg;
    for (size_t i = 0; i < N * H; i++) {
        x[i] = 1.0 / (double)(1 + moe_hash((uint64_t)me, i, 5) % 1000);
    }
    for (size_t t = 0; t < N; t++) {
        idx[t * K] = (int64_t)(moe_hash((uint64_t)me, t, 6) % p.nexperts);
        idx[t * K + 1] =
            (idx[t * K] + 1 + (int64_t)t % 3) % (int64_t)p.nexperts;
        w[t * K] = 0.3f + 0.01f * (float)(t % 7);
        w[t * K + 1] = 1.0f - w[t * K];
    }
    WT_OK(weft_moe_dispatch(world, &p, x, N, idx, w, recv, N * 4, NULL, NULL,
                            NULL, &hd));
    if (hd == NULL) {
        return;
    }
    WT_OK(weft_moe_handle_info(hd, &info));
    WT_OK(weft_moe_handle_chunk(hd, 0, &ch));
    for (size_t q = 0; q < info.npairs; q++) {
        memcpy(&out[q * H], &recv[ch.pair_row[q] * H], H * sizeof(double));
    }
    WT_OK(weft_moe_combine(hd, out, WEFT_FLOAT64, y));
    for (size_t i = 0; i < N * H; i++) {
        size_t t = i / H;
        double want = 0.0;

        want += (double)w[t * K] * x[i];
        want += (double)w[t * K + 1] * x[i];
        WT_CHECK(memcmp(&y[i], &want, sizeof(want)) == 0,
                 "float64 y[%zu] = %.17g, want %.17g", i, y[i], want);
        if (memcmp(&y[i], &want, sizeof(want)) != 0) {
            break;
        }
    }
    weft_moe_handle_destroy(hd);
}

Test(ml_moe, float64_rows_accumulate_in_float64, .timeout = 60)
{
    cr_expect_eq(wt_run_ranks(2, f64_body, NULL), 0);
    cr_expect_eq(wt_run_ranks(4, f64_body, NULL), 0);
}

/* ---- truncation ------------------------------------------------------- */

static void
trunc_body(weft_context_t *ctx, weft_comm_t *world, void *arg)
{
    moe_case_t c = MOE_CASE(.nranks = weft_comm_size(world));
    int me = weft_comm_rank(world);
    size_t n = case_ntok(&c, me), need = expected_rows(&c, me, NULL, NULL);
    size_t got = 0;
    int64_t *idx = malloc(n * 2 * sizeof(int64_t));
    float *w = malloc(n * 2 * sizeof(float));
    float *x = calloc(n * c.hidden, sizeof(float));
    float *recv = malloc((need + 1) * c.hidden * sizeof(float));
    weft_moe_params_t p;
    weft_moe_handle_t *hd = NULL;
    weft_status_t st;

    (void)ctx;
    (void)arg;
    case_route(&c, me, idx, w);
    case_params(&c, &p);
    /* rank 1 is one row short: every rank stops, naming it */
    st = weft_moe_dispatch(world, &p, x, n, idx, w, recv,
                           me == 1 ? need - 1 : need, NULL, NULL, &got, &hd);
    WT_CHECK(st == WEFT_ERR_TRUNCATED && hd == NULL,
             "short buffer: %s, handle %p", weft_status_string(st), (void *)hd);
    WT_CHECK(got == need, "needed %zu, want %zu", got, need);
    WT_CHECK(strstr(weft_last_error(), "rank 1 receives") != NULL, "%s",
             weft_last_error());
    /* the same call with the room it asked for goes through */
    WT_OK(weft_moe_dispatch(world, &p, x, n, idx, w, recv, got, NULL, NULL,
                            NULL, &hd));
    weft_moe_handle_destroy(hd);
    free(idx);
    free(w);
    free(x);
    free(recv);
}

Test(ml_moe, truncation_reports_the_needed_count, .timeout = 60)
{
    cr_expect_eq(wt_run_ranks(2, trunc_body, NULL), 0);
    cr_expect_eq(wt_run_ranks(4, trunc_body, NULL), 0);
}

/* ---- bad input -------------------------------------------------------- */

static void
expect_arg(weft_status_t st, const char *needle)
{
    WT_CHECK(st == WEFT_ERR_INVALID_ARG &&
                 strstr(weft_last_error(), needle) != NULL,
             "want invalid argument naming \"%s\": %s, \"%s\"", needle,
             weft_status_string(st), weft_last_error());
}

static void
bad_body(weft_context_t *ctx, weft_comm_t *world, void *arg)
{
    int me = weft_comm_rank(world);
    float x[4 * 8] = {0}, recv[16 * 8], out[16 * 8], y[4 * 8];
    int64_t idx[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    weft_moe_params_t p = {
        .nexperts = 8, .topk = 2, .hidden = 8, .dtype = WEFT_FLOAT32};
    weft_moe_handle_t *hd = NULL;
    weft_status_t st;

    (void)ctx;
    (void)arg;
    p.nexperts = 7;
    expect_arg(weft_moe_dispatch(world, &p, x, 4, idx, NULL, recv, 16, NULL,
                                 NULL, NULL, &hd),
               "nexperts 7");
    p.nexperts = 8;
    idx[5] = 8;
    expect_arg(weft_moe_dispatch(world, &p, x, 4, idx, NULL, recv, 16, NULL,
                                 NULL, NULL, &hd),
               "topk_idx[2][1] = 8");
    idx[5] = -5;
    expect_arg(weft_moe_dispatch(world, &p, x, 4, idx, NULL, recv, 16, NULL,
                                 NULL, NULL, &hd),
               "topk_idx[2][1] = -5");
    idx[5] = 5;
    expect_arg(weft_moe_dispatch(world, &p, NULL, 4, idx, NULL, recv, 16, NULL,
                                 NULL, NULL, &hd),
               "x is NULL");
    expect_arg(weft_moe_dispatch(world, &p, x, 4, NULL, NULL, recv, 16, NULL,
                                 NULL, NULL, &hd),
               "topk_idx is NULL");
    expect_arg(weft_moe_dispatch(world, &p, x, 4, idx, NULL, NULL, 16, NULL,
                                 NULL, NULL, &hd),
               "recv_x is NULL");
    expect_arg(weft_moe_dispatch(world, &p, x, 4, idx, NULL, recv, 16, NULL,
                                 NULL, NULL, NULL),
               "handle_p is NULL");
    p.topk = 65;
    expect_arg(weft_moe_dispatch(world, &p, x, 4, idx, NULL, recv, 16, NULL,
                                 NULL, NULL, &hd),
               "params->topk 65");
    p.topk = 2;
    p.dtype = (weft_dtype_t)99;
    expect_arg(weft_moe_dispatch(world, &p, x, 4, idx, NULL, recv, 16, NULL,
                                 NULL, NULL, &hd),
               "dtype");
    /* ranks that disagree on the dtype: every rank names it */
    p.dtype = me == 1 ? WEFT_BFLOAT16 : WEFT_FLOAT32;
    expect_arg(weft_moe_dispatch(world, &p, x, 4, idx, NULL, recv, 16, NULL,
                                 NULL, NULL, &hd),
               "dtype");
    p.dtype = WEFT_FLOAT32;
    p.hidden = me == 0 ? 8 : 4;
    expect_arg(weft_moe_dispatch(world, &p, x, 4, idx, NULL, recv, 16, NULL,
                                 NULL, NULL, &hd),
               "hidden");
    p.hidden = 8;
    /* bad data on one rank only: it names its argument, the others name
     * it, and nobody waits for the deadline (60 s) */
    {
        double t0 = wt_now();

        idx[5] = me == 1 ? 9 : 5;
        st = weft_moe_dispatch(world, &p, me == 1 ? NULL : x, 4, idx, NULL,
                               recv, 16, NULL, NULL, NULL, &hd);
        expect_arg(st, me == 1 ? "x is NULL" : "rank 1 refused its call");
        st = weft_moe_dispatch(world, &p, x, 4, idx, NULL, recv, 16, NULL, NULL,
                               NULL, &hd);
        expect_arg(st,
                   me == 1 ? "topk_idx[2][1] = 9" : "rank 1 refused its call");
        idx[5] = 5;
        WT_CHECK(wt_now() - t0 < 10, "one rank's bad data took %.1f s",
                 wt_now() - t0);
    }
    WT_CHECK(hd == NULL, "a handle after failures");
    WT_OK(weft_moe_dispatch(world, &p, x, 4, idx, NULL, recv, 16, NULL, NULL,
                            NULL, &hd));
    if (hd == NULL) {
        return;
    }
    memset(out, 0, sizeof(out));
    expect_arg(weft_moe_combine(hd, out, WEFT_BFLOAT16, y), "does not match");
    expect_arg(weft_moe_combine(hd, out, WEFT_INT32, y), "floating");
    expect_arg(weft_moe_combine(hd, out, WEFT_FLOAT32, NULL), "y is NULL");
    expect_arg(weft_moe_combine_chunk(hd, 1, out, WEFT_FLOAT32), "chunk 1");
    WT_OK(weft_moe_combine(hd, out, WEFT_FLOAT32, y));
    weft_moe_handle_destroy(hd);
}

Test(ml_moe, bad_input_names_the_argument, .timeout = 60)
{
    wt_job_t job = {
        .nranks = 2, .timeout_s = 60, .env = {"WEFT_LOG_LEVEL=error", NULL}};

    cr_expect_eq(wt_run(&job, bad_body, NULL), 0);
}
