/*
 * The store server's contents: keys (written once), parked gets, fences
 * and allgathers in progress, and the events every rank must see. Called
 * from the event loop in server.c with one decoded, validated request at
 * a time.
 */
#include "build_config.h"
#include "bootstrap/server_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "log.h"
#include "util.h"

#define STORE_KV_BYTES_MAX   ((size_t)1 << 30) /* values held at once */
#define STORE_WAITS_MAX      65536             /* gets parked at once */
#define STORE_KV_BUCKETS_MIN 64

/* ---- replies ---- */

static void
store_reply_ok(weft__boot_server_t *srv, weft__boot_conn_t *conn, uint32_t id)
{
    weft__store_msg_t m;

    memset(&m, 0, sizeof(m));
    m.type = WEFT_STORE_MSG_OK;
    m.id = id;
    weft__boot_server_send(srv, conn, &m);
}

static void
store_reply_value(weft__boot_server_t *srv, weft__boot_conn_t *conn,
                  uint32_t id, const weft__boot_kv_t *kv)
{
    weft__store_msg_t m;

    memset(&m, 0, sizeof(m));
    m.type = WEFT_STORE_MSG_VALUE;
    m.id = id;
    m.data = kv->val;
    m.len = kv->len;
    weft__boot_server_send(srv, conn, &m);
}

static void store_reply_error(weft__boot_server_t *srv, weft__boot_conn_t *conn,
                              uint32_t id, weft_status_t status,
                              const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
store_reply_error(weft__boot_server_t *srv, weft__boot_conn_t *conn,
                  uint32_t id, weft_status_t status, const char *fmt, ...)
{
    weft__store_msg_t m;
    va_list ap;

    memset(&m, 0, sizeof(m));
    m.type = WEFT_STORE_MSG_ERROR;
    m.id = id;
    m.status = status;
    va_start(ap, fmt);
    vsnprintf(m.reason, sizeof(m.reason), fmt, ap);
    va_end(ap);
    weft__log_debug(WEFT_SUB_BOOT, "bootstrap store: rank %d: %s", conn->rank,
                    m.reason);
    weft__boot_server_send(srv, conn, &m);
}

/* ---- keys ---- */

static uint32_t
store_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (; *s != '\0'; s++) {
        h = (h ^ (uint8_t)*s) * 16777619u;
    }
    return h;
}

static weft__boot_kv_t *
store_kv_find(weft__boot_server_t *srv, const char *key, uint32_t hash)
{
    weft__boot_kv_t *kv = srv->kv[hash & (srv->kv_buckets - 1)];

    for (; kv != NULL; kv = kv->next) {
        if (kv->hash == hash && strcmp(kv->key, key) == 0) {
            return kv;
        }
    }
    return NULL;
}

static void
store_kv_grow(weft__boot_server_t *srv)
{
    size_t n = srv->kv_buckets * 2;
    weft__boot_kv_t **b = calloc(n, sizeof(*b));

    if (b == NULL) {
        return; /* longer chains, still correct */
    }
    for (size_t i = 0; i < srv->kv_buckets; i++) {
        while (srv->kv[i] != NULL) {
            weft__boot_kv_t *kv = srv->kv[i];

            srv->kv[i] = kv->next;
            kv->next = b[kv->hash & (n - 1)];
            b[kv->hash & (n - 1)] = kv;
        }
    }
    free(srv->kv);
    srv->kv = b;
    srv->kv_buckets = n;
}

static void
store_put(weft__boot_server_t *srv, weft__boot_conn_t *conn,
          const weft__store_msg_t *m)
{
    uint32_t hash = store_hash(m->name);
    weft__boot_kv_t *kv = store_kv_find(srv, m->name, hash);
    weft__boot_wait_t **pw;
    size_t klen = strlen(m->name);

    if (kv != NULL) {
        if (kv->len == m->len &&
            (m->len == 0 || memcmp(kv->val, m->data, m->len) == 0)) {
            store_reply_ok(srv, conn, m->id);
        } else {
            store_reply_error(srv, conn, m->id, WEFT_ERR_INVALID_ARG,
                              "bootstrap key '%s' already holds a different "
                              "value",
                              m->name);
        }
        return;
    }
    if (srv->kv_bytes + m->len > STORE_KV_BYTES_MAX) {
        store_reply_error(srv, conn, m->id, WEFT_ERR_NO_MEMORY,
                          "the bootstrap store is full (%zu MiB of values)",
                          STORE_KV_BYTES_MAX >> 20);
        return;
    }
    kv = malloc(sizeof(*kv) + klen + 1);
    if (kv != NULL) {
        kv->val = malloc(m->len > 0 ? m->len : 1);
    }
    if (kv == NULL || kv->val == NULL) {
        free(kv);
        store_reply_error(srv, conn, m->id, WEFT_ERR_NO_MEMORY,
                          "the bootstrap store is out of memory");
        return;
    }
    memcpy(kv->key, m->name, klen + 1);
    if (m->len > 0) {
        memcpy(kv->val, m->data, m->len);
    }
    kv->len = m->len;
    kv->hash = hash;
    kv->next = srv->kv[hash & (srv->kv_buckets - 1)];
    srv->kv[hash & (srv->kv_buckets - 1)] = kv;
    srv->kv_count++;
    srv->kv_bytes += m->len;
    if (srv->kv_count > srv->kv_buckets) {
        store_kv_grow(srv);
    }
    store_reply_ok(srv, conn, m->id);

    /* answer the gets parked on this key */
    for (pw = &srv->waits; *pw != NULL;) {
        weft__boot_wait_t *w = *pw;

        if (strcmp(w->key, kv->key) == 0) {
            *pw = w->next;
            srv->nwaits--;
            store_reply_value(srv, w->conn, w->id, kv);
            free(w);
        } else {
            pw = &w->next;
        }
    }
}

static void
store_get(weft__boot_server_t *srv, weft__boot_conn_t *conn,
          const weft__store_msg_t *m)
{
    weft__boot_kv_t *kv = store_kv_find(srv, m->name, store_hash(m->name));
    weft__boot_wait_t *w;
    size_t klen = strlen(m->name);

    if (kv != NULL) {
        store_reply_value(srv, conn, m->id, kv);
        return;
    }
    if (srv->nwaits >= STORE_WAITS_MAX) {
        store_reply_error(srv, conn, m->id, WEFT_ERR_NO_MEMORY,
                          "too many gets waiting in the bootstrap store");
        return;
    }
    w = malloc(sizeof(*w) + klen + 1);
    if (w == NULL) {
        store_reply_error(srv, conn, m->id, WEFT_ERR_NO_MEMORY,
                          "the bootstrap store is out of memory");
        return;
    }
    w->conn = conn;
    w->id = m->id;
    memcpy(w->key, m->name, klen + 1);
    w->next = srv->waits;
    srv->waits = w;
    srv->nwaits++;
}

/* ---- fences and allgathers ---- */

static weft__boot_coll_t *
store_coll_find(weft__boot_server_t *srv, uint8_t what, const char *name)
{
    for (weft__boot_coll_t *c = srv->colls; c != NULL; c = c->next) {
        if (c->what == what && strcmp(c->name, name) == 0) {
            return c;
        }
    }
    return NULL;
}

static void
store_coll_free(weft__boot_coll_t *c)
{
    weft__boot_blob_unref(c->blob);
    free(c->here);
    free(c->ids);
    free(c);
}

static weft__boot_coll_t *
store_coll_new(weft__boot_server_t *srv, uint8_t what,
               const weft__store_msg_t *m)
{
    size_t nranks = (size_t)srv->params.nranks;
    weft__boot_coll_t *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        return NULL;
    }
    c->what = what;
    weft__strlcpy(c->name, m->name, sizeof(c->name));
    c->here = calloc(nranks, 1);
    c->ids = calloc(nranks, sizeof(*c->ids));
    if (c->here == NULL || c->ids == NULL) {
        store_coll_free(c);
        return NULL;
    }
    if (what == WEFT_STORE_WHAT_ALLGATHER) {
        c->len = m->len;
        c->blob = calloc(1, sizeof(*c->blob));
        if (c->blob == NULL) {
            store_coll_free(c);
            return NULL;
        }
        c->blob->refs = 1;
        c->blob->len = nranks * m->len;
        c->blob->data = calloc(c->blob->len > 0 ? c->blob->len : 1, 1);
        if (c->blob->data == NULL) {
            store_coll_free(c);
            return NULL;
        }
    }
    c->next = srv->colls;
    srv->colls = c;
    return c;
}

static void
store_coll_complete(weft__boot_server_t *srv, weft__boot_coll_t *c)
{
    for (int r = 0; r < srv->params.nranks; r++) {
        weft__boot_conn_t *conn = srv->ranks[r].conn;

        if (conn == NULL || conn->state != WEFT_BOOT_CONN_READY) {
            continue;
        }
        if (c->what == WEFT_STORE_WHAT_FENCE) {
            store_reply_ok(srv, conn, c->ids[r]);
        } else {
            weft__boot_server_send_blob(srv, conn, WEFT_STORE_MSG_GATHERED,
                                        c->ids[r], c->blob);
        }
    }
}

static void
store_coll_remove(weft__boot_server_t *srv, weft__boot_coll_t *c)
{
    weft__boot_coll_t **pc;

    for (pc = &srv->colls; *pc != c; pc = &(*pc)->next) {
    }
    *pc = c->next;
    store_coll_free(c);
}

/* Ranks disagree on an allgather's size: fail it for everyone that came
 * and everyone that comes later (until all ranks came). */
static void
store_coll_fail(weft__boot_server_t *srv, weft__boot_coll_t *c,
                const weft__store_msg_t *m, int rank)
{
    c->failed = WEFT_ERR_MISMATCH;
    snprintf(c->reason, sizeof(c->reason),
             "allgather '%.120s': rank %d contributes %zu bytes, others %zu",
             c->name, rank, m->len, c->len);
    weft__log_warn(WEFT_SUB_BOOT, "bootstrap store: %s", c->reason);
    for (int r = 0; r < srv->params.nranks; r++) {
        weft__boot_conn_t *conn = srv->ranks[r].conn;

        if (c->here[r] && conn != NULL && conn->state == WEFT_BOOT_CONN_READY) {
            store_reply_error(srv, conn, c->ids[r], c->failed, "%s", c->reason);
        }
    }
}

static void
store_coll_arrive(weft__boot_server_t *srv, weft__boot_conn_t *conn,
                  const weft__store_msg_t *m, uint8_t what)
{
    const char *kind = what == WEFT_STORE_WHAT_FENCE ? "fence" : "allgather";
    weft__boot_coll_t *c = store_coll_find(srv, what, m->name);
    int r = conn->rank;

    if (c == NULL && what == WEFT_STORE_WHAT_ALLGATHER &&
        (uint64_t)m->len * (uint64_t)srv->params.nranks >
            WEFT_STORE_ALLGATHER_MAX) {
        store_reply_error(srv, conn, m->id, WEFT_ERR_INVALID_ARG,
                          "bootstrap allgather '%s': %d ranks x %zu bytes "
                          "is more than %u MiB",
                          m->name, srv->params.nranks, m->len,
                          WEFT_STORE_ALLGATHER_MAX >> 20);
        return;
    }
    if (c == NULL) {
        c = store_coll_new(srv, what, m);
        if (c == NULL) {
            store_reply_error(srv, conn, m->id, WEFT_ERR_NO_MEMORY,
                              "the bootstrap store is out of memory");
            return;
        }
    }
    if (!c->here[r]) {
        c->here[r] = 1;
        c->arrived++;
    }
    c->ids[r] = m->id; /* a repeat replaces the request to answer */
    if (c->failed == WEFT_OK && what == WEFT_STORE_WHAT_ALLGATHER &&
        m->len != c->len) {
        store_coll_fail(srv, c, m, r);
    } else if (c->failed != WEFT_OK) {
        store_reply_error(srv, conn, m->id, c->failed, "%s", c->reason);
    } else if (what == WEFT_STORE_WHAT_ALLGATHER && m->len > 0) {
        memcpy(c->blob->data + (size_t)r * c->len, m->data, m->len);
    }
    weft__log_trace(WEFT_SUB_BOOT, "%s '%s': rank %d arrived (%d of %d)", kind,
                    m->name, r, c->arrived, srv->params.nranks);
    if (c->arrived < srv->params.nranks) {
        return;
    }
    if (c->failed == WEFT_OK) {
        store_coll_complete(srv, c);
    }
    store_coll_remove(srv, c);
}

static void
store_status(weft__boot_server_t *srv, weft__boot_conn_t *conn,
             const weft__store_msg_t *m)
{
    weft__boot_coll_t *c = store_coll_find(srv, m->what, m->name);
    uint8_t list[4 * WEFT_STORE_STATUS_LIST];
    weft__store_msg_t reply;
    uint32_t total = 0;
    size_t n = 0;

    for (int r = 0; c != NULL && r < srv->params.nranks; r++) {
        if (c->here[r]) {
            continue;
        }
        total++;
        if (n < WEFT_STORE_STATUS_LIST) {
            list[4 * n] = (uint8_t)r;
            list[4 * n + 1] = (uint8_t)(r >> 8);
            list[4 * n + 2] = (uint8_t)(r >> 16);
            list[4 * n + 3] = (uint8_t)(r >> 24);
            n++;
        }
    }
    memset(&reply, 0, sizeof(reply));
    reply.type = WEFT_STORE_MSG_MISSING;
    reply.id = m->id;
    reply.total = total;
    reply.data = list;
    reply.len = 4 * n;
    weft__boot_server_send(srv, conn, &reply);
}

/* ---- events ---- */

void
weft__boot_server_publish(weft__boot_server_t *srv,
                          const weft__store_event_t *ev)
{
    weft__store_msg_t m;

    if (srv->events == NULL) {
        srv->events = calloc(WEFT_BOOT_EVENTS_MAX, sizeof(*srv->events));
    }
    if (srv->events != NULL && srv->nevents < WEFT_BOOT_EVENTS_MAX) {
        srv->events[srv->nevents++] = *ev;
    } else if (!srv->events_full_logged) {
        srv->events_full_logged = 1;
        weft__log_warn(WEFT_SUB_BOOT,
                       "bootstrap store: more than %d "
                       "events; later ones are not replayed "
                       "to ranks that connect late",
                       WEFT_BOOT_EVENTS_MAX);
    }
    memset(&m, 0, sizeof(m));
    m.type = WEFT_STORE_MSG_EVENT;
    m.event = *ev;
    for (weft__boot_conn_t *c = srv->conns; c != NULL; c = c->next) {
        if (c->state == WEFT_BOOT_CONN_READY) {
            weft__boot_server_send(srv, c, &m);
        }
    }
}

void
weft__boot_server_replay(weft__boot_server_t *srv, weft__boot_conn_t *conn)
{
    weft__store_msg_t m;

    memset(&m, 0, sizeof(m));
    m.type = WEFT_STORE_MSG_EVENT;
    for (int i = 0; i < srv->nevents; i++) {
        m.event = srv->events[i];
        weft__boot_server_send(srv, conn, &m);
    }
}

static void
store_abort(weft__boot_server_t *srv, weft__boot_conn_t *conn,
            const weft__store_msg_t *m)
{
    const weft__store_event_t *ev = &m->event;

    if (ev->origin >= srv->params.nranks ||
        ev->failed_rank >= srv->params.nranks) {
        weft__boot_server_doom(srv, conn, 1,
                               "abort event names rank %d/%d of a job of %d",
                               ev->origin, ev->failed_rank, srv->params.nranks);
        return;
    }
    weft__log_info(WEFT_SUB_BOOT, "bootstrap store: rank %d aborts: %s",
                   conn->rank, ev->reason);
    weft__boot_server_publish(srv, ev);
}

/* ---- dispatch ---- */

void
weft__boot_server_handle(weft__boot_server_t *srv, weft__boot_conn_t *conn,
                         const weft__store_msg_t *m)
{
    switch (m->type) {
    case WEFT_STORE_MSG_PUT:
        store_put(srv, conn, m);
        break;
    case WEFT_STORE_MSG_GET:
        store_get(srv, conn, m);
        break;
    case WEFT_STORE_MSG_FENCE:
        store_coll_arrive(srv, conn, m, WEFT_STORE_WHAT_FENCE);
        break;
    case WEFT_STORE_MSG_ALLGATHER:
        store_coll_arrive(srv, conn, m, WEFT_STORE_WHAT_ALLGATHER);
        break;
    case WEFT_STORE_MSG_STATUS:
        store_status(srv, conn, m);
        break;
    case WEFT_STORE_MSG_ABORT:
        store_abort(srv, conn, m);
        break;
    default: /* the header check admits nothing else from a rank */
        weft__boot_server_doom(srv, conn, 1, "unexpected %s frame",
                               weft__store_msg_type_name(m->type));
        break;
    }
}

void
weft__boot_server_forget(weft__boot_server_t *srv, weft__boot_conn_t *conn)
{
    weft__boot_wait_t **pw = &srv->waits;

    while (*pw != NULL) {
        weft__boot_wait_t *w = *pw;

        if (w->conn == conn) {
            *pw = w->next;
            srv->nwaits--;
            free(w);
        } else {
            pw = &w->next;
        }
    }
}

weft_status_t
weft__boot_server_store_init(weft__boot_server_t *srv)
{
    srv->kv_buckets = STORE_KV_BUCKETS_MIN;
    srv->kv = calloc(srv->kv_buckets, sizeof(*srv->kv));
    if (srv->kv == NULL) {
        return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_BOOT,
                           "out of memory for the bootstrap store");
    }
    return WEFT_OK;
}

void
weft__boot_server_store_fini(weft__boot_server_t *srv)
{
    for (size_t i = 0; srv->kv != NULL && i < srv->kv_buckets; i++) {
        while (srv->kv[i] != NULL) {
            weft__boot_kv_t *kv = srv->kv[i];

            srv->kv[i] = kv->next;
            free(kv->val);
            free(kv);
        }
    }
    free(srv->kv);
    srv->kv = NULL;
    while (srv->waits != NULL) {
        weft__boot_wait_t *w = srv->waits;

        srv->waits = w->next;
        free(w);
    }
    while (srv->colls != NULL) {
        weft__boot_coll_t *c = srv->colls;

        srv->colls = c->next;
        store_coll_free(c);
    }
}
