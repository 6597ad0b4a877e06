/*
 * The tcp transport driven directly (helpers in tl_tcp_helpers.c), when
 * things go wrong: peers killed, cut off by a cancelled send or finishing
 * (a clean exit against a crash on the one link), outsiders, simultaneous
 * connects forced by a fake rank, authenticated peers that break the
 * rules, and shutdown (BYE, then EOF or a reset).
 */
#include "build_config.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bootstrap/auth.h"
#include "tl_tcp_helpers.h"

/* ---- peers lost: killed, or a send cancelled half way ------------------- */

static void
wt_sigkill_child(wt_tcp_job_t *job, int rd, int wr, int arg)
{
    wt_op_t s, r;
    uint8_t out[32] = "from child", in[32];
    char ready = 'R';

    memset(&s, 0, sizeof(s));
    memset(&r, 0, sizeof(r));
    s.op.complete = r.op.complete = wt_complete;
    tcp->isend(job->r[1].ep[0], out, sizeof(out), 1, &s.op);
    tcp->irecv(job->r[1].ep[0], in, sizeof(in), 1, &r.op);
    wt_child_progress(job, &s.done);
    wt_child_progress(job, &r.done);
    if (write(wr, &ready, 1) != 1) {
        _exit(4);
    }
    /* a large send the parent takes in part before it kills us */
    {
        size_t big = 64u << 20;
        uint8_t *b = calloc(1, big);
        double until = weft__now() + 30.0;
        wt_op_t sb;

        sb.done = 0;
        sb.op.complete = wt_complete;
        tcp->isend(job->r[1].ep[0], b, big, 50, &sb.op);
        while (weft__now() < until) { /* the parent kills us long before */
            tcp->progress(job->r[1].tl);
        }
        _exit(5);
    }
}

Test(tl_tcp_faults, sigkilled_peer_fails_pending_receive_and_is_reported_once,
     .timeout = 20)
{
    wt_tcp_job_t job;
    wt_op_t s, r, pending, late, rndv_recv, rndv_send;
    uint8_t out[32] = "from parent", in[32], buf[64], *rbig;
    pid_t pid;
    int wstatus, rd, wr;

    pid = wt_child_start(&job, wt_sigkill_child, 0, &rd, &wr);
    wt_send(&job, 0, 1, out, sizeof(out), 1, &s);
    wt_recv(&job, 0, 1, in, sizeof(in), 1, &r);
    cr_assert(WT_WAIT(&job, s.done && r.done, 10.0));
    cr_assert_eq(r.status, WEFT_OK);
    cr_assert_str_eq((char *)in, "from child");
    cr_assert_eq(wt_child_wait(&job, rd), 'R');

    /* pending when it dies: an eager receive, a rendezvous receive with
     * part of its data in, and a rendezvous send waiting for its CTS */
    wt_recv(&job, 0, 1, buf, sizeof(buf), 99, &pending);
    rbig = malloc(64u << 20);
    wt_recv(&job, 0, 1, rbig, 64u << 20, 50, &rndv_recv);
    wt_send(&job, 0, 1, rbig, 2u << 20, 60, &rndv_send);
    cr_assert(WT_WAIT(&job,
                      weft__tcp_op(&rndv_recv.op)->msg != NULL &&
                          weft__tcp_op(&rndv_recv.op)->msg->received > 0,
                      10.0));
    cr_assert_eq(kill(pid, SIGKILL), 0);
    cr_assert_eq(waitpid(pid, &wstatus, 0), pid);
    cr_assert(
        WT_WAIT(&job, pending.done && rndv_recv.done && rndv_send.done, 10.0),
        "pending operations did not fail");
    cr_assert_eq(pending.status, WEFT_ERR_PEER_LOST, "got %s",
                 weft_status_string(pending.status));
    cr_assert_eq(rndv_recv.status, WEFT_ERR_PEER_LOST);
    cr_assert_eq(rndv_send.status, WEFT_ERR_PEER_LOST);
    free(rbig);
    cr_assert_eq(job.r[0].failed[1], 1);
    cr_assert_eq(job.r[0].failed_status[1], WEFT_ERR_PEER_LOST);
    for (int k = 0; k < 100; k++) {
        wt_job_progress(&job);
    }
    cr_assert_eq(job.r[0].failed[1], 1, "peer_failed called more than once");
    cr_assert_eq(pending.done + rndv_recv.done + rndv_send.done, 3,
                 "an operation completed twice");
    /* later ops to the lost peer fail at once */
    memset(&late, 0, sizeof(late));
    late.op.complete = wt_complete;
    cr_assert_eq(tcp->isend(job.r[0].ep[1], out, 1, 1, &late.op),
                 WEFT_ERR_PEER_LOST);
    cr_assert_eq(tcp->irecv(job.r[0].ep[1], buf, 1, 1, &late.op),
                 WEFT_ERR_PEER_LOST);
    cr_assert_eq(late.done, 0);
    close(rd);
    close(wr);
    wt_job_stop(&job);
}

/* A send cancelled after its RTS went out costs the link: the sender
 * fails that peer (ABORTED) and the receiver sees a loss; the cancelled
 * op never completes. */
Test(tl_tcp_faults, cancelled_send_after_its_rts_costs_the_link, .timeout = 20)
{
    wt_tcp_job_t job;
    size_t big = 1u << 20;
    uint8_t *b = calloc(1, big), rbuf[8];
    wt_op_t s, r0, r1;

    wt_job_start(&job, 2, NULL);
    wt_exchange(&job, 10, 1); /* links up both ways */
    wt_recv(&job, 0, 1, rbuf, sizeof(rbuf), 5, &r0);
    wt_recv(&job, 1, 0, rbuf, sizeof(rbuf), 5, &r1);
    wt_send(&job, 0, 1, b, big, 9, &s);
    cr_assert_eq(weft__tcp_op(&s.op)->state, TCP_OP_SEND_WAIT_CTS,
                 "the rts went out inline on an idle link");
    tcp->cancel(job.r[0].ep[1], &s.op);
    cr_assert(WT_WAIT(&job, r0.done && r1.done, 5.0));
    cr_assert_eq(r0.status, WEFT_ERR_ABORTED, "got %s",
                 weft_status_string(r0.status));
    cr_assert_eq(r1.status, WEFT_ERR_PEER_LOST, "got %s",
                 weft_status_string(r1.status));
    cr_assert_eq(job.r[0].failed[1], 1);
    cr_assert_eq(job.r[1].failed[0], 1);
    wt_progress_for(&job, 0.05);
    cr_assert_eq(s.done, 0, "a cancelled send completed");
    free(b);
    wt_job_stop(&job);
}

/* An outsider with the job key passes as rank 1 (before the real one
 * connects), then breaks the framing: rank 1 is failed with PROTOCOL,
 * once, and its pending receive fails with it. */
/* ---- a clean exit against a crash, on the one link --------------------- */

enum {
    WT_EXIT_CLEAN = 1,
    WT_EXIT_CHILD_OPENS = 2,
    WT_EXIT_K = 8,
    WT_EXIT_M = 64
};

/* The child sends K messages (opening the link, or on the parent's),
 * says 'R', and takes nothing more in: the parent's M messages that
 * follow stay unread. On 'G' it finishes (fini: BYE) or crashes (exit
 * without fini: the kernel closes the socket, with a reset since data
 * is unread). */
static void
wt_exit_child(wt_tcp_job_t *job, int rd, int wr, int arg)
{
    wt_op_t s[WT_EXIT_K], r;
    uint8_t out[WT_EXIT_K][500], in[16];
    double until = weft__now() + 10.0;
    char c = 'R';
    int all = 0;

    if (!(arg & WT_EXIT_CHILD_OPENS)) { /* the parent's message first */
        memset(&r, 0, sizeof(r));
        r.op.complete = wt_complete;
        tcp->irecv(job->r[1].ep[0], in, sizeof(in), 1, &r.op);
        wt_child_progress(job, &r.done);
    }
    for (int i = 0; i < WT_EXIT_K; i++) {
        wt_fill(out[i], sizeof(out[i]), 1, 100 + i);
        memset(&s[i], 0, sizeof(s[i]));
        s[i].op.complete = wt_complete;
        if (tcp->isend(job->r[1].ep[0], out[i], sizeof(out[i]),
                       100 + (uint64_t)i, &s[i].op) != WEFT_OK) {
            _exit(6);
        }
    }
    while (!all) {
        all = 1;
        for (int i = 0; i < WT_EXIT_K; i++) {
            all &= s[i].done;
        }
        tcp->progress(job->r[1].tl);
        if (weft__now() > until) {
            _exit(7);
        }
    }
    if (write(wr, &c, 1) != 1 || read(rd, &c, 1) != 1) {
        _exit(8);
    }
    if (arg & WT_EXIT_CLEAN) {
        tcp->fini(job->r[1].tl);
    }
    _exit(0);
}

static void
wt_exit_case(int arg)
{
    const char *what = arg & WT_EXIT_CLEAN ? "clean exit" : "crash";
    const char *who = arg & WT_EXIT_CHILD_OPENS ? "child" : "parent";
    uint8_t hello[16] = "hello", junk[100] = {0}, in[WT_EXIT_K][500];
    wt_op_t hs, m[WT_EXIT_M], r[WT_EXIT_K], late;
    wt_tcp_job_t job;
    int rd, wr, wstatus;
    pid_t pid;
    char go = 'G';

    pid = wt_child_start(&job, wt_exit_child, arg, &rd, &wr);
    if (!(arg & WT_EXIT_CHILD_OPENS)) {
        wt_send(&job, 0, 1, hello, sizeof(hello), 1, &hs);
    }
    cr_assert_eq(wt_child_wait(&job, rd), 'R', "%s", what);
    cr_assert(WT_WAIT(&job,
                      job.r[0].ep[1]->conn != NULL &&
                          job.r[0].ep[1]->conn->state == TCP_CONN_OPEN,
                      5.0));
    cr_assert_eq(job.r[0].ep[1]->conn->own, !(arg & WT_EXIT_CHILD_OPENS),
                 "%s, %s opens: the link is the other side's", what, who);
    for (int i = 0; i < WT_EXIT_M; i++) { /* the child never reads these */
        wt_send(&job, 0, 1, junk, sizeof(junk), 7, &m[i]);
    }
    cr_assert_eq(write(wr, &go, 1), 1);
    cr_assert_eq(waitpid(pid, &wstatus, 0), pid);
    cr_assert(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0,
              "%s: the child failed (status 0x%x)", what, wstatus);
    cr_assert(WT_WAIT(&job, job.r[0].ep[1]->closed || job.r[0].failed[1], 5.0),
              "%s, %s opens: not noticed", what, who);
    wt_progress_for(&job, 0.02);
    memset(&late, 0, sizeof(late));
    late.op.complete = wt_complete;
    if (arg & WT_EXIT_CLEAN) {
        cr_assert_eq(job.r[0].failed[1], 0, "%s, %s opens: reported as a loss",
                     what, who);
        for (int i = 0; i < WT_EXIT_K; i++) { /* still deliverable */
            wt_recv(&job, 0, 1, in[i], sizeof(in[i]), 100 + (uint64_t)i, &r[i]);
            cr_assert_eq(r[i].done, 1);
            cr_assert_eq(r[i].status, WEFT_OK);
            cr_assert_eq(wt_verify(in[i], sizeof(in[i]), 1, 100 + i),
                         sizeof(in[i]));
        }
        cr_assert_eq(tcp->irecv(job.r[0].ep[1], in[0], 1, 3, &late.op),
                     WEFT_ERR_PEER_LOST);
    } else {
        cr_assert_eq(job.r[0].failed[1], 1, "%s, %s opens", what, who);
        cr_assert_eq(job.r[0].failed_status[1], WEFT_ERR_PEER_LOST);
        cr_assert_eq(
            tcp->irecv(job.r[0].ep[1], in[0], sizeof(in[0]), 100, &late.op),
            WEFT_ERR_PEER_LOST, "%s: a lost peer's messages stay", what);
    }
    cr_assert_lt(tcp->isend(job.r[0].ep[1], hello, 1, 1, &late.op), 0);
    cr_assert_eq(late.done, 0);
    close(rd);
    close(wr);
    wt_job_stop(&job);
}

Test(tl_tcp_faults, clean_exit_and_crash_on_the_one_link, .timeout = 30)
{
    for (int arg = 0; arg < 4; arg++) {
        wt_exit_case(arg);
    }
}

Test(tl_tcp_faults, outsider_garbage_and_wrong_key_change_nothing,
     .timeout = 30)
{
    wt_tcp_job_t job;
    uint8_t junk[512], wrong[WEFT_AUTH_KEY_LEN], x[4] = "x", y[4];
    weft__auth_hs_t hs;
    wt_op_t s, r;
    int fd;

    wt_job_start(&job, 3, NULL);
    wt_exchange(&job, 100, 1); /* both connect: rank 0's link to 1 wins */
    wt_recv(&job, 0, 2, y, sizeof(y), 1, &r);
    wt_send(&job, 2, 0, x, sizeof(x), 1, &s); /* rank 2's link to rank 0 */
    cr_assert(WT_WAIT(&job, s.done && r.done, 5.0));

    /* random bytes: closed without an answer */
    cr_assert_eq(weft__auth_random(junk, sizeof(junk)), WEFT_OK);
    fd = wt_outsider_connect(&job.r[0]);
    cr_assert_eq(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
    cr_assert(WT_WAIT(&job, wt_closed_by_server(fd), 5.0),
              "garbage did not get the connection closed");
    close(fd);

    /* a wrong key: the client sees the server cannot prove our key */
    cr_assert_eq(weft__auth_random(wrong, sizeof(wrong)), WEFT_OK);
    cr_assert_eq(wt_outsider_handshake(&job, wrong, 1, &hs), WEFT_ERR_AUTH,
                 "%s", hs.why);
    /* the right key, but rank 2 is connected already; rank 0's own link
     * to rank 1 is up (a higher rank connecting too loses); rank 0 */
    cr_assert_eq(wt_outsider_handshake(&job, job.key, 2, &hs), WEFT_ERR_AUTH,
                 "%s", hs.why);
    cr_assert_eq(hs.verdict, WEFT_AUTH_REJECT_DUPLICATE);
    cr_assert_eq(wt_outsider_handshake(&job, job.key, 1, &hs), WEFT_ERR_AUTH,
                 "%s", hs.why);
    cr_assert_eq(hs.verdict, WEFT_AUTH_REJECT_SIMULTANEOUS);
    cr_assert_eq(wt_outsider_handshake(&job, job.key, 0, &hs), WEFT_ERR_AUTH,
                 "%s", hs.why);
    cr_assert_eq(hs.verdict, WEFT_AUTH_REJECT_RANK);

    wt_exchange(&job, wt_eager_default() + 4000, 2);
    wt_exchange(&job, 10, 3);
    cr_assert_eq(job.r[0].tl->stats.connects, 1);
    cr_assert(wt_no_failures(&job));
    wt_job_stop(&job);
}

Test(tl_tcp_faults, two_hundred_idle_connections_do_not_block_a_transfer,
     .timeout = 30)
{
    enum { N = 200 };
    wt_tcp_job_t job;
    int fds[N], closed = 0;

    wt_job_start(&job, 2, NULL);
    for (int i = 0; i < N; i++) {
        fds[i] = wt_outsider_connect(&job.r[0]);
        wt_job_progress(&job);
    }
    for (int k = 0; k < 20; k++) {
        wt_job_progress(&job);
    }
    /* rank 1 connects to rank 0 after the flood, and back */
    wt_exchange(&job, 1000, 1);
    wt_exchange(&job, 500000, 2);
    for (int i = 0; i < N; i++) {
        closed += wt_closed_by_server(fds[i]);
        close(fds[i]);
    }
    /* WEFT_TCP_MAX_PENDING (64) kept at most: the oldest were dropped */
    cr_assert_geq(closed, N - 64, "only %d of %d idle connections dropped",
                  closed, N);
    cr_assert(wt_no_failures(&job));
    wt_job_stop(&job);
}

/* ---- simultaneous connects, forced by a fake rank 0 --------------------- */

/* Rank 1 connects to a fake rank 0, which rejects it as simultaneous:
 * rank 1 does not fail, keeps its frames and waits. Then either the fake
 * connects as rank 0 (rank 1 binds that link and writes the frames on
 * it, in order, and it carries the other direction too), or nothing
 * comes and rank 1 fails rank 0 at the handshake deadline. */
static void
wt_rejected_case(int arrives)
{
    uint8_t m1[5] = "one", m2[300], back[4] = "bak", got[300], in[4];
    wt_op_t s1, s2, r;
    weft__wire_hdr_t h;
    wt_tcp_job_t job;
    weft__tcp_conn_t *waiting;
    uint16_t port;
    int lfd, fd;

    wt_job_start_ex(&job, 2, NULL, NULL, arrives ? 3.0 : 0.5);
    lfd = wt_fake_listen(&job, 1, 0, &port);
    wt_fill(m2, sizeof(m2), 1, 2);
    wt_send(&job, 1, 0, m1, sizeof(m1), 1, &s1);
    wt_send(&job, 1, 0, m2, sizeof(m2), 2, &s2);
    fd = wt_fake_accept(&job, lfd);
    cr_assert_eq(wt_fake_serve(&job, fd, 0, WEFT_AUTH_REJECT_SIMULTANEOUS),
                 WEFT_ERR_AUTH);
    close(fd);
    waiting = job.r[1].ep[0]->conn;
    cr_assert(WT_WAIT(&job, waiting->state == TCP_CONN_WAIT, 5.0));
    cr_assert_eq(job.r[1].tl->stats.sim_waits, 1);
    wt_progress_for(&job, 0.05);
    cr_assert_eq(s1.done + s2.done, 0);
    cr_assert_eq(job.r[1].failed[0], 0, "a simultaneous reject is no loss");
    if (!arrives) {
        cr_assert(WT_WAIT(&job, s1.done && s2.done, 5.0));
        cr_assert_eq(s1.status, WEFT_ERR_PEER_LOST);
        cr_assert_eq(job.r[1].failed[0], 1);
        close(lfd);
        wt_job_stop(&job);
        return;
    }
    fd = wt_fake_rank_at(&job, 1, 0);
    cr_assert_eq(job.r[1].tl->stats.sim_drops, 1);
    wt_fake_read_frame(&job, fd, &h);
    cr_assert_eq(h.type, WEFT_WIRE_EAGER);
    cr_assert_eq(h.tag, 1);
    cr_assert_eq(h.len, sizeof(m1));
    wt_fake_read(&job, fd, got, sizeof(m1));
    cr_assert_eq(memcmp(got, m1, sizeof(m1)), 0);
    wt_fake_read_frame(&job, fd, &h);
    cr_assert_eq(h.tag, 2, "the queued frames came out of order");
    cr_assert_eq(h.len, sizeof(m2));
    wt_fake_read(&job, fd, got, sizeof(m2));
    cr_assert_eq(wt_verify(got, sizeof(m2), 1, 2), sizeof(m2));
    cr_assert(WT_WAIT(&job, s1.done && s2.done, 5.0));
    cr_assert_eq(s2.status, WEFT_OK);
    /* and the other way on the same socket */
    wt_recv(&job, 1, 0, in, sizeof(in), 3, &r);
    wt_fake_frame(&job, fd, WEFT_WIRE_EAGER, 0, sizeof(back), 3, 0,
                  sizeof(back));
    wt_fake_write(&job, fd, back, sizeof(back));
    cr_assert(WT_WAIT(&job, r.done, 5.0));
    cr_assert_eq(memcmp(in, back, sizeof(back)), 0);
    cr_assert(wt_no_failures(&job));
    close(fd);
    close(lfd);
    wt_job_stop(&job);
}

Test(tl_tcp_faults, rejected_as_simultaneous_waits_for_the_lower_ranks_link,
     .timeout = 20)
{
    wt_rejected_case(1);
    wt_rejected_case(0);
}

/* Rank 1's own connection to the fake rank 0 is stuck in its handshake
 * when the fake's own connection arrives: rank 1 takes the lower rank's
 * link, its own becomes an orphan, the queued frames go on the new link
 * in order, and the orphan's end at its deadline is no failure. A lower
 * rank never waits: rank 0 answered simultaneous by a higher rank
 * fails. */
Test(tl_tcp_faults, own_pending_link_is_dropped_for_the_lower_ranks,
     .timeout = 20)
{
    uint8_t m[3][64], got[64];
    wt_op_t s[3];
    weft__wire_hdr_t h;
    wt_tcp_job_t job;
    uint16_t port;
    int lfd, stuck, fd;

    wt_job_start_ex(&job, 2, NULL, NULL, 0.5);
    lfd = wt_fake_listen(&job, 1, 0, &port);
    for (int i = 0; i < 2; i++) {
        wt_fill(m[i], sizeof(m[i]), 1, i);
        wt_send(&job, 1, 0, m[i], sizeof(m[i]), (uint64_t)i, &s[i]);
    }
    stuck = wt_fake_accept(&job, lfd); /* its hello is never answered */
    cr_assert(
        WT_WAIT(&job, job.r[1].ep[0]->conn->state == TCP_CONN_HANDSHAKE, 5.0));
    fd = wt_fake_rank_at(&job, 1, 0);
    cr_assert_eq(job.r[1].tl->stats.sim_drops, 1);
    cr_assert_eq(job.r[1].tl->stats.sim_waits, 0);
    cr_assert_eq(job.r[1].ep[0]->conn->own, 0);
    wt_fill(m[2], sizeof(m[2]), 1, 2);
    wt_send(&job, 1, 0, m[2], sizeof(m[2]), 2, &s[2]);
    for (int i = 0; i < 3; i++) {
        wt_fake_read_frame(&job, fd, &h);
        cr_assert_eq(h.tag, (uint64_t)i, "frame %d out of order", i);
        wt_fake_read(&job, fd, got, sizeof(got));
        cr_assert_eq(wt_verify(got, sizeof(got), 1, i), sizeof(got));
    }
    cr_assert(WT_WAIT(&job, wt_closed_by_server(stuck), 2.0),
              "the orphan was not closed at its deadline");
    wt_progress_for(&job, 0.1);
    cr_assert(wt_no_failures(&job), "the orphan's end was taken as a loss");
    cr_assert_eq(job.r[1].ep[0]->conn->state, TCP_CONN_OPEN);
    close(stuck);
    close(fd);
    close(lfd);
    wt_job_stop(&job);

    /* rank 0 told simultaneous by a higher rank: a broken rule */
    wt_job_start_ex(&job, 2, NULL, NULL, 2.0);
    lfd = wt_fake_listen(&job, 0, 1, &port);
    wt_send(&job, 0, 1, m[0], sizeof(m[0]), 1, &s[0]);
    fd = wt_fake_accept(&job, lfd);
    cr_assert_eq(wt_fake_serve(&job, fd, 1, WEFT_AUTH_REJECT_SIMULTANEOUS),
                 WEFT_ERR_AUTH);
    cr_assert(WT_WAIT(&job, s[0].done, 5.0));
    cr_assert_eq(s[0].status, WEFT_ERR_AUTH, "got %s",
                 weft_status_string(s[0].status));
    cr_assert_eq(job.r[0].failed[1], 1);
    close(fd);
    close(lfd);
    wt_job_stop(&job);
}

/* Rendezvous rules broken by an authenticated peer: each is PROTOCOL,
 * fails the pending receive from it, and is reported once. */
Test(tl_tcp_faults, rendezvous_violations_fail_the_peer_with_protocol,
     .timeout = 30)
{
    enum { DATA_UNCLEARED, RTS_ID_REPEATED, CTS_UNKNOWN, AFTER_BYE, NCASES };
    static const char *const names[] = {"data without cts", "rts id repeated",
                                        "unknown cts", "frame after bye"};

    for (int c = 0; c < NCASES; c++) {
        wt_tcp_job_t job;
        wt_op_t pending;
        uint8_t buf[8];
        int fd;

        wt_job_start(&job, 2, NULL);
        wt_recv(&job, 0, 1, buf, sizeof(buf), 1, &pending);
        fd = wt_fake_rank(&job, 1);
        switch (c) {
        case DATA_UNCLEARED:
            wt_fake_frame(&job, fd, WEFT_WIRE_DATA, 1, 4, 0, 7, 0);
            wt_fake_write(&job, fd, "data", 4);
            break;
        case RTS_ID_REPEATED:
            wt_fake_frame(&job, fd, WEFT_WIRE_RTS, 1, 0, 9, 5, 100000);
            wt_fake_frame(&job, fd, WEFT_WIRE_RTS, 1, 0, 9, 5, 100000);
            break;
        case CTS_UNKNOWN:
            wt_fake_frame(&job, fd, WEFT_WIRE_CTS, 1, 0, 0, 42, 10);
            break;
        case AFTER_BYE:
            wt_fake_frame(&job, fd, WEFT_WIRE_BYE, 1, 0, 0, 0, 0);
            wt_fake_frame(&job, fd, WEFT_WIRE_EAGER, 1, 0, 1, 0, 0);
            break;
        }
        cr_assert(WT_WAIT(&job, pending.done, 5.0), "%s: no failure", names[c]);
        cr_assert_eq(pending.status, WEFT_ERR_PROTOCOL, "%s: got %s", names[c],
                     weft_status_string(pending.status));
        cr_assert_eq(job.r[0].failed[1], 1, "%s", names[c]);
        cr_assert(WT_WAIT(&job, wt_closed_by_server(fd), 5.0), "%s", names[c]);
        close(fd);
        wt_job_stop(&job);
    }
}

Test(tl_tcp_faults, authenticated_peer_sending_a_bad_frame_fails_with_protocol,
     .timeout = 20)
{
    wt_tcp_job_t job;
    weft__auth_hs_t hs;
    weft__wire_hdr_t h;
    uint8_t frame[WEFT_WIRE_HDR_LEN];
    uint8_t buf[16];
    wt_op_t pending;
    weft_status_t st = WEFT_INPROGRESS;
    int fd;

    wt_job_start(&job, 3, NULL);
    wt_recv(&job, 0, 1, buf, sizeof(buf), 1, &pending);
    fd = wt_outsider_connect(&job.r[0]);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    weft__auth_hs_client(&hs, job.key, WEFT_AUTH_PURPOSE_TCP, 1, 3,
                         weft__now() + 5.0);
    cr_assert(WT_WAIT(
        &job, (st = weft__auth_hs_progress(&hs, fd)) != WEFT_INPROGRESS, 6.0));
    cr_assert_eq(st, WEFT_OK, "%s", hs.why);
    /* a well-formed eager header that claims to come from rank 2 */
    memset(&h, 0, sizeof(h));
    h.type = WEFT_WIRE_EAGER;
    h.src = 2;
    h.tag = 1;
    weft__wire_encode(&h, frame);
    cr_assert_eq(write(fd, frame, sizeof(frame)), (ssize_t)sizeof(frame));
    cr_assert(WT_WAIT(&job, pending.done, 5.0));
    cr_assert_eq(pending.status, WEFT_ERR_PROTOCOL, "got %s",
                 weft_status_string(pending.status));
    cr_assert_eq(job.r[0].failed[1], 1);
    cr_assert_eq(job.r[0].failed_status[1], WEFT_ERR_PROTOCOL);
    cr_assert(WT_WAIT(&job, wt_closed_by_server(fd), 5.0));
    close(fd);
    /* the other peer is untouched */
    cr_assert_eq(job.r[0].failed[2], 0);
    {
        wt_op_t s, r;
        uint8_t out[8] = "ok", in[8];

        wt_recv(&job, 0, 2, in, sizeof(in), 5, &r);
        wt_send(&job, 2, 0, out, sizeof(out), 5, &s);
        cr_assert(WT_WAIT(&job, r.done && s.done, 5.0));
        cr_assert_eq(r.status, WEFT_OK);
    }
    wt_job_stop(&job);
}

/* A peer whose listener is gone: connects are refused and retried until
 * the handshake deadline, then the send fails and the host hears once. */
Test(tl_tcp_faults, unreachable_peer_fails_sends_after_the_handshake_deadline,
     .timeout = 20)
{
    wt_tcp_job_t job;
    wt_op_t s;
    uint8_t out[8] = "lost";
    double t0;

    wt_job_start_ex(&job, 2, NULL, NULL, 0.5);
    tcp->fini(job.r[1].tl); /* its listeners close; rank 0 keeps its ep */
    job.r[1].tl = NULL;
    t0 = weft__now();
    wt_send(&job, 0, 1, out, sizeof(out), 1, &s);
    cr_assert(WT_WAIT(&job, s.done, 5.0));
    cr_assert_eq(s.status, WEFT_ERR_PEER_LOST, "got %s",
                 weft_status_string(s.status));
    cr_assert_geq(weft__now() - t0, 0.3, "gave up long before the deadline");
    cr_assert_eq(job.r[0].failed[1], 1);
    tcp->fini(job.r[0].tl);
    job.r[0].tl = NULL;
    weft__config_free(&job.cfg);
}

/* A fake rank 1 sends an eager message and ends its link in one of five
 * ways. After its BYE, EOF or a reset is an orderly exit (the message
 * stays deliverable, nothing is reported); without one, either is a
 * loss. The last case resets after its BYE while rank 0 is sending: the
 * send fails on the socket, but the BYE waiting in the receive queue
 * still makes it an orderly exit (the send fails with PEER_LOST). */
Test(tl_tcp_faults, eof_or_reset_after_bye_is_an_exit_before_it_a_loss,
     .timeout = 20)
{
    enum { BYE_EOF, BYE_RESET, EOF_ONLY, RESET_ONLY, BYE_RESET_SENDING };
    static const char *const names[] = {"bye, eof", "bye, reset", "eof",
                                        "reset", "bye, reset while sending"};

    for (int c = 0; c <= BYE_RESET_SENDING; c++) {
        int bye = c == BYE_EOF || c == BYE_RESET || c == BYE_RESET_SENDING;
        int reset = c == BYE_RESET || c == RESET_ONLY || c == BYE_RESET_SENDING;
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        uint8_t msg[6] = "still", in[6], big[2048] = {0};
        wt_tcp_job_t job;
        wt_op_t r, s0, s, late;
        int fd;

        wt_job_start(&job, 2, NULL);
        fd = wt_fake_rank(&job, 1);
        wt_fake_frame(&job, fd, WEFT_WIRE_EAGER, 1, sizeof(msg), 5, 0,
                      sizeof(msg));
        wt_fake_write(&job, fd, msg, sizeof(msg));
        if (bye) {
            wt_fake_frame(&job, fd, WEFT_WIRE_BYE, 1, 0, 0, 0, 0);
        }
        if (c != BYE_RESET_SENDING) {
            wt_progress_for(&job, 0.02);
        } else { /* unread bytes at the fake turn its close into a reset */
            wt_send(&job, 0, 1, big, sizeof(big), 9, &s0);
            cr_assert(s0.done && s0.status == WEFT_OK);
        }
        if (reset) {
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        close(fd);
        if (c == BYE_RESET_SENDING) { /* before rank 0 reads anything */
            wt_send(&job, 0, 1, big, sizeof(big), 10, &s);
            cr_assert_neq(job.r[0].ep[1]->conn->send_err, 0,
                          "the send did not meet the reset");
        }
        cr_assert(WT_WAIT(&job,
                          job.r[0].ep[1]->closed || job.r[0].failed[1] > 0,
                          5.0),
                  "%s: not noticed", names[c]);
        memset(&late, 0, sizeof(late));
        late.op.complete = wt_complete;
        if (!bye) {
            cr_assert_eq(job.r[0].failed[1], 1, "%s", names[c]);
            cr_assert_eq(job.r[0].failed_status[1], WEFT_ERR_PEER_LOST);
            cr_assert_eq(
                tcp->irecv(job.r[0].ep[1], in, sizeof(in), 5, &late.op),
                WEFT_ERR_PEER_LOST, "%s", names[c]);
        } else {
            cr_assert(job.r[0].ep[1]->closed, "%s: taken as a loss (%s)",
                      names[c], job.r[0].ep[1]->why);
            wt_recv(&job, 0, 1, in, sizeof(in), 5, &r);
            cr_assert_eq(r.done, 1, "%s", names[c]);
            cr_assert_eq(memcmp(in, msg, sizeof(msg)), 0);
            if (c == BYE_RESET_SENDING) {
                cr_assert_eq(s.done, 1);
                cr_assert_eq(s.status, WEFT_ERR_PEER_LOST);
            } else {
                cr_assert_eq(job.r[0].failed[1], 0, "%s", names[c]);
            }
            cr_assert_eq(
                tcp->irecv(job.r[0].ep[1], in, sizeof(in), 6, &late.op),
                WEFT_ERR_PEER_LOST, "%s", names[c]);
        }
        cr_assert_eq(late.done, 0);
        wt_job_stop(&job);
    }
}

Test(tl_tcp_faults, orderly_fini_is_not_a_failure_and_eager_data_survives_it,
     .timeout = 20)
{
    wt_tcp_job_t job;
    wt_op_t s, r, back;
    uint8_t msg[100], rbuf[100], x = 1;
    weft_tl_t *tl1;

    wt_job_start(&job, 2, NULL);
    wt_fill(msg, sizeof(msg), 1, 4);
    wt_exchange(&job, 10, 1); /* links both ways */
    /* rank 1 sends and leaves at once; rank 0 receives afterwards */
    wt_send(&job, 1, 0, msg, sizeof(msg), 77, &s);
    cr_assert_eq(s.done, 1, "an eager send on an idle link completes inline");
    tl1 = job.r[1].tl;
    job.r[1].tl = NULL;
    tcp->fini(tl1);
    for (int k = 0; k < 100; k++) {
        wt_job_progress(&job);
    }
    wt_recv(&job, 0, 1, rbuf, sizeof(rbuf), 77, &r);
    cr_assert(WT_WAIT(&job, r.done, 5.0));
    cr_assert_eq(r.status, WEFT_OK);
    cr_assert_eq(wt_verify(rbuf, sizeof(rbuf), 1, 4), sizeof(rbuf));
    cr_assert_eq(job.r[0].failed[1], 0, "an orderly exit reported as a loss");
    /* nothing more can come: later operations fail at once */
    memset(&back, 0, sizeof(back));
    back.op.complete = wt_complete;
    cr_assert_lt(tcp->isend(job.r[0].ep[1], &x, 1, 1, &back.op), 0);
    cr_assert_lt(tcp->irecv(job.r[0].ep[1], rbuf, 1, 1, &back.op), 0);
    tcp->fini(job.r[0].tl);
    job.r[0].tl = NULL;
    weft__config_free(&job.cfg);
}

/* A peer that finishes while we still wait for something from it: what
 * can no longer complete fails (PEER_LOST), and the host hears once. */
Test(tl_tcp_faults, orderly_exit_fails_what_can_no_longer_complete,
     .timeout = 20)
{
    wt_tcp_job_t job;
    wt_op_t r_eager, r_rndv, s_rndv;
    uint8_t rbuf[8];
    uint8_t *big = calloc(1, 1u << 20);
    weft_tl_t *tl1;

    wt_job_start(&job, 2, NULL);
    wt_exchange(&job, 10, 1);
    wt_recv(&job, 0, 1, rbuf, sizeof(rbuf), 3, &r_eager);
    wt_recv(&job, 0, 1, big, 1u << 20, 4, &r_rndv);
    wt_send(&job, 0, 1, big, 1u << 20, 5, &s_rndv); /* never received */
    tl1 = job.r[1].tl;
    job.r[1].tl = NULL;
    tcp->fini(tl1);
    cr_assert(WT_WAIT(&job, r_eager.done && r_rndv.done && s_rndv.done, 5.0));
    cr_assert_eq(r_eager.status, WEFT_ERR_PEER_LOST);
    cr_assert_eq(r_rndv.status, WEFT_ERR_PEER_LOST);
    cr_assert_eq(s_rndv.status, WEFT_ERR_PEER_LOST);
    cr_assert_eq(job.r[0].failed[1], 1);
    tcp->fini(job.r[0].tl);
    job.r[0].tl = NULL;
    weft__config_free(&job.cfg);
    free(big);
}

/* fini with unexpected messages, a rendezvous half done and sends
 * queued: everything is freed (the sanitizer build checks) and nothing
 * completes. */
Test(tl_tcp_faults, fini_frees_unexpected_and_unfinished_state, .timeout = 20)
{
    wt_tcp_job_t job;
    size_t big = 32u << 20;
    uint8_t *a = calloc(1, big), *b = calloc(1, big), small[100] = {0};
    wt_op_t s1, s2, s3, r, q[4];

    wt_job_start(&job, 2, NULL);
    wt_send(&job, 1, 0, small, sizeof(small), 1, &s1); /* unexpected */
    wt_send(&job, 1, 0, a, 1u << 20, 2, &s2);          /* unexpected rts */
    wt_send(&job, 1, 0, a, big, 3, &s3);
    wt_recv(&job, 0, 1, b, big, 3, &r);
    cr_assert(WT_WAIT(&job,
                      weft__tcp_op(&r.op)->msg != NULL &&
                          weft__tcp_op(&r.op)->msg->received > 0,
                      5.0));
    for (int i = 0; i < 4; i++) { /* queued behind the large transfer */
        wt_send(&job, 1, 0, small, sizeof(small), 10 + (uint64_t)i, &q[i]);
    }
    cr_assert_eq(r.done, 0);
    wt_job_stop(&job);
    cr_assert_eq(r.done, 0, "fini completed an operation");
    free(a);
    free(b);
}
