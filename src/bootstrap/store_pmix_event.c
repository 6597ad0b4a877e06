/*
 * Events of the pmix backend: an abort (a comm's or the job's fatal
 * error) is sent with PMIx_Notify_event, a status of weft's own in the
 * namespace range, carrying the event as a store EVENT frame (the tcp
 * backend's codec, so every field is checked on arrival). A handler
 * registered for that status queues it and writes a byte to a pipe, whose
 * read end is the store's event_fd. The sender queues its own copy
 * directly.
 *
 * Reach: the PMIx server library delivers the notification to the
 * namespace's processes on the sender's node, and passes it to the
 * resource manager (its notify_event upcall) for the other nodes. Slurm's
 * PMIx plugin (22.05 and later, checked in its source) has no such
 * upcall, so under srun an abort reaches the ranks of the sender's node
 * only; ranks on other nodes learn a comm's error over the links
 * (WEFT_FLOOD: each rank passes it on once to the ranks it has links to)
 * or at their deadline. The event is marked non-default: Slurm's server
 * registers a default handler that kills the job step on any event.
 */
#include "build_config.h"
#include "bootstrap/store_pmix.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "bootstrap/store_msg.h"
#include "errmsg.h"
#include "log.h"
#include "util.h"

/* weft's event status: below PMIx's own codes, where the standard leaves
 * room for applications ("weft" is 0x77 in the last byte). */
#define STORE_PMIX_ABORT_STATUS (PMIX_EXTERNAL_ERR_BASE - 0x77)
#define STORE_PMIX_EVENT_KEY    "weft.event"
#define STORE_PMIX_SESSION_KEY  "weft.session" /* the sender's store */

/* The handler has no argument of ours: it finds the live stores here. */
static pthread_mutex_t store_pmix_live_lock = PTHREAD_MUTEX_INITIALIZER;
static weft__store_pmix_t *store_pmix_live;

static void
store_pmix_queue(weft__store_pmix_t *s, const weft__store_event_t *ev)
{
    char one = 1;
    ssize_t w;

    pthread_mutex_lock(&s->ev_lock);
    if (s->ev_n < WEFT_STORE_PMIX_EVENTS_MAX) { /* the first ones matter */
        int i = (s->ev_head + s->ev_n) % WEFT_STORE_PMIX_EVENTS_MAX;

        s->events[i] = *ev;
        s->events[i].reason[WEFT_STORE_REASON_MAX - 1] = '\0';
        s->ev_n++;
    }
    pthread_mutex_unlock(&s->ev_lock);
    do { /* a full pipe is already readable: nothing lost */
        w = write(s->ev_pipe[1], &one, 1);
    } while (w < 0 && errno == EINTR);
}

static int
store_pmix_decode(const pmix_info_t *info, size_t ninfo,
                  weft__store_event_t *ev, unsigned *session_p)
{
    int found = 0;

    for (size_t i = 0; i < ninfo; i++) {
        if (strncmp(info[i].key, STORE_PMIX_SESSION_KEY, PMIX_MAX_KEYLEN) ==
                0 &&
            info[i].value.type == PMIX_UINT32) {
            *session_p = info[i].value.data.uint32;
            found |= 1;
        }
    }
    for (size_t i = 0; i < ninfo && found == 1; i++) {
        weft__store_msg_t m;
        char why[128];

        if (strncmp(info[i].key, STORE_PMIX_EVENT_KEY, PMIX_MAX_KEYLEN) != 0) {
            continue;
        }
        if (info[i].value.type != PMIX_BYTE_OBJECT ||
            weft__store_msg_decode_frame(
                (const uint8_t *)info[i].value.data.bo.bytes,
                info[i].value.data.bo.size, 1, &m, why,
                sizeof(why)) != WEFT_OK ||
            m.type != WEFT_STORE_MSG_EVENT) {
            weft__log_warn(WEFT_SUB_BOOT,
                           "a PMIx event with weft's status carries no "
                           "valid weft event; ignored");
            return 0;
        }
        *ev = m.event;
        return 1;
    }
    return 0;
}

/* Runs on PMIx's progress thread. */
static void
store_pmix_handler(size_t ref, pmix_status_t status, const pmix_proc_t *src,
                   pmix_info_t info[], size_t ninfo, pmix_info_t *results,
                   size_t nresults, pmix_event_notification_cbfunc_fn_t cbfunc,
                   void *cbdata)
{
    weft__store_event_t ev;
    unsigned session = 0;

    if (status == STORE_PMIX_ABORT_STATUS &&
        store_pmix_decode(info, ninfo, &ev, &session)) {
        pthread_mutex_lock(&store_pmix_live_lock);
        for (weft__store_pmix_t *s = store_pmix_live; s != NULL;
             s = s->next_live) {
            /* the sender queued its own copy; other namespaces are other
             * jobs, other sessions other contexts */
            if (src != NULL && PMIX_CHECK_NSPACE(src->nspace, s->me.nspace) &&
                src->rank != s->me.rank && session == s->session) {
                store_pmix_queue(s, &ev);
            }
        }
        pthread_mutex_unlock(&store_pmix_live_lock);
    }
    if (cbfunc != NULL) {
        cbfunc(PMIX_EVENT_ACTION_COMPLETE, NULL, 0, NULL, NULL, cbdata);
    }
}

weft_status_t
weft__store_pmix_event_init(weft__store_pmix_t *s)
{
    pmix_status_t code = STORE_PMIX_ABORT_STATUS;
    pmix_info_t info;
    pmix_status_t rc;

    pthread_mutex_init(&s->ev_lock, NULL);
    if (pipe2(s->ev_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        s->ev_pipe[0] = s->ev_pipe[1] = -1;
        return weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_BOOT,
                           "pipe for PMIx events: %s", strerror(errno));
    }
    pthread_mutex_lock(&store_pmix_live_lock);
    s->next_live = store_pmix_live;
    store_pmix_live = s;
    pthread_mutex_unlock(&store_pmix_live_lock);
    PMIx_Info_load(&info, PMIX_EVENT_HDLR_NAME, "weft-abort", PMIX_STRING);
    /* blocking form (no callback): a reference >= 0, or an error */
    rc = PMIx_Register_event_handler(&code, 1, &info, 1, store_pmix_handler,
                                     NULL, NULL);
    PMIX_INFO_DESTRUCT(&info);
    if (rc < 0) {
        return weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_BOOT,
                           "PMIx_Register_event_handler for weft's abort "
                           "events: %s",
                           PMIx_Error_string(rc));
    }
    s->hdlr_ref = (size_t)rc;
    s->hdlr_registered = 1;
    return WEFT_OK;
}

void
weft__store_pmix_event_fini(weft__store_pmix_t *s)
{
    weft__store_pmix_t **pp;

    if (s->hdlr_registered) {
        (void)PMIx_Deregister_event_handler(s->hdlr_ref, NULL, NULL);
        s->hdlr_registered = 0;
    }
    pthread_mutex_lock(&store_pmix_live_lock);
    for (pp = &store_pmix_live; *pp != NULL; pp = &(*pp)->next_live) {
        if (*pp == s) {
            *pp = s->next_live;
            break;
        }
    }
    pthread_mutex_unlock(&store_pmix_live_lock);
    for (int i = 0; i < 2; i++) {
        if (s->ev_pipe[i] >= 0) {
            close(s->ev_pipe[i]);
            s->ev_pipe[i] = -1;
        }
    }
    pthread_mutex_destroy(&s->ev_lock);
}

weft_status_t
weft__store_pmix_abort(weft__store_t *store, const weft__store_event_t *ev)
{
    weft__store_pmix_t *s = (weft__store_pmix_t *)store;
    weft__store_msg_t m;
    uint8_t frame[WEFT_STORE_MSG_HDR_LEN + 32 + WEFT_STORE_REASON_MAX];
    pmix_byte_object_t bo;
    pmix_info_t info[3];
    bool nondefault = true;
    uint32_t session = s->session;
    size_t len;
    pmix_status_t rc;

    memset(&m, 0, sizeof(m));
    m.type = WEFT_STORE_MSG_EVENT;
    m.event = *ev;
    m.event.reason[WEFT_STORE_REASON_MAX - 1] = '\0';
    WEFT_CHECK(weft__store_msg_encode(&m, frame, sizeof(frame), &len));
    store_pmix_queue(s, &m.event);
    bo.bytes = (char *)frame;
    bo.size = len;
    PMIx_Info_load(&info[0], STORE_PMIX_EVENT_KEY, &bo, PMIX_BYTE_OBJECT);
    PMIx_Info_load(&info[1], PMIX_EVENT_NON_DEFAULT, &nondefault, PMIX_BOOL);
    PMIx_Info_load(&info[2], STORE_PMIX_SESSION_KEY, &session, PMIX_UINT32);
    /* blocking form: info may go once it returns */
    rc = PMIx_Notify_event(STORE_PMIX_ABORT_STATUS, &s->me,
                           PMIX_RANGE_NAMESPACE, info, 3, NULL, NULL);
    for (int i = 0; i < 3; i++) {
        PMIX_INFO_DESTRUCT(&info[i]);
    }
    if (rc != PMIX_SUCCESS && rc != PMIX_OPERATION_SUCCEEDED) {
        return weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_BOOT,
                           "PMIx_Notify_event of an abort (comm %u): %s",
                           ev->comm_id, PMIx_Error_string(rc));
    }
    return WEFT_OK;
}

int
weft__store_pmix_event_fd(weft__store_t *store)
{
    return ((weft__store_pmix_t *)store)->ev_pipe[0];
}

weft_status_t
weft__store_pmix_poll_event(weft__store_t *store, weft__store_event_t *ev)
{
    weft__store_pmix_t *s = (weft__store_pmix_t *)store;
    char drain[64];
    weft_status_t st = WEFT_INPROGRESS;

    /* empty the pipe first: a byte written after this is for an event
     * queued after it, which the lock below then sees */
    while (read(s->ev_pipe[0], drain, sizeof(drain)) > 0) {
    }
    pthread_mutex_lock(&s->ev_lock);
    if (s->ev_n > 0) {
        *ev = s->events[s->ev_head];
        s->ev_head = (s->ev_head + 1) % WEFT_STORE_PMIX_EVENTS_MAX;
        s->ev_n--;
        st = WEFT_OK;
    }
    pthread_mutex_unlock(&s->ev_lock);
    return st;
}

int
weft__store_pmix_peek_event(weft__store_pmix_t *s, weft__store_event_t *ev)
{
    int found;

    pthread_mutex_lock(&s->ev_lock);
    found = s->ev_n > 0;
    if (found) {
        *ev = s->events[s->ev_head];
    }
    pthread_mutex_unlock(&s->ev_lock);
    return found;
}
