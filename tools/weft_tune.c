/*
 * weft-tune: time every algorithm of each collective on this machine and
 * write a tuning file (collectives/tuning.h) that picks the fastest per
 * size range. Run under weftrun, like weft-bench:
 *
 *   weftrun -n 4 weft-tune -o tuning.txt
 *   WEFT_TUNING_FILE=tuning.txt weftrun -n 4 my_program
 *
 * For each size (weft-bench's sizes and size_bytes), each algorithm runs
 * REPS times, interleaved with the others, and its median time_us counts.
 * Adjacent sizes with the same winner merge into one rule; a winner's
 * range starts at its first measured size (the first rule at 0, the last
 * runs to inf). ranks is this run's rank count, nodes '*'. Rank 0 writes
 * the file. Timing reuses weft_bench_coll.c and weft_bench_check.c; the
 * algorithm lists and the file check use the internal selection code.
 */
#include "build_config.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collectives/select.h"
#include "collectives/tuning.h"
#include "weft_bench.h"

#define TUNE_MAX_SIZES 64

typedef struct tune_opts {
    const char *out;
    int reps;
    int colls[BENCH_COLL_COUNT]; /* chosen with -c */
    int ncolls;
} tune_opts_t;

typedef struct tune_point {
    size_t size, count;
    const char *winner; /* NULL: no algorithm could run it */
    double best_us;
} tune_point_t;

static void
tune_usage(FILE *out)
{
    fprintf(out,
            "usage: weft-tune [-o FILE] [-b MIN] [-e MAX] [-f FACTOR] "
            "[-c COLL,COLL,...]\n"
            "                 [-n ITERS] [-R REPS]\n"
            "  run under weftrun, e.g. weftrun -n 4 weft-tune -o "
            "tuning.txt; then\n"
            "  WEFT_TUNING_FILE=tuning.txt makes selection use it\n"
            "  -o FILE   the tuning file rank 0 writes (default "
            "weft-tuning.txt)\n"
            "  -b -e -f  sizes as weft-bench (size_bytes, K/M/G); defaults "
            "-b 8 -e 16M -f 4\n"
            "  -c LIST   collectives (default: every one with more than "
            "one algorithm:\n"
            "            allreduce reduce broadcast allgather "
            "reduce_scatter alltoall)\n"
            "  -n ITERS  calls per timing (default: weft-bench's, by "
            "size)\n"
            "  -R REPS   timings per algorithm and size, median taken "
            "(default 3)\n");
}

static int
tune_bad(const char *what, const char *arg)
{
    fprintf(stderr, "weft-tune: %s '%s' (weft-tune --help)\n", what, arg);
    return BENCH_EXIT_USAGE;
}

static int
tune_parse(int argc, char **argv, bench_opts_t *o, tune_opts_t *t)
{
    static const struct option lopts[] = {{"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    char *list = NULL, *save = NULL, *end;
    long v;
    int c;

    while ((c = getopt_long(argc, argv, "o:b:e:f:c:n:R:h", lopts, NULL)) !=
           -1) {
        switch (c) {
        case 'o':
            t->out = optarg;
            break;
        case 'b':
        case 'e':
            if (bench_parse_size(optarg, c == 'b' ? &o->min : &o->max)) {
                return tune_bad("bad size", optarg);
            }
            break;
        case 'f':
            o->factor = strtod(optarg, &end);
            if (*end != '\0' || !(o->factor > 1 && o->factor < 1e6)) {
                return tune_bad("bad -f (a factor above 1)", optarg);
            }
            break;
        case 'c':
            list = optarg;
            break;
        case 'n':
        case 'R':
            errno = 0;
            v = strtol(optarg, &end, 10);
            if (errno || *end != '\0' || v < 1 ||
                v > (c == 'n' ? BENCH_MAX_ITERS : 99)) {
                return tune_bad(c == 'n' ? "bad -n" : "bad -R", optarg);
            }
            if (c == 'n') {
                o->iters = v;
            } else {
                t->reps = (int)v;
            }
            break;
        case 'h':
            tune_usage(stdout);
            return 1;
        default:
            tune_usage(stderr);
            return BENCH_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        return tune_bad("unexpected argument", argv[optind]);
    }
    if (o->min > o->max) {
        return tune_bad("-b is larger than -e", "");
    }
    if (list == NULL) {
        for (c = 0; c < BENCH_COLL_COUNT; c++) {
            int wc = weft__coll_by_name(bench_coll_name((bench_coll_t)c));
            const weft__algo_t *const *algos = weft__algos(wc);

            if (algos[0] != NULL && algos[1] != NULL) {
                t->colls[t->ncolls++] = c;
            }
        }
        return 0;
    }
    for (char *s = strtok_r(list, ",", &save); s != NULL;
         s = strtok_r(NULL, ",", &save)) {
        c = bench_coll_by_name(s);
        if (c < 0) {
            return tune_bad("unknown collective", s);
        }
        for (int i = 0; i < t->ncolls; i++) {
            if (t->colls[i] == c) {
                return tune_bad("collective given twice", s);
            }
        }
        t->colls[t->ncolls++] = c;
    }
    return 0;
}

static int
tune_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Time every algorithm at one count; the fastest median into p. */
static void
tune_point(const bench_opts_t *o, const bench_env_t *env, const tune_opts_t *t,
           size_t count, tune_point_t *p)
{
    const char *coll = bench_coll_name(o->coll);
    const weft__algo_t *const *algos = weft__algos(weft__coll_by_name(coll));
    double times[BENCH_MAX_ALGOS][100];
    int ok[BENCH_MAX_ALGOS] = {0}, n = 0;
    bench_result_t r;

    while (algos[n] != NULL && n < BENCH_MAX_ALGOS) {
        ok[n++] = 1;
    }
    p->count = count;
    p->size = bench_coll_size(o, count, env->size);
    p->winner = NULL;
    for (int rep = 0; rep < t->reps; rep++) {
        for (int i = 0; i < n; i++) {
            weft_status_t st;

            if (!ok[i]) {
                continue;
            }
            st = weft_comm_set_algorithm(env->comm, coll, algos[i]->name);
            if (st != WEFT_OK) {
                bench_die(env, "weft_comm_set_algorithm", st);
            }
            bench_run_size(o, env, count, &r);
            ok[i] = r.status == WEFT_OK;
            times[i][rep] = r.time_us;
        }
    }
    if (env->rank == 0) {
        printf("%-14s %12zu", coll, p->size);
    }
    for (int i = 0; i < n; i++) {
        double med;

        if (!ok[i]) {
            if (env->rank == 0) {
                printf(" %s=-", algos[i]->name);
            }
            continue;
        }
        qsort(times[i], (size_t)t->reps, sizeof(double), tune_cmp_double);
        med = times[i][t->reps / 2];
        if (env->rank == 0) {
            printf(" %s=%.2f", algos[i]->name, med);
        }
        if (p->winner == NULL || med < p->best_us) {
            p->winner = algos[i]->name;
            p->best_us = med;
        }
    }
    if (env->rank == 0) {
        printf("  -> %s\n", p->winner ? p->winner : "(none)");
        fflush(stdout);
    }
}

static void
tune_size_text(size_t v, char *buf, size_t len)
{
    if (v == WEFT_TUNING_INF) {
        snprintf(buf, len, "inf");
    } else if (v != 0 && v % (1u << 30) == 0) {
        snprintf(buf, len, "%zuG", v >> 30);
    } else if (v != 0 && v % (1u << 20) == 0) {
        snprintf(buf, len, "%zuM", v >> 20);
    } else if (v != 0 && v % 1024 == 0) {
        snprintf(buf, len, "%zuK", v >> 10);
    } else {
        snprintf(buf, len, "%zu", v);
    }
}

/* The rules of one collective: runs of equal winners. */
static void
tune_rules(FILE *f, const char *coll, const tune_point_t *p, int np, int ranks)
{
    for (int a = 0, b; a < np; a = b) {
        char lo[32], hi[32];

        for (b = a + 1; b < np && p[b].winner == p[a].winner; b++) {
        }
        if (p[a].winner == NULL) {
            continue;
        }
        tune_size_text(a == 0 ? 0 : p[a].size, lo, sizeof(lo));
        tune_size_text(b == np ? WEFT_TUNING_INF : p[b].size - 1, hi,
                       sizeof(hi));
        fprintf(f, "%-14s %8s %8s %5d %5s %s\n", coll, lo, hi, ranks, "*",
                p[a].winner);
    }
}

/* Measure one collective; rank 0 appends its rules to f. */
static void
tune_coll(bench_opts_t *o, const bench_env_t *env, const tune_opts_t *t,
          FILE *f)
{
    tune_point_t p[TUNE_MAX_SIZES];
    size_t bytes = o->min, count, last = SIZE_MAX;
    int np = 0;

    if (o->coll == BENCH_BARRIER) {
        tune_point(o, env, t, 0, &p[np++]);
    } else {
        do {
            count = bench_coll_count(o, bytes, env->size);
            if (count != 0 && bench_coll_size(o, count, env->size) != last &&
                np < TUNE_MAX_SIZES) {
                last = bench_coll_size(o, count, env->size);
                tune_point(o, env, t, count, &p[np++]);
            }
        } while (bench_next_size(o, &bytes));
    }
    if (weft_comm_set_algorithm(env->comm, bench_coll_name(o->coll), NULL) !=
        WEFT_OK) {
        bench_die(env, "weft_comm_set_algorithm", WEFT_ERR_INTERNAL);
    }
    if (f != NULL) {
        tune_rules(f, bench_coll_name(o->coll), p, np, env->size);
    }
}

/* Rank 0: write the file and read it back through the parser. */
static int
tune_write(const tune_opts_t *t, const char *text)
{
    weft__tuning_t *check;
    FILE *f;

    if (weft__tuning_parse(text, t->out, &check) != WEFT_OK) {
        fprintf(stderr, "weft-tune: the file would not parse: %s\n",
                weft_last_error());
        return 1;
    }
    f = fopen(t->out, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "weft-tune: cannot write %s: %s\n", t->out,
                strerror(errno));
        weft__tuning_destroy(check);
        return 1;
    }
    printf("# wrote %s: %zu rules\n", t->out, weft__tuning_count(check));
    weft__tuning_destroy(check);
    return 0;
}

int
main(int argc, char **argv)
{
    bench_opts_t o = {.min = 8,
                      .max = 16u << 20,
                      .factor = 4,
                      .iters = 0,
                      .warmup = -1,
                      .dtype = WEFT_FLOAT32,
                      .op = WEFT_SUM};
    tune_opts_t t = {.out = "weft-tuning.txt", .reps = 3};
    weft_context_t *ctx;
    weft_comm_t *world;
    bench_env_t env = {0};
    char *text = NULL, host[256] = "?", lo[32], hi[32];
    size_t text_len = 0;
    FILE *f = NULL;
    weft_status_t st;
    int rc;

    bench_prog = "weft-tune";
    rc = tune_parse(argc, argv, &o, &t);
    if (rc != 0) {
        return rc == 1 ? 0 : rc;
    }
    if ((st = weft_context_create(NULL, &ctx)) != WEFT_OK ||
        (st = weft_comm_world(ctx, &world)) != WEFT_OK ||
        (st = weft_comm_dup(world, &env.aux)) != WEFT_OK ||
        (st = weft_comm_dup(world, &env.comm)) != WEFT_OK) {
        bench_die(NULL, "starting", st);
    }
    env.rank = weft_comm_rank(world);
    env.size = weft_comm_size(world);
    if (env.rank == 0) {
        f = open_memstream(&text, &text_len);
        if (f == NULL) {
            bench_die(&env, "open_memstream", WEFT_ERR_NO_MEMORY);
        }
        gethostname(host, sizeof(host) - 1);
        tune_size_text(o.min, lo, sizeof(lo));
        tune_size_text(o.max, hi, sizeof(hi));
        fprintf(f,
                "%s\n# written by weft-tune (weft %s) on %s: %d ranks, "
                "float32 sum,\n# sizes %s..%s x%g, median of %d; bytes "
                "count as weft-bench's size_bytes\n"
                "# coll          min_bytes max_bytes ranks nodes algo\n",
                WEFT_TUNING_HEADER, weft_version(), host, env.size, lo, hi,
                o.factor, t.reps);
        printf("# weft-tune: %d ranks; median time_us per algorithm "
               "(-: cannot run it)\n",
               env.size);
    }
    for (int i = 0; i < t.ncolls; i++) {
        o.coll = (bench_coll_t)t.colls[i];
        tune_coll(&o, &env, &t, f);
    }
    if (env.rank == 0) {
        fclose(f);
        rc = tune_write(&t, text);
        free(text);
    }
    bench_barrier(&env);
    weft_comm_destroy(env.comm);
    weft_comm_destroy(env.aux);
    weft_context_destroy(ctx);
    return rc;
}
