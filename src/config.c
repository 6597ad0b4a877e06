/*
 * The ONE table of WEFT_* variables. Nothing else in the tree reads the
 * environment (tests/check_getenv.sh enforces it). The table is parsed
 * once per context into an immutable weft_config_t.
 */
#include "build_config.h"
#include "config.h"

#include <float.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "log.h"

extern char **environ;

#define CFG(_field) offsetof(weft_config_t, _field)
#define NOLIM 0, 0
#define SZ_MAX ((double)(1ull << 40))
#define LAUNCH WEFT_PARAM_F_LAUNCH

/* clang-format off */
static const weft_param_t config_params[] = {
    /* ---- job: set by weftrun (or the framework that launches ranks) */
    {"RANK", WEFT_PARAM_INT, "-1", CFG(rank), LAUNCH, NULL, -1, INT_MAX,
     "rank of this process in the job (-1: not launched, a job of one)"},
    {"SIZE", WEFT_PARAM_INT, "0", CFG(size), LAUNCH, NULL, 0, INT_MAX,
     "number of ranks in the job (0: not launched, a job of one)"},
    {"LOCAL_RANK", WEFT_PARAM_INT, "-1", CFG(local_rank), LAUNCH, NULL, -1,
     INT_MAX, "rank among the ranks on this node (for the application)"},
    {"LOCAL_SIZE", WEFT_PARAM_INT, "0", CFG(local_size), LAUNCH, NULL, 0,
     INT_MAX, "number of ranks on this node (for the application)"},
    {"RENDEZVOUS", WEFT_PARAM_STR, "", CFG(rendezvous), LAUNCH, NULL, NOLIM,
     "host:port of the bootstrap store"},
    {"RENDEZVOUS_SERVER", WEFT_PARAM_ENUM, "launcher", CFG(rendezvous_server),
     0, "launcher|rank0", NOLIM,
     "who serves the bootstrap store: the launcher (weftrun), or rank 0 of "
     "the job for ranks started by other means"},
    {"JOB_KEY", WEFT_PARAM_STR, "", CFG(job_key),
     LAUNCH | WEFT_PARAM_F_SECRET, NULL, NOLIM,
     "job key, >= 32 hex digits, shared by every rank (never printed)"},
    {"JOB_KEY_FILE", WEFT_PARAM_STR, "", CFG(job_key_file), 0, NULL, NOLIM,
     "file holding the job key in hex; must be mode 0600 and ours"},
    {"NODE_ID", WEFT_PARAM_STR, "", CFG(node_id), 0, NULL, NOLIM,
     "identity of this node (default: hostname and boot id); ranks with "
     "the same id share a node"},
    /* ---- deadlines */
    {"TIMEOUT", WEFT_PARAM_TIME, "300s", CFG(timeout), 0, NULL, 1e-3,
     7 * 86400.0,
     "deadline of every blocking operation; passing it is fatal to the "
     "communicator"},
    {"INIT_TIMEOUT", WEFT_PARAM_TIME, "120s", CFG(init_timeout), 0, NULL,
     1e-3, 86400.0, "deadline for every rank to join the job"},
    {"HANDSHAKE_TIMEOUT", WEFT_PARAM_TIME, "5s", CFG(handshake_timeout), 0,
     NULL, 1e-3, 3600.0,
     "deadline for a new connection to authenticate"},
    {"TEARDOWN_TIMEOUT", WEFT_PARAM_TIME, "5s", CFG(teardown_timeout), 0,
     NULL, 0, 3600.0, "longest wait for peers when shutting down"},
    {"HEARTBEAT", WEFT_PARAM_TIME, "1s", CFG(heartbeat), 0, NULL, 0, 3600.0,
     "each rank tells the bootstrap store it is alive this often, from a "
     "thread of its own (0: never)"},
    {"HEARTBEAT_TIMEOUT", WEFT_PARAM_TIME, "10s", CFG(heartbeat_timeout), 0,
     NULL, 0, 86400.0,
     "the bootstrap store declares a rank lost (WEFT_ERR_PEER_LOST on every "
     "other rank) after hearing nothing from it this long: a process that "
     "was stopped or is frozen (0: never; read where the store is served). "
     "A rank whose beats the store has stopped answering for this long plus "
     "one WEFT_HEARTBEAT is cut off from the job and fails the same way"},
    {"FLOOD", WEFT_PARAM_FLAGS, "all", CFG(flood), 0, "links|store", NOLIM,
     "how the first error of a communicator reaches its other ranks: over "
     "the links open to them (each rank passes it on once, so it spreads "
     "without the store) and through the bootstrap store (which reaches "
     "ranks with no link); all, or one of them"},
    {"ABORT_ON_ERROR", WEFT_PARAM_BOOL, "0", CFG(abort_on_error), 0, NULL,
     NOLIM,
     "call abort() on the first fatal error of a communicator, after logging "
     "it (for launchers that prefer a dead process to an error status; weft "
     "never kills the process otherwise)"},
    /* ---- logging */
    {"LOG_LEVEL", WEFT_PARAM_ENUM, "warn", CFG(log_level), 0,
     "error|warn|info|debug|trace", NOLIM, "how much weft logs (to stderr)"},
    {"LOG_SUBSYS", WEFT_PARAM_FLAGS, "all", CFG(log_subsys), 0,
     "core|boot|tl|coll|topo|mem|ml", NOLIM,
     "subsystems to log, comma list; ^name drops one (^tl)"},
    /* ---- progress */
    {"TL", WEFT_PARAM_LIST, "self,shm,tcp", CFG(tl), 0, NULL, NOLIM,
     "transports to use, in priority order (self,shm,tcp; modules: ofi,ucx)"},
    {"TL_MODULE_PATH", WEFT_PARAM_STR, "", CFG(tl_module_path), 0, NULL,
     NOLIM,
     "directories (colon list) searched for transport modules "
     "(weft_tl_<name>.so) before the install directory"},
    {"SPIN", WEFT_PARAM_TIME, "20us", CFG(spin), 0, NULL, 0, 1.0,
     "busy-poll this long before yielding the core"},
    {"YIELD_COUNT", WEFT_PARAM_INT, "1000", CFG(yield_count), 0, NULL, 0,
     1000000,
     "sched_yield() rounds before blocking on the transports' fds (with "
     "more ranks than cores a yield hands the core to a peer at once, "
     "where a sleep and a wake-up cost tens of microseconds)"},
    {"PROGRESS_THREAD", WEFT_PARAM_BOOL, "0", CFG(progress_thread), 0, NULL,
     NOLIM,
     "1: a thread per context advances nonblocking work while the caller "
     "computes; it sleeps on the transports' fds when there is nothing to "
     "do"},
    {"THREADS", WEFT_PARAM_ENUM, "multiple", CFG(threads), 0,
     "multiple|serialized", NOLIM,
     "multiple: threads may call into a context at the same time (weft "
     "locks it for each call); serialized: one call at a time, from "
     "whichever thread, ordered by the caller (as MPI_THREAD_SERIALIZED), "
     "and weft takes no lock. serialized excludes WEFT_PROGRESS_THREAD=1 "
     "and CUDA communicators, whose threads call in beside the caller"},
    /* ---- transports */
    {"SELF_EAGER_LIMIT", WEFT_PARAM_SIZE, "64KiB", CFG(self.eager_limit), 0,
     NULL, 0, SZ_MAX,
     "messages to self up to this size are copied at once; larger ones "
     "wait for the receive"},
    {"SHM_EAGER_LIMIT", WEFT_PARAM_SIZE, "8KiB", CFG(shm.eager_limit), 0,
     NULL, 0, 4.0 * 1024 * 1024,
     "shm messages up to this size are copied through the ring; larger "
     "ones are read from the sender's memory (at most a quarter of "
     "WEFT_SHM_RING_SIZE)"},
    {"SHM_RING_SIZE", WEFT_PARAM_SIZE, "128KiB", CFG(shm.ring_size), 0, NULL,
     16384, 64.0 * 1024 * 1024,
     "bytes of each shm ring (one per sender on the node), rounded down to "
     "a power of two"},
    {"SHM_CMA", WEFT_PARAM_ENUM, "auto", CFG(shm.cma), 0, "auto|off", NOLIM,
     "large shm messages: auto reads the sender's memory in one copy "
     "(process_vm_readv) where the kernel allows it and falls back to a "
     "pipelined double copy where not; off always takes the double copy"},
    {"SHM_COLL_SLOTS", WEFT_PARAM_INT, "16", CFG(shm.coll_slots), 0, NULL,
     0, 64,
     "communicators per rank that run the node-local collectives in shared "
     "memory (a slot each, never reused while the context lives; others "
     "use point-to-point algorithms)"},
    {"SHM_COLL_BUF", WEFT_PARAM_SIZE, "0", CFG(shm.coll_buf),
     WEFT_PARAM_F_ZERO, NULL, 1024, 16.0 * 1024 * 1024,
     "bytes per rank of each node-local collective's two shared buffers: "
     "calls whose data fits go through them, larger ones are piped through "
     "them or read the peers' memory directly (WEFT_SHM_COLL_LARGE); 0: "
     "128 KiB, or 1 MiB where the node has more ranks than cores, for "
     "allreduce (the others still put at most 128 KiB through them)"},
    {"SHM_COLL_LARGE", WEFT_PARAM_ENUM, "auto", CFG(shm.coll_large), 0,
     "auto|pipe|read|measure", NOLIM,
     "node-local collectives larger than the shared buffers: pipe streams "
     "them through the buffers in pieces (two copies, no system call: "
     "broadcast, allgather, alltoall, and allreduce of 3 ranks and more); "
     "read reads the peers' memory in one copy (process_vm_readv/writev, "
     "where the kernel allows it; a broadcast's root writes a share "
     "itself); measure (where the kernel allows reads: 3 ranks and more, "
     "allreduce from 64 KiB; and allgather and alltoall whose result is "
     "past 8 KiB and whose input fits the buffers, against the buffers) "
     "times both on the calls made and takes the faster, trying the other "
     "now and then; auto reads where the kernel allows it, else pipes, and "
     "measures at two ranks and where the node has more ranks than cores"},
    {"SHM_COLL_CACHE", WEFT_PARAM_SIZE, "0", CFG(shm.coll_cache),
     WEFT_PARAM_F_ZERO, NULL, 4096, 1024.0 * 1024 * 1024 * 1024,
     "the cache node-local collectives assume: a call whose data, over the "
     "node's ranks, is larger than this writes its result with stores that "
     "bypass the cache (x86-64); 0: the size of the largest cache of CPU 0 "
     "(sysfs)"},
    {"SHM_SEGMENT", WEFT_PARAM_ENUM, "memfd", CFG(shm.segment), 0,
     "memfd|file", NOLIM,
     "shm segments: memfd (anonymous, nothing to leak) or file (an O_EXCL "
     "0600 file in WEFT_SHM_DIR, removed once every local rank has it)"},
    {"SHM_DIR", WEFT_PARAM_STR, "/dev/shm", CFG(shm.dir), 0, NULL, NOLIM,
     "directory of file segments (WEFT_SHM_SEGMENT=file)"},
    {"SHM_WAKE", WEFT_PARAM_ENUM, "auto", CFG(shm.wake), 0,
     "auto|membarrier|fence", NOLIM,
     "how a shm sender makes sure a peer about to sleep sees its message: "
     "fence puts a full memory fence in every send (measured: up to a "
     "third of the 8-byte message rate); membarrier leaves it out, and a "
     "rank about to sleep runs membarrier(2) (Linux 4.16) instead, which "
     "makes the node's other ranks pass a fence (1-25 us here: it "
     "interrupts the CPUs running them); auto takes membarrier where the "
     "kernel offers it, unless the node has more ranks than cores (ranks "
     "sleep often there)"},
    {"TCP_IFNAME", WEFT_PARAM_STR, "", CFG(tcp.ifname), 0, NULL, NOLIM,
     "comma list of interfaces for tcp (default: every IPv4 interface that "
     "is up; loopback reaches ranks on the same node)"},
    {"TCP_EAGER_LIMIT", WEFT_PARAM_SIZE, "256KiB", CFG(tcp.eager_limit), 0,
     NULL, 0, 16.0 * 1024 * 1024,
     "tcp messages up to this size are sent at once; larger ones wait for "
     "the receiver (rendezvous)"},
    {"TCP_CHUNK", WEFT_PARAM_SIZE, "1MiB", CFG(tcp.chunk), 0, NULL, 4096,
     64.0 * 1024 * 1024,
     "tcp rendezvous data goes in frames of this size, interleaved with "
     "other messages"},
    {"TCP_SOCKBUF", WEFT_PARAM_SIZE, "0", CFG(tcp.sockbuf), 0, NULL, 0,
     SZ_MAX, "SO_SNDBUF/SO_RCVBUF of tcp links (0: kernel autotuning)"},
    {"TCP_MAX_PENDING", WEFT_PARAM_INT, "64", CFG(tcp.max_pending), 0, NULL,
     1, 65536,
     "unauthenticated tcp connections kept at once (oldest dropped first)"},
    {"OFI_PROVIDER", WEFT_PARAM_STR, "", CFG(ofi.provider), 0, NULL, NOLIM,
     "libfabric provider of the ofi transport, e.g. tcp, shm, verbs, efa, "
     "cxi (default: the first that fi_getinfo offers with reliable tagged "
     "messages; FI_PROVIDER and other FI_* variables reach libfabric as "
     "they are)"},
    {"OFI_MR", WEFT_PARAM_ENUM, "auto", CFG(ofi.mr), 0, "auto|always", NOLIM,
     "ofi: register buffers only where the provider needs it (auto), or "
     "every buffer larger than the inject size (always; a debug knob)"},
    {"BOOT_MAX_PENDING", WEFT_PARAM_INT, "64", CFG(boot.max_pending), 0, NULL,
     1, 65536,
     "unauthenticated bootstrap connections kept at once (oldest dropped "
     "first)"},
    /* ---- collectives */
    {"ALLREDUCE_ALGO", WEFT_PARAM_STR, "", CFG(coll.algo[0]), 0, NULL, NOLIM,
     "force this allreduce algorithm (weft-info -a lists them; empty: chosen "
     "per call)"},
    {"REDUCE_ALGO", WEFT_PARAM_STR, "", CFG(coll.algo[1]), 0, NULL, NOLIM,
     "force this reduce algorithm (weft-info -a lists them; empty: chosen "
     "per call)"},
    {"BROADCAST_ALGO", WEFT_PARAM_STR, "", CFG(coll.algo[2]), 0, NULL, NOLIM,
     "force this broadcast algorithm (weft-info -a lists them; empty: chosen "
     "per call)"},
    {"ALLGATHER_ALGO", WEFT_PARAM_STR, "", CFG(coll.algo[3]), 0, NULL, NOLIM,
     "force this allgather algorithm (weft-info -a lists them; empty: chosen "
     "per call)"},
    {"ALLGATHERV_ALGO", WEFT_PARAM_STR, "", CFG(coll.algo[4]), 0, NULL, NOLIM,
     "force this allgatherv algorithm (weft-info -a lists them; empty: chosen "
     "per call)"},
    {"REDUCE_SCATTER_ALGO", WEFT_PARAM_STR, "", CFG(coll.algo[5]), 0, NULL, NOLIM,
     "force this reduce_scatter algorithm (weft-info -a lists them; empty: chosen "
     "per call)"},
    {"REDUCE_SCATTER_V_ALGO", WEFT_PARAM_STR, "", CFG(coll.algo[6]), 0, NULL, NOLIM,
     "force this reduce_scatter_v algorithm (weft-info -a lists them; empty: chosen "
     "per call)"},
    {"ALLTOALL_ALGO", WEFT_PARAM_STR, "", CFG(coll.algo[7]), 0, NULL, NOLIM,
     "force this alltoall algorithm (weft-info -a lists them; empty: chosen "
     "per call)"},
    {"ALLTOALLV_ALGO", WEFT_PARAM_STR, "", CFG(coll.algo[8]), 0, NULL, NOLIM,
     "force this alltoallv algorithm (weft-info -a lists them; empty: chosen "
     "per call)"},
    {"GATHER_ALGO", WEFT_PARAM_STR, "", CFG(coll.algo[9]), 0, NULL, NOLIM,
     "force this gather algorithm (weft-info -a lists them; empty: chosen "
     "per call)"},
    {"SCATTER_ALGO", WEFT_PARAM_STR, "", CFG(coll.algo[10]), 0, NULL, NOLIM,
     "force this scatter algorithm (weft-info -a lists them; empty: chosen "
     "per call)"},
    {"BARRIER_ALGO", WEFT_PARAM_STR, "", CFG(coll.algo[11]), 0, NULL, NOLIM,
     "force this barrier algorithm (weft-info -a lists them; empty: chosen "
     "per call)"},
    {"TUNING_FILE", WEFT_PARAM_STR, "", CFG(coll.tuning_file), 0, NULL,
     NOLIM,
     "algorithm choices written by weft-tune; they override the cost "
     "model"},
    {"COLL_CHUNK", WEFT_PARAM_SIZE, "256KiB", CFG(coll.chunk), 0, NULL, 1024,
     SZ_MAX, "pipelined algorithms move data in pieces of about this size"},
    {"CHECK_MISMATCH", WEFT_PARAM_BOOL, "1", CFG(coll.check_mismatch), 0,
     NULL, NOLIM,
     "collectives first exchange what each rank called (collective, count, "
     "dtype, op, root) and fail with WEFT_ERR_MISMATCH naming both sides "
     "where ranks disagree; must be the same on every rank"},
    /* ---- ML modules */
    {"DDP_BUCKET_SIZE", WEFT_PARAM_SIZE, "25MiB", CFG(ml.ddp_bucket), 0, NULL,
     1, SZ_MAX,
     "DDP gradient buckets after the first hold about this many bytes (a "
     "parameter is never split); must be the same on every rank"},
    {"DDP_FIRST_BUCKET_SIZE", WEFT_PARAM_SIZE, "1MiB",
     CFG(ml.ddp_first_bucket), 0, NULL, 1, SZ_MAX,
     "the first DDP gradient bucket (the last parameters' gradients, ready "
     "first) holds about this many bytes; must be the same on every rank"},
    {NULL, 0, NULL, 0, 0, NULL, 0, 0, NULL}
};
/* clang-format on */

const weft_param_t *
weft__config_table(void)
{
    return config_params;
}

const weft_param_t *
weft__config_find(const char *name)
{
    for (const weft_param_t *p = config_params; p->name != NULL; p++) {
        if (strcmp(p->name, name) == 0) {
            return p;
        }
    }
    return NULL;
}

const char *const *
weft__config_environ(void)
{
    return (const char *const *)environ;
}

int
weft__config_pmix_launched(void)
{
    const char *ns = getenv("PMIX_NAMESPACE");
    const char *rank = getenv("PMIX_RANK");

    return ns != NULL && ns[0] != '\0' && rank != NULL && rank[0] != '\0';
}

/* "WEFT_NAME=value" -> value if NAME matches p->name. */
static const char *
config_match(const char *entry, const char *name)
{
    size_t n = strlen(name);

    if (strncmp(entry, "WEFT_", 5) != 0 || strncmp(entry + 5, name, n) != 0 ||
        entry[5 + n] != '=') {
        return NULL;
    }
    return entry + 5 + n + 1;
}

const char *
weft__config_source(const char *const *envp, const weft_param_t *p)
{
    const char *value = NULL;

    for (; envp != NULL && *envp != NULL; envp++) {
        const char *v = config_match(*envp, p->name);

        if (v != NULL) {
            value = v; /* the last one wins, as getenv's first would */
            break;
        }
    }
    return value;
}

/* Warn once per process and name about WEFT_* variables nobody reads. */
static void
config_warn_unknown(const char *entry)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static char *warned[64];
    static size_t nwarned;
    const char *eq = strchr(entry, '=');
    size_t len = eq ? (size_t)(eq - entry) : strlen(entry);
    int seen = 0;

    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nwarned; i++) {
        if (strlen(warned[i]) == len && strncmp(warned[i], entry, len) == 0) {
            seen = 1;
        }
    }
    if (!seen && nwarned < WEFT_ARRAY_SIZE(warned)) {
        warned[nwarned] = strndup(entry, len);
        if (warned[nwarned] != NULL) {
            nwarned++;
        }
    }
    pthread_mutex_unlock(&lock);
    if (!seen) {
        weft__log_warn(WEFT_SUB_CORE,
                       "%.*s is not a weft variable (a typo?); weft-info -c "
                       "lists them",
                       (int)len, entry);
    }
}

void
weft__config_free(weft_config_t *cfg)
{
    for (const weft_param_t *p = config_params; p->name != NULL; p++) {
        void *field = (char *)cfg + p->offset;

        if (p->type == WEFT_PARAM_STR) {
            char **s = field;

            if (*s != NULL && (p->flags & WEFT_PARAM_F_SECRET)) {
                weft__memzero(*s, strlen(*s));
            }
            free(*s);
            *s = NULL;
        } else if (p->type == WEFT_PARAM_LIST) {
            weft__strlist_free(field);
        }
    }
}

weft_status_t
weft__config_parse(const char *const *envp, weft_config_t *cfg)
{
    char why[256];
    weft_status_t st;

    memset(cfg, 0, sizeof(*cfg));
    for (const weft_param_t *p = config_params; p->name != NULL; p++) {
        void *field = (char *)cfg + p->offset;
        const char *text = weft__config_source(envp, p);

        st = weft__param_parse(p, p->def, field, why, sizeof(why));
        if (st != WEFT_OK) {
            weft__config_free(cfg);
            return weft__error(WEFT_ERR_INTERNAL, WEFT_SUB_CORE,
                               "default of WEFT_%s does not parse: %s",
                               p->name, why);
        }
        if (text == NULL) {
            continue;
        }
        st = weft__param_parse(p, text, field, why, sizeof(why));
        if (st != WEFT_OK) {
            weft__config_free(cfg);
            if (p->flags & WEFT_PARAM_F_SECRET) {
                return weft__error(st, WEFT_SUB_CORE,
                                   "WEFT_%s has a bad value", p->name);
            }
            return weft__error(st, WEFT_SUB_CORE, "WEFT_%s: %s", p->name,
                               why);
        }
    }
    for (; envp != NULL && *envp != NULL; envp++) {
        const char *entry = *envp;
        int known = 0;

        if (strncmp(entry, "WEFT_", 5) != 0) {
            continue;
        }
        for (const weft_param_t *p = config_params; p->name != NULL; p++) {
            if (config_match(entry, p->name) != NULL) {
                known = 1;
                break;
            }
        }
        if (!known) {
            config_warn_unknown(entry);
        }
    }
    return WEFT_OK;
}

weft_status_t
weft__config_load(weft_config_t *cfg)
{
    return weft__config_parse(weft__config_environ(), cfg);
}

const char *
weft__config_get_text(const weft_config_t *cfg, const char *name, char *buf,
                      size_t size)
{
    const weft_param_t *p = weft__config_find(name);

    if (p == NULL) {
        return NULL;
    }
    if (p->flags & WEFT_PARAM_F_SECRET) {
        buf[0] = '\0';
        return buf;
    }
    weft__param_format(p, (const char *)cfg + p->offset, 1, buf, size);
    return buf;
}
