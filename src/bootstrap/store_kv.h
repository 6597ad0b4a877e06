/*
 * A store's local table of keys (the env store's every key, the pmix
 * store's own puts): a key is written once; writing it again with the same
 * value is a no-op, with another value an error.
 */
#ifndef WEFT_STORE_KV_H
#define WEFT_STORE_KV_H

#include <stddef.h>
#include <stdint.h>
#include <weft/status.h>

typedef struct weft__store_kv {
    struct weft__store_kv *next;
    size_t len;
    uint8_t *val;
    char key[];
} weft__store_kv_t;

/* Check a put of key = val (name, size, against what the table holds):
 * WEFT_OK with *have_p = 1 when the table holds that value already, 0
 * when the key is new; WEFT_ERR_INVALID_ARG naming what is wrong. */
weft_status_t weft__store_kv_check(const weft__store_kv_t *list,
                                   const char *key, const void *val, size_t len,
                                   int *have_p);
/* Add key = val (checked before): WEFT_OK or WEFT_ERR_NO_MEMORY. */
weft_status_t weft__store_kv_add(weft__store_kv_t **list, const char *key,
                                 const void *val, size_t len);
/* Copy key's value into buf (cap bytes) when the table has it: WEFT_OK
 * with *found_p = 1, or WEFT_ERR_TRUNCATED naming both sizes; WEFT_OK
 * with *found_p = 0 when it has not. */
weft_status_t weft__store_kv_copy(const weft__store_kv_t *list, const char *key,
                                  void *buf, size_t cap, size_t *len_p,
                                  int *found_p);
void weft__store_kv_free(weft__store_kv_t **list);

#endif /* WEFT_STORE_KV_H */
