/*
 * ring_attention_bench: how much of the K/V transfer the ring hides
 * behind the block compute (the reference kernel). Under weftrun:
 *   weftrun -n 4 examples/ring_attention_bench [--rows N] [--heads H]
 *       [--kv-heads H] [--dim D] [--reps R] [--two-way]
 * Each rep runs the forward twice: serial (each transfer waited for
 * before the block is computed: its wait is the whole transfer time T)
 * and overlapped (the next transfer posted before the block is computed:
 * its wait is the exposed part E). Per step, hidden = 1 - E / T, and the
 * step time is the call's wall time over its P steps. "alone" is one
 * K/V block sent round the ring right after a barrier, nothing else
 * running: the bytes' own time, without the wait for a late neighbour
 * that T also holds. Rank 0 prints the medians over the reps of the
 * ranks' mean (waits) and max (wall). stats.hidden is the library's own
 * figure for the overlapped run (1 - wait / transfer, the transfer's end
 * as seen by polling between kernel calls).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <weft.h>
#include <weft/ml.h>

typedef struct row {
    double t_serial, e_overlap, step_serial, step_overlap;
} row_t;

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double
median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* One forward; the ranks' mean wait per round and max wall per step. */
static int
run_once(weft_comm_t *w, weft_ring_attn_params_t *p, const float *q,
         const float *kv, float *out, float *lse, double *wait_p,
         double *step_p, double *hidden_p)
{
    weft_ring_attn_stats_t s;
    int P = weft_comm_size(w);
    double mine[3], sum[3], wall;

    p->stats = &s;
    weft_barrier(w);
    if (weft_ring_attn_fwd(w, p, q, kv, kv, out, lse) != WEFT_OK) {
        fprintf(stderr, "ring_attention_bench: %s\n", weft_last_error());
        return -1;
    }
    mine[0] = s.rounds > 0 ? s.wait_s / s.rounds : 0.0;
    mine[1] = s.wall_s;
    mine[2] = s.hidden;
    weft_allreduce(mine, sum, 3, WEFT_FLOAT64, WEFT_SUM, w);
    weft_allreduce(&mine[1], &wall, 1, WEFT_FLOAT64, WEFT_MAX, w);
    *wait_p = sum[0] / P;
    *step_p = wall / P;
    *hidden_p = sum[2] / P;
    return 0;
}

/* One K/V block to rank+1 from rank-1 right after a barrier: the
 * ranks' mean time. */
static double
transfer_alone(weft_comm_t *w, const float *kv, float *in, size_t bytes)
{
    int r = weft_comm_rank(w), P = weft_comm_size(w);
    double t, sum;
    struct timespec a, b;

    weft_barrier(w);
    clock_gettime(CLOCK_MONOTONIC, &a);
    weft_sendrecv(kv, bytes, (r + 1) % P, 1, in, bytes, (r + P - 1) % P, 1, w);
    clock_gettime(CLOCK_MONOTONIC, &b);
    t = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
    weft_allreduce(&t, &sum, 1, WEFT_FLOAT64, WEFT_SUM, w);
    return sum / P;
}

int
main(int argc, char **argv)
{
    size_t rows = 128, heads = 8, kvh = 8, dim = 64;
    int reps = 3, two_way = 0;
    weft_context_t *ctx;
    weft_comm_t *w;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc) {
            rows = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--heads") == 0 && i + 1 < argc) {
            heads = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--kv-heads") == 0 && i + 1 < argc) {
            kvh = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--dim") == 0 && i + 1 < argc) {
            dim = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--two-way") == 0) {
            two_way = 1;
        } else {
            fprintf(stderr, "ring_attention_bench: unknown argument %s\n",
                    argv[i]);
            return 2;
        }
    }
    if (reps < 1 || reps > 99 || weft_context_create(NULL, &ctx) != WEFT_OK) {
        fprintf(stderr, "ring_attention_bench: bad --reps or no context\n");
        return 2;
    }
    weft_comm_world(ctx, &w);
    int P = weft_comm_size(w);
    float *q = malloc(rows * heads * dim * 4),
          *kv = malloc(rows * kvh * dim * 4);
    float *out = malloc(rows * heads * dim * 4),
          *lse = malloc(rows * heads * 4);
    float *in = malloc(2 * rows * kvh * dim * 4),
          *kv2 = calloc(2 * rows * kvh * dim, 4);
    double ts[99], eo[99], ss[99], so[99], ta[99], lh[99], dummy;
    weft_ring_attn_params_t p = {
        .field_mask =
            WEFT_RING_PARAM_FIELD_STATS | WEFT_RING_PARAM_FIELD_SERIAL,
        .layout = WEFT_RING_CONTIGUOUS,
        .mode = two_way ? WEFT_RING_TWO_WAY : WEFT_RING_ONE_WAY,
        .rows = rows,
        .heads = heads,
        .kv_heads = kvh,
        .head_dim = dim,
        .dtype = WEFT_FLOAT32,
    };

    for (size_t i = 0; i < rows * heads * dim; i++) {
        q[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    }
    for (size_t i = 0; i < rows * kvh * dim; i++) {
        kv[i] = (float)((i * 40503u) % 1000) / 1000.0f - 0.5f;
    }
    /* warm up both paths once */
    p.serial = 1;
    if (run_once(w, &p, q, kv, out, lse, &dummy, &dummy, &dummy) != 0) {
        return 1;
    }
    for (int r = 0; r < reps; r++) {
        ta[r] = transfer_alone(w, kv2, in, 2 * rows * kvh * dim * 4);
        p.serial = 1;
        if (run_once(w, &p, q, kv, out, lse, &ts[r], &ss[r], &dummy) != 0) {
            return 1;
        }
        p.serial = 0;
        if (run_once(w, &p, q, kv, out, lse, &eo[r], &so[r], &lh[r]) != 0) {
            return 1;
        }
    }
    if (weft_comm_rank(w) == 0) {
        double T = median(ts, reps), E = median(eo, reps);
        double hid = T > 0 ? 1.0 - E / T : 0.0;

        hid = hid < 0 ? 0 : hid;
        printf("# P  mode     rows heads kv dim  KV/step(KiB)  alone(ms)  "
               "transfer T(ms)  "
               "exposed E(ms)  hidden  step serial(ms)  step overlap(ms)  "
               "stats.hidden\n");
        printf(
            "%3d  %-7s %5zu %5zu %3zu %3zu %12.1f %10.3f %15.3f %14.3f %7.1f%% "
            "%16.3f %17.3f %12.1f%%\n",
            P, two_way ? "two-way" : "one-way", rows, heads, kvh, dim,
            2.0 * rows * kvh * dim * 4 / 1024, 1e3 * median(ta, reps), 1e3 * T,
            1e3 * E, 100 * hid, 1e3 * median(ss, reps), 1e3 * median(so, reps),
            100 * median(lh, reps));
    }
    free(q);
    free(kv);
    free(out);
    free(lse);
    free(in);
    free(kv2);
    weft_context_destroy(ctx);
    return 0;
}
