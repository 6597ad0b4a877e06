/*
 * prog_coll_loop: a weft program for end-to-end fault tests. Every rank
 * runs allreduce (int32 sum) in a loop and checks every element of every
 * result; it prints "rank R: ready" once the job is up, then one final
 * line: "rank R: ok N iterations" (exit 0), or the first error with how
 * long the failing call took (exit 3), or the first wrong element
 * (exit 4). --stop-rank / --kill-rank make one rank stop itself (SIGSTOP)
 * or die (SIGKILL) just before a given iteration.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <weft.h>

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void
usage(void)
{
    fprintf(stderr,
            "usage: prog_coll_loop [--iters N] [--seconds S] [--count C]\n"
            "       [--stop-rank R --stop-at I] [--kill-rank R --kill-at I]\n");
    exit(2);
}

typedef struct loop_opts {
    long iters, count, stop_at, kill_at;
    double seconds;
    int stop_rank, kill_rank;
} loop_opts_t;

static void
parse(int argc, char **argv, loop_opts_t *o)
{
    *o = (loop_opts_t){.iters = 100,
                       .count = 1024,
                       .stop_at = -1,
                       .kill_at = -1,
                       .seconds = 0,
                       .stop_rank = -1,
                       .kill_rank = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (v == NULL) {
            usage();
        }
        if (strcmp(a, "--iters") == 0) {
            o->iters = atol(v);
        } else if (strcmp(a, "--seconds") == 0) {
            o->seconds = atof(v);
        } else if (strcmp(a, "--count") == 0) {
            o->count = atol(v);
        } else if (strcmp(a, "--stop-rank") == 0) {
            o->stop_rank = atoi(v);
        } else if (strcmp(a, "--stop-at") == 0) {
            o->stop_at = atol(v);
        } else if (strcmp(a, "--kill-rank") == 0) {
            o->kill_rank = atoi(v);
        } else if (strcmp(a, "--kill-at") == 0) {
            o->kill_at = atol(v);
        } else {
            usage();
        }
        i++;
    }
    if (o->count < 1 || o->iters < 1) {
        usage();
    }
}

/* Element i of rank r's input at iteration it, and the sum over n ranks. */
static int32_t
input(int r, long it, long i)
{
    return (int32_t)(r * 7 + (it % 1000) + i % 13);
}

static int32_t
expect(int n, long it, long i)
{
    return (int32_t)(7 * n * (n - 1) / 2 + n * ((it % 1000) + i % 13));
}

int
main(int argc, char **argv)
{
    loop_opts_t o;
    weft_context_t *ctx;
    weft_comm_t *w;
    weft_status_t st;
    int32_t *in, *out;
    int me, n, rc = 0;
    long it;
    double start, t0 = 0;

    parse(argc, argv, &o);
    in = malloc((size_t)o.count * sizeof(*in));
    out = malloc((size_t)o.count * sizeof(*out));
    if (in == NULL || out == NULL) {
        fprintf(stderr, "prog_coll_loop: out of memory\n");
        return 2;
    }
    st = weft_context_create(NULL, &ctx);
    if (st != WEFT_OK) {
        fprintf(stderr, "prog_coll_loop: %s\n", weft_last_error());
        return 3;
    }
    weft_comm_world(ctx, &w);
    me = weft_comm_rank(w);
    n = weft_comm_size(w);
    st = weft_barrier(w);
    if (st == WEFT_OK) {
        printf("rank %d: ready\n", me);
        fflush(stdout);
    }
    start = now_s();
    /* it: iterations done, or the one that failed */
    for (it = 0; st == WEFT_OK; it++) {
        if (o.seconds > 0 && it % 64 == 0) {
            /* rank 0's clock decides, so every rank stops at the same
             * iteration */
            int stop = me == 0 && now_s() - start >= o.seconds;

            t0 = now_s();
            st = weft_broadcast(&stop, 1, WEFT_INT32, 0, w);
            if (st != WEFT_OK || stop) {
                break;
            }
        } else if (o.seconds <= 0 && it >= o.iters) {
            break;
        }
        if (me == o.stop_rank && it == o.stop_at) {
            raise(SIGSTOP);
        }
        if (me == o.kill_rank && it == o.kill_at) {
            raise(SIGKILL);
        }
        for (long i = 0; i < o.count; i++) {
            in[i] = input(me, it, i);
        }
        t0 = now_s();
        st = weft_allreduce(in, out, (size_t)o.count, WEFT_INT32, WEFT_SUM, w);
        if (st != WEFT_OK) {
            break;
        }
        for (long i = 0; i < o.count; i++) {
            if (out[i] != expect(n, it, i)) {
                printf("rank %d: wrong data at iteration %ld element %ld: "
                       "got %d, want %d\n",
                       me, it, i, (int)out[i], (int)expect(n, it, i));
                rc = 4;
                break;
            }
        }
        if (rc != 0) {
            break;
        }
    }
    if (st != WEFT_OK) {
        printf("rank %d: %s after %.2f s at iteration %ld: %s\n", me,
               weft_status_string(st), now_s() - t0, it, weft_last_error());
        rc = 3;
    } else if (rc == 0) {
        printf("rank %d: ok %ld iterations\n", me, it);
    }
    fflush(stdout);
    weft_context_destroy(ctx);
    free(in);
    free(out);
    return rc;
}
