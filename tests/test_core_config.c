/* The config table: parsing, defaults, bad values, unknown names. */
#include "build_config.h"

#include <criterion/criterion.h>
#include <string.h>
#include <weft.h>

#include "config.h"

static weft_status_t
parse(weft_config_t *cfg, const char *a, const char *b)
{
    const char *envp[] = {a, b, NULL};

    return weft__config_parse(envp, cfg);
}

Test(core_config, defaults_parse_through_the_same_parser, .timeout = 10)
{
    weft_config_t cfg;
    const char *envp[] = {NULL};

    cr_assert_eq(weft__config_parse(envp, &cfg), WEFT_OK, "%s",
                 weft_last_error());
    cr_assert_eq(cfg.rank, -1);
    cr_assert_eq(cfg.size, 0);
    cr_assert_float_eq(cfg.timeout, 300.0, 1e-9);
    cr_assert_float_eq(cfg.spin, 20e-6, 1e-12);
    cr_assert_eq(cfg.tcp.eager_limit, 256 * 1024);
    cr_assert_eq(cfg.log_level, WEFT_LOG_WARN);
    cr_assert_eq(cfg.log_subsys, WEFT_SUB_ALL);
    cr_assert_eq(cfg.tl.n, 3);
    cr_assert_str_eq(cfg.tl.items[0], "self");
    cr_assert_str_eq(cfg.tl.items[1], "shm");
    cr_assert_str_eq(cfg.tl.items[2], "tcp");
    cr_assert_eq(cfg.shm.eager_limit, 8192);
    cr_assert_eq(cfg.shm.ring_size, 128 * 1024);
    cr_assert_eq(cfg.shm.cma, 0);
    cr_assert_str_eq(cfg.shm.dir, "/dev/shm");
    weft__config_free(&cfg);
}

Test(core_config, values_with_units, .timeout = 10)
{
    weft_config_t cfg;

    cr_assert_eq(parse(&cfg, "WEFT_TCP_EAGER_LIMIT=8K", "WEFT_TIMEOUT=500ms"),
                 WEFT_OK);
    cr_assert_eq(cfg.tcp.eager_limit, 8192);
    cr_assert_float_eq(cfg.timeout, 0.5, 1e-12);
    weft__config_free(&cfg);
    cr_assert_eq(parse(&cfg, "WEFT_TCP_CHUNK=2MiB", "WEFT_SPIN=3us"), WEFT_OK);
    cr_assert_eq(cfg.tcp.chunk, 2u << 20);
    cr_assert_float_eq(cfg.spin, 3e-6, 1e-15);
    weft__config_free(&cfg);
    cr_assert_eq(parse(&cfg, "WEFT_TIMEOUT=2m", "WEFT_TCP_SOCKBUF=1.5M"),
                 WEFT_OK);
    cr_assert_float_eq(cfg.timeout, 120.0, 1e-9);
    cr_assert_eq(cfg.tcp.sockbuf, 1572864);
    weft__config_free(&cfg);
    /* 0 below a minimum: the variable's automatic choice */
    cr_assert_eq(parse(&cfg, "WEFT_SHM_COLL_BUF=0", NULL), WEFT_OK);
    cr_assert_eq(cfg.shm.coll_buf, 0);
    weft__config_free(&cfg);
    cr_assert_eq(parse(&cfg, "WEFT_SHM_COLL_BUF=1KiB", NULL), WEFT_OK);
    cr_assert_eq(cfg.shm.coll_buf, 1024);
    weft__config_free(&cfg);
}

Test(core_config, enums_flags_and_lists, .timeout = 10)
{
    weft_config_t cfg;

    cr_assert_eq(parse(&cfg, "WEFT_LOG_LEVEL=DEBUG", "WEFT_LOG_SUBSYS=^tl"),
                 WEFT_OK);
    cr_assert_eq(cfg.log_level, WEFT_LOG_DEBUG);
    cr_assert_eq(cfg.log_subsys, WEFT_SUB_ALL & ~WEFT_SUB_TL);
    weft__config_free(&cfg);
    cr_assert_eq(parse(&cfg, "WEFT_LOG_SUBSYS=core, boot", "WEFT_TL= tcp ,,"),
                 WEFT_OK);
    cr_assert_eq(cfg.log_subsys, WEFT_SUB_CORE | WEFT_SUB_BOOT);
    cr_assert_eq(cfg.tl.n, 1);
    cr_assert_str_eq(cfg.tl.items[0], "tcp");
    weft__config_free(&cfg);
    cr_assert_eq(parse(&cfg, "WEFT_RENDEZVOUS_SERVER=rank0", NULL), WEFT_OK);
    cr_assert_eq(cfg.rendezvous_server, WEFT_RENDEZVOUS_SERVER_RANK0);
    weft__config_free(&cfg);
}

/* Each bad value fails, and the message names the variable. */
Test(core_config, bad_values_are_rejected_naming_the_variable, .timeout = 10)
{
    static const char *const bad[][2] = {
        {"WEFT_TIMEOUT=abc", "WEFT_TIMEOUT"},
        {"WEFT_TIMEOUT=-1", "WEFT_TIMEOUT"},
        {"WEFT_TIMEOUT=99999999999999999999", "WEFT_TIMEOUT"},
        {"WEFT_TIMEOUT=10 parsecs", "WEFT_TIMEOUT"},
        {"WEFT_TIMEOUT=0", "WEFT_TIMEOUT"},
        {"WEFT_TCP_EAGER_LIMIT=12q", "WEFT_TCP_EAGER_LIMIT"},
        {"WEFT_TCP_EAGER_LIMIT=1.5", "WEFT_TCP_EAGER_LIMIT"},
        {"WEFT_TCP_EAGER_LIMIT=1T", "WEFT_TCP_EAGER_LIMIT"},
        {"WEFT_TCP_CHUNK=", "WEFT_TCP_CHUNK"},
        {"WEFT_TCP_CHUNK=0", "WEFT_TCP_CHUNK"},
        {"WEFT_SHM_COLL_BUF=512", "(or 0)"},
        {"WEFT_RANK=two", "WEFT_RANK"},
        {"WEFT_RANK=-5", "WEFT_RANK"},
        {"WEFT_SIZE=3000000000", "WEFT_SIZE"},
        {"WEFT_RANK=1x", "WEFT_RANK"},
        {"WEFT_LOG_LEVEL=loud", "WEFT_LOG_LEVEL"},
        {"WEFT_LOG_SUBSYS=core,gpu", "WEFT_LOG_SUBSYS"},
        {"WEFT_RENDEZVOUS_SERVER=me", "WEFT_RENDEZVOUS_SERVER"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        weft_config_t cfg;

        cr_assert_eq(parse(&cfg, bad[i][0], NULL), WEFT_ERR_INVALID_ARG,
                     "'%s' was accepted", bad[i][0]);
        cr_assert_not_null(strstr(weft_last_error(), bad[i][1]),
                           "message for '%s' does not name %s: %s", bad[i][0],
                           bad[i][1], weft_last_error());
    }
}

Test(core_config, secret_values_never_appear_in_messages, .timeout = 10)
{
    weft_config_t cfg;
    char buf[256];

    cr_assert_eq(parse(&cfg, "WEFT_JOB_KEY=s3cr3t", NULL), WEFT_OK);
    cr_assert_str_eq(cfg.job_key, "s3cr3t");
    cr_assert_str_eq(weft__config_get_text(&cfg, "JOB_KEY", buf, sizeof(buf)),
                     "");
    weft__config_free(&cfg);
}

Test(core_config, unknown_names_are_not_errors, .timeout = 10)
{
    weft_config_t cfg;

    cr_assert_eq(parse(&cfg, "WEFT_TIMEOTU=5s", "OTHER_THING=1"), WEFT_OK);
    cr_assert_float_eq(cfg.timeout, 300.0, 1e-9);
    weft__config_free(&cfg);
}

Test(core_config, canonical_text_for_transports, .timeout = 10)
{
    weft_config_t cfg;
    char buf[256];

    cr_assert_eq(parse(&cfg, "WEFT_TCP_EAGER_LIMIT=4K", "WEFT_SPIN=1ms"),
                 WEFT_OK);
    cr_assert_str_eq(
        weft__config_get_text(&cfg, "TCP_EAGER_LIMIT", buf, sizeof(buf)),
        "4096");
    cr_assert_str_eq(weft__config_get_text(&cfg, "SPIN", buf, sizeof(buf)),
                     "0.001");
    cr_assert_str_eq(weft__config_get_text(&cfg, "TL", buf, sizeof(buf)),
                     "self,shm,tcp");
    cr_assert_null(weft__config_get_text(&cfg, "NOPE", buf, sizeof(buf)));
    weft__config_free(&cfg);
}

Test(core_config, every_row_is_documented_and_formats, .timeout = 10)
{
    weft_config_t cfg;
    const char *envp[] = {NULL};
    char buf[256];

    cr_assert_eq(weft__config_parse(envp, &cfg), WEFT_OK);
    for (const weft_param_t *p = weft__config_table(); p->name != NULL; p++) {
        char again[256];
        char why[256];
        weft_config_t copy;

        cr_assert(p->help != NULL && strlen(p->help) > 10, "%s", p->name);
        weft__param_format(p, (char *)&cfg + p->offset, 0, buf, sizeof(buf));
        if (p->type == WEFT_PARAM_STR || p->type == WEFT_PARAM_LIST) {
            continue;
        }
        /* the readable form parses back to the same value */
        memset(&copy, 0, sizeof(copy));
        cr_assert_eq(weft__param_parse(p, buf, (char *)&copy + p->offset, why,
                                       sizeof(why)),
                     WEFT_OK, "WEFT_%s: '%s' does not parse: %s", p->name,
                     buf, why);
        weft__param_format(p, (char *)&copy + p->offset, 0, again,
                           sizeof(again));
        cr_assert_str_eq(buf, again, "WEFT_%s", p->name);
    }
    weft__config_free(&cfg);
}
