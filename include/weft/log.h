/*
 * Logging. weft writes its log lines to stderr; WEFT_LOG_LEVEL and
 * WEFT_LOG_SUBSYS choose what is written. A framework that embeds weft can
 * take the lines over with weft_log_set_handler().
 */
#ifndef WEFT_LOG_H
#define WEFT_LOG_H

#include <weft/version.h>
#include <weft/status.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum weft_log_level {
    WEFT_LOG_ERROR = 0,
    WEFT_LOG_WARN = 1,
    WEFT_LOG_INFO = 2,
    WEFT_LOG_DEBUG = 3,
    WEFT_LOG_TRACE = 4
} weft_log_level_t;

typedef enum weft_log_subsys {
    WEFT_SUB_CORE = 1u << 0, /* context, comm, requests, progress */
    WEFT_SUB_BOOT = 1u << 1, /* bootstrap store, launcher */
    WEFT_SUB_TL = 1u << 2,   /* transports */
    WEFT_SUB_COLL = 1u << 3, /* collectives */
    WEFT_SUB_TOPO = 1u << 4, /* topology */
    WEFT_SUB_MEM = 1u << 5,  /* memory registration */
    WEFT_SUB_ML = 1u << 6,   /* ML modules */
    WEFT_SUB_ALL = 0x7fu
} weft_log_subsys_t;

/* Receives one complete log line (no trailing newline), already
 * prefixed with host, pid, rank, level and subsystem. Called with
 * weft's internal locks held: the handler must not call weft. It may be
 * called from any thread that calls weft. */
typedef void (*weft_log_fn_t)(void *arg, weft_log_level_t level,
                              weft_log_subsys_t subsys, const char *line);

/* Install a handler (fn == NULL restores the default: stderr). */
WEFT_API void weft_log_set_handler(weft_log_fn_t fn, void *arg);

/* For libraries layered on weft (libweft_cuda): report a failure the way
 * weft's own calls do. The message becomes this thread's
 * weft_last_error() and is logged once at `level` (WARN where the error
 * is first detected, DEBUG when it only repeats one reported before) in
 * `subsys`. Returns `status`, so `return weft_log_error(...)` is one
 * step. */
WEFT_API weft_status_t weft_log_error(weft_status_t status,
                                      weft_log_level_t level,
                                      weft_log_subsys_t subsys,
                                      const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#ifdef __cplusplus
}
#endif

#endif /* WEFT_LOG_H */
