/*
 * The one table of WEFT_* variables (src/config.c) and the immutable
 * snapshot it is parsed into. Nothing outside config.c reads the
 * environment.
 */
#ifndef WEFT_CONFIG_H
#define WEFT_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <weft/status.h>
#include "util.h"

typedef enum weft_param_type {
    WEFT_PARAM_INT,   /* decimal integer within [min, max] */
    WEFT_PARAM_SIZE,  /* bytes: 4096, 64K, 64KiB, 1M, 2G (binary units) */
    WEFT_PARAM_TIME,  /* seconds: 30, 30s, 500ms, 20us, 100ns, 2m, 1h */
    WEFT_PARAM_BOOL,  /* 1/0, yes/no, true/false, on/off, y/n */
    WEFT_PARAM_ENUM,  /* one of choices ("a|b|c"); stored as its index */
    WEFT_PARAM_FLAGS, /* comma list of choices, "all", "^x" to drop one */
    WEFT_PARAM_STR,   /* any text */
    WEFT_PARAM_LIST   /* comma list of names (weft__strlist_t) */
} weft_param_type_t;

/* cfg.shm.coll_large: WEFT_SHM_COLL_LARGE=auto|pipe|read|measure, in that
 * order */
enum {
    WEFT_SHM_LARGE_AUTO,
    WEFT_SHM_LARGE_PIPE,
    WEFT_SHM_LARGE_READ,
    WEFT_SHM_LARGE_MEASURE
};

#define WEFT_PARAM_F_DEBUG (1u << 0)  /* a diagnostic knob, not API */
#define WEFT_PARAM_F_SECRET (1u << 1) /* never printed */
#define WEFT_PARAM_F_LAUNCH (1u << 2) /* set by the launcher */
#define WEFT_PARAM_F_ZERO   (1u << 3) /* 0 is allowed below min (auto) */

typedef struct weft_param {
    const char *name; /* without the WEFT_ prefix */
    weft_param_type_t type;
    const char *def;     /* default, parsed by the same parser */
    size_t offset;       /* of the field in weft_config_t */
    unsigned flags;      /* WEFT_PARAM_F_* */
    const char *choices; /* ENUM/FLAGS: "a|b|c"; else NULL */
    double min, max;     /* INT/SIZE/TIME bounds */
    const char *help;
} weft_param_t;

#define WEFT_CONFIG_COLLS 12 /* weft__coll_t values (collectives/coll.h) */

/* WEFT_FLOOD bits, in the order of its choices */
#define WEFT_FLOOD_LINKS (1u << 0)
#define WEFT_FLOOD_STORE (1u << 1)

typedef struct weft_config {
    /* job (weftrun sets these; weft_context_params_t may override) */
    int rank;
    int size;
    int local_rank;
    int local_size;
    char *rendezvous;
    int rendezvous_server; /* WEFT_RENDEZVOUS_SERVER_* */
    char *job_key;
    char *job_key_file;
    char *node_id;
    /* deadlines, seconds */
    double timeout;
    double init_timeout;
    double handshake_timeout;
    double teardown_timeout;
    double heartbeat;
    double heartbeat_timeout;
    unsigned flood; /* WEFT_FLOOD_* */
    int abort_on_error;
    /* logging */
    int log_level;
    unsigned log_subsys;
    /* progress */
    double spin;
    int yield_count;
    int progress_thread;
    int threads; /* WEFT_THREAD_* (weft/context.h) */
    weft__strlist_t tl;
    char *tl_module_path;
    /* transports */
    struct {
        size_t eager_limit;
    } self;
    struct {
        size_t eager_limit;
        size_t ring_size;
        int coll_slots;
        size_t coll_buf;
        int cma;     /* 0 auto, 1 off */
        int coll_large; /* WEFT_SHM_LARGE_* */
        size_t coll_cache; /* 0: weft__copy_cache_bytes() */
        int segment; /* 0 memfd, 1 file */
        char *dir;
        int wake; /* 0 auto, 1 membarrier, 2 fence */
    } shm;
    struct {
        char *ifname;
        size_t eager_limit;
        size_t chunk;
        size_t sockbuf;
        int max_pending;
    } tcp;
    struct {
        char *provider;
        int mr; /* 0 auto, 1 always */
    } ofi;
    struct {
        int max_pending;
    } boot;
    struct {
        char *algo[WEFT_CONFIG_COLLS]; /* WEFT_<COLL>_ALGO, by weft__coll_t */
        char *tuning_file;
        size_t chunk;
        int check_mismatch;
    } coll;
    struct {
        size_t ddp_bucket, ddp_first_bucket;
    } ml;
} weft_config_t;

enum {
    WEFT_RENDEZVOUS_SERVER_LAUNCHER = 0,
    WEFT_RENDEZVOUS_SERVER_RANK0 = 1
};

/* The table, terminated by a row with name == NULL. */
const weft_param_t *weft__config_table(void);
const weft_param_t *weft__config_find(const char *name);

/*
 * Parse every row from envp (NULL-terminated "NAME=value" strings, as
 * environ) into cfg; rows not in envp take their default. Unknown WEFT_*
 * names are warned about (once per process and name). A bad value fails
 * with WEFT_ERR_INVALID_ARG and a message naming the variable; cfg is
 * then left empty (nothing to free).
 */
weft_status_t weft__config_parse(const char *const *envp, weft_config_t *cfg);

/* weft__config_parse(environ). */
weft_status_t weft__config_load(weft_config_t *cfg);

void weft__config_free(weft_config_t *cfg);

/* Parse text for one row into the field at dst (dst points into a
 * weft_config_t at p->offset). On error, returns WEFT_ERR_INVALID_ARG and
 * writes a reason into why (e.g. "'12q' is not a size"). */
weft_status_t weft__param_parse(const weft_param_t *p, const char *text,
                                void *dst, char *why, size_t why_len);

/* The field's current value as text. Readable form: "64KiB", "300s",
 * "warn", "self,tcp". Canonical form (canonical != 0, for transports'
 * config_get): sizes in bytes ("65536"), times in seconds ("0.0005"),
 * booleans "1"/"0", enums and lists as names. */
void weft__param_format(const weft_param_t *p, const void *src, int canonical,
                        char *buf, size_t size);

/* Where the value of a row came from when cfg was parsed: the raw text
 * from the environment, or NULL when the default was used. Used by
 * weft-info. */
const char *weft__config_source(const char *const *envp,
                                const weft_param_t *p);

/* Canonical value of a row as text, for transports' config_get (NULL if
 * the name is unknown); the result points into buf. Secrets give "". */
const char *weft__config_get_text(const weft_config_t *cfg, const char *name,
                                  char *buf, size_t size);

/* The process environment (for weft-info and the launcher). */
const char *const *weft__config_environ(void);

/* 1 when a PMIx launcher (srun --mpi=pmix, prterun) started this process:
 * PMIX_NAMESPACE and PMIX_RANK are set. The only variables outside the
 * WEFT_* table weft looks at, so they are read here too. */
int weft__config_pmix_launched(void);

#endif /* WEFT_CONFIG_H */
