/*
 * tcp's isend_head / irecv_head (a message as a short head and a body,
 * never copied together): every combination with the plain isend and
 * irecv, posted and unexpected, bodies staged and read straight into the
 * buffer, a rendezvous message into a split receive, truncation with a
 * guard, and the head send that is too large for one frame (refused,
 * nothing posted). Every byte checked.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "tl_tcp_helpers.h"

#define HLEN  48
#define GUARD 4096

typedef struct head_case {
    int split_send; /* isend_head, else one buffer through isend */
    int split_recv; /* irecv_head, else one buffer through irecv */
    int unexpected; /* the message arrives before the receive is posted */
} head_case_t;

static void
head_send(wt_tcp_job_t *job, const uint8_t *msg, size_t len, int split,
          wt_op_t *w)
{
    memset(w, 0, sizeof(*w));
    w->op.complete = wt_complete;
    if (split) {
        cr_assert_eq(tcp->isend_head(job->r[0].ep[1], msg, HLEN, msg + HLEN,
                                     len - HLEN, 7, &w->op),
                     WEFT_OK, "isend_head of %zu: %s", len, weft_last_error());
    } else {
        wt_send(job, 0, 1, msg, len, 7, w);
    }
}

/* Receive into head[HLEN] + body[room - HLEN] (split) or one buffer. */
static void
head_recv(wt_tcp_job_t *job, uint8_t *head, uint8_t *body, uint8_t *one,
          size_t room, int split, wt_op_t *w)
{
    memset(w, 0, sizeof(*w));
    w->op.complete = wt_complete;
    if (split) {
        cr_assert_eq(tcp->irecv_head(job->r[1].ep[0], head, HLEN, body,
                                     room - HLEN, 7, &w->op),
                     WEFT_OK, "irecv_head of %zu: %s", room, weft_last_error());
    } else {
        wt_recv(job, 1, 0, one, room, 7, w);
    }
}

/* A message of len bytes (len >= HLEN) into room bytes. */
static void
head_run(wt_tcp_job_t *job, const head_case_t *c, size_t len, size_t room,
         int seq)
{
    uint8_t *msg = malloc(len), *got = malloc(room + GUARD);
    uint8_t *head = malloc(HLEN + GUARD), *body = malloc(room + GUARD);
    size_t want = len < room ? len : room;
    wt_op_t s, r;

    cr_assert(msg != NULL && got != NULL && head != NULL && body != NULL);
    wt_fill(msg, len, 0, seq);
    memset(got, 0xee, room + GUARD);
    memset(head, 0xee, HLEN + GUARD);
    memset(body, 0xee, room + GUARD);
    if (c->unexpected) {
        head_send(job, msg, len, c->split_send, &s);
        wt_progress_for(job, 0.05);
        head_recv(job, head, body, got, room, c->split_recv, &r);
    } else {
        head_recv(job, head, body, got, room, c->split_recv, &r);
        head_send(job, msg, len, c->split_send, &s);
    }
    cr_assert(WT_WAIT(job, s.done && r.done, 20.0), "%zu into %zu: not done",
              len, room);
    cr_assert_eq(s.status, WEFT_OK, "send of %zu: %s", len,
                 weft_status_string(s.status));
    cr_assert_eq(s.bytes, len, "send of %zu reported %zu", len, s.bytes);
    cr_assert_eq(r.status, len > room ? WEFT_ERR_TRUNCATED : WEFT_OK,
                 "%zu into %zu: %s", len, room, weft_status_string(r.status));
    cr_assert_eq(r.bytes, want, "%zu into %zu: %zu bytes", len, room, r.bytes);
    if (c->split_recv) {
        /* the message, cut at HLEN; nothing past either part */
        memcpy(got, head, HLEN);
        memcpy(got + HLEN, body, room - HLEN);
        for (size_t i = 0; i < GUARD; i++) {
            cr_assert_eq(head[HLEN + i], 0xee, "past the head: byte %zu", i);
            cr_assert_eq(body[room - HLEN + i], 0xee,
                         "past the body of %zu: byte %zu", room - HLEN, i);
        }
    } else {
        for (size_t i = room; i < room + GUARD; i++) {
            cr_assert_eq(got[i], 0xee, "past the buffer: byte %zu", i);
        }
    }
    cr_assert_eq(
        wt_verify(got, want, 0, seq), want,
        "%zu into %zu (send %s, recv %s, %s): byte %zu wrong", len, room,
        c->split_send ? "split" : "whole", c->split_recv ? "split" : "whole",
        c->unexpected ? "unexpected" : "posted", wt_verify(got, want, 0, seq));
    free(msg);
    free(got);
    free(head);
    free(body);
}

Test(tl_tcp_head, every_combination_posted_and_unexpected, .timeout = 60)
{
    /* bodies of 0, staged, and read straight into the buffer (past the
     * 16 KiB at which the parser reads directly), up to the eager limit */
    size_t sizes[] = {HLEN, HLEN + 1, HLEN + 1000, HLEN + 70000, 0};
    wt_tcp_job_t job;
    int seq = 1;

    sizes[4] = wt_eager_default();
    wt_job_start(&job, 2, NULL);
    for (int bits = 0; bits < 8; bits++) {
        head_case_t c = {bits & 1, (bits >> 1) & 1, (bits >> 2) & 1};

        if (!c.split_send && !c.split_recv) {
            continue; /* the plain suite's */
        }
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            head_run(&job, &c, sizes[i], sizes[i], seq++);
        }
    }
    cr_assert(wt_no_failures(&job));
    wt_job_stop(&job);
}

Test(tl_tcp_head, split_receive_truncates_with_the_guards_intact, .timeout = 30)
{
    head_case_t posted = {1, 1, 0}, unexpected = {1, 1, 1};
    wt_tcp_job_t job;

    wt_job_start(&job, 2, NULL);
    head_run(&job, &posted, HLEN + 60000, HLEN + 1000, 1);
    head_run(&job, &posted, HLEN + 60000, HLEN, 2); /* head only */
    head_run(&job, &unexpected, HLEN + 5000, HLEN + 10, 3);
    head_run(&job, &posted, HLEN + 10, HLEN + 5000, 4); /* shorter */
    /* the link still carries whole messages after it */
    wt_exchange(&job, 1000, 5);
    cr_assert(wt_no_failures(&job));
    wt_job_stop(&job);
}

Test(tl_tcp_head, rendezvous_message_into_a_split_receive, .timeout = 60)
{
    head_case_t posted = {0, 1, 0}, unexpected = {0, 1, 1};
    size_t big = wt_eager_default() + 4000;
    wt_tcp_job_t job;

    wt_job_start(&job, 2, NULL);
    head_run(&job, &posted, big, big, 1);
    head_run(&job, &unexpected, 3u << 20, 3u << 20, 2);
    head_run(&job, &posted, 3u << 20, (1u << 20) + 5, 3); /* truncated */
    cr_assert(wt_no_failures(&job));
    wt_job_stop(&job);
}

Test(tl_tcp_head, head_send_beyond_one_frame_is_refused, .timeout = 20)
{
    size_t big = wt_eager_default();
    uint8_t *msg = calloc(1, big + HLEN);
    wt_tcp_job_t job;
    wt_op_t w = {.op.complete = wt_complete};

    cr_assert_not_null(msg);
    wt_job_start(&job, 2, NULL);
    /* head + body past the eager limit, or a head past WEFT_TL_HEAD_MAX:
     * not taken, and nothing posted (the core packs such a message) */
    cr_assert_eq(
        tcp->isend_head(job.r[0].ep[1], msg, HLEN, msg + HLEN, big, 7, &w.op),
        WEFT_INPROGRESS);
    cr_assert_eq(tcp->isend_head(job.r[0].ep[1], msg, WEFT_TL_HEAD_MAX + 1,
                                 msg + 100, 10, 7, &w.op),
                 WEFT_INPROGRESS);
    cr_assert_eq(tcp->irecv_head(job.r[1].ep[0], msg, WEFT_TL_HEAD_MAX + 1,
                                 msg + 100, 10, 7, &w.op),
                 WEFT_INPROGRESS);
    wt_progress_for(&job, 0.05);
    cr_assert_eq(w.done, 0, "a refused op completed");
    /* the link is untouched: a plain exchange works */
    wt_exchange(&job, 5000, 3);
    cr_assert(wt_no_failures(&job));
    free(msg);
    wt_job_stop(&job);
}
