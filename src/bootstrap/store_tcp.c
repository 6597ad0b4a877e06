/*
 * The tcp backend of the bootstrap store: a client of server.c. One link,
 * authenticated with the store key; requests carry an id and wait for the
 * reply with that id (replies to requests that timed out earlier are
 * recognised by their old id and dropped). Events may arrive at any time:
 * they are queued for poll_event, and one that arrives while a blocking
 * call waits fails that call with the event's status.
 */
#include "build_config.h"
#include "bootstrap/store.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bootstrap/auth.h"
#include "bootstrap/store_msg.h"
#include "clock.h"
#include "errmsg.h"
#include "log.h"
#include "sock.h"
#include "util.h"

#define STORE_TCP_OP_TIMEOUT  60.0 /* put: it has no deadline of its own */
#define STORE_TCP_STATUS_WAIT 5.0  /* asking who is missing, after a timeout */
#define STORE_TCP_BYE_WAIT    1.0  /* destroy: bounded goodbye */
#define STORE_TCP_EVENTS_MAX  64   /* events queued for poll_event */
#define STORE_TCP_ADDR_MAX    256

typedef struct store_tcp {
    weft__store_t base;
    int fd;
    /* writes: the caller's thread and the heartbeat thread (reads and
     * everything else belong to the caller, under the context's lock) */
    pthread_mutex_t wlock;
    char addr[STORE_TCP_ADDR_MAX];
    uint32_t next_id;
    weft_status_t broken; /* sticky: the link is unusable */
    char broken_msg[512];
    size_t gather_max; /* largest GATHERED we asked for */
    weft__store_rx_t rx; /* the frame being received */
    /* events not yet taken by poll_event */
    weft__store_event_t events[STORE_TCP_EVENTS_MAX];
    int ev_head, ev_n;
    /* the first job-wide event: every later blocking call fails with it */
    weft__store_event_t job_event;
    int job_failed;
    /* the store's answers to our heartbeats (BEAT): when the last was
     * read, and whether one ever was (a server that does not answer is
     * not watched) */
    double heard_s;
    int heard;
} store_tcp_t;

static store_tcp_t *
store_tcp_of(weft__store_t *s)
{
    return (store_tcp_t *)s;
}

/* ---- the link ---- */

static weft_status_t
store_tcp_break(store_tcp_t *s, weft_status_t status, const char *detail)
{
    if (s->broken == WEFT_OK) {
        s->broken = status;
        snprintf(s->broken_msg, sizeof(s->broken_msg),
                 "lost the link to the bootstrap store at %s: %s", s->addr,
                 detail);
        return weft__error(status, WEFT_SUB_BOOT, "%s", s->broken_msg);
    }
    weft__error_set("%s", s->broken_msg);
    return s->broken;
}

/* Receive one frame without blocking: WEFT_OK and *m (valid until the
 * next call), WEFT_INPROGRESS, or the link's failure. */
static weft_status_t
store_tcp_rx(store_tcp_t *s, weft__store_msg_t *m)
{
    char why[160];
    weft_status_t st;

    if (s->broken != WEFT_OK) {
        return store_tcp_break(s, s->broken, "");
    }
    for (;;) { /* a BEAT only says the store is there: taken here */
        st = weft__store_rx_read(&s->rx, s->fd, 1, s->gather_max, m, why,
                                 sizeof(why));
        if (st != WEFT_OK || m->type != WEFT_STORE_MSG_BEAT) {
            break;
        }
        s->heard_s = weft__now();
        s->heard = 1;
    }
    if (st == WEFT_OK || st == WEFT_INPROGRESS) {
        return st;
    }
    return store_tcp_break(s, st == WEFT_ERR_SYSTEM ? WEFT_ERR_PEER_LOST : st,
                           why);
}

static void
store_tcp_queue_event(store_tcp_t *s, const weft__store_event_t *ev)
{
    if (ev->comm_id == WEFT_STORE_ALL_COMMS && !s->job_failed) {
        s->job_event = *ev;
        s->job_failed = 1;
    }
    if (s->ev_n == STORE_TCP_EVENTS_MAX) {
        weft__log_warn(WEFT_SUB_BOOT,
                       "bootstrap store: event queue full; "
                       "dropping: %s",
                       ev->reason);
        return;
    }
    s->events[(s->ev_head + s->ev_n) % STORE_TCP_EVENTS_MAX] = *ev;
    s->ev_n++;
}

static weft_status_t
store_tcp_event_error(const weft__store_event_t *ev, const char *what)
{
    return weft__error(ev->status, WEFT_SUB_BOOT, "bootstrap %s: %s", what,
                       ev->reason);
}

/* Before a blocking call: fail at once on a broken link or after a
 * job-wide event (a rank of the job is gone: no fence can complete). */
static weft_status_t
store_tcp_check(store_tcp_t *s, const char *what)
{
    if (s->broken != WEFT_OK) {
        return store_tcp_break(s, s->broken, "");
    }
    if (s->job_failed) {
        return store_tcp_event_error(&s->job_event, what);
    }
    return WEFT_OK;
}

/* Wait for the reply to id (or to alt when alt != 0) until the deadline:
 * WEFT_ERR_TIMED_OUT is returned without a message. */
static weft_status_t
store_tcp_wait(store_tcp_t *s, uint32_t id, uint32_t alt, double deadline,
               const char *what, weft__store_msg_t *m)
{
    for (;;) {
        weft_status_t st = store_tcp_rx(s, m);
        struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
        int ms;

        if (st < 0) {
            return st;
        }
        if (st == WEFT_OK) {
            if (m->type == WEFT_STORE_MSG_EVENT) {
                store_tcp_queue_event(s, &m->event);
                return store_tcp_event_error(&m->event, what);
            }
            if (m->id == id || (alt != 0 && m->id == alt)) {
                return WEFT_OK;
            }
            continue; /* the late reply of a request that timed out */
        }
        if (weft__now() >= deadline) {
            return WEFT_ERR_TIMED_OUT;
        }
        ms = weft__ms_until(deadline, 1000);
        if (poll(&pfd, 1, ms) < 0 && errno != EINTR) {
            return store_tcp_break(s, WEFT_ERR_SYSTEM, strerror(errno));
        }
    }
}

/* Send m as a new request; its id is written into *id_p. */
static weft_status_t
store_tcp_send(store_tcp_t *s, weft__store_msg_t *m, double deadline,
               uint32_t *id_p)
{
    size_t size, len;
    uint8_t *buf;
    weft_status_t st;
    char detail[96];

    if (m->type != WEFT_STORE_MSG_ABORT && m->type != WEFT_STORE_MSG_BYE &&
        m->type != WEFT_STORE_MSG_HEARTBEAT) {
        m->id = s->next_id++;
        if (s->next_id == 0) {
            s->next_id = 1;
        }
    }
    size = weft__store_msg_size(m);
    if (size == 0) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                           "bootstrap %s: a field is out of bounds",
                           weft__store_msg_type_name(m->type));
    }
    buf = malloc(size);
    if (buf == NULL) {
        return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_BOOT,
                           "out of memory for a %zu-byte store request", size);
    }
    weft__store_msg_encode(m, buf, size, &len);
    pthread_mutex_lock(&s->wlock);
    st = weft__sock_write_all(s->fd, buf, len, deadline);
    pthread_mutex_unlock(&s->wlock);
    free(buf);
    if (st == WEFT_ERR_TIMED_OUT) {
        return weft__error(WEFT_ERR_TIMED_OUT, WEFT_SUB_BOOT,
                           "bootstrap %s: the store at %s did not take the "
                           "request in time",
                           weft__store_msg_type_name(m->type), s->addr);
    }
    if (st != WEFT_OK) {
        snprintf(detail, sizeof(detail), "sending a %s: %s",
                 weft__store_msg_type_name(m->type),
                 st == WEFT_ERR_PEER_LOST ? "connection closed"
                                          : strerror(errno));
        return store_tcp_break(s, WEFT_ERR_PEER_LOST, detail);
    }
    if (id_p != NULL) {
        *id_p = m->id;
    }
    return WEFT_OK;
}

/* An ERROR reply: its status, with the server's reason. */
static weft_status_t
store_tcp_reply_error(const weft__store_msg_t *m, const char *what)
{
    return weft__error((weft_status_t)m->status, WEFT_SUB_BOOT,
                       "bootstrap %s: %s", what, m->reason);
}

static weft_status_t
store_tcp_unexpected(store_tcp_t *s, const weft__store_msg_t *m)
{
    char detail[96];

    snprintf(detail, sizeof(detail), "unexpected %s reply",
             weft__store_msg_type_name(m->type));
    return store_tcp_break(s, WEFT_ERR_PROTOCOL, detail);
}

/* ---- operations ---- */

/* Before a call: its label for messages ("get 'key'"), the link check,
 * and the request's type and name in m. */
static weft_status_t
store_tcp_start(store_tcp_t *s, uint8_t type, const char *verb,
                const char *name, char what[WEFT_STORE_KEY_MAX + 16],
                weft__store_msg_t *m)
{
    snprintf(what, WEFT_STORE_KEY_MAX + 16, "%s '%s'", verb, name);
    WEFT_CHECK(store_tcp_check(s, what));
    memset(m, 0, sizeof(*m));
    m->type = type;
    weft__strlcpy(m->name, name, sizeof(m->name));
    return WEFT_OK;
}

static weft_status_t
store_tcp_put(weft__store_t *store, const char *key, const void *val,
              size_t len)
{
    store_tcp_t *s = store_tcp_of(store);
    double deadline = weft__now() + STORE_TCP_OP_TIMEOUT;
    weft__store_msg_t m;
    char what[WEFT_STORE_KEY_MAX + 16];
    uint32_t id;
    weft_status_t st;

    WEFT_CHECK(weft__store_msg_name_check(key, "put"));
    if (len > WEFT_STORE_VALUE_MAX || (len > 0 && val == NULL)) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                           "bootstrap put '%s': %zu bytes (at most %d)", key,
                           len, WEFT_STORE_VALUE_MAX);
    }
    WEFT_CHECK(store_tcp_start(s, WEFT_STORE_MSG_PUT, "put", key, what, &m));
    m.data = val;
    m.len = len;
    WEFT_CHECK(store_tcp_send(s, &m, deadline, &id));
    st = store_tcp_wait(s, id, 0, deadline, what, &m);
    if (st == WEFT_ERR_TIMED_OUT) {
        return weft__error(st, WEFT_SUB_BOOT,
                           "bootstrap %s: no answer from %s in %.3g s", what,
                           s->addr, STORE_TCP_OP_TIMEOUT);
    }
    if (st != WEFT_OK) {
        return st;
    }
    if (m.type == WEFT_STORE_MSG_ERROR) {
        return store_tcp_reply_error(&m, what);
    }
    return m.type == WEFT_STORE_MSG_OK ? WEFT_OK : store_tcp_unexpected(s, &m);
}

static weft_status_t
store_tcp_get(weft__store_t *store, const char *key, void *buf, size_t cap,
              size_t *len_p, double deadline)
{
    store_tcp_t *s = store_tcp_of(store);
    double t0 = weft__now();
    weft__store_msg_t m;
    char what[WEFT_STORE_KEY_MAX + 16];
    uint32_t id;
    weft_status_t st;

    WEFT_CHECK(weft__store_msg_name_check(key, "get"));
    WEFT_CHECK(store_tcp_start(s, WEFT_STORE_MSG_GET, "get", key, what, &m));
    WEFT_CHECK(store_tcp_send(s, &m, deadline, &id));
    st = store_tcp_wait(s, id, 0, deadline, what, &m);
    if (st == WEFT_ERR_TIMED_OUT) {
        return weft__error(st, WEFT_SUB_BOOT,
                           "bootstrap %s timed out after %.3g s: no rank put "
                           "that key",
                           what, deadline - t0);
    }
    if (st != WEFT_OK) {
        return st;
    }
    if (m.type == WEFT_STORE_MSG_ERROR) {
        return store_tcp_reply_error(&m, what);
    }
    if (m.type != WEFT_STORE_MSG_VALUE) {
        return store_tcp_unexpected(s, &m);
    }
    if (m.len > cap) {
        return weft__error(WEFT_ERR_TRUNCATED, WEFT_SUB_BOOT,
                           "bootstrap %s: the value has %zu bytes, the "
                           "buffer %zu",
                           what, m.len, cap);
    }
    if (m.len > 0) {
        memcpy(buf, m.data, m.len);
    }
    if (len_p != NULL) {
        *len_p = m.len;
    }
    return WEFT_OK;
}

/* After a timed-out fence or allgather (request id): ask the server who is
 * missing. WEFT_OK with *late set when the original reply came meanwhile
 * (then *m is that reply). */
static weft_status_t
store_tcp_timeout(store_tcp_t *s, uint8_t what_kind, const char *name,
                  uint32_t id, const char *what, double t0, double deadline,
                  int *late, weft__store_msg_t *m)
{
    char list[256];
    size_t off = 0;
    uint32_t sid;
    weft_status_t st;

    *late = 0;
    memset(m, 0, sizeof(*m));
    m->type = WEFT_STORE_MSG_STATUS;
    m->what = what_kind;
    weft__strlcpy(m->name, name, sizeof(m->name));
    st = store_tcp_send(s, m, weft__now() + STORE_TCP_STATUS_WAIT, &sid);
    if (st == WEFT_OK) {
        st = store_tcp_wait(s, sid, id, weft__now() + STORE_TCP_STATUS_WAIT,
                            what, m);
    }
    if (st == WEFT_OK && m->id == id) {
        *late = 1;
        return WEFT_OK;
    }
    if (st != WEFT_OK && st != WEFT_ERR_TIMED_OUT) {
        return st; /* an event or a broken link says more */
    }
    if (st != WEFT_OK || m->type != WEFT_STORE_MSG_MISSING) {
        return weft__error(WEFT_ERR_TIMED_OUT, WEFT_SUB_BOOT,
                           "bootstrap %s timed out after %.3g s (the store "
                           "did not say who is missing)",
                           what, deadline - t0);
    }
    for (size_t i = 0; i < m->len / 4 && off < sizeof(list) - 24; i++) {
        int n = snprintf(list + off, sizeof(list) - off, "%s%" PRIu32,
                         i > 0 ? ", " : "", weft__store_msg_missing_rank(m, i));
        off += n > 0 ? (size_t)n : 0;
        if (i + 1 < m->len / 4 && off >= sizeof(list) - 24) {
            snprintf(list + off, sizeof(list) - off, " and %zu more",
                     (size_t)m->total - (i + 1));
            break;
        }
    }
    if (m->total == 0) {
        return weft__error(WEFT_ERR_TIMED_OUT, WEFT_SUB_BOOT,
                           "bootstrap %s timed out after %.3g s", what,
                           deadline - t0);
    }
    if (m->total > m->len / 4 && off < sizeof(list) - 24) {
        snprintf(list + off, sizeof(list) - off, " and %zu more",
                 (size_t)(m->total - m->len / 4));
    }
    return weft__error(WEFT_ERR_TIMED_OUT, WEFT_SUB_BOOT,
                       "bootstrap %s timed out after %.3g s: %s %s %s not "
                       "arrived",
                       what, deadline - t0, m->total == 1 ? "rank" : "ranks",
                       list, m->total == 1 ? "has" : "have");
}

static weft_status_t
store_tcp_fence(weft__store_t *store, const char *name, double deadline)
{
    store_tcp_t *s = store_tcp_of(store);
    double t0 = weft__now();
    weft__store_msg_t m;
    char what[WEFT_STORE_KEY_MAX + 16];
    uint32_t id;
    weft_status_t st;
    int late;

    WEFT_CHECK(weft__store_msg_name_check(name, "fence"));
    WEFT_CHECK(
        store_tcp_start(s, WEFT_STORE_MSG_FENCE, "fence", name, what, &m));
    WEFT_CHECK(store_tcp_send(s, &m, deadline, &id));
    st = store_tcp_wait(s, id, 0, deadline, what, &m);
    if (st == WEFT_ERR_TIMED_OUT) {
        WEFT_CHECK(store_tcp_timeout(s, WEFT_STORE_WHAT_FENCE, name, id, what,
                                     t0, deadline, &late, &m));
        st = WEFT_OK;
    }
    if (st != WEFT_OK) {
        return st;
    }
    if (m.type == WEFT_STORE_MSG_ERROR) {
        return store_tcp_reply_error(&m, what);
    }
    return m.type == WEFT_STORE_MSG_OK ? WEFT_OK : store_tcp_unexpected(s, &m);
}

static weft_status_t
store_tcp_allgather(weft__store_t *store, const char *name, const void *mine,
                    size_t len, void *all, double deadline)
{
    store_tcp_t *s = store_tcp_of(store);
    size_t total = (size_t)store->nranks * len;
    double t0 = weft__now();
    weft__store_msg_t m;
    char what[WEFT_STORE_KEY_MAX + 16];
    uint32_t id;
    weft_status_t st;
    int late;

    WEFT_CHECK(weft__store_msg_name_check(name, "allgather"));
    if (len > WEFT_STORE_VALUE_MAX || total > WEFT_STORE_ALLGATHER_MAX ||
        (len > 0 && (mine == NULL || all == NULL))) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                           "bootstrap allgather '%s': %zu bytes per rank "
                           "(at most %d, and %u MiB in all)",
                           name, len, WEFT_STORE_VALUE_MAX,
                           WEFT_STORE_ALLGATHER_MAX >> 20);
    }
    WEFT_CHECK(store_tcp_start(s, WEFT_STORE_MSG_ALLGATHER, "allgather", name,
                               what, &m));
    if (total > s->gather_max) {
        s->gather_max = total;
    }
    m.data = mine;
    m.len = len;
    WEFT_CHECK(store_tcp_send(s, &m, deadline, &id));
    st = store_tcp_wait(s, id, 0, deadline, what, &m);
    if (st == WEFT_ERR_TIMED_OUT) {
        WEFT_CHECK(store_tcp_timeout(s, WEFT_STORE_WHAT_ALLGATHER, name, id,
                                     what, t0, deadline, &late, &m));
        st = WEFT_OK;
    }
    if (st != WEFT_OK) {
        return st;
    }
    if (m.type == WEFT_STORE_MSG_ERROR) {
        return store_tcp_reply_error(&m, what);
    }
    if (m.type != WEFT_STORE_MSG_GATHERED || m.len != total) {
        return store_tcp_unexpected(s, &m);
    }
    if (total > 0) {
        memcpy(all, m.data, total);
    }
    return WEFT_OK;
}

static weft_status_t
store_tcp_abort(weft__store_t *store, const weft__store_event_t *ev)
{
    store_tcp_t *s = store_tcp_of(store);
    weft__store_msg_t m;

    if (s->broken != WEFT_OK) {
        return store_tcp_break(s, s->broken, "");
    }
    memset(&m, 0, sizeof(m));
    m.type = WEFT_STORE_MSG_ABORT;
    m.event = *ev;
    m.event.reason[sizeof(m.event.reason) - 1] = '\0';
    return store_tcp_send(s, &m, weft__now() + STORE_TCP_OP_TIMEOUT, NULL);
}

/* From the heartbeat thread, without the context's lock: only the write
 * lock, and no state but the fd. A full socket skips the beat (12 bytes go
 * whole into any socket with room: never a partial frame); a failed write
 * is left for the caller's thread to find. */
static weft_status_t
store_tcp_heartbeat(weft__store_t *store)
{
    store_tcp_t *s = store_tcp_of(store);
    uint8_t frame[WEFT_STORE_MSG_HDR_LEN];
    weft__store_msg_t m;
    struct pollfd pfd = {.fd = s->fd, .events = POLLOUT};
    size_t len;
    ssize_t n = -1;

    memset(&m, 0, sizeof(m));
    m.type = WEFT_STORE_MSG_HEARTBEAT;
    m.id = WEFT_STORE_BEAT_ASK; /* answer, so that we know you are there */
    if (weft__store_msg_encode(&m, frame, sizeof(frame), &len) != WEFT_OK) {
        return WEFT_ERR_INTERNAL;
    }
    pthread_mutex_lock(&s->wlock);
    if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLOUT)) {
        n = send(s->fd, frame, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    pthread_mutex_unlock(&s->wlock);
    return n == (ssize_t)len ? WEFT_OK : WEFT_INPROGRESS;
}

static int
store_tcp_event_fd(weft__store_t *store)
{
    return store_tcp_of(store)->fd;
}

/* Nothing more to read: WEFT_INPROGRESS, or the link given up when the
 * store has answered our beats before and has now been silent past
 * silence_s (its own beats would have been read just before). */
static weft_status_t
store_tcp_silence(store_tcp_t *s)
{
    double quiet;
    char detail[200];

    if (!(s->base.silence_s > 0) || !s->heard) {
        return WEFT_INPROGRESS;
    }
    quiet = weft__now() - s->heard_s;
    if (quiet <= s->base.silence_s) {
        return WEFT_INPROGRESS;
    }
    snprintf(detail, sizeof(detail),
             "it has not answered this rank's heartbeats for %.1f s "
             "(WEFT_HEARTBEAT_TIMEOUT and one WEFT_HEARTBEAT): this rank is "
             "cut off from the job, or the launcher is stopped",
             quiet);
    return store_tcp_break(s, WEFT_ERR_PEER_LOST, detail);
}

static weft_status_t
store_tcp_poll_event(weft__store_t *store, weft__store_event_t *ev)
{
    store_tcp_t *s = store_tcp_of(store);
    weft__store_msg_t m;

    for (;;) {
        weft_status_t st;

        if (s->ev_n > 0) {
            *ev = s->events[s->ev_head];
            s->ev_head = (s->ev_head + 1) % STORE_TCP_EVENTS_MAX;
            s->ev_n--;
            return WEFT_OK;
        }
        st = store_tcp_rx(s, &m);
        if (st == WEFT_INPROGRESS) {
            return store_tcp_silence(s); /* nothing waiting */
        }
        if (st != WEFT_OK) {
            return st;
        }
        if (m.type == WEFT_STORE_MSG_EVENT) {
            if (m.event.comm_id == WEFT_STORE_ALL_COMMS && !s->job_failed) {
                s->job_event = m.event;
                s->job_failed = 1;
            }
            *ev = m.event;
            return WEFT_OK;
        }
        /* else: the late reply of a request that timed out */
    }
}

static void
store_tcp_destroy(weft__store_t *store)
{
    store_tcp_t *s = store_tcp_of(store);
    double deadline = weft__now() + STORE_TCP_BYE_WAIT;
    weft__store_msg_t m;

    if (s == NULL) {
        return;
    }
    if (s->broken == WEFT_OK) {
        memset(&m, 0, sizeof(m));
        m.type = WEFT_STORE_MSG_BYE;
        if (store_tcp_send(s, &m, deadline, NULL) == WEFT_OK) {
            char scratch[4096];

            /* wait for the server to close, so the goodbye is read
             * before anything could reset the connection */
            shutdown(s->fd, SHUT_WR);
            for (;;) {
                struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
                ssize_t n;

                if (poll(&pfd, 1, weft__ms_until(deadline, 1000)) <= 0) {
                    break;
                }
                n = recv(s->fd, scratch, sizeof(scratch), 0);
                if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
                    break;
                }
            }
        }
    }
    close(s->fd);
    pthread_mutex_destroy(&s->wlock);
    weft__store_rx_free(&s->rx);
    free(s);
}

static const weft__store_ops_t store_tcp_ops = {
    .name = "tcp",
    .put = store_tcp_put,
    .get = store_tcp_get,
    .fence = store_tcp_fence,
    .allgather = store_tcp_allgather,
    .abort = store_tcp_abort,
    .heartbeat = store_tcp_heartbeat,
    .event_fd = store_tcp_event_fd,
    .poll_event = store_tcp_poll_event,
    .destroy = store_tcp_destroy,
};

/* ---- create ---- */

/* Connect and authenticate once: *retry set when the server dropped us
 * during the handshake (a flood may push us out) and we may try again. */
static weft_status_t
store_tcp_join(const char *addr, const struct sockaddr_storage *ss,
               socklen_t len, const uint8_t *key, int rank, int nranks,
               double deadline, int *retry, int *fd_p)
{
    weft__auth_hs_t hs;
    weft_status_t st;
    int fd;

    *retry = 0;
    st = weft__sock_connect((const struct sockaddr *)ss, len, deadline, &fd);
    if (st == WEFT_ERR_TIMED_OUT) {
        return weft__error(st, WEFT_SUB_BOOT,
                           "cannot reach the bootstrap store at %s before "
                           "the deadline: %m",
                           addr);
    }
    if (st != WEFT_OK) {
        return weft__error(st, WEFT_SUB_BOOT,
                           "cannot connect to the bootstrap store at %s: %m",
                           addr);
    }
    weft__auth_hs_client(&hs, key, WEFT_AUTH_PURPOSE_STORE, (uint32_t)rank,
                         (uint32_t)nranks, deadline);
    st = weft__auth_client_run(&hs, fd);
    if (st == WEFT_OK) {
        weft__memzero(&hs, sizeof(hs));
        *fd_p = fd;
        return WEFT_OK;
    }
    close(fd);
    if (st == WEFT_ERR_PEER_LOST && weft__now() < deadline) {
        weft__log_debug(WEFT_SUB_BOOT,
                        "bootstrap store at %s: %s; trying "
                        "again",
                        addr, hs.why);
        *retry = 1;
    } else {
        st = weft__error(st, WEFT_SUB_BOOT,
                         "bootstrap store at %s, joining as rank %d of %d: "
                         "%s",
                         addr, rank, nranks, hs.why);
    }
    weft__memzero(&hs, sizeof(hs));
    return st;
}

weft_status_t
weft__store_tcp_create(const char *addr, const uint8_t *key, int rank,
                       int nranks, double deadline, weft__store_t **store_p)
{
    struct sockaddr_storage ss;
    socklen_t len;
    double backoff = 0.01;
    store_tcp_t *s;
    int fd = -1, retry;
    weft_status_t st;

    if (addr == NULL || key == NULL || nranks < 1 || rank < 0 ||
        rank >= nranks || strlen(addr) >= STORE_TCP_ADDR_MAX) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                           "bootstrap store: an address, a key and rank %d "
                           "in [0, %d) are required",
                           rank, nranks);
    }
    WEFT_CHECK(weft__sock_parse(addr, &ss, &len));
    for (;;) {
        st = store_tcp_join(addr, &ss, len, key, rank, nranks, deadline, &retry,
                            &fd);
        if (st == WEFT_OK) {
            break;
        }
        if (!retry) {
            return st;
        }
        usleep((useconds_t)(backoff * 1e6));
        backoff = backoff < 0.2 ? backoff * 2 : backoff;
    }
    s = calloc(1, sizeof(*s));
    if (s != NULL) {
        pthread_mutex_init(&s->wlock, NULL);
    }
    if (s == NULL) {
        close(fd);
        return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_BOOT,
                           "out of memory for the bootstrap store client");
    }
    s->base.ops = &store_tcp_ops;
    s->base.rank = rank;
    s->base.nranks = nranks;
    s->fd = fd;
    s->next_id = 1;
    weft__strlcpy(s->addr, addr, sizeof(s->addr));
    weft__log_debug(WEFT_SUB_BOOT, "rank %d joined the bootstrap store at %s",
                    rank, addr);
    *store_p = &s->base;
    return WEFT_OK;
}
