/*
 * Error reporting: a failing call records a message in a thread-local
 * buffer (returned by weft_last_error()) and logs it once, where the error
 * is first detected. Callers that only pass a status up do not call these.
 */
#ifndef WEFT_ERRMSG_H
#define WEFT_ERRMSG_H

#include <stddef.h>
#include <weft/status.h>
#include <weft/log.h>

/* Record and log (WARN, subsys) a message; returns status. */
weft_status_t weft__error(weft_status_t status, unsigned subsys,
                          const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Same, but logged at a caller-chosen level (e.g. DEBUG for expected
 * conditions such as a timeout in weft_test's caller). */
weft_status_t weft__error_at(weft_status_t status, weft_log_level_t level,
                             unsigned subsys, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Record only (no log line): for errors the caller already logged. */
void weft__error_set(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Checks for public entry points: log and return WEFT_ERR_INVALID_ARG. */
#define WEFT_ARG_CHECK(_cond, ...)                                             \
    do {                                                                       \
        if (!(_cond)) {                                                        \
            return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_CORE,           \
                               __VA_ARGS__);                                   \
        }                                                                      \
    } while (0)

#define WEFT_CHECK(_expr)                                                      \
    do {                                                                       \
        weft_status_t _st = (_expr);                                           \
        if (_st < 0) {                                                         \
            return _st;                                                        \
        }                                                                      \
    } while (0)

#define WEFT_CHECK_GOTO(_expr, _status, _label)                                \
    do {                                                                       \
        (_status) = (_expr);                                                   \
        if ((_status) < 0) {                                                   \
            goto _label;                                                       \
        }                                                                      \
    } while (0)

#endif /* WEFT_ERRMSG_H */
