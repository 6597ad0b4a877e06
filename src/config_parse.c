/*
 * Value parsers of the config table: one per type, pure functions over
 * text (fuzzed by fuzz/fuzz_config.c). Defaults go through the same
 * code as values from the environment.
 */
#include "build_config.h"
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

static const char *
parse_skip_blank(const char *s)
{
    while (isspace((unsigned char)*s)) {
        s++;
    }
    return s;
}

/* A nonnegative decimal number with optional fraction; end after it. */
static int
parse_number(const char *text, double *value_p, const char **end_p)
{
    const char *s = parse_skip_blank(text);
    char *end;
    double v;

    if (!isdigit((unsigned char)*s) && *s != '.') {
        return -1;
    }
    errno = 0;
    v = strtod(s, &end);
    if (end == s || errno != 0 || !isfinite(v) || v < 0) {
        return -1;
    }
    *value_p = v;
    *end_p = end;
    return 0;
}

/* The unit after a number, blanks trimmed, into unit (-1: too long). */
static int
parse_unit(const char *end, char *unit, size_t size)
{
    size_t n;

    end = parse_skip_blank(end);
    n = strlen(end);
    while (n > 0 && isspace((unsigned char)end[n - 1])) {
        n--;
    }
    if (n >= size) {
        return -1;
    }
    memcpy(unit, end, n);
    unit[n] = '\0';
    return 0;
}

static int
parse_unit_is(const char *unit, const char *const *names)
{
    for (; *names != NULL; names++) {
        if (strcasecmp(unit, *names) == 0) {
            return 1;
        }
    }
    return 0;
}

static weft_status_t
parse_int(const weft_param_t *p, const char *text, int *out, char *why,
          size_t why_len)
{
    const char *s = parse_skip_blank(text);
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (end == s || errno != 0) {
        snprintf(why, why_len, "'%s' is not an integer", text);
        return WEFT_ERR_INVALID_ARG;
    }
    if (*parse_skip_blank(end) != '\0') {
        snprintf(why, why_len, "'%s' is not an integer", text);
        return WEFT_ERR_INVALID_ARG;
    }
    if ((double)v < p->min || (double)v > p->max) {
        snprintf(why, why_len, "%lld is out of range [%.0f, %.0f]", v, p->min,
                 p->max);
        return WEFT_ERR_INVALID_ARG;
    }
    *out = (int)v;
    return WEFT_OK;
}

static weft_status_t
parse_size(const weft_param_t *p, const char *text, size_t *out, char *why,
           size_t why_len)
{
    static const char *const k[] = {"k", "kb", "kib", NULL};
    static const char *const m[] = {"m", "mb", "mib", NULL};
    static const char *const g[] = {"g", "gb", "gib", NULL};
    static const char *const t[] = {"t", "tb", "tib", NULL};
    static const char *const b[] = {"", "b", NULL};
    char unit[8];
    const char *end;
    double v, scale;

    if (parse_number(text, &v, &end) != 0) {
        snprintf(why, why_len, "'%s' is not a size (e.g. 4096, 64K, 1MiB)",
                 text);
        return WEFT_ERR_INVALID_ARG;
    }
    if (parse_unit(end, unit, sizeof(unit)) != 0) {
        snprintf(why, why_len, "'%s' has an unknown size unit", text);
        return WEFT_ERR_INVALID_ARG;
    }
    if (parse_unit_is(unit, b)) {
        scale = 1;
    } else if (parse_unit_is(unit, k)) {
        scale = 1024.0;
    } else if (parse_unit_is(unit, m)) {
        scale = 1024.0 * 1024;
    } else if (parse_unit_is(unit, g)) {
        scale = 1024.0 * 1024 * 1024;
    } else if (parse_unit_is(unit, t)) {
        scale = 1024.0 * 1024 * 1024 * 1024;
    } else {
        snprintf(why, why_len,
                 "'%s' has an unknown size unit (use K, M, G or T)", text);
        return WEFT_ERR_INVALID_ARG;
    }
    v *= scale;
    if (v != floor(v)) {
        snprintf(why, why_len, "'%s' is not a whole number of bytes", text);
        return WEFT_ERR_INVALID_ARG;
    }
    if ((v < p->min && !(v == 0 && (p->flags & WEFT_PARAM_F_ZERO))) ||
        v > p->max) {
        snprintf(why, why_len, "%s is out of range [%.0f, %.0f] bytes%s", text,
                 p->min, p->max, p->flags & WEFT_PARAM_F_ZERO ? " (or 0)" : "");
        return WEFT_ERR_INVALID_ARG;
    }
    *out = (size_t)v;
    return WEFT_OK;
}

static weft_status_t
parse_time(const weft_param_t *p, const char *text, double *out, char *why,
           size_t why_len)
{
    static const struct {
        const char *name;
        double scale;
    } units[] = {{"", 1},    {"s", 1},       {"sec", 1},  {"ms", 1e-3},
                 {"us", 1e-6}, {"ns", 1e-9}, {"m", 60},   {"min", 60},
                 {"h", 3600}};
    char unit[8];
    const char *end;
    double v;

    if (parse_number(text, &v, &end) != 0) {
        snprintf(why, why_len, "'%s' is not a duration (e.g. 30s, 500ms)",
                 text);
        return WEFT_ERR_INVALID_ARG;
    }
    if (parse_unit(end, unit, sizeof(unit)) != 0) {
        snprintf(why, why_len, "'%s' has an unknown time unit", text);
        return WEFT_ERR_INVALID_ARG;
    }
    for (size_t i = 0; i < WEFT_ARRAY_SIZE(units); i++) {
        if (strcasecmp(unit, units[i].name) == 0) {
            v *= units[i].scale;
            if (v < p->min || v > p->max) {
                snprintf(why, why_len, "%s is out of range [%gs, %gs]", text,
                         p->min, p->max);
                return WEFT_ERR_INVALID_ARG;
            }
            *out = v;
            return WEFT_OK;
        }
    }
    snprintf(why, why_len,
             "'%s' has an unknown time unit (use ns, us, ms, s, m or h)",
             text);
    return WEFT_ERR_INVALID_ARG;
}

static weft_status_t
parse_bool(const char *text, int *out, char *why, size_t why_len)
{
    static const char *const yes[] = {"1", "yes", "y", "true", "on", NULL};
    static const char *const no[] = {"0", "no", "n", "false", "off", NULL};

    if (parse_unit_is(text, yes)) {
        *out = 1;
    } else if (parse_unit_is(text, no)) {
        *out = 0;
    } else {
        snprintf(why, why_len, "'%s' is not a boolean (1/0, yes/no)", text);
        return WEFT_ERR_INVALID_ARG;
    }
    return WEFT_OK;
}

/* Index of name in "a|b|c", or -1. */
static int
parse_choice(const char *choices, const char *name, size_t name_len)
{
    const char *c = choices;
    int i = 0;

    while (*c != '\0') {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);

        if (len == name_len && strncasecmp(c, name, len) == 0) {
            return i;
        }
        i++;
        c += len;
        if (*c == '|') {
            c++;
        }
    }
    return -1;
}

static weft_status_t
parse_enum(const weft_param_t *p, const char *text, int *out, char *why,
           size_t why_len)
{
    const char *s = parse_skip_blank(text);
    size_t n = strlen(s);
    int i;

    while (n > 0 && isspace((unsigned char)s[n - 1])) {
        n--;
    }
    i = parse_choice(p->choices, s, n);
    if (i < 0) {
        snprintf(why, why_len, "'%s' is not one of %s", text, p->choices);
        return WEFT_ERR_INVALID_ARG;
    }
    *out = i;
    return WEFT_OK;
}

static weft_status_t
parse_flags(const weft_param_t *p, const char *text, unsigned *out, char *why,
            size_t why_len)
{
    weft__strlist_t list;
    unsigned mask = 0;
    unsigned all = 0;
    int nchoices = 0;

    for (const char *c = p->choices; *c != '\0'; c++) {
        nchoices += (*c == '|');
    }
    nchoices++;
    all = nchoices >= 32 ? ~0u : (1u << nchoices) - 1;
    if (weft__strlist_split(text, &list) != WEFT_OK) {
        snprintf(why, why_len, "out of memory");
        return WEFT_ERR_NO_MEMORY;
    }
    if (list.n > 0 && list.items[0][0] == '^') {
        mask = all;
    }
    for (size_t i = 0; i < list.n; i++) {
        const char *item = list.items[i];
        int exclude = item[0] == '^';
        int bit;

        if (exclude) {
            item++;
        }
        if (strcasecmp(item, "all") == 0) {
            mask = exclude ? 0 : all;
            continue;
        }
        if (strcasecmp(item, "none") == 0 && !exclude) {
            mask = 0;
            continue;
        }
        bit = parse_choice(p->choices, item, strlen(item));
        if (bit < 0) {
            snprintf(why, why_len, "'%s' is not one of all|%s", item,
                     p->choices);
            weft__strlist_free(&list);
            return WEFT_ERR_INVALID_ARG;
        }
        if (exclude) {
            mask &= ~(1u << bit);
        } else {
            mask |= 1u << bit;
        }
    }
    weft__strlist_free(&list);
    *out = mask;
    return WEFT_OK;
}

weft_status_t
weft__param_parse(const weft_param_t *p, const char *text, void *dst,
                  char *why, size_t why_len)
{
    switch (p->type) {
    case WEFT_PARAM_INT:
        return parse_int(p, text, dst, why, why_len);
    case WEFT_PARAM_SIZE:
        return parse_size(p, text, dst, why, why_len);
    case WEFT_PARAM_TIME:
        return parse_time(p, text, dst, why, why_len);
    case WEFT_PARAM_BOOL:
        return parse_bool(text, dst, why, why_len);
    case WEFT_PARAM_ENUM:
        return parse_enum(p, text, dst, why, why_len);
    case WEFT_PARAM_FLAGS:
        return parse_flags(p, text, dst, why, why_len);
    case WEFT_PARAM_STR: {
        char *copy = strdup(text);

        if (copy == NULL) {
            snprintf(why, why_len, "out of memory");
            return WEFT_ERR_NO_MEMORY;
        }
        free(*(char **)dst);
        *(char **)dst = copy;
        return WEFT_OK;
    }
    case WEFT_PARAM_LIST: {
        weft__strlist_t list;

        if (weft__strlist_split(text, &list) != WEFT_OK) {
            snprintf(why, why_len, "out of memory");
            return WEFT_ERR_NO_MEMORY;
        }
        weft__strlist_free(dst);
        *(weft__strlist_t *)dst = list;
        return WEFT_OK;
    }
    }
    snprintf(why, why_len, "unknown parameter type %d", (int)p->type);
    return WEFT_ERR_INTERNAL;
}

static void
format_choice(const char *choices, int index, char *buf, size_t size)
{
    const char *c = choices;

    for (int i = 0; *c != '\0'; i++) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);

        if (i == index) {
            snprintf(buf, size, "%.*s", (int)len, c);
            return;
        }
        c += len;
        if (*c == '|') {
            c++;
        }
    }
    snprintf(buf, size, "%d", index);
}

static void
format_size(size_t v, char *buf, size_t size)
{
    static const char *const units[] = {"GiB", "MiB", "KiB"};
    static const size_t scales[] = {1ul << 30, 1ul << 20, 1ul << 10};

    for (size_t i = 0; i < WEFT_ARRAY_SIZE(units); i++) {
        if (v != 0 && v % scales[i] == 0) {
            snprintf(buf, size, "%zu%s", v / scales[i], units[i]);
            return;
        }
    }
    snprintf(buf, size, "%zu", v);
}

static void
format_time(double v, char *buf, size_t size)
{
    if (v == 0 || v >= 1) {
        snprintf(buf, size, "%gs", v);
    } else if (v >= 1e-3) {
        snprintf(buf, size, "%gms", v * 1e3);
    } else if (v >= 1e-6) {
        snprintf(buf, size, "%gus", v * 1e6);
    } else {
        snprintf(buf, size, "%gns", v * 1e9);
    }
}

void
weft__param_format(const weft_param_t *p, const void *src, int canonical,
                   char *buf, size_t size)
{
    buf[0] = '\0';
    switch (p->type) {
    case WEFT_PARAM_INT:
        snprintf(buf, size, "%d", *(const int *)src);
        break;
    case WEFT_PARAM_SIZE:
        if (canonical) {
            snprintf(buf, size, "%zu", *(const size_t *)src);
        } else {
            format_size(*(const size_t *)src, buf, size);
        }
        break;
    case WEFT_PARAM_TIME:
        if (canonical) {
            snprintf(buf, size, "%.9g", *(const double *)src);
        } else {
            format_time(*(const double *)src, buf, size);
        }
        break;
    case WEFT_PARAM_BOOL:
        snprintf(buf, size, "%s",
                 *(const int *)src ? (canonical ? "1" : "yes")
                                   : (canonical ? "0" : "no"));
        break;
    case WEFT_PARAM_ENUM:
        format_choice(p->choices, *(const int *)src, buf, size);
        break;
    case WEFT_PARAM_FLAGS: {
        unsigned mask = *(const unsigned *)src;
        size_t off = 0;
        char name[32];

        for (int i = 0; i < 32 && off < size; i++) {
            if (mask & (1u << i)) {
                format_choice(p->choices, i, name, sizeof(name));
                off += (size_t)snprintf(buf + off, size - off, "%s%s",
                                        off ? "," : "", name);
            }
        }
        if (mask == 0) {
            snprintf(buf, size, "none");
        }
        break;
    }
    case WEFT_PARAM_STR: {
        const char *s = *(char *const *)src;

        snprintf(buf, size, "%s", s ? s : "");
        break;
    }
    case WEFT_PARAM_LIST: {
        const weft__strlist_t *l = src;
        size_t off = 0;

        for (size_t i = 0; i < l->n && off < size; i++) {
            off += (size_t)snprintf(buf + off, size - off, "%s%s",
                                    i ? "," : "", l->items[i]);
        }
        break;
    }
    }
}
