/*
 * The env backend of the bootstrap store: a job of one rank. Keys live in
 * a local list, fences return at once, an allgather copies the rank's own
 * contribution, and events go to a local queue (the sender is the whole
 * job).
 */
#include "build_config.h"
#include "bootstrap/store.h"

#include <stdlib.h>
#include <string.h>

#include "bootstrap/store_kv.h"
#include "bootstrap/store_msg.h"
#include "errmsg.h"
#include "log.h"
#include "util.h"

#define STORE_ENV_EVENTS_MAX 64

typedef struct store_env {
    weft__store_t base;
    weft__store_kv_t *kv;
    weft__store_event_t events[STORE_ENV_EVENTS_MAX];
    int ev_head, ev_n;
} store_env_t;

static store_env_t *
store_env_of(weft__store_t *s)
{
    return (store_env_t *)s;
}

static weft_status_t
store_env_put(weft__store_t *store, const char *key, const void *val,
              size_t len)
{
    store_env_t *s = store_env_of(store);
    int have;

    WEFT_CHECK(weft__store_msg_name_check(key, "put"));
    WEFT_CHECK(weft__store_kv_check(s->kv, key, val, len, &have));
    return have ? WEFT_OK : weft__store_kv_add(&s->kv, key, val, len);
}

static weft_status_t
store_env_get(weft__store_t *store, const char *key, void *buf, size_t cap,
              size_t *len_p, double deadline)
{
    int found;

    (void)deadline;
    WEFT_CHECK(weft__store_msg_name_check(key, "get"));
    WEFT_CHECK(weft__store_kv_copy(store_env_of(store)->kv, key, buf, cap,
                                   len_p, &found));
    if (!found) {
        /* nobody else can ever put it: waiting would only delay this */
        return weft__error(WEFT_ERR_TIMED_OUT, WEFT_SUB_BOOT,
                           "bootstrap get '%s': no such key (a job of one "
                           "rank)",
                           key);
    }
    return WEFT_OK;
}

static weft_status_t
store_env_fence(weft__store_t *store, const char *name, double deadline)
{
    return weft__store_msg_name_check(name, "fence");
}

static weft_status_t
store_env_allgather(weft__store_t *store, const char *name, const void *mine,
                    size_t len, void *all, double deadline)
{
    WEFT_CHECK(weft__store_msg_name_check(name, "allgather"));
    if (len > WEFT_STORE_VALUE_MAX || (len > 0 && (!mine || !all))) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                           "bootstrap allgather '%s': %zu bytes (at most "
                           "%d)",
                           name, len, WEFT_STORE_VALUE_MAX);
    }
    if (len > 0 && all != mine) {
        memmove(all, mine, len);
    }
    return WEFT_OK;
}

static weft_status_t
store_env_abort(weft__store_t *store, const weft__store_event_t *ev)
{
    store_env_t *s = store_env_of(store);

    if (s->ev_n == STORE_ENV_EVENTS_MAX) {
        return WEFT_OK; /* the first ones are the ones that matter */
    }
    s->events[(s->ev_head + s->ev_n) % STORE_ENV_EVENTS_MAX] = *ev;
    s->events[(s->ev_head + s->ev_n) % STORE_ENV_EVENTS_MAX]
        .reason[WEFT_STORE_REASON_MAX - 1] = '\0';
    s->ev_n++;
    return WEFT_OK;
}

static int
store_env_event_fd(weft__store_t *store)
{
    return -1;
}

static weft_status_t
store_env_poll_event(weft__store_t *store, weft__store_event_t *ev)
{
    store_env_t *s = store_env_of(store);

    if (s->ev_n == 0) {
        return WEFT_INPROGRESS;
    }
    *ev = s->events[s->ev_head];
    s->ev_head = (s->ev_head + 1) % STORE_ENV_EVENTS_MAX;
    s->ev_n--;
    return WEFT_OK;
}

static void
store_env_destroy(weft__store_t *store)
{
    store_env_t *s = store_env_of(store);

    if (s == NULL) {
        return;
    }
    weft__store_kv_free(&s->kv);
    free(s);
}

static const weft__store_ops_t store_env_ops = {
    .name = "env",
    .put = store_env_put,
    .get = store_env_get,
    .fence = store_env_fence,
    .allgather = store_env_allgather,
    .abort = store_env_abort,
    .event_fd = store_env_event_fd,
    .poll_event = store_env_poll_event,
    .destroy = store_env_destroy,
};

weft_status_t
weft__store_env_create(weft__store_t **store_p)
{
    store_env_t *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_BOOT,
                           "out of memory for the bootstrap store");
    }
    s->base.ops = &store_env_ops;
    s->base.rank = 0;
    s->base.nranks = 1;
    *store_p = &s->base;
    return WEFT_OK;
}
