/*
 * The ofi transport module driven directly through the transport ABI
 * (two or four instances in one process, or a forked peer), over
 * libfabric's tcp (tcp;ofi_rxm) and shm providers: truncation, cancel,
 * many in flight, large messages, order within a tag, registration, first
 * messages that come before the receiver has made its links, a peer that
 * is killed, a peer that says goodbye, and a provider that cannot open.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "tl_ofi_helpers.h"

/* ---- truncation -----------------------------------------------------------
 */

WT_OFI_PARAMS(truncation_gives_the_prefix_and_the_sender_is_fine)
ParameterizedTest(wt_ofi_case_t *c, tl_ofi,
                  truncation_gives_the_prefix_and_the_sender_is_fine,
                  .timeout = 60)
{
    static const size_t sizes[] = {51, 100, 70000, (1u << 20) + 7};
    wt_pair_t p;

    wt_pair_open(&p, c);
    for (int i = 0; i < 4; i++) {
        size_t n = sizes[i];
        uint8_t *out = malloc(n), in[66];
        wt_op_t s, r, *both[2] = {&s, &r};

        wt_fill(out, n, 0, i);
        memset(in, 0xee, sizeof(in));
        wt_recv(&p, 1, in, 50, 10 + i, &r);
        wt_send(&p, 0, out, n, 10 + i, &s);
        cr_assert(wt_pair_wait(&p, both, 2), "%s: size %zu never completed",
                  c->prov, n);
        cr_assert_eq(r.status, WEFT_ERR_TRUNCATED, "%s: size %zu: %s", c->prov,
                     n, weft_status_string(r.status));
        cr_assert_eq(r.bytes, 50, "%s: size %zu: %zu bytes", c->prov, n,
                     r.bytes);
        cr_assert_eq(s.status, WEFT_OK, "%s: size %zu: the sender got %s",
                     c->prov, n, weft_status_string(s.status));
        cr_assert_eq(wt_verify(in, 50, 0, i), 50, "%s: size %zu: prefix",
                     c->prov, n);
        for (int g = 50; g < 66; g++) {
            cr_assert_eq(in[g], 0xee, "%s: size %zu: byte %d written", c->prov,
                         n, g);
        }
        cr_assert_eq(r.done, 1, "completed %d times", r.done);
        free(out);
    }
    /* the link still works */
    {
        uint32_t a = 42, b = 0;
        wt_op_t s, r, *both[2] = {&s, &r};

        wt_recv(&p, 1, &b, 4, 99, &r);
        wt_send(&p, 0, &a, 4, 99, &s);
        cr_assert(wt_pair_wait(&p, both, 2));
        cr_assert_eq(b, 42);
        cr_assert_eq(r.status, WEFT_OK);
    }
    wt_pair_close(&p);
}

/* ---- cancel -----------------------------------------------------------------
 */

WT_OFI_PARAMS(a_cancelled_receive_never_completes_nor_takes_a_message)
ParameterizedTest(wt_ofi_case_t *c, tl_ofi,
                  a_cancelled_receive_never_completes_nor_takes_a_message,
                  .timeout = 60)
{
    wt_pair_t p;
    uint64_t x = 7, y = 0, z = 0;
    static uint8_t big[1 << 20];
    wt_op_t r1, r2, s, rb, *two[2] = {&r2, &s};

    wt_pair_open(&p, c);
    wt_recv(&p, 1, &y, 8, 5, &r1);
    wt_recv(&p, 1, big, sizeof(big), 6, &rb);
    for (int i = 0; i < 100; i++) {
        wt_ofi->progress(p.tl[1]);
    }
    wt_ofi->cancel(p.ep[1], &r1.op);
    wt_ofi->cancel(p.ep[1], &rb.op);
    wt_recv(&p, 1, &z, 8, 5, &r2);
    wt_send(&p, 0, &x, 8, 5, &s);
    cr_assert(wt_pair_wait(&p, two, 2), "%s", c->prov);
    for (int i = 0; i < 1000; i++) {
        wt_ofi->progress(p.tl[0]);
        wt_ofi->progress(p.tl[1]);
    }
    cr_assert_eq(r1.done, 0, "%s: the cancelled receive completed (%s)",
                 c->prov, weft_status_string(r1.status));
    cr_assert_eq(rb.done, 0, "%s: the cancelled large receive completed",
                 c->prov);
    cr_assert_eq(y, 0, "%s: the cancelled receive took the message", c->prov);
    cr_assert_eq(z, 7, "%s: the next receive got %llu", c->prov,
                 (unsigned long long)z);
    wt_pair_close(&p);
}

/* ---- many in flight, order within a tag, large -------------------------- */

WT_OFI_PARAMS(many_in_flight_keep_their_order_within_each_tag)
ParameterizedTest(wt_ofi_case_t *c, tl_ofi,
                  many_in_flight_keep_their_order_within_each_tag,
                  .timeout = 90)
{
    enum { N = 2000, TAGS = 4 };
    /* sizes cross the inject, eager and rendezvous protocols */
    static const size_t sizes[] = {0, 8, 1000, 20000, 70000};
    wt_pair_t p;
    uint8_t **out = calloc(N, sizeof(*out)), **in = calloc(N, sizeof(*in));
    wt_op_t *ops = calloc(2 * N, sizeof(*ops));
    wt_op_t **all = calloc(2 * N, sizeof(*all));
    int posted = 0;

    wt_pair_open(&p, c);
    /* half the receives first (expected), the rest after (unexpected) */
    for (int i = 0; i < N / 2; i++) {
        size_t n = sizes[i % 5];

        in[i] = malloc(n + 1);
        wt_recv(&p, 1, in[i], n, i % TAGS, &ops[N + i]);
    }
    for (int i = 0; i < N; i++) {
        size_t n = sizes[i % 5];

        out[i] = malloc(n + 1);
        wt_fill(out[i], n, 0, i);
        wt_send(&p, 0, out[i], n, i % TAGS, &ops[i]);
        if (i % 64 == 0) {
            wt_ofi->progress(p.tl[0]);
            wt_ofi->progress(p.tl[1]);
        }
    }
    for (int i = N / 2; i < N; i++) {
        size_t n = sizes[i % 5];

        in[i] = malloc(n + 1);
        wt_recv(&p, 1, in[i], n, i % TAGS, &ops[N + i]);
    }
    for (int i = 0; i < 2 * N; i++) {
        all[posted++] = &ops[i];
    }
    cr_assert(wt_pair_wait(&p, all, posted), "%s: not all completed", c->prov);
    for (int i = 0; i < N; i++) {
        size_t n = sizes[i % 5];

        cr_assert_eq(ops[i].status, WEFT_OK, "%s: send %d", c->prov, i);
        cr_assert_eq(ops[N + i].status, WEFT_OK, "%s: receive %d: %s", c->prov,
                     i, weft_status_string(ops[N + i].status));
        cr_assert_eq(ops[N + i].bytes, n, "%s: receive %d", c->prov, i);
        /* the i-th receive of a tag holds the i-th send of that tag */
        cr_assert_eq(wt_verify(in[i], n, 0, i), n,
                     "%s: receive %d (tag %d) holds another message", c->prov,
                     i, i % TAGS);
        cr_assert_eq(ops[i].done + ops[N + i].done, 2, "%s: op %d", c->prov, i);
        free(in[i]);
        free(out[i]);
    }
    free(in);
    free(out);
    free(ops);
    free(all);
    wt_pair_close(&p);
}

WT_OFI_PARAMS(large_messages_arrive_whole)
ParameterizedTest(wt_ofi_case_t *c, tl_ofi, large_messages_arrive_whole,
                  .timeout = 90)
{
    size_t n = (24u << 20) + 5;
    uint8_t *out = malloc(n), *in = malloc(n + 64);
    wt_pair_t p;

    wt_pair_open(&p, c);
    wt_fill(out, n, 0, 3);
    for (int round = 0; round < 2; round++) { /* again: the cached region */
        wt_op_t s, r, *both[2] = {&s, &r};

        memset(in, 0, n + 64);
        wt_recv(&p, 1, in, n + 64, 77, &r);
        wt_send(&p, 0, out, n, 77, &s);
        cr_assert(wt_pair_wait(&p, both, 2), "%s: 24 MiB never arrived",
                  c->prov);
        cr_assert_eq(r.status, WEFT_OK, "%s: %s", c->prov,
                     weft_status_string(r.status));
        cr_assert_eq(r.bytes, n, "%s: %zu bytes", c->prov, r.bytes);
        cr_assert_eq(wt_verify(in, n, 0, 3), n, "%s: round %d", c->prov, round);
    }
    free(in);
    free(out);
    wt_pair_close(&p);
}

/* ---- first messages before the receiver's links ------------------------ */

/* Wait (at most 20 s) until fd is readable, progressing tl meanwhile. */
static int
wt_wait_fd(weft_tl_t *tl, int fd)
{
    double deadline = wt_now() + 20;

    while (wt_now() < deadline) {
        struct timeval tv = {0, 0};
        fd_set fds;

        FD_ZERO(&fds);
        FD_SET(fd, &fds);
        if (select(fd + 1, &fds, NULL, NULL, &tv) > 0) {
            return 1;
        }
        wt_ofi->progress(tl);
    }
    return 0;
}

/* A forked rank: opens, hands its address up, links to rank 0 and sends
 * it (rank + 1000, tag 7) at once, says "sent" when the send has ended
 * (so the ranks' messages come in the order 1, 2, 3), then progresses
 * until rank 0 closes `done`. Exits 0 when its send ended well. */
static void
wt_first_sender(const wt_ofi_case_t *c, int rank, const void *addr0,
                size_t len0, int up, int done)
{
    wt_host_t h = {.prov = c->prov, .mr = c->mr};
    weft_tl_peer_t p0 = {.rank = 0,
                         .same_node = 1,
                         .node_id = "wt-node",
                         .addr = addr0,
                         .addr_len = len0};
    uint8_t a[WEFT_TL_ADDR_MAX];
    size_t alen = sizeof(a);
    uint64_t v = 1000 + (uint64_t)rank;
    double deadline = wt_now() + 20;
    weft_tl_t *tl;
    weft_tl_ep_t *ep;
    wt_op_t s;
    char x;

    if (wt_open_n(&h, rank, 4, &tl) != WEFT_OK ||
        wt_ofi->address(tl, a, &alen) != WEFT_OK ||
        write(up, &alen, sizeof(alen)) != sizeof(alen) ||
        write(up, a, alen) != (ssize_t)alen ||
        wt_ofi->ep_create(tl, &p0, &ep) != WEFT_OK) {
        _exit(2);
    }
    wt_op_init(&s);
    if (wt_ofi->isend(ep, &v, 8, 7, &s.op) != WEFT_OK) {
        _exit(3);
    }
    while (s.done == 0 && wt_now() < deadline) {
        wt_ofi->progress(tl);
    }
    if (write(up, "s", 1) != 1) {
        _exit(3);
    }
    if (wt_wait_fd(tl, done)) {
        (void)read(done, &x, 1); /* EOF: rank 0 is done (or gone) */
    }
    wt_ofi->fini(tl);
    _exit(s.done == 1 && s.status == WEFT_OK ? 0 : 4);
}

/* Ranks 1, 2, 3 (forked, one after the other) send to rank 0 as soon as
 * they have a link to it; rank 0 makes its links only after those
 * messages could have come, and posts its receives the other way round
 * (from 3, 2, 1). Over libfabric 1.17's shm a message from a peer not yet
 * in the receiver's AV matched any receive with its tag, so the receive
 * from rank 3 took rank 1's message. */
WT_OFI_PARAMS(first_messages_before_the_receivers_links_match_their_sender)
ParameterizedTest(wt_ofi_case_t *c, tl_ofi,
                  first_messages_before_the_receivers_links_match_their_sender,
                  .timeout = 90)
{
    enum { N = 4 };
    wt_host_t h = {.prov = c->prov, .mr = c->mr};
    uint8_t addr[N][WEFT_TL_ADDR_MAX];
    size_t len[N];
    int up[2], done[2];
    pid_t pid[N];
    int status[N];
    uint64_t got[N];
    wt_op_t r[N];
    weft_tl_t *tl;
    double deadline;
    int left;

    wt_ofi_load();
    if (wt_open_n(&h, 0, N, &tl) != WEFT_OK) {
        cr_skip_test("libfabric provider %s does not open here: %s", c->prov,
                     h.last_log);
    }
    len[0] = sizeof(addr[0]);
    cr_assert_eq(wt_ofi->address(tl, addr[0], &len[0]), WEFT_OK);
    cr_assert_eq(pipe(done), 0);
    for (int i = 1; i < N; i++) {
        char x;

        cr_assert_eq(pipe(up), 0);
        pid[i] = fork();
        cr_assert(pid[i] >= 0);
        if (pid[i] == 0) {
            close(up[0]);
            close(done[1]);
            wt_first_sender(c, i, addr[0], len[0], up[1], done[0]);
        }
        close(up[1]);
        cr_assert_eq(read(up[0], &len[i], sizeof(len[i])), sizeof(len[i]));
        cr_assert_eq(read(up[0], addr[i], len[i]), (ssize_t)len[i]);
        /* rank 0 progresses meanwhile, without a link to it yet */
        cr_assert(wt_wait_fd(tl, up[0]) && read(up[0], &x, 1) == 1,
                  "%s: the send of rank %d never ended", c->prov, i);
        close(up[0]);
    }
    close(done[0]);
    deadline = wt_now() + 0.3; /* their messages reach rank 0 */
    while (wt_now() < deadline) {
        wt_ofi->progress(tl);
    }
    for (int i = N - 1; i > 0; i--) {
        weft_tl_ep_t *ep = wt_connect(tl, i, addr[i], len[i]);

        got[i] = 0;
        wt_op_init(&r[i]);
        cr_assert_eq(wt_ofi->irecv(ep, &got[i], 8, 7, &r[i].op), WEFT_OK);
    }
    deadline = wt_now() + 20;
    do {
        wt_ofi->progress(tl);
        left = 0;
        for (int i = 1; i < N; i++) {
            left += r[i].done == 0;
        }
    } while (left > 0 && wt_now() < deadline);
    close(done[1]); /* the senders may finish */
    for (int i = 1; i < N; i++) {
        while (waitpid(pid[i], &status[i], WNOHANG) == 0) {
            wt_ofi->progress(tl); /* their goodbyes */
        }
    }
    wt_ofi->fini(tl); /* before any assertion: no shm segment left behind */
    for (int i = 1; i < N; i++) {
        cr_assert_eq(r[i].done, 1, "%s: the receive from rank %d never ended",
                     c->prov, i);
        cr_assert_eq(r[i].status, WEFT_OK, "%s: receive from rank %d: %s",
                     c->prov, i, weft_status_string(r[i].status));
        cr_assert_eq(got[i], 1000 + (uint64_t)i,
                     "%s: the receive from rank %d got rank %d's message",
                     c->prov, i, (int)(got[i] - 1000));
        cr_assert(WIFEXITED(status[i]) && WEXITSTATUS(status[i]) == 0,
                  "%s: rank %d ended with status %d", c->prov, i, status[i]);
    }
}

/* ---- goodbye --------------------------------------------------------------
 */

WT_OFI_PARAMS(a_peer_that_says_goodbye_ends_standing_receives_quietly)
ParameterizedTest(wt_ofi_case_t *c, tl_ofi,
                  a_peer_that_says_goodbye_ends_standing_receives_quietly,
                  .timeout = 60)
{
    wt_pair_t p;
    uint64_t a = 1, b = 0, ctl = 0;
    wt_op_t s, r, st, *one[1] = {&st}, *two[2] = {&s, &r};

    wt_pair_open(&p, c);
    /* a message first, so the link is up */
    wt_recv(&p, 0, &b, 8, 1, &r);
    wt_send(&p, 1, &a, 8, 1, &s);
    cr_assert(wt_pair_wait(&p, two, 2));
    wt_recv(&p, 0, &ctl, 8, WEFT_TL_TAG_STANDING | 3, &st);
    wt_ofi->fini(p.tl[1]);
    p.tl[1] = NULL;
    {
        double deadline = wt_now() + 10;

        while (st.done == 0 && wt_now() < deadline) {
            wt_ofi->progress(p.tl[0]);
        }
    }
    (void)one;
    cr_assert_eq(st.done, 1, "%s: the standing receive never ended", c->prov);
    cr_assert_eq(st.status, WEFT_ERR_PEER_LOST, "%s: %s", c->prov,
                 weft_status_string(st.status));
    cr_assert_eq(p.h[0].failed_calls, 0,
                 "%s: an orderly goodbye was reported as a failure", c->prov);
    /* sends to it now fail at once */
    {
        wt_op_t x;

        wt_op_init(&x);
        cr_assert_eq(wt_ofi->isend(p.ep[0], &a, 8, 1, &x.op),
                     WEFT_ERR_PEER_LOST);
    }
    wt_ofi->fini(p.tl[0]);
}

/* ---- a killed peer ----------------------------------------------------------
 */

WT_OFI_PARAMS(a_killed_peer_fails_pending_ops_within_the_deadline)
ParameterizedTest(wt_ofi_case_t *c, tl_ofi,
                  a_killed_peer_fails_pending_ops_within_the_deadline,
                  .timeout = 60)
{
    int to_child[2], to_parent[2];
    uint8_t addr[2][WEFT_TL_ADDR_MAX];
    size_t len[2] = {sizeof(addr[0]), sizeof(addr[1])};
    wt_host_t h = {.prov = c->prov, .mr = c->mr};
    weft_tl_t *tl;
    weft_tl_ep_t *ep;
    static uint8_t big[4u << 20];
    uint64_t x = 0;
    wt_op_t r, s;
    pid_t pid;
    double t0;

    wt_ofi_load();
    if (wt_open(&h, 0, &tl) != WEFT_OK) {
        cr_skip_test("libfabric provider %s does not open here: %s", c->prov,
                     h.last_log);
    }
    cr_assert_eq(wt_ofi->address(tl, addr[0], &len[0]), WEFT_OK);
    cr_assert_eq(pipe(to_child), 0);
    cr_assert_eq(pipe(to_parent), 0);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        /* the peer: opens, links, says hello, then waits to be killed */
        wt_host_t ch = {.prov = c->prov, .mr = c->mr};
        weft_tl_t *ctl;
        weft_tl_ep_t *cep;
        uint8_t a[WEFT_TL_ADDR_MAX];
        size_t alen = sizeof(a);
        uint64_t hello = 1;
        wt_op_t hs;

        if (wt_open(&ch, 1, &ctl) != WEFT_OK ||
            wt_ofi->address(ctl, a, &alen) != WEFT_OK ||
            write(to_parent[1], &alen, sizeof(alen)) != sizeof(alen) ||
            write(to_parent[1], a, alen) != (ssize_t)alen) {
            _exit(2);
        }
        {
            weft_tl_peer_t pp = {.rank = 0,
                                 .same_node = 1,
                                 .node_id = "wt-node",
                                 .addr = addr[0],
                                 .addr_len = len[0]};

            if (wt_ofi->ep_create(ctl, &pp, &cep) != WEFT_OK) {
                _exit(3);
            }
        }
        wt_op_init(&hs);
        wt_ofi->isend(cep, &hello, 8, 1, &hs.op);
        for (;;) {
            wt_ofi->progress(ctl);
            usleep(100);
        }
    }
    cr_assert_eq(read(to_parent[0], &len[1], sizeof(len[1])), sizeof(len[1]));
    cr_assert_eq(read(to_parent[0], addr[1], len[1]), (ssize_t)len[1]);
    ep = wt_connect(tl, 1, addr[1], len[1]);
    {
        double deadline = wt_now() + 10;

        wt_op_init(&r);
        cr_assert_eq(wt_ofi->irecv(ep, &x, 8, 1, &r.op), WEFT_OK);
        while (r.done == 0 && wt_now() < deadline) {
            wt_ofi->progress(tl);
        }
        cr_assert_eq(r.status, WEFT_OK, "%s: hello", c->prov);
    }
    /* pending: a receive it will never send, and a send it never takes */
    wt_op_init(&r);
    wt_op_init(&s);
    cr_assert_eq(wt_ofi->irecv(ep, &x, 8, 2, &r.op), WEFT_OK);
    cr_assert_eq(wt_ofi->isend(ep, big, sizeof(big), 3, &s.op), WEFT_OK);
    for (int i = 0; i < 100; i++) {
        wt_ofi->progress(tl);
    }
    kill(pid, SIGKILL);
    t0 = wt_now();
    while ((r.done == 0 || s.done == 0) && wt_now() < t0 + 15) {
        wt_ofi->progress(tl);
        usleep(100);
    }
    waitpid(pid, NULL, 0);
    wt_shm_forget(pid);
    cr_assert_eq(r.done, 1,
                 "%s: the receive from the killed peer never "
                 "ended",
                 c->prov);
    cr_assert_eq(s.done, 1, "%s: the send to the killed peer never ended",
                 c->prov);
    cr_assert_eq(r.status, WEFT_ERR_PEER_LOST, "%s: receive: %s", c->prov,
                 weft_status_string(r.status));
    cr_assert_eq(s.status, WEFT_ERR_PEER_LOST, "%s: send: %s", c->prov,
                 weft_status_string(s.status));
    cr_assert_eq(h.failed_calls, 1, "%s: peer_failed called %d times", c->prov,
                 h.failed_calls);
    cr_assert_eq(h.failed_peer, 1);
    cr_log_info("%s: the killed peer was noticed after %.3f s", c->prov,
                wt_now() - t0);
    wt_ofi->fini(tl);
}

/* ---- hints ------------------------------------------------------------- */

/* WEFT_TL_HINT_ONE_LARGE (the node-aware allreduce's leaders then keep
 * one segment in flight): rxm over tcp says it, shm does not. */
WT_OFI_PARAMS(rxm_over_tcp_asks_for_one_large_message_at_a_time)
ParameterizedTest(wt_ofi_case_t *c, tl_ofi,
                  rxm_over_tcp_asks_for_one_large_message_at_a_time,
                  .timeout = 30)
{
    uint64_t want = strcmp(c->prov, "tcp") == 0 ? WEFT_TL_HINT_ONE_LARGE : 0;
    char msg[8] = "hints", got[8];
    wt_op_t s, r, *both[2] = {&s, &r};
    wt_pair_t p;

    wt_pair_open(&p, c);
    cr_assert(WEFT_TL_HAS_OP(wt_ofi, hints));
    for (int i = 0; i < 2; i++) {
        cr_expect_eq(wt_ofi->hints(p.tl[i]), want, "%s: hints 0x%llx", c->prov,
                     (unsigned long long)wt_ofi->hints(p.tl[i]));
    }
    /* a message both ways' hellos have gone before (as in every test
     * here: the pair is closed after traffic) */
    wt_recv(&p, 1, got, sizeof(got), 9, &r);
    wt_send(&p, 0, msg, sizeof(msg), 9, &s);
    cr_assert(wt_pair_wait(&p, both, 2), "%s: the message", c->prov);
    cr_expect_eq(memcmp(got, msg, sizeof(msg)), 0);
    wt_pair_close(&p);
}

/* ---- a provider that cannot open ----------------------------------------- */

Test(tl_ofi, a_provider_that_is_missing_is_named_with_the_ones_there,
     .timeout = 30)
{
    wt_host_t h = {.prov = "nonexistent", .mr = "auto"};
    weft_tl_t *tl = NULL;

    wt_ofi_load();
    cr_assert_eq(wt_open(&h, 0, &tl), WEFT_ERR_UNSUPPORTED);
    cr_assert_null(tl);
    cr_assert(strstr(h.last_log, "'nonexistent'") != NULL, "%s", h.last_log);
    cr_assert(strstr(h.last_log, "WEFT_OFI_PROVIDER") != NULL, "%s",
              h.last_log);
}

static void
wt_ofi_allreduce_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int rank = weft_comm_rank(w), n = weft_comm_size(w), sum = 0;

    WT_OK(weft_allreduce(&rank, &sum, 1, WEFT_INT32, WEFT_SUM, w));
    WT_CHECK(sum == n * (n - 1) / 2, "sum %d", sum);
}

Test(tl_ofi, a_job_goes_on_over_the_next_transport_when_ofi_cannot_open,
     .timeout = 60)
{
    wt_job_t job = {.nranks = 3,
                    .tl = "self,ofi,tcp",
                    .env = {"WEFT_OFI_PROVIDER=nonexistent"}};

    wt_ofi_load();
    cr_assert_eq(wt_run(&job, wt_ofi_allreduce_body, NULL), 0);
}

Test(tl_ofi, a_job_runs_over_ofi_alone, .timeout = 60)
{
    wt_job_t job = {.nranks = 4,
                    .tl = "self,ofi",
                    .env = {"FI_PROVIDER=tcp", "FI_TCP_IFACE=lo"}};

    wt_ofi_load();
    cr_assert_eq(wt_run(&job, wt_ofi_allreduce_body, NULL), 0);
}
