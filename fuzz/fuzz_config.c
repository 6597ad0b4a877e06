/*
 * fuzz_config: the WEFT_* variable parsers (src/config.h).
 *
 * Byte 0 chooses (bit 1, then bit 0):
 *   0  an environment: the rest is split on NUL and newline into
 *      "NAME=value" strings, the envp given to weft__config_parse; a
 *      parsed config is printed back through weft__config_get_text
 *      (every row) and freed with weft__config_free;
 *   1  one value: byte 1 picks a row of the table (mod its length), the
 *      rest is the text given to weft__param_parse for that row. A value
 *      that parses is formatted both ways (weft__param_format); the
 *      canonical form must parse again to the same value;
 *   2  a job key (WEFT_JOB_KEY, or a key file's text): the rest goes to
 *      weft__auth_key_parse, which must return 16 to 64 bytes whose hex
 *      is the text (blanks around it trimmed) or refuse with a message
 *      that depends on the text's length only (it never quotes a key).
 */
#include "build_config.h"

#include <ctype.h>
#include <math.h>
#include <string.h>
#include <weft/status.h>

#include "bootstrap/auth.h"
#include "config.h"
#include "fuzz/fuzz.h"

#define CONFIG_FUZZ_ENV_MAX 512 /* envp entries */
#define CONFIG_FUZZ_TEXT    4096

static size_t
config_fuzz_rows(void)
{
    size_t n = 0;

    for (const weft_param_t *p = weft__config_table(); p->name != NULL; p++) {
        n++;
    }
    return n;
}

static void
config_fuzz_env(const uint8_t *in, size_t len)
{
    const char *envp[CONFIG_FUZZ_ENV_MAX + 1];
    char text[CONFIG_FUZZ_TEXT];
    weft_config_t cfg;
    size_t n = 0, start = 0;
    char *buf;

    buf = malloc(len + 1);
    fuzz_check(buf != NULL, "malloc");
    if (len > 0) {
        memcpy(buf, in, len);
    }
    buf[len] = '\0';
    for (size_t i = 0; i <= len && n < CONFIG_FUZZ_ENV_MAX; i++) {
        if (i == len || buf[i] == '\0' || buf[i] == '\n') {
            buf[i] = '\0';
            envp[n++] = buf + start;
            start = i + 1;
        }
    }
    envp[n] = NULL;
    if (weft__config_parse(envp, &cfg) == WEFT_OK) {
        for (const weft_param_t *p = weft__config_table(); p->name != NULL;
             p++) {
            fuzz_check(weft__config_get_text(&cfg, p->name, text,
                                             sizeof(text)) == text,
                       "every row of a parsed config prints");
            (void)weft__config_source(envp, p);
        }
        weft__config_free(&cfg);
    }
    free(buf);
}

/* Two values of row p are the same (times within print precision). */
static int
config_fuzz_same(const weft_param_t *p, const void *a, const void *b)
{
    switch (p->type) {
    case WEFT_PARAM_INT:
    case WEFT_PARAM_BOOL:
    case WEFT_PARAM_ENUM:
        return *(const int *)a == *(const int *)b;
    case WEFT_PARAM_FLAGS:
        return *(const unsigned *)a == *(const unsigned *)b;
    case WEFT_PARAM_SIZE:
        return *(const size_t *)a == *(const size_t *)b;
    case WEFT_PARAM_TIME: {
        double x = *(const double *)a, y = *(const double *)b;

        return fabs(x - y) <= 1e-8 * fmax(fabs(x), fabs(y));
    }
    case WEFT_PARAM_STR:
        return strcmp(*(char *const *)a, *(char *const *)b) == 0;
    case WEFT_PARAM_LIST: {
        const weft__strlist_t *x = a, *y = b;

        if (x->n != y->n) {
            return 0;
        }
        for (size_t i = 0; i < x->n; i++) {
            if (strcmp(x->items[i], y->items[i]) != 0) {
                return 0;
            }
        }
        return 1;
    }
    }
    return 0;
}

static void
config_fuzz_value(const uint8_t *in, size_t len)
{
    const weft_param_t *p;
    weft_config_t cfg, again;
    char text[CONFIG_FUZZ_TEXT], why[256];
    char *value;

    if (len < 1) {
        return;
    }
    p = &weft__config_table()[in[0] % config_fuzz_rows()];
    value = malloc(len);
    fuzz_check(value != NULL, "malloc");
    memcpy(value, in + 1, len - 1);
    value[len - 1] = '\0';
    memset(&cfg, 0, sizeof(cfg));
    memset(&again, 0, sizeof(again));
    why[0] = '\0';
    if (weft__param_parse(p, value, (char *)&cfg + p->offset, why,
                          sizeof(why)) != WEFT_OK) {
        fuzz_check(why[0] != '\0', "a refused value has a reason");
        goto out;
    }
    weft__param_format(p, (char *)&cfg + p->offset, 0, text, sizeof(text));
    weft__param_format(p, (char *)&cfg + p->offset, 1, text, sizeof(text));
    if (strlen(text) < sizeof(text) - 1) { /* not cut short */
        fuzz_check(weft__param_parse(p, text, (char *)&again + p->offset, why,
                                     sizeof(why)) == WEFT_OK,
                   "the canonical form of a value parses");
        fuzz_check(config_fuzz_same(p, (char *)&cfg + p->offset,
                                    (char *)&again + p->offset),
                   "the canonical form parses to the same value");
    }
out:
    weft__config_free(&cfg);
    weft__config_free(&again);
    free(value);
}

static void
config_fuzz_key(const uint8_t *in, size_t len)
{
    uint8_t key[WEFT_AUTH_KEY_MAX];
    char hex[2 * WEFT_AUTH_KEY_MAX + 1], *text, *s;
    size_t n, keylen = 0;

    text = malloc(len + 1);
    fuzz_check(text != NULL, "malloc");
    if (len > 0) {
        memcpy(text, in, len);
    }
    text[len] = '\0';
    s = text; /* trimmed as the parser does, lowercased */
    while (*s != '\0' && isspace((unsigned char)*s)) {
        s++;
    }
    n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) {
        n--;
    }
    s[n] = '\0';
    if (weft__auth_key_parse(text, key, &keylen) == WEFT_OK) {
        fuzz_check(keylen >= WEFT_AUTH_KEY_MIN && keylen <= WEFT_AUTH_KEY_MAX,
                   "a job key has 16 to 64 bytes");
        weft__hex_encode(key, keylen, hex);
        for (size_t i = 0; i < n; i++) {
            s[i] = (char)tolower((unsigned char)s[i]);
        }
        fuzz_check(strcmp(hex, s) == 0, "a job key is its hex text");
    } else {
        /* the message may depend on the length, never on the digits */
        char *msg = strdup(weft_last_error()), *other = malloc(n + 1);

        fuzz_check(msg != NULL && other != NULL, "malloc");
        memset(other, 'z', n);
        other[n] = '\0';
        fuzz_check(weft__auth_key_parse(other, key, &keylen) != WEFT_OK &&
                       strcmp(weft_last_error(), msg) == 0,
                   "a refused job key is not quoted");
        free(other);
        free(msg);
    }
    free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;

    if (!quiet) {
        fuzz_log_quiet();
        quiet = 1;
    }
    if (size < 1) {
        return 0;
    }
    if (data[0] & 2) {
        config_fuzz_key(data + 1, size - 1);
    } else if (data[0] & 1) {
        config_fuzz_value(data + 1, size - 1);
    } else {
        config_fuzz_env(data + 1, size - 1);
    }
    return 0;
}
