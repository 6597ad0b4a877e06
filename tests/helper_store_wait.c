/*
 * A rank for tests/e2e_weftrun.sh: joins the job's bootstrap store the
 * way a weft rank does (WEFT_RENDEZVOUS, WEFT_JOB_KEY), then
 *   helper_store_wait FAIL_RANK STATUS|kill
 * rank FAIL_RANK says goodbye to the store and exits with STATUS (or
 * kills itself with SIGKILL, without a goodbye); every
 * other rank waits (up to 30 s) for an event from the store, prints
 *   rank R: event status S failed_rank F origin O: REASON
 * and exits 1 on its own. So the test sees that weftrun's failure
 * message reaches the surviving ranks before the grace period ends.
 */
#include "build_config.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootstrap/auth.h"
#include "bootstrap/store.h"
#include "clock.h"
#include "config.h"
#include "util.h"

static weft__store_t *
wt_store_join(const weft_config_t *cfg)
{
    uint8_t key[WEFT_AUTH_KEY_MAX];
    uint8_t store_key[WEFT_AUTH_KEY_LEN];
    weft__store_t *store = NULL;
    size_t len = 0;
    weft_status_t st;

    st = weft__auth_key_parse(cfg->job_key, key, &len);
    if (st != WEFT_OK) {
        fprintf(stderr, "helper: bad WEFT_JOB_KEY: %s\n", weft_last_error());
        return NULL;
    }
    weft__auth_derive(key, len, WEFT_AUTH_LABEL_STORE, store_key);
    weft__memzero(key, sizeof(key));
    st = weft__store_tcp_create(cfg->rendezvous, store_key, cfg->rank,
                                cfg->size, weft__now() + 20.0, &store);
    weft__memzero(store_key, sizeof(store_key));
    if (st != WEFT_OK) {
        fprintf(stderr, "helper: rank %d cannot join the store at %s: %s\n",
                cfg->rank, cfg->rendezvous, weft_last_error());
        return NULL;
    }
    return store;
}

static int
wt_event_wait(weft__store_t *store, int rank)
{
    double deadline = weft__now() + 30.0;
    weft__store_event_t ev;

    while (weft__now() < deadline) {
        struct pollfd pfd = {.fd = store->ops->event_fd(store),
                             .events = POLLIN};
        weft_status_t st = store->ops->poll_event(store, &ev);

        if (st == WEFT_OK) {
            printf("rank %d: event status %d failed_rank %d origin %d: %s\n",
                   rank, (int)ev.status, ev.failed_rank, ev.origin,
                   ev.reason);
            return 0;
        }
        if (st != WEFT_INPROGRESS) {
            printf("rank %d: store link broke: %s\n", rank,
                   weft_last_error());
            return -1;
        }
        poll(&pfd, 1, weft__ms_until(deadline, 1000));
    }
    printf("rank %d: no event in 30 s\n", rank);
    return -1;
}

int
main(int argc, char **argv)
{
    weft__store_t *store;
    weft_config_t cfg;
    int fail_rank, status;

    if (argc != 3) {
        fprintf(stderr, "usage: helper_store_wait FAIL_RANK STATUS|kill\n");
        return 2;
    }
    fail_rank = atoi(argv[1]);
    status = atoi(argv[2]);
    if (weft__config_load(&cfg) != WEFT_OK || cfg.rank < 0) {
        fprintf(stderr, "helper: not started by weftrun\n");
        return 2;
    }
    store = wt_store_join(&cfg);
    if (store == NULL) {
        weft__config_free(&cfg);
        return 2;
    }
    if (cfg.rank == fail_rank && strcmp(argv[2], "kill") == 0) {
        raise(SIGKILL);
    }
    if (cfg.rank == fail_rank) {
        store->ops->destroy(store); /* a clean goodbye, then a failure */
        weft__config_free(&cfg);
        return status;
    }
    fflush(stdout);
    wt_event_wait(store, cfg.rank);
    fflush(stdout);
    store->ops->destroy(store);
    weft__config_free(&cfg);
    return 1;
}
