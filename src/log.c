/*
 * Log lines: "[host:pid:rank] weft LEVEL subsys: message", written to
 * stderr with one write() each, or handed to the embedder's handler.
 */
#include "build_config.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define LOG_LINE_MAX 1024

int weft__log_level = WEFT_LOG_WARN;
unsigned weft__log_subsys = WEFT_SUB_ALL;

static int log_rank = -1;
static weft_log_fn_t log_handler;
static void *log_handler_arg;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const log_level_names[] = {"error", "warn", "info",
                                              "debug", "trace"};
static const char *const log_subsys_names[] = {"core", "boot", "tl", "coll",
                                               "topo", "mem",  "ml"};

const char *
weft__log_level_name(int level)
{
    if (level < 0 || (size_t)level >= WEFT_ARRAY_SIZE(log_level_names)) {
        return "?";
    }
    return log_level_names[level];
}

const char *
weft__log_subsys_name(unsigned subsys)
{
    for (size_t i = 0; i < WEFT_ARRAY_SIZE(log_subsys_names); i++) {
        if (subsys & (1u << i)) {
            return log_subsys_names[i];
        }
    }
    return "?";
}

void
weft__log_configure(int level, unsigned subsys)
{
    weft__log_level = level;
    weft__log_subsys = subsys;
}

void
weft__log_set_rank(int rank)
{
    log_rank = rank;
}

void
weft_log_set_handler(weft_log_fn_t fn, void *arg)
{
    pthread_mutex_lock(&log_lock);
    log_handler = fn;
    log_handler_arg = arg;
    pthread_mutex_unlock(&log_lock);
}

void
weft__log_vemit(int level, unsigned subsys, const char *file, int line,
                const char *fmt, va_list ap)
{
    static char host[64];
    char buf[LOG_LINE_MAX];
    int saved = errno;
    int n;

    if (host[0] == '\0') {
        if (gethostname(host, sizeof(host) - 1) != 0) {
            weft__strlcpy(host, "?", sizeof(host));
        }
        host[sizeof(host) - 1] = '\0';
    }
    n = snprintf(buf, sizeof(buf), "[%s:%d:%d] weft %s %s: ", host,
                 (int)getpid(), log_rank, weft__log_level_name(level),
                 weft__log_subsys_name(subsys));
    if (n < 0) {
        n = 0;
    }
    errno = saved; /* %m in fmt */
    if ((size_t)n < sizeof(buf)) {
        int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
        if (m > 0) {
            n += m;
        }
    }
    if ((size_t)n >= sizeof(buf) - 1) {
        n = (int)sizeof(buf) - 2;
    }
    if (level >= WEFT_LOG_DEBUG && file != NULL) {
        int m = snprintf(buf + n, sizeof(buf) - (size_t)n, " (%s:%d)", file,
                         line);
        if (m > 0 && (size_t)(n + m) < sizeof(buf) - 1) {
            n += m;
        }
    }
    buf[n] = '\0';

    pthread_mutex_lock(&log_lock);
    if (log_handler != NULL) {
        log_handler(log_handler_arg, (weft_log_level_t)level,
                    (weft_log_subsys_t)subsys, buf);
    } else {
        ssize_t ignored;

        buf[n] = '\n';
        ignored = write(STDERR_FILENO, buf, (size_t)n + 1);
        (void)ignored;
    }
    pthread_mutex_unlock(&log_lock);
    errno = saved;
}

void
weft__log_emit(int level, unsigned subsys, const char *file, int line,
               const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    weft__log_vemit(level, subsys, file, line, fmt, ap);
    va_end(ap);
}
