/*
 * The tuning file (collectives/tuning.c): the parser on good text and on
 * every kind of error (each message names file:line), rule matching
 * (bytes ranges, ranks, nodes, wildcards, first rule wins), and the
 * per-context file cache behind weft__tuning_lookup (read once, a bad or
 * missing file logged once and ignored).
 */
#include "build_config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collectives/select.h"
#include "collectives/tuning.h"
#include "context.h"

/* ---- helpers -------------------------------------------------------- */

static weft__tuning_t *
wt_parse_ok(const char *text)
{
    weft__tuning_t *t = NULL;
    weft_status_t st = weft__tuning_parse(text, "t.txt", &t);

    cr_assert_eq(st, WEFT_OK, "parse failed: %s", weft_last_error());
    cr_assert_not_null(t);
    return t;
}

/* The text fails to parse with a message that contains want. */
static void
wt_parse_bad(const char *text, const char *want)
{
    weft__tuning_t *t = NULL;
    weft_status_t st = weft__tuning_parse(text, "t.txt", &t);

    cr_assert_eq(st, WEFT_ERR_INVALID_ARG, "'%s' parsed", text);
    cr_assert_null(t);
    cr_assert(strstr(weft_last_error(), want) != NULL,
              "error '%s' does not say '%s'", weft_last_error(), want);
}

static const char *
wt_find(const weft__tuning_t *t, weft__coll_t c, size_t bytes, int ranks,
        int nodes)
{
    return weft__tuning_find(t, c, bytes, ranks, nodes);
}

static void
wt_expect(const char *got, const char *want)
{
    if (want == NULL) {
        cr_expect_null(got, "matched '%s', wanted no rule", got);
    } else {
        cr_expect(got != NULL && strcmp(got, want) == 0,
                  "matched '%s', wanted '%s'", got ? got : "(none)", want);
    }
}

/* ---- good files ------------------------------------------------------ */

Test(tuning, good_file)
{
    weft__tuning_t *t = wt_parse_ok(
        "weft-tuning 1   # schema\n"
        "# a comment line\n"
        "\n"
        "   \t \n"
        "allreduce 0 32K 4 * recursive_doubling   # trailing comment\n"
        "allreduce\t32K\tinf\t*\t*\tring\r\n"
        "broadcast 1KiB 2MB * 2 chain\n"
        "alltoall 1G inf 8 1 pairwise\n"
        "barrier 0 0 * * dissemination");

    cr_assert_eq(weft__tuning_count(t), 5);
    wt_expect(wt_find(t, WEFT_COLL_ALLREDUCE, 100, 4, 1), "recursive_doubling");
    wt_expect(wt_find(t, WEFT_COLL_BROADCAST, 2u << 20, 3, 2), "chain");
    wt_expect(wt_find(t, WEFT_COLL_ALLTOALL, (size_t)1 << 30, 8, 1),
              "pairwise");
    wt_expect(wt_find(t, WEFT_COLL_BARRIER, 0, 5, 3), "dissemination");
    weft__tuning_destroy(t);
}

Test(tuning, header_only_and_returned_names_are_static)
{
    weft__tuning_t *t = wt_parse_ok("weft-tuning 1\n");
    const weft__algo_t *ring = weft__algo_find(WEFT_COLL_ALLREDUCE, "ring");

    cr_assert_eq(weft__tuning_count(t), 0);
    wt_expect(wt_find(t, WEFT_COLL_ALLREDUCE, 8, 2, 1), NULL);
    weft__tuning_destroy(t);

    t = wt_parse_ok("weft-tuning 1\nallreduce 0 inf * * ring\n");
    cr_assert_eq(wt_find(t, WEFT_COLL_ALLREDUCE, 8, 2, 1), ring->name);
    weft__tuning_destroy(t);
    weft__tuning_destroy(NULL);
}

/* ---- errors: each names the file and the line ---------------------------- */

Test(tuning, header_errors)
{
    wt_parse_bad("", "t.txt:1: the first line must be 'weft-tuning 1'");
    wt_parse_bad("# comment first\nweft-tuning 1\n",
                 "t.txt:1: the first line must be");
    wt_parse_bad("allreduce 0 inf * * ring\n", "t.txt:1: the first line");
    wt_parse_bad("weft-tuning\n", "t.txt:1: the first line");
    wt_parse_bad("weft-tuning 1 extra\n", "t.txt:1: the first line");
    wt_parse_bad("weft-tuning 2\nallreduce 0 inf * * ring\n",
                 "t.txt:1: schema version '2' is not supported");
}

Test(tuning, field_count)
{
    wt_parse_bad("weft-tuning 1\n\nallreduce 0 inf * ring\n",
                 "t.txt:3: a rule has 6 fields");
    wt_parse_bad("weft-tuning 1\nallreduce 0 inf * * ring ring\n",
                 "t.txt:2: a rule has 6 fields (coll min_bytes max_bytes "
                 "ranks nodes algo), this line has 7");
}

Test(tuning, unknown_collective)
{
    wt_parse_bad("weft-tuning 1\n# 2\n# 3\n# 4\n# 5\n# 6\n"
                 "alreduce 0 1K 3 * ring\n",
                 "t.txt:7: unknown collective 'alreduce'");
    wt_parse_bad("weft-tuning 1\nbcast 0 1K 3 * chain\n",
                 "t.txt:2: unknown collective 'bcast'");
}

Test(tuning, bad_sizes)
{
    wt_parse_bad("weft-tuning 1\nallreduce x 1K * * ring\n",
                 "t.txt:2: bad min_bytes 'x'");
    wt_parse_bad("weft-tuning 1\nallreduce -1 1K * * ring\n",
                 "t.txt:2: bad min_bytes '-1'");
    wt_parse_bad("weft-tuning 1\nallreduce inf inf * * ring\n",
                 "t.txt:2: bad min_bytes 'inf'");
    wt_parse_bad("weft-tuning 1\nallreduce 0 1T * * ring\n",
                 "t.txt:2: bad max_bytes '1T'");
    wt_parse_bad("weft-tuning 1\nallreduce 0 99999999999999999999G * * "
                 "ring\n",
                 "t.txt:2: bad max_bytes");
    wt_parse_bad("weft-tuning 1\nallreduce 0 1K * * ring\n"
                 "allreduce 4K 1K * * ring\n",
                 "t.txt:3: min_bytes 4K is above max_bytes 1K");
}

Test(tuning, bad_counts)
{
    wt_parse_bad("weft-tuning 1\nallreduce 0 1K 0 * ring\n",
                 "t.txt:2: bad ranks '0'");
    wt_parse_bad("weft-tuning 1\nallreduce 0 1K -4 * ring\n",
                 "t.txt:2: bad ranks '-4'");
    wt_parse_bad("weft-tuning 1\nallreduce 0 1K four * ring\n",
                 "t.txt:2: bad ranks 'four'");
    wt_parse_bad("weft-tuning 1\nallreduce 0 1K 4 ** ring\n",
                 "t.txt:2: bad nodes '**'");
    wt_parse_bad("weft-tuning 1\nallreduce 0 1K 4 2x ring\n",
                 "t.txt:2: bad nodes '2x'");
}

Test(tuning, unknown_algorithm)
{
    wt_parse_bad("weft-tuning 1\n\n\nallreduce 0 1K * * rign\n",
                 "t.txt:4: unknown allreduce algorithm 'rign' (there are: ");
    /* an algorithm of another collective is not one of this one */
    wt_parse_bad("weft-tuning 1\nallreduce 0 1K * * chain\n",
                 "t.txt:2: unknown allreduce algorithm 'chain'");
}

/* ---- matching ---------------------------------------------------------- */

Test(tuning, match_bytes_ranks_nodes)
{
    weft__tuning_t *t = wt_parse_ok("weft-tuning 1\n"
                                    "allreduce 0 1023 4 * recursive_doubling\n"
                                    "allreduce 1K 64K 4 1 rabenseifner\n"
                                    "allreduce 1K 64K 4 2 ring\n"
                                    "allreduce 0 inf 8 * ring\n");

    /* both bounds are included */
    wt_expect(wt_find(t, WEFT_COLL_ALLREDUCE, 0, 4, 1), "recursive_doubling");
    wt_expect(wt_find(t, WEFT_COLL_ALLREDUCE, 1023, 4, 1),
              "recursive_doubling");
    wt_expect(wt_find(t, WEFT_COLL_ALLREDUCE, 1024, 4, 1), "rabenseifner");
    wt_expect(wt_find(t, WEFT_COLL_ALLREDUCE, 65536, 4, 1), "rabenseifner");
    wt_expect(wt_find(t, WEFT_COLL_ALLREDUCE, 65537, 4, 1), NULL);
    /* nodes */
    wt_expect(wt_find(t, WEFT_COLL_ALLREDUCE, 4096, 4, 2), "ring");
    wt_expect(wt_find(t, WEFT_COLL_ALLREDUCE, 4096, 4, 3), NULL);
    /* ranks */
    wt_expect(wt_find(t, WEFT_COLL_ALLREDUCE, 100, 5, 1), NULL);
    wt_expect(wt_find(t, WEFT_COLL_ALLREDUCE, SIZE_MAX, 8, 9), "ring");
    /* another collective */
    wt_expect(wt_find(t, WEFT_COLL_REDUCE, 100, 4, 1), NULL);
    wt_expect(wt_find(NULL, WEFT_COLL_ALLREDUCE, 100, 4, 1), NULL);
    weft__tuning_destroy(t);
}

Test(tuning, wildcards_and_first_rule_wins)
{
    weft__tuning_t *t = wt_parse_ok("weft-tuning 1\n"
                                    "broadcast 4K 8K 2 * chain\n"
                                    "broadcast 0 inf * * binomial\n"
                                    "broadcast 4K 8K 2 * scatter_allgather\n"
                                    "alltoall 0 inf * 1 bruck\n"
                                    "alltoall 0 inf * * pairwise\n");

    wt_expect(wt_find(t, WEFT_COLL_BROADCAST, 6000, 2, 7), "chain");
    wt_expect(wt_find(t, WEFT_COLL_BROADCAST, 6000, 3, 1), "binomial");
    wt_expect(wt_find(t, WEFT_COLL_BROADCAST, 100, 2, 1), "binomial");
    wt_expect(wt_find(t, WEFT_COLL_ALLTOALL, 100, 64, 1), "bruck");
    wt_expect(wt_find(t, WEFT_COLL_ALLTOALL, 100, 64, 2), "pairwise");
    weft__tuning_destroy(t);
}

/* ---- weft__tuning_lookup: the file, per context ---------------------------
 */

static int wt_errors;
static char wt_last_line[1024];

static void
wt_log(void *arg, weft_log_level_t level, weft_log_subsys_t subsys,
       const char *line)
{
    if (level == WEFT_LOG_ERROR && subsys == WEFT_SUB_COLL) {
        wt_errors++;
        snprintf(wt_last_line, sizeof(wt_last_line), "%s", line);
    }
}

static void
wt_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f);
    cr_assert(fputs(text, f) >= 0);
    cr_assert_eq(fclose(f), 0);
}

/* A context as far as weft__tuning_lookup looks: its WEFT_TUNING_FILE. */
static weft_context_t *
wt_ctx(const char *path)
{
    weft_context_t *ctx = calloc(1, sizeof(*ctx));

    cr_assert_not_null(ctx);
    ctx->cfg.coll.tuning_file = strdup(path);
    return ctx;
}

/* As weft_context_destroy does. */
static void
wt_ctx_free(weft_context_t *ctx)
{
    weft__tuning_forget(ctx);
    free(ctx->cfg.coll.tuning_file);
    free(ctx);
}

Test(tuning, lookup_reads_the_file_once_per_context)
{
    char path[] = "/tmp/wt_tuning_XXXXXX";
    int fd = mkstemp(path);
    weft_context_t *a, *b;

    cr_assert(fd >= 0);
    close(fd);
    wt_write(path, "weft-tuning 1\nallreduce 0 inf * * ring\n");
    a = wt_ctx(path);
    wt_expect(weft__tuning_lookup(a, WEFT_COLL_ALLREDUCE, 8, 2, 1), "ring");
    wt_expect(weft__tuning_lookup(a, WEFT_COLL_REDUCE, 8, 2, 1), NULL);

    /* a running context keeps its rules; a new one reads the new file */
    wt_write(path, "weft-tuning 1\n# longer, so the size differs\n"
                   "allreduce 0 inf * * rabenseifner\n");
    wt_expect(weft__tuning_lookup(a, WEFT_COLL_ALLREDUCE, 8, 2, 1), "ring");
    b = wt_ctx(path);
    wt_expect(weft__tuning_lookup(b, WEFT_COLL_ALLREDUCE, 8, 2, 1),
              "rabenseifner");
    wt_ctx_free(b);
    wt_ctx_free(a);

    /* no file configured: nothing to look up */
    a = wt_ctx("");
    wt_expect(weft__tuning_lookup(a, WEFT_COLL_ALLREDUCE, 8, 2, 1), NULL);
    wt_ctx_free(a);
    unlink(path);
}

Test(tuning, lookup_logs_a_bad_file_once_and_ignores_it)
{
    char path[] = "/tmp/wt_tuning_XXXXXX", want[128];
    int fd = mkstemp(path);
    weft_context_t *a, *b;

    cr_assert(fd >= 0);
    close(fd);
    wt_write(path, "weft-tuning 1\nallreduce 0 inf * * ring\n\n"
                   "reduce 0 1K * * binomal\n");
    weft_log_set_handler(wt_log, NULL);
    a = wt_ctx(path);
    b = wt_ctx(path);
    for (int i = 0; i < 3; i++) {
        wt_expect(weft__tuning_lookup(a, WEFT_COLL_ALLREDUCE, 8, 2, 1), NULL);
        wt_expect(weft__tuning_lookup(b, WEFT_COLL_ALLREDUCE, 8, 2, 1), NULL);
    }
    cr_expect_eq(wt_errors, 1, "%d errors logged", wt_errors);
    snprintf(want, sizeof(want), "%s:4: unknown reduce algorithm 'binomal'",
             path);
    cr_expect(strstr(wt_last_line, want) != NULL, "logged '%s'", wt_last_line);
    cr_expect(strstr(wt_last_line, "ignored") != NULL);
    wt_ctx_free(b);
    wt_ctx_free(a);

    /* a missing file: logged once, ignored */
    unlink(path);
    wt_errors = 0;
    a = wt_ctx(path);
    wt_expect(weft__tuning_lookup(a, WEFT_COLL_ALLREDUCE, 8, 2, 1), NULL);
    wt_expect(weft__tuning_lookup(a, WEFT_COLL_ALLREDUCE, 8, 2, 1), NULL);
    cr_expect_eq(wt_errors, 1, "%d errors logged", wt_errors);
    cr_expect(strstr(wt_last_line, path) != NULL, "logged '%s'", wt_last_line);
    wt_ctx_free(a);
    weft_log_set_handler(NULL, NULL);
}
