/*
 * What the ML modules share. They are built on weft's public API only
 * (weft.h and weft/ml_*.h), as a framework's own code would be: errors go
 * through weft_log_error, so they read like weft's own.
 */
#ifndef WEFT_ML_UTIL_H
#define WEFT_ML_UTIL_H

#include <stdint.h>
#include <weft.h>

/* Fail the calling function with WEFT_ERR_INVALID_ARG and the message
 * when cond does not hold. */
#define WEFT_ML_ARG(_cond, ...)                                                \
    do {                                                                       \
        if (!(_cond)) {                                                        \
            return weft_log_error(WEFT_ERR_INVALID_ARG, WEFT_LOG_WARN,         \
                                  WEFT_SUB_ML, __VA_ARGS__);                   \
        }                                                                      \
    } while (0)

/* Return the status of _expr when it is not WEFT_OK. */
#define WEFT_ML_CHECK(_expr)                                                   \
    do {                                                                       \
        weft_status_t _st = (_expr);                                           \
        if (_st != WEFT_OK) {                                                  \
            return _st;                                                        \
        }                                                                      \
    } while (0)

/* This rank gives up in the middle of an exchange the others wait on:
 * abort comm, so their waits end now with WEFT_ERR_ABORTED instead of at
 * the deadline. Returns what this rank reports for st: st when it is an
 * error status, else WEFT_ERR_ABORTED. */
static inline weft_status_t
weft__ml_give_up(weft_comm_t *comm, weft_status_t st)
{
    weft_comm_abort(comm, WEFT_ERR_ABORTED);
    return st < 0 && st > WEFT_ERR_LAST ? st : WEFT_ERR_ABORTED;
}

/* Every rank's header of a collective call, gathered: `all` holds size
 * rows of `stride` words, each starting with the n header words (word 0
 * the call's magic, or `refused` from a rank that refused its own call;
 * names[f] names word f in errors). WEFT_OK when every row matches mine,
 * else WEFT_ERR_INVALID_ARG naming the first rank that refused or
 * differs, and what. (ml/ml_agree.c) */
weft_status_t weft__ml_headers_agree(const char *fn, const int64_t *all,
                                     size_t stride, int size, int me,
                                     const int64_t *mine, size_t n,
                                     const char *const *names, int64_t refused);

#endif /* WEFT_ML_UTIL_H */
