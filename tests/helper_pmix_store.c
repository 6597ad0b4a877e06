/*
 * A rank for tests/e2e_slurm.sh, started by srun --mpi=pmix: checks the
 * pmix bootstrap store the way the context uses it, and more.
 *
 *   helper_pmix_store NRANKS [fence-timeout]
 *
 * Default mode: the job's shape (NRANKS ranks, all on this node), the
 * job key (the same on every rank, not zero: compared through a derived
 * key, never printed), put/get across ranks without a fence between
 * them, a repeated put (same value: fine; another value: refused), a get
 * of a key nobody puts (times out), an allgather, one of different sizes
 * (WEFT_ERR_MISMATCH on every rank), and an abort event sent
 * by the last rank that must reach every rank (the sender too) with
 * every field intact; then a second store after the first is destroyed
 * (a second context) joins again, with a new job key. fence-timeout: rank 0
 * skips a fence; the others must get WEFT_ERR_TIMED_OUT at their deadline, not
 * hang. Each rank prints "rank R: ok" and exits 0, or names what failed and
 * exits 1.
 */
#include "build_config.h"

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bootstrap/auth.h"
#include "bootstrap/store.h"
#include "clock.h"
#include "log.h"

static int wt_rank = -1;

/* Say what failed (with weft's last error) and return 1. */
static int __attribute__((format(printf, 1, 2))) wt_fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "rank %d: FAILED: ", wt_rank);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (%s)\n", weft_last_error());
    return 1;
}

static int
wt_check_key(weft__store_t *s, const weft__store_pmix_job_t *job)
{
    uint8_t mine[WEFT_AUTH_KEY_LEN], *all;
    static const uint8_t zero[WEFT_AUTH_KEY_LEN];

    if (job->key_len != WEFT_AUTH_KEY_LEN ||
        memcmp(job->key, zero, sizeof(zero)) == 0) {
        return wt_fail("job key of %zu bytes, or all zero", job->key_len);
    }
    weft__auth_derive(job->key, job->key_len, "wt/pmix-check", mine);
    all = calloc((size_t)s->nranks, sizeof(mine));
    if (all == NULL || s->ops->allgather(s, "wt/key", mine, sizeof(mine), all,
                                         weft__now() + 20) != WEFT_OK) {
        return wt_fail("allgather of the derived job keys");
    }
    for (int r = 0; r < s->nranks; r++) {
        if (memcmp(all + (size_t)r * sizeof(mine), mine, sizeof(mine)) != 0) {
            return wt_fail("rank %d has another job key", r);
        }
    }
    free(all);
    return 0;
}

static int
wt_check_kv(weft__store_t *s)
{
    char key[64], val[64], want[64], buf[64];
    int peer = (s->rank + 1) % s->nranks;
    size_t len = 0;
    weft_status_t st;

    snprintf(key, sizeof(key), "wt/k%d", s->rank);
    snprintf(val, sizeof(val), "value of rank %d", s->rank);
    if (s->rank == 0) {
        usleep(300000); /* the others' gets must wait for it */
    }
    if (s->ops->put(s, key, val, strlen(val) + 1) != WEFT_OK ||
        s->ops->put(s, key, val, strlen(val) + 1) != WEFT_OK) {
        return wt_fail("put '%s' (twice, the same value)", key);
    }
    if (s->ops->put(s, key, "other", 6) != WEFT_ERR_INVALID_ARG) {
        return wt_fail("a second put of '%s' with another value was accepted",
                       key);
    }
    snprintf(key, sizeof(key), "wt/k%d", peer);
    snprintf(want, sizeof(want), "value of rank %d", peer);
    st = s->ops->get(s, key, buf, sizeof(buf), &len, weft__now() + 20);
    if (st != WEFT_OK || len != strlen(want) + 1 || strcmp(buf, want) != 0) {
        return wt_fail("get '%s' gave %s, %zu bytes", key,
                       weft_status_string(st), len);
    }
    st = s->ops->get(s, "wt/never", buf, sizeof(buf), &len, weft__now() + 0.3);
    if (st != WEFT_ERR_TIMED_OUT) {
        return wt_fail("get of a key nobody puts gave %s",
                       weft_status_string(st));
    }
    return 0;
}

static int
wt_check_allgather(weft__store_t *s)
{
    int mine = s->rank * 7 + 1;
    int *all = calloc((size_t)s->nranks, sizeof(int));

    if (all == NULL || s->ops->allgather(s, "wt/ranks", &mine, sizeof(mine),
                                         all, weft__now() + 20) != WEFT_OK) {
        return wt_fail("allgather 'wt/ranks'");
    }
    for (int r = 0; r < s->nranks; r++) {
        if (all[r] != r * 7 + 1) {
            return wt_fail("allgather: rank %d's entry is %d, not %d", r,
                           all[r], r * 7 + 1);
        }
    }
    free(all);
    return 0;
}

/* Rank 0 contributes 8 bytes, the others 4: a mismatch on every rank,
 * and the store still works after it. */
static int
wt_check_mismatch(weft__store_t *s)
{
    uint8_t mine[8] = {0}, *all = calloc((size_t)s->nranks, 8);
    size_t len = s->rank == 0 ? 8 : 4;
    weft_status_t st;

    if (all == NULL) {
        return wt_fail("out of memory");
    }
    st = s->ops->allgather(s, "wt/sizes", mine, len, all, weft__now() + 20);
    free(all);
    if (st != WEFT_ERR_MISMATCH ||
        strstr(weft_last_error(), "contributes") == NULL) {
        return wt_fail("an allgather of different sizes gave %s",
                       weft_status_string(st));
    }
    if (s->ops->fence(s, "wt/after-mismatch", weft__now() + 20) != WEFT_OK) {
        return wt_fail("the fence after the mismatch");
    }
    return 0;
}

static int
wt_check_abort(weft__store_t *s)
{
    int last = s->nranks - 1;
    weft__store_event_t ev, got;
    char want[64];
    double deadline = weft__now() + 15;

    snprintf(want, sizeof(want), "wt abort from rank %d", last);
    if (s->rank == last) {
        memset(&ev, 0, sizeof(ev));
        ev.kind = WEFT_STORE_EVENT_ABORT;
        ev.origin = last;
        ev.failed_rank = -1;
        ev.comm_id = 42;
        ev.status = WEFT_ERR_ABORTED;
        snprintf(ev.reason, sizeof(ev.reason), "%s", want);
        if (s->ops->abort(s, &ev) != WEFT_OK) {
            return wt_fail("abort");
        }
    }
    for (;;) {
        struct pollfd pfd = {.fd = s->ops->event_fd(s), .events = POLLIN};
        weft_status_t st = s->ops->poll_event(s, &got);

        if (st == WEFT_OK) {
            break;
        }
        if (st != WEFT_INPROGRESS) {
            return wt_fail("poll_event: %s", weft_status_string(st));
        }
        if (weft__now() >= deadline) {
            return wt_fail("no abort event from rank %d within 15 s", last);
        }
        (void)poll(&pfd, 1, 100);
    }
    if (got.kind != WEFT_STORE_EVENT_ABORT || got.origin != last ||
        got.failed_rank != -1 || got.comm_id != 42 ||
        got.status != WEFT_ERR_ABORTED || strcmp(got.reason, want) != 0) {
        return wt_fail(
            "the abort event arrived changed: kind %d origin %d failed "
            "%d comm %u status %d reason '%s'",
            got.kind, got.origin, got.failed_rank, got.comm_id, got.status,
            got.reason);
    }
    if (s->ops->poll_event(s, &got) != WEFT_INPROGRESS) {
        return wt_fail("the abort event arrived twice");
    }
    return 0;
}

static int
wt_fence_timeout(weft__store_t *s)
{
    double t0 = weft__now();
    weft_status_t st;

    if (s->rank == 0) {
        usleep(3000000); /* skip the fence; stay until the others gave up */
        return 0;
    }
    st = s->ops->fence(s, "wt/skipped-by-0", t0 + 1.5);
    if (st != WEFT_ERR_TIMED_OUT || weft__now() - t0 > 5) {
        return wt_fail("a fence rank 0 skips gave %s after %.1f s",
                       weft_status_string(st), weft__now() - t0);
    }
    return 0;
}

int
main(int argc, char **argv)
{
    weft__store_pmix_job_t job;
    weft__store_t *s = NULL;
    int nranks = argc > 1 ? atoi(argv[1]) : 0;
    int timeout_mode = argc > 2 && strcmp(argv[2], "fence-timeout") == 0;
    int rc;

    if (nranks < 1) {
        fprintf(stderr, "usage: helper_pmix_store NRANKS [fence-timeout]\n");
        return 2;
    }
    weft__log_configure(WEFT_LOG_ERROR, ~0u);
    if (weft__store_pmix_create(weft__now() + 30, &job, &s) != WEFT_OK) {
        fprintf(stderr, "FAILED: the pmix store: %s\n", weft_last_error());
        return 1;
    }
    wt_rank = s->rank;
    if (job.nranks != nranks || s->nranks != nranks || job.rank != s->rank ||
        job.local_size != nranks || job.local_rank != s->rank) {
        fprintf(stderr,
                "rank %d: FAILED: PMIx says rank %d of %d, local %d of %d; "
                "expected %d ranks on this node\n",
                s->rank, job.rank, job.nranks, job.local_rank, job.local_size,
                nranks);
        s->ops->destroy(s);
        return 1;
    }
    if (timeout_mode) {
        rc = wt_fence_timeout(s);
    } else {
        rc = wt_check_key(s, &job) || wt_check_kv(s) || wt_check_allgather(s) ||
             wt_check_mismatch(s) || wt_check_abort(s);
        if (rc == 0 &&
            s->ops->fence(s, "wt/done", weft__now() + 20) != WEFT_OK) {
            fprintf(stderr, "rank %d: FAILED: the last fence (%s)\n", s->rank,
                    weft_last_error());
            rc = 1;
        }
    }
    s->ops->destroy(s);
    if (rc == 0 && !timeout_mode) { /* a second context's store */
        uint8_t first[WEFT_AUTH_KEY_LEN];

        memcpy(first, job.key, sizeof(first));
        if (weft__store_pmix_create(weft__now() + 30, &job, &s) != WEFT_OK) {
            return wt_fail("a second pmix store after the first");
        }
        rc = wt_check_key(s, &job) || wt_check_allgather(s);
        if (rc == 0 && memcmp(first, job.key, sizeof(first)) == 0) {
            rc = wt_fail("the second store has the first one's job key");
        }
        s->ops->destroy(s);
    }
    if (rc == 0) {
        printf("rank %d: ok\n", wt_rank);
    }
    return rc;
}
