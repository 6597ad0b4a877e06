/* Small helpers: hex, string lists, bounded copies. */
#include "build_config.h"
#include "util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t
weft__strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);

    if (size > 0) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}

void
weft__why(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;

    if (why == NULL || why_len == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
}

void
weft__memzero(void *buf, size_t len)
{
    volatile unsigned char *p = buf;

    while (len-- > 0) {
        *p++ = 0;
    }
}

void
weft__hex_encode(const void *buf, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = buf;

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 0xf];
    }
    out[2 * len] = '\0';
}

static int
util_hex_value(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

weft_status_t
weft__hex_decode(const char *text, void *buf, size_t cap, size_t *len_p)
{
    size_t n = strlen(text);
    unsigned char *p = buf;

    if (n % 2 != 0 || n / 2 > cap) {
        return WEFT_ERR_INVALID_ARG;
    }
    for (size_t i = 0; i < n / 2; i++) {
        int hi = util_hex_value((unsigned char)text[2 * i]);
        int lo = util_hex_value((unsigned char)text[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return WEFT_ERR_INVALID_ARG;
        }
        p[i] = (unsigned char)(hi << 4 | lo);
    }
    *len_p = n / 2;
    return WEFT_OK;
}

void
weft__strlist_free(weft__strlist_t *list)
{
    for (size_t i = 0; i < list->n; i++) {
        free(list->items[i]);
    }
    free(list->items);
    list->items = NULL;
    list->n = 0;
}

weft_status_t
weft__strlist_split(const char *text, weft__strlist_t *list)
{
    weft__strlist_t out = {0, NULL};
    const char *p = text;

    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *s = p;
        size_t n = len;

        while (n > 0 && isspace((unsigned char)*s)) {
            s++;
            n--;
        }
        while (n > 0 && isspace((unsigned char)s[n - 1])) {
            n--;
        }
        if (n > 0) {
            char **items = realloc(out.items, (out.n + 1) * sizeof(*items));
            char *item = malloc(n + 1);

            if (items == NULL || item == NULL) {
                free(item);
                out.items = items ? items : out.items;
                weft__strlist_free(&out);
                return WEFT_ERR_NO_MEMORY;
            }
            memcpy(item, s, n);
            item[n] = '\0';
            items[out.n++] = item;
            out.items = items;
        }
        p += len;
        if (*p == ',') {
            p++;
        }
    }
    *list = out;
    return WEFT_OK;
}

int
weft__strlist_find(const weft__strlist_t *list, const char *name)
{
    for (size_t i = 0; i < list->n; i++) {
        if (strcmp(list->items[i], name) == 0) {
            return (int)i;
        }
    }
    return -1;
}
