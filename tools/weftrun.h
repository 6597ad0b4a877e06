/*
 * weftrun: the launcher. Shared between its files:
 *   weftrun.c            options, --help, setting the job up and down
 *   weftrun_spawn.c      host layout, binding, argv/environment, fork+exec
 *   weftrun_supervise.c  the event loop: signals, rank exits, the store,
 *                        escalation (grace, SIGTERM, SIGKILL), leftovers
 *   weftrun_output.c     --tag-output: line assembly with "[R] " prefixes
 */
#ifndef WEFTRUN_H
#define WEFTRUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <hwloc.h>

#include "bootstrap/auth.h"
#include "bootstrap/server.h"
#include "util.h"

#define WEFTRUN_EXIT_USAGE     2
#define WEFTRUN_MAX_RANKS      65536
#define WEFTRUN_LINE_MAX       65536 /* a longer line is cut into pieces */
#define WEFTRUN_GRACE_S                                                        \
    2.0                            /* after a failure: to exit on their own    \
                                      (--grace) */
#define WEFTRUN_SETTLE_S       0.5 /* a signal death this soon after a plain
                                      failure is taken as its cause */
#define WEFTRUN_KILL_S         3.0  /* after SIGTERM: time before SIGKILL */
#define WEFTRUN_OUTPUT_DRAIN_S 1.0  /* after the last exit: rest of output */
#define WEFTRUN_STORE_DRAIN_S  1.0  /* after the last exit: store goodbyes */
#define WEFTRUN_REAP_S         2.0  /* after the last exit: leftover reaping */
#define WEFTRUN_ABANDON_S      10.0 /* after SIGKILL: stop waiting for a rank */

typedef enum weftrun_bind {
    WEFTRUN_BIND_AUTO = 0, /* core when it fits, else none */
    WEFTRUN_BIND_NONE,
    WEFTRUN_BIND_CORE,
    WEFTRUN_BIND_NUMA
} weftrun_bind_t;

typedef struct weftrun_opts {
    int nranks;
    const char *tl; /* --tl, or NULL */
    weftrun_bind_t bind;
    double timeout;         /* --timeout seconds, 0: none */
    double grace;           /* --grace seconds (WEFTRUN_GRACE_S) */
    const char *host_cmd;   /* --host-cmd template, or NULL */
    const char *hosts;      /* --hosts list, or NULL */
    const char *rendezvous; /* --rendezvous, or NULL */
    int tag_output;
    char **argv; /* prog args... (NULL-terminated) */
} weftrun_opts_t;

/* One output stream of a rank (--tag-output). */
typedef struct weftrun_stream {
    int fd;     /* read end of the pipe, -1 when closed */
    int out_fd; /* where the lines go: 1 or 2 */
    size_t len; /* bytes of an unfinished line in buf */
    char *buf;  /* WEFTRUN_LINE_MAX bytes */
} weftrun_stream_t;

typedef struct weftrun_rank {
    int rank;
    int local_rank;
    int local_size;
    const char *host;      /* --hosts entry, or NULL */
    pid_t pid;             /* 0 before start */
    int running;           /* started and not reaped */
    int wstatus;           /* from waitpid, once reaped */
    hwloc_cpuset_t cpuset; /* binding, or NULL */
    int bind_index;        /* core or NUMA node index (for messages) */
    weftrun_stream_t out;
    weftrun_stream_t err;
} weftrun_rank_t;

typedef enum weftrun_cause {
    WEFTRUN_CAUSE_NONE = 0,
    WEFTRUN_CAUSE_RANK,    /* a rank failed first */
    WEFTRUN_CAUSE_TIMEOUT, /* --timeout expired */
    WEFTRUN_CAUSE_SIGNAL,  /* weftrun got SIGINT/SIGTERM/SIGHUP */
    WEFTRUN_CAUSE_LAUNCH   /* weftrun could not start a rank */
} weftrun_cause_t;

typedef struct weftrun_job {
    weftrun_opts_t opts;
    weftrun_rank_t *ranks;
    weft__strlist_t hosts; /* parsed --hosts */
    char **host_words;     /* --host-cmd split on blanks, NULL-terminated */
    char hostname[256];    /* {host} without --hosts */
    struct rlimit nofile;  /* RLIMIT_NOFILE as found (ranks get it back) */
    int nofile_raised;     /* we raised it for the store and the pipes */
    hwloc_topology_t topo; /* NULL when binding is off */
    const char *bind_name; /* "core", "numa" or "none" (as decided) */
    char key_hex[2 * WEFT_AUTH_KEY_LEN + 1]; /* zeroed once all started */
    weft__boot_server_t *srv;
    int store_failed; /* progress returned a fatal error */
    int epfd;
    int sigfd;
    int devnull;
    int running;  /* ranks started and not reaped */
    double start; /* weft__now() at launch (moved on by stops) */
    double stopped_at; /* weftrun stopped itself (SIGTSTP) here; 0: no */
    /* stopping */
    weftrun_cause_t cause; /* what stopped the job first */
    int exit_code;         /* weftrun's exit status (set with cause) */
    double cause_at;       /* when a rank failure became the cause */
    int cause_signaled;    /* that rank was killed by a signal */
    int signals;           /* SIGINT/SIGTERM/SIGHUP received so far */
    double term_at;        /* SIGTERM the groups at this time (0: no) */
    double kill_at;        /* SIGKILL the groups at this time (0: no) */
    double abandon_at;     /* stop waiting for unkillable ranks (0: no) */
    int abandoned;
} weftrun_job_t;

/* epoll keys: the signalfd, the store, then two per rank */
#define WEFTRUN_KEY_SIGNAL 0
#define WEFTRUN_KEY_STORE  1
#define WEFTRUN_KEY_STREAM 2

static inline uint64_t
weftrun_stream_key(const weftrun_rank_t *r, const weftrun_stream_t *s)
{
    return WEFTRUN_KEY_STREAM + 2 * (uint64_t)r->rank + (s == &r->err);
}

/* weftrun.c: print "weftrun: <message>" and the --help hint; returns
 * WEFTRUN_EXIT_USAGE. */
int weftrun_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* weftrun_spawn.c */
int weftrun_layout_create(weftrun_job_t *job);
void weftrun_layout_destroy(weftrun_job_t *job);
int weftrun_rank_start(weftrun_job_t *job, weftrun_rank_t *r);

/* weftrun_supervise.c */
int weftrun_signals_init(weftrun_job_t *job);
void weftrun_job_stop(weftrun_job_t *job, weftrun_cause_t cause, int exit_code,
                      int failed_rank, const char *reason);
int weftrun_job_run(weftrun_job_t *job);
void weftrun_job_reap_leftovers(weftrun_job_t *job);

/* weftrun_output.c */
void weftrun_stream_open(weftrun_job_t *job, weftrun_rank_t *r,
                         weftrun_stream_t *s, int out_fd, int fd);
void weftrun_stream_read(weftrun_job_t *job, weftrun_rank_t *r,
                         weftrun_stream_t *s);
void weftrun_stream_close(weftrun_job_t *job, weftrun_rank_t *r,
                          weftrun_stream_t *s);
void weftrun_output_drain(weftrun_job_t *job, double deadline);

#endif /* WEFTRUN_H */
