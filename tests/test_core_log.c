/* Logging: the embedder's handler, levels x subsystems, the line format. */
#include "build_config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <weft.h>

#include "log.h"

typedef struct seen {
    int n;
    weft_log_level_t level;
    weft_log_subsys_t subsys;
    char line[1024];
} seen_t;

static void
capture(void *arg, weft_log_level_t level, weft_log_subsys_t subsys,
        const char *line)
{
    seen_t *s = arg;

    s->n++;
    s->level = level;
    s->subsys = subsys;
    snprintf(s->line, sizeof(s->line), "%s", line);
}

Test(core_log, handler_receives_prefixed_lines, .timeout = 10)
{
    seen_t s = {0};

    weft_log_set_handler(capture, &s);
    weft__log_configure(WEFT_LOG_INFO, WEFT_SUB_ALL);
    weft__log_set_rank(3);
    weft__log_warn(WEFT_SUB_TL, "tcp: link to rank %d lost", 7);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.level, WEFT_LOG_WARN);
    cr_assert_eq(s.subsys, WEFT_SUB_TL);
    cr_assert_not_null(strstr(s.line, ":3] weft warn tl: tcp: link to rank 7 "
                                      "lost"),
                       "%s", s.line);
    cr_assert_null(strchr(s.line, '\n'), "the handler gets no newline");
    weft_log_set_handler(NULL, NULL);
}

Test(core_log, levels_and_subsystems_filter, .timeout = 10)
{
    seen_t s = {0};

    weft_log_set_handler(capture, &s);
    weft__log_configure(WEFT_LOG_WARN, WEFT_SUB_ALL & ~WEFT_SUB_TL);
    weft__log_info(WEFT_SUB_CORE, "below the level");
    weft__log_warn(WEFT_SUB_TL, "subsystem switched off");
    cr_assert_eq(s.n, 0, "filtered line reached the handler: %s", s.line);
    weft__log_error(WEFT_SUB_BOOT, "an error");
    cr_assert_eq(s.n, 1);
    cr_assert_not_null(strstr(s.line, "weft error boot: an error"), "%s",
                       s.line);
    weft_log_set_handler(NULL, NULL);
}

Test(core_log, failing_calls_log_once_and_keep_the_message, .timeout = 10)
{
    seen_t s = {0};
    char buf[4];

    weft_log_set_handler(capture, &s);
    weft__log_configure(WEFT_LOG_WARN, WEFT_SUB_ALL);
    cr_assert_eq(weft_send(buf, sizeof(buf), 0, 0, NULL),
                 WEFT_ERR_INVALID_ARG);
    cr_assert_eq(s.n, 1);
    cr_assert_not_null(strstr(s.line, "weft_send: comm is NULL"), "%s",
                       s.line);
    cr_assert_str_eq(weft_last_error(), "weft_send: comm is NULL");
    weft_log_set_handler(NULL, NULL);
}

Test(core_log, long_lines_are_cut_not_overflowed, .timeout = 10)
{
    seen_t s = {0};
    char big[4096];

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    weft_log_set_handler(capture, &s);
    weft__log_configure(WEFT_LOG_WARN, WEFT_SUB_ALL);
    weft__log_warn(WEFT_SUB_CORE, "%s", big);
    cr_assert_eq(s.n, 1);
    cr_assert(strlen(s.line) < 1024);
    weft_log_set_handler(NULL, NULL);
}
