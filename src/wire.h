/*
 * Wire framing shared by the stream transports (tcp now, shm control
 * later): a fixed 40-byte little-endian header in front of every frame.
 *
 *   off len field
 *     0   4 magic    "WFT1" (0x31544657)
 *     4   1 version  WEFT_WIRE_VERSION
 *     5   1 type     weft__wire_type_t
 *     6   2 flags    none defined yet: must be 0
 *     8   4 src      sender's rank in the job (bound to the authenticated
 *                    link: any other value is a protocol violation)
 *    12   4 len      payload bytes that follow this header
 *    16   8 tag      the 64-bit transport tag (EAGER, RTS)
 *    24   8 msg_id   sender-chosen id of a rendezvous message (RTS, CTS,
 *                    DATA)
 *    32   8 size     EAGER: == len; RTS: message size; CTS: bytes the
 *                    receiver accepts; DATA: offset of this chunk
 *
 * Every field is checked by weft__wire_decode before anything is used.
 */
#ifndef WEFT_WIRE_H
#define WEFT_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <weft/status.h>

#define WEFT_WIRE_MAGIC 0x31544657u
#define WEFT_WIRE_VERSION 1
#define WEFT_WIRE_HDR_LEN 40

typedef enum weft__wire_type {
    WEFT_WIRE_EAGER = 1, /* a whole small message follows */
    WEFT_WIRE_RTS = 2,   /* request to send `size` bytes under msg_id */
    WEFT_WIRE_CTS = 3,   /* clear to send `size` bytes of msg_id */
    WEFT_WIRE_DATA = 4,  /* `len` bytes of msg_id at offset `size` */
    WEFT_WIRE_BYE = 5,   /* orderly close: EOF after this is not a loss */
    WEFT_WIRE_TYPE_LAST = WEFT_WIRE_BYE
} weft__wire_type_t;

typedef struct weft__wire_hdr {
    uint8_t type;
    uint16_t flags;
    uint32_t src;
    uint32_t len;
    uint64_t tag;
    uint64_t msg_id;
    uint64_t size;
} weft__wire_hdr_t;

/* What the receiving side accepts on one link. */
typedef struct weft__wire_limits {
    uint32_t src;       /* the authenticated rank of the link */
    uint32_t max_eager; /* largest EAGER payload */
    uint32_t max_data;  /* largest DATA payload */
} weft__wire_limits_t;

void weft__wire_encode(const weft__wire_hdr_t *hdr,
                       uint8_t out[WEFT_WIRE_HDR_LEN]);

/* Decode and validate (magic, version, type, flags, src, and the length
 * rules of each type). On failure returns WEFT_ERR_PROTOCOL and writes a
 * reason ("bad magic 0x...", "eager length 70000 > limit 65536") into
 * why; the header is not written. */
weft_status_t weft__wire_decode(const uint8_t in[WEFT_WIRE_HDR_LEN],
                                const weft__wire_limits_t *limits,
                                weft__wire_hdr_t *hdr, char *why,
                                size_t why_len);

const char *weft__wire_type_name(unsigned type);

#endif /* WEFT_WIRE_H */
