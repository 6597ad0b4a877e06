/*
 * Shared by the fuzz targets (fuzz/fuzz_<name>.c): the libFuzzer entry
 * point every target defines, a log handler that drops weft's log lines
 * (a run makes millions of them), and the check that turns a broken
 * property into a crash both libFuzzer and fuzz/replay_main.c report.
 */
#ifndef WEFT_FUZZ_H
#define WEFT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <weft/log.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline void
fuzz_log_drop(void *arg, weft_log_level_t level, weft_log_subsys_t subsys,
              const char *line)
{
    (void)arg;
    (void)level;
    (void)subsys;
    (void)line;
}

/* Route weft's log lines to fuzz_log_drop (they are still formatted). */
static inline void
fuzz_log_quiet(void)
{
    weft_log_set_handler(fuzz_log_drop, NULL);
}

/* A property of the code under test: abort (a finding) when it fails. */
static inline void
fuzz_check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz: property violated: %s\n", what);
        abort();
    }
}

#endif /* WEFT_FUZZ_H */
