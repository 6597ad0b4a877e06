/*
 * Tag matching for transports without native matching (self, tcp, shm).
 * One queue per peer: receives are exact-source, so a queue only matches
 * tags. Entries are embedded in the transport's own structures (posted
 * receives in the op's private area, unexpected messages in whatever the
 * transport keeps for them); the queue never allocates.
 *
 * Order: among entries with the same tag, matching is FIFO on both sides,
 * which gives the ordering rule of the transport contract.
 */
#ifndef WEFT_MATCH_H
#define WEFT_MATCH_H

#include <stddef.h>
#include <stdint.h>

#define WEFT_MATCH_BUCKETS 32

typedef struct weft__match_entry {
    struct weft__match_entry *next;
    struct weft__match_entry *prev;
    uint64_t tag;
} weft__match_entry_t;

typedef struct weft__match_list {
    weft__match_entry_t *head;
    weft__match_entry_t *tail;
} weft__match_list_t;

typedef struct weft__match_queue {
    weft__match_list_t posted[WEFT_MATCH_BUCKETS];
    weft__match_list_t unexp[WEFT_MATCH_BUCKETS];
    size_t n_posted;
    size_t n_unexp;
} weft__match_queue_t;

void weft__match_queue_init(weft__match_queue_t *q);

/* A message with `tag` arrived: remove and return the oldest posted
 * receive for it, or NULL (the caller then keeps the message and adds it
 * with weft__match_add_unexp). */
weft__match_entry_t *weft__match_arrive(weft__match_queue_t *q, uint64_t tag);

/* A receive for `tag` is posted: remove and return the oldest unexpected
 * message for it, or NULL (the caller then adds the receive with
 * weft__match_add_posted). */
weft__match_entry_t *weft__match_post(weft__match_queue_t *q, uint64_t tag);

/* Append (e->tag must be set). */
void weft__match_add_posted(weft__match_queue_t *q, weft__match_entry_t *e);
void weft__match_add_unexp(weft__match_queue_t *q, weft__match_entry_t *e);

/* Unlink an entry that is in the posted / unexpected lists (cancel). */
void weft__match_remove_posted(weft__match_queue_t *q, weft__match_entry_t *e);
void weft__match_remove_unexp(weft__match_queue_t *q, weft__match_entry_t *e);

/* Remove and return any entry, or NULL when empty (to fail or free them
 * all when a peer is lost or the transport closes). */
weft__match_entry_t *weft__match_pop_posted(weft__match_queue_t *q);
weft__match_entry_t *weft__match_pop_unexp(weft__match_queue_t *q);

#endif /* WEFT_MATCH_H */
