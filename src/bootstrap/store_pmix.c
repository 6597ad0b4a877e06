/*
 * The pmix backend of the bootstrap store: ranks started by a PMIx
 * launcher (srun --mpi=pmix, prterun) use the resource manager's PMIx
 * server as the store. put/get are PMIx_Put + PMIx_Commit / PMIx_Get,
 * fences are PMIx_Fence (collecting the data put so far), an allgather is
 * a put, a fence and a get from every rank; events are in
 * store_pmix_event.c.
 *
 * The job key: without weftrun there is no shared secret, so rank 0 draws
 * one and publishes it through PMIx; the others read it after a fence.
 * The trust boundary is the resource manager's namespace: only processes
 * of this job (this PMIx namespace, served by the resource manager's own
 * daemons) can read it, and the transports authenticate every link with
 * keys derived from it, as they do under weftrun.
 *
 * Values are stored as PMIx byte objects of one format byte followed by
 * the value (so an empty value is still an object, and a key of another
 * program is never taken for ours). PMIx matches fences by their order on
 * each rank, not by name: every rank must call them in the same order (the
 * context does); an allgather checks that every rank contributed under
 * its name.
 */
#include "build_config.h"
#include "bootstrap/store_pmix.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bootstrap/auth.h"
#include "bootstrap/store_msg.h"
#include "clock.h"
#include "errmsg.h"
#include "log.h"
#include "util.h"

/* the first byte of every value we store */
#define STORE_PMIX_FORMAT 0x57
/* seconds between looks for a key no rank has put yet */
#define STORE_PMIX_POLL_S 0.01
/* a wait for a fence looks at the events this often (seconds) */
#define STORE_PMIX_SLICE_S 0.05

static weft__store_pmix_t *
store_pmix_of(weft__store_t *s)
{
    return (weft__store_pmix_t *)s;
}

/* PMIX_TIMEOUT is whole seconds (0: forever): round up, at least 1. */
static int
store_pmix_timeout(double deadline)
{
    double left = deadline - weft__now();

    return left < 1 ? 1 : left > 86400 ? 86400 : (int)ceil(left);
}

static void
store_pmix_nap(double s)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(s * 1e9)};

    nanosleep(&ts, NULL);
}

static weft_status_t
store_pmix_status(pmix_status_t rc)
{
    switch (rc) {
    case PMIX_ERR_TIMEOUT:
        return WEFT_ERR_TIMED_OUT;
    case PMIX_ERR_NOMEM:
        return WEFT_ERR_NO_MEMORY;
    case PMIX_ERR_PROC_ABORTED:
    case PMIX_ERR_PROC_ABORTING:
    case PMIX_ERR_LOST_CONNECTION:
    case PMIX_ERR_UNREACH:
        return WEFT_ERR_PEER_LOST;
    default:
        return WEFT_ERR_SYSTEM;
    }
}

/* A blocking call ends when the job aborts: the event stays queued. */
static weft_status_t
store_pmix_aborted(weft__store_pmix_t *s, const char *what, const char *name)
{
    weft__store_event_t ev;

    if (!weft__store_pmix_peek_event(s, &ev)) {
        return WEFT_OK;
    }
    return weft__error(ev.status, WEFT_SUB_BOOT, "bootstrap %s '%s': %s", what,
                       name, ev.reason);
}

/* PMIx_Put + PMIx_Commit of one byte object under pkey. */
static weft_status_t
store_pmix_publish(const char *pkey, const void *val, size_t len)
{
    uint8_t *buf = malloc(len + 1);
    pmix_value_t v;
    pmix_status_t rc;

    if (buf == NULL) {
        return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_BOOT,
                           "out of memory publishing '%s'", pkey);
    }
    buf[0] = STORE_PMIX_FORMAT;
    if (len > 0) {
        memcpy(buf + 1, val, len);
    }
    PMIX_VALUE_CONSTRUCT(&v);
    v.type = PMIX_BYTE_OBJECT;
    v.data.bo.bytes = (char *)buf;
    v.data.bo.size = len + 1;
    rc = PMIx_Put(PMIX_GLOBAL, pkey, &v); /* copies the value */
    weft__memzero(buf, len + 1);
    free(buf);
    if (rc == PMIX_SUCCESS) {
        rc = PMIx_Commit();
    }
    if (rc != PMIX_SUCCESS) {
        return weft__error(store_pmix_status(rc), WEFT_SUB_BOOT,
                           "PMIx_Put/PMIx_Commit of key %s: %s", pkey,
                           PMIx_Error_string(rc));
    }
    return WEFT_OK;
}

/*
 * PMIx_Get of pkey from rank (PMIX_RANK_UNDEF: from whichever rank put
 * it). WEFT_ERR_TIMED_OUT without a log line when PMIx says not found
 * (the caller may look again); other errors are logged.
 */
static weft_status_t
store_pmix_fetch(weft__store_pmix_t *s, pmix_rank_t rank, const char *pkey,
                 int refresh, void *buf, size_t cap, size_t *len_p,
                 double deadline)
{
    pmix_proc_t proc;
    pmix_info_t info[2];
    bool fresh = refresh != 0;
    pmix_value_t *v = NULL;
    int tmo = store_pmix_timeout(deadline);
    char who[32];
    pmix_status_t rc;
    weft_status_t st = WEFT_OK;
    size_t len;

    PMIX_LOAD_PROCID(&proc, s->me.nspace, rank);
    PMIx_Info_load(&info[0], PMIX_TIMEOUT, &tmo, PMIX_INT);
    PMIx_Info_load(&info[1], PMIX_GET_REFRESH_CACHE, &fresh, PMIX_BOOL);
    rc = PMIx_Get(&proc, pkey, info, 2, &v);
    PMIX_INFO_DESTRUCT(&info[0]);
    PMIX_INFO_DESTRUCT(&info[1]);
    if (rank == PMIX_RANK_UNDEF) {
        snprintf(who, sizeof(who), "any rank");
    } else {
        snprintf(who, sizeof(who), "rank %u", rank);
    }
    if (rc == PMIX_ERR_NOT_FOUND) {
        weft__error_set("PMIx_Get of key %s from %s: %s", pkey, who,
                        PMIx_Error_string(rc));
        return WEFT_ERR_TIMED_OUT;
    }
    if (rc != PMIX_SUCCESS) {
        return weft__error(store_pmix_status(rc), WEFT_SUB_BOOT,
                           "PMIx_Get of key %s from %s: %s", pkey, who,
                           PMIx_Error_string(rc));
    }
    if (v == NULL || v->type != PMIX_BYTE_OBJECT || v->data.bo.size < 1 ||
        (uint8_t)v->data.bo.bytes[0] != STORE_PMIX_FORMAT) {
        st = weft__error(WEFT_ERR_PROTOCOL, WEFT_SUB_BOOT,
                         "PMIx_Get of key %s from %s: not a value weft "
                         "stored",
                         pkey, who);
        goto out;
    }
    len = v->data.bo.size - 1;
    if (len > cap) {
        st = weft__error(WEFT_ERR_TRUNCATED, WEFT_SUB_BOOT,
                         "PMIx_Get of key %s from %s: the value has %zu "
                         "bytes, the buffer %zu",
                         pkey, who, len, cap);
        goto out;
    }
    if (len > 0) {
        memcpy(buf, v->data.bo.bytes + 1, len);
    }
    *len_p = len;
out:
    if (v != NULL && v->type == PMIX_BYTE_OBJECT && v->data.bo.bytes != NULL) {
        weft__memzero(v->data.bo.bytes, v->data.bo.size);
    }
    if (v != NULL) {
        PMIX_VALUE_RELEASE(v);
    }
    return st;
}

static weft_status_t
store_pmix_put(weft__store_t *store, const char *key, const void *val,
               size_t len)
{
    weft__store_pmix_t *s = store_pmix_of(store);
    char pkey[PMIX_MAX_KEYLEN + 1];
    int have;

    WEFT_CHECK(weft__store_msg_name_check(key, "put"));
    WEFT_CHECK(weft__store_kv_check(s->kv, key, val, len, &have));
    if (have) {
        return WEFT_OK;
    }
    snprintf(pkey, sizeof(pkey), "weft.%u.kv.%s", s->session, key);
    WEFT_CHECK(store_pmix_publish(pkey, val, len));
    return weft__store_kv_add(&s->kv, key, val, len);
}

static weft_status_t
store_pmix_get(weft__store_t *store, const char *key, void *buf, size_t cap,
               size_t *len_p, double deadline)
{
    weft__store_pmix_t *s = store_pmix_of(store);
    char pkey[PMIX_MAX_KEYLEN + 1];
    size_t len = 0;
    int ours;
    weft_status_t st;

    WEFT_CHECK(weft__store_msg_name_check(key, "get"));
    WEFT_CHECK(weft__store_kv_copy(s->kv, key, buf, cap, len_p, &ours));
    if (ours) {
        return WEFT_OK;
    }
    snprintf(pkey, sizeof(pkey), "weft.%u.kv.%s", s->session, key);
    for (;;) {
        for (int r = 0; r < s->base.nranks; r++) {
            if (r == s->base.rank) {
                continue;
            }
            WEFT_CHECK(store_pmix_aborted(s, "get", key));
            st = store_pmix_fetch(s, (pmix_rank_t)r, pkey, 1, buf, cap, &len,
                                  weft__now() + 1);
            if (st == WEFT_OK) {
                if (len_p != NULL) {
                    *len_p = len;
                }
                return WEFT_OK;
            }
            if (st != WEFT_ERR_TIMED_OUT) {
                return st;
            }
        }
        if (weft__now() >= deadline) {
            return weft__error(WEFT_ERR_TIMED_OUT, WEFT_SUB_BOOT,
                               "bootstrap get '%s': no rank put it before "
                               "the deadline",
                               key);
        }
        store_pmix_nap(STORE_PMIX_POLL_S);
    }
}

/* A fence whose caller may give up (deadline, abort) before PMIx calls
 * back: then it waits in a list until PMIx calls back, or until PMIx is
 * finalized at exit (no callback can come after that). One lock for all:
 * fences are few. */
typedef struct store_pmix_fence_op {
    struct store_pmix_fence_op *next; /* abandoned ones */
    pthread_cond_t cv;
    int done, abandoned;
    pmix_status_t rc;
} store_pmix_fence_op_t;

static pthread_mutex_t store_pmix_fence_lock = PTHREAD_MUTEX_INITIALIZER;
static store_pmix_fence_op_t *store_pmix_abandoned;

static void
store_pmix_fence_op_free(store_pmix_fence_op_t *op)
{
    pthread_cond_destroy(&op->cv);
    free(op);
}

static void
store_pmix_fence_done(pmix_status_t rc, void *arg)
{
    store_pmix_fence_op_t *op = arg;

    pthread_mutex_lock(&store_pmix_fence_lock);
    if (op->abandoned) {
        store_pmix_fence_op_t **pp = &store_pmix_abandoned;

        while (*pp != NULL && *pp != op) {
            pp = &(*pp)->next;
        }
        if (*pp == op) {
            *pp = op->next;
        }
        pthread_mutex_unlock(&store_pmix_fence_lock);
        store_pmix_fence_op_free(op);
        return;
    }
    op->rc = rc;
    op->done = 1;
    pthread_cond_signal(&op->cv);
    pthread_mutex_unlock(&store_pmix_fence_lock);
}

/* At exit, after PMIx_Finalize: the fences nobody waits for any more. */
static void
store_pmix_fence_forget(void)
{
    pthread_mutex_lock(&store_pmix_fence_lock);
    while (store_pmix_abandoned != NULL) {
        store_pmix_fence_op_t *op = store_pmix_abandoned;

        store_pmix_abandoned = op->next;
        store_pmix_fence_op_free(op);
    }
    pthread_mutex_unlock(&store_pmix_fence_lock);
}

/* PMIx_Fence over the whole namespace, collecting the data put so far. */
static weft_status_t
store_pmix_fence_wait(weft__store_pmix_t *s, const char *what, const char *name,
                      double deadline)
{
    store_pmix_fence_op_t *op = calloc(1, sizeof(*op));
    pmix_info_t info[2];
    bool collect = true;
    int tmo = store_pmix_timeout(deadline) + 1; /* ours first */
    weft_status_t st = WEFT_OK;
    pmix_status_t rc;

    if (op == NULL) {
        return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_BOOT,
                           "out of memory for a PMIx fence");
    }
    pthread_cond_init(&op->cv, NULL);
    PMIx_Info_load(&info[0], PMIX_COLLECT_DATA, &collect, PMIX_BOOL);
    PMIx_Info_load(&info[1], PMIX_TIMEOUT, &tmo, PMIX_INT);
    rc = PMIx_Fence_nb(NULL, 0, info, 2, store_pmix_fence_done, op);
    PMIX_INFO_DESTRUCT(&info[0]);
    PMIX_INFO_DESTRUCT(&info[1]);
    if (rc != PMIX_SUCCESS) {
        store_pmix_fence_op_free(op);
        return weft__error(store_pmix_status(rc), WEFT_SUB_BOOT,
                           "bootstrap %s '%s': PMIx_Fence_nb: %s", what, name,
                           PMIx_Error_string(rc));
    }
    pthread_mutex_lock(&store_pmix_fence_lock);
    while (!op->done) {
        double now = weft__now();
        struct timespec at;

        if (now >= deadline) {
            st = weft__error(WEFT_ERR_TIMED_OUT, WEFT_SUB_BOOT,
                             "bootstrap %s '%s': PMIx_Fence did not complete "
                             "before the deadline (a rank of the job has not "
                             "reached it; PMIx does not say which)",
                             what, name);
            break;
        }
        pthread_mutex_unlock(&store_pmix_fence_lock);
        st = store_pmix_aborted(s, what, name);
        pthread_mutex_lock(&store_pmix_fence_lock);
        if (st != WEFT_OK) {
            break;
        }
        clock_gettime(CLOCK_REALTIME, &at);
        at.tv_nsec += (long)(STORE_PMIX_SLICE_S * 1e9);
        if (at.tv_nsec >= 1000000000L) {
            at.tv_sec++;
            at.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&op->cv, &store_pmix_fence_lock, &at);
    }
    if (!op->done) { /* PMIx calls back later and frees it */
        op->abandoned = 1;
        op->next = store_pmix_abandoned;
        store_pmix_abandoned = op;
        pthread_mutex_unlock(&store_pmix_fence_lock);
        return st;
    }
    rc = op->rc;
    pthread_mutex_unlock(&store_pmix_fence_lock);
    store_pmix_fence_op_free(op);
    if (rc != PMIX_SUCCESS) {
        return weft__error(store_pmix_status(rc), WEFT_SUB_BOOT,
                           "bootstrap %s '%s': PMIx_Fence: %s", what, name,
                           PMIx_Error_string(rc));
    }
    return WEFT_OK;
}

static weft_status_t
store_pmix_fence(weft__store_t *store, const char *name, double deadline)
{
    WEFT_CHECK(weft__store_msg_name_check(name, "fence"));
    return store_pmix_fence_wait(store_pmix_of(store), "fence", name, deadline);
}

static weft_status_t
store_pmix_allgather(weft__store_t *store, const char *name, const void *mine,
                     size_t len, void *all, double deadline)
{
    weft__store_pmix_t *s = store_pmix_of(store);
    char pkey[PMIX_MAX_KEYLEN + 1];
    uint8_t *out = all;

    WEFT_CHECK(weft__store_msg_name_check(name, "allgather"));
    if (len > WEFT_STORE_VALUE_MAX || (len > 0 && (!mine || !all))) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                           "bootstrap allgather '%s': %zu bytes (at most "
                           "%d)",
                           name, len, WEFT_STORE_VALUE_MAX);
    }
    snprintf(pkey, sizeof(pkey), "weft.%u.ag.%s", s->session, name);
    WEFT_CHECK(store_pmix_publish(pkey, mine, len));
    WEFT_CHECK(store_pmix_fence_wait(s, "allgather", name, deadline));
    for (int r = 0; r < s->base.nranks; r++) {
        size_t got = 0;
        weft_status_t st;

        if (r == s->base.rank) {
            if (len > 0 && out + (size_t)r * len != mine) {
                memmove(out + (size_t)r * len, mine, len);
            }
            continue;
        }
        st = store_pmix_fetch(s, (pmix_rank_t)r, pkey, 0, out + (size_t)r * len,
                              len, &got, deadline);
        if (st == WEFT_ERR_TIMED_OUT) { /* not found after the fence */
            return weft__error(WEFT_ERR_MISMATCH, WEFT_SUB_BOOT,
                               "bootstrap allgather '%s': rank %d "
                               "contributes nothing under that name "
                               "(PMIx_Get of key %s: not found after the "
                               "fence; ranks called different steps?)",
                               name, r, pkey);
        }
        if (st == WEFT_ERR_TRUNCATED || (st == WEFT_OK && got != len)) {
            return weft__error(WEFT_ERR_MISMATCH, WEFT_SUB_BOOT,
                               "bootstrap allgather '%s': rank %d "
                               "contributes another size than this rank's "
                               "%zu bytes",
                               name, r, len);
        }
        WEFT_CHECK(st);
    }
    return WEFT_OK;
}

/*
 * PMIx stays initialized from the first store to the process's exit: a
 * client that finalized cannot rejoin its namespace (a second context
 * made after the first was destroyed found no job key), so one reference
 * is kept until exit. Each store is a session of its own: its keys carry
 * the session number (every rank makes its contexts in the same order).
 */
static pthread_mutex_t store_pmix_init_lock = PTHREAD_MUTEX_INITIALIZER;
static int store_pmix_held;
static unsigned store_pmix_sessions;

static void
store_pmix_at_exit(void)
{
    (void)PMIx_Finalize(NULL, 0);
    store_pmix_fence_forget();
}

static pmix_status_t
store_pmix_init(pmix_proc_t *me, unsigned *session_p)
{
    pmix_status_t rc;

    pthread_mutex_lock(&store_pmix_init_lock);
    rc = PMIx_Init(me, NULL, 0); /* this store's reference */
    if (rc == PMIX_SUCCESS && !store_pmix_held &&
        PMIx_Init(me, NULL, 0) == PMIX_SUCCESS) {
        store_pmix_held = 1;
        atexit(store_pmix_at_exit);
    }
    if (rc == PMIX_SUCCESS) {
        *session_p = ++store_pmix_sessions;
    }
    pthread_mutex_unlock(&store_pmix_init_lock);
    return rc;
}

static void
store_pmix_destroy(weft__store_t *store)
{
    weft__store_pmix_t *s = store_pmix_of(store);

    if (s == NULL) {
        return;
    }
    weft__store_pmix_event_fini(s);
    weft__store_kv_free(&s->kv);
    (void)PMIx_Finalize(NULL, 0);
    free(s);
}

static const weft__store_ops_t store_pmix_ops = {
    .name = "pmix",
    .put = store_pmix_put,
    .get = store_pmix_get,
    .fence = store_pmix_fence,
    .allgather = store_pmix_allgather,
    .abort = weft__store_pmix_abort,
    .event_fd = weft__store_pmix_event_fd,
    .poll_event = weft__store_pmix_poll_event,
    .destroy = store_pmix_destroy,
};

/* A job attribute as a nonnegative int: *out, or 0 when PMIx has none. */
static int
store_pmix_job_int(const pmix_proc_t *proc, const char *key, int *out)
{
    pmix_value_t *v = NULL;
    long long x = -1;

    if (PMIx_Get(proc, key, NULL, 0, &v) != PMIX_SUCCESS || v == NULL) {
        return 0;
    }
    switch (v->type) {
    case PMIX_UINT16:
        x = v->data.uint16;
        break;
    case PMIX_UINT32:
        x = v->data.uint32;
        break;
    case PMIX_INT:
        x = v->data.integer;
        break;
    case PMIX_UINT64:
        x = v->data.uint64 > INT32_MAX ? -1 : (long long)v->data.uint64;
        break;
    case PMIX_PROC_RANK:
        x = v->data.rank;
        break;
    default:
        break;
    }
    PMIX_VALUE_RELEASE(v);
    if (x < 0 || x > INT32_MAX) {
        return 0;
    }
    *out = (int)x;
    return 1;
}

/* Rank 0 draws the job key and publishes it; a fence; the others read. */
static weft_status_t
store_pmix_job_key(weft__store_pmix_t *s, weft__store_pmix_job_t *job,
                   double deadline)
{
    char pkey[64];
    size_t len = 0;

    snprintf(pkey, sizeof(pkey), "weft.%u.job_key", s->session);

    job->key_len = WEFT_AUTH_KEY_LEN;
    if (s->base.rank == 0) {
        WEFT_CHECK(weft__auth_random(job->key, WEFT_AUTH_KEY_LEN));
        WEFT_CHECK(store_pmix_publish(pkey, job->key, job->key_len));
    }
    WEFT_CHECK(store_pmix_fence_wait(s, "fence", "weft/job-key", deadline));
    if (s->base.rank == 0) {
        return WEFT_OK;
    }
    WEFT_CHECK(store_pmix_fetch(s, 0, pkey, 0, job->key, sizeof(job->key), &len,
                                deadline));
    if (len != WEFT_AUTH_KEY_LEN) {
        return weft__error(WEFT_ERR_PROTOCOL, WEFT_SUB_BOOT,
                           "the job key rank 0 published through PMIx has "
                           "%zu bytes, not %d",
                           len, WEFT_AUTH_KEY_LEN);
    }
    return WEFT_OK;
}

weft_status_t
weft__store_pmix_create(double deadline, weft__store_pmix_job_t *job,
                        weft__store_t **store_p)
{
    weft__store_pmix_t *s = calloc(1, sizeof(*s));
    pmix_proc_t wild;
    pmix_status_t rc;
    weft_status_t st;

    if (s == NULL) {
        return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_BOOT,
                           "out of memory for the bootstrap store");
    }
    s->ev_pipe[0] = s->ev_pipe[1] = -1;
    rc = store_pmix_init(&s->me, &s->session);
    if (rc != PMIX_SUCCESS) {
        free(s);
        weft__error_set("PMIx_Init: %s (no PMIx server: not started by "
                        "srun --mpi=pmix or prterun?)",
                        PMIx_Error_string(rc));
        return WEFT_ERR_UNSUPPORTED;
    }
    s->base.ops = &store_pmix_ops;
    s->base.rank = (int)s->me.rank;
    PMIX_LOAD_PROCID(&wild, s->me.nspace, PMIX_RANK_WILDCARD);
    memset(job, 0, sizeof(*job));
    job->local_rank = -1;
    if (!store_pmix_job_int(&wild, PMIX_JOB_SIZE, &s->base.nranks) ||
        s->base.nranks < 1 || s->base.rank >= s->base.nranks) {
        st = weft__error(WEFT_ERR_PROTOCOL, WEFT_SUB_BOOT,
                         "PMIx namespace %s: no usable PMIX_JOB_SIZE for "
                         "rank %d",
                         s->me.nspace, s->base.rank);
        goto err;
    }
    (void)store_pmix_job_int(&s->me, PMIX_LOCAL_RANK, &job->local_rank);
    (void)store_pmix_job_int(&wild, PMIX_LOCAL_SIZE, &job->local_size);
    job->rank = s->base.rank;
    job->nranks = s->base.nranks;
    WEFT_CHECK_GOTO(weft__store_pmix_event_init(s), st, err);
    WEFT_CHECK_GOTO(store_pmix_job_key(s, job, deadline), st, err);
    weft__log_info(WEFT_SUB_BOOT,
                   "bootstrap through %s: namespace %s, rank %d of %d "
                   "(local %d of %d)",
                   weft__store_pmix_version(), s->me.nspace, job->rank,
                   job->nranks, job->local_rank, job->local_size);
    *store_p = &s->base;
    return WEFT_OK;
err:
    weft__memzero(job->key, sizeof(job->key));
    store_pmix_destroy(&s->base);
    return st;
}

const char *
weft__store_pmix_version(void)
{
    static char version[64];
    const char *full = PMIx_Get_version(); /* "OpenPMIx 4.2.2 (PMIx ..." */
    size_t n = strcspn(full, "(");

    while (n > 0 && full[n - 1] == ' ') {
        n--;
    }
    snprintf(version, sizeof(version), "%.*s", (int)n, full);
    return version;
}
