/*
 * weft-info: version, transports built and usable here, topology, and
 * every WEFT_* variable with its value, default and help.
 */
#include "build_config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>

#include "bootstrap/auth.h"
#include "bootstrap/store.h"
#include "collectives/select.h"
#include "config.h"
#include "log.h"
#include "tl_registry.h"
#include "topo.h"
#include "util.h"

static weft_config_t info_cfg;
static char info_cfg_buf[256];

static const char *
info_config_get(void *host, const char *name)
{
    return weft__config_get_text(&info_cfg, name, info_cfg_buf,
                                 sizeof(info_cfg_buf));
}

static void
info_log(void *host, weft_log_level_t level, const char *fmt, ...)
{
}

static void
info_peer_failed(void *host, int peer, weft_status_t status,
                 const char *reason)
{
}

static void
info_print_version(void)
{
    printf("weft %s\n", weft_version());
    printf("bootstrap backends: tcp (weftrun, or rank 0), env (a job of "
           "one)");
#ifdef WEFT_HAVE_PMIX
    printf(", pmix (%s: srun --mpi=pmix, prterun)\n",
           weft__store_pmix_version());
#else
    printf("; pmix not built\n");
#endif
}

/* Open a transport as rank 0 of a job of two, the way a real job would:
 * WEFT_OK, or why it cannot be used here in weft_last_error. */
static weft_status_t
info_try_transport(const weft_tl_ops_t *ops, const char *node)
{
    static const int local[2] = {0, 1}; /* both ranks on this node */
    uint8_t key[WEFT_AUTH_KEY_LEN];
    weft_tl_init_args_t args = {
        .size = sizeof(args),
        .rank = 0,
        .nranks = 2,
        .node_id = node,
        .local_ranks = local,
        .nlocal = 2,
        .local_index = 0,
        .auth_key = key,
        .auth_key_len = sizeof(key),
        .handshake_timeout_s = 1,
        .teardown_timeout_s = 0,
        .config_get = info_config_get,
        .log = info_log,
        .peer_failed = info_peer_failed,
    };
    weft_tl_t *tl = NULL;
    weft_status_t st = weft__tl_registry_check(ops);

    weft__auth_random(key, sizeof(key));
    if (st == WEFT_OK) {
        st = ops->init(&args, &tl);
    }
    if (tl != NULL) {
        ops->fini(tl);
    }
    weft__memzero(key, sizeof(key));
    return st;
}

static void
info_print_usable(weft_status_t st)
{
    if (st == WEFT_OK) {
        printf("usable here\n");
    } else {
        printf("NOT usable here: %s (%s)\n", weft_status_string(st),
               weft_last_error());
    }
}

/* Each built-in transport and each module: loaded (modules), opened, and
 * whether it worked. */
static void
info_print_transports(void)
{
    const weft_tl_ops_t *const *tls;
    const char *const *mods;
    char node[WEFT_NODE_ID_MAX];
    size_t n;

    weft__topo_node_id(&info_cfg, node, sizeof(node));
    tls = weft__tl_registry_builtin(&n);
    printf("transports (WEFT_TL order decides which one reaches a peer):\n");
    for (size_t i = 0; i < n; i++) {
        printf("  %-6s built in, ", tls[i]->name);
        info_print_usable(info_try_transport(tls[i], node));
    }
    mods = weft__tl_registry_modules(&n);
    for (size_t i = 0; i < n; i++) {
        const weft_tl_ops_t *ops = NULL;
        weft_status_t st =
            weft__tl_registry_load(mods[i], info_cfg.tl_module_path, &ops);

        printf("  %-6s module, ", mods[i]);
        if (st != WEFT_OK) {
            printf("NOT loaded: %s\n", weft_last_error());
            continue;
        }
        info_print_usable(info_try_transport(ops, node));
    }
}

static void
info_print_topology(void)
{
    printf("topology (hwloc):\n");
    weft__topo_print_summary(stdout);
}

static void
info_print_config(void)
{
    const char *const *envp = weft__config_environ();

    printf("variables (value, [default], help; * = set in the environment):"
           "\n");
    for (const weft_param_t *p = weft__config_table(); p->name != NULL;
         p++) {
        const char *src = weft__config_source(envp, p);
        char value[256], def[256];
        weft_config_t defaults;
        const char *empty[] = {NULL};

        if (p->flags & WEFT_PARAM_F_SECRET) {
            snprintf(value, sizeof(value), "%s",
                     src != NULL ? "(set, not shown)" : "");
        } else {
            weft__param_format(p, (char *)&info_cfg + p->offset, 0, value,
                               sizeof(value));
        }
        weft__config_parse(empty, &defaults);
        weft__param_format(p, (char *)&defaults + p->offset, 0, def,
                           sizeof(def));
        weft__config_free(&defaults);
        printf("%c WEFT_%s=%s  [%s]%s%s\n", src != NULL ? '*' : ' ', p->name,
               value, def,
               (p->flags & WEFT_PARAM_F_DEBUG) ? "  (debug knob)" : "",
               (p->flags & WEFT_PARAM_F_LAUNCH) ? "  (set by weftrun)" : "");
        printf("      %s", p->help);
        if (p->choices != NULL) {
            printf(" (%s)", p->choices);
        }
        printf("\n");
    }
}

/* Markdown cell text: '|' would end the cell. */
static void
info_print_cell(const char *text)
{
    for (; *text != '\0'; text++) {
        if (*text == '|') {
            fputc('\\', stdout);
        }
        fputc(*text, stdout);
    }
}

/* The README's table of variables (tests/check_readme.sh keeps the README
 * equal to this). */
static void
info_print_markdown(void)
{
    weft_config_t defaults;
    const char *empty[] = {NULL};

    weft__config_parse(empty, &defaults);
    for (const weft_param_t *p = weft__config_table(); p->name != NULL;
         p++) {
        char def[256];

        weft__param_format(p, (char *)&defaults + p->offset, 0, def,
                           sizeof(def));
        printf("| `WEFT_%s` | %s | ", p->name, def[0] ? def : "(empty)");
        info_print_cell(p->help);
        if (p->choices != NULL) {
            printf(": ");
            info_print_cell(p->choices);
        }
        printf("%s |\n",
               (p->flags & WEFT_PARAM_F_LAUNCH) ? " (set by weftrun)" : "");
    }
    weft__config_free(&defaults);
}

/* Every collective and its algorithms (the names WEFT_<COLL>_ALGO takes). */
static void
info_print_algorithms(void)
{
    printf("collectives and their algorithms (WEFT_<COLL>_ALGO=name):\n");
    for (int c = 0; c < WEFT_COLL_COUNT; c++) {
        const weft__algo_t *const *list = weft__algos((weft__coll_t)c);

        printf("  %-17s", weft__coll_name((weft__coll_t)c));
        for (int i = 0; list[i] != NULL; i++) {
            printf(" %s", list[i]->name);
        }
        printf("\n");
    }
}

static void
info_usage(FILE *out)
{
    fprintf(out,
            "usage: weft-info [-v] [-t] [-T] [-a] [-c] [-m]\n"
            "  -v  version\n"
            "  -t  transports built and usable here\n"
            "  -T  topology of this machine\n"
            "  -a  collectives and their algorithms\n"
            "  -c  every WEFT_* variable: value, default, help\n"
            "  -m  the variables as the README's markdown table\n"
            "with no option, all of them.\n");
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int show_v = 0, show_t = 0, show_topo = 0, show_a = 0, show_c = 0, c;

    while ((c = getopt_long(argc, argv, "vtTacmh", opts, NULL)) != -1) {
        switch (c) {
        case 'v':
            show_v = 1;
            break;
        case 't':
            show_t = 1;
            break;
        case 'T':
            show_topo = 1;
            break;
        case 'a':
            show_a = 1;
            break;
        case 'c':
            show_c = 1;
            break;
        case 'm':
            info_print_markdown();
            return 0;
        case 'h':
            info_usage(stdout);
            return 0;
        default:
            info_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "weft-info: unexpected argument '%s'\n", argv[optind]);
        info_usage(stderr);
        return 2;
    }
    if (!show_v && !show_t && !show_topo && !show_a && !show_c) {
        show_v = show_t = show_topo = show_a = show_c = 1;
    }
    if (weft__config_load(&info_cfg) != WEFT_OK) {
        fprintf(stderr, "weft-info: %s\n", weft_last_error());
        return 1;
    }
    weft__log_configure(info_cfg.log_level, info_cfg.log_subsys);
    if (show_v) {
        info_print_version();
    }
    if (show_t) {
        info_print_transports();
    }
    if (show_topo) {
        info_print_topology();
    }
    if (show_a) {
        info_print_algorithms();
    }
    if (show_c) {
        info_print_config();
    }
    weft__config_free(&info_cfg);
    return 0;
}
