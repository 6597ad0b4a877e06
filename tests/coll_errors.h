/*
 * What the collective error tests (test_coll_errors.c, test_coll_faults.c)
 * share: a note in the log, and the page the ranks tell the Criterion
 * side through.
 */
#ifndef WEFT_TESTS_COLL_ERRORS_H
#define WEFT_TESTS_COLL_ERRORS_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <weft.h>

/* A note in the test's log. (cr_log_warn would make Criterion 2.4.1 exit
 * with status 1 even when every test passes.) */
#define er_note(...)                                                           \
    do {                                                                       \
        fprintf(stderr, "note: " __VA_ARGS__);                                 \
        fputc('\n', stderr);                                                   \
    } while (0)

#define ER_NRANKS 3

/* What the ranks tell the Criterion side (MAP_SHARED). */
typedef struct er_shared {
    int flags;        /* ER_* of what happened */
    int status[8];    /* per rank */
    char msg[8][512]; /* per rank */
    char note[512];
    char algo[32]; /* the allreduce algorithm to force */
    int mode;      /* which mismatch */
    int answered;  /* ranks done (atomic) */
} er_shared_t;

enum { ER_FOUND_REFUSAL = 1, ER_NO_ALLREDUCE = 2 };

static inline er_shared_t *
er_shared_new(void)
{
    er_shared_t *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    cr_assert(sh != MAP_FAILED, "mmap failed");
    memset(sh, 0, sizeof(*sh));
    return sh;
}

#endif /* WEFT_TESTS_COLL_ERRORS_H */
