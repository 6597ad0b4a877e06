/* weft_request_stats: what a request did and when (overlap accounting). */
#include "build_config.h"

#include <string.h>
#include <weft/request.h>

#include "collectives/coll_part.h"
#include "collectives/sched.h"
#include "context.h"
#include "errmsg.h"
#include "request.h"
#include "stamp.h"

weft_status_t
weft_request_stats(const weft_request_t *req, weft_request_stats_t *stats_p)
{
    weft_request_stats_t st;

    WEFT_CHECK(weft__req_check(req, "weft_request_stats"));
    WEFT_ARG_CHECK(stats_p != NULL, "weft_request_stats: stats_p is NULL");
    memset(&st, 0, sizeof(st));
    weft__ctx_lock(req->ctx);
    st.posted_s = weft__stamp_seconds(req->posted);
    if (req->done) {
        st.completed_s = req->completed_s;
    }
    if (req->kind == WEFT_REQ_PART) {
        weft__part_stats(req, &st.bytes_sent, &st.bytes_received,
                         &st.first_byte_s, &st.algorithm);
        if (st.first_byte_s == 0) {
            st.first_byte_s = st.completed_s;
        }
    } else if (req->kind == WEFT_REQ_COLL && req->sched != NULL) {
        weft__sched_stats(req->sched, &st.bytes_sent, &st.bytes_received,
                          &st.first_byte_s, &st.algorithm);
        if (st.first_byte_s == 0) {
            st.first_byte_s = st.completed_s; /* nothing through a transport */
        }
    } else {
        /* a transport reports a message whole: its first byte is taken
         * to move when it completes */
        st.first_byte_s = st.completed_s;
        if (req->done && req->status >= 0) {
            if (req->kind == WEFT_REQ_SEND) {
                st.bytes_sent = req->bytes;
            } else {
                st.bytes_received = req->bytes;
            }
        }
        st.algorithm = req->kind == WEFT_REQ_SEND ? "send" : "receive";
    }
    weft__ctx_unlock(req->ctx);
    *stats_p = st;
    return WEFT_OK;
}
