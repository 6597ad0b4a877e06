/*
 * Helpers of the tcp transport suites: see tl_tcp_helpers.h.
 */
#include "build_config.h"
#include "tl_tcp_helpers.h"

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bootstrap/auth.h"

/* ---- host services ---------------------------------------------------- */

static const char *
wt_config_get(void *host, const char *name)
{
    wt_tcp_rank_t *r = host;

    return weft__config_get_text(r->cfg ? r->cfg : &r->job->cfg, name,
                                 r->job->cfg_buf, sizeof(r->job->cfg_buf));
}

static void
wt_log(void *host, weft_log_level_t level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void
wt_peer_failed(void *host, int peer, weft_status_t status, const char *why)
{
    wt_tcp_rank_t *r = host;

    r->failed[peer]++;
    r->failed_status[peer] = status;
    fprintf(stderr, "rank %d: peer %d failed (%s): %s\n", r->rank, peer,
            weft_status_string(status), why);
}

void
wt_complete(weft_tl_op_t *op, weft_status_t status, size_t bytes)
{
    wt_op_t *w = (wt_op_t *)op;

    w->done++;
    w->status = status;
    w->bytes = bytes;
}

size_t
wt_eager_default(void)
{
    static const char *const empty[] = {NULL};
    weft_config_t cfg;
    size_t limit;

    cr_assert_eq(weft__config_parse(empty, &cfg), WEFT_OK);
    limit = cfg.tcp.eager_limit;
    weft__config_free(&cfg);
    return limit;
}

/* ---- a job of n instances -------------------------------------------- */

void
wt_rank_init(wt_tcp_job_t *job, int rank)
{
    wt_tcp_rank_t *r = &job->r[rank];
    weft_tl_init_args_t args;

    memset(&args, 0, sizeof(args));
    args.size = sizeof(args);
    args.rank = rank;
    args.nranks = job->n;
    args.node_id = "node0";
    args.auth_key = job->key;
    args.auth_key_len = sizeof(job->key);
    args.handshake_timeout_s = job->hs_timeout > 0 ? job->hs_timeout : 3.0;
    args.teardown_timeout_s = 2.0;
    args.host = r;
    args.config_get = wt_config_get;
    args.log = wt_log;
    args.peer_failed = wt_peer_failed;
    r->job = job;
    if (rank == 1 && job->has_cfg1) {
        r->cfg = &job->cfg1;
    }
    r->rank = rank;
    cr_assert_eq(tcp->init(&args, &r->tl), WEFT_OK, "init rank %d: %s", rank,
                 weft_last_error());
    r->addr_len = sizeof(r->addr);
    cr_assert_eq(tcp->address(r->tl, r->addr, &r->addr_len), WEFT_OK);
}

weft_tl_peer_t
wt_peer_info(wt_tcp_rank_t *of, int same_node)
{
    weft_tl_peer_t p = {.rank = of->rank,
                        .same_node = same_node,
                        .node_id = same_node ? "node0" : "node1",
                        .addr = of->addr,
                        .addr_len = of->addr_len};

    return p;
}

void
wt_connect(wt_tcp_rank_t *r, wt_tcp_rank_t *to)
{
    weft_tl_peer_t info = wt_peer_info(to, 1);

    cr_assert(tcp->reachable(r->tl, &info));
    cr_assert_eq(tcp->ep_create(r->tl, &info, &r->ep[to->rank]), WEFT_OK,
                 "ep_create %d->%d: %s", r->rank, to->rank, weft_last_error());
}

void
wt_job_start_ex(wt_tcp_job_t *job, int n, const char *const *env,
                const char *const *env1, double hs_timeout)
{
    static const char *const empty[] = {NULL};

    memset(job, 0, sizeof(*job));
    job->n = n;
    job->hs_timeout = hs_timeout;
    cr_assert_eq(weft__config_parse(env ? env : empty, &job->cfg), WEFT_OK);
    if (env1 != NULL) {
        cr_assert_eq(weft__config_parse(env1, &job->cfg1), WEFT_OK);
        job->has_cfg1 = 1;
    }
    cr_assert_eq(weft__auth_random(job->key, sizeof(job->key)), WEFT_OK);
    for (int i = 0; i < n; i++) {
        wt_rank_init(job, i);
    }
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            if (i != j) {
                wt_connect(&job->r[i], &job->r[j]);
            }
        }
    }
}

void
wt_job_start(wt_tcp_job_t *job, int n, const char *const *env)
{
    wt_job_start_ex(job, n, env, NULL, 0);
}

void
wt_job_progress(wt_tcp_job_t *job)
{
    for (int i = 0; i < job->n; i++) {
        if (job->r[i].tl != NULL) {
            tcp->progress(job->r[i].tl);
        }
    }
}

void
wt_job_stop(wt_tcp_job_t *job)
{
    for (int i = 0; i < job->n; i++) {
        tcp->fini(job->r[i].tl);
        job->r[i].tl = NULL;
    }
    weft__config_free(&job->cfg);
    if (job->has_cfg1) {
        weft__config_free(&job->cfg1);
    }
}

void
wt_progress_for(wt_tcp_job_t *job, double secs)
{
    double until = weft__now() + secs;

    while (weft__now() < until) {
        wt_job_progress(job);
    }
}

int
wt_no_failures(const wt_tcp_job_t *job)
{
    for (int i = 0; i < job->n; i++) {
        for (int j = 0; j < job->n; j++) {
            if (job->r[i].failed[j] != 0) {
                return 0;
            }
        }
    }
    return 1;
}

/* ---- operations ------------------------------------------------------- */

void
wt_send(wt_tcp_job_t *job, int from, int to, const void *buf, size_t len,
        uint64_t tag, wt_op_t *w)
{
    memset(w, 0, sizeof(*w));
    w->op.complete = wt_complete;
    cr_assert_eq(tcp->isend(job->r[from].ep[to], buf, len, tag, &w->op),
                 WEFT_OK, "isend %d->%d of %zu: %s", from, to, len,
                 weft_last_error());
}

void
wt_recv(wt_tcp_job_t *job, int at, int from, void *buf, size_t len,
        uint64_t tag, wt_op_t *w)
{
    memset(w, 0, sizeof(*w));
    w->op.complete = wt_complete;
    cr_assert_eq(tcp->irecv(job->r[at].ep[from], buf, len, tag, &w->op),
                 WEFT_OK, "irecv at %d from %d: %s", at, from,
                 weft_last_error());
}

int
wt_all_done(const wt_op_t *ops, int n)
{
    for (int i = 0; i < n; i++) {
        if (!ops[i].done) {
            return 0;
        }
    }
    return 1;
}

void
wt_exchange(wt_tcp_job_t *job, size_t len, int seq)
{
    uint8_t *sbuf[2], *rbuf[2];
    wt_op_t s[2], r[2];

    for (int i = 0; i < 2; i++) {
        sbuf[i] = malloc(len + 1);
        rbuf[i] = malloc(len + 1);
        cr_assert(sbuf[i] != NULL && rbuf[i] != NULL);
        wt_fill(sbuf[i], len, i, seq);
        memset(rbuf[i], 0, len + 1);
    }
    wt_recv(job, 0, 1, rbuf[0], len, (uint64_t)seq, &r[0]);
    wt_send(job, 0, 1, sbuf[0], len, (uint64_t)seq, &s[0]);
    wt_send(job, 1, 0, sbuf[1], len, (uint64_t)seq, &s[1]);
    wt_recv(job, 1, 0, rbuf[1], len, (uint64_t)seq, &r[1]);
    cr_assert(
        WT_WAIT(job, s[0].done && s[1].done && r[0].done && r[1].done, 20.0),
        "size %zu: not done (sends %d %d, receives %d %d)", len, s[0].done,
        s[1].done, r[0].done, r[1].done);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(s[i].status, WEFT_OK, "size %zu: send %s", len,
                     weft_status_string(s[i].status));
        cr_assert_eq(r[i].status, WEFT_OK, "size %zu: receive %s", len,
                     weft_status_string(r[i].status));
        cr_assert_eq(r[i].bytes, len);
        cr_assert_eq(s[i].done + r[i].done, 2, "completed more than once");
        cr_assert_eq(wt_verify(rbuf[i], len, 1 - i, seq), len,
                     "size %zu from rank %d: byte %zu differs", len, 1 - i,
                     wt_verify(rbuf[i], len, 1 - i, seq));
        free(sbuf[i]);
        free(rbuf[i]);
    }
}

const char *
wt_link_check(const wt_tcp_job_t *job, int a, int b)
{
    const weft__tcp_conn_t *ca = job->r[a].ep[b]->conn;
    const weft__tcp_conn_t *cb = job->r[b].ep[a]->conn;

    if (ca == NULL || cb == NULL) {
        return "a side has no link";
    }
    if (ca->state != TCP_CONN_OPEN || cb->state != TCP_CONN_OPEN) {
        return "a side's link is not open";
    }
    if (ca->own == cb->own) {
        return ca->own ? "both sides opened the link they use"
                       : "both sides accepted the link they use";
    }
    return NULL;
}

/* ---- outsiders and fake ranks ------------------------------------------ */

int
wt_outsider_connect(wt_tcp_rank_t *r)
{
    weft__tcp_addr_t addr;
    struct sockaddr_in sin = {.sin_family = AF_INET};
    char why[128];
    int fd, one = 1;

    cr_assert_eq(
        weft__tcp_addr_unpack(r->addr, r->addr_len, &addr, why, sizeof(why)),
        WEFT_OK, "%s", why);
    for (unsigned i = 0; i < addr.n; i++) {
        if (addr.e[i].flags & TCP_ADDR_F_LOOPBACK) {
            sin.sin_addr.s_addr = addr.e[i].ip;
            sin.sin_port = htons(addr.e[i].port);
        }
    }
    cr_assert_neq(sin.sin_port, 0, "no loopback listener");
    fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    /* frames go out as written (no Nagle): a reset cannot drop them */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0,
                 "connect: %s", strerror(errno));
    return fd;
}

int
wt_closed_by_server(int fd)
{
    uint8_t buf[256];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

weft_status_t
wt_outsider_handshake(wt_tcp_job_t *job, const uint8_t *key, uint32_t rank,
                      weft__auth_hs_t *hs)
{
    int fd = wt_outsider_connect(&job->r[0]);
    weft_status_t st = WEFT_INPROGRESS;

    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    weft__auth_hs_client(hs, key, WEFT_AUTH_PURPOSE_TCP, rank, (uint32_t)job->n,
                         weft__now() + 5.0);
    WT_WAIT(job, (st = weft__auth_hs_progress(hs, fd)) != WEFT_INPROGRESS, 6.0);
    close(fd);
    return st;
}

int
wt_fake_rank_at(wt_tcp_job_t *job, int at, uint32_t as)
{
    weft__auth_hs_t hs;
    weft_status_t st = WEFT_INPROGRESS;
    int fd = wt_outsider_connect(&job->r[at]);

    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    weft__auth_hs_client(&hs, job->key, WEFT_AUTH_PURPOSE_TCP, as,
                         (uint32_t)job->n, weft__now() + 5.0);
    cr_assert(WT_WAIT(
        job, (st = weft__auth_hs_progress(&hs, fd)) != WEFT_INPROGRESS, 6.0));
    cr_assert_eq(st, WEFT_OK, "fake rank %u: %s", as, hs.why);
    return fd;
}

int
wt_fake_rank(wt_tcp_job_t *job, uint32_t rank)
{
    return wt_fake_rank_at(job, 0, rank);
}

void
wt_fake_write(wt_tcp_job_t *job, int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    double deadline = weft__now() + 5.0;

    while (len > 0 && weft__now() < deadline) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else {
            wt_job_progress(job);
        }
    }
    cr_assert_eq(len, 0, "fake rank could not write");
}

void
wt_fake_frame(wt_tcp_job_t *job, int fd, uint8_t type, uint32_t src,
              uint32_t len, uint64_t tag, uint64_t msg_id, uint64_t size)
{
    weft__wire_hdr_t h = {.type = type,
                          .src = src,
                          .len = len,
                          .tag = tag,
                          .msg_id = msg_id,
                          .size = size};
    uint8_t frame[WEFT_WIRE_HDR_LEN];

    weft__wire_encode(&h, frame);
    wt_fake_write(job, fd, frame, sizeof(frame));
}

void
wt_fake_read(wt_tcp_job_t *job, int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    double deadline = weft__now() + 5.0;

    while (len > 0 && weft__now() < deadline) {
        ssize_t n = recv(fd, p, len, MSG_DONTWAIT);

        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else {
            cr_assert(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK),
                      "fake rank: the link closed (%zd, %s)", n,
                      strerror(errno));
            wt_job_progress(job);
        }
    }
    cr_assert_eq(len, 0, "fake rank: nothing came");
}

void
wt_fake_read_frame(wt_tcp_job_t *job, int fd, weft__wire_hdr_t *h)
{
    uint8_t frame[WEFT_WIRE_HDR_LEN];
    weft__wire_limits_t lim = {
        .src = 0, .max_eager = 1u << 30, .max_data = 1u << 30};
    char why[160];

    wt_fake_read(job, fd, frame, sizeof(frame));
    lim.src = frame[8] | (uint32_t)frame[9] << 8 | (uint32_t)frame[10] << 16 |
              (uint32_t)frame[11] << 24;
    cr_assert_eq(weft__wire_decode(frame, &lim, h, why, sizeof(why)), WEFT_OK,
                 "fake rank: %s", why);
}

int
wt_fake_listen(wt_tcp_job_t *job, int at, int as, uint16_t *port_p)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof(sin);
    weft__tcp_addr_t *addr = &job->r[at].ep[as]->addr;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

    cr_assert(fd >= 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    cr_assert_eq(listen(fd, 8), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    *port_p = ntohs(sin.sin_port);
    /* same node: `at` picks the loopback entry of the address */
    for (unsigned i = 0; i < addr->n; i++) {
        if (addr->e[i].flags & TCP_ADDR_F_LOOPBACK) {
            addr->e[i].ip = htonl(INADDR_LOOPBACK);
            addr->e[i].port = *port_p;
        }
    }
    return fd;
}

int
wt_fake_accept(wt_tcp_job_t *job, int lfd)
{
    double deadline = weft__now() + 5.0;
    int fd, one = 1;

    while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) < 0 &&
           weft__now() < deadline) {
        wt_job_progress(job);
    }
    cr_assert(fd >= 0, "fake rank: no connection came");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

weft_status_t
wt_fake_serve(wt_tcp_job_t *job, int fd, uint32_t as, uint32_t verdict)
{
    weft__auth_hs_t hs;
    weft_status_t st = WEFT_INPROGRESS;

    weft__auth_hs_server(&hs, job->key, WEFT_AUTH_PURPOSE_TCP, as,
                         (uint32_t)job->n, weft__now() + 5.0);
    cr_assert(WT_WAIT(
        job, (st = weft__auth_hs_progress(&hs, fd)) != WEFT_INPROGRESS, 6.0));
    cr_assert_eq(st, WEFT_OK, "fake server: %s", hs.why);
    weft__auth_hs_set_verdict(&hs, verdict);
    WT_WAIT(job, (st = weft__auth_hs_progress(&hs, fd)) != WEFT_INPROGRESS,
            6.0);
    return st;
}

/* ---- rank 1 in a child process ------------------------------------------ */

pid_t
wt_child_start(wt_tcp_job_t *job, wt_child_fn_t fn, int arg, int *rd_p,
               int *wr_p)
{
    int to_child[2], to_parent[2];
    wt_tcp_rank_t *child = &job->r[1];
    pid_t pid;

    cr_assert_eq(pipe(to_child), 0);
    cr_assert_eq(pipe(to_parent), 0);
    memset(job, 0, sizeof(*job));
    job->n = 2;
    cr_assert_eq(weft__config_parse((const char *[]){NULL}, &job->cfg),
                 WEFT_OK);
    cr_assert_eq(weft__auth_random(job->key, sizeof(job->key)), WEFT_OK);
    fflush(NULL);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        wt_tcp_job_t cjob;
        wt_tcp_rank_t *peer0 = &cjob.r[0];
        int rd = to_child[0], wr = to_parent[1];

        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed test */
        close(to_child[1]);
        close(to_parent[0]);
        memset(&cjob, 0, sizeof(cjob));
        cjob.n = 2;
        cjob.cfg = job->cfg;
        memcpy(cjob.key, job->key, sizeof(cjob.key));
        wt_rank_init(&cjob, 1);
        if (write(wr, &cjob.r[1].addr_len, sizeof(size_t)) < 0 ||
            write(wr, cjob.r[1].addr, cjob.r[1].addr_len) < 0 ||
            read(rd, &peer0->addr_len, sizeof(size_t)) != sizeof(size_t) ||
            read(rd, peer0->addr, peer0->addr_len) !=
                (ssize_t)peer0->addr_len) {
            _exit(3);
        }
        peer0->rank = 0;
        wt_connect(&cjob.r[1], peer0);
        fn(&cjob, rd, wr, arg);
        _exit(0);
    }
    close(to_child[0]);
    close(to_parent[1]);
    wt_rank_init(job, 0);
    cr_assert_eq(read(to_parent[0], &child->addr_len, sizeof(size_t)),
                 (ssize_t)sizeof(size_t));
    cr_assert_eq(read(to_parent[0], child->addr, child->addr_len),
                 (ssize_t)child->addr_len);
    cr_assert_eq(write(to_child[1], &job->r[0].addr_len, sizeof(size_t)),
                 (ssize_t)sizeof(size_t));
    cr_assert_eq(write(to_child[1], job->r[0].addr, job->r[0].addr_len),
                 (ssize_t)job->r[0].addr_len);
    child->rank = 1;
    wt_connect(&job->r[0], child);
    job->n = 1; /* progress only our own instance */
    *rd_p = to_parent[0];
    *wr_p = to_child[1];
    return pid;
}

char
wt_child_wait(wt_tcp_job_t *job, int rd)
{
    struct pollfd p = {.fd = rd, .events = POLLIN};
    char c = 0;

    cr_assert(WT_WAIT(job, poll(&p, 1, 0) == 1, 10.0), "the child is silent");
    cr_assert_eq(read(rd, &c, 1), 1, "the child is gone");
    return c;
}

void
wt_child_progress(wt_tcp_job_t *job, const int *done)
{
    double until = weft__now() + 10.0;

    while (!*done && weft__now() < until) {
        tcp->progress(job->r[1].tl);
    }
}
