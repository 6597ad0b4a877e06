/* Bootstrap store frames: encode and validate (layout in store_msg.h). */
#include "build_config.h"
#include "bootstrap/store_msg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "errmsg.h"
#include "util.h"

#define MSG_NAME_MAX    (2 + WEFT_STORE_KEY_MAX)
#define MSG_EVENT_FIXED 20 /* event bytes before the reason text */

/* ---- little-endian cursor ---- */

typedef struct msg_rd {
    const uint8_t *p;
    size_t left;
} msg_rd_t;

static int
msg_rd_u8(msg_rd_t *r, uint8_t *v)
{
    if (r->left < 1) {
        return -1;
    }
    *v = r->p[0];
    r->p++;
    r->left--;
    return 0;
}

static int
msg_rd_u16(msg_rd_t *r, uint16_t *v)
{
    if (r->left < 2) {
        return -1;
    }
    *v = (uint16_t)(r->p[0] | r->p[1] << 8);
    r->p += 2;
    r->left -= 2;
    return 0;
}

static int
msg_rd_u32(msg_rd_t *r, uint32_t *v)
{
    if (r->left < 4) {
        return -1;
    }
    *v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
         (uint32_t)r->p[3] << 24;
    r->p += 4;
    r->left -= 4;
    return 0;
}

static int
msg_rd_i32(msg_rd_t *r, int32_t *v)
{
    uint32_t u;

    if (msg_rd_u32(r, &u) != 0) {
        return -1;
    }
    memcpy(v, &u, sizeof(*v));
    return 0;
}

static uint8_t *
msg_put_u8(uint8_t *p, uint8_t v)
{
    *p = v;
    return p + 1;
}

static uint8_t *
msg_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}

static uint8_t *
msg_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
    return p + 4;
}

static uint8_t *
msg_put_i32(uint8_t *p, int32_t v)
{
    uint32_t u;

    memcpy(&u, &v, sizeof(u));
    return msg_put_u32(p, u);
}

static uint8_t *
msg_put_bytes(uint8_t *p, const void *src, size_t n)
{
    if (n > 0) {
        memcpy(p, src, n);
    }
    return p + n;
}

/* ---- types ---- */

const char *
weft__store_msg_type_name(unsigned type)
{
    switch (type) {
    case WEFT_STORE_MSG_PUT:
        return "put";
    case WEFT_STORE_MSG_GET:
        return "get";
    case WEFT_STORE_MSG_FENCE:
        return "fence";
    case WEFT_STORE_MSG_ALLGATHER:
        return "allgather";
    case WEFT_STORE_MSG_STATUS:
        return "status";
    case WEFT_STORE_MSG_ABORT:
        return "abort";
    case WEFT_STORE_MSG_BYE:
        return "bye";
    case WEFT_STORE_MSG_HEARTBEAT:
        return "heartbeat";
    case WEFT_STORE_MSG_OK:
        return "ok";
    case WEFT_STORE_MSG_VALUE:
        return "value";
    case WEFT_STORE_MSG_GATHERED:
        return "gathered";
    case WEFT_STORE_MSG_MISSING:
        return "missing";
    case WEFT_STORE_MSG_ERROR:
        return "error";
    case WEFT_STORE_MSG_EVENT:
        return "event";
    case WEFT_STORE_MSG_BEAT:
        return "beat";
    default:
        return "?";
    }
}

/* Largest payload of a type, and who may send it (1: the server). */
static int
msg_type_limit(unsigned type, int *from_server_p, size_t *max_p)
{
    size_t max;
    int from_server = 0;

    switch (type) {
    case WEFT_STORE_MSG_PUT:
    case WEFT_STORE_MSG_ALLGATHER:
        max = MSG_NAME_MAX + 4 + WEFT_STORE_VALUE_MAX;
        break;
    case WEFT_STORE_MSG_GET:
    case WEFT_STORE_MSG_FENCE:
        max = MSG_NAME_MAX;
        break;
    case WEFT_STORE_MSG_STATUS:
        max = 1 + MSG_NAME_MAX;
        break;
    case WEFT_STORE_MSG_ABORT:
        max = MSG_EVENT_FIXED + WEFT_STORE_REASON_MAX - 1;
        break;
    case WEFT_STORE_MSG_BYE:
    case WEFT_STORE_MSG_HEARTBEAT:
        max = 0;
        break;
    case WEFT_STORE_MSG_OK:
        max = 0;
        from_server = 1;
        break;
    case WEFT_STORE_MSG_VALUE:
        max = 4 + WEFT_STORE_VALUE_MAX;
        from_server = 1;
        break;
    case WEFT_STORE_MSG_GATHERED:
        max = 4 + (size_t)WEFT_STORE_ALLGATHER_MAX;
        from_server = 1;
        break;
    case WEFT_STORE_MSG_MISSING:
        max = 8 + 4 * (size_t)WEFT_STORE_STATUS_LIST;
        from_server = 1;
        break;
    case WEFT_STORE_MSG_ERROR:
        max = 4 + 2 + WEFT_STORE_REASON_MAX - 1;
        from_server = 1;
        break;
    case WEFT_STORE_MSG_EVENT:
        max = MSG_EVENT_FIXED + WEFT_STORE_REASON_MAX - 1;
        from_server = 1;
        break;
    case WEFT_STORE_MSG_BEAT:
        max = 0;
        from_server = 1;
        break;
    default:
        return -1;
    }
    *from_server_p = from_server;
    *max_p = max;
    return 0;
}

/* ---- encode ---- */

static int
msg_text_ok(const char *s, size_t min, size_t max, size_t *len_p)
{
    size_t n = strnlen(s, max + 1);

    if (n < min || n > max) {
        return 0;
    }
    *len_p = n;
    return 1;
}

static int
msg_event_ok(const weft__store_event_t *ev, size_t *reason_len_p)
{
    return ev->kind == WEFT_STORE_EVENT_ABORT && ev->origin >= -1 &&
           ev->failed_rank >= -1 && ev->status < 0 &&
           ev->status > WEFT_ERR_LAST &&
           msg_text_ok(ev->reason, 0, WEFT_STORE_REASON_MAX - 1, reason_len_p);
}

/* Payload size of m, or (size_t)-1 when m is not valid. */
static size_t
msg_payload_size(const weft__store_msg_t *m)
{
    size_t n = 0;

    switch (m->type) {
    case WEFT_STORE_MSG_PUT:
    case WEFT_STORE_MSG_ALLGATHER:
        if (!msg_text_ok(m->name, 1, WEFT_STORE_KEY_MAX, &n) ||
            m->len > WEFT_STORE_VALUE_MAX || (m->len > 0 && !m->data)) {
            return (size_t)-1;
        }
        return 2 + n + 4 + m->len;
    case WEFT_STORE_MSG_GET:
    case WEFT_STORE_MSG_FENCE:
        if (!msg_text_ok(m->name, 1, WEFT_STORE_KEY_MAX, &n)) {
            return (size_t)-1;
        }
        return 2 + n;
    case WEFT_STORE_MSG_STATUS:
        if (!msg_text_ok(m->name, 1, WEFT_STORE_KEY_MAX, &n) ||
            (m->what != WEFT_STORE_WHAT_FENCE &&
             m->what != WEFT_STORE_WHAT_ALLGATHER)) {
            return (size_t)-1;
        }
        return 1 + 2 + n;
    case WEFT_STORE_MSG_ABORT:
    case WEFT_STORE_MSG_EVENT:
        if (!msg_event_ok(&m->event, &n)) {
            return (size_t)-1;
        }
        return MSG_EVENT_FIXED + n;
    case WEFT_STORE_MSG_BYE:
    case WEFT_STORE_MSG_HEARTBEAT:
    case WEFT_STORE_MSG_OK:
    case WEFT_STORE_MSG_BEAT:
        return 0;
    case WEFT_STORE_MSG_VALUE:
        if (m->len > WEFT_STORE_VALUE_MAX || (m->len > 0 && !m->data)) {
            return (size_t)-1;
        }
        return 4 + m->len;
    case WEFT_STORE_MSG_GATHERED:
        if (m->len > WEFT_STORE_ALLGATHER_MAX || (m->len > 0 && !m->data)) {
            return (size_t)-1;
        }
        return 4 + m->len;
    case WEFT_STORE_MSG_MISSING:
        if (m->len % 4 != 0 || m->len / 4 > WEFT_STORE_STATUS_LIST ||
            m->len / 4 > m->total || (m->len > 0 && !m->data)) {
            return (size_t)-1;
        }
        return 8 + m->len;
    case WEFT_STORE_MSG_ERROR:
        if (m->status >= 0 || m->status <= WEFT_ERR_LAST ||
            !msg_text_ok(m->reason, 0, WEFT_STORE_REASON_MAX - 1, &n)) {
            return (size_t)-1;
        }
        return 4 + 2 + n;
    default:
        return (size_t)-1;
    }
}

size_t
weft__store_msg_size(const weft__store_msg_t *m)
{
    size_t n = msg_payload_size(m);

    return n == (size_t)-1 ? 0 : WEFT_STORE_MSG_HDR_LEN + n;
}

static uint8_t *
msg_put_event(uint8_t *p, const weft__store_event_t *ev)
{
    size_t n = strlen(ev->reason);

    p = msg_put_u8(p, (uint8_t)ev->kind);
    p = msg_put_u8(p, 0);
    p = msg_put_i32(p, ev->origin);
    p = msg_put_i32(p, ev->failed_rank);
    p = msg_put_u32(p, ev->comm_id);
    p = msg_put_i32(p, (int32_t)ev->status);
    p = msg_put_u16(p, (uint16_t)n);
    return msg_put_bytes(p, ev->reason, n);
}

static uint8_t *
msg_put_name(uint8_t *p, const char *name)
{
    size_t n = strlen(name);

    p = msg_put_u16(p, (uint16_t)n);
    return msg_put_bytes(p, name, n);
}

/* Types whose payload ends with m->len bytes of m->data. */
static int
msg_has_tail(uint8_t type)
{
    return type == WEFT_STORE_MSG_PUT || type == WEFT_STORE_MSG_ALLGATHER ||
           type == WEFT_STORE_MSG_VALUE || type == WEFT_STORE_MSG_GATHERED;
}

static weft_status_t
msg_encode(const weft__store_msg_t *m, int with_tail, uint8_t *out, size_t cap,
           size_t *len_p)
{
    weft__store_msg_t probe = *m;
    size_t payload, tail = 0;
    uint8_t *p = out;

    if (!with_tail && msg_has_tail(m->type) && probe.data == NULL) {
        probe.data = (const uint8_t *)""; /* only its presence is checked */
    }
    payload = msg_payload_size(&probe);
    if (payload == (size_t)-1) {
        return WEFT_ERR_INVALID_ARG;
    }
    if (!with_tail && msg_has_tail(m->type)) {
        tail = m->len;
    }
    if (cap < WEFT_STORE_MSG_HDR_LEN + payload - tail) {
        return WEFT_ERR_TRUNCATED;
    }
    p = msg_put_u32(p, (uint32_t)payload);
    p = msg_put_u8(p, m->type);
    p = msg_put_u8(p, 0);
    p = msg_put_u16(p, 0);
    p = msg_put_u32(p, m->id);
    switch (m->type) {
    case WEFT_STORE_MSG_PUT:
    case WEFT_STORE_MSG_ALLGATHER:
        p = msg_put_name(p, m->name);
        p = msg_put_u32(p, (uint32_t)m->len);
        p = msg_put_bytes(p, m->data, m->len - tail);
        break;
    case WEFT_STORE_MSG_GET:
    case WEFT_STORE_MSG_FENCE:
        p = msg_put_name(p, m->name);
        break;
    case WEFT_STORE_MSG_STATUS:
        p = msg_put_u8(p, m->what);
        p = msg_put_name(p, m->name);
        break;
    case WEFT_STORE_MSG_ABORT:
    case WEFT_STORE_MSG_EVENT:
        p = msg_put_event(p, &m->event);
        break;
    case WEFT_STORE_MSG_VALUE:
    case WEFT_STORE_MSG_GATHERED:
        p = msg_put_u32(p, (uint32_t)m->len);
        p = msg_put_bytes(p, m->data, m->len - tail);
        break;
    case WEFT_STORE_MSG_MISSING:
        p = msg_put_u32(p, m->total);
        p = msg_put_u32(p, (uint32_t)(m->len / 4));
        p = msg_put_bytes(p, m->data, m->len);
        break;
    case WEFT_STORE_MSG_ERROR:
        p = msg_put_i32(p, m->status);
        p = msg_put_u16(p, (uint16_t)strlen(m->reason));
        p = msg_put_bytes(p, m->reason, strlen(m->reason));
        break;
    default: /* BYE, HEARTBEAT, OK, BEAT: empty */
        break;
    }
    *len_p = (size_t)(p - out);
    return WEFT_OK;
}

weft_status_t
weft__store_msg_encode(const weft__store_msg_t *m, uint8_t *out, size_t cap,
                       size_t *len_p)
{
    return msg_encode(m, 1, out, cap, len_p);
}

weft_status_t
weft__store_msg_encode_prefix(const weft__store_msg_t *m, uint8_t *out,
                              size_t cap, size_t *len_p)
{
    return msg_encode(m, 0, out, cap, len_p);
}

/* ---- decode ---- */

weft_status_t
weft__store_msg_header_decode(const uint8_t *in, int from_server,
                              uint8_t *type_p, uint32_t *len_p, uint32_t *id_p,
                              char *why, size_t why_len)
{
    msg_rd_t r = {in, WEFT_STORE_MSG_HDR_LEN};
    uint32_t len = 0, id = 0;
    uint8_t type = 0, r0 = 0;
    uint16_t r1 = 0;
    int sender_is_server;
    size_t max;

    msg_rd_u32(&r, &len);
    msg_rd_u8(&r, &type);
    msg_rd_u8(&r, &r0);
    msg_rd_u16(&r, &r1);
    msg_rd_u32(&r, &id);
    if (r0 != 0 || r1 != 0) {
        weft__why(why, why_len,
                "frame header: reserved bytes are not 0 (not a "
                "store frame, or the stream lost its place)");
        return WEFT_ERR_PROTOCOL;
    }
    if (msg_type_limit(type, &sender_is_server, &max) != 0) {
        weft__why(why, why_len, "frame header: unknown type %u", type);
        return WEFT_ERR_PROTOCOL;
    }
    if (sender_is_server != (from_server != 0)) {
        weft__why(why, why_len, "frame header: a %s frame may not come from %s",
                weft__store_msg_type_name(type),
                from_server ? "the server" : "a rank");
        return WEFT_ERR_PROTOCOL;
    }
    if (len > max) {
        weft__why(why, why_len,
                "frame header: %s payload of %" PRIu32 " bytes (at most %zu)",
                weft__store_msg_type_name(type), len, max);
        return WEFT_ERR_PROTOCOL;
    }
    *type_p = type;
    *len_p = len;
    *id_p = id;
    return WEFT_OK;
}

/* Copy a length-prefixed text of min..max bytes without NUL into out. */
static int
msg_rd_text(msg_rd_t *r, size_t min, size_t max, char *out)
{
    uint16_t n;

    if (msg_rd_u16(r, &n) != 0 || n < min || n > max || r->left < n ||
        memchr(r->p, '\0', n) != NULL) {
        return -1;
    }
    memcpy(out, r->p, n);
    out[n] = '\0';
    r->p += n;
    r->left -= n;
    return 0;
}

static int
msg_rd_event(msg_rd_t *r, weft__store_event_t *ev)
{
    uint8_t kind, pad;
    int32_t origin, failed, status;
    uint32_t comm_id;

    if (msg_rd_u8(r, &kind) != 0 || msg_rd_u8(r, &pad) != 0 ||
        msg_rd_i32(r, &origin) != 0 || msg_rd_i32(r, &failed) != 0 ||
        msg_rd_u32(r, &comm_id) != 0 || msg_rd_i32(r, &status) != 0) {
        return -1;
    }
    if (kind != WEFT_STORE_EVENT_ABORT || pad != 0 || origin < -1 ||
        failed < -1 || status >= 0 || status <= WEFT_ERR_LAST) {
        return -1;
    }
    if (msg_rd_text(r, 0, WEFT_STORE_REASON_MAX - 1, ev->reason) != 0) {
        return -1;
    }
    ev->kind = kind;
    ev->origin = origin;
    ev->failed_rank = failed;
    ev->comm_id = comm_id;
    ev->status = (weft_status_t)status;
    return 0;
}

/* u32 length + that many bytes (at most max), pointed at. */
static int
msg_rd_blob(msg_rd_t *r, size_t max, weft__store_msg_t *m)
{
    uint32_t n;

    if (msg_rd_u32(r, &n) != 0 || n > max || r->left < n) {
        return -1;
    }
    m->data = r->p;
    m->len = n;
    r->p += n;
    r->left -= n;
    return 0;
}

weft_status_t
weft__store_msg_decode(uint8_t type, uint32_t id, const uint8_t *payload,
                       size_t len, weft__store_msg_t *m, char *why,
                       size_t why_len)
{
    msg_rd_t r = {payload, len};
    int bad = 0;
    uint32_t n;

    memset(m, 0, sizeof(*m));
    m->type = type;
    m->id = id;
    switch (type) {
    case WEFT_STORE_MSG_PUT:
    case WEFT_STORE_MSG_ALLGATHER:
        bad = msg_rd_text(&r, 1, WEFT_STORE_KEY_MAX, m->name) != 0 ||
              msg_rd_blob(&r, WEFT_STORE_VALUE_MAX, m) != 0;
        break;
    case WEFT_STORE_MSG_GET:
    case WEFT_STORE_MSG_FENCE:
        bad = msg_rd_text(&r, 1, WEFT_STORE_KEY_MAX, m->name) != 0;
        break;
    case WEFT_STORE_MSG_STATUS:
        bad = msg_rd_u8(&r, &m->what) != 0 ||
              (m->what != WEFT_STORE_WHAT_FENCE &&
               m->what != WEFT_STORE_WHAT_ALLGATHER) ||
              msg_rd_text(&r, 1, WEFT_STORE_KEY_MAX, m->name) != 0;
        break;
    case WEFT_STORE_MSG_ABORT:
    case WEFT_STORE_MSG_EVENT:
        bad = msg_rd_event(&r, &m->event) != 0;
        break;
    case WEFT_STORE_MSG_BYE:
    case WEFT_STORE_MSG_HEARTBEAT:
    case WEFT_STORE_MSG_OK:
    case WEFT_STORE_MSG_BEAT:
        break;
    case WEFT_STORE_MSG_VALUE:
        bad = msg_rd_blob(&r, WEFT_STORE_VALUE_MAX, m) != 0;
        break;
    case WEFT_STORE_MSG_GATHERED:
        bad = msg_rd_blob(&r, WEFT_STORE_ALLGATHER_MAX, m) != 0;
        break;
    case WEFT_STORE_MSG_MISSING:
        bad = msg_rd_u32(&r, &m->total) != 0 || msg_rd_u32(&r, &n) != 0 ||
              n > WEFT_STORE_STATUS_LIST || n > m->total ||
              r.left < 4 * (size_t)n;
        if (!bad) {
            m->data = r.p;
            m->len = 4 * (size_t)n;
            r.p += m->len;
            r.left -= m->len;
        }
        break;
    case WEFT_STORE_MSG_ERROR:
        bad = msg_rd_i32(&r, &m->status) != 0 || m->status >= 0 ||
              m->status <= WEFT_ERR_LAST ||
              msg_rd_text(&r, 0, WEFT_STORE_REASON_MAX - 1, m->reason) != 0;
        break;
    default:
        weft__why(why, why_len, "unknown frame type %u", type);
        return WEFT_ERR_PROTOCOL;
    }
    if (bad) {
        weft__why(why, why_len, "malformed %s frame (%zu bytes)",
                weft__store_msg_type_name(type), len);
        return WEFT_ERR_PROTOCOL;
    }
    if (r.left != 0) {
        weft__why(why, why_len, "%zu stray bytes after a %s frame", r.left,
                weft__store_msg_type_name(type));
        return WEFT_ERR_PROTOCOL;
    }
    return WEFT_OK;
}

weft_status_t
weft__store_msg_decode_frame(const uint8_t *in, size_t len, int from_server,
                             weft__store_msg_t *m, char *why, size_t why_len)
{
    uint32_t plen, id;
    uint8_t type;

    if (len < WEFT_STORE_MSG_HDR_LEN) {
        weft__why(why, why_len, "frame of %zu bytes is shorter than a header",
                len);
        return WEFT_ERR_PROTOCOL;
    }
    if (weft__store_msg_header_decode(in, from_server, &type, &plen, &id, why,
                                      why_len) != WEFT_OK) {
        return WEFT_ERR_PROTOCOL;
    }
    if ((size_t)plen != len - WEFT_STORE_MSG_HDR_LEN) {
        weft__why(why, why_len,
                "frame header says %" PRIu32 " payload bytes, "
                "%zu follow",
                plen, len - WEFT_STORE_MSG_HDR_LEN);
        return WEFT_ERR_PROTOCOL;
    }
    return weft__store_msg_decode(type, id, in + WEFT_STORE_MSG_HDR_LEN, plen,
                                  m, why, why_len);
}

uint32_t
weft__store_msg_missing_rank(const weft__store_msg_t *m, size_t i)
{
    const uint8_t *p = m->data + 4 * i;

    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

weft_status_t
weft__store_msg_name_check(const char *name, const char *what)
{
    size_t n = name != NULL ? strnlen(name, WEFT_STORE_KEY_MAX + 1) : 0;

    if (n == 0 || n > WEFT_STORE_KEY_MAX) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                           "bootstrap %s: a name of 1 to %d bytes is "
                           "required",
                           what, WEFT_STORE_KEY_MAX);
    }
    return WEFT_OK;
}

/* ---- receiving from a socket ---- */

void
weft__store_rx_free(weft__store_rx_t *rx)
{
    free(rx->payload);
    memset(rx, 0, sizeof(*rx));
}

/* recv into buf at *off: 1 when bytes came, 0 when none now, or the
 * status of a closed or failed connection. */
static int
store_rx_recv(int fd, void *buf, size_t len, size_t *off, weft_status_t *st,
              char *why, size_t why_len)
{
    for (;;) {
        ssize_t n = recv(fd, (char *)buf + *off, len - *off, 0);

        if (n > 0) {
            *off += (size_t)n;
            return 1;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        }
        if (n == 0 || errno == ECONNRESET) {
            *st = WEFT_ERR_PEER_LOST;
            weft__why(why, why_len, "%s",
                    n == 0 ? "connection closed" : "connection reset");
        } else {
            *st = WEFT_ERR_SYSTEM;
            weft__why(why, why_len, "recv failed: %s", strerror(errno));
        }
        return -1;
    }
}

weft_status_t
weft__store_rx_read(weft__store_rx_t *rx, int fd, int from_server,
                    size_t gathered_max, weft__store_msg_t *m, char *why,
                    size_t why_len)
{
    weft_status_t st = WEFT_OK;
    int rc;

    if (rx->frame_done) {
        weft__store_rx_free(rx);
    }
    while (rx->hdr_off < WEFT_STORE_MSG_HDR_LEN) {
        rc = store_rx_recv(fd, rx->hdr, WEFT_STORE_MSG_HDR_LEN, &rx->hdr_off,
                           &st, why, why_len);
        if (rc <= 0) {
            return rc < 0 ? st : WEFT_INPROGRESS;
        }
        if (rx->hdr_off < WEFT_STORE_MSG_HDR_LEN) {
            continue;
        }
        WEFT_CHECK(weft__store_msg_header_decode(rx->hdr, from_server,
                                                 &rx->type, &rx->plen, &rx->id,
                                                 why, why_len));
        /* the data after GATHERED's u32 length against gathered_max,
         * written so that SIZE_MAX ("no bound") cannot wrap: 4 +
         * (uint64_t)SIZE_MAX is 3, which refused every GATHERED frame
         * (found by fuzz/fuzz_store_msg.c) */
        if (rx->type == WEFT_STORE_MSG_GATHERED && rx->plen > 4 &&
            rx->plen - 4 > gathered_max) {
            weft__why(why, why_len,
                    "a gathered frame of %" PRIu32 " bytes (asked for at "
                    "most %zu)",
                    rx->plen, gathered_max);
            return WEFT_ERR_PROTOCOL;
        }
        if (rx->plen > 0) {
            rx->payload = malloc(rx->plen); /* bounded by the checks above */
            if (rx->payload == NULL) {
                weft__why(why, why_len, "out of memory for a %" PRIu32
                                      "-byte frame",
                        rx->plen);
                return WEFT_ERR_NO_MEMORY;
            }
        }
    }
    while (rx->poff < rx->plen) {
        rc = store_rx_recv(fd, rx->payload, rx->plen, &rx->poff, &st, why,
                           why_len);
        if (rc <= 0) {
            return rc < 0 ? st : WEFT_INPROGRESS;
        }
    }
    rx->frame_done = 1;
    return weft__store_msg_decode(rx->type, rx->id, rx->payload, rx->plen, m,
                                  why, why_len);
}
