/*
 * The store server's private state, shared by server.c (connections,
 * handshakes, the event loop) and server_store.c (what ranks ask for:
 * keys, fences, allgathers, status, events).
 */
#ifndef WEFT_SERVER_INT_H
#define WEFT_SERVER_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <weft/status.h>

#include "bootstrap/auth.h"
#include "bootstrap/server.h"
#include "bootstrap/store_msg.h"
#include "sock.h"

/* Bytes shared by several queued frames (an allgather result). */
typedef struct weft__boot_blob {
    int refs;
    size_t len;
    uint8_t *data;
} weft__boot_blob_t;

/* One queued frame: head bytes of its own, then an optional shared blob. */
typedef struct weft__boot_tx {
    struct weft__boot_tx *next;
    size_t off;  /* bytes already written */
    size_t hlen; /* bytes in head */
    weft__boot_blob_t *blob;
    uint8_t head[];
} weft__boot_tx_t;

enum {
    WEFT_BOOT_CONN_PENDING = 1, /* handshake running */
    WEFT_BOOT_CONN_READY = 2,   /* authenticated, bound to a rank */
    WEFT_BOOT_CONN_DEAD = 3     /* closed; freed at the end of progress */
};

typedef struct weft__boot_conn {
    struct weft__boot_conn *prev, *next; /* srv->conns, in accept order */
    int fd;
    int state;
    int rank; /* READY (or reserved while the verdict is sent) */
    int verdict_set;
    int doomed;    /* close at the next reap */
    int violation; /* doomed for breaking the protocol */
    int bye;       /* said goodbye */
    char why[160]; /* why it is doomed */
    char addr[WEFT_SOCK_ADDRSTRLEN];
    weft__auth_hs_t hs; /* PENDING */
    uint32_t events;    /* what epoll watches now */
    weft__store_rx_t rx; /* the frame being received */
    /* sending */
    weft__boot_tx_t *txq, *txq_tail;
    size_t tx_bytes;
} weft__boot_conn_t;

typedef struct weft__boot_rank {
    weft__boot_conn_t *conn; /* connected now (or being accepted) */
    double seen;             /* when it last sent a frame */
    uint8_t beating;         /* it sends heartbeats: silence means lost */
    uint8_t checked_in;
    uint8_t finished;
    uint8_t lost;
} weft__boot_rank_t;

/* One rank's share of the stats (0 or 1 each). */
typedef struct weft__boot_tally {
    int checked_in, connected, finished, lost, unsettled;
} weft__boot_tally_t;

typedef struct weft__boot_kv {
    struct weft__boot_kv *next;
    uint32_t hash;
    size_t len;
    uint8_t *val;
    char key[];
} weft__boot_kv_t;

typedef struct weft__boot_wait {
    struct weft__boot_wait *next;
    weft__boot_conn_t *conn;
    uint32_t id;
    char key[];
} weft__boot_wait_t;

/* A fence or allgather in progress. */
typedef struct weft__boot_coll {
    struct weft__boot_coll *next;
    uint8_t what; /* WEFT_STORE_WHAT_* */
    int arrived;
    uint8_t *here; /* per rank */
    uint32_t *ids; /* per rank: the request to answer */
    size_t len;    /* allgather: bytes per rank */
    weft__boot_blob_t *blob;
    weft_status_t failed; /* ranks disagreed: every arrival gets reason */
    char reason[WEFT_STORE_REASON_MAX];
    char name[WEFT_STORE_KEY_MAX + 1];
} weft__boot_coll_t;

#define WEFT_BOOT_EVENTS_MAX 256

struct weft__boot_server {
    weft__boot_server_params_t params;
    uint8_t key[WEFT_AUTH_KEY_LEN];
    char address[WEFT_SOCK_ADDRSTRLEN];
    int listen_fd;
    int epoll_fd;
    int wake_fd;  /* eventfd: abort queued, or stop */
    int timer_fd; /* timerfd: the next handshake deadline */
    double timer_at;
    int listen_paused;
    double listen_resume;

    weft__boot_conn_t *conns, *conns_tail;
    weft__boot_conn_t *graveyard;
    int npending;
    int ndoomed;

    weft__boot_rank_t *ranks;
    weft__boot_kv_t **kv;
    size_t kv_buckets, kv_count, kv_bytes;
    weft__boot_wait_t *waits;
    size_t nwaits;
    weft__boot_coll_t *colls;

    weft__store_event_t *events; /* replayed to ranks that connect later */
    int nevents;
    int events_full_logged;

    /* rejection log, rate-limited */
    double rl_start;
    int rl_count;
    unsigned long rl_suppressed;

    /* shared with other threads, under lock */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    weft__boot_server_stats_t stats;
    int unsettled; /* checked in, neither finished nor lost */
    weft__store_event_t *abort_q;
    int abort_n, abort_cap;
    int thread_running;
    int stop;
    pthread_t thread;
};

/* server_conn.c */
int weft__boot_server_accept(weft__boot_server_t *srv);
void weft__boot_server_conn_event(weft__boot_server_t *srv,
                                  weft__boot_conn_t *conn, uint32_t events);
void weft__boot_server_conn_close(weft__boot_server_t *srv,
                                  weft__boot_conn_t *conn);
/* Close the doomed connections (and report what that means). */
void weft__boot_server_reap(weft__boot_server_t *srv);
void weft__boot_server_graveyard_free(weft__boot_server_t *srv);
/* A rank's share of the stats now; after changing the rank, apply the
 * difference to the stats other threads read (O(1) per change). */
weft__boot_tally_t weft__boot_server_tally(const weft__boot_rank_t *rk);
void weft__boot_server_tally_apply(weft__boot_server_t *srv,
                                   const weft__boot_tally_t *before,
                                   const weft__boot_rank_t *rk);
void weft__boot_server_reject_flush(weft__boot_server_t *srv, double now);
weft_status_t weft__boot_server_send(weft__boot_server_t *srv,
                                     weft__boot_conn_t *conn,
                                     const weft__store_msg_t *m);
/* A frame whose data is a shared blob (GATHERED). */
weft_status_t weft__boot_server_send_blob(weft__boot_server_t *srv,
                                          weft__boot_conn_t *conn, uint8_t type,
                                          uint32_t id, weft__boot_blob_t *blob);
/* Close conn at the next reap (never at once: callers may be iterating);
 * violation: count it as a rejected connection. */
void weft__boot_server_doom(weft__boot_server_t *srv, weft__boot_conn_t *conn,
                            int violation, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void weft__boot_blob_unref(weft__boot_blob_t *blob);

/* server_store.c */
void weft__boot_server_handle(weft__boot_server_t *srv, weft__boot_conn_t *conn,
                              const weft__store_msg_t *m);
/* Send ev to every connected rank and keep it for later ones. */
/* A rank that sends heartbeats has been silent past the heartbeat
 * timeout: report it lost (once) and close its connection. */
void weft__boot_server_rank_silent(weft__boot_server_t *srv, int rank,
                                   double silent_s);
void weft__boot_server_publish(weft__boot_server_t *srv,
                               const weft__store_event_t *ev);
/* A new rank connection: replay the stored events. */
void weft__boot_server_replay(weft__boot_server_t *srv,
                              weft__boot_conn_t *conn);
/* Forget the requests a closing connection had parked. */
void weft__boot_server_forget(weft__boot_server_t *srv,
                              weft__boot_conn_t *conn);
weft_status_t weft__boot_server_store_init(weft__boot_server_t *srv);
void weft__boot_server_store_fini(weft__boot_server_t *srv);

#endif /* WEFT_SERVER_INT_H */
