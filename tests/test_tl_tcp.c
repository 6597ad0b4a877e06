/*
 * The tcp transport driven directly, without the rest of weft: 2-4
 * instances in one process (ranks 0..n-1) exchange their addresses in
 * memory and are progressed in turn until each case is done.
 */
#include "build_config.h"

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bootstrap/auth.h"
#include "clock.h"
#include "config.h"
#include "transports/tcp/tcp.h"
#include "util.h"

#define WT_MAX_RANKS 4
#define WT_EAGER     65536 /* the default WEFT_TCP_EAGER_LIMIT */

typedef struct wt_job wt_job_t;

typedef struct wt_rank {
    wt_job_t *job;
    int rank;
    weft_tl_t *tl;
    weft_config_t *cfg; /* its own WEFT_* values, or NULL: the job's */
    weft_tl_ep_t *ep[WT_MAX_RANKS];
    int failed[WT_MAX_RANKS];
    weft_status_t failed_status[WT_MAX_RANKS];
    uint8_t addr[WEFT_TL_ADDR_MAX];
    size_t addr_len;
} wt_rank_t;

struct wt_job {
    int n;
    int has_cfg1; /* rank 1 has its own configuration */
    weft_config_t cfg1;
    double hs_timeout; /* 0: 3 s */
    weft_config_t cfg;
    char cfg_buf[256];
    uint8_t key[WEFT_AUTH_KEY_LEN];
    wt_rank_t r[WT_MAX_RANKS];
};

typedef struct wt_op {
    weft_tl_op_t op; /* first: the completion finds us from it */
    int done;
    weft_status_t status;
    size_t bytes;
} wt_op_t;

static const weft_tl_ops_t *const tcp = &weft__tl_tcp;

/* ---- host services ---------------------------------------------------- */

static const char *
wt_config_get(void *host, const char *name)
{
    wt_rank_t *r = host;

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
    wt_rank_t *r = host;

    r->failed[peer]++;
    r->failed_status[peer] = status;
    fprintf(stderr, "rank %d: peer %d failed (%s): %s\n", r->rank, peer,
            weft_status_string(status), why);
}

static void
wt_complete(weft_tl_op_t *op, weft_status_t status, size_t bytes)
{
    wt_op_t *w = (wt_op_t *)op;

    w->done++;
    w->status = status;
    w->bytes = bytes;
}

/* ---- a job of n instances -------------------------------------------- */

static void
wt_rank_init(wt_job_t *job, int rank)
{
    wt_rank_t *r = &job->r[rank];
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

static weft_tl_peer_t
wt_peer_info(wt_rank_t *of, int same_node)
{
    weft_tl_peer_t p = {.rank = of->rank,
                        .same_node = same_node,
                        .node_id = same_node ? "node0" : "node1",
                        .addr = of->addr,
                        .addr_len = of->addr_len};

    return p;
}

static void
wt_connect(wt_rank_t *r, wt_rank_t *to)
{
    weft_tl_peer_t info = wt_peer_info(to, 1);

    cr_assert(tcp->reachable(r->tl, &info));
    cr_assert_eq(tcp->ep_create(r->tl, &info, &r->ep[to->rank]), WEFT_OK,
                 "ep_create %d->%d: %s", r->rank, to->rank, weft_last_error());
}

/* env: "WEFT_NAME=value" strings for every rank (NULL: none); env1:
 * rank 1's own, instead of env (NULL: the same). */
static void
wt_job_start_ex(wt_job_t *job, int n, const char *const *env,
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

static void
wt_job_progress(wt_job_t *job)
{
    for (int i = 0; i < job->n; i++) {
        if (job->r[i].tl != NULL) {
            tcp->progress(job->r[i].tl);
        }
    }
}

static void
wt_job_stop(wt_job_t *job)
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

static int
wt_no_failures(const wt_job_t *job)
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

static void
wt_job_start(wt_job_t *job, int n, const char *const *env)
{
    wt_job_start_ex(job, n, env, NULL, 0);
}

/* Progress everyone until cond holds or secs pass; the value of cond. */
#define WT_WAIT(_job, _cond, _secs)                                            \
    ({                                                                         \
        double _dl = weft__now() + (_secs);                                    \
        while (!(_cond) && weft__now() < _dl) {                                \
            wt_job_progress(_job);                                             \
        }                                                                      \
        (_cond);                                                               \
    })

static void
wt_send(wt_job_t *job, int from, int to, const void *buf, size_t len,
        uint64_t tag, wt_op_t *w)
{
    memset(w, 0, sizeof(*w));
    w->op.complete = wt_complete;
    cr_assert_eq(tcp->isend(job->r[from].ep[to], buf, len, tag, &w->op),
                 WEFT_OK, "isend %d->%d of %zu: %s", from, to, len,
                 weft_last_error());
}

static void
wt_recv(wt_job_t *job, int at, int from, void *buf, size_t len, uint64_t tag,
        wt_op_t *w)
{
    memset(w, 0, sizeof(*w));
    w->op.complete = wt_complete;
    cr_assert_eq(tcp->irecv(job->r[at].ep[from], buf, len, tag, &w->op),
                 WEFT_OK, "irecv at %d from %d: %s", at, from,
                 weft_last_error());
}

/* ---- data patterns -------------------------------------------------- */

static uint8_t
wt_byte(size_t i, int src, int seq)
{
    uint64_t x = (uint64_t)i * 0x9e3779b97f4a7c15ull ^
                 (uint64_t)(src + 1) * 0xc2b2ae3d27d4eb4full ^
                 (uint64_t)(seq + 1) * 0x165667b19e3779f9ull;

    return (uint8_t)(x >> 56) ^ (uint8_t)(i >> 12);
}

static void
wt_pattern(uint8_t *p, size_t n, int src, int seq)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = wt_byte(i, src, seq);
    }
}

static size_t
wt_check(const uint8_t *p, size_t n, int src, int seq)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != wt_byte(i, src, seq)) {
            return i;
        }
    }
    return n;
}

/* ---- sizes ------------------------------------------------------------ */

/* Both directions at once, every byte checked. */
static void
wt_exchange(wt_job_t *job, size_t len, int seq)
{
    uint8_t *sbuf[2], *rbuf[2];
    wt_op_t s[2], r[2];

    for (int i = 0; i < 2; i++) {
        sbuf[i] = malloc(len + 1);
        rbuf[i] = malloc(len + 1);
        cr_assert(sbuf[i] != NULL && rbuf[i] != NULL);
        wt_pattern(sbuf[i], len, i, seq);
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
        cr_assert_eq(wt_check(rbuf[i], len, 1 - i, seq), len,
                     "size %zu from rank %d: byte %zu differs", len, 1 - i,
                     wt_check(rbuf[i], len, 1 - i, seq));
        free(sbuf[i]);
        free(rbuf[i]);
    }
}

Test(tl_tcp, sizes_around_the_eager_limit_both_ways, .timeout = 30)
{
    const size_t sizes[] = {
        0, 1, WT_EAGER - 1, WT_EAGER, WT_EAGER + 1, (1u << 20) + 3};
    wt_job_t job;

    wt_job_start(&job, 2, NULL);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        wt_exchange(&job, sizes[i], (int)i);
    }
    cr_assert(wt_no_failures(&job));
    wt_job_stop(&job);
}

Test(tl_tcp, sixty_four_mib_every_byte_checked, .timeout = 60)
{
    wt_job_t job;

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
    wt_job_t job;

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
    const size_t sizes[] = {3, 200000};
    enum { N = 4 };
    wt_job_t job;
    uint8_t *sbuf[N][N][2], *rbuf[N][N][2];
    wt_op_t s[N][N][2], r[N][N][2];

    wt_job_start(&job, N, NULL);
    for (int a = 0; a < N; a++) {
        for (int b = 0; b < N; b++) {
            for (int k = 0; k < 2 && a != b; k++) {
                sbuf[a][b][k] = malloc(sizes[k]);
                rbuf[b][a][k] = calloc(1, sizes[k]);
                wt_pattern(sbuf[a][b][k], sizes[k], a, b * 2 + k);
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
                cr_assert_eq(wt_check(rbuf[b][a][k], sizes[k], a, b * 2 + k),
                             sizes[k], "%d->%d size %zu corrupted", a, b,
                             sizes[k]);
                free(sbuf[a][b][k]);
                free(rbuf[b][a][k]);
            }
        }
    }
    cr_assert(wt_no_failures(&job));
    wt_job_stop(&job);
}

/* ---- many messages, matching order ------------------------------------ */

Test(tl_tcp, thousand_outstanding_sends_and_receives, .timeout = 30)
{
    enum { N = 1000 };
    wt_job_t job;
    static wt_op_t s[N], r[N];
    static uint8_t *sbuf[N], *rbuf[N];
    size_t len[N];

    wt_job_start(&job, 2, NULL);
    for (int i = 0; i < N; i++) {
        /* mostly small, every 100th a rendezvous */
        len[i] = i % 100 == 99 ? 100000 + (size_t)i : (size_t)(i * 37 % 3000);
        sbuf[i] = malloc(len[i] + 1);
        rbuf[i] = calloc(1, len[i] + 1);
        wt_pattern(sbuf[i], len[i], 0, i);
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
        cr_assert_eq(wt_check(rbuf[i], len[i], 0, i), len[i],
                     "message %d corrupted", i);
        free(sbuf[i]);
        free(rbuf[i]);
    }
    cr_assert(wt_no_failures(&job));
    wt_job_stop(&job);
}

static int
wt_all_done(const wt_op_t *ops, int n)
{
    for (int i = 0; i < n; i++) {
        if (!ops[i].done) {
            return 0;
        }
    }
    return 1;
}

/* Receives posted in reverse tag order, before (posted) and after
 * (unexpected) the messages arrive. */
static void
wt_reverse(int post_first)
{
    enum { N = 64 };
    wt_job_t job;
    wt_op_t s[N], r[N];
    uint8_t sbuf[N][300], rbuf[N][300];
    size_t len[N];

    wt_job_start(&job, 2, NULL);
    for (int i = 0; i < N; i++) {
        len[i] = 1 + (size_t)i * 4;
        wt_pattern(sbuf[i], len[i], 1, i);
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
        cr_assert_eq(wt_check(rbuf[i], len[i], 1, i), len[i],
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
    wt_job_t job;
    wt_op_t s[N], r[N];
    uint8_t *sbuf[N], *rbuf[N];
    size_t len[N];

    wt_job_start(&job, 2, NULL);
    for (int i = 0; i < N; i++) {
        len[i] = i % 3 == 2 ? 300000 : 1000;
        sbuf[i] = malloc(len[i]);
        rbuf[i] = calloc(1, len[i]);
        wt_pattern(sbuf[i], len[i], 0, i);
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
        cr_assert_eq(wt_check(rbuf[i], len[i], 0, i), len[i],
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
    wt_job_t job;
    wt_op_t s, r;
    uint8_t *sbuf = malloc(len), *rbuf = calloc(1, len);

    wt_job_start(&job, 2, NULL);
    wt_pattern(sbuf, len, 1, 3);
    wt_send(&job, 1, 0, sbuf, len, 42, &s);
    /* eager: the send completes alone; rendezvous: the RTS waits */
    double until = weft__now() + 0.2;
    while (weft__now() < until) {
        wt_job_progress(&job);
    }
    if (len <= WT_EAGER) {
        cr_assert_eq(s.done, 1, "an eager send completes without a receive");
    } else {
        cr_assert_eq(s.done, 0, "a rendezvous send waits for the receive");
    }
    wt_recv(&job, 0, 1, rbuf, len, 42, &r);
    cr_assert(WT_WAIT(&job, s.done && r.done, 10.0));
    cr_assert_eq(s.status, WEFT_OK);
    cr_assert_eq(r.status, WEFT_OK);
    cr_assert_eq(r.bytes, len);
    cr_assert_eq(wt_check(rbuf, len, 1, 3), len);
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
    wt_job_t job;
    wt_op_t s, r;
    uint8_t *sbuf = malloc(len);
    uint8_t *rbuf = malloc(cap + WT_GUARD);

    wt_job_start(&job, 2, NULL);
    wt_pattern(sbuf, len, 0, 9);
    memset(rbuf, 0xee, cap + WT_GUARD);
    wt_recv(&job, 1, 0, rbuf, cap, 5, &r);
    wt_send(&job, 0, 1, sbuf, len, 5, &s);
    cr_assert(WT_WAIT(&job, s.done && r.done, 10.0));
    cr_assert_eq(s.status, WEFT_OK, "send of %zu into %zu: %s", len, cap,
                 weft_status_string(s.status));
    cr_assert_eq(r.status, WEFT_ERR_TRUNCATED, "receive of %zu into %zu: %s",
                 len, cap, weft_status_string(r.status));
    cr_assert_eq(r.bytes, cap);
    cr_assert_eq(wt_check(rbuf, cap, 0, 9), cap, "prefix of %zu wrong", cap);
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
    wt_truncate(200000, 100); /* into an eager-sized buffer */
    wt_truncate(200000, 0);   /* a CTS of 0 bytes */
}

/* ---- cancel ------------------------------------------------------------- */

/* A rendezvous receive cancelled at a chosen point: right after its RTS
 * matched (only the receiver progressed: no data has moved), or with the
 * data half in. The sender still finishes; the receive never completes
 * and its buffer is not written after cancel returns. */
static void
wt_cancel_rndv(wt_job_t *job, int mid_data, int seq)
{
    /* larger than the socket buffers: it cannot arrive in one go */
    size_t big = mid_data ? 32u << 20 : 2u << 20;
    uint8_t *b = malloc(big), *rb = malloc(big);
    wt_op_t s, rc;
    tcp_op_t *o = weft__tcp_op(&rc.op);

    wt_pattern(b, big, 0, seq);
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
    wt_job_t job;
    wt_op_t s, r_cancelled, r;
    uint8_t sbuf[100], rbuf[100], junk[100];

    wt_job_start(&job, 2, NULL);
    wt_pattern(sbuf, sizeof(sbuf), 0, 1);
    wt_recv(&job, 1, 0, junk, sizeof(junk), 3, &r_cancelled);
    tcp->cancel(job.r[1].ep[0], &r_cancelled.op);
    wt_send(&job, 0, 1, sbuf, sizeof(sbuf), 3, &s);
    wt_recv(&job, 1, 0, rbuf, sizeof(rbuf), 3, &r);
    cr_assert(WT_WAIT(&job, s.done && r.done, 10.0));
    cr_assert_eq(r.status, WEFT_OK);
    cr_assert_eq(wt_check(rbuf, sizeof(rbuf), 0, 1), sizeof(rbuf));
    cr_assert_eq(r_cancelled.done, 0, "a cancelled receive completed");

    wt_cancel_rndv(&job, 0, 4); /* CTS not sent yet: a CTS of 0 bytes */
    wt_cancel_rndv(&job, 0, 5); /* links up: the CTS is out, data dropped */
    wt_cancel_rndv(&job, 1, 6); /* half the data in, the rest dropped */
    wt_exchange(&job, 70000, 12);
    wt_exchange(&job, 3u << 20, 13);
    cr_assert(wt_no_failures(&job));
    wt_job_stop(&job);
}

Test(tl_tcp, cancelled_send_that_had_not_started_is_dropped, .timeout = 20)
{
    wt_job_t job;
    wt_op_t s1, s2, r;
    uint8_t a[64], b[64], rbuf[64];

    wt_job_start(&job, 2, NULL);
    wt_pattern(a, sizeof(a), 0, 1);
    wt_pattern(b, sizeof(b), 0, 2);
    /* the link is not up yet: both wait in the queue */
    wt_send(&job, 0, 1, a, sizeof(a), 8, &s1);
    wt_send(&job, 0, 1, b, sizeof(b), 8, &s2);
    cr_assert_eq(s1.done, 0);
    tcp->cancel(job.r[0].ep[1], &s1.op);
    wt_recv(&job, 1, 0, rbuf, sizeof(rbuf), 8, &r);
    cr_assert(WT_WAIT(&job, s2.done && r.done, 10.0));
    cr_assert_eq(wt_check(rbuf, sizeof(rbuf), 0, 2), sizeof(rbuf),
                 "the receive got the cancelled message");
    cr_assert_eq(s1.done, 0);
    cr_assert(wt_no_failures(&job));
    wt_job_stop(&job);
}

/* ---- round-robin: a small message overtakes a large transfer ------------ */

Test(tl_tcp, small_message_is_not_stuck_behind_a_large_one, .timeout = 30)
{
    wt_job_t job;
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

/* ---- a peer killed with SIGKILL ----------------------------------------- */

static void
wt_child_rank(int rd, int wr)
{
    wt_job_t job;
    wt_rank_t *peer0 = &job.r[0];
    wt_op_t s, r;
    uint8_t out[32] = "from child", in[32];
    char ready = 'R';

    memset(&job, 0, sizeof(job));
    job.n = 2;
    weft__config_parse((const char *[]){NULL}, &job.cfg);
    if (read(rd, job.key, sizeof(job.key)) != sizeof(job.key)) {
        _exit(2);
    }
    wt_rank_init(&job, 1);
    if (write(wr, &job.r[1].addr_len, sizeof(size_t)) < 0 ||
        write(wr, job.r[1].addr, job.r[1].addr_len) < 0 ||
        read(rd, &peer0->addr_len, sizeof(size_t)) != sizeof(size_t) ||
        read(rd, peer0->addr, peer0->addr_len) != (ssize_t)peer0->addr_len) {
        _exit(3);
    }
    peer0->rank = 0;
    wt_connect(&job.r[1], peer0);
    s.done = r.done = 0;
    s.op.complete = r.op.complete = wt_complete;
    tcp->isend(job.r[1].ep[0], out, sizeof(out), 1, &s.op);
    tcp->irecv(job.r[1].ep[0], in, sizeof(in), 1, &r.op);
    while (!s.done || !r.done) {
        tcp->progress(job.r[1].tl);
    }
    if (write(wr, &ready, 1) != 1) {
        _exit(4);
    }
    /* a large send the parent takes in part before it kills us */
    {
        size_t big = 64u << 20;
        uint8_t *b = calloc(1, big);
        wt_op_t sb;

        sb.done = 0;
        sb.op.complete = wt_complete;
        tcp->isend(job.r[1].ep[0], b, big, 50, &sb.op);
        for (;;) {
            tcp->progress(job.r[1].tl);
        }
    }
}

Test(tl_tcp, sigkilled_peer_fails_pending_receive_and_is_reported_once,
     .timeout = 20)
{
    int to_child[2], to_parent[2];
    wt_job_t job;
    wt_rank_t *child = &job.r[1];
    wt_op_t s, r, pending, late, rndv_recv, rndv_send;
    uint8_t out[32] = "from parent", in[32], buf[64], *rbig;
    char ready;
    pid_t pid;
    int wstatus;

    cr_assert_eq(pipe(to_child), 0);
    cr_assert_eq(pipe(to_parent), 0);
    memset(&job, 0, sizeof(job));
    job.n = 2;
    cr_assert_eq(weft__config_parse((const char *[]){NULL}, &job.cfg), WEFT_OK);
    cr_assert_eq(weft__auth_random(job.key, sizeof(job.key)), WEFT_OK);
    fflush(NULL);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        close(to_child[1]);
        close(to_parent[0]);
        wt_child_rank(to_child[0], to_parent[1]);
        _exit(0);
    }
    close(to_child[0]);
    close(to_parent[1]);
    cr_assert_eq(write(to_child[1], job.key, sizeof(job.key)),
                 (ssize_t)sizeof(job.key));
    wt_rank_init(&job, 0);
    cr_assert_eq(read(to_parent[0], &child->addr_len, sizeof(size_t)),
                 (ssize_t)sizeof(size_t));
    cr_assert_eq(read(to_parent[0], child->addr, child->addr_len),
                 (ssize_t)child->addr_len);
    cr_assert_eq(write(to_child[1], &job.r[0].addr_len, sizeof(size_t)),
                 (ssize_t)sizeof(size_t));
    cr_assert_eq(write(to_child[1], job.r[0].addr, job.r[0].addr_len),
                 (ssize_t)job.r[0].addr_len);
    child->rank = 1;
    wt_connect(&job.r[0], child);
    job.n = 1; /* progress only our own instance */
    wt_send(&job, 0, 1, out, sizeof(out), 1, &s);
    wt_recv(&job, 0, 1, in, sizeof(in), 1, &r);
    cr_assert(WT_WAIT(&job, s.done && r.done, 10.0));
    cr_assert_eq(r.status, WEFT_OK);
    cr_assert_str_eq((char *)in, "from child");
    cr_assert_eq(read(to_parent[0], &ready, 1), 1);

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
    wt_job_stop(&job);
}

/* ---- outsiders ----------------------------------------------------------- */

static int
wt_outsider_connect(wt_rank_t *r)
{
    weft__tcp_addr_t addr;
    struct sockaddr_in sin = {.sin_family = AF_INET};
    char why[128];
    int fd;

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
    cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0,
                 "connect: %s", strerror(errno));
    return fd;
}

/* 1 once the server closed fd (EOF or reset), 0 while it is open. */
static int
wt_closed_by_server(int fd)
{
    uint8_t buf[256];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* Run a client handshake against rank 0 while the job progresses. */
static weft_status_t
wt_outsider_handshake(wt_job_t *job, const uint8_t *key, uint32_t rank,
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

Test(tl_tcp, outsider_garbage_and_wrong_key_change_nothing, .timeout = 30)
{
    wt_job_t job;
    uint8_t junk[512], wrong[WEFT_AUTH_KEY_LEN];
    weft__auth_hs_t hs;
    int fd;

    wt_job_start(&job, 2, NULL);
    wt_exchange(&job, 100, 1); /* rank 1's link to rank 0 is up */

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
    /* the right key, but rank 1 is already connected, or rank 0 itself */
    cr_assert_eq(wt_outsider_handshake(&job, job.key, 1, &hs), WEFT_ERR_AUTH,
                 "%s", hs.why);
    cr_assert_eq(hs.verdict, WEFT_AUTH_REJECT_DUPLICATE);
    cr_assert_eq(wt_outsider_handshake(&job, job.key, 0, &hs), WEFT_ERR_AUTH,
                 "%s", hs.why);
    cr_assert_eq(hs.verdict, WEFT_AUTH_REJECT_RANK);

    wt_exchange(&job, 300000, 2);
    wt_exchange(&job, 10, 3);
    cr_assert(wt_no_failures(&job));
    wt_job_stop(&job);
}

Test(tl_tcp, two_hundred_idle_connections_do_not_block_a_transfer,
     .timeout = 30)
{
    enum { N = 200 };
    wt_job_t job;
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

/* ---- a fake rank: the job key, hand-made frames ------------------------ */

/* Connect to rank 0 and authenticate as `rank` (the real one must not
 * have connected to rank 0); returns the socket (nonblocking). */
static int
wt_fake_rank(wt_job_t *job, uint32_t rank)
{
    weft__auth_hs_t hs;
    weft_status_t st = WEFT_INPROGRESS;
    int fd = wt_outsider_connect(&job->r[0]);

    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    weft__auth_hs_client(&hs, job->key, WEFT_AUTH_PURPOSE_TCP, rank,
                         (uint32_t)job->n, weft__now() + 5.0);
    cr_assert(WT_WAIT(
        job, (st = weft__auth_hs_progress(&hs, fd)) != WEFT_INPROGRESS, 6.0));
    cr_assert_eq(st, WEFT_OK, "fake rank %u: %s", rank, hs.why);
    return fd;
}

/* Write all of buf, progressing the job while the socket is full. */
static void
wt_fake_write(wt_job_t *job, int fd, const void *buf, size_t len)
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

static void
wt_fake_frame(wt_job_t *job, int fd, uint8_t type, uint32_t src, uint32_t len,
              uint64_t tag, uint64_t msg_id, uint64_t size)
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

static void
wt_progress_for(wt_job_t *job, double secs)
{
    double until = weft__now() + secs;

    while (weft__now() < until) {
        wt_job_progress(job);
    }
}

/* An EAGER payload that is half in when the receive is posted, and one
 * whose receive is cancelled half way: the first arrives whole, the
 * second's rest is dropped (its buffer untouched), the next is intact. */
Test(tl_tcp, receive_posted_or_cancelled_in_the_middle_of_a_payload,
     .timeout = 20)
{
    enum { LEN = 60000, HALF = 30000 };
    static uint8_t m1[LEN], m2[LEN], r1[LEN], r2[LEN], r3[16];
    wt_job_t job;
    wt_op_t w1, w2, w3;
    int fd;

    wt_job_start(&job, 2, NULL);
    fd = wt_fake_rank(&job, 1);
    wt_pattern(m1, LEN, 1, 1);
    wt_pattern(m2, LEN, 1, 2);

    wt_fake_frame(&job, fd, WEFT_WIRE_EAGER, 1, LEN, 1, 0, LEN);
    wt_fake_write(&job, fd, m1, HALF);
    wt_progress_for(&job, 0.05);
    wt_recv(&job, 0, 1, r1, LEN, 1, &w1);
    cr_assert_eq(w1.done, 0);
    wt_fake_write(&job, fd, m1 + HALF, LEN - HALF);
    cr_assert(WT_WAIT(&job, w1.done, 5.0));
    cr_assert_eq(w1.status, WEFT_OK);
    cr_assert_eq(wt_check(r1, LEN, 1, 1), LEN);

    memset(r2, 0x55, LEN);
    wt_recv(&job, 0, 1, r2, LEN, 2, &w2);
    wt_fake_frame(&job, fd, WEFT_WIRE_EAGER, 1, LEN, 2, 0, LEN);
    wt_fake_write(&job, fd, m2, HALF);
    cr_assert(WT_WAIT(&job,
                      weft__tcp_op(&w2.op)->state == TCP_OP_RECV_EAGER &&
                          job.r[0].ep[1]->rx->dst_left <= LEN - HALF,
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

/* Rendezvous rules broken by an authenticated peer: each is PROTOCOL,
 * fails the pending receive from it, and is reported once. */
Test(tl_tcp, rendezvous_violations_fail_the_peer_with_protocol, .timeout = 30)
{
    enum { DATA_UNCLEARED, RTS_ID_REPEATED, CTS_UNKNOWN, AFTER_BYE, NCASES };
    static const char *const names[] = {"data without cts", "rts id repeated",
                                        "unknown cts", "frame after bye"};

    for (int c = 0; c < NCASES; c++) {
        wt_job_t job;
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

/* A send cancelled after its RTS went out costs the link: the sender
 * fails that peer (ABORTED) and the receiver sees a loss; the cancelled
 * op never completes. */
Test(tl_tcp, cancelled_send_after_its_rts_costs_the_link, .timeout = 20)
{
    wt_job_t job;
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
Test(tl_tcp, authenticated_peer_sending_a_bad_frame_fails_with_protocol,
     .timeout = 20)
{
    wt_job_t job;
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
Test(tl_tcp, unreachable_peer_fails_sends_after_the_handshake_deadline,
     .timeout = 20)
{
    wt_job_t job;
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

/* ---- addresses and shutdown --------------------------------------------- */

Test(tl_tcp, address_blob_round_trips_and_rejects_garbage, .timeout = 10)
{
    wt_job_t job;
    weft__tcp_addr_t addr;
    char why[128];
    uint8_t bad[WEFT_TL_ADDR_MAX];
    weft_tl_peer_t info;

    wt_job_start(&job, 2, NULL);
    cr_assert_leq(job.r[0].addr_len, WEFT_TL_ADDR_MAX);
    cr_assert_eq(weft__tcp_addr_unpack(job.r[0].addr, job.r[0].addr_len, &addr,
                                       why, sizeof(why)),
                 WEFT_OK);
    cr_assert_eq(addr.eager_limit, WT_EAGER);
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

Test(tl_tcp, orderly_fini_is_not_a_failure_and_eager_data_survives_it,
     .timeout = 20)
{
    wt_job_t job;
    wt_op_t s, r, back;
    uint8_t msg[100], rbuf[100], x = 1;
    weft_tl_t *tl1;

    wt_job_start(&job, 2, NULL);
    wt_pattern(msg, sizeof(msg), 1, 4);
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
    cr_assert_eq(wt_check(rbuf, sizeof(rbuf), 1, 4), sizeof(rbuf));
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
Test(tl_tcp, orderly_exit_fails_what_can_no_longer_complete, .timeout = 20)
{
    wt_job_t job;
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
Test(tl_tcp, fini_frees_unexpected_and_unfinished_state, .timeout = 20)
{
    wt_job_t job;
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

Test(tl_tcp, idle_progress_is_cheap_and_wait_fd_is_the_epoll_fd, .timeout = 10)
{
    wt_job_t job;

    wt_job_start(&job, 2, NULL);
    cr_assert_geq(tcp->wait_fd(job.r[0].tl), 0);
    cr_assert_eq(tcp->progress(job.r[0].tl), 0);
    wt_job_stop(&job);
}
