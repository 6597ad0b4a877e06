/*
 * The tcp transport driven directly, without the rest of weft (helpers in
 * tl_tcp_helpers.c): transfers of every size, matching, unexpected
 * messages, truncation, cancel, round-robin, addresses. Its links (one
 * per pair, set up lazily): test_tl_tcp_links.c, in the same program.
 * Peer loss, outsiders, hostile peers and shutdown: test_tl_tcp_faults.c.
 */
#include "build_config.h"

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tl_tcp_helpers.h"
#include "util.h"

/* ---- sizes ------------------------------------------------------------ */

Test(tl_tcp, sizes_around_the_eager_limit_both_ways, .timeout = 30)
{
    const size_t eager = wt_eager_default();
    const size_t sizes[] = {0, 1, eager - 1, eager, eager + 1, 4 * eager + 3};
    wt_tcp_job_t job;

    wt_job_start(&job, 2, NULL);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        wt_exchange(&job, sizes[i], (int)i);
    }
    cr_assert(wt_no_failures(&job));
    wt_job_stop(&job);
}

Test(tl_tcp, sixty_four_mib_every_byte_checked, .timeout = 60)
{
    wt_tcp_job_t job;

    wt_job_start(&job, 2, NULL);
    wt_exchange(&job, 64u << 20, 7);
    cr_assert(wt_no_failures(&job));
    wt_job_stop(&job);
}

/* Small limits everywhere: many DATA frames per message, socket buffers
 * set; and a receiver whose eager limit is below the sender's (the
 * sender must use the smaller one). */
Test(tl_tcp, configured_limits_are_published_and_honoured, .timeout = 30)
{
    static const char *const env[] = {"WEFT_TCP_EAGER_LIMIT=1000",
                                      "WEFT_TCP_CHUNK=4096",
                                      "WEFT_TCP_SOCKBUF=262144", NULL};
    static const char *const env1[] = {"WEFT_TCP_EAGER_LIMIT=100", NULL};
    const size_t sizes[] = {99, 100, 101, 999, 1000, 1001, 300007};
    weft__tcp_addr_t addr;
    char why[128];
    wt_tcp_job_t job;

    wt_job_start_ex(&job, 2, env, env1, 0);
    cr_assert_eq(weft__tcp_addr_unpack(job.r[0].addr, job.r[0].addr_len, &addr,
                                       why, sizeof(why)),
                 WEFT_OK);
    cr_assert_eq(addr.eager_limit, 1000);
    cr_assert_eq(addr.max_data, 4096);
    cr_assert_eq(weft__tcp_addr_unpack(job.r[1].addr, job.r[1].addr_len, &addr,
                                       why, sizeof(why)),
                 WEFT_OK);
    cr_assert_eq(addr.eager_limit, 100);
    cr_assert_eq(addr.max_data, 1u << 20);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        wt_exchange(&job, sizes[i], (int)i);
    }
    cr_assert(wt_no_failures(&job));
    wt_job_stop(&job);
}

Test(tl_tcp, four_ranks_all_to_all_small_and_large, .timeout = 30)
{
    const size_t sizes[] = {3, wt_eager_default() + 200000};
    enum { N = 4 };
    wt_tcp_job_t job;
    uint8_t *sbuf[N][N][2], *rbuf[N][N][2];
    wt_op_t s[N][N][2], r[N][N][2];

    wt_job_start(&job, N, NULL);
    for (int a = 0; a < N; a++) {
        for (int b = 0; b < N; b++) {
            for (int k = 0; k < 2 && a != b; k++) {
                sbuf[a][b][k] = malloc(sizes[k]);
                rbuf[b][a][k] = calloc(1, sizes[k]);
                wt_fill(sbuf[a][b][k], sizes[k], a, b * 2 + k);
                wt_recv(&job, b, a, rbuf[b][a][k], sizes[k], (uint64_t)k,
                        &r[b][a][k]);
                wt_send(&job, a, b, sbuf[a][b][k], sizes[k], (uint64_t)k,
                        &s[a][b][k]);
            }
        }
    }
    for (int a = 0; a < N; a++) {
        for (int b = 0; b < N; b++) {
            for (int k = 0; k < 2 && a != b; k++) {
                cr_assert(
                    WT_WAIT(&job, s[a][b][k].done && r[b][a][k].done, 20.0),
                    "%d->%d size %zu not done", a, b, sizes[k]);
                cr_assert_eq(r[b][a][k].status, WEFT_OK);
                cr_assert_eq(wt_verify(rbuf[b][a][k], sizes[k], a, b * 2 + k),
                             sizes[k], "%d->%d size %zu corrupted", a, b,
                             sizes[k]);
                free(sbuf[a][b][k]);
                free(rbuf[b][a][k]);
            }
            /* everyone connected at once: the lower rank's link won */
            cr_assert(a == b || wt_link_check(&job, a, b) == NULL, "%d-%d: %s",
                      a, b, wt_link_check(&job, a, b));
            cr_assert(a == b || job.r[a].ep[b]->conn->own == (a < b));
        }
    }
    cr_assert(wt_no_failures(&job));
    wt_job_stop(&job);
}

/* ---- many messages, matching order ------------------------------------ */

Test(tl_tcp, thousand_outstanding_sends_and_receives, .timeout = 30)
{
    enum { N = 1000 };
    wt_tcp_job_t job;
    static wt_op_t s[N], r[N];
    static uint8_t *sbuf[N], *rbuf[N];
    size_t len[N];

    wt_job_start(&job, 2, NULL);
    for (int i = 0; i < N; i++) {
        /* mostly small, every 100th a rendezvous */
        len[i] = i % 100 == 99 ? wt_eager_default() + 1 + (size_t)i
                               : (size_t)(i * 37 % 3000);
        sbuf[i] = malloc(len[i] + 1);
        rbuf[i] = calloc(1, len[i] + 1);
        wt_fill(sbuf[i], len[i], 0, i);
    }
    for (int i = 0; i < N; i++) {
        wt_send(&job, 0, 1, sbuf[i], len[i], (uint64_t)i, &s[i]);
    }
    for (int i = 0; i < N; i++) {
        wt_recv(&job, 1, 0, rbuf[i], len[i], (uint64_t)i, &r[i]);
    }
    for (int i = 0; i < N; i++) {
        cr_assert(WT_WAIT(&job, s[i].done && r[i].done, 20.0),
                  "message %d not done", i);
        cr_assert_eq(r[i].status, WEFT_OK);
        cr_assert_eq(r[i].bytes, len[i]);
        cr_assert_eq(wt_verify(rbuf[i], len[i], 0, i), len[i],
                     "message %d corrupted", i);
        free(sbuf[i]);
        free(rbuf[i]);
    }
    cr_assert(wt_no_failures(&job));
    wt_job_stop(&job);
}

/* Receives posted in reverse tag order, before (posted) and after
 * (unexpected) the messages arrive. */
static void
wt_reverse(int post_first)
{
    enum { N = 64 };
    wt_tcp_job_t job;
    wt_op_t s[N], r[N];
    uint8_t sbuf[N][300], rbuf[N][300];
    size_t len[N];

    wt_job_start(&job, 2, NULL);
    for (int i = 0; i < N; i++) {
        len[i] = 1 + (size_t)i * 4;
        wt_fill(sbuf[i], len[i], 1, i);
        memset(rbuf[i], 0, sizeof(rbuf[i]));
    }
    if (post_first) {
        for (int i = N - 1; i >= 0; i--) {
            wt_recv(&job, 0, 1, rbuf[i], len[i], 1000 + (uint64_t)i, &r[i]);
        }
    }
    for (int i = 0; i < N; i++) {
        wt_send(&job, 1, 0, sbuf[i], len[i], 1000 + (uint64_t)i, &s[i]);
    }
    if (!post_first) {
        cr_assert(WT_WAIT(&job, wt_all_done(s, N), 10.0));
        for (int k = 0; k < 20; k++) {
            wt_job_progress(&job); /* let the receiver read them all */
        }
        for (int i = N - 1; i >= 0; i--) {
            wt_recv(&job, 0, 1, rbuf[i], len[i], 1000 + (uint64_t)i, &r[i]);
        }
    }
    for (int i = 0; i < N; i++) {
        cr_assert(WT_WAIT(&job, r[i].done, 10.0), "tag %d not received", i);
        cr_assert_eq(r[i].status, WEFT_OK);
        cr_assert_eq(r[i].bytes, len[i]);
        cr_assert_eq(wt_verify(rbuf[i], len[i], 1, i), len[i],
                     "tag %d got the wrong bytes", i);
    }
    cr_assert(wt_no_failures(&job));
    wt_job_stop(&job);
}

Test(tl_tcp, receives_posted_in_reverse_tag_order, .timeout = 20)
{
    wt_reverse(1);
}

Test(tl_tcp, unexpected_messages_taken_in_reverse_tag_order, .timeout = 20)
{
    wt_reverse(0);
}

/* Same tag: the k-th receive gets the k-th message, eager and rendezvous
 * mixed. */
Test(tl_tcp, same_tag_is_fifo_across_eager_and_rendezvous, .timeout = 30)
{
    enum { N = 40 };
    wt_tcp_job_t job;
    wt_op_t s[N], r[N];
    uint8_t *sbuf[N], *rbuf[N];
    size_t len[N];

    wt_job_start(&job, 2, NULL);
    for (int i = 0; i < N; i++) {
        len[i] = i % 3 == 2 ? 300000 : 1000;
        sbuf[i] = malloc(len[i]);
        rbuf[i] = calloc(1, len[i]);
        wt_fill(sbuf[i], len[i], 0, i);
    }
    for (int i = 0; i < N / 2; i++) { /* half posted before, half after */
        wt_recv(&job, 1, 0, rbuf[i], len[i], 7, &r[i]);
    }
    for (int i = 0; i < N; i++) {
        wt_send(&job, 0, 1, sbuf[i], len[i], 7, &s[i]);
    }
    for (int k = 0; k < 50; k++) {
        wt_job_progress(&job);
    }
    for (int i = N / 2; i < N; i++) {
        wt_recv(&job, 1, 0, rbuf[i], len[i], 7, &r[i]);
    }
    for (int i = 0; i < N; i++) {
        cr_assert(WT_WAIT(&job, r[i].done && s[i].done, 10.0));
        cr_assert_eq(r[i].status, WEFT_OK, "receive %d: %s", i,
                     weft_status_string(r[i].status));
        cr_assert_eq(wt_verify(rbuf[i], len[i], 0, i), len[i],
                     "receive %d got another message", i);
        free(sbuf[i]);
        free(rbuf[i]);
    }
    wt_job_stop(&job);
}

/* ---- unexpected, then posted ------------------------------------------ */

static void
wt_unexpected(size_t len)
{
    wt_tcp_job_t job;
    wt_op_t s, r;
    uint8_t *sbuf = malloc(len), *rbuf = calloc(1, len);

    wt_job_start(&job, 2, NULL);
    wt_fill(sbuf, len, 1, 3);
    wt_send(&job, 1, 0, sbuf, len, 42, &s);
    /* eager: the send completes alone; rendezvous: the RTS waits */
    double until = weft__now() + 0.2;
    while (weft__now() < until) {
        wt_job_progress(&job);
    }
    if (len <= wt_eager_default()) {
        cr_assert_eq(s.done, 1, "an eager send completes without a receive");
    } else {
        cr_assert_eq(s.done, 0, "a rendezvous send waits for the receive");
    }
    wt_recv(&job, 0, 1, rbuf, len, 42, &r);
    cr_assert(WT_WAIT(&job, s.done && r.done, 10.0));
    cr_assert_eq(s.status, WEFT_OK);
    cr_assert_eq(r.status, WEFT_OK);
    cr_assert_eq(r.bytes, len);
    cr_assert_eq(wt_verify(rbuf, len, 1, 3), len);
    free(sbuf);
    free(rbuf);
    wt_job_stop(&job);
}

Test(tl_tcp, unexpected_eager_then_posted, .timeout = 20)
{
    wt_unexpected(5000);
}

Test(tl_tcp, unexpected_rendezvous_then_posted, .timeout = 20)
{
    wt_unexpected(3u << 20);
}

/* ---- truncation -------------------------------------------------------- */

#define WT_GUARD 4096

static void
wt_truncate(size_t len, size_t cap)
{
    wt_tcp_job_t job;
    wt_op_t s, r;
    uint8_t *sbuf = malloc(len);
    uint8_t *rbuf = malloc(cap + WT_GUARD);

    wt_job_start(&job, 2, NULL);
    wt_fill(sbuf, len, 0, 9);
    memset(rbuf, 0xee, cap + WT_GUARD);
    wt_recv(&job, 1, 0, rbuf, cap, 5, &r);
    wt_send(&job, 0, 1, sbuf, len, 5, &s);
    cr_assert(WT_WAIT(&job, s.done && r.done, 10.0));
    cr_assert_eq(s.status, WEFT_OK, "send of %zu into %zu: %s", len, cap,
                 weft_status_string(s.status));
    cr_assert_eq(r.status, WEFT_ERR_TRUNCATED, "receive of %zu into %zu: %s",
                 len, cap, weft_status_string(r.status));
    cr_assert_eq(r.bytes, cap);
    cr_assert_eq(wt_verify(rbuf, cap, 0, 9), cap, "prefix of %zu wrong", cap);
    for (size_t i = cap; i < cap + WT_GUARD; i++) {
        cr_assert_eq(rbuf[i], 0xee, "byte %zu past a %zu-byte buffer written",
                     i, cap);
    }
    /* the link is still good: a message after it arrives whole */
    wt_exchange(&job, 1000, 11);
    cr_assert(wt_no_failures(&job));
    free(sbuf);
    free(rbuf);
    wt_job_stop(&job);
}

Test(tl_tcp, eager_truncation_keeps_the_prefix_and_the_guard, .timeout = 20)
{
    wt_truncate(60000, 1000);
    wt_truncate(10, 0);
}

Test(tl_tcp, rendezvous_truncation_keeps_the_prefix_and_the_guard,
     .timeout = 20)
{
    wt_truncate(5u << 20, (1u << 20) + 5);
    wt_truncate(wt_eager_default() + 4000, 100); /* into a small buffer */
    wt_truncate(wt_eager_default() + 4000, 0);   /* a CTS of 0 bytes */
}

/* ---- cancel ------------------------------------------------------------- */

/* A rendezvous receive cancelled at a chosen point: right after its RTS
 * matched (only the receiver progressed: no data has moved), or with the
 * data half in. The sender still finishes; the receive never completes
 * and its buffer is not written after cancel returns. */
static void
wt_cancel_rndv(wt_tcp_job_t *job, int mid_data, int seq)
{
    /* larger than the socket buffers: it cannot arrive in one go */
    size_t big = mid_data ? 32u << 20 : 2u << 20;
    uint8_t *b = malloc(big), *rb = malloc(big);
    wt_op_t s, rc;
    tcp_op_t *o = weft__tcp_op(&rc.op);

    wt_fill(b, big, 0, seq);
    wt_recv(job, 1, 0, rb, big, (uint64_t)seq, &rc);
    wt_send(job, 0, 1, b, big, (uint64_t)seq, &s);
    if (!mid_data) {
        double until = weft__now() + 5.0;

        while (o->state != TCP_OP_RECV_RNDV && weft__now() < until) {
            tcp->progress(job->r[1].tl);
        }
        cr_assert_eq(o->state, TCP_OP_RECV_RNDV);
    } else {
        cr_assert(WT_WAIT(
            job, o->state == TCP_OP_RECV_RNDV && o->msg->received > 0, 5.0));
        cr_assert_lt(o->msg->received, big, "all data arrived too soon");
    }
    tcp->cancel(job->r[1].ep[0], &rc.op);
    memset(rb, 0x55, big);
    cr_assert(WT_WAIT(job, s.done, 10.0),
              "the sender of a cancelled receive did not finish");
    cr_assert_eq(s.status, WEFT_OK);
    for (int k = 0; k < 50; k++) {
        wt_job_progress(job);
    }
    cr_assert_eq(rc.done, 0, "a cancelled receive completed");
    for (size_t i = 0; i < big; i += 4093) {
        cr_assert_eq(rb[i], 0x55, "a cancelled receive's buffer written");
    }
    free(b);
    free(rb);
}

Test(tl_tcp, cancelled_receive_never_completes_and_the_next_gets_it,
     .timeout = 20)
{
    wt_tcp_job_t job;
    wt_op_t s, r_cancelled, r;
    uint8_t sbuf[100], rbuf[100], junk[100];

    wt_job_start(&job, 2, NULL);
    wt_fill(sbuf, sizeof(sbuf), 0, 1);
    wt_recv(&job, 1, 0, junk, sizeof(junk), 3, &r_cancelled);
    tcp->cancel(job.r[1].ep[0], &r_cancelled.op);
    wt_send(&job, 0, 1, sbuf, sizeof(sbuf), 3, &s);
    wt_recv(&job, 1, 0, rbuf, sizeof(rbuf), 3, &r);
    cr_assert(WT_WAIT(&job, s.done && r.done, 10.0));
    cr_assert_eq(r.status, WEFT_OK);
    cr_assert_eq(wt_verify(rbuf, sizeof(rbuf), 0, 1), sizeof(rbuf));
    cr_assert_eq(r_cancelled.done, 0, "a cancelled receive completed");

    wt_cancel_rndv(&job, 0, 4); /* CTS not sent yet: a CTS of 0 bytes */
    wt_cancel_rndv(&job, 0, 5); /* links up: the CTS is out, data dropped */
    wt_cancel_rndv(&job, 1, 6); /* half the data in, the rest dropped */
    wt_exchange(&job, wt_eager_default() + 4464, 12);
    wt_exchange(&job, 3u << 20, 13);
    cr_assert(wt_no_failures(&job));
    wt_job_stop(&job);
}

Test(tl_tcp, cancelled_send_that_had_not_started_is_dropped, .timeout = 20)
{
    wt_tcp_job_t job;
    wt_op_t s1, s2, r;
    uint8_t a[64], b[64], rbuf[64];

    wt_job_start(&job, 2, NULL);
    wt_fill(a, sizeof(a), 0, 1);
    wt_fill(b, sizeof(b), 0, 2);
    /* the link is not up yet: both wait in the queue */
    wt_send(&job, 0, 1, a, sizeof(a), 8, &s1);
    wt_send(&job, 0, 1, b, sizeof(b), 8, &s2);
    cr_assert_eq(s1.done, 0);
    tcp->cancel(job.r[0].ep[1], &s1.op);
    wt_recv(&job, 1, 0, rbuf, sizeof(rbuf), 8, &r);
    cr_assert(WT_WAIT(&job, s2.done && r.done, 10.0));
    cr_assert_eq(wt_verify(rbuf, sizeof(rbuf), 0, 2), sizeof(rbuf),
                 "the receive got the cancelled message");
    cr_assert_eq(s1.done, 0);
    cr_assert(wt_no_failures(&job));
    wt_job_stop(&job);
}

/* ---- round-robin: a small message overtakes a large transfer ------------ */

Test(tl_tcp, small_message_is_not_stuck_behind_a_large_one, .timeout = 30)
{
    wt_tcp_job_t job;
    size_t big = 64u << 20;
    uint8_t *b = malloc(big), *rb = malloc(big);
    uint8_t small[16] = "small", rsmall[16];
    wt_op_t sb, rbig, ss, rs;

    wt_job_start(&job, 2, NULL);
    memset(b, 1, big);
    wt_recv(&job, 1, 0, rb, big, 1, &rbig);
    wt_recv(&job, 1, 0, rsmall, sizeof(rsmall), 2, &rs);
    wt_send(&job, 0, 1, b, big, 1, &sb);
    cr_assert(
        WT_WAIT(&job, weft__tcp_op(&sb.op)->state == TCP_OP_SEND_DATA, 10.0));
    wt_send(&job, 0, 1, small, sizeof(small), 2, &ss);
    cr_assert(WT_WAIT(&job, rs.done, 10.0));
    cr_assert_eq(rbig.done, 0, "the small message waited for 64 MiB");
    cr_assert(WT_WAIT(&job, rbig.done && sb.done, 20.0));
    cr_assert_eq(rbig.status, WEFT_OK);
    free(b);
    free(rb);
    wt_job_stop(&job);
}

/* An EAGER payload that is half in when the receive is posted, and one
 * whose receive is cancelled half way: the first arrives whole, the
 * second's rest is dropped (its buffer untouched), the next is intact. */
Test(tl_tcp, receive_posted_or_cancelled_in_the_middle_of_a_payload,
     .timeout = 20)
{
    enum { LEN = 60000, HALF = 30000 };
    static uint8_t m1[LEN], m2[LEN], r1[LEN], r2[LEN], r3[16];
    wt_tcp_job_t job;
    wt_op_t w1, w2, w3;
    int fd;

    wt_job_start(&job, 2, NULL);
    fd = wt_fake_rank(&job, 1);
    wt_fill(m1, LEN, 1, 1);
    wt_fill(m2, LEN, 1, 2);

    wt_fake_frame(&job, fd, WEFT_WIRE_EAGER, 1, LEN, 1, 0, LEN);
    wt_fake_write(&job, fd, m1, HALF);
    wt_progress_for(&job, 0.05);
    wt_recv(&job, 0, 1, r1, LEN, 1, &w1);
    cr_assert_eq(w1.done, 0);
    wt_fake_write(&job, fd, m1 + HALF, LEN - HALF);
    cr_assert(WT_WAIT(&job, w1.done, 5.0));
    cr_assert_eq(w1.status, WEFT_OK);
    cr_assert_eq(wt_verify(r1, LEN, 1, 1), LEN);

    memset(r2, 0x55, LEN);
    wt_recv(&job, 0, 1, r2, LEN, 2, &w2);
    wt_fake_frame(&job, fd, WEFT_WIRE_EAGER, 1, LEN, 2, 0, LEN);
    wt_fake_write(&job, fd, m2, HALF);
    cr_assert(WT_WAIT(&job,
                      weft__tcp_op(&w2.op)->state == TCP_OP_RECV_EAGER &&
                          job.r[0].ep[1]->conn->dst_left <= LEN - HALF,
                      5.0));
    tcp->cancel(job.r[0].ep[1], &w2.op);
    wt_fake_write(&job, fd, m2 + HALF, LEN - HALF);
    wt_fake_frame(&job, fd, WEFT_WIRE_EAGER, 1, 5, 3, 0, 5);
    wt_fake_write(&job, fd, "three", 5);
    wt_recv(&job, 0, 1, r3, sizeof(r3), 3, &w3);
    cr_assert(WT_WAIT(&job, w3.done, 5.0));
    cr_assert_eq(w3.status, WEFT_OK);
    cr_assert_eq(w3.bytes, 5);
    cr_assert_eq(memcmp(r3, "three", 5), 0);
    cr_assert_eq(w2.done, 0, "a cancelled receive completed");
    for (size_t i = HALF; i < LEN; i++) {
        cr_assert_eq(r2[i], 0x55, "byte %zu written after cancel", i);
    }
    cr_assert(wt_no_failures(&job));
    close(fd);
    wt_job_stop(&job);
}

/* ---- addresses and shutdown --------------------------------------------- */

Test(tl_tcp, address_blob_round_trips_and_rejects_garbage, .timeout = 10)
{
    wt_tcp_job_t job;
    weft__tcp_addr_t addr;
    char why[128];
    uint8_t bad[WEFT_TL_ADDR_MAX];
    weft_tl_peer_t info;

    wt_job_start(&job, 2, NULL);
    cr_assert_leq(job.r[0].addr_len, WEFT_TL_ADDR_MAX);
    cr_assert_eq(weft__tcp_addr_unpack(job.r[0].addr, job.r[0].addr_len, &addr,
                                       why, sizeof(why)),
                 WEFT_OK);
    cr_assert_eq(addr.eager_limit, wt_eager_default());
    cr_assert_eq(addr.max_data, 1u << 20);
    cr_assert_geq(addr.n, 1);
    memcpy(bad, job.r[0].addr, job.r[0].addr_len);
    bad[0] ^= 1;
    cr_assert_eq(
        weft__tcp_addr_unpack(bad, job.r[0].addr_len, &addr, why, sizeof(why)),
        WEFT_ERR_PROTOCOL);
    cr_assert_eq(weft__tcp_addr_unpack(job.r[0].addr, job.r[0].addr_len - 1,
                                       &addr, why, sizeof(why)),
                 WEFT_ERR_PROTOCOL);
    info = wt_peer_info(&job.r[0], 1);
    info.addr = bad;
    cr_assert_eq(tcp->reachable(job.r[1].tl, &info), 0);
    wt_job_stop(&job);
}

static weft__tcp_addr_entry_t
wt_entry(const char *ip, unsigned prefix, int loopback, const char *ifname)
{
    weft__tcp_addr_entry_t e;

    memset(&e, 0, sizeof(e));
    inet_pton(AF_INET, ip, &e.ip);
    e.port = 4000;
    e.prefix = (uint8_t)prefix;
    e.flags = loopback ? TCP_ADDR_F_LOOPBACK : 0;
    weft__strlcpy(e.ifname, ifname, sizeof(e.ifname));
    return e;
}

Test(tl_tcp, address_choice_prefers_loopback_then_subnet_then_first,
     .timeout = 10)
{
    static weft_tl_t own; /* only its listener list is looked at */
    weft__tcp_addr_t peer;

    memset(&own, 0, sizeof(own));
    own.n_lis = 3;
    own.lis[0].addr = wt_entry("127.0.0.1", 8, 1, "lo");
    own.lis[1].addr = wt_entry("10.1.2.3", 16, 0, "eth0");
    own.lis[2].addr = wt_entry("172.16.5.1", 24, 0, "ib0");
    memset(&peer, 0, sizeof(peer));
    peer.n = 4;
    peer.e[0] = wt_entry("192.168.0.9", 24, 0, "wlan0");
    peer.e[1] = wt_entry("127.0.0.1", 8, 1, "lo");
    peer.e[2] = wt_entry("172.16.5.7", 24, 0, "ib0");
    peer.e[3] = wt_entry("10.1.200.4", 16, 0, "eth0");
    cr_assert_eq(weft__tcp_addr_choose(&own, &peer, 1), 1, "same node: lo");
    cr_assert_eq(weft__tcp_addr_choose(&own, &peer, 0), 2,
                 "other node: the first in one of our subnets");
    peer.e[2] = wt_entry("172.16.6.7", 24, 0, "ib0");
    cr_assert_eq(weft__tcp_addr_choose(&own, &peer, 0), 3);
    peer.e[3] = wt_entry("10.2.0.4", 16, 0, "eth0");
    cr_assert_eq(weft__tcp_addr_choose(&own, &peer, 0), 0,
                 "no shared subnet: its first non-loopback address");
    peer.n = 1;
    peer.e[0] = wt_entry("127.0.0.1", 8, 1, "lo");
    cr_assert_eq(weft__tcp_addr_choose(&own, &peer, 0), -1,
                 "loopback only cannot reach another node");
    cr_assert_eq(weft__tcp_addr_choose(&own, &peer, 1), 0);
}

Test(tl_tcp, idle_progress_is_cheap_and_wait_fd_is_the_epoll_fd, .timeout = 10)
{
    wt_tcp_job_t job;

    wt_job_start(&job, 2, NULL);
    cr_assert_geq(tcp->wait_fd(job.r[0].tl), 0);
    cr_assert_eq(tcp->progress(job.r[0].tl), 0);
    wt_job_stop(&job);
}
