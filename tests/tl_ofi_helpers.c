/*
 * The host side of the transport ABI for tests/test_tl_ofi.c (see
 * tl_ofi_helpers.h).
 */
#include "build_config.h"
#include "tl_ofi_helpers.h"

#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "tl_registry.h"

wt_ofi_case_t wt_ofi_cases[WT_OFI_NCASES] = {
    {"tcp", "auto"}, {"shm", "auto"}, {"tcp", "always"}};

const weft_tl_ops_t *wt_ofi;

static const char *
wt_config_get(void *host, const char *name)
{
    wt_host_t *h = host;

    if (strcmp(name, "OFI_PROVIDER") == 0) {
        return h->prov;
    }
    if (strcmp(name, "OFI_MR") == 0) {
        return h->mr;
    }
    return NULL;
}

static void
wt_log(void *host, weft_log_level_t level, const char *fmt, ...)
{
    wt_host_t *h = host;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(h->last_log, sizeof(h->last_log), fmt, ap);
    va_end(ap);
    if (level <= WEFT_LOG_WARN) {
        fprintf(stderr, "[ofi test] %s\n", h->last_log);
    }
}

static void
wt_peer_failed(void *host, int peer, weft_status_t status, const char *why)
{
    wt_host_t *h = host;

    h->failed_calls++;
    h->failed_peer = peer;
    h->failed_status = status;
}

static void
wt_complete(weft_tl_op_t *op, weft_status_t status, size_t bytes)
{
    wt_op_t *o = (wt_op_t *)op;

    o->done++;
    o->status = status;
    o->bytes = bytes;
}

void
wt_ofi_load(void)
{
    if (weft__tl_registry_load("ofi", getenv("WEFT_TL_MODULE_PATH"), &wt_ofi) !=
        WEFT_OK) {
        cr_skip_test("the ofi module is not built here: %s", weft_last_error());
    }
}

/* Instance `rank` of a job of `nranks` (at most 8) on one node. */
weft_status_t
wt_open_n(wt_host_t *h, int rank, int nranks, weft_tl_t **tl_p)
{
    static const int local[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    weft_tl_init_args_t a = {.size = sizeof(a),
                             .rank = rank,
                             .nranks = nranks,
                             .node_id = "wt-node",
                             .handshake_timeout_s = 5,
                             .teardown_timeout_s = 2,
                             .host = h,
                             .config_get = wt_config_get,
                             .log = wt_log,
                             .peer_failed = wt_peer_failed,
                             .local_ranks = local,
                             .nlocal = nranks,
                             .local_index = rank};

    return wt_ofi->init(&a, tl_p);
}

weft_status_t
wt_open(wt_host_t *h, int rank, weft_tl_t **tl_p)
{
    return wt_open_n(h, rank, 2, tl_p);
}

weft_tl_ep_t *
wt_connect(weft_tl_t *tl, int peer_rank, const void *addr, size_t len)
{
    weft_tl_peer_t p = {.rank = peer_rank,
                        .same_node = 1,
                        .node_id = "wt-node",
                        .addr = addr,
                        .addr_len = len};
    weft_tl_ep_t *ep = NULL;

    cr_assert(wt_ofi->reachable(tl, &p), "rank %d is not reachable", peer_rank);
    cr_assert_eq(wt_ofi->ep_create(tl, &p, &ep), WEFT_OK);
    return ep;
}

void
wt_pair_open(wt_pair_t *p, const wt_ofi_case_t *c)
{
    uint8_t addr[2][WEFT_TL_ADDR_MAX];
    size_t len[2];
    weft_status_t st;

    wt_ofi_load();
    memset(p, 0, sizeof(*p));
    for (int i = 0; i < 2; i++) {
        p->h[i].prov = c->prov;
        p->h[i].mr = c->mr;
        st = wt_open(&p->h[i], i, &p->tl[i]);
        if (st != WEFT_OK && i == 0) {
            cr_skip_test("libfabric provider %s does not open here: %s",
                         c->prov, p->h[0].last_log);
        }
        cr_assert_eq(st, WEFT_OK, "%s: %s", c->prov, p->h[i].last_log);
        len[i] = sizeof(addr[i]);
        cr_assert_eq(wt_ofi->address(p->tl[i], addr[i], &len[i]), WEFT_OK);
        cr_assert(len[i] <= WEFT_TL_ADDR_MAX);
    }
    for (int i = 0; i < 2; i++) {
        p->ep[i] = wt_connect(p->tl[i], 1 - i, addr[1 - i], len[1 - i]);
    }
}

void
wt_pair_close(wt_pair_t *p)
{
    wt_ofi->fini(p->tl[0]);
    /* it hears the goodbye and sends none back (with shm, to a peer of
     * this very process that is no more) */
    for (int i = 0; i < 1000; i++) {
        wt_ofi->progress(p->tl[1]);
    }
    wt_ofi->fini(p->tl[1]);
}

/* Progress both until every op in ops is done, or 20 s. */
int
wt_pair_wait(wt_pair_t *p, wt_op_t **ops, int n)
{
    double deadline = wt_now() + 20;

    for (;;) {
        int left = 0;

        for (int i = 0; i < n; i++) {
            left += ops[i]->done == 0;
        }
        if (left == 0) {
            return 1;
        }
        if (wt_now() > deadline) {
            return 0;
        }
        wt_ofi->progress(p->tl[0]);
        wt_ofi->progress(p->tl[1]);
    }
}

void
wt_op_init(wt_op_t *o)
{
    memset(o, 0, sizeof(*o));
    o->op.complete = wt_complete;
}

void
wt_send(wt_pair_t *p, int from, const void *buf, size_t len, uint64_t tag,
        wt_op_t *o)
{
    wt_op_init(o);
    cr_assert_eq(wt_ofi->isend(p->ep[from], buf, len, tag, &o->op), WEFT_OK,
                 "isend of %zu bytes", len);
}

/* What libfabric's shm provider leaves of a process killed before it
 * could clean up: its segments, /dev/shm/<pid>:<n>:<m>. The test killed
 * it, so the test removes them. */
void
wt_shm_forget(pid_t pid)
{
    char pattern[64];
    glob_t g;

    snprintf(pattern, sizeof(pattern), "/dev/shm/%d:*", (int)pid);
    if (glob(pattern, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            unlink(g.gl_pathv[i]);
        }
        globfree(&g);
    }
}

void
wt_recv(wt_pair_t *p, int at, void *buf, size_t len, uint64_t tag, wt_op_t *o)
{
    wt_op_init(o);
    cr_assert_eq(wt_ofi->irecv(p->ep[at], buf, len, tag, &o->op), WEFT_OK,
                 "irecv of %zu bytes", len);
}
