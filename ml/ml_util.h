/*
 * What the ML modules share. They are built on weft's public API only
 * (weft.h and weft/ml_*.h), as a framework's own code would be: errors go
 * through weft_log_error, so they read like weft's own.
 */
#ifndef WEFT_ML_UTIL_H
#define WEFT_ML_UTIL_H

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

#endif /* WEFT_ML_UTIL_H */
