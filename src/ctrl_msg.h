/*
 * The control message's wire format (src/ctrl.c sends and receives
 * them): a fixed header and the reason text. Encoding, and a parser that
 * checks every field of bytes that came from a peer.
 */
#ifndef WEFT_CTRL_MSG_H
#define WEFT_CTRL_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "bootstrap/store.h"

#define WEFT_CTRL_MAGIC           0x7446574du /* "MWFt" */
#define WEFT_CTRL_VERSION         1
#define WEFT_CTRL_KIND_COMM_ERROR 1
/* bytes of reason text; no NUL is sent */
#define WEFT_CTRL_REASON_MAX (WEFT_STORE_REASON_MAX - 1)

/* On the wire, little-endian: magic (4), version (1), kind (1),
 * reason_len (2), comm id (4), origin (4: the job rank where the error
 * started), status (4), then reason_len bytes of text (no NUL). */
#define WEFT_CTRL_HDR_SIZE 20
#define WEFT_CTRL_WIRE_MAX (WEFT_CTRL_HDR_SIZE + WEFT_CTRL_REASON_MAX)

typedef struct weft__ctrl_msg {
    uint32_t magic;
    unsigned version, kind, reason_len;
    uint32_t comm_id;
    int32_t origin;
    int32_t status;
    char reason[WEFT_CTRL_REASON_MAX + 1]; /* NUL-terminated once parsed */
} weft__ctrl_msg_t;

/* Write m into out (WEFT_CTRL_WIRE_MAX bytes of room); the bytes used. */
size_t weft__ctrl_msg_encode(const weft__ctrl_msg_t *m, uint8_t *out);

/* NULL when the `bytes` received at `wire` (truncated: the receive
 * buffer was too small for what came) are a well-formed message from a
 * job of nranks ranks, then in *m; else what is wrong with them. */
const char *weft__ctrl_msg_parse(const uint8_t *wire, size_t bytes,
                                 int truncated, int nranks,
                                 weft__ctrl_msg_t *m);

#endif /* WEFT_CTRL_MSG_H */
