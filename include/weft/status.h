/*
 * Status codes. WEFT_OK is 0, WEFT_INPROGRESS is 1, errors are negative.
 * New codes are only ever added before WEFT_ERR_LAST.
 */
#ifndef WEFT_STATUS_H
#define WEFT_STATUS_H

#include <weft/version.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum weft_status {
    WEFT_OK = 0,
    WEFT_INPROGRESS = 1,         /* internal and test(): not done yet */
    WEFT_ERR_INVALID_ARG = -1,   /* a bad argument; nothing was changed */
    WEFT_ERR_NO_MEMORY = -2,     /* an allocation failed */
    WEFT_ERR_UNSUPPORTED = -3,   /* not built, or not possible here */
    WEFT_ERR_TIMED_OUT = -4,     /* a deadline passed (fatal to a comm) */
    WEFT_ERR_TRUNCATED = -5,     /* a message was larger than the buffer */
    WEFT_ERR_SYSTEM = -6,        /* a system call failed (see the log) */
    WEFT_ERR_PEER_LOST = -7,     /* a peer process died or disconnected */
    WEFT_ERR_MISMATCH = -8,      /* ranks called different operations */
    WEFT_ERR_ABORTED = -9,       /* weft_comm_abort() here or on a peer */
    WEFT_ERR_AUTH = -10,         /* a peer failed authentication */
    WEFT_ERR_PROTOCOL = -11,     /* malformed or unexpected bytes */
    WEFT_ERR_TRANSPORT = -12,    /* a transport failed */
    WEFT_ERR_INTERNAL = -13,     /* a bug in weft: please report it */
    WEFT_ERR_CUDA = -14,         /* a CUDA call failed (libweft_cuda) */
    WEFT_ERR_LAST = -64
} weft_status_t;

/* A short English description of a status; never NULL (unknown values
 * give "unknown status"). */
WEFT_API const char *weft_status_string(weft_status_t status);

/* The message that explains the last error a weft call returned on this
 * thread (for example "weft_send: peer 9 out of range [0, 4)"), like
 * errno: successful calls leave it alone. "" when no call failed yet.
 * The string stays valid until the next failing weft call on this
 * thread. */
WEFT_API const char *weft_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_STATUS_H */
