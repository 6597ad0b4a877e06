/*
 * The check a collective ML call makes on every rank's header before
 * anything moves (MoE dispatch, ring attention, Ulysses): each rank
 * gathered every rank's header, and all of them find the same answer.
 */
#include "ml/ml_util.h"

weft_status_t
weft__ml_headers_agree(const char *fn, const int64_t *all, size_t stride,
                       int size, int me, const int64_t *mine, size_t n,
                       const char *const *names, int64_t refused)
{
    for (int r = 0; r < size; r++) {
        const int64_t *t = all + (size_t)r * stride;

        if (t[0] == refused) {
            return weft_log_error(WEFT_ERR_INVALID_ARG, WEFT_LOG_WARN,
                                  WEFT_SUB_ML,
                                  "%s: rank %d refused its call (its own "
                                  "error says why): nothing was exchanged",
                                  fn, r);
        }
        for (size_t f = 0; f < n; f++) {
            if (t[f] != mine[f]) {
                return weft_log_error(
                    WEFT_ERR_INVALID_ARG, WEFT_LOG_WARN, WEFT_SUB_ML,
                    "%s: %s %lld here (rank %d), %lld on rank %d: every "
                    "rank must pass the same",
                    fn, names[f], (long long)mine[f], me, (long long)t[f], r);
            }
        }
    }
    return WEFT_OK;
}
