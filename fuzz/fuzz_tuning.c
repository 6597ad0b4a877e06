/*
 * fuzz_tuning: the tuning file parser (collectives/tuning.h).
 *
 * The input is the file's text: like the loader, which refuses a file
 * with a NUL byte, inputs holding one are skipped; the rest goes to
 * weft__tuning_parse as a C string. A parsed table is asked for every
 * collective at a few sizes, rank and node counts: every answer must be
 * an algorithm of that collective. A refused text must fail with
 * WEFT_ERR_INVALID_ARG and a message "fuzz.tuning:LINE: ...".
 */
#include "build_config.h"

#include <string.h>
#include <weft/status.h>

#include "collectives/select.h"
#include "collectives/tuning.h"
#include "fuzz/fuzz.h"

#define TUNING_FUZZ_NAME "fuzz.tuning"

static void
tuning_fuzz_query(const weft__tuning_t *t)
{
    static const size_t bytes[] = {0, 1, 4096, 1u << 20, SIZE_MAX};
    static const int ranks[] = {1, 2, 4, 1 << 30};

    for (int c = 0; c < WEFT_COLL_COUNT; c++) {
        for (size_t b = 0; b < sizeof(bytes) / sizeof(bytes[0]); b++) {
            for (size_t r = 0; r < sizeof(ranks) / sizeof(ranks[0]); r++) {
                for (int nodes = 1; nodes <= 2; nodes++) {
                    const char *algo = weft__tuning_find(
                        t, (weft__coll_t)c, bytes[b], ranks[r], nodes);

                    fuzz_check(algo == NULL || weft__algo_find((weft__coll_t)c,
                                                               algo) != NULL,
                               "a tuning answer is an algorithm of its "
                               "collective");
                }
            }
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    weft__tuning_t *t = NULL;
    weft_status_t st;
    char *text;

    if (!quiet) {
        fuzz_log_quiet();
        quiet = 1;
    }
    if (size > 0 && memchr(data, '\0', size) != NULL) {
        return 0;
    }
    text = malloc(size + 1);
    fuzz_check(text != NULL, "malloc");
    if (size > 0) {
        memcpy(text, data, size);
    }
    text[size] = '\0';
    st = weft__tuning_parse(text, TUNING_FUZZ_NAME, &t);
    if (st == WEFT_OK) {
        fuzz_check(t != NULL, "a parsed table is returned");
        tuning_fuzz_query(t);
        fuzz_check(weft__tuning_count(t) <= size, "at most a rule a line");
        weft__tuning_destroy(t);
    } else {
        fuzz_check(st == WEFT_ERR_INVALID_ARG, "a bad file is INVALID_ARG");
        fuzz_check(t == NULL, "nothing is returned on failure");
        fuzz_check(strncmp(weft_last_error(), TUNING_FUZZ_NAME ":",
                           strlen(TUNING_FUZZ_NAME) + 1) == 0,
                   "the error names file:line");
    }
    free(text);
    return 0;
}
