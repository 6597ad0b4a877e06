/* The point-to-point API: argument checks, requests, transports. */
#include "build_config.h"
#include "p2p/p2p.h"

#include <stdint.h>
#include <weft/p2p.h>

#include "context.h"
#include "errmsg.h"
#include "log.h"
#include "stamp.h"

weft_status_t
weft__p2p_start(weft_comm_t *comm, weft__req_kind_t kind, void *buf,
                size_t bytes, int peer, unsigned tag_kind, uint32_t tag,
                weft_request_t **req_p)
{
    weft_context_t *ctx = comm->ctx;
    uint64_t wtag = weft__comm_tag(comm, tag_kind, tag);
    const weft_tl_ops_t *ops;
    weft_request_t *req = NULL;
    weft_status_t st;

    if (comm->error != WEFT_OK) {
        return weft__comm_error_return(comm, kind == WEFT_REQ_SEND
                                                 ? "send"
                                                 : "receive");
    }
    WEFT_CHECK(weft__req_create(comm, kind, &req));
    req->peer = peer;
    req->tag = (int)tag;
    st = weft__ctx_ep(ctx, weft__comm_job_rank(comm, peer), &req->tl,
                      &req->ep);
    if (st != WEFT_OK) {
        weft__req_complete(req, st, 0);
        weft__req_release(req);
        return st;
    }
    ops = ctx->tls[req->tl].ops;
    req->in_tl = 1;
    ctx->tls[req->tl].inflight++; /* before: it may complete inside */
    if (kind == WEFT_REQ_SEND) {
        st = ops->isend(req->ep, buf, bytes, wtag, &req->op);
    } else {
        st = ops->irecv(req->ep, buf, bytes, wtag, &req->op);
    }
    if (st < 0) {
        ctx->tls[req->tl].inflight--;
        req->in_tl = 0;
        weft__req_complete(req, st, 0);
        weft__req_error_text(req);
        weft__req_release(req);
        return st;
    }
    *req_p = req;
    return WEFT_OK;
}

/* What is wrong with a call's arguments (p2p_check found something). */
static weft_status_t
p2p_check_fail(const char *fn, const void *buf, size_t bytes, int peer, int tag,
               const weft_comm_t *comm)
{
    WEFT_CHECK(weft__comm_check(comm, fn));
    WEFT_ARG_CHECK(buf != NULL || bytes == 0,
                   "%s: buffer is NULL with %zu bytes", fn, bytes);
    WEFT_ARG_CHECK(bytes <= (size_t)PTRDIFF_MAX,
                   "%s: %zu bytes is more than a buffer can hold", fn,
                   bytes);
    WEFT_ARG_CHECK(peer >= 0 && peer < comm->size,
                   "%s: peer %d out of range [0, %d)", fn, peer, comm->size);
    WEFT_ARG_CHECK(tag >= 0, "%s: tag %d is negative (tags are 0..%d)", fn,
                   tag, WEFT_TAG_MAX);
    return WEFT_OK;
}

/* Every message's arguments: good ones by one test (a latency's path),
 * the rest named by p2p_check_fail. */
static inline weft_status_t
p2p_check(const char *fn, const void *buf, size_t bytes, int peer, int tag,
          const weft_comm_t *comm)
{
    if (__builtin_expect(comm != NULL && comm->magic == WEFT_COMM_MAGIC &&
                             (buf != NULL || bytes == 0) &&
                             bytes <= (size_t)PTRDIFF_MAX &&
                             (unsigned)peer < (unsigned)comm->size && tag >= 0,
                         1)) {
        return WEFT_OK;
    }
    return p2p_check_fail(fn, buf, bytes, peer, tag, comm);
}

static void
p2p_truncated(const char *fn, int peer, int tag, size_t bytes)
{
    weft__error_at(WEFT_ERR_TRUNCATED, WEFT_LOG_DEBUG, WEFT_SUB_CORE,
                   "%s: message from rank %d (tag %d) was larger than the "
                   "%zu-byte buffer",
                   fn, peer, tag, bytes);
}

weft_status_t
weft_isend(const void *buf, size_t bytes, int peer, int tag,
           weft_comm_t *comm, weft_request_t **req_p)
{
    weft_request_t *req = NULL;
    weft_status_t st;
    uint64_t posted;

    WEFT_CHECK(p2p_check("weft_isend", buf, bytes, peer, tag, comm));
    WEFT_ARG_CHECK(req_p != NULL, "weft_isend: req_p is NULL");
    posted = weft__stamp();
    weft__ctx_lock(comm->ctx);
    st = weft__p2p_start(comm, WEFT_REQ_SEND, (void *)buf, bytes, peer,
                         WEFT_TAG_KIND_P2P, (uint32_t)tag, &req);
    if (st == WEFT_OK) {
        req->posted = posted;
    }
    weft__ctx_unlock(comm->ctx);
    if (st == WEFT_OK) {
        *req_p = req;
    }
    return st;
}

weft_status_t
weft_irecv(void *buf, size_t bytes, int peer, int tag, weft_comm_t *comm,
           weft_request_t **req_p)
{
    weft_request_t *req = NULL;
    weft_status_t st;
    uint64_t posted;

    WEFT_CHECK(p2p_check("weft_irecv", buf, bytes, peer, tag, comm));
    WEFT_ARG_CHECK(req_p != NULL, "weft_irecv: req_p is NULL");
    posted = weft__stamp();
    weft__ctx_lock(comm->ctx);
    st = weft__p2p_start(comm, WEFT_REQ_RECV, buf, bytes, peer,
                         WEFT_TAG_KIND_P2P, (uint32_t)tag, &req);
    if (st == WEFT_OK) {
        req->posted = posted;
    }
    weft__ctx_unlock(comm->ctx);
    if (st == WEFT_OK) {
        *req_p = req;
    }
    return st;
}

/* A blocking send the transport can finish at once, without a request
 * (weft_tl_ops_t.inject). Lock held. WEFT_OK: sent; WEFT_INPROGRESS:
 * nothing was sent (the caller posts it as usual, which also reports a
 * sticky error or a lost peer). */
static weft_status_t
p2p_inject(weft_comm_t *comm, const void *buf, size_t bytes, int peer, int tag)
{
    weft_context_t *ctx = comm->ctx;
    const weft_tl_ops_t *ops;
    weft_tl_ep_t *ep;
    int tl;

    if (comm->error != WEFT_OK ||
        weft__ctx_ep(ctx, weft__comm_job_rank(comm, peer), &tl, &ep) !=
            WEFT_OK) {
        return WEFT_INPROGRESS;
    }
    ops = ctx->tls[tl].ops;
    if (!WEFT_TL_HAS_OP(ops, inject)) {
        return WEFT_INPROGRESS;
    }
    return ops->inject(ep, buf, bytes,
                       weft__comm_tag(comm, WEFT_TAG_KIND_P2P,
                                      (uint32_t)tag)) == WEFT_OK
               ? WEFT_OK
               : WEFT_INPROGRESS;
}

weft_status_t
weft_send(const void *buf, size_t bytes, int peer, int tag, weft_comm_t *comm)
{
    weft_status_t st;
    size_t sent;

    WEFT_CHECK(p2p_check("weft_send", buf, bytes, peer, tag, comm));
    weft__ctx_lock(comm->ctx);
    st = p2p_inject(comm, buf, bytes, peer, tag);
    if (st == WEFT_INPROGRESS) {
        st = weft__p2p_blocking(comm, WEFT_REQ_SEND, (void *)buf, bytes, peer,
                                (uint32_t)tag, &sent);
    }
    weft__ctx_unlock(comm->ctx);
    return st;
}

weft_status_t
weft_recv(void *buf, size_t bytes, int peer, int tag, weft_comm_t *comm,
          size_t *received_p)
{
    weft_status_t st;
    size_t got = 0;

    WEFT_CHECK(p2p_check("weft_recv", buf, bytes, peer, tag, comm));
    weft__ctx_lock(comm->ctx);
    st = weft__p2p_blocking(comm, WEFT_REQ_RECV, buf, bytes, peer,
                            (uint32_t)tag, &got);
    weft__ctx_unlock(comm->ctx);
    if (st == WEFT_ERR_TRUNCATED) {
        p2p_truncated("weft_recv", peer, tag, bytes);
    }
    if (st == WEFT_OK && received_p != NULL) {
        *received_p = got;
    }
    return st;
}

weft_status_t
weft_sendrecv(const void *sbuf, size_t sbytes, int dst, int stag, void *rbuf,
              size_t rbytes, int src, int rtag, weft_comm_t *comm)
{
    weft_status_t st;

    WEFT_CHECK(p2p_check("weft_sendrecv (send)", sbuf, sbytes, dst, stag,
                         comm));
    WEFT_CHECK(p2p_check("weft_sendrecv (receive)", rbuf, rbytes, src, rtag,
                         comm));
    weft__ctx_lock(comm->ctx);
    st = weft__p2p_sendrecv(comm, sbuf, sbytes, dst, (uint32_t)stag, rbuf,
                            rbytes, src, (uint32_t)rtag);
    weft__ctx_unlock(comm->ctx);
    if (st == WEFT_ERR_TRUNCATED) {
        p2p_truncated("weft_sendrecv", src, rtag, rbytes);
    }
    return st;
}
