/*
 * ucx: isend, irecv and cancel over ucp_tag_send_nbx / ucp_tag_recv_nbx,
 * UCX's completion callbacks (queued for progress), the tag layout and
 * the mapping of UCX statuses to weft's.
 *
 * Tag layout. The weft tag (ABI: opaque, matched exactly) is, as the core
 * packs it, [63..40 communicator id][39..32 kind][31..0 tag]. UCX matches
 * a receive against any sender, so the UCX tag must also name the
 * sender: [sender rank: R bits][communicator id: 29 - R bits][kind: 3
 * bits][tag: 32 bits], R = the bits of nranks - 1 (at least 1). Kinds
 * 0..6 are the core's (it uses 0..4); kind 7 is this module's goodbye. A
 * communicator id of all ones (standing receives, WEFT_TL_TAG_STANDING)
 * becomes all ones of the narrower field. A weft tag that does not fit
 * (a kind above 6, or with more than 5 rank bits an id too large for the
 * narrower field) is refused with WEFT_ERR_UNSUPPORTED, never mangled.
 */
#include "build_config.h"
#include "transports/ucx/ucx.h"

#include <string.h>
#include <time.h>

#define UCX_KIND_BYE        7u
#define UCX_WITHDRAW_WAIT_S 0.2 /* cancel() waits this long for UCX */
/* Receives into buffers smaller than this go through a generic datatype
 * that copies what fits: UCX drops a message larger than a contiguous
 * buffer without writing any of it, while weft's ABI hands the receiver
 * the first len bytes. Larger buffers stay contiguous (zero copy); a
 * message truncated there completes with WEFT_ERR_TRUNCATED but the
 * buffer's contents are unspecified. */
#define UCX_COPY_RECV_MAX (64u * 1024)
/* What the copying datatype tells UCX it can hold: any message fits, so
 * UCX never truncates, and the copy keeps the prefix. */
#define UCX_COPY_CAPACITY ((size_t)1 << 40)

/* ---- statuses ------------------------------------------------------- */

weft_status_t
weft__ucx_status(ucs_status_t s)
{
    switch (s) {
    case UCS_OK:
        return WEFT_OK;
    case UCS_INPROGRESS:
        return WEFT_INPROGRESS;
    case UCS_ERR_MESSAGE_TRUNCATED:
        return WEFT_ERR_TRUNCATED;
    case UCS_ERR_NO_MEMORY:
        return WEFT_ERR_NO_MEMORY;
    case UCS_ERR_INVALID_PARAM:
        return WEFT_ERR_INVALID_ARG;
    case UCS_ERR_UNSUPPORTED:
    case UCS_ERR_NO_DEVICE:
    case UCS_ERR_UNREACHABLE:
        return WEFT_ERR_UNSUPPORTED;
    case UCS_ERR_TIMED_OUT:
        return WEFT_ERR_TIMED_OUT;
    case UCS_ERR_CONNECTION_RESET:
    case UCS_ERR_ENDPOINT_TIMEOUT:
    case UCS_ERR_REJECTED:
    case UCS_ERR_NOT_CONNECTED:
    case UCS_ERR_CANCELED: /* only ever seen for ops of a lost peer */
        return WEFT_ERR_PEER_LOST;
    case UCS_ERR_IO_ERROR:
        return WEFT_ERR_SYSTEM;
    default:
        return WEFT_ERR_TRANSPORT;
    }
}

/* ---- the copying and gathering datatypes ------------------------------ */

/* The "buffer" UCX passes through is the op itself. */
static void *
ucx_dt_start(void *context, const void *buffer, size_t count)
{
    (void)context;
    (void)count;
    return (void *)buffer;
}

static void *
ucx_dt_start_unpack(void *context, void *buffer, size_t count)
{
    return ucx_dt_start(context, buffer, count);
}

/* What a receive through dt_copy can hold: anything (UCX never
 * truncates; the copy keeps the prefix). */
static size_t
ucx_dt_capacity(void *state)
{
    (void)state;
    return UCX_COPY_CAPACITY;
}

/* What a send through dt_gather carries: head and body. */
static size_t
ucx_dt_packed_size(void *state)
{
    const ucx_op_t *o = weft__ucx_op(state);

    return o->hlen + o->len;
}

/* Bytes [offset, offset + n) of the message as the op's head followed by
 * its body: copied out (gather, into dest) or in (scatter, from src),
 * clipped to what head and body hold. */
static void
ucx_dt_move(ucx_op_t *o, size_t offset, void *other, size_t n, int gather)
{
    char *p = other;

    if (offset < o->hlen) {
        size_t k = o->hlen - offset < n ? o->hlen - offset : n;

        memcpy(gather ? p : (char *)o->head + offset,
               gather ? (char *)o->head + offset : p, k);
        p += k;
        offset += k;
        n -= k;
    }
    offset -= o->hlen;
    if (n > 0 && offset < o->len) {
        size_t k = o->len - offset < n ? o->len - offset : n;

        memcpy(gather ? p : (char *)o->buf + offset,
               gather ? (char *)o->buf + offset : p, k);
    }
}

static size_t
ucx_dt_pack(void *state, size_t offset, void *dest, size_t max_length)
{
    ucx_op_t *o = weft__ucx_op(state);
    size_t total = o->hlen + o->len;
    size_t n = offset < total ? total - offset : 0;

    n = n < max_length ? n : max_length;
    ucx_dt_move(o, offset, dest, n, 1);
    return n;
}

static ucs_status_t
ucx_dt_unpack(void *state, size_t offset, const void *src, size_t length)
{
    ucx_dt_move(weft__ucx_op(state), offset, (void *)src, length, 0);
    return UCS_OK;
}

static void
ucx_dt_finish(void *state)
{
    (void)state;
}

weft_status_t
weft__ucx_dt_create(weft_tl_t *tl)
{
    static const ucp_generic_dt_ops_t copy = {
        .start_pack = ucx_dt_start,
        .start_unpack = ucx_dt_start_unpack,
        .packed_size = ucx_dt_capacity,
        .pack = ucx_dt_pack,
        .unpack = ucx_dt_unpack,
        .finish = ucx_dt_finish,
    };
    static const ucp_generic_dt_ops_t gather = {
        .start_pack = ucx_dt_start,
        .start_unpack = ucx_dt_start_unpack,
        .packed_size = ucx_dt_packed_size,
        .pack = ucx_dt_pack,
        .unpack = ucx_dt_unpack,
        .finish = ucx_dt_finish,
    };
    ucs_status_t s = ucp_dt_create_generic(&copy, NULL, &tl->dt_copy);

    if (s == UCS_OK) {
        s = ucp_dt_create_generic(&gather, NULL, &tl->dt_gather);
        if (s != UCS_OK) {
            ucp_dt_destroy(tl->dt_copy);
        }
    }
    if (s != UCS_OK) {
        weft__ucx_log(tl, WEFT_LOG_WARN,
                      "ucx: ucp_dt_create_generic failed: %s",
                      ucs_status_string(s));
        return WEFT_ERR_TRANSPORT;
    }
    return WEFT_OK;
}

/* ---- tags ------------------------------------------------------------- */

/* The UCX tag of a weft tag sent by `src`; 0 when the tag does not fit
 * (*ok_p = 0). Inline: every message makes one. */
static inline uint64_t
ucx_tag(const weft_tl_t *tl, int src, uint64_t tag, int *ok_p)
{
    unsigned idbits = 29u - (unsigned)tl->rank_bits;
    uint64_t id = tag >> 40, kind = (tag >> 32) & 0xff, low = tag & 0xffffffffu;
    uint64_t idmax = (1ull << idbits) - 1;

    *ok_p = 0;
    if (kind >= UCX_KIND_BYE) {
        return 0;
    }
    if (id == 0xffffffu) {
        id = idmax; /* standing receives keep their own id */
    } else if (id >= idmax) {
        return 0;
    }
    *ok_p = 1;
    return (uint64_t)src << (64 - tl->rank_bits) | id << 35 | kind << 32 | low;
}

uint64_t
weft__ucx_bye_tag(const weft_tl_t *tl, int src)
{
    return (uint64_t)src << (64 - tl->rank_bits) | (uint64_t)UCX_KIND_BYE << 32;
}

/* ---- lists ------------------------------------------------------------ */

void
weft__ucx_list_push(ucx_list_t *l, weft_tl_op_t *op)
{
    ucx_op_t *o = weft__ucx_op(op);

    o->next = NULL;
    o->prev = l->tail;
    if (l->tail != NULL) {
        weft__ucx_op(l->tail)->next = op;
    } else {
        l->head = op;
    }
    l->tail = op;
}

void
weft__ucx_list_remove(ucx_list_t *l, weft_tl_op_t *op)
{
    ucx_op_t *o = weft__ucx_op(op);

    if (o->prev != NULL) {
        weft__ucx_op(o->prev)->next = o->next;
    } else {
        l->head = o->next;
    }
    if (o->next != NULL) {
        weft__ucx_op(o->next)->prev = o->prev;
    } else {
        l->tail = o->prev;
    }
    o->prev = o->next = NULL;
}

/* Off whichever list holds op. */
static void
ucx_op_unlink(weft_tl_op_t *op)
{
    ucx_op_t *o = weft__ucx_op(op);

    if (o->where == UCX_IN_PENDING) {
        weft__ucx_list_remove(&o->ep->ops, op);
    } else if (o->where == UCX_IN_DONE) {
        weft__ucx_list_remove(&o->ep->tl->done, op);
    }
    o->where = UCX_IN_NONE;
}

/* ---- completions ------------------------------------------------------ */

/* op finished in UCX: queue it for the core (delivered by progress). */
static void
ucx_op_finish(weft_tl_op_t *op, weft_status_t status, size_t bytes)
{
    ucx_op_t *o = weft__ucx_op(op);

    o->req = NULL;
    o->status = status;
    o->bytes = bytes;
    ucx_op_unlink(op);
    o->where = UCX_IN_DONE;
    weft__ucx_list_push(&o->ep->tl->done, op);
}

void
weft__ucx_req_init(void *request)
{
    ucx_req_t *r = request;

    r->orphan = r->waited = r->finished = 0;
}

/* Common part of both callbacks: 1 when the callback is done with the
 * request already (orphaned, or awaited by cancel); else the request is
 * freed and the op may be finished. */
static int
ucx_req_claimed(void *request)
{
    ucx_req_t *r = request;

    if (r->orphan) {
        r->orphan = 0;
        ucp_request_free(request);
        return 1;
    }
    if (r->waited) {
        r->finished = 1; /* cancel() frees it */
        return 1;
    }
    ucp_request_free(request);
    return 0;
}

static void
ucx_send_cb(void *request, ucs_status_t status, void *user_data)
{
    weft_tl_op_t *op = user_data;

    if (ucx_req_claimed(request)) {
        return;
    }
    ucx_op_finish(
        op, weft__ucx_status(status),
        status == UCS_OK ? weft__ucx_op(op)->hlen + weft__ucx_op(op)->len : 0);
}

/* A receive that UCX truncated: weft reports the buffer's length. */
static void
ucx_recv_done(weft_tl_op_t *op, ucs_status_t status,
              const ucp_tag_recv_info_t *info)
{
    ucx_op_t *o = weft__ucx_op(op);
    size_t bytes = 0;

    if (status == UCS_OK) {
        bytes = info->length;
        if (o->copying && bytes > o->hlen + o->len) {
            status = UCS_ERR_MESSAGE_TRUNCATED; /* the prefix was kept */
            bytes = o->hlen + o->len;
        }
    } else if (status == UCS_ERR_MESSAGE_TRUNCATED) {
        bytes = o->hlen + o->len;
    }
    if (status == UCS_ERR_CANCELED && o->ep->bye &&
        !WEFT_TL_TAG_IS_STANDING(o->tag)) {
        /* withdrawn by the peer's goodbye: nothing can match it now;
         * the host hears of it (once) from progress */
        o->ep->unmatched++;
        if (!o->ep->reported) {
            weft__ucx_ep_attention(o->ep);
        }
    }
    if (op == &o->ep->bye_op) {
        o->req = NULL;
        ucx_op_unlink(op);
        weft__ucx_ep_bye(o->ep, weft__ucx_status(status));
        return;
    }
    ucx_op_finish(op, weft__ucx_status(status), bytes);
}

static void
ucx_recv_cb(void *request, ucs_status_t status, const ucp_tag_recv_info_t *info,
            void *user_data)
{
    if (ucx_req_claimed(request)) {
        return;
    }
    ucx_recv_done(user_data, status, info);
}

unsigned
weft__ucx_deliver(weft_tl_t *tl)
{
    unsigned n = 0;

    while (tl->done.head != NULL) {
        weft_tl_op_t *op = tl->done.head;
        ucx_op_t *o = weft__ucx_op(op);

        weft__ucx_list_remove(&tl->done, op);
        o->where = UCX_IN_NONE;
        op->complete(op, o->status, o->bytes);
        n++;
    }
    return n;
}

/* ---- posting ---------------------------------------------------------- */

static void
ucx_op_start(weft_tl_ep_t *ep, weft_tl_op_t *op, int kind, uint64_t tag,
             size_t len)
{
    ucx_op_t *o = weft__ucx_op(op);

    memset(o, 0, sizeof(*o));
    o->ep = ep;
    o->kind = (uint8_t)kind;
    o->tag = tag;
    o->len = len;
}

/* The result of a *_nbx call: an error, done at once (NULL), or a request
 * that now belongs to op. */
static weft_status_t
ucx_op_posted(weft_tl_ep_t *ep, weft_tl_op_t *op, ucs_status_ptr_t p,
              const char *what)
{
    ucx_op_t *o = weft__ucx_op(op);

    if (UCS_PTR_IS_ERR(p)) {
        ucs_status_t s = UCS_PTR_STATUS(p);

        weft__ucx_log(ep->tl, WEFT_LOG_WARN, "ucx: %s %zu bytes, rank %d: %s",
                      what, o->len, ep->rank, ucs_status_string(s));
        return weft__ucx_status(s);
    }
    if (p == NULL) {
        return WEFT_OK; /* done at once: the caller completes it */
    }
    if (o->where == UCX_IN_DONE || (op == &ep->bye_op && ep->bye)) {
        return WEFT_INPROGRESS; /* the callback ran inside the call */
    }
    o->req = p;
    o->where = UCX_IN_PENDING;
    weft__ucx_list_push(&ep->ops, op);
    return WEFT_INPROGRESS;
}

static weft_status_t
ucx_ep_gone(weft_tl_ep_t *ep)
{
    weft__ucx_log(ep->tl, WEFT_LOG_DEBUG,
                  "ucx: rank %d is gone (%s): nothing more is posted", ep->rank,
                  ep->why);
    return WEFT_ERR_PEER_LOST;
}

static weft_status_t
ucx_tag_refused(weft_tl_ep_t *ep, uint64_t tag)
{
    weft__ucx_log(ep->tl, WEFT_LOG_ERROR,
                  "ucx: tag 0x%016llx does not fit the UCX tag next to %d "
                  "rank bits (kind above 6, or communicator id too large)",
                  (unsigned long long)tag, ep->tl->rank_bits);
    return WEFT_ERR_UNSUPPORTED;
}

/* A send of hlen bytes at head (none when 0) then len at buf: a head
 * goes through the gathering datatype, which packs both into UCX's
 * buffers. */
static weft_status_t
ucx_send_start(weft_tl_ep_t *ep, const void *head, size_t hlen, const void *buf,
               size_t len, uint64_t tag, weft_tl_op_t *op)
{
    weft_tl_t *tl = ep->tl;
    ucp_request_param_t prm = {0};
    const void *what = buf;
    size_t count = len;
    uint64_t utag;
    weft_status_t st;
    int ok;

    if (ep->state != UCX_EP_OPEN || ep->uep == NULL) {
        return ucx_ep_gone(ep);
    }
    utag = ucx_tag(tl, tl->rank, tag, &ok);
    if (!ok) {
        return ucx_tag_refused(ep, tag);
    }
    ucx_op_start(ep, op, UCX_OP_SEND, tag, len);
    prm.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    prm.cb.send = ucx_send_cb;
    prm.user_data = op;
    if (hlen > 0) {
        ucx_op_t *o = weft__ucx_op(op);

        o->head = (void *)head;
        o->hlen = hlen;
        o->buf = (void *)buf;
        prm.op_attr_mask |= UCP_OP_ATTR_FIELD_DATATYPE;
        prm.datatype = tl->dt_gather;
        what = op; /* what the datatype's start_pack receives */
        count = 1;
    }
    st = ucx_op_posted(
        ep, op, ucp_tag_send_nbx(ep->uep, what, count, utag, &prm), "send of");
    if (st == WEFT_OK) {
        op->complete(op, WEFT_OK, hlen + len);
    }
    return st == WEFT_INPROGRESS ? WEFT_OK : st;
}

weft_status_t
weft__ucx_isend(weft_tl_ep_t *ep, const void *buf, size_t len, uint64_t tag,
                weft_tl_op_t *op)
{
    return ucx_send_start(ep, NULL, 0, buf, len, tag, op);
}

/* Head sends and receives go through the generic datatypes only to a
 * peer reached over UCX's shared memory (the endpoint that had to drop
 * peer-failure handling): there they save the core's copy (2-rank
 * allreduce 16 KiB 9.1 -> 4.9 us, 64 KiB 16-23 -> 12-13 us), while over
 * UCX's tcp they doubled the time (16 KiB 16.5 -> 30 us: a generic
 * datatype leaves UCX's faster protocols), and network transports not
 * measured keep the core's copy. */
static int
ucx_head_ok(const weft_tl_ep_t *ep, size_t hlen)
{
    return hlen > 0 && ep->err_mode_none;
}

weft_status_t
weft__ucx_isend_head(weft_tl_ep_t *ep, const void *head, size_t hlen,
                     const void *buf, size_t len, uint64_t tag,
                     weft_tl_op_t *op)
{
    return ucx_head_ok(ep, hlen)
               ? ucx_send_start(ep, head, hlen, buf, len, tag, op)
               : WEFT_INPROGRESS;
}

/* A request from a send that was to complete at once (not expected with
 * FORCE_IMM_CMPL): the caller's buffer is UCX's until it completes, so
 * wait, as a blocking send would; past UCX_WITHDRAW_WAIT_S the link is
 * closed, which makes UCX end it with an error. */
static weft_status_t
ucx_inject_finish(weft_tl_ep_t *ep, ucs_status_ptr_t p, size_t len)
{
    double deadline = weft__ucx_now() + UCX_WITHDRAW_WAIT_S;
    ucs_status_t s;

    while ((s = ucp_request_check_status(p)) == UCS_INPROGRESS) {
        if (deadline > 0 && weft__ucx_now() >= deadline) {
            weft__ucx_ep_lose(ep,
                              "a send of %zu bytes to rank %d did not leave "
                              "in %g s: the link is closed",
                              len, ep->rank, UCX_WITHDRAW_WAIT_S);
            deadline = 0;
        }
        ucp_worker_progress(ep->tl->worker);
    }
    ucp_request_free(p);
    return s == UCS_OK ? WEFT_OK : WEFT_ERR_PEER_LOST;
}

weft_status_t
weft__ucx_inject(weft_tl_ep_t *ep, const void *buf, size_t len, uint64_t tag)
{
    weft_tl_t *tl = ep->tl;
    ucp_request_param_t prm;
    ucs_status_ptr_t p;
    uint64_t utag;
    int ok;

    if (ep->state != UCX_EP_OPEN || ep->uep == NULL) {
        return WEFT_INPROGRESS; /* isend says why */
    }
    utag = ucx_tag(tl, tl->rank, tag, &ok);
    if (!ok) {
        return WEFT_INPROGRESS;
    }
    /* UCX keeps an endpoint's sends in order: one that would queue behind
     * earlier ones cannot complete at once and is refused */
    prm.op_attr_mask = UCP_OP_ATTR_FLAG_FORCE_IMM_CMPL;
    p = ucp_tag_send_nbx(ep->uep, buf, len, utag, &prm);
    if (p == NULL) {
        return WEFT_OK;
    }
    if (!UCS_PTR_IS_ERR(p)) {
        return ucx_inject_finish(ep, p, len);
    }
    return WEFT_INPROGRESS; /* UCS_ERR_NO_RESOURCE, or a failing link */
}

/* Receives ask for a request even when done at once (NO_IMM_CMPL): UCX
 * 1.13 leaves recv_info unfilled then, and the length would be lost. The
 * callback then runs inside the call; what it queued is completed here. */
static weft_status_t
ucx_recv_post(weft_tl_ep_t *ep, void *buf, size_t len, uint64_t utag,
              weft_tl_op_t *op)
{
    ucp_request_param_t prm = {0};
    ucx_op_t *o = weft__ucx_op(op);
    weft_status_t st;

    prm.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK |
                       UCP_OP_ATTR_FIELD_USER_DATA |
                       UCP_OP_ATTR_FLAG_NO_IMM_CMPL;
    prm.cb.recv = ucx_recv_cb;
    prm.user_data = op;
    if (len < UCX_COPY_RECV_MAX || o->hlen > 0) {
        o->copying = 1;
        o->buf = buf;
        prm.op_attr_mask |= UCP_OP_ATTR_FIELD_DATATYPE;
        prm.datatype = ep->tl->dt_copy;
        buf = op; /* what the datatype's start_unpack receives */
        len = 1;
    }
    st = ucx_op_posted(
        ep, op,
        ucp_tag_recv_nbx(ep->tl->worker, buf, len, utag, UINT64_MAX, &prm),
        "receive of");
    if (st == WEFT_OK || st == WEFT_INPROGRESS) {
        if (o->where == UCX_IN_DONE) { /* done at once */
            weft__ucx_list_remove(&ep->tl->done, op);
            o->where = UCX_IN_NONE;
            op->complete(op, o->status, o->bytes);
        } else if (ep->bye && op != &ep->bye_op && o->req != NULL) {
            /* the peer has finished: what it sent before its goodbye
             * has matched already or never will */
            ucp_request_cancel(ep->tl->worker, o->req);
        }
        return WEFT_OK;
    }
    return st;
}

/* A receive of hlen bytes into head (none when 0) then len into buf. */
static weft_status_t
ucx_recv_start(weft_tl_ep_t *ep, void *head, size_t hlen, void *buf, size_t len,
               uint64_t tag, weft_tl_op_t *op)
{
    weft_tl_t *tl = ep->tl;
    uint64_t utag;
    int ok;

    if ((ep->state != UCX_EP_OPEN || ep->uep == NULL) && !ep->bye) {
        return ucx_ep_gone(ep);
    }
    /* a peer that finished in good order may have left messages in UCX's
     * unexpected queue (matching needs no link): the receive is posted,
     * and withdrawn at once if nothing matches it (ucx_recv_post) */
    utag = ucx_tag(tl, ep->rank, tag, &ok);
    if (!ok) {
        return ucx_tag_refused(ep, tag);
    }
    ucx_op_start(ep, op, UCX_OP_RECV, tag, len);
    weft__ucx_op(op)->head = head;
    weft__ucx_op(op)->hlen = hlen; /* > 0: through the copying datatype */
    return ucx_recv_post(ep, buf, len, utag, op);
}

weft_status_t
weft__ucx_irecv(weft_tl_ep_t *ep, void *buf, size_t len, uint64_t tag,
                weft_tl_op_t *op)
{
    return ucx_recv_start(ep, NULL, 0, buf, len, tag, op);
}

weft_status_t
weft__ucx_irecv_head(weft_tl_ep_t *ep, void *head, size_t hlen, void *buf,
                     size_t len, uint64_t tag, weft_tl_op_t *op)
{
    return ucx_head_ok(ep, hlen)
               ? ucx_recv_start(ep, head, hlen, buf, len, tag, op)
               : WEFT_INPROGRESS;
}

weft_status_t
weft__ucx_recv_raw(weft_tl_ep_t *ep, uint64_t utag, weft_tl_op_t *op)
{
    ucx_op_start(ep, op, UCX_OP_RECV, WEFT_TL_TAG_STANDING, 0);
    return ucx_recv_post(ep, NULL, 0, utag, op);
}

/* ---- withdrawing ------------------------------------------------------ */

void
weft__ucx_detach(weft_tl_t *tl, weft_tl_op_t *op)
{
    ucx_op_t *o = weft__ucx_op(op);
    ucx_req_t *r = o->req;

    ucx_op_unlink(op);
    if (r == NULL) {
        return;
    }
    o->req = NULL;
    r->orphan = 1; /* the callback frees it */
    if (o->kind == UCX_OP_RECV) {
        ucp_request_cancel(tl->worker, r);
    }
}

void
weft__ucx_cancel(weft_tl_ep_t *ep, weft_tl_op_t *op)
{
    weft_tl_t *tl = ep->tl;
    ucx_op_t *o = weft__ucx_op(op);
    ucx_req_t *r = o->req;
    double deadline;

    if (o->where != UCX_IN_PENDING || r == NULL) {
        ucx_op_unlink(op); /* done and queued, or never pending */
        return;
    }
    if (ep->uep == NULL || ep->ucs_err != UCS_OK) {
        /* the link is already closed or failing: UCX ends the op with an
         * error soon, and the callback frees its request */
        weft__ucx_detach(tl, op);
        return;
    }
    /* UCX may still read or write the buffer: wait (other completions
     * only queue meanwhile) until it lets go */
    r->waited = 1;
    if (o->kind == UCX_OP_RECV) {
        ucp_request_cancel(tl->worker, r); /* unmatched: finishes now */
    }
    deadline = weft__ucx_now() + UCX_WITHDRAW_WAIT_S;
    while (!r->finished && weft__ucx_now() < deadline) {
        ucp_worker_progress(tl->worker);
    }
    ucx_op_unlink(op);
    o->req = NULL;
    if (r->finished) {
        weft__ucx_req_init(r);
        ucp_request_free(r);
        return;
    }
    /* still on the wire (a rendezvous the peer has not matched, or one
     * in flight): the only way to make UCX let go is to close the link */
    r->waited = 0;
    r->orphan = 1;
    weft__ucx_ep_lose(ep,
                      "a %s of %zu bytes to rank %d was withdrawn while in "
                      "flight: the link is closed",
                      o->kind == UCX_OP_SEND ? "send" : "receive", o->len,
                      ep->rank);
}
