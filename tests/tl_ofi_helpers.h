/*
 * The host side of the transport ABI for tests/test_tl_ofi.c: instances
 * of the ofi module in this process, linked in pairs, ops that record
 * their completion, and the provider cases the tests run over.
 */
#ifndef WT_TL_OFI_HELPERS_H
#define WT_TL_OFI_HELPERS_H

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <weft/transport.h>

typedef struct wt_ofi_case {
    char prov[16]; /* WEFT_OFI_PROVIDER: inline, copied into the worker */
    char mr[8];    /* WEFT_OFI_MR */
} wt_ofi_case_t;

/* tcp;ofi_rxm, shm, and tcp registering every buffer */
#define WT_OFI_NCASES 3
extern wt_ofi_case_t wt_ofi_cases[WT_OFI_NCASES];

typedef struct wt_host {
    const char *prov, *mr;
    char last_log[1024];
    int failed_calls;
    int failed_peer;
    weft_status_t failed_status;
} wt_host_t;

typedef struct wt_op {
    weft_tl_op_t op; /* first: the completion finds us from it */
    int done;
    weft_status_t status;
    size_t bytes;
} wt_op_t;

/* Two instances of one process, linked both ways. */
typedef struct wt_pair {
    wt_host_t h[2];
    weft_tl_t *tl[2];
    weft_tl_ep_t *ep[2]; /* ep[i]: instance i's link to the other */
} wt_pair_t;

/* The module, once wt_ofi_load has run. */
extern const weft_tl_ops_t *wt_ofi;

void wt_ofi_load(void);
/* Instance `rank` of a job of `nranks` (at most 8) on one node. */
weft_status_t wt_open_n(wt_host_t *h, int rank, int nranks, weft_tl_t **tl_p);
weft_status_t wt_open(wt_host_t *h, int rank, weft_tl_t **tl_p);
weft_tl_ep_t *wt_connect(weft_tl_t *tl, int peer_rank, const void *addr,
                         size_t len);
void wt_pair_open(wt_pair_t *p, const wt_ofi_case_t *c);
void wt_pair_close(wt_pair_t *p);
/* Progress both until every op in ops is done, or 20 s. */
int wt_pair_wait(wt_pair_t *p, wt_op_t **ops, int n);
void wt_op_init(wt_op_t *o);
void wt_send(wt_pair_t *p, int from, const void *buf, size_t len, uint64_t tag,
             wt_op_t *o);
/* What libfabric's shm provider leaves of a process killed before it
 * could clean up: its segments, /dev/shm/<pid>:<n>:<m>. The test killed
 * it, so the test removes them. */
void wt_shm_forget(pid_t pid);
void wt_recv(wt_pair_t *p, int at, void *buf, size_t len, uint64_t tag,
             wt_op_t *o);

#define WT_OFI_PARAMS(_name)                                                   \
    ParameterizedTestParameters(tl_ofi, _name)                                 \
    {                                                                          \
        return cr_make_param_array(wt_ofi_case_t, wt_ofi_cases,                \
                                   WT_OFI_NCASES);                             \
    }

#endif /* WT_TL_OFI_HELPERS_H */
