/*
 * The transport registry: the explicit list of built-in transports (no
 * constructors, no magic) and the lookup by WEFT_TL name. Loadable
 * transports (ofi, ucx, cuda) join this list from a later release.
 */
#ifndef WEFT_TL_REGISTRY_H
#define WEFT_TL_REGISTRY_H

#include <stddef.h>
#include <weft/transport.h>

extern const weft_tl_ops_t weft__tl_self;
extern const weft_tl_ops_t weft__tl_shm;
extern const weft_tl_ops_t weft__tl_tcp;

/* The built-in transports, in default priority order; *n_p gets the
 * count. */
const weft_tl_ops_t *const *weft__tl_registry_builtin(size_t *n_p);

/* The transport called name, or NULL. */
const weft_tl_ops_t *weft__tl_registry_find(const char *name);

/* "self, tcp": the names of what is built, for messages. */
const char *weft__tl_registry_names(void);

/* Check an ops table before use (ABI version, size, required ops);
 * WEFT_ERR_UNSUPPORTED naming what is wrong. */
weft_status_t weft__tl_registry_check(const weft_tl_ops_t *ops);

#endif /* WEFT_TL_REGISTRY_H */
