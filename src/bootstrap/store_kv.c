/* A store's local table of keys (store_kv.h). */
#include "build_config.h"
#include "bootstrap/store_kv.h"

#include <stdlib.h>
#include <string.h>

#include "bootstrap/store.h"
#include "errmsg.h"

static const weft__store_kv_t *
store_kv_find(const weft__store_kv_t *list, const char *key)
{
    for (const weft__store_kv_t *kv = list; kv != NULL; kv = kv->next) {
        if (strcmp(kv->key, key) == 0) {
            return kv;
        }
    }
    return NULL;
}

weft_status_t
weft__store_kv_check(const weft__store_kv_t *list, const char *key,
                     const void *val, size_t len, int *have_p)
{
    const weft__store_kv_t *kv;

    *have_p = 0;
    if (len > WEFT_STORE_VALUE_MAX || (len > 0 && val == NULL)) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                           "bootstrap put '%s': %zu bytes (at most %d)", key,
                           len, WEFT_STORE_VALUE_MAX);
    }
    kv = store_kv_find(list, key);
    if (kv == NULL) {
        return WEFT_OK;
    }
    if (kv->len == len && (len == 0 || memcmp(kv->val, val, len) == 0)) {
        *have_p = 1;
        return WEFT_OK;
    }
    return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                       "bootstrap key '%s' already holds a different value",
                       key);
}

weft_status_t
weft__store_kv_add(weft__store_kv_t **list, const char *key, const void *val,
                   size_t len)
{
    size_t klen = strlen(key);
    weft__store_kv_t *kv = malloc(sizeof(*kv) + klen + 1);

    if (kv != NULL) {
        kv->val = malloc(len > 0 ? len : 1);
    }
    if (kv == NULL || kv->val == NULL) {
        free(kv);
        return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_BOOT,
                           "out of memory storing bootstrap key '%s'", key);
    }
    memcpy(kv->key, key, klen + 1);
    if (len > 0) {
        memcpy(kv->val, val, len);
    }
    kv->len = len;
    kv->next = *list;
    *list = kv;
    return WEFT_OK;
}

weft_status_t
weft__store_kv_copy(const weft__store_kv_t *list, const char *key, void *buf,
                    size_t cap, size_t *len_p, int *found_p)
{
    const weft__store_kv_t *kv = store_kv_find(list, key);

    *found_p = kv != NULL;
    if (kv == NULL) {
        return WEFT_OK;
    }
    if (kv->len > cap) {
        return weft__error(WEFT_ERR_TRUNCATED, WEFT_SUB_BOOT,
                           "bootstrap get '%s': the value has %zu bytes, "
                           "the buffer %zu",
                           key, kv->len, cap);
    }
    if (kv->len > 0) {
        memcpy(buf, kv->val, kv->len);
    }
    if (len_p != NULL) {
        *len_p = kv->len;
    }
    return WEFT_OK;
}

void
weft__store_kv_free(weft__store_kv_t **list)
{
    while (*list != NULL) {
        weft__store_kv_t *kv = *list;

        *list = kv->next;
        free(kv->val);
        free(kv);
    }
}
