/* The built-in transports, listed explicitly (no constructors). */
#include "build_config.h"
#include "tl_registry.h"

#include <string.h>

#include "errmsg.h"
#include "util.h"

static const weft_tl_ops_t *const tl_builtin[] = {
    &weft__tl_self,
    &weft__tl_shm,
    &weft__tl_tcp,
};

const weft_tl_ops_t *const *
weft__tl_registry_builtin(size_t *n_p)
{
    *n_p = WEFT_ARRAY_SIZE(tl_builtin);
    return tl_builtin;
}

const weft_tl_ops_t *
weft__tl_registry_find(const char *name)
{
    for (size_t i = 0; i < WEFT_ARRAY_SIZE(tl_builtin); i++) {
        if (strcmp(tl_builtin[i]->name, name) == 0) {
            return tl_builtin[i];
        }
    }
    return NULL;
}

const char *
weft__tl_registry_names(void)
{
    return "self, shm, tcp";
}

weft_status_t
weft__tl_registry_check(const weft_tl_ops_t *ops)
{
    if (ops->abi_version != WEFT_TL_ABI_VERSION) {
        return weft__error(WEFT_ERR_UNSUPPORTED, WEFT_SUB_TL,
                           "transport %s was built for ABI %u, this is %u",
                           ops->name, ops->abi_version, WEFT_TL_ABI_VERSION);
    }
    if (ops->size < offsetof(weft_tl_ops_t, wait_fd) || ops->init == NULL ||
        ops->fini == NULL || ops->address == NULL || ops->reachable == NULL ||
        ops->ep_create == NULL || ops->ep_destroy == NULL ||
        ops->isend == NULL || ops->irecv == NULL || ops->progress == NULL ||
        !WEFT_TL_HAS_OP(ops, cancel)) {
        return weft__error(WEFT_ERR_UNSUPPORTED, WEFT_SUB_TL,
                           "transport %s lacks a required operation",
                           ops->name);
    }
    return WEFT_OK;
}
