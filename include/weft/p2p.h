/*
 * Point-to-point messages: bytes, an exact peer rank and a tag >= 0.
 * Messages between two ranks on one communicator with the same tag are
 * received in the order they were sent. A receive buffer smaller than the
 * message gets its first `bytes` bytes and the call fails with
 * WEFT_ERR_TRUNCATED (the communicator stays usable).
 */
#ifndef WEFT_P2P_H
#define WEFT_P2P_H

#include <stddef.h>
#include <weft/version.h>
#include <weft/status.h>
#include <weft/comm.h>
#include <weft/request.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest tag a message may carry. */
#define WEFT_TAG_MAX 0x7fffffff

/* Blocking send: returns when `buf` may be reused. */
WEFT_API weft_status_t weft_send(const void *buf, size_t bytes, int peer,
                                 int tag, weft_comm_t *comm);

/* Blocking receive; *received_p (when not NULL) gets the message size. */
WEFT_API weft_status_t weft_recv(void *buf, size_t bytes, int peer, int tag,
                                 weft_comm_t *comm, size_t *received_p);

/* Nonblocking twins: the buffer belongs to weft until the request ends. */
WEFT_API weft_status_t weft_isend(const void *buf, size_t bytes, int peer,
                                  int tag, weft_comm_t *comm,
                                  weft_request_t **req_p);
WEFT_API weft_status_t weft_irecv(void *buf, size_t bytes, int peer, int tag,
                                  weft_comm_t *comm, weft_request_t **req_p);

/* Send to dst and receive from src at once (no deadlock in a ring). */
WEFT_API weft_status_t weft_sendrecv(const void *sbuf, size_t sbytes, int dst,
                                     int stag, void *rbuf, size_t rbytes,
                                     int src, int rtag, weft_comm_t *comm);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_P2P_H */
