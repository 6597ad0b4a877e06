/*
 * The tuning file: parsing, matching, and the per-process cache behind
 * weft__tuning_lookup (the format is in tuning.h).
 *
 * A context reads its file once (every rank of a job must keep choosing
 * the same algorithm, so a running context never rereads it): the cache
 * binds (context, its WEFT_TUNING_FILE string) to a loaded file, and
 * loaded files are keyed by path and stat identity (device, inode, size,
 * mtime), so a new context sees an edited file while a running one keeps
 * its rules. weft__tuning_forget drops a destroyed context's binding. A bad
 * or unreadable file is logged once (ERROR, naming file:line) and
 * ignored: selection falls back to the cost model. Everything is freed at
 * exit.
 */
#include "build_config.h"
#include "collectives/tuning.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "collectives/select.h"
#include "context.h"
#include "errmsg.h"
#include "log.h"

#define TUNING_FIELDS    6
#define TUNING_MAX_BYTES (16u << 20) /* a larger file is not a tuning file */
#define TUNING_BINDS     8

typedef struct tuning_rule {
    weft__coll_t coll;
    size_t min, max;
    int ranks, nodes; /* WEFT_TUNING_ANY: '*' */
    const char *algo; /* the algorithm's own (static) name */
} tuning_rule_t;

struct weft__tuning {
    tuning_rule_t *rules;
    size_t n;
};

/* ---- parsing ------------------------------------------------------------ */

/* "name:line: message" into weft_last_error(); always INVALID_ARG. */
static weft_status_t __attribute__((format(printf, 3, 4)))
tuning_error(const char *name, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    weft__error_set("%s:%d: %s", name, line, msg);
    return WEFT_ERR_INVALID_ARG;
}

/* A byte count: digits, then K, M or G (optionally KiB, MB, ...). */
static int
tuning_parse_size(const char *s, size_t *out_p)
{
    unsigned long long v, mult = 1;
    char *end;

    if (!isdigit((unsigned char)s[0])) {
        return -1;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0) {
        return -1;
    }
    switch (*end) {
    case 'k':
    case 'K':
        mult = 1ull << 10;
        break;
    case 'm':
    case 'M':
        mult = 1ull << 20;
        break;
    case 'g':
    case 'G':
        mult = 1ull << 30;
        break;
    }
    if (mult > 1) {
        end++;
        end += *end == 'i';
        end += *end == 'B';
    }
    if (*end != '\0' || v > SIZE_MAX / mult) {
        return -1;
    }
    *out_p = (size_t)(v * mult);
    return 0;
}

/* A positive count or '*'. */
static int
tuning_parse_count(const char *s, int *out_p)
{
    char *end;
    long v;

    if (strcmp(s, "*") == 0) {
        *out_p = WEFT_TUNING_ANY;
        return 0;
    }
    if (!isdigit((unsigned char)s[0])) {
        return -1;
    }
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 1 || v > 1 << 30) {
        return -1;
    }
    *out_p = (int)v;
    return 0;
}

static void
tuning_algo_names(weft__coll_t coll, char *buf, size_t len)
{
    const weft__algo_t *const *list = weft__algos(coll);
    size_t used = 0;

    buf[0] = '\0';
    for (int i = 0; list[i] != NULL && used < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "",
                         list[i]->name);

        used += n > 0 ? (size_t)n : 0;
    }
}

/* One rule line, split into its fields. */
static weft_status_t
tuning_parse_rule(char **f, int nf, const char *name, int line,
                  tuning_rule_t *r)
{
    const weft__algo_t *algo;
    char known[256];
    int c;

    if (nf != TUNING_FIELDS) {
        return tuning_error(name, line,
                            "a rule has %d fields (coll min_bytes max_bytes "
                            "ranks nodes algo), this line has %d",
                            TUNING_FIELDS, nf);
    }
    c = weft__coll_by_name(f[0]);
    if (c < 0) {
        return tuning_error(name, line, "unknown collective '%s'", f[0]);
    }
    r->coll = (weft__coll_t)c;
    if (tuning_parse_size(f[1], &r->min) != 0) {
        return tuning_error(name, line,
                            "bad min_bytes '%s' (a byte count, K/M/G "
                            "allowed)",
                            f[1]);
    }
    if (strcmp(f[2], "inf") == 0) {
        r->max = WEFT_TUNING_INF;
    } else if (tuning_parse_size(f[2], &r->max) != 0) {
        return tuning_error(name, line,
                            "bad max_bytes '%s' (a byte count, K/M/G "
                            "allowed, or inf)",
                            f[2]);
    }
    if (r->min > r->max) {
        return tuning_error(name, line, "min_bytes %s is above max_bytes %s",
                            f[1], f[2]);
    }
    if (tuning_parse_count(f[3], &r->ranks) != 0) {
        return tuning_error(name, line, "bad ranks '%s' (a count or *)", f[3]);
    }
    if (tuning_parse_count(f[4], &r->nodes) != 0) {
        return tuning_error(name, line, "bad nodes '%s' (a count or *)", f[4]);
    }
    algo = weft__algo_find(r->coll, f[5]);
    if (algo == NULL) {
        tuning_algo_names(r->coll, known, sizeof(known));
        return tuning_error(name, line,
                            "unknown %s algorithm '%s' (there are: %s)", f[0],
                            f[5], known);
    }
    r->algo = algo->name;
    return WEFT_OK;
}

/* Cut a line into whitespace-separated fields (at most max); returns how
 * many there were (possibly more than max). Stops at '#'. */
static int
tuning_split(char *s, char **f, int max)
{
    char *save = NULL;
    int n = 0;

    s[strcspn(s, "#")] = '\0';
    for (char *tok = strtok_r(s, " \t\r\v\f", &save); tok != NULL;
         tok = strtok_r(NULL, " \t\r\v\f", &save)) {
        if (n < max) {
            f[n] = tok;
        }
        n++;
    }
    return n;
}

static weft_status_t
tuning_parse_lines(char *text, const char *name, weft__tuning_t *t)
{
    char *f[TUNING_FIELDS + 1], *next;
    int line = 1, nf;

    for (char *s = text; s != NULL; s = next, line++) {
        next = strchr(s, '\n');
        if (next != NULL) {
            *next++ = '\0';
        }
        nf = tuning_split(s, f, TUNING_FIELDS + 1);
        if (line == 1) {
            if (nf == 2 && strcmp(f[0], "weft-tuning") == 0 &&
                strcmp(f[1], "1") != 0) {
                return tuning_error(name, line,
                                    "schema version '%s' is not supported "
                                    "(this weft reads '%s')",
                                    f[1], WEFT_TUNING_HEADER);
            }
            if (nf != 2 || strcmp(f[0], "weft-tuning") != 0) {
                return tuning_error(name, line, "the first line must be '%s'",
                                    WEFT_TUNING_HEADER);
            }
            continue;
        }
        if (nf == 0) {
            continue;
        }
        WEFT_CHECK(tuning_parse_rule(f, nf, name, line, &t->rules[t->n]));
        t->n++;
    }
    return WEFT_OK;
}

weft_status_t
weft__tuning_parse(const char *text, const char *name, weft__tuning_t **t_p)
{
    size_t lines = 1;
    weft__tuning_t *t;
    weft_status_t st;
    char *copy;

    for (const char *p = text; *p; p++) {
        lines += *p == '\n';
    }
    t = calloc(1, sizeof(*t));
    copy = strdup(text);
    if (t != NULL) {
        t->rules = calloc(lines, sizeof(*t->rules));
    }
    if (t == NULL || copy == NULL || t->rules == NULL) {
        st = WEFT_ERR_NO_MEMORY;
        weft__error_set("%s: out of memory for %zu lines", name, lines);
        goto err;
    }
    st = tuning_parse_lines(copy, name, t);
    if (st != WEFT_OK) {
        goto err;
    }
    free(copy);
    *t_p = t;
    return WEFT_OK;
err:
    free(copy);
    weft__tuning_destroy(t);
    return st;
}

const char *
weft__tuning_find(const weft__tuning_t *t, weft__coll_t coll, size_t bytes,
                  int ranks, int nodes)
{
    for (size_t i = 0; t != NULL && i < t->n; i++) {
        const tuning_rule_t *r = &t->rules[i];

        if (r->coll == coll && bytes >= r->min && bytes <= r->max &&
            (r->ranks == WEFT_TUNING_ANY || r->ranks == ranks) &&
            (r->nodes == WEFT_TUNING_ANY || r->nodes == nodes)) {
            return r->algo;
        }
    }
    return NULL;
}

size_t
weft__tuning_count(const weft__tuning_t *t)
{
    return t != NULL ? t->n : 0;
}

void
weft__tuning_destroy(weft__tuning_t *t)
{
    if (t != NULL) {
        free(t->rules);
        free(t);
    }
}

/* ---- the per-process cache ---------------------------------------------- */

typedef struct tuning_file {
    char *path;
    struct stat st;        /* zeroed when stat() failed */
    int missing;           /* errno of that stat(), else 0 */
    weft__tuning_t *table; /* NULL: bad or unreadable (logged) */
    struct tuning_file *next;
} tuning_file_t;

typedef struct tuning_bind {
    const weft_context_t *ctx;
    const char *cfg_path; /* ctx's WEFT_TUNING_FILE string */
    tuning_file_t *file;
} tuning_bind_t;

static pthread_mutex_t tuning_lock = PTHREAD_MUTEX_INITIALIZER;
static tuning_file_t *tuning_files;
static tuning_bind_t tuning_binds[TUNING_BINDS];
static unsigned tuning_next_bind;
static int tuning_atexit;

static void
tuning_free_all(void)
{
    pthread_mutex_lock(&tuning_lock);
    while (tuning_files != NULL) {
        tuning_file_t *f = tuning_files;

        tuning_files = f->next;
        weft__tuning_destroy(f->table);
        free(f->path);
        free(f);
    }
    memset(tuning_binds, 0, sizeof(tuning_binds));
    pthread_mutex_unlock(&tuning_lock);
}

static int
tuning_same(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
           a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Read and parse path into f (f->table stays NULL on failure, logged). */
static void
tuning_read(tuning_file_t *f)
{
    char *text = NULL;
    FILE *fp = NULL;
    size_t len;

    if (f->st.st_size > TUNING_MAX_BYTES) {
        weft__error_set("%s: %lld bytes is too large for a tuning file",
                        f->path, (long long)f->st.st_size);
        goto fail;
    }
    len = (size_t)f->st.st_size;
    fp = fopen(f->path, "r");
    text = malloc(len + 1);
    if (fp == NULL || text == NULL || fread(text, 1, len, fp) != len ||
        memchr(text, '\0', len) != NULL) {
        weft__error_set("%s: cannot read it (%s)", f->path,
                        fp == NULL ? strerror(errno) : "short read or NUL");
        goto fail;
    }
    text[len] = '\0';
    if (weft__tuning_parse(text, f->path, &f->table) != WEFT_OK) {
        goto fail;
    }
    weft__log_info(WEFT_SUB_COLL, "tuning file %s: %zu rules", f->path,
                   f->table->n);
    goto out;
fail:
    weft__log_error(WEFT_SUB_COLL,
                    "%s; the tuning file is ignored (algorithms come from "
                    "the cost model)",
                    weft_last_error());
out:
    if (fp != NULL) {
        fclose(fp);
    }
    free(text);
}

/* The loaded file for path, reading it when it is new or changed. */
static tuning_file_t *
tuning_load(const char *path)
{
    struct stat st;
    tuning_file_t *f;
    int missing = 0;

    memset(&st, 0, sizeof(st));
    if (stat(path, &st) != 0) {
        missing = errno;
        memset(&st, 0, sizeof(st)); /* "missing" is one version too */
    }
    for (f = tuning_files; f != NULL; f = f->next) {
        if (strcmp(f->path, path) == 0 && f->missing == missing &&
            tuning_same(&f->st, &st)) {
            return f;
        }
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL || (f->path = strdup(path)) == NULL) {
        free(f);
        return NULL;
    }
    f->st = st;
    f->missing = missing;
    if (missing != 0) {
        weft__log_error(WEFT_SUB_COLL,
                        "%s: cannot read the tuning file (%s); it is "
                        "ignored (algorithms come from the cost model)",
                        path, strerror(missing));
    } else {
        tuning_read(f);
    }
    f->next = tuning_files;
    tuning_files = f;
    if (!tuning_atexit) {
        tuning_atexit = atexit(tuning_free_all) == 0;
    }
    return f;
}

const char *
weft__tuning_lookup(weft_context_t *ctx, weft__coll_t coll, size_t bytes,
                    int ranks, int nodes)
{
    const char *path = ctx->cfg.coll.tuning_file, *algo = NULL;
    tuning_file_t *f = NULL;

    if (path == NULL || path[0] == '\0') {
        return NULL;
    }
    pthread_mutex_lock(&tuning_lock);
    for (int i = 0; i < TUNING_BINDS; i++) {
        if (tuning_binds[i].ctx == ctx && tuning_binds[i].cfg_path == path) {
            f = tuning_binds[i].file;
            break;
        }
    }
    if (f == NULL && (f = tuning_load(path)) != NULL) {
        tuning_binds[tuning_next_bind++ % TUNING_BINDS] =
            (tuning_bind_t){ctx, path, f};
    }
    if (f != NULL) {
        algo = weft__tuning_find(f->table, coll, bytes, ranks, nodes);
    }
    pthread_mutex_unlock(&tuning_lock);
    return algo;
}

void
weft__tuning_forget(const weft_context_t *ctx)
{
    pthread_mutex_lock(&tuning_lock);
    for (int i = 0; i < TUNING_BINDS; i++) {
        if (tuning_binds[i].ctx == ctx) {
            memset(&tuning_binds[i], 0, sizeof(tuning_binds[i]));
        }
    }
    pthread_mutex_unlock(&tuning_lock);
}
