/*
 * ofi transport: memory registration for providers that need a
 * descriptor with each buffer (FI_MR_LOCAL; or WEFT_OFI_MR=always).
 * Registrations cover whole pages and are cached: a buffer inside a
 * cached region reuses it; the least recently used unreferenced region
 * makes room. When every slot is in use a registration is made for the
 * one operation and closed after it.
 *
 * The cache trusts that a region's pages stay the same while it is
 * cached (no memory monitor): a provider that pins pages (verbs) keeps
 * its own cache with a monitor underneath, so a region freed and mapped
 * anew is a risk only where the provider has none.
 */
#include "ofi.h"

#include <rdma/fi_errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t
ofi_page_size(void)
{
    static size_t page;

    if (page == 0) {
        long p = sysconf(_SC_PAGESIZE);

        page = p > 0 ? (size_t)p : 4096;
    }
    return page;
}

static weft_status_t
ofi_mr_reg(weft_tl_t *tl, uintptr_t start, uintptr_t end, weft__ofi_mr_t *m)
{
    /* without FI_MR_PROV_KEY the keys are ours to choose, unique */
    uint64_t key = tl->mr_prov_key ? 0 : ++tl->mr_next_key;
    int rc = fi_mr_reg(tl->domain, (void *)start, end - start,
                       FI_SEND | FI_RECV, 0, key, 0, &m->mr, NULL);

    if (rc == 0 && tl->mr_endpoint) {
        rc = fi_mr_bind(m->mr, &tl->ep->fid, 0);
        if (rc == 0) {
            rc = fi_mr_enable(m->mr);
        }
        if (rc != 0) {
            fi_close(&m->mr->fid);
        }
    }
    if (rc != 0) {
        OFI_LOG(tl, WEFT_LOG_ERROR,
                "ofi: registering %zu bytes at %p failed on provider %s: %s",
                (size_t)(end - start), (void *)start, tl->prov,
                fi_strerror(-rc));
        m->mr = NULL;
        return rc == -FI_ENOMEM ? WEFT_ERR_NO_MEMORY : WEFT_ERR_TRANSPORT;
    }
    m->desc = fi_mr_desc(m->mr);
    m->start = start;
    m->end = end;
    m->refs = 1;
    m->last_use = ++tl->mr_clock;
    return WEFT_OK;
}

static int
ofi_mr_cached(weft_tl_t *tl, const weft__ofi_mr_t *m)
{
    return m >= tl->mrs && m < tl->mrs + OFI_MR_CACHE_MAX;
}

/* A free slot: an empty one, else the least recently used unreferenced
 * region (closed first), else NULL. */
static weft__ofi_mr_t *
ofi_mr_slot(weft_tl_t *tl)
{
    weft__ofi_mr_t *lru = NULL;

    if (tl->nmrs < OFI_MR_CACHE_MAX) {
        return &tl->mrs[tl->nmrs++];
    }
    for (unsigned i = 0; i < tl->nmrs; i++) {
        weft__ofi_mr_t *m = &tl->mrs[i];

        if (m->mr == NULL) {
            return m;
        }
        if (m->refs == 0 && (lru == NULL || m->last_use < lru->last_use)) {
            lru = m;
        }
    }
    if (lru != NULL) {
        fi_close(&lru->mr->fid);
        memset(lru, 0, sizeof(*lru));
    }
    return lru;
}

weft_status_t
weft__ofi_mr_get(weft_tl_t *tl, const void *buf, size_t len,
                 weft__ofi_mr_t **mr_p)
{
    size_t page = ofi_page_size();
    uintptr_t start = (uintptr_t)buf & ~(uintptr_t)(page - 1);
    uintptr_t end = ((uintptr_t)buf + (len > 0 ? len : 1) + page - 1) &
                    ~(uintptr_t)(page - 1);
    weft__ofi_mr_t *m;
    weft_status_t st;

    for (unsigned i = 0; i < tl->nmrs; i++) {
        m = &tl->mrs[i];
        if (m->mr != NULL && m->start <= start && end <= m->end) {
            m->refs++;
            m->last_use = ++tl->mr_clock;
            *mr_p = m;
            return WEFT_OK;
        }
    }
    m = ofi_mr_slot(tl);
    if (m == NULL) {
        m = calloc(1, sizeof(*m)); /* for this operation alone */
        if (m == NULL) {
            return WEFT_ERR_NO_MEMORY;
        }
    }
    st = ofi_mr_reg(tl, start, end, m);
    if (st != WEFT_OK) {
        if (!ofi_mr_cached(tl, m)) {
            free(m);
        }
        return st;
    }
    *mr_p = m;
    return WEFT_OK;
}

void
weft__ofi_mr_put(weft_tl_t *tl, weft__ofi_mr_t *mr)
{
    if (mr->refs > 0) {
        mr->refs--;
    }
    if (mr->refs == 0 && !ofi_mr_cached(tl, mr)) {
        fi_close(&mr->mr->fid);
        free(mr);
    }
}

/* Every cached region closed (fini). */
void
weft__ofi_mr_flush(weft_tl_t *tl)
{
    for (unsigned i = 0; i < tl->nmrs; i++) {
        if (tl->mrs[i].mr != NULL) {
            fi_close(&tl->mrs[i].mr->fid);
        }
    }
    memset(tl->mrs, 0, sizeof(tl->mrs));
    tl->nmrs = 0;
    tl->ctrl_mr = NULL;
}
