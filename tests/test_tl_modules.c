/* Transport modules: found by name in WEFT_TL_MODULE_PATH or the install
 * directory, checked before use, and when one cannot be used the job goes
 * on over the next transport in WEFT_TL. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "tl_registry.h"

static char mod_dir[] = "/tmp/weft-modules-XXXXXX";

static void
mod_dir_make(void)
{
    cr_assert_not_null(mkdtemp(mod_dir));
}

static void
mod_dir_remove(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", mod_dir);
    cr_assert_eq(system(cmd), 0);
}

/* A file that is no shared object, named as the ofi module. */
static void
mod_write_garbage(const char *name)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/weft_tl_%s.so", mod_dir, name);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("not an ELF file\n", f);
    fclose(f);
}

Test(tl_modules, the_lists_name_each_module_once)
{
    size_t n;
    const char *const *mods = weft__tl_registry_modules(&n);

    cr_assert_eq(n, 2);
    cr_assert_str_eq(mods[0], "ofi");
    cr_assert_str_eq(mods[1], "ucx");
    cr_assert(weft__tl_registry_is_module("ofi"));
    cr_assert(!weft__tl_registry_is_module("tcp"));
    cr_assert_null(weft__tl_registry_find("ofi"), "ofi is not built in");
}

Test(tl_modules, a_file_that_is_no_module_is_refused_naming_it,
     .init = mod_dir_make, .fini = mod_dir_remove)
{
    const weft_tl_ops_t *ops = (const void *)1;

    mod_write_garbage("ofi");
    cr_assert_eq(weft__tl_registry_load("ofi", mod_dir, &ops),
                 WEFT_ERR_UNSUPPORTED);
    cr_assert_null(ops);
    cr_assert(strstr(weft_last_error(), mod_dir) != NULL, "%s",
              weft_last_error());
    cr_assert(strstr(weft_last_error(), "transport ofi") != NULL, "%s",
              weft_last_error());
}

Test(tl_modules, a_module_of_another_abi_is_refused)
{
    char dir[512];
    const weft_tl_ops_t *ops = NULL;
    const char *top = getenv("WT_TOP_BUILDDIR");

    snprintf(dir, sizeof(dir), "%s/tests/.libs", top != NULL ? top : ".");
    cr_assert_eq(weft__tl_registry_load("ucx", dir, &ops),
                 WEFT_ERR_UNSUPPORTED);
    cr_assert_null(ops);
    cr_assert(strstr(weft_last_error(), "ABI 99") != NULL, "%s",
              weft_last_error());
}

Test(tl_modules, unknown_names_are_refused)
{
    const weft_tl_ops_t *ops = NULL;

    cr_assert_eq(weft__tl_registry_load("verbs", NULL, &ops),
                 WEFT_ERR_INVALID_ARG);
    cr_assert_null(ops);
}

/* ---- a job whose WEFT_TL names a module that cannot load ------------- */

static void
fallback_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int rank = weft_comm_rank(w), n = weft_comm_size(w);
    int sum = 0;

    (void)ctx;
    (void)arg;
    WT_OK(weft_allreduce(&rank, &sum, 1, WEFT_INT32, WEFT_SUM, w));
    WT_CHECK(sum == n * (n - 1) / 2, "sum %d", sum);
}

Test(tl_modules, a_module_that_cannot_load_falls_back_to_the_next,
     .init = mod_dir_make, .fini = mod_dir_remove)
{
    char path[300];
    wt_job_t job = {.nranks = 3, .tl = "self,ofi,ucx,tcp"};

    mod_write_garbage("ofi");
    mod_write_garbage("ucx");
    snprintf(path, sizeof(path), "WEFT_TL_MODULE_PATH=%s", mod_dir);
    job.env[0] = path;
    cr_assert_eq(wt_run(&job, fallback_body, NULL), 0);
}

Test(tl_modules, an_unknown_transport_fails_the_job_naming_it)
{
    weft_context_t *ctx = NULL;
    weft_status_t st;

    setenv("WEFT_TL", "self,verbs", 1);
    setenv("WEFT_SIZE", "1", 1);
    setenv("WEFT_RANK", "0", 1);
    st = weft_context_create(NULL, &ctx);
    unsetenv("WEFT_TL");
    cr_assert_eq(st, WEFT_ERR_INVALID_ARG, "%s", weft_status_string(st));
    cr_assert(strstr(weft_last_error(), "'verbs'") != NULL, "%s",
              weft_last_error());
}
