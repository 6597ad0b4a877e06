/*
 * weft-moe-bench: MoE dispatch and combine latency (p50/p99 over
 * iterations, the slowest rank of each) and bottleneck bandwidth (the
 * most bytes a rank receives in the exchange / the p50 time, DeepEP's
 * definition), the whole measurement repeated --runs times; the last line
 * gives the medians. A plain weft_alltoallv of the same rows (no packing,
 * no counts exchange) is timed alongside as the floor. Run under weftrun:
 *
 *   tools/weftrun -n 4 tools/weft-moe-bench [--tokens 4096] [--hidden 1024]
 *       [--experts 8] [--topk 2] [--dtype fp32|bf16] [--chunks 1]
 *       [--iters 20] [--warmup 3] [--runs 3] [--expert-ns 0]
 *
 * With --expert-ns N (layer mode) the dispatch runs a synthetic expert on
 * each chunk as it arrives (a wait of N ns per pair, then the identity)
 * and posts that chunk's combine at once; the columns are then the whole
 * layer's time (dispatch + experts + combine) and the expert time, so
 * --chunks 1 against --chunks 4 shows how much of the exchange the chunks
 * hide (with WEFT_PROGRESS_THREAD=1: on a CPU nothing else moves the
 * bytes while the expert computes).
 *
 * Routing: uniform random distinct experts per token (seeded per rank).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <weft.h>
#include <weft/ml.h>

typedef struct bench_args {
    size_t tokens, hidden, experts, topk, chunks;
    int iters, warmup, runs;
    long expert_ns; /* > 0: layer mode, a synthetic expert of this many
                       ns per pair runs on each chunk as it arrives */
    weft_dtype_t dtype;
} bench_args_t;

static double
bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int
bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* the q-quantile (nearest rank) of n sorted values */
static double
bench_q(double *v, int n, double q)
{
    int i = (int)(q * (double)n + 0.999999) - 1;

    qsort(v, (size_t)n, sizeof(*v), bench_cmp);
    return v[i < 0 ? 0 : (i >= n ? n - 1 : i)];
}

static int
bench_parse(int argc, char **argv, bench_args_t *a)
{
    *a = (bench_args_t){4096, 1024, 8, 2, 1, 20, 3, 3, 0, WEFT_FLOAT32};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (v == NULL) {
            return -1;
        }
        i++;
        if (!strcmp(o, "--tokens")) {
            a->tokens = strtoul(v, NULL, 0);
        } else if (!strcmp(o, "--hidden")) {
            a->hidden = strtoul(v, NULL, 0);
        } else if (!strcmp(o, "--experts")) {
            a->experts = strtoul(v, NULL, 0);
        } else if (!strcmp(o, "--topk")) {
            a->topk = strtoul(v, NULL, 0);
        } else if (!strcmp(o, "--chunks")) {
            a->chunks = strtoul(v, NULL, 0);
        } else if (!strcmp(o, "--iters")) {
            a->iters = atoi(v);
        } else if (!strcmp(o, "--warmup")) {
            a->warmup = atoi(v);
        } else if (!strcmp(o, "--expert-ns")) {
            a->expert_ns = atol(v);
        } else if (!strcmp(o, "--runs")) {
            a->runs = atoi(v);
        } else if (!strcmp(o, "--dtype") && !strcmp(v, "fp32")) {
            a->dtype = WEFT_FLOAT32;
        } else if (!strcmp(o, "--dtype") && !strcmp(v, "bf16")) {
            a->dtype = WEFT_BFLOAT16;
        } else {
            return -1;
        }
    }
    return a->iters > 0 && a->runs > 0 && a->topk <= a->experts ? 0 : -1;
}

/* one timed step: the slowest rank's seconds */
static double
bench_max(weft_comm_t *w, double t)
{
    double m = t;

    weft_allreduce(&t, &m, 1, WEFT_FLOAT64, WEFT_MAX, w);
    return m;
}

typedef struct bench_layer {
    const bench_args_t *a;
    const char *recv;
    char *ey;
    double expert_s;
} bench_layer_t;

static weft_status_t
bench_expert(void *arg, weft_moe_handle_t *h, const weft_moe_chunk_t *ch)
{
    bench_layer_t *l = arg;
    size_t rowb = l->a->hidden * weft_dtype_size(l->a->dtype);
    double t0 = bench_now();
    double until = t0 + (double)(ch->pair_end - ch->pair_begin) *
                            (double)l->a->expert_ns * 1e-9;

    for (size_t q = ch->pair_begin; q < ch->pair_end; q++) {
        memcpy(l->ey + q * rowb, l->recv + ch->pair_row[q] * rowb, rowb);
    }
    while (bench_now() < until) {
    }
    l->expert_s += bench_now() - t0;
    return weft_moe_combine_chunk(h, ch->index, l->ey, l->a->dtype);
}

/* Layer mode: dispatch with the expert per chunk, then combine. */
static weft_status_t
bench_layer_step(const bench_args_t *a, weft_comm_t *w,
                 const weft_moe_params_t *p, const char *x, const int64_t *idx,
                 const float *gw, char *recv, size_t cap, char *ey, char *y,
                 double *t_layer, double *t_expert)
{
    bench_layer_t l = {a, recv, ey, 0.0};
    weft_moe_handle_t *h = NULL;
    weft_status_t st;
    double t0;

    weft_barrier(w);
    t0 = bench_now();
    st = weft_moe_dispatch(w, p, x, a->tokens, idx, gw, recv, cap, bench_expert,
                           &l, NULL, &h);
    if (st == WEFT_OK) {
        st = weft_moe_combine(h, ey, a->dtype, y);
    }
    *t_layer = bench_now() - t0;
    *t_expert = l.expert_s;
    weft_moe_handle_destroy(h);
    return st;
}

/* One iteration: dispatch, identity experts (untimed), combine, and the
 * same rows through one plain alltoallv; each timed after a barrier. */
static weft_status_t
bench_step(const bench_args_t *a, weft_comm_t *w, const weft_moe_params_t *p,
           const char *x, const int64_t *idx, const float *gw, char *recv,
           size_t cap, char *ey, char *y, double *t_disp, double *t_comb,
           double *t_a2a, double *recv_b, double *sent_b)
{
    size_t rowb = a->hidden * weft_dtype_size(a->dtype);
    int P = weft_comm_size(w), me = weft_comm_rank(w);
    size_t *cnt =
        calloc(4 * (size_t)P + (size_t)P * P + (size_t)P, sizeof(size_t));
    size_t *sc = cnt, *sd = cnt + P, *rc = cnt + 2 * P, *rd = cnt + 3 * P;
    size_t *all = cnt + 4 * P, *mine = all + (size_t)P * P;
    weft_moe_handle_t *h = NULL;
    weft_moe_info_t info;
    weft_moe_chunk_t ch;
    const int32_t *src;
    weft_status_t st;
    double t0;

    if (cnt == NULL) {
        return WEFT_ERR_NO_MEMORY;
    }
    weft_barrier(w);
    t0 = bench_now();
    st = weft_moe_dispatch(w, p, x, a->tokens, idx, gw, recv, cap, NULL, NULL,
                           NULL, &h);
    *t_disp = bench_now() - t0;
    if (st != WEFT_OK) {
        free(cnt);
        return st;
    }
    weft_moe_handle_info(h, &info);
    *recv_b = (double)info.nrecv * (double)rowb;
    *sent_b = (double)info.nsent * (double)rowb;
    for (size_t c = 0; c < info.nchunks; c++) {
        weft_moe_handle_chunk(h, c, &ch);
        for (size_t q = ch.pair_begin; q < ch.pair_end; q++) {
            memcpy(ey + q * rowb, recv + ch.pair_row[q] * rowb, rowb);
        }
    }
    weft_barrier(w);
    t0 = bench_now();
    st = weft_moe_combine(h, ey, a->dtype, y);
    *t_comb = bench_now() - t0;
    /* the floor: the dispatch's rows in one alltoallv, counts known */
    weft_moe_handle_rows(h, &src, NULL, NULL, NULL);
    for (size_t r = 0; r < info.nrecv; r++) {
        rc[src[r]] += a->hidden;
    }
    memcpy(mine, rc, (size_t)P * sizeof(size_t));
    if (st == WEFT_OK) {
        st = weft_allgather(mine, all, (size_t)P, WEFT_UINT64, w);
    }
    for (int q = 0; q < P; q++) {
        sc[q] = all[(size_t)q * P + (size_t)me]; /* what q receives from me */
        sd[q] = q ? sd[q - 1] + sc[q - 1] : 0;
        rd[q] = q ? rd[q - 1] + rc[q - 1] : 0;
    }
    weft_barrier(w);
    t0 = bench_now();
    if (st == WEFT_OK) {
        st = weft_alltoallv(ey, sc, sd, recv, rc, rd, a->dtype, w);
    }
    *t_a2a = bench_now() - t0;
    weft_moe_handle_destroy(h);
    free(cnt);
    return st;
}

int
main(int argc, char **argv)
{
    bench_args_t a;
    weft_context_t *ctx;
    weft_comm_t *w;
    weft_moe_params_t p;
    int me, P;
    size_t es, rowb, cap;
    char *x, *recv, *ey, *y;
    int64_t *idx;
    float *gw;
    double *td, *tc, *ta, res[8][64];
    weft_status_t st = WEFT_OK;

    if (bench_parse(argc, argv, &a) != 0) {
        fprintf(stderr, "usage: see the comment at the top of "
                        "tools/weft_moe_bench.c\n");
        return 2;
    }
    if (weft_context_create(NULL, &ctx) != WEFT_OK) {
        fprintf(stderr, "weft-moe-bench: %s\n", weft_last_error());
        return 1;
    }
    weft_comm_world(ctx, &w);
    me = weft_comm_rank(w);
    P = weft_comm_size(w);
    es = weft_dtype_size(a.dtype);
    rowb = a.hidden * es;
    cap = a.tokens * (size_t)P;
    x = malloc(a.tokens * rowb);
    recv = malloc(cap * rowb);
    ey = malloc(cap * a.topk * rowb);
    y = malloc(a.tokens * rowb);
    idx = malloc(a.tokens * a.topk * sizeof(int64_t));
    gw = malloc(a.tokens * a.topk * sizeof(float));
    td = malloc((size_t)a.iters * sizeof(double));
    tc = malloc((size_t)a.iters * sizeof(double));
    ta = malloc((size_t)a.iters * sizeof(double));
    srand(1234 + (unsigned)me * 7);
    for (size_t i = 0; i < a.tokens * rowb; i++) {
        x[i] = (char)(rand() & 0x3f); /* small finite values either way */
    }
    for (size_t t = 0; t < a.tokens; t++) {
        for (size_t j = 0; j < a.topk; j++) {
            int64_t e;
            int dup;

            do {
                e = rand() % (int64_t)a.experts;
                dup = 0;
                for (size_t i = 0; i < j; i++) {
                    dup |= idx[t * a.topk + i] == e;
                }
            } while (dup);
            idx[t * a.topk + j] = e;
            gw[t * a.topk + j] = 1.0f / (float)a.topk;
        }
    }
    memset(&p, 0, sizeof(p));
    p.field_mask = WEFT_MOE_PARAM_CHUNKS;
    p.nexperts = a.experts;
    p.topk = a.topk;
    p.hidden = a.hidden;
    p.dtype = a.dtype;
    p.chunks = a.chunks;
    if (me == 0) {
        printf("# weft-moe-bench: %d ranks, %zu tokens/rank x hidden %zu %s, "
               "top-%zu of %zu experts, %zu chunk(s), %d iterations (+%d "
               "warm-up) x %d runs\n",
               P, a.tokens, a.hidden, weft_dtype_name(a.dtype), a.topk,
               a.experts, a.chunks, a.iters, a.warmup, a.runs);
        if (a.expert_ns > 0) {
            printf("# layer mode: an expert of %ld ns per pair on each chunk "
                   "as it arrives; layer = dispatch + experts + combine, "
                   "expert = its time alone (ms; disp/comb columns hold "
                   "layer/expert, the rest is 0)\n",
                   a.expert_ns);
        }
        printf("# %-4s %10s %10s %10s %10s %10s %10s %11s %11s\n", "run",
               a.expert_ns > 0 ? "layer_p50" : "disp_p50",
               a.expert_ns > 0 ? "layer_p99" : "disp_p99",
               a.expert_ns > 0 ? "expert_p50" : "comb_p50",
               a.expert_ns > 0 ? "expert_p99" : "comb_p99", "a2av_p50",
               "a2av_p99", "disp_GB/s", "comb_GB/s");
        printf("#      (ms; slowest rank per iteration; GB/s = max bytes a "
               "rank receives / p50)\n");
    }
    for (int run = 0; run < a.runs && run < 64 && st == WEFT_OK; run++) {
        double recv_b = 0, sent_b = 0, big_r, big_s;

        for (int it = -a.warmup; it < a.iters && st == WEFT_OK; it++) {
            double t_disp = 0, t_comb = 0, t_a2a = 0;

            if (a.expert_ns > 0) {
                st = bench_layer_step(&a, w, &p, x, idx, gw, recv, cap, ey, y,
                                      &t_disp, &t_comb);
            } else {
                st = bench_step(&a, w, &p, x, idx, gw, recv, cap, ey, y,
                                &t_disp, &t_comb, &t_a2a, &recv_b, &sent_b);
            }
            if (it >= 0) {
                td[it] = bench_max(w, t_disp);
                tc[it] = bench_max(w, t_comb);
                ta[it] = bench_max(w, t_a2a);
            }
        }
        if (st != WEFT_OK) {
            break;
        }
        weft_allreduce(&recv_b, &big_r, 1, WEFT_FLOAT64, WEFT_MAX, w);
        weft_allreduce(&sent_b, &big_s, 1, WEFT_FLOAT64, WEFT_MAX, w);
        res[0][run] = bench_q(td, a.iters, 0.5);
        res[1][run] = bench_q(td, a.iters, 0.99);
        res[2][run] = bench_q(tc, a.iters, 0.5);
        res[3][run] = bench_q(tc, a.iters, 0.99);
        res[4][run] = bench_q(ta, a.iters, 0.5);
        res[5][run] = bench_q(ta, a.iters, 0.99);
        res[6][run] = big_r / res[0][run] * 1e-9;
        res[7][run] = big_s / res[2][run] * 1e-9;
        if (me == 0) {
            printf("  %-4d %10.3f %10.3f %10.3f %10.3f %10.3f %10.3f %11.2f "
                   "%11.2f\n",
                   run, res[0][run] * 1e3, res[1][run] * 1e3, res[2][run] * 1e3,
                   res[3][run] * 1e3, res[4][run] * 1e3, res[5][run] * 1e3,
                   res[6][run], res[7][run]);
            fflush(stdout);
        }
    }
    if (st == WEFT_OK && me == 0) {
        double m[8];

        for (int k = 0; k < 8; k++) {
            m[k] = bench_q(res[k], a.runs < 64 ? a.runs : 64, 0.5);
        }
        printf("  %-4s %10.3f %10.3f %10.3f %10.3f %10.3f %10.3f %11.2f "
               "%11.2f\n",
               "med", m[0] * 1e3, m[1] * 1e3, m[2] * 1e3, m[3] * 1e3,
               m[4] * 1e3, m[5] * 1e3, m[6], m[7]);
    }
    if (st != WEFT_OK) {
        fprintf(stderr, "weft-moe-bench: rank %d: %s\n", me, weft_last_error());
    }
    weft_context_destroy(ctx);
    return st == WEFT_OK ? 0 : 1;
}
