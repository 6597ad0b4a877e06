/* Thread-local last-error message (weft_last_error) and its logging. */
#include "build_config.h"
#include "errmsg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

#define ERRMSG_MAX 512

static __thread char errmsg_buf[ERRMSG_MAX];

const char *
weft_last_error(void)
{
    return errmsg_buf;
}

static void
errmsg_vrecord(const char *fmt, va_list ap)
{
    vsnprintf(errmsg_buf, sizeof(errmsg_buf), fmt, ap);
}

void
weft__error_set(const char *fmt, ...)
{
    va_list ap;
    int saved = errno;

    va_start(ap, fmt);
    errmsg_vrecord(fmt, ap);
    va_end(ap);
    errno = saved;
}

static weft_status_t
errmsg_vreport(weft_status_t status, weft_log_level_t level, unsigned subsys,
               const char *fmt, va_list ap)
{
    int saved = errno;
    va_list copy;

    va_copy(copy, ap);
    errmsg_vrecord(fmt, copy);
    va_end(copy);
    if (((int)level <= weft__log_level) && (subsys & weft__log_subsys)) {
        errno = saved; /* for %m */
        weft__log_emit(level, subsys, NULL, 0, "%s", errmsg_buf);
    }
    errno = saved;
    return status;
}

weft_status_t
weft__error(weft_status_t status, unsigned subsys, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    status = errmsg_vreport(status, WEFT_LOG_WARN, subsys, fmt, ap);
    va_end(ap);
    return status;
}

weft_status_t
weft__error_at(weft_status_t status, weft_log_level_t level, unsigned subsys,
               const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    status = errmsg_vreport(status, level, subsys, fmt, ap);
    va_end(ap);
    return status;
}

weft_status_t
weft_log_error(weft_status_t status, weft_log_level_t level,
               weft_log_subsys_t subsys, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    status = errmsg_vreport(status, level, (unsigned)subsys, fmt, ap);
    va_end(ap);
    return status;
}
