/*
 * Internal logging: levels x subsystems. The enabled check is one compare
 * and one mask, so trace lines may stay on hot paths.
 */
#ifndef WEFT_LOG_INTERNAL_H
#define WEFT_LOG_INTERNAL_H

#include <stdarg.h>
#include <weft/log.h>

extern int weft__log_level;
extern unsigned weft__log_subsys;

void weft__log_emit(int level, unsigned subsys, const char *file, int line,
                    const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void weft__log_vemit(int level, unsigned subsys, const char *file, int line,
                     const char *fmt, va_list ap);

/* Set level and subsystem mask (from the config of the first context). */
void weft__log_configure(int level, unsigned subsys);
/* The rank shown in every line (-1 before it is known). */
void weft__log_set_rank(int rank);
/* Short names: "core", "boot", ...; "warn", "info", ... */
const char *weft__log_subsys_name(unsigned subsys);
const char *weft__log_level_name(int level);

#define weft__log(_level, _subsys, _fmt, ...)                                  \
    do {                                                                       \
        if (((_level) <= weft__log_level) && ((_subsys) & weft__log_subsys)) { \
            weft__log_emit((_level), (_subsys), __FILE__, __LINE__, _fmt,      \
                           ##__VA_ARGS__);                                     \
        }                                                                      \
    } while (0)

#define weft__log_error(_s, _f, ...) weft__log(WEFT_LOG_ERROR, _s, _f, ##__VA_ARGS__)
#define weft__log_warn(_s, _f, ...) weft__log(WEFT_LOG_WARN, _s, _f, ##__VA_ARGS__)
#define weft__log_info(_s, _f, ...) weft__log(WEFT_LOG_INFO, _s, _f, ##__VA_ARGS__)
#define weft__log_debug(_s, _f, ...) weft__log(WEFT_LOG_DEBUG, _s, _f, ##__VA_ARGS__)
#define weft__log_trace(_s, _f, ...) weft__log(WEFT_LOG_TRACE, _s, _f, ##__VA_ARGS__)

#endif /* WEFT_LOG_INTERNAL_H */
