/* Small helpers: hex, string lists, bounded copies. */
#ifndef WEFT_UTIL_H
#define WEFT_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <weft/status.h>

#define WEFT_ARRAY_SIZE(_a) (sizeof(_a) / sizeof((_a)[0]))
#define weft__container_of(_ptr, _type, _member)                               \
    ((_type *)((char *)(_ptr) - offsetof(_type, _member)))

typedef struct weft__strlist {
    size_t n;
    char **items;
} weft__strlist_t;

/* Split "a,b,,c" on commas (empty items dropped, blanks trimmed). */
weft_status_t weft__strlist_split(const char *text, weft__strlist_t *list);
void weft__strlist_free(weft__strlist_t *list);
/* Index of name in list, or -1. */
int weft__strlist_find(const weft__strlist_t *list, const char *name);

/* Lowercase hex of len bytes into out (2 * len + 1 bytes). */
void weft__hex_encode(const void *buf, size_t len, char *out);
/* Decode hex text (even length, no prefix) into buf; WEFT_ERR_INVALID_ARG
 * on a bad digit, odd length or more than cap bytes. */
weft_status_t weft__hex_decode(const char *text, void *buf, size_t cap,
                               size_t *len_p);

/* snprintf into a caller's reason buffer; does nothing when why is NULL
 * or why_len is 0 (the codecs' "why" arguments). */
void weft__why(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* strncpy that always terminates; returns strlen(src). */
size_t weft__strlcpy(char *dst, const char *src, size_t size);

/* Overwrite secrets so the compiler cannot drop the stores. */
void weft__memzero(void *buf, size_t len);

/* Little-endian fields of wire formats, `bytes` (1 to 8) long. */
static inline void
weft__put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static inline uint64_t
weft__get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;

    for (int i = 0; i < bytes; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

#endif /* WEFT_UTIL_H */
