/*
 * weft-bench: collective and point-to-point microbenchmarks on the public
 * API only. Run under weftrun:
 *
 *   weftrun -n 4 weft-bench allreduce --check
 *
 * Output follows ../shared/peers (mpi_coll_bench, nccl-tests metrics):
 * '#' lines are comments, then one line per size (per size and algorithm
 * with -a all):
 *   size_bytes count time_us algbw_GBs busbw_GBs max_time_us errors
 *   p50_us p99_us algo
 * or, with --json, one object per line. See weft_bench.h for the files.
 * A collective's time_us is timed as the peers' benchmark times it (the
 * loop alone); p50/p99 come from a second loop that times each call.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weft_bench.h"

typedef struct bench_algos {
    const char *name[BENCH_MAX_ALGOS]; /* NULL: auto */
    int n;
} bench_algos_t;

static int
bench_algos(const bench_opts_t *o, const bench_env_t *env, bench_algos_t *a)
{
    const char *coll = bench_coll_name(o->coll);
    weft_status_t st;

    memset(a, 0, sizeof(*a));
    if (o->algo == NULL || strcmp(o->algo, "auto") == 0) {
        a->n = 1; /* name[0] NULL: the library chooses */
        return 0;
    }
    if (strcmp(o->algo, "all") != 0) {
        st = weft_comm_set_algorithm(env->comm, coll, o->algo);
        if (st != WEFT_OK) {
            return env->rank == 0 ? bench_bad("-a: %s", weft_last_error())
                                  : BENCH_EXIT_USAGE;
        }
        a->name[a->n++] = o->algo;
        return 0;
    }
    for (const char *name; a->n < BENCH_MAX_ALGOS &&
                           (name = weft_coll_algorithm_name(coll, a->n));) {
        a->name[a->n++] = name;
    }
    return a->n > 0 ? 0 : 1;
}

static void
bench_header(const bench_opts_t *o, const bench_env_t *env,
             const bench_algos_t *a)
{
    if (o->json || env->rank != 0) {
        return;
    }
    printf("# weft-bench %s %s %s | ranks %d | weft %s | algo %s\n",
           bench_coll_name(o->coll), weft_dtype_name(o->dtype),
           bench_ops[o->op], env->size, weft_version(),
           o->algo ? o->algo : "auto");
    printf("# busbw factor %.4f | check %s | inplace %s | huge %s | root %d "
           "| iters %s\n",
           bench_busbw_factor(o->coll, env->size), o->check ? "on" : "off",
           o->inplace ? "on" : "off", o->huge ? "on" : "off", o->root,
           o->iters > 0 ? "fixed" : "1000 <64K, 100 <=16M, 20 >16M");
    if (o->algo != NULL && strcmp(o->algo, "all") == 0) {
        printf("# -a all: one row per size and algorithm:");
        for (int i = 0; i < a->n; i++) {
            printf(" %s", a->name[i]);
        }
        printf("\n");
    }
    printf("#%11s %12s %12s %10s %10s %12s %7s %10s %10s %s\n", "size_bytes",
           "count", "time_us", "algbw_GBs", "busbw_GBs", "max_time_us",
           "errors", "p50_us", "p99_us", "algo");
    fflush(stdout);
}

static void
bench_json_string(const char *s)
{
    putchar('"');
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\') {
            printf("\\%c", *s);
        } else if ((unsigned char)*s < 0x20) {
            printf("\\u%04x", (unsigned)(unsigned char)*s);
        } else {
            putchar(*s);
        }
    }
    putchar('"');
}

static void
bench_row(const bench_opts_t *o, const bench_env_t *env,
          const bench_result_t *r, const char *algo)
{
    double t = r->time_us * 1e-6;
    double algbw = t > 0 ? (double)r->size / t / 1e9 : 0.0;
    double busbw = algbw * bench_busbw_factor(o->coll, env->size);

    if (r->status != WEFT_OK) {
        if (o->json) {
            printf("{\"coll\":\"%s\",\"size_bytes\":%zu,\"algo\":\"%s\","
                   "\"skipped\":",
                   bench_coll_name(o->coll), r->size, algo ? algo : "auto");
            bench_json_string(r->note);
            printf("}\n");
        } else {
            printf("# size %zu: %s skipped: %s\n", r->size,
                   algo ? algo : "auto", r->note);
        }
    } else if (o->json) {
        printf("{\"impl\":\"weft %s\",\"coll\":\"%s\",\"nranks\":%d,"
               "\"dtype\":\"%s\",\"op\":\"%s\",\"root\":%d,\"inplace\":%s,"
               "\"size_bytes\":%zu,\"count\":%zu,\"iters\":%ld,"
               "\"warmup\":%ld,\"time_us\":%.3f,\"algbw_GBs\":%.4f,"
               "\"busbw_GBs\":%.4f,\"max_time_us\":%.3f,",
               weft_version(), bench_coll_name(o->coll), env->size,
               weft_dtype_name(o->dtype), bench_ops[o->op], o->root,
               o->inplace ? "true" : "false", r->size, r->count, r->iters,
               r->warmup, r->time_us, algbw, busbw, r->max_time_us);
        if (r->errors >= 0) {
            printf("\"errors\":%ld,", r->errors);
        } else {
            printf("\"errors\":null,");
        }
        printf("\"p50_us\":%.3f,\"p99_us\":%.3f,\"algo\":\"%s\"}\n", r->p50_us,
               r->p99_us, r->algo);
    } else {
        printf("%12zu %12zu %12.2f %10.2f %10.2f %12.2f ", r->size, r->count,
               r->time_us, algbw, busbw, r->max_time_us);
        if (r->errors >= 0) {
            printf("%7ld", r->errors);
        } else {
            printf("%7s", "-");
        }
        printf(" %10.2f %10.2f %s\n", r->p50_us, r->p99_us, r->algo);
    }
    fflush(stdout);
}

/* Every algorithm of a at one count; returns the wrong elements. */
static long
bench_count(const bench_opts_t *o, const bench_env_t *env,
            const bench_algos_t *a, size_t count)
{
    const char *coll = bench_coll_name(o->coll);
    bench_result_t r;
    long errors = 0;

    for (int i = 0; i < a->n; i++) {
        weft_status_t st;

        if (a->n > 1) {
            st = weft_comm_set_algorithm(env->comm, coll, a->name[i]);
            if (st != WEFT_OK) {
                bench_die(env, "weft_comm_set_algorithm", st);
            }
        }
        bench_run_size(o, env, count, &r);
        if (env->rank == 0) {
            bench_row(o, env, &r, a->name[i]);
        }
        errors += r.errors > 0 ? r.errors : 0;
    }
    return errors;
}

static int
bench_colls(const bench_opts_t *o, const bench_env_t *env)
{
    size_t bytes = o->min, count, last = SIZE_MAX;
    bench_algos_t algos;
    long errors = 0;
    int rc;

    if ((rc = bench_algos(o, env, &algos)) != 0) {
        return rc;
    }
    bench_header(o, env, &algos);
    if (o->coll == BENCH_BARRIER) {
        return bench_count(o, env, &algos, 0) > 0;
    }
    do {
        count = bench_coll_count(o, bytes, env->size);
        if (count == 0) {
            if (env->rank == 0 && !o->json) {
                printf("# size %zu skipped: less than one %s per rank\n", bytes,
                       weft_dtype_name(o->dtype));
            }
        } else if (bench_coll_size(o, count, env->size) != last) {
            last = bench_coll_size(o, count, env->size);
            errors += bench_count(o, env, &algos, count);
        }
    } while (bench_next_size(o, &bytes));
    if (errors > 0 && env->rank == 0) {
        fprintf(stderr, "weft-bench: %ld wrong elements (--check)\n", errors);
    }
    return errors > 0;
}

int
main(int argc, char **argv)
{
    bench_opts_t o = {.min = 8,
                      .max = 64u << 20,
                      .factor = 2,
                      .iters = 0,
                      .warmup = -1,
                      .window = 64,
                      .dtype = WEFT_FLOAT32,
                      .op = WEFT_SUM};
    weft_context_t *ctx;
    weft_comm_t *world;
    bench_env_t env = {0};
    weft_status_t st;
    int pingpong = 0, rc;

    rc = bench_parse(argc, argv, &o, &pingpong);
    if (rc != 0) {
        return rc == 1 ? 0 : rc;
    }
    st = weft_context_create(NULL, &ctx);
    if (st != WEFT_OK) {
        bench_die(NULL, "weft_context_create", st);
    }
    if ((st = weft_comm_world(ctx, &world)) != WEFT_OK ||
        (st = weft_comm_dup(world, &env.aux)) != WEFT_OK ||
        (st = weft_comm_dup(world, &env.comm)) != WEFT_OK) {
        bench_die(NULL, "making the communicators", st);
    }
    env.rank = weft_comm_rank(world);
    env.size = weft_comm_size(world);
    if (o.root >= env.size) {
        char root[16];

        snprintf(root, sizeof(root), "%d", o.root);
        rc = env.rank == 0 ? bench_bad("-r %s: no such rank", root)
                           : BENCH_EXIT_USAGE;
    } else if (pingpong && env.size < 2) {
        rc = bench_bad("%s", "pingpong needs at least 2 ranks (weftrun -n 2 "
                             "weft-bench pingpong)");
    } else {
        rc = pingpong ? bench_pingpong(&o, &env) : bench_colls(&o, &env);
    }
    if (rc != BENCH_EXIT_USAGE) {
        bench_barrier(&env); /* nobody leaves while a peer still needs it */
    }
    weft_comm_destroy(env.comm);
    weft_comm_destroy(env.aux);
    weft_context_destroy(ctx);
    return rc;
}
