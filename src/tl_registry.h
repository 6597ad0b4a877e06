/*
 * The transport registry: the explicit list of built-in transports (no
 * constructors, no magic), the explicit list of transports built as
 * loadable modules, and the lookup by WEFT_TL name.
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

/* The names of the transports built as modules; *n_p gets the count. */
const char *const *weft__tl_registry_modules(size_t *n_p);
int weft__tl_registry_is_module(const char *name);

/* Open module name (weft_tl_<name>.so from the first directory of path, a
 * colon list, that has one, else from $pkglibdir) once per process:
 * its checked ops in *ops_p, or WEFT_ERR_UNSUPPORTED naming the file and
 * why it cannot be used (missing, a library it needs is missing, no
 * symbol, another ABI). Thread-safe. */
weft_status_t weft__tl_registry_load(const char *name, const char *path,
                                     const weft_tl_ops_t **ops_p);

/* The names of what is built, for messages. */
const char *weft__tl_registry_names(void);

/* Check an ops table before use (ABI version, size, required ops);
 * WEFT_ERR_UNSUPPORTED naming what is wrong. */
weft_status_t weft__tl_registry_check(const weft_tl_ops_t *ops);

#endif /* WEFT_TL_REGISTRY_H */
