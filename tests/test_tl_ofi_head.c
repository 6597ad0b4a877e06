/*
 * ofi's isend_head / irecv_head (a message as a short head and a body,
 * posted as two buffers of one fi_tsendv / fi_trecvv) over the shm
 * provider: every combination with the plain isend and irecv, posted and
 * unexpected, eager and large, truncation with guards past both parts,
 * and a body of no bytes, every byte checked. tcp;ofi_rxm (measured
 * slower that way) declines both, posting nothing.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tl_ofi_helpers.h"

#define HLEN  48
#define GUARD 4096

static void
head_send(wt_pair_t *p, const uint8_t *msg, size_t len, int split, uint64_t tag,
          wt_op_t *w)
{
    if (!split) {
        wt_send(p, 0, msg, len, tag, w);
        return;
    }
    wt_op_init(w);
    cr_assert_eq(wt_ofi->isend_head(p->ep[0], msg, HLEN, msg + HLEN, len - HLEN,
                                    tag, &w->op),
                 WEFT_OK, "isend_head of %zu bytes", len);
}

/* Receive room bytes into head[HLEN] + body[room - HLEN] (split) or one
 * buffer. */
static void
head_recv(wt_pair_t *p, uint8_t *head, uint8_t *body, uint8_t *one, size_t room,
          int split, uint64_t tag, wt_op_t *w)
{
    if (!split) {
        wt_recv(p, 1, one, room, tag, w);
        return;
    }
    wt_op_init(w);
    cr_assert_eq(wt_ofi->irecv_head(p->ep[1], head, HLEN, body, room - HLEN,
                                    tag, &w->op),
                 WEFT_OK, "irecv_head of %zu bytes", room);
}

static void
head_progress(wt_pair_t *p, double seconds)
{
    double end = wt_now() + seconds;

    while (wt_now() < end) {
        wt_ofi->progress(p->tl[0]);
        wt_ofi->progress(p->tl[1]);
    }
}

/* A message of len bytes (len >= HLEN) into room bytes (room >= HLEN). */
static void
head_run(wt_pair_t *p, const char *prov, int split_send, int split_recv,
         int unexpected, size_t len, size_t room, int seq)
{
    uint8_t *msg = malloc(len), *got = malloc(room + GUARD);
    uint8_t *head = malloc(HLEN + GUARD), *body = malloc(room + GUARD);
    size_t want = len < room ? len : room;
    uint64_t tag = 100 + (uint64_t)seq;
    wt_op_t s, r, *both[2] = {&s, &r};
    char what[160];

    snprintf(what, sizeof(what), "%s: %zu into %zu (send %s, recv %s, %s)",
             prov, len, room, split_send ? "split" : "whole",
             split_recv ? "split" : "whole",
             unexpected ? "unexpected" : "posted");
    cr_assert(msg != NULL && got != NULL && head != NULL && body != NULL);
    wt_fill(msg, len, 0, seq);
    memset(got, 0xee, room + GUARD);
    memset(head, 0xee, HLEN + GUARD);
    memset(body, 0xee, room + GUARD);
    if (unexpected) {
        head_send(p, msg, len, split_send, tag, &s);
        head_progress(p, 0.02);
        head_recv(p, head, body, got, room, split_recv, tag, &r);
    } else {
        head_recv(p, head, body, got, room, split_recv, tag, &r);
        head_send(p, msg, len, split_send, tag, &s);
    }
    cr_assert(wt_pair_wait(p, both, 2), "%s: not done", what);
    cr_assert_eq(s.status, WEFT_OK, "%s: the sender got %s", what,
                 weft_status_string(s.status));
    cr_assert_eq(s.bytes, len, "%s: the sender reported %zu", what, s.bytes);
    cr_assert_eq(r.status, len > room ? WEFT_ERR_TRUNCATED : WEFT_OK, "%s: %s",
                 what, weft_status_string(r.status));
    cr_assert_eq(r.bytes, want, "%s: %zu bytes", what, r.bytes);
    cr_assert_eq(r.done, 1, "%s: completed %d times", what, r.done);
    if (split_recv) {
        /* the message, cut at HLEN; nothing past either part */
        memcpy(got, head, HLEN);
        memcpy(got + HLEN, body, room - HLEN);
        for (size_t i = 0; i < GUARD; i++) {
            cr_assert_eq(head[HLEN + i], 0xee, "%s: past the head: byte %zu",
                         what, i);
            cr_assert_eq(body[room - HLEN + i], 0xee,
                         "%s: past the body: byte %zu", what, i);
        }
    } else {
        for (size_t i = room; i < room + GUARD; i++) {
            cr_assert_eq(got[i], 0xee, "%s: past the buffer: byte %zu", what,
                         i);
        }
    }
    cr_assert_eq(wt_verify(got, want, 0, seq), want, "%s: byte %zu wrong", what,
                 wt_verify(got, want, 0, seq));
    free(msg);
    free(got);
    free(head);
    free(body);
}

/* The provider cases that take head and body apart (shm), or not. */
static const wt_ofi_case_t *
head_case(int split, int k)
{
    for (int i = 0; i < WT_OFI_NCASES; i++) {
        if ((strcmp(wt_ofi_cases[i].prov, "shm") == 0) == split && k-- == 0) {
            return &wt_ofi_cases[i];
        }
    }
    return NULL;
}

static void
head_declined(const wt_ofi_case_t *c)
{
    uint8_t msg[HLEN + 16], head[HLEN], body[16], got[HLEN + 16];
    wt_pair_t p;
    wt_op_t o, s, r, *both[2] = {&s, &r};

    wt_pair_open(&p, c);
    wt_op_init(&o);
    cr_assert_eq(
        wt_ofi->isend_head(p.ep[0], msg, HLEN, msg + HLEN, 16, 5, &o.op),
        WEFT_INPROGRESS, "%s: isend_head", c->prov);
    cr_assert_eq(wt_ofi->irecv_head(p.ep[1], head, HLEN, body, 16, 5, &o.op),
                 WEFT_INPROGRESS, "%s: irecv_head", c->prov);
    /* nothing was posted under tag 5: a plain message there is the first
     * (a receive posted behind the decline would take it) */
    wt_fill(msg, sizeof(msg), 0, 5);
    wt_recv(&p, 1, got, sizeof(got), 5, &r);
    wt_send(&p, 0, msg, sizeof(msg), 5, &s);
    cr_assert(wt_pair_wait(&p, both, 2), "%s: the plain message", c->prov);
    cr_assert_eq(r.bytes, sizeof(got));
    cr_assert_eq(wt_verify(got, sizeof(got), 0, 5), sizeof(got));
    cr_assert_eq(o.done, 0, "%s: a declined op completed", c->prov);
    wt_pair_close(&p);
}

Test(tl_ofi_head, tcp_declines_and_posts_nothing, .timeout = 60)
{
    const wt_ofi_case_t *c;

    for (int k = 0; (c = head_case(0, k)) != NULL; k++) {
        head_declined(c); /* WEFT_OFI_MR none and always */
    }
}

Test(tl_ofi_head, every_combination_posted_and_unexpected, .timeout = 120)
{
    const wt_ofi_case_t *c = head_case(1, 0);
    /* a body of none, eager, past the inject size, large */
    static const size_t lens[] = {HLEN, HLEN + 1, 1000, 70000, (1u << 20) + 5};
    wt_pair_t p;
    int seq = 0;

    cr_assert_not_null(c);
    wt_pair_open(&p, c);
    for (int k = 1; k < 4; k++) { /* at least one side split */
        for (int unexpected = 0; unexpected < 2; unexpected++) {
            for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
                head_run(&p, c->prov, k & 1, (k >> 1) & 1, unexpected, lens[i],
                         lens[i], seq++);
                /* into more room than it fills */
                head_run(&p, c->prov, k & 1, (k >> 1) & 1, unexpected, lens[i],
                         lens[i] + 100, seq++);
            }
        }
    }
    wt_pair_close(&p);
}

Test(tl_ofi_head, a_split_receive_truncates_with_the_guards_intact,
     .timeout = 60)
{
    const wt_ofi_case_t *c = head_case(1, 0);
    wt_pair_t p;

    cr_assert_not_null(c);
    wt_pair_open(&p, c);
    /* longer than the head alone, than head and body, by far */
    head_run(&p, c->prov, 0, 1, 0, HLEN + 10, HLEN, 0);
    head_run(&p, c->prov, 1, 1, 0, 500, 100, 1);
    head_run(&p, c->prov, 1, 1, 1, 70000, 1000, 2);
    head_run(&p, c->prov, 0, 1, 0, (1u << 20) + 5, 4096, 3);
    wt_pair_close(&p);
}
