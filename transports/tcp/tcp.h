/*
 * tcp transport: private structures shared by its files.
 *
 * One bidirectional connection per pair of ranks, whichever rank opened
 * it: frames of both directions (EAGER, RTS, CTS, DATA, BYE) share it,
 * so TCP acknowledgements ride on the replies. It is set up lazily (the
 * first frame for a rank starts it; one accepted from a rank is bound to
 * it); when both ranks connect at once the lower rank's connection wins
 * (tcp_conn.c says how).
 *
 *   tcp_tl.c     ops table, init/fini, address/reachable, endpoints
 *   tcp_iface.c  interfaces, listeners, the address blob, address choice
 *   tcp_conn.c   accept, connect, handshake, simultaneous connects, epoll
 *                interest, deadlines
 *   tcp_peer.c   per-peer state; a lost or finished peer
 *   tcp_rx.c     frame parser, matching, unexpected messages, rendezvous
 *   tcp_tx.c     send queue, batched sendmsg, eager/RTS/CTS/DATA/BYE
 */
#ifndef WEFT_TCP_H
#define WEFT_TCP_H

#include <assert.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <weft/transport.h>

#include "bootstrap/auth.h"
#include "p2p/match.h"
#include "wire.h"

extern const weft_tl_ops_t weft__tl_tcp;

#define TCP_MAX_IFACES      16          /* listeners (addresses) per rank */
#define TCP_IFNAME_LEN      16          /* IFNAMSIZ */
#define TCP_STAGE_SIZE      (64 * 1024) /* receive staging buffer per link */
#define TCP_IOV_BATCH       32          /* frames gathered into one sendmsg */
#define TCP_EVENTS          64          /* epoll events per progress call */
#define TCP_MSG_CACHE_BYTES (8u * 1024 * 1024) /* free message blocks kept */

/* ---- address blob (tcp_iface.c) ------------------------------------- */

/*
 * Layout, little-endian, at most 16 + 16 * 24 = 400 bytes:
 *
 *   off len field
 *     0   4 magic "WTCP" (0x50435457)
 *     4   1 version (1)
 *     5   1 n: address entries that follow (1..16)
 *     6   2 reserved, 0
 *     8   4 eager limit: largest EAGER payload this rank accepts
 *    12   4 max data: largest DATA payload this rank accepts
 *    16 24n entries:
 *         +0  4 IPv4 address, network byte order
 *         +4  2 port, network byte order
 *         +6  1 prefix length (0..32)
 *         +7  1 flags: bit 0 = loopback
 *         +8 16 interface name, NUL-padded
 */
#define TCP_ADDR_MAGIC      0x50435457u
#define TCP_ADDR_VERSION    1
#define TCP_ADDR_HDR_LEN    16
#define TCP_ADDR_ENTRY_LEN  24
#define TCP_ADDR_F_LOOPBACK 0x1

typedef struct weft__tcp_addr_entry {
    uint32_t ip;   /* network byte order */
    uint16_t port; /* host byte order */
    uint8_t prefix;
    uint8_t flags;
    char ifname[TCP_IFNAME_LEN + 1];
} weft__tcp_addr_entry_t;

typedef struct weft__tcp_addr {
    uint32_t eager_limit;
    uint32_t max_data;
    unsigned n;
    weft__tcp_addr_entry_t e[TCP_MAX_IFACES];
} weft__tcp_addr_t;

/* ---- objects registered with epoll ---------------------------------- */

typedef enum tcp_fd_kind { TCP_FD_LISTENER = 1, TCP_FD_CONN = 2 } tcp_fd_kind_t;

typedef struct weft__tcp_listener {
    int kind; /* TCP_FD_LISTENER: first, as in weft__tcp_conn_t */
    int fd;
    weft__tcp_addr_entry_t addr;
} weft__tcp_listener_t;

typedef enum tcp_conn_state {
    TCP_CONN_BACKOFF = 1, /* own: waiting to retry a refused connect */
    TCP_CONN_CONNECTING,  /* own: connect() in flight */
    TCP_CONN_HANDSHAKE,   /* both: authenticating */
    TCP_CONN_WAIT,        /* own: rejected as simultaneous (socket closed);
                             the lower rank's connection is on its way */
    TCP_CONN_OPEN,        /* frames flow both ways */
    TCP_CONN_CLOSED       /* on the dead list, freed at the end of progress */
} tcp_conn_state_t;

struct weft__tcp_msg;

typedef struct weft__tcp_conn {
    int kind; /* TCP_FD_CONN */
    int fd;   /* -1 while in backoff, waiting or closed */
    int own;  /* 1: we opened it; 0: we accepted it */
    tcp_conn_state_t state;
    uint32_t events; /* epoll interest now (0: not registered) */
    weft_tl_t *tl;
    /* own: the target; accepted: bound at the verdict. The peer's link
     * is peer->conn; an own connection that is not (the peer's won) is
     * an orphan, closed when its handshake ends. */
    weft_tl_ep_t *peer;
    /* the handshaking list (deadline checks), the pending list (accepted,
     * not yet authenticated: oldest first) or the dead list */
    struct weft__tcp_conn *next, *prev;
    int on_pending;
    double deadline; /* connect + handshake */
    double retry_at; /* TCP_CONN_BACKOFF */
    double backoff;
    unsigned attempts;
    char name[64]; /* "127.0.0.1:41234", for log lines */
    weft__auth_hs_t hs;
    int bye;      /* a BYE frame arrived on it */
    int send_err; /* errno of a failed send (EPIPE, ECONNRESET): the
                     reader decides whether the peer said goodbye first */
    int shut;     /* fini: our sending side is shut down */
    /* frame parser */
    uint8_t *stage;
    size_t stage_cap, stage_off, stage_len;
    int in_payload;
    weft__wire_hdr_t hdr;         /* the frame being read */
    uint8_t *dst;                 /* payload goes here (NULL: dropped) */
    size_t dst_left;              /* bytes still going to dst */
    uint8_t *dst2;                /* then here (a receive's body behind */
    size_t dst2_left;             /* its head: irecv_head) */
    size_t left;                  /* payload bytes still to read */
    weft_tl_op_t *rx_op;          /* EAGER into a posted receive */
    struct weft__tcp_msg *rx_msg; /* EAGER into an unexpected record,
                                     or DATA of a rendezvous receive */
} weft__tcp_conn_t;

/* ---- send queue items --------------------------------------------------- */

typedef enum tcp_txi_type {
    TCP_TXI_EAGER = 1, /* a send op: one EAGER frame */
    TCP_TXI_RTS,       /* a send op: its RTS frame */
    TCP_TXI_DATA,      /* a send op: its next DATA frame (round-robin) */
    TCP_TXI_CTS,       /* a rendezvous receive record: its CTS frame */
    TCP_TXI_BYE        /* the peer's BYE item */
} tcp_txi_type_t;

/* A frame's payload: up to two pieces back to back (an op's head, then
 * its body). */
typedef struct weft__tcp_parts {
    const uint8_t *p[2];
    size_t n[2];
} weft__tcp_parts_t;

typedef struct tcp_txi {
    struct tcp_txi *next;
    uint8_t type;
    uint8_t queued;
} tcp_txi_t;

/* ---- per-op state, inside weft_tl_op_t.priv ------------------------- */

typedef enum tcp_op_state {
    TCP_OP_IDLE = 0,
    TCP_OP_SEND_QUEUED,   /* EAGER/RTS in the send queue */
    TCP_OP_SEND_WAIT_CTS, /* RTS written, waiting for the CTS */
    TCP_OP_SEND_DATA,     /* DATA frames in the send queue */
    TCP_OP_RECV_POSTED,   /* in the posted-receive queue */
    TCP_OP_RECV_EAGER,    /* its EAGER payload is being read */
    TCP_OP_RECV_RNDV      /* matched an RTS: CTS and DATA under way */
} tcp_op_state_t;

typedef struct tcp_op {
    weft__match_entry_t entry; /* posted receives */
    tcp_txi_t txi;             /* send queue */
    struct tcp_op *next;       /* sends waiting for their CTS */
    weft_tl_ep_t *peer;
    uint8_t *head; /* isend_head / irecv_head: the first hlen bytes */
    uint8_t *buf;  /* then these len */
    size_t len;
    uint32_t hlen;
    uint64_t msg_id;           /* rendezvous sends */
    uint64_t accepted;         /* rendezvous sends: bytes the CTS allows */
    uint64_t sent;             /* rendezvous sends: DATA bytes framed */
    struct weft__tcp_msg *msg; /* rendezvous receives */
    uint8_t state;             /* tcp_op_state_t */
} tcp_op_t;

static_assert(sizeof(tcp_op_t) <= WEFT_TL_OP_PRIV_SIZE,
              "tcp_op_t must fit in weft_tl_op_t.priv");

static inline tcp_op_t *
weft__tcp_op(weft_tl_op_t *op)
{
    return (tcp_op_t *)op->priv.u64;
}

static inline weft_tl_op_t *
weft__tcp_op_owner(tcp_op_t *o)
{
    return (weft_tl_op_t *)((char *)o - offsetof(weft_tl_op_t, priv));
}

/* Bytes of an op's message (send) or room (receive): head and body. */
static inline size_t
weft__tcp_op_bytes(const tcp_op_t *o)
{
    return (size_t)o->hlen + o->len;
}

/* ---- received-message records ----------------------------------------- */

/*
 * An EAGER message nobody has posted a receive for yet (payload inline),
 * or an RTS: unexpected until matched, then the state of the rendezvous
 * receive (CTS in the send queue, DATA arriving) until its last byte.
 * A record is freed when it is in no list and no frame points at it.
 */
typedef struct weft__tcp_msg {
    weft__match_entry_t entry;  /* unexpected messages */
    tcp_txi_t txi;              /* its CTS in the send queue */
    struct weft__tcp_msg *next; /* the peer's active rendezvous receives */
    weft_tl_ep_t *peer;
    uint8_t type;        /* WEFT_WIRE_EAGER or WEFT_WIRE_RTS */
    uint8_t in_unexp;    /* in the unexpected list */
    uint8_t in_active;   /* in the active rendezvous list */
    uint8_t in_rx;       /* a frame's payload is being read into it */
    uint8_t cts_written; /* DATA may come */
    uint8_t cached;      /* an eager-limit-sized block (tl->msg_cache) */
    uint64_t msg_id;
    uint64_t size;     /* message bytes */
    uint64_t accepted; /* bytes the CTS allows */
    uint64_t received; /* DATA bytes so far */
    weft_tl_op_t *op;  /* the matched receive (NULL: cancelled, drop) */
    uint8_t data[];    /* EAGER payload */
} weft__tcp_msg_t;

/* ---- a peer (the endpoint handle is the peer's state) ------------------ */

struct weft_tl_ep {
    weft_tl_t *tl;
    int rank;
    int has_addr; /* ep_create gave us its address */
    int same_node;
    weft__tcp_addr_t addr;
    size_t eager_limit;     /* min(ours, its) */
    size_t chunk;           /* min(ours, its max data) */
    weft__tcp_conn_t *conn; /* the link: own or accepted, any state */
    /* failure: the first cause wins */
    weft_status_t failed;
    int reported;      /* peer_failed called */
    int fail_deferred; /* failed outside progress: finish it there */
    char why[192];
    int closed; /* its BYE, then EOF (or a reset): it has finished */
    /* sending: frames queue here, whatever the state of the link */
    tcp_txi_t *txq_head, *txq_tail;
    tcp_txi_t *tx_cur; /* the head frame, partly written */
    uint8_t tx_cur_hdr[WEFT_WIRE_HDR_LEN];
    weft__tcp_parts_t tx_cur_parts;
    size_t tx_cur_off;              /* counts header + payload */
    tcp_op_t *wait_cts;             /* sends waiting for their CTS */
    tcp_txi_t bye;
    /* receiving */
    weft__match_queue_t mq;
    weft__tcp_msg_t *active; /* rendezvous receives (CTS queued or sent) */
    uint64_t last_rts_id;
    struct weft_tl_ep *next_deferred;
};

/* ---- the instance ------------------------------------------------------ */

struct weft_tl {
    int rank, nranks;
    uint8_t key[WEFT_AUTH_KEY_LEN];
    double handshake_timeout, teardown_timeout;
    void *host;
    void (*peer_failed)(void *host, int peer, weft_status_t status,
                        const char *reason);
    size_t eager_limit, chunk, sockbuf;
    int max_pending;
    int epfd;
    int in_progress;
    int closing; /* inside fini */
    unsigned n_lis;
    weft__tcp_listener_t lis[TCP_MAX_IFACES];
    weft_tl_ep_t **peers;                    /* nranks, created on demand */
    weft__tcp_conn_t *hs_head;               /* connecting or handshaking */
    weft__tcp_conn_t *pend_head, *pend_tail; /* accepted, unauthenticated */
    int n_pend;
    weft__tcp_conn_t *dead;
    weft_tl_ep_t *deferred;
    uint64_t next_msg_id;
    weft__tcp_msg_t *msg_cache; /* free eager-limit-sized records */
    unsigned n_msg_cache;
    /* rate limit of reject log lines */
    double rej_window;
    unsigned rej_logged, rej_suppressed;
    /* connection set-up, counted (the tests look) */
    struct {
        unsigned connects;  /* connections we started */
        unsigned accepts;   /* connections bound at our verdict */
        unsigned sim_waits; /* ours rejected as simultaneous: we waited */
        unsigned sim_drops; /* ours dropped for the lower rank's */
    } stats;
};

/* ---- tcp_iface.c ------------------------------------------------------ */

weft_status_t weft__tcp_iface_open(weft_tl_t *tl, const char *ifnames);
void weft__tcp_iface_close(weft_tl_t *tl);
weft_status_t weft__tcp_addr_pack(const weft_tl_t *tl, void *buf,
                                  size_t *len_p);
/* Decode a peer's blob; WEFT_ERR_PROTOCOL with a reason in why. */
weft_status_t weft__tcp_addr_unpack(const void *buf, size_t len,
                                    weft__tcp_addr_t *addr, char *why,
                                    size_t why_len);
/* The entry to connect to, or -1 when none is usable. */
int weft__tcp_addr_choose(const weft_tl_t *tl, const weft__tcp_addr_t *addr,
                          int same_node);

/* ---- tcp_conn.c ------------------------------------------------------- */

void weft__tcp_listener_event(weft_tl_t *tl, weft__tcp_listener_t *lis);
void weft__tcp_conn_event(weft__tcp_conn_t *conn, uint32_t events);
/* The peer's connection: none yet starts one (connect). */
weft_status_t weft__tcp_conn_start(weft_tl_ep_t *peer);
void weft__tcp_conn_set_events(weft__tcp_conn_t *conn, uint32_t events);
/* Close now; the memory goes when progress ends (events may still name
 * it). */
void weft__tcp_conn_close(weft__tcp_conn_t *conn);
void weft__tcp_conn_free_dead(weft_tl_t *tl);
/* Deadlines, connect retries and deferred failures. */
void weft__tcp_conn_timers(weft_tl_t *tl);

/* ---- tcp_peer.c ------------------------------------------------------- */

/* The state of a rank, created on first use (NULL: out of range or out
 * of memory). */
weft_tl_ep_t *weft__tcp_peer_get(weft_tl_t *tl, int rank);
void weft__tcp_peer_free(weft_tl_ep_t *peer);
/* The peer is lost: fail everything to and from it, tell the host once.
 * Outside progress the work is deferred to the next progress call. */
void weft__tcp_peer_fail(weft_tl_ep_t *peer, weft_status_t status,
                         const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The peer finished cleanly (BYE, then EOF or a reset): sends and the
 * receives that can no longer match fail, whole EAGER messages stay. */
void weft__tcp_peer_closed(weft_tl_ep_t *peer);
/* Finish the failures recorded outside progress (progress calls it). */
void weft__tcp_peer_run_deferred(weft_tl_t *tl);

/* ---- tcp_rx.c --------------------------------------------------------- */

/* Read and handle frames until the socket would block (or a budget). */
void weft__tcp_rx_read(weft__tcp_conn_t *conn);
/* A receive; head (hlen bytes, 0: none) takes the message's first bytes
 * and buf the rest. */
weft_status_t weft__tcp_rx_post(weft_tl_ep_t *peer, void *head, size_t hlen,
                                void *buf, size_t len, uint64_t tag,
                                weft_tl_op_t *op);
void weft__tcp_rx_cancel(weft_tl_ep_t *peer, weft_tl_op_t *op);
/* Complete the matched receive of a record now (failure paths). */
void weft__tcp_msg_fail(weft__tcp_msg_t *msg, weft_status_t status);
/* Free a record that nothing refers to any more (big ones are kept in a
 * small cache). */
void weft__tcp_msg_release(weft__tcp_msg_t *msg);
void weft__tcp_msg_cache_free(weft_tl_t *tl);
/* A CTS frame was written: DATA may come (or, for 0 bytes, done). */
void weft__tcp_rx_cts_written(weft__tcp_msg_t *msg);

/* ---- tcp_tx.c --------------------------------------------------------- */

/* A send of head (hlen bytes, 0: none) then buf. With a head, only one
 * that goes EAGER: WEFT_INPROGRESS (nothing posted) for a larger one. */
weft_status_t weft__tcp_tx_send(weft_tl_ep_t *peer, const void *head,
                                size_t hlen, const void *buf, size_t len,
                                uint64_t tag, weft_tl_op_t *op);
/* Queue an item (starting the link if there is none); flush at once when
 * the link is open and was idle. Fails (nothing queued) when the peer is
 * lost or finished. */
weft_status_t weft__tcp_tx_push(weft_tl_ep_t *peer, tcp_txi_t *txi);
/* Write queued frames until the socket would block or the queue is
 * empty; manages EPOLLOUT interest. */
void weft__tcp_tx_flush(weft_tl_ep_t *peer);
/* A CTS arrived for one of our RTS. */
weft_status_t weft__tcp_tx_cts(weft_tl_ep_t *peer, uint64_t msg_id,
                               uint64_t size);
void weft__tcp_tx_cancel(weft_tl_ep_t *peer, weft_tl_op_t *op);
/* Fail every queued or waiting send (the link is gone). */
void weft__tcp_tx_fail_all(weft_tl_ep_t *peer, weft_status_t status);
/* fini: drop whatever has not started, keep a partly written frame,
 * queue BYE. */
void weft__tcp_tx_bye(weft_tl_ep_t *peer);
/* Remove an item from the queue (it must not be tx_cur). */
void weft__tcp_txq_remove(weft_tl_ep_t *peer, tcp_txi_t *txi);

#endif /* WEFT_TCP_H */
