/*
 * The bootstrap store: a small key-value service every rank of a job
 * reaches during start-up (put, get with a deadline, fence, allgather)
 * and keeps a link to afterwards, so that job-wide events (a rank lost,
 * a communicator aborted) reach every rank even when it has no data link
 * to the rank where the event started.
 *
 * Backends: tcp (served by weftrun, or by rank 0 when there is no
 * launcher: see server.h), env (a job of one rank; nothing to serve) and,
 * where configure found PMIx, pmix (ranks started by srun --mpi=pmix or
 * prterun: the resource manager's PMIx server is the store).
 */
#ifndef WEFT_STORE_H
#define WEFT_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <weft/status.h>

#include "bootstrap/auth.h"

#define WEFT_STORE_KEY_MAX 255        /* bytes of a key */
#define WEFT_STORE_VALUE_MAX 65536    /* bytes of a value or contribution */
#define WEFT_STORE_REASON_MAX 256     /* bytes of an event reason, with NUL */
#define WEFT_STORE_ALL_COMMS 0xffffffffu /* an event for the whole job */

typedef enum weft__store_event_kind {
    WEFT_STORE_EVENT_ABORT = 1 /* a fatal error on a comm or the job */
} weft__store_event_kind_t;

typedef struct weft__store_event {
    int kind;              /* weft__store_event_kind_t */
    int origin;            /* job rank where it started; -1: the launcher */
    int failed_rank;       /* the rank that died, or -1 */
    uint32_t comm_id;      /* the communicator, or WEFT_STORE_ALL_COMMS */
    weft_status_t status;  /* WEFT_ERR_PEER_LOST, WEFT_ERR_ABORTED, ... */
    char reason[WEFT_STORE_REASON_MAX];
} weft__store_event_t;

typedef struct weft__store weft__store_t;

typedef struct weft__store_ops {
    const char *name;
    /* Publish key = value (a key may be written once per job; writing it
     * again with another value is WEFT_ERR_INVALID_ARG). */
    weft_status_t (*put)(weft__store_t *s, const char *key, const void *val,
                         size_t len);
    /* Wait until key exists (or the deadline) and copy its value; a value
     * longer than cap is WEFT_ERR_TRUNCATED. */
    weft_status_t (*get)(weft__store_t *s, const char *key, void *buf,
                         size_t cap, size_t *len_p, double deadline);
    /* Wait until every rank of the job entered the fence of that name. */
    weft_status_t (*fence)(weft__store_t *s, const char *name,
                           double deadline);
    /* Every rank contributes len bytes (the same len on every rank);
     * `all` receives nranks * len bytes in rank order. */
    weft_status_t (*allgather)(weft__store_t *s, const char *name,
                               const void *mine, size_t len, void *all,
                               double deadline);
    /* Tell every rank of the job about ev (delivered to all, including
     * the sender, and to ranks that connect later). */
    weft_status_t (*abort)(weft__store_t *s, const weft__store_event_t *ev);
    /* Optional (NULL: the backend needs none): tell the store this rank
     * is alive. Called from the heartbeat thread WITHOUT the context's
     * lock, concurrently with the other ops (backends serialize their
     * writes); never blocks (a full socket skips the beat). The tcp
     * backend asks the store to answer each beat; see silence_s. */
    weft_status_t (*heartbeat)(weft__store_t *s);
    /* An fd that becomes readable when an event may be waiting (-1: the
     * backend has none). */
    int (*event_fd)(weft__store_t *s);
    /* Nonblocking: WEFT_OK and *ev filled when an event is waiting,
     * WEFT_INPROGRESS when none, an error when the link to the store
     * broke (WEFT_ERR_PEER_LOST naming the store's address). */
    weft_status_t (*poll_event)(weft__store_t *s, weft__store_event_t *ev);
    /* Say goodbye (so the server does not report us lost) and free. */
    void (*destroy)(weft__store_t *s);
} weft__store_ops_t;

struct weft__store {
    const weft__store_ops_t *ops;
    int rank;
    int nranks;
    /* Set by the context before its heartbeats start (0: not watched).
     * When the store has answered beats and then says nothing for this
     * long, poll_event fails with WEFT_ERR_PEER_LOST: this rank is cut
     * off from the job (a rank the store cannot reach hears of no
     * failure, and would otherwise learn of it only at its deadline). */
    double silence_s;
};

/*
 * Connect to the store served at addr ("host:port"), authenticate with
 * the store key (weft__auth_derive(job_key, WEFT_AUTH_LABEL_STORE)) and
 * check in as rank/nranks. Connection refused is retried until the
 * deadline (the server may start after us). Errors: WEFT_ERR_AUTH,
 * WEFT_ERR_TIMED_OUT, WEFT_ERR_INVALID_ARG (bad addr), WEFT_ERR_SYSTEM;
 * each logged once with the address.
 *
 * Blocking calls (get, fence, allgather) fail with the event's status
 * when an abort event arrives while they wait (the event also stays
 * queued for poll_event). A fence or allgather that times out names the
 * ranks that had not arrived (asked from the server before giving up).
 */
weft_status_t weft__store_tcp_create(const char *addr, const uint8_t *key,
                                     int rank, int nranks, double deadline,
                                     weft__store_t **store_p);

/* A job of one rank: put/get on a local table, fences return at once. */
weft_status_t weft__store_env_create(weft__store_t **store_p);

/* What the resource manager tells a rank started under PMIx. */
typedef struct weft__store_pmix_job {
    int rank;        /* PMIx rank in the job's namespace */
    int nranks;      /* PMIX_JOB_SIZE */
    int local_rank;  /* PMIX_LOCAL_RANK (-1: the server did not say) */
    int local_size;  /* PMIX_LOCAL_SIZE (0: the server did not say) */
    uint8_t key[WEFT_AUTH_KEY_LEN]; /* the job key rank 0 drew */
    size_t key_len;
} weft__store_pmix_job_t;

/*
 * Join the job through PMIx (srun --mpi=pmix, prterun): PMIx_Init, the
 * job's shape, and the job key (rank 0 draws it and publishes it; the
 * others read it after a fence). Built only with WEFT_HAVE_PMIX.
 * WEFT_ERR_UNSUPPORTED when PMIx_Init fails (no PMIx server: not started
 * by a PMIx launcher), with the reason in weft_last_error() and nothing
 * logged: the caller decides whether that is an error. Other errors (the
 * job key fence timed out, ...) are logged.
 *
 * Differences from the tcp backend, which PMIx imposes: a fence or
 * allgather that times out cannot name the missing ranks; a PMIx key
 * belongs to the rank that put it, so a get asks every other rank in
 * turn until one has it (one PMIx_Get per rank and look: fine for
 * start-up, not for large jobs); two ranks putting one key with
 * different values is caught only on a rank that puts it twice; there is
 * no heartbeat (the resource manager watches its processes); an abort
 * reaches the other nodes only where the resource manager forwards PMIx
 * events (Slurm does not: see store_pmix_event.c).
 */
weft_status_t weft__store_pmix_create(double deadline,
                                      weft__store_pmix_job_t *job,
                                      weft__store_t **store_p);

/* The PMIx library's version string (WEFT_HAVE_PMIX only). */
const char *weft__store_pmix_version(void);

#endif /* WEFT_STORE_H */
