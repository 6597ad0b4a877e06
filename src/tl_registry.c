/* The transports: the built-in ones, listed explicitly (no constructors),
 * and the loadable modules, found by name and opened on first use. */
#include "build_config.h"
#include "tl_registry.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "errmsg.h"
#include "util.h"

static const weft_tl_ops_t *const tl_builtin[] = {
    &weft__tl_self,
    &weft__tl_shm,
    &weft__tl_tcp,
};

/* Transports built as modules ($pkglibdir/weft_tl_<name>.so, one exported
 * symbol, WEFT_TL_PLUGIN_SYMBOL), so that libweft never needs libfabric or
 * UCX at run time. */
static const char *const tl_module_names[] = {
    "ofi",
    "ucx",
};

#define TL_NMODULES WEFT_ARRAY_SIZE(tl_module_names)

/* A module once opened stays open (every context of the process may use
 * it); one that failed is tried again, the path may have changed. */
static struct {
    void *handle;
    const weft_tl_ops_t *ops;
} tl_modules[TL_NMODULES];
static pthread_mutex_t tl_modules_lock = PTHREAD_MUTEX_INITIALIZER;

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

const char *const *
weft__tl_registry_modules(size_t *n_p)
{
    *n_p = TL_NMODULES;
    return tl_module_names;
}

static int
tl_module_index(const char *name)
{
    for (size_t i = 0; i < TL_NMODULES; i++) {
        if (strcmp(tl_module_names[i], name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

int
weft__tl_registry_is_module(const char *name)
{
    return tl_module_index(name) >= 0;
}

/* The file of module name in the first directory of path (a colon list)
 * that holds one, else in the install directory. */
static void
tl_module_file(const char *name, const char *path, char *out, size_t len)
{
    const char *p = path != NULL ? path : "";

    while (*p != '\0') {
        size_t n = strcspn(p, ":");

        if (n > 0) {
            snprintf(out, len, "%.*s/weft_tl_%s.so", (int)n, p, name);
            if (access(out, F_OK) == 0) {
                return;
            }
        }
        p += n + (p[n] == ':');
    }
    snprintf(out, len, "%s/weft_tl_%s.so", WEFT_PKGLIBDIR, name);
}

static weft_status_t
tl_module_open(int i, const char *path)
{
    const char *name = tl_module_names[i];
    const weft_tl_ops_t *ops;
    char file[1024];
    void *h;

    tl_module_file(name, path, file, sizeof(file));
    h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        const char *why = dlerror();

        return weft__error(WEFT_ERR_UNSUPPORTED, WEFT_SUB_TL,
                           "transport %s: cannot load its module: %s", name,
                           why != NULL ? why : file);
    }
    ops = dlsym(h, WEFT_TL_PLUGIN_SYMBOL);
    if (ops == NULL) {
        dlclose(h);
        return weft__error(WEFT_ERR_UNSUPPORTED, WEFT_SUB_TL,
                           "transport %s: %s exports no %s", name, file,
                           WEFT_TL_PLUGIN_SYMBOL);
    }
    if (strcmp(ops->name, name) != 0) {
        dlclose(h);
        return weft__error(WEFT_ERR_UNSUPPORTED, WEFT_SUB_TL,
                           "transport %s: %s holds transport '%.32s'", name,
                           file, ops->name);
    }
    if (weft__tl_registry_check(ops) != WEFT_OK) {
        char why[256];

        weft__strlcpy(why, weft_last_error(), sizeof(why));
        dlclose(h);
        return weft__error(WEFT_ERR_UNSUPPORTED, WEFT_SUB_TL, "%s: %s", file,
                           why);
    }
    tl_modules[i].handle = h;
    tl_modules[i].ops = ops;
    return WEFT_OK;
}

weft_status_t
weft__tl_registry_load(const char *name, const char *path,
                       const weft_tl_ops_t **ops_p)
{
    int i = tl_module_index(name);
    weft_status_t st = WEFT_OK;

    *ops_p = NULL;
    if (i < 0) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_TL,
                           "transport %s is not a module (modules: ofi, "
                           "ucx)",
                           name);
    }
    pthread_mutex_lock(&tl_modules_lock);
    if (tl_modules[i].ops == NULL) {
        st = tl_module_open(i, path);
    }
    *ops_p = tl_modules[i].ops;
    pthread_mutex_unlock(&tl_modules_lock);
    return st;
}

const char *
weft__tl_registry_names(void)
{
    return "self, shm, tcp built in; ofi, ucx as modules";
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
