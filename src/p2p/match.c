/* Per-peer tag matching: hashed FIFO lists of posted and unexpected. */
#include "build_config.h"
#include "p2p/match.h"

#include <string.h>

static inline unsigned
match_bucket(uint64_t tag)
{
    uint64_t h = tag * 0x9e3779b97f4a7c15ull;

    return (unsigned)(h >> 59) & (WEFT_MATCH_BUCKETS - 1);
}

void
weft__match_queue_init(weft__match_queue_t *q)
{
    memset(q, 0, sizeof(*q));
}

static void
match_append(weft__match_list_t *l, weft__match_entry_t *e)
{
    e->next = NULL;
    e->prev = l->tail;
    if (l->tail != NULL) {
        l->tail->next = e;
    } else {
        l->head = e;
    }
    l->tail = e;
}

static void
match_unlink(weft__match_list_t *l, weft__match_entry_t *e)
{
    if (e->prev != NULL) {
        e->prev->next = e->next;
    } else {
        l->head = e->next;
    }
    if (e->next != NULL) {
        e->next->prev = e->prev;
    } else {
        l->tail = e->prev;
    }
    e->next = e->prev = NULL;
}

static weft__match_entry_t *
match_take(weft__match_list_t *l, uint64_t tag)
{
    for (weft__match_entry_t *e = l->head; e != NULL; e = e->next) {
        if (e->tag == tag) {
            match_unlink(l, e);
            return e;
        }
    }
    return NULL;
}

weft__match_entry_t *
weft__match_arrive(weft__match_queue_t *q, uint64_t tag)
{
    weft__match_entry_t *e;

    if (q->n_posted == 0) {
        return NULL;
    }
    e = match_take(&q->posted[match_bucket(tag)], tag);
    if (e != NULL) {
        q->n_posted--;
    }
    return e;
}

weft__match_entry_t *
weft__match_post(weft__match_queue_t *q, uint64_t tag)
{
    weft__match_entry_t *e;

    if (q->n_unexp == 0) {
        return NULL;
    }
    e = match_take(&q->unexp[match_bucket(tag)], tag);
    if (e != NULL) {
        q->n_unexp--;
    }
    return e;
}

void
weft__match_add_posted(weft__match_queue_t *q, weft__match_entry_t *e)
{
    match_append(&q->posted[match_bucket(e->tag)], e);
    q->n_posted++;
}

void
weft__match_add_unexp(weft__match_queue_t *q, weft__match_entry_t *e)
{
    match_append(&q->unexp[match_bucket(e->tag)], e);
    q->n_unexp++;
}

void
weft__match_remove_posted(weft__match_queue_t *q, weft__match_entry_t *e)
{
    match_unlink(&q->posted[match_bucket(e->tag)], e);
    q->n_posted--;
}

void
weft__match_remove_unexp(weft__match_queue_t *q, weft__match_entry_t *e)
{
    match_unlink(&q->unexp[match_bucket(e->tag)], e);
    q->n_unexp--;
}

static weft__match_entry_t *
match_pop(weft__match_list_t *lists, size_t *count)
{
    if (*count == 0) {
        return NULL;
    }
    for (unsigned b = 0; b < WEFT_MATCH_BUCKETS; b++) {
        if (lists[b].head != NULL) {
            weft__match_entry_t *e = lists[b].head;

            match_unlink(&lists[b], e);
            (*count)--;
            return e;
        }
    }
    return NULL;
}

weft__match_entry_t *
weft__match_pop_posted(weft__match_queue_t *q)
{
    return match_pop(q->posted, &q->n_posted);
}

weft__match_entry_t *
weft__match_pop_unexp(weft__match_queue_t *q)
{
    return match_pop(q->unexp, &q->n_unexp);
}
