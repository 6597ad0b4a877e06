/*
 * Bootstrap store frames, after the handshake (auth.h). Pure encode and
 * decode functions: every field is validated before use, so a fuzz target
 * can be pointed at weft__store_msg_decode_frame().
 *
 * Every frame is a 12-byte little-endian header and a payload:
 *
 *   off len field
 *     0   4 len      payload bytes that follow (bounded per type)
 *     4   1 type     weft__store_msg_type_t (valid for the direction)
 *     5   3 reserved 0
 *     8   4 id       request id, echoed by its reply (0 in EVENT, BYE)
 *
 * Payloads (u16/u32/i32 little-endian; "name" = u16 length + bytes,
 * 1..WEFT_STORE_KEY_MAX bytes, no NUL; nothing may follow the last field):
 *
 *   rank -> server
 *     PUT        name key, u32 vlen, value[vlen <= WEFT_STORE_VALUE_MAX]
 *     GET        name key                    (parked until the key exists)
 *     FENCE      name
 *     ALLGATHER  name, u32 len, data[len <= WEFT_STORE_VALUE_MAX]
 *     STATUS     u8 what (1 fence, 2 allgather), name
 *     ABORT      event                       (no reply; becomes EVENTs)
 *     BYE        (empty)                     (no reply; server closes)
 *     HEARTBEAT  (empty)                     ("still alive"; no reply with
 *                                            id 0, a BEAT with id != 0)
 *   server -> rank
 *     OK         (empty)                     (PUT, FENCE)
 *     VALUE      u32 vlen, value             (GET)
 *     GATHERED   u32 len, data[len <= WEFT_STORE_ALLGATHER_MAX]
 *     MISSING    u32 total, u32 n <= WEFT_STORE_STATUS_LIST, u32 rank[n]
 *     ERROR      i32 status (< 0), u16 n, reason[n < REASON_MAX]
 *     EVENT      event
 *     BEAT       (empty)                     (HEARTBEAT with id != 0: the
 *                                            store is alive too; unasked
 *                                            with id 0 when a stopped job
 *                                            goes on)
 *
 *   event = u8 kind (1 abort), u8 0, i32 origin (>= -1),
 *           i32 failed_rank (>= -1), u32 comm_id, i32 status (< 0),
 *           u16 n, reason[n < WEFT_STORE_REASON_MAX] (no NUL)
 */
#ifndef WEFT_STORE_MSG_H
#define WEFT_STORE_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <weft/status.h>
#include "bootstrap/store.h"

#define WEFT_STORE_MSG_HDR_LEN   12
#define WEFT_STORE_ALLGATHER_MAX (64u << 20) /* bytes of a whole allgather */
#define WEFT_STORE_STATUS_LIST   1024        /* ranks listed in MISSING */

typedef enum weft__store_msg_type {
    WEFT_STORE_MSG_PUT = 1,
    WEFT_STORE_MSG_GET = 2,
    WEFT_STORE_MSG_FENCE = 3,
    WEFT_STORE_MSG_ALLGATHER = 4,
    WEFT_STORE_MSG_STATUS = 5,
    WEFT_STORE_MSG_ABORT = 6,
    WEFT_STORE_MSG_BYE = 7,
    WEFT_STORE_MSG_HEARTBEAT = 8,
    WEFT_STORE_MSG_OK = 16,
    WEFT_STORE_MSG_VALUE = 17,
    WEFT_STORE_MSG_GATHERED = 18,
    WEFT_STORE_MSG_MISSING = 19,
    WEFT_STORE_MSG_ERROR = 20,
    WEFT_STORE_MSG_EVENT = 21,
    WEFT_STORE_MSG_BEAT = 22
} weft__store_msg_type_t;

/* The id of a HEARTBEAT that asks the server to answer with a BEAT (a
 * server that does not know BEAT ignores it; a rank that never asks never
 * gets one). */
#define WEFT_STORE_BEAT_ASK 1u

/* STATUS: which kind of collection the name refers to. */
enum { WEFT_STORE_WHAT_FENCE = 1, WEFT_STORE_WHAT_ALLGATHER = 2 };

/* A decoded frame. data points into the decoded buffer (or, to encode,
 * at the caller's bytes); everything else is copied and terminated. */
typedef struct weft__store_msg {
    uint8_t type;
    uint32_t id;
    char name[WEFT_STORE_KEY_MAX + 1];  /* PUT GET FENCE ALLGATHER STATUS */
    uint8_t what;                       /* STATUS */
    const uint8_t *data;                /* PUT VALUE ALLGATHER GATHERED; */
    size_t len;                         /* MISSING: n u32 ranks (4n bytes) */
    uint32_t total;                     /* MISSING: ranks missing in all */
    int32_t status;                     /* ERROR */
    char reason[WEFT_STORE_REASON_MAX]; /* ERROR */
    weft__store_event_t event;          /* ABORT EVENT */
} weft__store_msg_t;

const char *weft__store_msg_type_name(unsigned type);

/* Bytes the encoded frame of m takes (header included), or 0 when m is
 * not valid (unknown type, a field beyond its bound). */
size_t weft__store_msg_size(const weft__store_msg_t *m);

/* A key or fence/allgather name a backend accepts: 1 to
 * WEFT_STORE_KEY_MAX bytes. WEFT_ERR_INVALID_ARG naming `what` otherwise
 * (for the store backends' put/get/fence/allgather). */
weft_status_t weft__store_msg_name_check(const char *name, const char *what);

/* Encode m into out (cap bytes); WEFT_ERR_INVALID_ARG when m is not
 * valid, WEFT_ERR_TRUNCATED when cap is too small. */
weft_status_t weft__store_msg_encode(const weft__store_msg_t *m, uint8_t *out,
                                     size_t cap, size_t *len_p);

/* The frame of m without its trailing data bytes (PUT, ALLGATHER, VALUE,
 * GATHERED): those follow from m->data, written by the caller (so a large
 * shared buffer need not be copied). m->data may be NULL here. */
weft_status_t weft__store_msg_encode_prefix(const weft__store_msg_t *m,
                                            uint8_t *out, size_t cap,
                                            size_t *len_p);

/* Check a header. from_server: 1 when decoding what a server sent (a
 * client reading), 0 for what a rank sent. WEFT_ERR_PROTOCOL with a
 * reason: a reserved byte set, a type not valid in that direction, or a
 * length beyond that type's bound. */
weft_status_t weft__store_msg_header_decode(const uint8_t *in, int from_server,
                                            uint8_t *type_p, uint32_t *len_p,
                                            uint32_t *id_p, char *why,
                                            size_t why_len);

/* Decode a payload of a type that passed header_decode. m->data may point
 * into payload. WEFT_ERR_PROTOCOL with a reason. */
weft_status_t weft__store_msg_decode(uint8_t type, uint32_t id,
                                     const uint8_t *payload, size_t len,
                                     weft__store_msg_t *m, char *why,
                                     size_t why_len);

/* A whole frame (header + payload, exactly len bytes). */
weft_status_t weft__store_msg_decode_frame(const uint8_t *in, size_t len,
                                           int from_server,
                                           weft__store_msg_t *m, char *why,
                                           size_t why_len);

/* Receiving frames from a nonblocking socket, a piece at a time (the
 * store client and server share it). */
typedef struct weft__store_rx {
    uint8_t hdr[WEFT_STORE_MSG_HDR_LEN];
    size_t hdr_off;
    uint8_t type;
    uint32_t id;
    uint32_t plen;
    size_t poff;
    uint8_t *payload;
    int frame_done; /* payload belongs to the frame last returned */
} weft__store_rx_t;

/*
 * Read what fd has toward the next frame. Returns
 *  - WEFT_OK: a whole frame, decoded into *m (its data points into rx:
 *    valid until the next call or weft__store_rx_free);
 *  - WEFT_INPROGRESS: more bytes are needed;
 *  - WEFT_ERR_PEER_LOST: the connection closed or was reset (rx->hdr_off
 *    > 0 tells it happened in the middle of a frame);
 *  - WEFT_ERR_SYSTEM: recv failed (why has the reason);
 *  - WEFT_ERR_PROTOCOL: bad bytes; WEFT_ERR_NO_MEMORY.
 * from_server as in header_decode; gathered_max bounds the payload of a
 * GATHERED frame beyond the codec's caps (SIZE_MAX: no further bound).
 * Nothing is logged.
 */
weft_status_t weft__store_rx_read(weft__store_rx_t *rx, int fd,
                                  int from_server, size_t gathered_max,
                                  weft__store_msg_t *m, char *why,
                                  size_t why_len);
/* Free what rx holds and make it ready for a new frame. */
void weft__store_rx_free(weft__store_rx_t *rx);

/* The i-th rank listed in a decoded MISSING. */
uint32_t weft__store_msg_missing_rank(const weft__store_msg_t *m, size_t i);

#endif /* WEFT_STORE_MSG_H */
