/*
 * The bootstrap store server (tcp backend). weftrun runs it in its event
 * loop; without a launcher, rank 0 runs it in a background thread.
 *
 * Every connection is hostile until it completes the authenticated
 * handshake (auth.h) within the handshake deadline; at most max_pending
 * unauthenticated connections are kept (when full, the oldest is dropped
 * to make room, so a flood of idle connections cannot lock legitimate
 * ranks out). A bad connection is closed and logged (rate-limited) and
 * never disturbs the others. After check-in a rank's frames are bounded
 * (WEFT_STORE_VALUE_MAX) and validated before use; a violation closes
 * that connection only.
 *
 * A rank whose connection ends without a goodbye is reported lost: the
 * server sends an abort event (WEFT_ERR_PEER_LOST, failed_rank set) to
 * every rank and calls the on_lost callback.
 */
#ifndef WEFT_SERVER_H
#define WEFT_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <weft/status.h>
#include "bootstrap/store.h"

typedef struct weft__boot_server weft__boot_server_t;

typedef struct weft__boot_server_params {
    const char *bind;        /* "host:port"; port 0 picks a free one */
    const uint8_t *key;      /* store key (derived), WEFT_AUTH_KEY_LEN */
    int nranks;              /* ranks in the job */
    double handshake_timeout; /* seconds per unauthenticated connection */
    int max_pending;         /* unauthenticated connections kept at once */
    double heartbeat_timeout; /* a rank that sends heartbeats and then
                                 nothing for this long is lost; 0: never */
    /* Called (from progress) when a rank is lost; may be NULL. */
    void (*on_lost)(void *arg, int rank, const char *reason);
    void *on_lost_arg;
} weft__boot_server_params_t;

typedef struct weft__boot_server_stats {
    int checked_in;         /* ranks that authenticated at least once */
    int connected;          /* ranks connected now */
    int finished;           /* ranks that said goodbye */
    int lost;               /* ranks lost */
    unsigned long rejected; /* connections refused or dropped */
} weft__boot_server_stats_t;

weft_status_t weft__boot_server_create(const weft__boot_server_params_t *p,
                                       weft__boot_server_t **srv_p);

/* The address ranks connect to ("127.0.0.1:41234"). */
const char *weft__boot_server_address(const weft__boot_server_t *srv);

/* An fd (epoll) that is readable when progress has work. */
int weft__boot_server_fd(const weft__boot_server_t *srv);

/* Handle whatever is ready, waiting at most timeout_ms (0: do not
 * wait). Returns the number of events handled, or a negative status on
 * a fatal error of the server itself. Not for use while a thread runs. */
int weft__boot_server_progress(weft__boot_server_t *srv, int timeout_ms);

/* Send an event to every rank, now and to ranks that connect later.
 * Thread-safe. */
weft_status_t weft__boot_server_abort(weft__boot_server_t *srv,
                                      const weft__store_event_t *ev);

/* The job was stopped (weftrun got SIGTSTP, or SIGSTOP) and goes on now:
 * every rank's heartbeat clock starts again here, and every connected
 * rank is sent a BEAT, which restarts its own clock of the store's
 * answers (store_tcp) before it runs again. A stopped job is not a
 * silent one. Not for use while a thread runs. */
void weft__boot_server_resumed(weft__boot_server_t *srv);

/* Serve from a background thread until destroy. */
weft_status_t weft__boot_server_start_thread(weft__boot_server_t *srv);

/* Wait until every checked-in rank said goodbye or was lost, or the
 * deadline passes (WEFT_ERR_TIMED_OUT). Thread-safe; with no thread
 * running it drives progress itself. */
weft_status_t weft__boot_server_drain(weft__boot_server_t *srv,
                                      double deadline);

void weft__boot_server_stats(weft__boot_server_t *srv,
                             weft__boot_server_stats_t *stats);

/* Stop the thread (if any), close every connection, free. NULL ok. */
void weft__boot_server_destroy(weft__boot_server_t *srv);

#endif /* WEFT_SERVER_H */
