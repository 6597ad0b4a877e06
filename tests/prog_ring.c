/*
 * prog_ring: a weft program for end-to-end tests. Ranks pass a counter
 * around the ring for --iters rounds and check it. --die-rank R makes rank
 * R die after --die-after rounds (SIGKILL, or abort() with --abort); the
 * others must then fail with WEFT_ERR_PEER_LOST naming R, print it, and
 * exit 3 instead of hanging.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>

int
main(int argc, char **argv)
{
    long iters = 100, die_after = -1;
    int die_rank = -1, use_abort = 0, me, n;
    weft_context_t *ctx;
    weft_comm_t *w;
    weft_status_t st;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc) {
            iters = atol(argv[++i]);
        } else if (strcmp(argv[i], "--die-rank") == 0 && i + 1 < argc) {
            die_rank = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--die-after") == 0 && i + 1 < argc) {
            die_after = atol(argv[++i]);
        } else if (strcmp(argv[i], "--abort") == 0) {
            use_abort = 1;
        } else {
            fprintf(stderr, "prog_ring: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    st = weft_context_create(NULL, &ctx);
    if (st != WEFT_OK) {
        fprintf(stderr, "prog_ring: weft_context_create: %s: %s\n",
                weft_status_string(st), weft_last_error());
        return 3;
    }
    weft_comm_world(ctx, &w);
    me = weft_comm_rank(w);
    n = weft_comm_size(w);
    for (long i = 0; i < iters; i++) {
        long out = i * n + me, in = -1;

        if (me == die_rank && i == die_after) {
            fflush(stdout);
            if (use_abort) {
                abort();
            }
            raise(SIGKILL);
        }
        st = weft_sendrecv(&out, sizeof(out), (me + 1) % n, 0, &in,
                           sizeof(in), (me + n - 1) % n, 0, w);
        if (st != WEFT_OK) {
            int origin;
            const char *msg;

            weft_comm_error(w, &origin, &msg);
            printf("rank %d: round %ld: %s (origin rank %d): %s\n", me, i,
                   weft_status_string(st), origin, msg);
            fflush(stdout);
            weft_context_destroy(ctx);
            return 3;
        }
        if (in != i * n + (me + n - 1) % n) {
            printf("rank %d: round %ld: got %ld\n", me, i, in);
            return 4;
        }
    }
    printf("rank %d: %ld rounds ok\n", me, iters);
    weft_context_destroy(ctx);
    return 0;
}
