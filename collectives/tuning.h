/*
 * The tuning file (WEFT_TUNING_FILE, written by weft-tune): algorithm
 * choices measured on a machine, which override the cost model. A text
 * file; '#' starts a comment, blank lines are ignored; the first line is
 * the schema version, then one rule per line:
 *
 *   weft-tuning 1
 *   # coll      min_bytes max_bytes ranks nodes algo
 *   allreduce   0         32K       4     *     recursive_doubling
 *   allreduce   32K       inf       *     *     ring
 *
 * Bytes count as weft-bench's size_bytes column (nccl-tests), both bounds
 * included; they take K, M, G (powers of 1024) and max_bytes may be inf.
 * ranks and nodes are a number or '*' (nodes is compared with what
 * selection passes: today 1 for one node, 2 for several). The first rule that matches a call
 * wins (rules may overlap). select.c asks weft__tuning_lookup (select.h),
 * which reads the file once; these parse and match text, for tests and
 * tools.
 */
#ifndef WEFT_TUNING_H
#define WEFT_TUNING_H

#include <stddef.h>
#include <stdint.h>
#include <weft/status.h>
#include <weft/context.h>
#include "collectives/coll.h"

#define WEFT_TUNING_HEADER "weft-tuning 1"
#define WEFT_TUNING_ANY    (-1)     /* '*' in ranks or nodes */
#define WEFT_TUNING_INF    SIZE_MAX /* 'inf' in max_bytes */

typedef struct weft__tuning weft__tuning_t;

/* Parse text; name (the file name) starts every error message, which
 * weft_last_error() returns ("tuning.txt:7: unknown collective
 * 'alreduce'"). Fails with WEFT_ERR_INVALID_ARG (nothing is logged) or
 * WEFT_ERR_NO_MEMORY. */
weft_status_t weft__tuning_parse(const char *text, const char *name,
                                 weft__tuning_t **t_p);
/* The first matching rule's algorithm (a static string), or NULL. */
const char *weft__tuning_find(const weft__tuning_t *t, weft__coll_t coll,
                              size_t bytes, int ranks, int nodes);
/* Drop what the cache keeps for ctx (its binding to a loaded file): to
 * be called when ctx is destroyed, so that a new context that happens to
 * get the same address reads the file again. */
void weft__tuning_forget(const weft_context_t *ctx);
/* Rules in t. */
size_t weft__tuning_count(const weft__tuning_t *t);
void weft__tuning_destroy(weft__tuning_t *t);

#endif /* WEFT_TUNING_H */
