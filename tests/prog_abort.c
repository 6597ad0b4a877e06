/*
 * prog_abort: a weft program for tests/e2e_slurm.sh (public API only).
 *
 *   prog_abort ABORT_RANK
 *
 * Every rank joins the job and passes a barrier; ABORT_RANK then calls
 * weft_comm_abort on the world while every other rank waits in a receive
 * from it that no send will ever match. Each other rank must leave the
 * receive with WEFT_ERR_ABORTED whose origin is ABORT_RANK, long before
 * the 60 s deadline it runs under (ABORT_RANK stays 2 s longer, so that
 * its exit cannot be what they notice). Prints "rank R: aborted the world" or
 * "rank R: aborted by rank O after T s" and exits 0; anything else
 * prints what happened and exits 1. Run with WEFT_FLOOD=store, the abort
 * can only come through the bootstrap store's events.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <weft.h>

static double
prog_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int
main(int argc, char **argv)
{
    weft_context_t *ctx = NULL;
    weft_comm_t *world = NULL;
    int abort_rank = argc > 1 ? atoi(argv[1]) : -1;
    int me, origin = -1, rc = 1, buf = 0;
    const char *msg = "";
    weft_status_t st;
    double t0;

    if (argc != 2 || abort_rank < 0) {
        fprintf(stderr, "usage: prog_abort ABORT_RANK\n");
        return 2;
    }
    st = weft_context_create(NULL, &ctx);
    if (st == WEFT_OK) {
        st = weft_comm_world(ctx, &world);
    }
    if (st == WEFT_OK) {
        (void)weft_comm_set_timeout(world, 60);
        st = weft_barrier(world);
    }
    if (st != WEFT_OK) {
        fprintf(stderr, "prog_abort: start-up: %s: %s\n",
                weft_status_string(st), weft_last_error());
        weft_context_destroy(ctx);
        return 1;
    }
    me = weft_comm_rank(world);
    if (abort_rank >= weft_comm_size(world)) {
        fprintf(stderr, "prog_abort: rank %d is not in a job of %d\n",
                abort_rank, weft_comm_size(world));
    } else if (me == abort_rank) {
        usleep(200000); /* the others are in their receive by now */
        st = weft_comm_abort(world, WEFT_ERR_ABORTED);
        if (st == WEFT_OK) {
            printf("rank %d: aborted the world\n", me);
            rc = 0;
            /* stay: the others must learn it from the abort, not from
             * this rank's links closing */
            sleep(2);
        } else {
            fprintf(stderr, "rank %d: weft_comm_abort: %s\n", me,
                    weft_status_string(st));
        }
    } else {
        t0 = prog_now();
        st = weft_recv(&buf, sizeof(buf), abort_rank, 7, world, NULL);
        (void)weft_comm_error(world, &origin, &msg);
        if (st == WEFT_ERR_ABORTED && origin == abort_rank) {
            printf("rank %d: aborted by rank %d after %.2f s\n", me, origin,
                   prog_now() - t0);
            rc = 0;
        } else {
            fprintf(stderr,
                    "rank %d: the receive gave %s after %.2f s, origin %d: "
                    "%s\n",
                    me, weft_status_string(st), prog_now() - t0, origin, msg);
        }
    }
    fflush(stdout);
    weft_context_destroy(ctx);
    return rc;
}
