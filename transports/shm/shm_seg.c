/*
 * shm segments: this rank's (created and reserved at init, so a full
 * /dev/shm or memory limit is an error now rather than a SIGBUS later)
 * and its peers' (mapped and checked before any byte of them is used).
 *
 * memfd mode (the default): the segment has no name; a peer opens
 * /proc/<pid>/fd/<fd>, which the kernel allows only to processes that
 * may inspect the owner (same user, ptrace rules), and it disappears
 * with the last process that maps it, crashed or not.
 * file mode: an O_EXCL 0600 file in WEFT_SHM_DIR, unlinked by the last
 * local peer to map it (or by its owner at fini); files that a crash
 * left between creation and that moment are removed by the next run on
 * the node once their creator is gone (weft__shm_clean_stale).
 */
#include "build_config.h"
#include "transports/shm/shm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "bootstrap/auth.h"
#include "clock.h"
#include "errmsg.h"
#include "log.h"
#include "util.h"

#define SHM_SEG_MAX ((uint64_t)1 << 40)

static size_t
shm_round_page(size_t n)
{
    return (n + 4095) & ~(size_t)4095;
}

static size_t
shm_ring_stride(uint32_t ring_cells)
{
    return shm_round_page(sizeof(shm_ring_ctl_t) +
                          (size_t)ring_cells * SHM_CELL);
}

shm_ring_t
weft__shm_seg_ring(void *seg, const shm_seg_hdr_t *hdr, int i)
{
    char *base = (char *)seg + hdr->ring_off + (size_t)i * hdr->ring_stride;
    shm_ring_t r = {
        .ctl = (shm_ring_ctl_t *)base,
        .cells = (shm_cell_t *)(base + sizeof(shm_ring_ctl_t)),
        .ncells = hdr->ring_cells,
    };

    return r;
}

void
weft__shm_token(const weft_tl_t *tl, int rank, pid_t pid, uint8_t out[32])
{
    char label[64];

    snprintf(label, sizeof(label), "weft/shm/segment/%d/%d", rank, (int)pid);
    weft__auth_derive(tl->key, sizeof(tl->key), label, out);
}

/* ---- own segment -------------------------------------------------------- */

static const char *
shm_where(const weft_tl_t *tl)
{
    return tl->mode == SHM_MODE_FILE ? tl->dir : "memfd (anonymous memory)";
}

static weft_status_t
shm_seg_open_fd(weft_tl_t *tl)
{
    if (tl->mode == SHM_MODE_MEMFD) {
        tl->seg_fd = memfd_create("weft-shm", MFD_CLOEXEC);
        if (tl->seg_fd >= 0 && fchmod(tl->seg_fd, 0600) != 0) {
            close(tl->seg_fd);
            tl->seg_fd = -1;
        }
        if (tl->seg_fd < 0) {
            return weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_TL,
                               "shm: memfd_create failed: %m (set "
                               "WEFT_SHM_SEGMENT=file to use %s)",
                               tl->dir);
        }
        return WEFT_OK;
    }
    for (int attempt = 0; attempt < 8; attempt++) {
        uint32_t nonce = 0;

        weft__auth_random(&nonce, sizeof(nonce));
        snprintf(tl->path, sizeof(tl->path), "%s/weft-%u-%d-%08x", tl->dir,
                 (unsigned)geteuid(), (int)getpid(), nonce);
        tl->seg_fd = open(tl->path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
                                        O_CLOEXEC,
                          0600);
        if (tl->seg_fd >= 0) {
            return WEFT_OK;
        }
        if (errno != EEXIST) {
            break;
        }
    }
    weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_TL,
                "shm: cannot create a segment in %s: %m", tl->dir);
    tl->path[0] = '\0';
    return WEFT_ERR_SYSTEM;
}

weft_status_t
weft__shm_seg_create(weft_tl_t *tl)
{
    size_t stride = shm_ring_stride(tl->ring_cells);
    size_t hdr_bytes = shm_round_page(SHM_SEG_MAPPED_OFF + (size_t)tl->nlocal);
    shm_seg_hdr_t *h;
    int err;

    tl->coll_stride = SHM_COLL_CTL + 2 * (size_t)tl->coll_buf;
    tl->seg_size = hdr_bytes + (size_t)tl->nlocal * stride +
                   (size_t)tl->coll_slots * tl->coll_stride;
    WEFT_CHECK(shm_seg_open_fd(tl));
    if (ftruncate(tl->seg_fd, (off_t)tl->seg_size) != 0) {
        err = errno;
        goto fail;
    }
    /* reserve every page now: a full /dev/shm (or memory limit) fails
     * here, with a message, instead of killing the job with SIGBUS */
    err = posix_fallocate(tl->seg_fd, 0, (off_t)tl->seg_size);
    if (err != 0) {
        goto fail;
    }
    tl->seg = mmap(NULL, tl->seg_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                   tl->seg_fd, 0);
    if (tl->seg == MAP_FAILED) {
        tl->seg = NULL;
        err = errno;
        goto fail;
    }
    h = tl->seg;
    h->magic = SHM_SEG_MAGIC;
    h->version = SHM_SEG_VERSION;
    h->sleep_barrier = (uint32_t)tl->sleep_barrier;
    h->owner_rank = tl->rank;
    h->owner_pid = (int32_t)getpid();
    h->nlocal = (uint32_t)tl->nlocal;
    h->ring_cells = tl->ring_cells;
    h->seg_size = tl->seg_size;
    h->ring_off = hdr_bytes;
    h->ring_stride = stride;
    h->coll_off = hdr_bytes + (size_t)tl->nlocal * stride;
    h->coll_stride = tl->coll_stride;
    h->coll_slots = tl->coll_slots;
    h->coll_buf = tl->coll_buf;
    h->hdr_vaddr = (uint64_t)(uintptr_t)h;
    weft__auth_random(&h->probe, sizeof(h->probe));
    h->probe |= 1; /* never 0: a failed read cannot pass for it */
    weft__shm_token(tl, tl->rank, getpid(), h->token);
    tl->hdr = h;
    weft__log_debug(WEFT_SUB_TL, "shm: segment of %zu bytes in %s", tl->seg_size,
                    tl->mode == SHM_MODE_FILE ? tl->path : "a memfd");
    return WEFT_OK;

fail:
    errno = err;
    weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_TL,
                "shm: cannot reserve %zu bytes for the segment in %s: %m "
                "(free space there, or leave shm out of WEFT_TL)",
                tl->seg_size, shm_where(tl));
    weft__shm_seg_destroy(tl);
    return WEFT_ERR_NO_MEMORY;
}

void
weft__shm_seg_destroy(weft_tl_t *tl)
{
    if (tl->seg != NULL) {
        munmap(tl->seg, tl->seg_size);
        tl->seg = NULL;
        tl->hdr = NULL;
    }
    if (tl->seg_fd >= 0) {
        close(tl->seg_fd);
        tl->seg_fd = -1;
    }
    if (tl->path[0] != '\0' && !tl->unlinked) {
        if (unlink(tl->path) != 0 && errno != ENOENT) {
            weft__log_warn(WEFT_SUB_TL, "shm: cannot remove %s: %m", tl->path);
        }
        tl->unlinked = 1;
    }
}

/* ---- addresses ---------------------------------------------------------- */

void
weft__shm_addr_pack(const weft_tl_t *tl, shm_addr_t *a)
{
    memset(a, 0, sizeof(*a));
    a->magic = SHM_ADDR_MAGIC;
    a->version = SHM_SEG_VERSION;
    a->mode = (uint8_t)tl->mode;
    a->pid = (int32_t)getpid();
    a->uid = (uint32_t)geteuid();
    a->fd = tl->mode == SHM_MODE_MEMFD ? tl->seg_fd : -1;
    a->seg_size = tl->seg_size;
    if (tl->mode == SHM_MODE_FILE) {
        weft__strlcpy(a->path, tl->path, sizeof(a->path));
    }
}

int
weft__shm_addr_unpack(const void *buf, size_t len, shm_addr_t *a, char *why,
                      size_t why_len)
{
    if (len != sizeof(*a)) {
        weft__why(why, why_len, "address of %zu bytes, not %zu", len,
                  sizeof(*a));
        return -1;
    }
    memcpy(a, buf, sizeof(*a));
    a->path[sizeof(a->path) - 1] = '\0';
    if (a->magic != SHM_ADDR_MAGIC || a->version != SHM_SEG_VERSION) {
        weft__why(why, why_len, "address with a bad magic or version");
        return -1;
    }
    if (a->mode != SHM_MODE_MEMFD && a->mode != SHM_MODE_FILE) {
        weft__why(why, why_len, "address with unknown mode %u", a->mode);
        return -1;
    }
    if (a->pid <= 0 || a->seg_size < 4096 ||
        a->seg_size > SHM_SEG_MAX ||
        (a->mode == SHM_MODE_MEMFD && a->fd < 0) ||
        (a->mode == SHM_MODE_FILE && a->path[0] != '/')) {
        weft__why(why, why_len, "address with out-of-range fields");
        return -1;
    }
    return 0;
}

/* ---- peers' segments ---------------------------------------------------- */

static int
shm_seg_open_peer(const shm_addr_t *a, char *why, size_t why_len)
{
    char path[64];
    const char *p = a->path;
    struct stat st;
    int fd;

    if (a->mode == SHM_MODE_MEMFD) {
        snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)a->pid, (int)a->fd);
        p = path;
    }
    /* /proc/<pid>/fd/<fd> is a link by nature; a file must not be one */
    fd = open(p, O_RDWR | O_CLOEXEC |
                     (a->mode == SHM_MODE_FILE ? O_NOFOLLOW : 0));
    if (fd < 0) {
        int e = errno;

        weft__why(why, why_len, "cannot open %s: %s", p, strerror(e));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_uid != geteuid() || (st.st_mode & 077) != 0 ||
        (uint64_t)st.st_size < a->seg_size) {
        weft__why(why, why_len,
                  "%s is not a private segment of ours of %llu bytes", p,
                  (unsigned long long)a->seg_size);
        close(fd);
        return -1;
    }
    return fd;
}

static int
shm_seg_check(const weft_tl_t *tl, const weft_tl_ep_t *peer,
              const shm_seg_hdr_t *h, const shm_addr_t *a, char *why,
              size_t why_len)
{
    uint8_t token[32];
    unsigned diff = 0;
    uint64_t need;

    if (h->magic != SHM_SEG_MAGIC || h->version != SHM_SEG_VERSION ||
        h->owner_rank != peer->rank || h->owner_pid != a->pid ||
        h->seg_size != a->seg_size || h->nlocal != (uint32_t)tl->nlocal) {
        weft__why(why, why_len, "its segment header does not match its "
                                "address (another job's, or corrupt)");
        return -1;
    }
    if (h->ring_cells < 64 || h->ring_cells > (1u << 24) ||
        (h->ring_cells & (h->ring_cells - 1)) != 0 ||
        h->ring_off < SHM_SEG_MAPPED_OFF + (uint64_t)h->nlocal ||
        h->ring_stride < sizeof(shm_ring_ctl_t) +
                             (uint64_t)h->ring_cells * SHM_CELL) {
        weft__why(why, why_len, "its segment has a bad ring layout");
        return -1;
    }
    need = h->ring_off + (uint64_t)h->nlocal * h->ring_stride;
    if (need > h->seg_size || h->coll_off < need ||
        h->coll_slots > SHM_COLL_SLOTS_MAX ||
        h->coll_stride < SHM_COLL_CTL + 2 * (uint64_t)h->coll_buf ||
        h->coll_off + (uint64_t)h->coll_slots * h->coll_stride >
            h->seg_size) {
        weft__why(why, why_len, "its rings or slots do not fit its segment");
        return -1;
    }
    weft__shm_token(tl, peer->rank, a->pid, token);
    for (size_t i = 0; i < sizeof(token); i++) {
        diff |= token[i] ^ h->token[i];
    }
    if (diff != 0) {
        weft__why(why, why_len, "its segment carries another job's token");
        return -1;
    }
    return 0;
}

/* Can we read the peer's memory? Read its probe word through CMA. */
static int
shm_cma_probe(weft_tl_ep_t *peer)
{
    uint64_t v = 0;
    struct iovec l = {.iov_base = &v, .iov_len = sizeof(v)};
    struct iovec r = {
        .iov_base = (void *)(uintptr_t)(peer->hdr->hdr_vaddr +
                                        offsetof(shm_seg_hdr_t, probe)),
        .iov_len = sizeof(v)};
    ssize_t n = process_vm_readv(peer->pid, &l, 1, &r, 1, 0);

    if (n != (ssize_t)sizeof(v) || v != peer->hdr->probe) {
        weft__log_info(WEFT_SUB_TL,
                       "shm: single-copy reads from rank %d are refused (%s); "
                       "large messages from it take the double copy",
                       peer->rank, n < 0 ? strerror(errno) : "wrong data");
        return 0;
    }
    return 1;
}

int
weft__shm_seg_attach(weft_tl_t *tl, weft_tl_ep_t *peer, const shm_addr_t *a,
                     char *why, size_t why_len)
{
    void *seg;
    int fd;

    if (a->uid != (uint32_t)geteuid()) {
        weft__why(why, why_len, "it runs as another user (uid %u)", a->uid);
        return -1;
    }
    fd = shm_seg_open_peer(a, why, why_len);
    if (fd < 0) {
        return -1;
    }
    seg = mmap(NULL, a->seg_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (seg == MAP_FAILED) {
        weft__why(why, why_len, "cannot map its segment: %s", strerror(errno));
        return -1;
    }
    if (shm_seg_check(tl, peer, seg, a, why, why_len) != 0) {
        munmap(seg, a->seg_size);
        return -1;
    }
    peer->seg = seg;
    peer->seg_size = a->seg_size;
    peer->hdr = seg;
    peer->pid = a->pid;
    peer->tx = weft__shm_seg_ring(seg, peer->hdr, tl->lidx);
    peer->rx = weft__shm_seg_ring(tl->seg, tl->hdr, peer->lidx);
    atomic_store(&weft__shm_seg_mapped(peer->hdr)[tl->lidx], 1);
    if (atomic_fetch_add(&peer->hdr->attached, 1) + 1 ==
            (uint32_t)tl->nlocal - 1 &&
        a->mode == SHM_MODE_FILE) {
        /* the last local peer to map it: the name has done its job */
        if (unlink(a->path) != 0 && errno != ENOENT) {
            weft__log_warn(WEFT_SUB_TL, "shm: cannot remove %s: %m", a->path);
        }
    }
    peer->cma = tl->cma_mode ? shm_cma_probe(peer) : 0;
    /* no fence before looking at its sleeping flag only where its
     * membarrier reaches this rank (weft__shm_wake) */
    peer->fence = !(tl->sleep_barrier && peer->hdr->sleep_barrier != 0);
    peer->pidfd = (int)syscall(SYS_pidfd_open, peer->pid, 0);
    if (peer->pidfd >= 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = peer};

        if (epoll_ctl(tl->epfd, EPOLL_CTL_ADD, peer->pidfd, &ev) != 0) {
            close(peer->pidfd);
            peer->pidfd = -1;
        }
    }
    peer->wake_addr.sun_family = AF_UNIX;
    peer->wake_addr.sun_path[0] = '\0';
    {
        char hex[25];

        weft__hex_encode(peer->hdr->token, 12, hex);
        snprintf(peer->wake_addr.sun_path + 1,
                 sizeof(peer->wake_addr.sun_path) - 1, "weft-shm-%s", hex);
        peer->wake_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
                                     1 + strlen(peer->wake_addr.sun_path + 1));
    }
    peer->attached = 1;
    return 0;
}

void
weft__shm_seg_detach(weft_tl_ep_t *peer)
{
    if (peer->pidfd >= 0) {
        close(peer->pidfd); /* leaves the epoll set by itself */
        peer->pidfd = -1;
    }
    if (peer->seg != NULL) {
        munmap(peer->seg, peer->seg_size);
        peer->seg = NULL;
        peer->hdr = NULL;
    }
    peer->attached = 0;
}

void
weft__shm_seg_wait_mapped(weft_tl_t *tl, double deadline)
{
    for (;;) {
        int waiting = 0;

        for (int i = 0; i < tl->nlocal; i++) {
            weft_tl_ep_t *peer = tl->peers[i];

            /* only peers we mapped: those route us through shm too */
            if (peer == NULL || !peer->attached || peer->gone ||
                atomic_load(&weft__shm_seg_mapped(tl->hdr)[i]) ||
                kill(peer->pid, 0) != 0) {
                continue;
            }
            waiting = 1;
        }
        if (!waiting || weft__now() >= deadline) {
            return;
        }
        usleep(200);
    }
}

/* ---- stale files -------------------------------------------------------- */

void
weft__shm_clean_stale(const char *dir, double min_age_s)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char prefix[32];
    size_t plen;

    if (d == NULL) {
        return;
    }
    plen = (size_t)snprintf(prefix, sizeof(prefix), "weft-%u-",
                            (unsigned)geteuid());
    while ((e = readdir(d)) != NULL) {
        char path[SHM_PATH_MAX + 300];
        struct stat st;
        char *end;
        long pid;

        if (strncmp(e->d_name, prefix, plen) != 0) {
            continue;
        }
        pid = strtol(e->d_name + plen, &end, 10);
        if (pid <= 0 || *end != '-') {
            continue;
        }
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) {
            continue; /* its creator is alive (or not ours to judge) */
        }
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
            st.st_uid != geteuid() ||
            difftime(time(NULL), st.st_mtime) < min_age_s) {
            continue;
        }
        if (unlink(path) == 0) {
            weft__log_info(WEFT_SUB_TL,
                           "shm: removed %s, left by process %ld that is gone",
                           path, pid);
        }
    }
    closedir(d);
}
