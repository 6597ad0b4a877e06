/* Helpers of the bootstrap store suites (test_boot_store.c,
 * test_boot_hostile.c): a server on 127.0.0.1 port 0 and rank clients as
 * threads. */
#ifndef BOOT_HELPERS_H
#define BOOT_HELPERS_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "bootstrap/auth.h"
#include "bootstrap/server.h"
#include "bootstrap/store.h"

#define BS_MAX_RANKS 8

extern uint8_t bs_key[WEFT_AUTH_KEY_LEN];     /* the store key of the tests */
extern uint8_t bs_bad_key[WEFT_AUTH_KEY_LEN]; /* another key */

typedef struct bs_lost_log {
    pthread_mutex_t lock;
    int n;
    int rank;
    char reason[WEFT_STORE_REASON_MAX];
} bs_lost_log_t;

typedef struct bs_rank {
    pthread_t thread;
    int rank, nranks;
    weft__boot_server_t *srv;
    void *arg;
    weft_status_t st;
    char err[512];
    void (*fn)(struct bs_rank *r);
} bs_rank_t;

void bs_keys(void);
void bs_on_lost(void *arg, int rank, const char *reason);
weft__boot_server_t *bs_server(int nranks, int max_pending, double hs_timeout,
                               int thread, bs_lost_log_t *lost);
weft__store_t *bs_join(weft__boot_server_t *srv, int rank, int nranks);
void *bs_rank_main(void *arg);
/* A rank records its first failure (no Criterion asserts in threads). */
void bs_fail(bs_rank_t *r, weft_status_t st, const char *what);
void bs_run(bs_rank_t *ranks, int n, weft__boot_server_t *srv,
            void (*fn)(bs_rank_t *), void *arg);
void bs_assert_ranks_ok(const bs_rank_t *ranks, int n);
weft__store_t *bs_rank_join(bs_rank_t *r);
/* Wait for an event (up to 5 s). */
weft_status_t bs_wait_event(weft__store_t *s, weft__store_event_t *ev);
int bs_raw_connect(weft__boot_server_t *srv);
ssize_t bs_send(int fd, const void *buf, size_t len);
/* ev is the server's report that `rank` left without saying goodbye. */
/* Every rank: a fence, then an allgather checked byte by byte. */
void bs_coll_rank(bs_rank_t *r);
int bs_event_is_loss_of(const weft__store_event_t *ev, int rank);

#endif /* BOOT_HELPERS_H */
