/*
 * Partitioned collectives, inside: what the request code calls for a
 * partitioned (persistent) request, kind WEFT_REQ_PART. Lock held in all.
 */
#ifndef WEFT_COLL_PART_H
#define WEFT_COLL_PART_H

#include <stddef.h>
#include <stdint.h>
#include <weft/status.h>

typedef struct weft_request weft_request_t;
typedef struct weft__part weft__part_t;

/* A partition's collective completed (weft__req_complete of a sub-request
 * with a parent). */
void weft__part_sub_done(weft_request_t *req, weft_request_t *sub);
/* Cancel an active start: its partitions and the request complete with
 * status. */
void weft__part_cancel(weft_request_t *req, weft_status_t status);
/* Release the partitions' requests of a completed start. */
void weft__part_deactivate(weft_request_t *req);
/* weft_wait / weft_test finished a start: the request is inactive. */
void weft__part_finish(weft_request_t *req);
/* weft_request_free: the partitions and the plan go. */
void weft__part_free(weft_request_t *req);
/* What an unfinished start waits for (timeouts). */
void weft__part_describe(const weft_request_t *req, char *buf, size_t len);
/* weft_request_stats: the partitions' bytes, first byte and algorithm. */
void weft__part_stats(const weft_request_t *req, uint64_t *sent_p,
                      uint64_t *received_p, double *first_byte_p,
                      const char **algo_p);

#endif /* WEFT_COLL_PART_H */
