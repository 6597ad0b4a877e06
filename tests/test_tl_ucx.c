/*
 * The ucx transport (weft_tl_ucx.so) through the public API, beyond the
 * conformance suite: withdrawn receives, many mixed sizes in flight, large
 * messages, order within a tag across UCX's protocols, truncation into a
 * large buffer, a killed peer (over UCX's tcp with its error handling,
 * and over shared memory where weft watches the process), and the next
 * transport in WEFT_TL when UCX cannot open. Each case runs over UCX's
 * tcp (UCX_TLS=tcp, UCX_NET_DEVICES=lo) and, where it applies, its
 * shared memory (UCX_TLS=sm); every case skips when the module is not
 * built.
 */
#include "build_config.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <weft.h>

#include "context.h"
#include "harness.h"
#include "tl_registry.h"
#ifdef WEFT_HAVE_UCX
#include "transports/ucx/ucx.h" /* a lost peer's endpoint, looked at */
#endif

typedef struct ucx_case {
    char tls[16]; /* UCX_TLS (inline: parameters are copied) */
    int nranks;
    int nodes; /* > 1: ranks on different "nodes" (no process watch) */
} ucx_case_t;

static ucx_case_t ucx_cases[] = {
    {"tcp", 2, 0},
    {"tcp", 4, 0},
    {"sm", 3, 0},
};

static void
ucx_skip_unless_built(void)
{
    char why[512];

    if (!wt_module_loadable("ucx", why, sizeof(why))) {
        cr_skip_test("transport ucx is not built here: %s", why);
    }
}

static char ucx_env_tls[64];

static int
ucx_run(const ucx_case_t *c, const char *tl, wt_rank_fn_t fn, void *arg,
        const char *extra)
{
    wt_job_t job = {
        .nranks = c->nranks,
        .tl = tl,
        .nodes = c->nodes,
        .timeout_s = 60,
        .env = {ucx_env_tls, "UCX_NET_DEVICES=lo", "WEFT_TIMEOUT=30s", extra}};

    snprintf(ucx_env_tls, sizeof(ucx_env_tls), "UCX_TLS=%s", c->tls);
    return wt_run(&job, fn, arg);
}

/* The transport this rank reaches `peer` through. */
static const char *
ucx_tl_of(weft_context_t *ctx, int peer)
{
    return ctx->tls[ctx->peers[peer].tl].ops->name;
}

#define NEXT(_w) ((weft_comm_rank(_w) + 1) % weft_comm_size(_w))
#define PREV(_w)                                                               \
    ((weft_comm_rank(_w) + weft_comm_size(_w) - 1) % weft_comm_size(_w))

#define CASE_FMT      "UCX_TLS=%s, %d ranks"
#define CASE_ARGS(_c) (_c)->tls, (_c)->nranks

/* ---- a withdrawn receive never matches, never writes ---------------- */

static void
cancel_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    static const size_t sizes[] = {8, 100000, 4u << 20};

    WT_CHECK(strcmp(ucx_tl_of(ctx, NEXT(w)), "ucx") == 0, "over %s",
             ucx_tl_of(ctx, NEXT(w)));
    for (int i = 0; i < 3; i++) {
        size_t n = sizes[i];
        uint8_t *first = malloc(n), *second = malloc(n), *out = malloc(n);
        weft_request_t *r;

        memset(first, 0xee, n);
        wt_fill(out, n, weft_comm_rank(w), i);
        /* posted, then withdrawn before anything is sent */
        WT_OK(weft_irecv(first, n, PREV(w), 40 + i, w, &r));
        weft_request_free(r);
        WT_OK(weft_barrier(w));
        WT_OK(weft_sendrecv(out, n, NEXT(w), 40 + i, second, n, PREV(w), 40 + i,
                            w));
        WT_CHECK(wt_verify(second, n, PREV(w), i) == n,
                 "size %zu: the message went astray", n);
        for (size_t k = 0; k < n; k++) {
            if (first[k] != 0xee) {
                WT_CHECK(0, "size %zu: the withdrawn buffer was written at %zu",
                         n, k);
                break;
            }
        }
        WT_OK(weft_barrier(w));
        free(first);
        free(second);
        free(out);
    }
}

ParameterizedTestParameters(tl_ucx, withdrawn_receive)
{
    return cr_make_param_array(ucx_case_t, ucx_cases,
                               sizeof(ucx_cases) / sizeof(ucx_cases[0]));
}

ParameterizedTest(ucx_case_t *c, tl_ucx, withdrawn_receive, .timeout = 90)
{
    ucx_skip_unless_built();
    cr_assert_eq(ucx_run(c, "self,ucx", cancel_body, NULL, NULL), 0, CASE_FMT,
                 CASE_ARGS(c));
}

/* ---- many mixed sizes in flight; order within one tag ---------------- */

#define MIX_N 600

static size_t
mix_size(int i)
{
    static const size_t sizes[] = {0, 1, 8, 1000, 9000, 70000, 300000};

    return sizes[(i * 7 + i / 3) % 7];
}

static void
mixed_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    static uint8_t *in[MIX_N], *out[MIX_N];
    static weft_request_t *r[2 * MIX_N];
    int me = weft_comm_rank(w);

    (void)ctx;
    for (int i = 0; i < MIX_N; i++) {
        in[i] = malloc(mix_size(i) + 1);
        out[i] = malloc(mix_size(i) + 1);
        wt_fill(out[i], mix_size(i), me, i);
    }
    /* half the receives before the sends, half after (unexpected);
     * all on 3 tags, so order within a tag is what matches them */
    for (int i = 0; i < MIX_N / 2; i++) {
        WT_OK(weft_irecv(in[i], mix_size(i), PREV(w), i % 3, w, &r[i]));
    }
    for (int i = 0; i < MIX_N; i++) {
        WT_OK(
            weft_isend(out[i], mix_size(i), NEXT(w), i % 3, w, &r[MIX_N + i]));
    }
    for (int i = MIX_N / 2; i < MIX_N; i++) {
        WT_OK(weft_irecv(in[i], mix_size(i), PREV(w), i % 3, w, &r[i]));
    }
    WT_OK(weft_waitall(2 * MIX_N, r));
    for (int i = 0; i < MIX_N; i++) {
        size_t n = mix_size(i), bad = wt_verify(in[i], n, PREV(w), i);

        WT_CHECK(bad == n, "message %d (%zu bytes, tag %d): byte %zu wrong", i,
                 n, i % 3, bad);
        free(in[i]);
        free(out[i]);
    }
}

ParameterizedTestParameters(tl_ucx, many_mixed_sizes_in_order)
{
    return cr_make_param_array(ucx_case_t, ucx_cases,
                               sizeof(ucx_cases) / sizeof(ucx_cases[0]));
}

ParameterizedTest(ucx_case_t *c, tl_ucx, many_mixed_sizes_in_order,
                  .timeout = 120)
{
    ucx_skip_unless_built();
    cr_assert_eq(ucx_run(c, "self,ucx", mixed_body, NULL, NULL), 0, CASE_FMT,
                 CASE_ARGS(c));
}

/* ---- large messages, both ways at once -------------------------------- */

static void
large_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    static const size_t sizes[] = {(16u << 20) + 1, 48u << 20};

    (void)ctx;
    for (int i = 0; i < 2; i++) {
        size_t n = sizes[i];
        uint8_t *out = malloc(n), *in = malloc(n);
        weft_request_t *r[2];

        wt_fill(out, n, weft_comm_rank(w), i);
        WT_OK(weft_irecv(in, n, PREV(w), 7, w, &r[0]));
        WT_OK(weft_isend(out, n, NEXT(w), 7, w, &r[1]));
        WT_OK(weft_waitall(2, r));
        WT_CHECK(wt_verify(in, n, PREV(w), i) == n, "%zu bytes: byte %zu", n,
                 wt_verify(in, n, PREV(w), i));
        free(out);
        free(in);
    }
}

ParameterizedTestParameters(tl_ucx, large_messages)
{
    return cr_make_param_array(ucx_case_t, ucx_cases,
                               sizeof(ucx_cases) / sizeof(ucx_cases[0]));
}

ParameterizedTest(ucx_case_t *c, tl_ucx, large_messages, .timeout = 120)
{
    ucx_skip_unless_built();
    cr_assert_eq(ucx_run(c, "self,ucx", large_body, NULL, NULL), 0, CASE_FMT,
                 CASE_ARGS(c));
}

/* ---- truncation into a buffer UCX receives without copying ------------ */

static void
trunc_large_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    size_t cap = 256 * 1024, n = 1024 * 1024;
    uint8_t *out = malloc(n), *in = malloc(cap);
    weft_request_t *r[2];
    weft_status_t st;
    uint32_t a = 7, b = 0;

    (void)ctx;
    wt_fill(out, n, weft_comm_rank(w), 1);
    WT_OK(weft_irecv(in, cap, PREV(w), 3, w, &r[0]));
    WT_OK(weft_isend(out, n, NEXT(w), 3, w, &r[1]));
    st = weft_wait(r[0]);
    WT_CHECK(st == WEFT_ERR_TRUNCATED, "receive returned %s",
             weft_status_string(st));
    WT_OK(weft_wait(r[1]));
    /* the link and the communicator go on */
    WT_OK(weft_sendrecv(&a, 4, NEXT(w), 4, &b, 4, PREV(w), 4, w));
    WT_CHECK(b == 7, "after truncation: got %u", b);
    free(out);
    free(in);
}

ParameterizedTestParameters(tl_ucx, truncation_into_a_large_buffer)
{
    return cr_make_param_array(ucx_case_t, ucx_cases,
                               sizeof(ucx_cases) / sizeof(ucx_cases[0]));
}

ParameterizedTest(ucx_case_t *c, tl_ucx, truncation_into_a_large_buffer,
                  .timeout = 90)
{
    ucx_skip_unless_built();
    cr_assert_eq(ucx_run(c, "self,ucx", trunc_large_body, NULL, NULL), 0,
                 CASE_FMT, CASE_ARGS(c));
}

/* ---- a peer killed: PEER_LOST within the deadline ---------------------- */

typedef struct kill_shared {
    int survivor_done; /* rank 0 saw the loss and checked it */
    double took_s;
    char error[256];
    char transport[256]; /* what the ucx endpoint says */
} kill_shared_t;

/* The bootstrap store may tell the core of the loss first: progress
 * until the transport has seen it too (its endpoint failed), or 10 s. */
static void
kill_transport_view(weft_context_t *ctx, weft_comm_t *w, kill_shared_t *sh)
{
#ifdef WEFT_HAVE_UCX
    weft_tl_ep_t *ep = ctx->peers[1].ep;
    double deadline = wt_now() + 10;

    WT_CHECK(ep != NULL, "no ucx endpoint for rank 1");
    (void)w;
    while (ep != NULL && ep->state != UCX_EP_FAILED && wt_now() < deadline) {
        weft_progress(ctx);
        usleep(1000);
    }
    if (ep != NULL) {
        snprintf(sh->transport, sizeof(sh->transport), "%s%s", ep->why,
                 ep->state == UCX_EP_FAILED ? "" : " (not failed)");
    }
#else
    (void)ctx;
    (void)w;
    (void)sh;
#endif
}

static void
kill_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    kill_shared_t *sh = arg;
    uint8_t buf[64];
    weft_request_t *r;
    double t0;
    weft_status_t st;

    if (weft_comm_rank(w) == 0) {
        /* pending when rank 1 dies; rank 1 never sends it */
        WT_OK(weft_irecv(buf, sizeof(buf), 1, 9, w, &r));
    }
    WT_OK(weft_barrier(w));
    if (weft_comm_rank(w) == 1) {
        kill(getpid(), SIGKILL);
    }
    WT_CHECK(strcmp(ucx_tl_of(ctx, 1), "ucx") == 0, "over %s",
             ucx_tl_of(ctx, 1));
    t0 = wt_now();
    st = weft_wait(r);
    sh->took_s = wt_now() - t0;
    snprintf(sh->error, sizeof(sh->error), "%s: %s", weft_status_string(st),
             weft_last_error());
    WT_CHECK(st == WEFT_ERR_PEER_LOST, "%s", sh->error);
    kill_transport_view(ctx, w, sh);
    sh->survivor_done = 1;
}

static void
kill_case(const ucx_case_t *c, const char *want)
{
    kill_shared_t *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int failed;

    cr_assert(sh != MAP_FAILED);
    memset(sh, 0, sizeof(*sh));
    failed = ucx_run(c, "self,ucx", kill_body, sh, NULL);
    cr_log_info(CASE_FMT ", %d node(s): the loss took %.2f s: %s; the "
                         "transport: %s",
                CASE_ARGS(c), c->nodes ? c->nodes : 1, sh->took_s, sh->error,
                sh->transport);
    cr_assert(sh->survivor_done, CASE_FMT ": rank 0 never saw the loss (%s)",
              CASE_ARGS(c), sh->error);
    cr_assert(failed == 1, CASE_FMT ": %d ranks failed, want rank 1 alone",
              CASE_ARGS(c), failed);
    cr_assert(sh->took_s < 20.0, CASE_FMT ": the loss took %.1f s",
              CASE_ARGS(c), sh->took_s);
    cr_assert(strstr(sh->transport, want) != NULL &&
                  strstr(sh->transport, "not failed") == NULL,
              CASE_FMT ": the ucx endpoint does not say '%s': %s", CASE_ARGS(c),
              want, sh->transport);
    munmap(sh, sizeof(*sh));
}

/* Ranks on two "nodes": no process watch, UCX's error handling alone
 * (UCP_ERR_HANDLING_MODE_PEER: the error callback) sees the loss. */
Test(tl_ucx, killed_peer_over_tcp_is_lost, .timeout = 90)
{
    ucx_case_t c = {"tcp", 2, 2};

    ucx_skip_unless_built();
    kill_case(&c, "UCX link to rank 1 failed");
}

/* One node, shared memory: UCX 1.13 has no failure handling there, the
 * module watches the peer process (pidfd). */
Test(tl_ucx, killed_peer_over_shared_memory_is_lost, .timeout = 90)
{
    ucx_case_t c = {"sm", 2, 0};

    ucx_skip_unless_built();
    kill_case(&c, "process of rank 1 has ended");
}

/* ---- a send withdrawn in flight costs the link, and nothing hangs ------ */

static void
withdrawn_send_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    size_t n = 4u << 20; /* a rendezvous: rank 1 never receives it */
    uint8_t *big = malloc(n), small[8] = {0};
    weft_request_t *r;
    weft_status_t st;
    double t0;

    (void)ctx;
    (void)arg;
    WT_OK(weft_barrier(w));
    t0 = wt_now();
    if (weft_comm_rank(w) == 0) {
        WT_OK(weft_isend(big, n, 1, 5, w, &r));
        usleep(100 * 1000);
        weft_request_free(r); /* withdrawn while UCX holds the buffer */
        memset(big, 0xaa, n); /* ours again */
        st = weft_send(small, sizeof(small), 1, 6, w);
        WT_CHECK(st == WEFT_ERR_PEER_LOST, "after the withdrawn send: %s (%s)",
                 weft_status_string(st), weft_last_error());
    } else {
        st = weft_recv(small, sizeof(small), 0, 6, w, NULL);
        WT_CHECK(st != WEFT_OK, "a message came over a closed link");
    }
    WT_CHECK(wt_now() - t0 < 10, "rank %d took %.1f s", weft_comm_rank(w),
             wt_now() - t0);
    free(big);
}

/* Over UCX's tcp (peer error handling on both sides); over its shared
 * memory a link closed by a live peer is not seen (no error handling
 * there, and the process watch sees only a process that ends). */
Test(tl_ucx, a_send_withdrawn_in_flight_costs_the_link, .timeout = 60)
{
    ucx_case_t c = {"tcp", 2, 0};

    ucx_skip_unless_built();
    cr_assert_eq(ucx_run(&c, "self,ucx", withdrawn_send_body, NULL, NULL), 0,
                 CASE_FMT, CASE_ARGS(&c));
}

/* ---- what a finished peer sent stays deliverable ------------------------ */

/* Over shared memory: 1 while rank 1's process is not yet seen gone (10 s
 * at most). */
static int
finished_wait(weft_context_t *ctx)
{
#ifdef WEFT_HAVE_UCX
    static double limit;

    if (limit == 0) {
        limit = wt_now() + 10;
    }
    return strcmp(ucx_env_tls, "UCX_TLS=sm") == 0 && wt_now() < limit &&
           (ctx->peers[1].ep == NULL ||
            ctx->peers[1].ep->state != UCX_EP_FAILED);
#else
    (void)ctx;
    return 0;
#endif
}

static void
finished_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    uint32_t v[5];

    (void)ctx;
    (void)arg;
    WT_OK(weft_barrier(w));
    if (weft_comm_rank(w) == 1) {
        for (uint32_t i = 0; i < 5; i++) {
            v[i] = 1000 + i;
            WT_OK(weft_send(&v[i], sizeof(v[i]), 0, (int)i, w));
        }
        return; /* and leaves: its goodbye follows the messages */
    }
    /* until rank 1 has left (it waits for this rank's goodbye only its
     * teardown timeout, 0.1 s here) and this rank's transport has seen
     * it: over shared memory the process watch marks the link failed */
    for (double end = wt_now() + 0.7; wt_now() < end || finished_wait(ctx);) {
        weft_progress(ctx);
        usleep(1000);
    }
#ifdef WEFT_HAVE_UCX
    if (strcmp(ucx_env_tls, "UCX_TLS=sm") == 0) {
        WT_CHECK(ctx->peers[1].ep != NULL &&
                     ctx->peers[1].ep->state == UCX_EP_FAILED,
                 "the transport has not seen rank 1 leave");
    }
#endif
    for (int i = 4; i >= 0; i--) {
        uint32_t got = 0;

        WT_OK(weft_recv(&got, sizeof(got), 1, i, w, NULL));
        WT_CHECK(got == 1000u + (uint32_t)i, "tag %d: got %u", i, got);
    }
}

ParameterizedTestParameters(tl_ucx, messages_of_a_finished_peer_are_kept)
{
    static ucx_case_t two[] = {{"tcp", 2, 0}, {"sm", 2, 0}};

    return cr_make_param_array(ucx_case_t, two, 2);
}

ParameterizedTest(ucx_case_t *c, tl_ucx, messages_of_a_finished_peer_are_kept,
                  .timeout = 60)
{
    ucx_skip_unless_built();
    cr_assert_eq(ucx_run(c, "self,ucx", finished_body, NULL,
                         "WEFT_TEARDOWN_TIMEOUT=100ms"),
                 0, CASE_FMT, CASE_ARGS(c));
}

/* ---- UCX cannot open: a clear message, then the next transport --------- */

static void
fallback_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int rank = weft_comm_rank(w), n = weft_comm_size(w), sum = 0;

    (void)arg;
    WT_OK(weft_allreduce(&rank, &sum, 1, WEFT_INT32, WEFT_SUM, w));
    WT_CHECK(sum == n * (n - 1) / 2, "sum %d", sum);
    for (int r = 0; r < n; r++) {
        if (r != rank) {
            WT_CHECK(strcmp(ucx_tl_of(ctx, r), "tcp") == 0,
                     "rank %d reached over %s, not tcp", r, ucx_tl_of(ctx, r));
        }
    }
}

Test(tl_ucx, a_ucx_that_cannot_open_falls_back_to_the_next, .timeout = 60)
{
    ucx_case_t c = {"nonexistent", 3, 0};

    ucx_skip_unless_built();
    cr_assert_eq(ucx_run(&c, "self,ucx,tcp", fallback_body, NULL, NULL), 0);
}

static char ucx_log_text[2048];

static void
ucx_log_capture(void *host, weft_log_level_t level, const char *fmt, ...)
{
    size_t used = strlen(ucx_log_text);
    va_list ap;

    (void)host;
    (void)level;
    va_start(ap, fmt);
    vsnprintf(ucx_log_text + used, sizeof(ucx_log_text) - used, fmt, ap);
    va_end(ap);
    used = strlen(ucx_log_text);
    snprintf(ucx_log_text + used, sizeof(ucx_log_text) - used, "\n");
}

static const char *
ucx_config_none(void *host, const char *name)
{
    (void)host;
    (void)name;
    return NULL;
}

Test(tl_ucx, open_failure_names_the_ucx_settings, .timeout = 30)
{
    static const uint8_t key[32] = {1};
    const weft_tl_ops_t *ops = NULL;
    weft_tl_init_args_t args = {0};
    weft_tl_t *tl = NULL;
    int local = 0;
    weft_status_t st;

    ucx_skip_unless_built();
    cr_assert_eq(
        weft__tl_registry_load("ucx", getenv("WEFT_TL_MODULE_PATH"), &ops),
        WEFT_OK, "%s", weft_last_error());
    args.size = sizeof(args);
    args.rank = 0;
    args.nranks = 2;
    args.node_id = "n";
    args.auth_key = key;
    args.auth_key_len = sizeof(key);
    args.teardown_timeout_s = 1;
    args.config_get = ucx_config_none;
    args.log = ucx_log_capture;
    args.local_ranks = &local;
    args.nlocal = 1;
    setenv("UCX_TLS", "nonexistent", 1);
    setenv("UCX_NET_DEVICES", "lo", 1);
    st = ops->init(&args, &tl);
    cr_assert_eq(st, WEFT_ERR_UNSUPPORTED, "init returned %d", st);
    cr_assert_null(tl);
    cr_assert(strstr(ucx_log_text, "UCX_TLS") != NULL &&
                  strstr(ucx_log_text, "ucp_init failed") != NULL,
              "the log does not say what failed: %s", ucx_log_text);
    /* and with a transport that exists, it opens and publishes an
     * address that fits */
    setenv("UCX_TLS", "tcp", 1);
    ucx_log_text[0] = '\0';
    cr_assert_eq(ops->init(&args, &tl), WEFT_OK, "%s", ucx_log_text);
    {
        uint8_t addr[WEFT_TL_ADDR_MAX];
        size_t len = sizeof(addr);

        cr_assert_eq(ops->address(tl, addr, &len), WEFT_OK, "%s", ucx_log_text);
        cr_assert(len > 16 && len <= WEFT_TL_ADDR_MAX, "address of %zu", len);
    }
    ops->fini(tl);
}
