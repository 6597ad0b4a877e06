/*
 * shm transport: private structures shared by its files.
 *
 * Every rank owns one segment (a memfd, or an O_EXCL 0600 file that the
 * last peer to map it unlinks), sized at init for the ranks on its node:
 * a header and one ring per local sender. A ring is single-producer
 * (the sender writes into the receiver's segment) single-consumer (the
 * owner reads); it is an array of 64-byte cells, and a message takes one
 * or more consecutive cells whose first (the header cell) carries a stamp
 * (ring position + 1) written last, with release order, so the consumer
 * polls one cache line per peer.
 *
 * Messages up to the eager limit travel whole through the ring (EAGER).
 * Larger ones send an RTS with the buffer's address; the receiver reads
 * the sender's memory with process_vm_readv (CMA, one copy) and answers
 * FIN, or, when the kernel refuses CMA (ptrace rules, seccomp), answers
 * CTS and the sender streams DATA fragments through the ring (two copies,
 * pipelined).
 *
 * A rank about to block sets `sleeping` in its header; a sender that
 * sees it set after publishing wakes the rank with a datagram on its
 * abstract Unix socket, which is in the transport's epoll set (wait_fd)
 * together with a pidfd per peer, so that a peer's exit wakes it too.
 * Either the sender sees the flag or the sleeper's last look sees the
 * message: a full fence on each side, or, where both ranks have it
 * (WEFT_SHM_WAKE), none in the send and membarrier(2) in the sleeper,
 * which makes every registered rank of the node pass one.
 *
 *   shm_tl.c    ops table, init/fini, address, progress, waiting, peers
 *   shm_seg.c   segments: create, attach, validate, the stale-file cleaner
 *   shm_tx.c    sends: the ring producer, queue, EAGER/RTS/DATA, control
 *   shm_rx.c    receives: the ring consumer, matching, CMA, DATA
 */
#ifndef WEFT_SHM_H
#define WEFT_SHM_H

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <weft/transport.h>

#include "p2p/match.h"

extern const weft_tl_ops_t weft__tl_shm;

#define SHM_CELL 64
#define SHM_CELL_HDR 24                     /* stamp, tag, len, ncells, type */
#define SHM_INLINE (SHM_CELL - SHM_CELL_HDR) /* payload in the header cell */
/* EAGER payloads longer than SHM_EAGER_ALIGN_MIN start at the next cell
 * (flag SHM_F_ALIGNED) instead of right after the header: both copies are
 * then cache-line aligned instead of splitting every other 32-byte store
 * across two lines. Two ranks streaming (bytes, GB/s): 256 1.64 -> 2.1,
 * 512 2.9 -> 3.4, 1 KiB 4.4 -> 4.8, 2 KiB 6.1 -> 6.8; one-way latency
 * 256 B 0.21 -> 0.17 us, 1 KiB 0.32 -> 0.28. Below it the packed form
 * measured the same, in fewer cells. */
#define SHM_F_ALIGNED       1
#define SHM_EAGER_ALIGN_MIN 128
#define SHM_SEG_MAGIC 0x4d485357u            /* "WSHM" */
#define SHM_SEG_VERSION     3           /* 2: SHM_F_ALIGNED; 3: sleep_barrier */
#define SHM_ADDR_MAGIC 0x41485357u /* "WSHA" */
#define SHM_PATH_MAX 160 /* the address blob holds the path */
#define SHM_CMA_CHUNK (4u * 1024 * 1024) /* read per receive and round */
#define SHM_COLL_CTL       278528             /* control bytes of a slot */
#define SHM_COLL_SLOTS_MAX 64

/* Message types (cell.type). */
enum {
    SHM_T_SKIP = 1, /* filler up to the end of the ring */
    SHM_T_EAGER,    /* payload follows the header */
    SHM_T_RTS,      /* body: size, address, cookie */
    SHM_T_FIN,      /* receiver -> sender: cookie; the read is done */
    SHM_T_CTS,      /* receiver -> sender: cookie, rcookie, bytes wanted */
    SHM_T_DATA,     /* body: rcookie, offset; payload follows */
    SHM_T_CANCEL,   /* sender -> receiver: cookie; an RTS is withdrawn */
    SHM_T_BYE,      /* orderly exit */
    SHM_T_LAST
};

typedef struct shm_cell {
    _Atomic uint64_t stamp; /* header cell: position + 1, written last */
    uint64_t tag;
    uint32_t len;    /* EAGER/DATA payload bytes */
    uint16_t ncells; /* cells of the message, header included */
    uint8_t type;
    uint8_t flags;
    uint8_t body[SHM_INLINE];
} shm_cell_t;

static_assert(sizeof(shm_cell_t) == SHM_CELL, "a cell is one cache line");

/* Bodies (in cell.body; DATA's payload starts after its body). */
typedef struct shm_rts_body {
    uint64_t size, addr, cookie;
} shm_rts_body_t;
typedef struct shm_fin_body {
    uint64_t cookie;
} shm_fin_body_t;
typedef struct shm_cts_body {
    uint64_t cookie, rcookie, accepted;
} shm_cts_body_t;
typedef struct shm_data_body {
    uint64_t rcookie, offset;
} shm_data_body_t;
#define SHM_DATA_OFF (SHM_CELL_HDR + sizeof(shm_data_body_t))

/* The consumer's position, in the segment; the producer reads it when
 * its cached copy says the ring is full. */
typedef struct shm_ring_ctl {
    _Atomic uint64_t head;
    char pad[SHM_CELL - sizeof(uint64_t)];
} shm_ring_ctl_t;

/* The first page of a segment. Written by the owner before its address
 * is published; then only `attached` and `sleeping` change. */
typedef struct shm_seg_hdr {
    uint32_t magic, version;
    int32_t owner_rank, owner_pid;
    uint32_t nlocal, ring_cells;
    uint64_t seg_size;
    uint64_t ring_off, ring_stride; /* ring i (local sender i) */
    uint64_t coll_off, coll_stride; /* collectives' slot i (shm_coll.c) */
    uint32_t coll_slots, coll_buf;
    uint64_t hdr_vaddr;             /* this header in the owner's memory */
    uint64_t probe;                 /* a random word read by the CMA probe */
    uint8_t token[32];              /* proves the segment is this job's */
    /* 1: the owner makes the node's ranks pass a fence (membarrier)
     * before it sleeps, so a sender needs none between its message and
     * its look at `sleeping` (when the sender is registered for it) */
    uint32_t sleep_barrier;
    _Atomic uint32_t attached;      /* peers that mapped it */
    _Alignas(SHM_CELL) _Atomic uint32_t sleeping; /* owner wants a wake */
    /* then, from SHM_SEG_MAPPED_OFF: one byte per local rank, set once
     * that rank has mapped the segment (its owner leaves only after
     * every live peer has: a memfd dies with its last user) */
} shm_seg_hdr_t;

#define SHM_SEG_MAPPED_OFF 256
static_assert(sizeof(shm_seg_hdr_t) <= SHM_SEG_MAPPED_OFF, "header");

static inline _Atomic uint8_t *
weft__shm_seg_mapped(shm_seg_hdr_t *h)
{
    return (_Atomic uint8_t *)((char *)h + SHM_SEG_MAPPED_OFF);
}

/* A ring as one side sees it. */
typedef struct shm_ring {
    shm_ring_ctl_t *ctl;
    shm_cell_t *cells;
    uint32_t ncells;
} shm_ring_t;

/* ---- address blob (shm_seg.c) ------------------------------------------- */

/*
 * Little-endian, fixed 200 bytes:
 *   0 magic "WSHA"   4 version   6 mode (0 memfd, 1 file)   7 reserved
 *   8 pid            12 uid      16 fd (memfd mode)          20 reserved
 *  24 segment size (8)           32 path (file mode), NUL-padded (160)
 */
typedef struct shm_addr {
    uint32_t magic;
    uint16_t version;
    uint8_t mode;
    uint8_t reserved;
    int32_t pid;
    uint32_t uid;
    int32_t fd;
    uint32_t reserved2;
    uint64_t seg_size;
    char path[SHM_PATH_MAX];
} shm_addr_t;

static_assert(sizeof(shm_addr_t) == 192, "address blob layout");

enum { SHM_MODE_MEMFD = 0, SHM_MODE_FILE = 1 };

/* ---- send queue items and per-op state ---------------------------------- */

typedef enum shm_txi_type {
    SHM_TXI_EAGER = 1, /* a send op: its EAGER message */
    SHM_TXI_RTS,       /* a send op: its RTS */
    SHM_TXI_DATA,      /* a send op: its next DATA fragment */
    SHM_TXI_CTRL       /* a heap record: FIN, CTS, CANCEL or BYE */
} shm_txi_type_t;

typedef struct shm_txi {
    struct shm_txi *next;
    uint8_t type;
    uint8_t queued;
} shm_txi_t;

typedef enum shm_op_state {
    SHM_OP_IDLE = 0,
    SHM_OP_SEND_QUEUED, /* EAGER or RTS waiting for ring space */
    SHM_OP_SEND_RTS,    /* RTS in the ring, waiting for FIN or CTS */
    SHM_OP_SEND_DATA,   /* streaming DATA after a CTS */
    SHM_OP_RECV_POSTED, /* in the posted-receive queue */
    SHM_OP_RECV_CMA,    /* matched an RTS: reading with CMA */
    SHM_OP_RECV_DATA    /* matched an RTS: CTS sent, DATA arriving */
} shm_op_state_t;

typedef struct shm_op {
    weft__match_entry_t entry; /* posted receives */
    shm_txi_t txi;             /* send queue */
    struct shm_op *next;       /* peer's rts_wait or rx_active list */
    weft_tl_ep_t *peer;
    uint8_t *buf;
    uint64_t len;    /* send: message bytes; recv: buffer bytes */
    uint64_t raddr;  /* recv: the sender's buffer (CMA) */
    uint64_t cookie; /* recv: the sender's id; send: the receiver's id */
    uint64_t id;     /* ours, unique per peer: the cookie the peer echoes */
    uint64_t done;   /* bytes read / streamed */
    uint64_t want;   /* bytes to read / stream */
    uint8_t state;   /* shm_op_state_t */
    uint8_t truncated; /* recv: the message is longer than the buffer */
} shm_op_t;

static_assert(sizeof(shm_op_t) <= WEFT_TL_OP_PRIV_SIZE,
              "shm_op_t must fit in weft_tl_op_t.priv");

static inline shm_op_t *
weft__shm_op(weft_tl_op_t *op)
{
    return (shm_op_t *)op->priv.u64;
}

static inline weft_tl_op_t *
weft__shm_op_owner(shm_op_t *o)
{
    return (weft_tl_op_t *)((char *)o - offsetof(weft_tl_op_t, priv));
}

/* A control message that found the ring full, or a BYE. */
typedef struct shm_ctrl {
    shm_txi_t txi;
    uint8_t type;
    uint8_t body[SHM_INLINE];
} shm_ctrl_t;

/* A message nobody has posted a receive for yet. */
typedef struct shm_msg {
    weft__match_entry_t entry;
    struct shm_msg *next_rts; /* the peer's unexpected RTS (CANCEL) */
    uint8_t type;             /* SHM_T_EAGER or SHM_T_RTS */
    uint64_t size;
    uint64_t addr, cookie; /* RTS */
    uint8_t data[];        /* EAGER payload */
} shm_msg_t;

/* ---- a local peer (the endpoint handle is the peer's state) ------------ */

struct weft_tl_ep {
    weft_tl_t *tl;
    int rank;     /* job rank */
    int lidx;     /* index among the local ranks */
    int attached; /* its segment is mapped and valid */
    int refused;  /* attach was tried and failed */
    int cma;      /* we may read its memory with process_vm_readv */
    pid_t pid;
    int pidfd; /* -1: no pidfd (liveness by kill(pid, 0)) */
    void *seg;
    size_t seg_size;
    shm_seg_hdr_t *hdr; /* its header (its sleeping flag) */
    int fence; /* a full fence before looking at its sleeping flag (it or
                * this rank lacks the membarrier pairing: shm_tl.c) */
    /* producer: our ring in its segment */
    shm_ring_t tx;
    uint64_t tx_tail, tx_head_seen;
    /* consumer: its ring in our segment */
    shm_ring_t rx;
    uint64_t rx_head, rx_head_pub;
    struct sockaddr_un wake_addr;
    socklen_t wake_len;
    /* matching and protocol state */
    weft__match_queue_t mq;
    shm_txi_t *txq_head, *txq_tail;
    shm_op_t *rts_wait;  /* sends whose RTS is out */
    shm_op_t *rx_active; /* large receives under way */
    shm_msg_t *unexp_rts;
    uint64_t next_id; /* ids of our ops towards / from this peer */
    /* failure: the first cause wins */
    weft_status_t failed;
    int reported;
    int bye;  /* it said goodbye */
    int gone; /* its process has exited */
    char why[192];
};

/* ---- the instance ------------------------------------------------------- */

struct weft_tl {
    int rank, nranks;
    int nlocal, lidx;
    int *local_ranks;
    uint8_t key[32];
    double teardown_timeout;
    void *host;
    void (*peer_failed)(void *host, int peer, weft_status_t status,
                        const char *reason);
    size_t eager_limit;
    size_t frag; /* DATA payload per fragment */
    uint32_t ring_cells;
    uint32_t coll_slots, coll_buf; /* slots for collectives, buffer bytes */
    size_t coll_stride;
    uint64_t slots_used; /* bit i: slot i taken (bound to a comm) */
    uint64_t slots_retired; /* bit i: slot i was used: never again */
    int cma_mode; /* 0 off, 1 auto */
    int mode;     /* SHM_MODE_* */
    char dir[SHM_PATH_MAX - 40]; /* room for the file name */
    /* own segment */
    int seg_fd;
    void *seg;
    size_t seg_size;
    shm_seg_hdr_t *hdr;
    char path[SHM_PATH_MAX]; /* file mode, until unlinked */
    int unlinked;
    /* waiting */
    int epfd;
    int wake_fd;
    int armed;
    int sleep_barrier; /* registered for membarrier's global expedited
                        * command, and runs it before sleeping */
    unsigned calls;
    double liveness_next; /* no liveness check before (monotonic s) */
    int in_progress;
    int closing;
    weft_tl_ep_t **peers; /* [nlocal], NULL for self */
    int peer_news;        /* a peer failed or finished: sweep in progress */
};

/* ---- shm_seg.c ---------------------------------------------------------- */

/* Create, size and reserve this rank's segment; fill its header. */
weft_status_t weft__shm_seg_create(weft_tl_t *tl);
void weft__shm_seg_destroy(weft_tl_t *tl);
void weft__shm_addr_pack(const weft_tl_t *tl, shm_addr_t *addr);
/* Decode a peer's blob; 0 on success, else -1 with a reason in why. */
int weft__shm_addr_unpack(const void *buf, size_t len, shm_addr_t *addr,
                          char *why, size_t why_len);
/* Map and check a peer's segment (and probe CMA); 0 or -1 with why. */
int weft__shm_seg_attach(weft_tl_t *tl, weft_tl_ep_t *peer,
                         const shm_addr_t *addr, char *why, size_t why_len);
void weft__shm_seg_detach(weft_tl_ep_t *peer);
/* The token a segment of `rank` must carry. */
void weft__shm_token(const weft_tl_t *tl, int rank, pid_t pid,
                     uint8_t out[32]);
/* Remove files in dir left by runs whose creator is gone. */
void weft__shm_clean_stale(const char *dir, double min_age_s);
/* fini: wait (at most until deadline) for every live local peer to have
 * mapped this rank's segment. */
void weft__shm_seg_wait_mapped(weft_tl_t *tl, double deadline);
/* Ring i of a segment. */
shm_ring_t weft__shm_seg_ring(void *seg, const shm_seg_hdr_t *hdr, int i);

/* ---- shm_tl.c ----------------------------------------------------------- */

/* The peer is gone or misbehaved: fail everything to and from it and
 * tell the host once. */
void weft__shm_peer_fail(weft_tl_ep_t *peer, weft_status_t status,
                         const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The local peer with job rank `rank`, or NULL (this rank, or not local). */
weft_tl_ep_t *weft__shm_peer_find(weft_tl_t *tl, int rank);
/* Send the wake-up datagram to a peer that sleeps (and clear its flag). */
void weft__shm_wake_sleeper(weft_tl_ep_t *peer);
/* Wake the peer if it sleeps, after the caller's own fence where the
 * peer needs one (peer->fence; one fence for several peers). */
static inline void
weft__shm_wake_fenced(weft_tl_ep_t *peer)
{
    if (atomic_load_explicit(&peer->hdr->sleeping, memory_order_relaxed)) {
        weft__shm_wake_sleeper(peer);
    }
}
/* Wake the peer if it sleeps (after publishing into its ring). The look
 * at its flag must not come before the message is seen: a full fence
 * pairs with the one the peer takes in shm_wait_arm, or, where both have
 * it (peer->fence 0), the membarrier it runs there makes this rank pass
 * one, and only the compiler is kept from reordering here (a fence in
 * every send cost up to a third of the 8-byte message rate). */
static inline void
weft__shm_wake(weft_tl_ep_t *peer)
{
    if (peer->fence) {
        atomic_thread_fence(memory_order_seq_cst);
    } else {
        atomic_signal_fence(memory_order_seq_cst);
    }
    weft__shm_wake_fenced(peer);
}

/* ---- shm_tx.c ----------------------------------------------------------- */

weft_status_t weft__shm_tx_send(weft_tl_ep_t *peer, const void *buf,
                                size_t len, uint64_t tag, weft_tl_op_t *op);
/* An eager message written into the ring at once, without an op
 * (weft_tl_ops_t.inject): WEFT_INPROGRESS when it is larger than the eager
 * limit, queued sends wait, or the ring is full. */
weft_status_t weft__shm_tx_inject(weft_tl_ep_t *peer, const void *buf,
                                  size_t len, uint64_t tag);
/* Write queued items while the ring has room. */
void weft__shm_tx_flush(weft_tl_ep_t *peer);
/* Send a control message (queued on the heap when the ring is full). */
weft_status_t weft__shm_tx_ctrl(weft_tl_ep_t *peer, uint8_t type,
                                const void *body, size_t body_len);
/* A FIN or CTS for one of our RTS. */
void weft__shm_tx_fin(weft_tl_ep_t *peer, uint64_t cookie);
void weft__shm_tx_cts(weft_tl_ep_t *peer, uint64_t cookie, uint64_t rcookie,
                      uint64_t accepted);
void weft__shm_tx_cancel(weft_tl_ep_t *peer, weft_tl_op_t *op);
void weft__shm_tx_fail_all(weft_tl_ep_t *peer, weft_status_t status);
void weft__shm_tx_free_ctrl(weft_tl_ep_t *peer);
/* fini: write BYE if the ring has room; 1 when written. */
int weft__shm_tx_bye(weft_tl_ep_t *peer);

/* ---- shm_rx.c ----------------------------------------------------------- */

/* Handle what has arrived from the peer; returns messages handled. */
unsigned weft__shm_rx_poll(weft_tl_ep_t *peer);
/* 1 when a message is waiting in the peer's ring. */
int weft__shm_rx_pending(const weft_tl_ep_t *peer);
weft_status_t weft__shm_rx_post(weft_tl_ep_t *peer, void *buf, size_t len,
                                uint64_t tag, weft_tl_op_t *op);
/* Move large receives along (CMA reads); returns work done. */
unsigned weft__shm_rx_advance(weft_tl_ep_t *peer);
void weft__shm_rx_cancel(weft_tl_ep_t *peer, weft_tl_op_t *op);
/* Fail every receive from the peer; free its unexpected messages when
 * `all`, else keep whole EAGER ones (they can still match). */
void weft__shm_rx_fail_all(weft_tl_ep_t *peer, weft_status_t status, int all);

#endif /* WEFT_SHM_H */
