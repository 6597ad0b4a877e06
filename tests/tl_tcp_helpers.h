/*
 * Helpers of the tcp transport suites (test_tl_tcp.c, test_tl_tcp_faults.c):
 * 2-4 instances of the transport in one process (ranks 0..n-1) exchange
 * their addresses in memory and are progressed in turn; outsiders and
 * fake ranks talk to rank 0 over plain sockets.
 */
#ifndef TL_TCP_HELPERS_H
#define TL_TCP_HELPERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "clock.h"
#include "config.h"
#include "harness.h" /* wt_fill, wt_verify */
#include "transports/tcp/tcp.h"

#define WT_MAX_RANKS 4

typedef struct wt_tcp_job wt_tcp_job_t;

typedef struct wt_tcp_rank {
    wt_tcp_job_t *job;
    int rank;
    weft_tl_t *tl;
    weft_config_t *cfg; /* its own WEFT_* values, or NULL: the job's */
    weft_tl_ep_t *ep[WT_MAX_RANKS];
    int failed[WT_MAX_RANKS];
    weft_status_t failed_status[WT_MAX_RANKS];
    uint8_t addr[WEFT_TL_ADDR_MAX];
    size_t addr_len;
} wt_tcp_rank_t;

struct wt_tcp_job {
    int n;
    int has_cfg1; /* rank 1 has its own configuration */
    weft_config_t cfg1;
    double hs_timeout; /* 0: 3 s */
    weft_config_t cfg;
    char cfg_buf[256];
    uint8_t key[WEFT_AUTH_KEY_LEN];
    wt_tcp_rank_t r[WT_MAX_RANKS];
};

typedef struct wt_op {
    weft_tl_op_t op; /* first: the completion finds us from it */
    int done;
    weft_status_t status;
    size_t bytes;
} wt_op_t;

static const weft_tl_ops_t *const tcp = &weft__tl_tcp;

/* WEFT_TCP_EAGER_LIMIT with no environment (the config table default). */
size_t wt_eager_default(void);

/* ---- a job of n instances ---- */

void wt_rank_init(wt_tcp_job_t *job, int rank);
weft_tl_peer_t wt_peer_info(wt_tcp_rank_t *of, int same_node);
/* ep_create on r for `to` (no connection is made). */
void wt_connect(wt_tcp_rank_t *r, wt_tcp_rank_t *to);
/* env: "WEFT_NAME=value" strings for every rank (NULL: none); env1:
 * rank 1's own, instead of env (NULL: the same). */
void wt_job_start_ex(wt_tcp_job_t *job, int n, const char *const *env,
                     const char *const *env1, double hs_timeout);
void wt_job_start(wt_tcp_job_t *job, int n, const char *const *env);
void wt_job_progress(wt_tcp_job_t *job);
void wt_job_stop(wt_tcp_job_t *job);
void wt_progress_for(wt_tcp_job_t *job, double secs);
int wt_no_failures(const wt_tcp_job_t *job);

/* Progress everyone until cond holds or secs pass; the value of cond. */
#define WT_WAIT(_job, _cond, _secs)                                            \
    ({                                                                         \
        double _dl = weft__now() + (_secs);                                    \
        while (!(_cond) && weft__now() < _dl) {                                \
            wt_job_progress(_job);                                             \
        }                                                                      \
        (_cond);                                                               \
    })

/* ---- operations ---- */

void wt_complete(weft_tl_op_t *op, weft_status_t status, size_t bytes);
void wt_send(wt_tcp_job_t *job, int from, int to, const void *buf, size_t len,
             uint64_t tag, wt_op_t *w);
void wt_recv(wt_tcp_job_t *job, int at, int from, void *buf, size_t len,
             uint64_t tag, wt_op_t *w);
int wt_all_done(const wt_op_t *ops, int n);
/* Ranks 0 and 1 send to each other at once, every byte checked. */
void wt_exchange(wt_tcp_job_t *job, size_t len, int seq);
/* The pair a-b has one link, open on both sides, opened by exactly one
 * of them (a diagnostic, or NULL). */
const char *wt_link_check(const wt_tcp_job_t *job, int a, int b);

/* ---- outsiders and fake ranks (towards rank 0, over loopback) ---- */

/* A blocking socket connected to r's loopback listener. */
int wt_outsider_connect(wt_tcp_rank_t *r);
/* 1 once the server closed fd (EOF or reset), 0 while it is open. */
int wt_closed_by_server(int fd);
/* Run a client handshake against rank 0 while the job progresses. */
weft_status_t wt_outsider_handshake(wt_tcp_job_t *job, const uint8_t *key,
                                    uint32_t rank, weft__auth_hs_t *hs);
/* Connect to rank `at` and authenticate as `as` (rank `at` must have no
 * link with that rank); returns the socket (nonblocking). */
int wt_fake_rank_at(wt_tcp_job_t *job, int at, uint32_t as);
/* wt_fake_rank_at(job, 0, rank). */
int wt_fake_rank(wt_tcp_job_t *job, uint32_t rank);
/* Write all of buf, progressing the job while the socket is full. */
void wt_fake_write(wt_tcp_job_t *job, int fd, const void *buf, size_t len);
void wt_fake_frame(wt_tcp_job_t *job, int fd, uint8_t type, uint32_t src,
                   uint32_t len, uint64_t tag, uint64_t msg_id, uint64_t size);
/* Read exactly len bytes (nonblocking fd), progressing the job. */
void wt_fake_read(wt_tcp_job_t *job, int fd, void *buf, size_t len);
/* Read one frame header, decoded (src and limits not checked). */
void wt_fake_read_frame(wt_tcp_job_t *job, int fd, weft__wire_hdr_t *h);
/* A fake rank's listener on 127.0.0.1: its socket, the port in *port_p;
 * `at` then connects there when it means rank `as`. */
int wt_fake_listen(wt_tcp_job_t *job, int at, int as, uint16_t *port_p);
/* Accept one connection on lfd (nonblocking), progressing the job. */
int wt_fake_accept(wt_tcp_job_t *job, int lfd);
/* Serve the handshake on fd as rank `as` and answer `verdict`: the
 * server's final status. */
weft_status_t wt_fake_serve(wt_tcp_job_t *job, int fd, uint32_t as,
                            uint32_t verdict);

/* ---- rank 1 in a child process ---- */

typedef void (*wt_child_fn_t)(wt_tcp_job_t *job, int rd, int wr, int arg);

/* Fork rank 1 of a 2-rank job whose rank 0 is this process: the child
 * brings its instance up with an endpoint for rank 0 and runs fn (no
 * Criterion asserts there: it exits nonzero). Here, rank 0 comes up
 * with an endpoint for the child, and the job progresses only rank 0
 * (job->n is 1). *rd_p, *wr_p: pipes from and to the child. */
pid_t wt_child_start(wt_tcp_job_t *job, wt_child_fn_t fn, int arg, int *rd_p,
                     int *wr_p);
/* Progress rank 0 until the child writes a byte; the byte. */
char wt_child_wait(wt_tcp_job_t *job, int rd);
/* In the child: progress until *done or 10 s. */
void wt_child_progress(wt_tcp_job_t *job, const int *done);

#endif /* TL_TCP_HELPERS_H */
