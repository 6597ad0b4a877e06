/*
 * weftrun: where each rank goes (hosts, local ranks, binding) and how it
 * is started (argv from --host-cmd, the environment, fork + exec).
 */
#include "build_config.h"
#include "weftrun.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "topo.h"

/* Inherited variables every rank gets from weftrun instead. */
static const char *const weftrun_env_owned[] = {
    "WEFT_RANK",       "WEFT_SIZE",         "WEFT_LOCAL_RANK",
    "WEFT_LOCAL_SIZE", "WEFT_RENDEZVOUS",   "WEFT_RENDEZVOUS_SERVER",
    "WEFT_JOB_KEY",    "WEFT_JOB_KEY_FILE", NULL};

#define WEFTRUN_ENV_ADDED 8 /* at most this many variables are added */


static int
weftrun_hosts_parse(weftrun_job_t *job)
{
    weft__strlist_t *h = &job->hosts;

    if (weft__strlist_split(job->opts.hosts, h) != WEFT_OK) {
        fprintf(stderr, "weftrun: out of memory\n");
        return 1;
    }
    if (h->n == 0) {
        return weftrun_usage_error("--hosts needs a comma list of host names");
    }
    for (size_t i = 0; i < h->n; i++) {
        if (strlen(h->items[i]) >= WEFT_NODE_ID_MAX) {
            return weftrun_usage_error(
                "--hosts: host name '%.40s...' is longer than %d bytes",
                h->items[i], WEFT_NODE_ID_MAX - 1);
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(h->items[i], h->items[j]) == 0) {
                return weftrun_usage_error(
                    "--hosts: host '%s' is listed twice", h->items[i]);
            }
        }
    }
    return 0;
}

/* Rank r on host floor(r * H / N): consecutive blocks. */
static int
weftrun_hosts_assign(weftrun_job_t *job)
{
    int n = job->opts.nranks;
    int nhosts = (int)job->hosts.n;
    int *count = calloc((size_t)(nhosts > 0 ? nhosts : 1), sizeof(*count));

    if (count == NULL) {
        fprintf(stderr, "weftrun: out of memory\n");
        return 1;
    }
    for (int r = 0; r < n; r++) {
        weftrun_rank_t *rk = &job->ranks[r];
        int h = nhosts > 0 ? (int)((int64_t)r * nhosts / n) : 0;

        rk->rank = r;
        rk->host = nhosts > 0 ? job->hosts.items[h] : NULL;
        rk->local_rank = count[h]++;
        rk->out.fd = rk->err.fd = -1;
    }
    for (int r = 0; r < n; r++) {
        int h = nhosts > 0 ? (int)((int64_t)r * nhosts / n) : 0;

        job->ranks[r].local_size = count[h];
    }
    free(count);
    return 0;
}

static int
weftrun_host_cmd_split(weftrun_job_t *job)
{
    const char *p = job->opts.host_cmd;
    size_t n = 0;

    job->host_words = calloc(strlen(p) / 2 + 2, sizeof(char *));
    if (job->host_words == NULL) {
        return -1;
    }
    while (*p != '\0') {
        size_t len;

        p += strspn(p, " \t");
        len = strcspn(p, " \t");
        if (len == 0) {
            break;
        }
        job->host_words[n] = strndup(p, len);
        if (job->host_words[n] == NULL) {
            return -1;
        }
        n++;
        p += len;
    }
    return 0;
}

static void
weftrun_bind_warn(const char *what)
{
    fprintf(stderr, "weftrun: warning: %s; ranks are not bound\n", what);
}

/* Chooses the cpuset of every rank; failures only warn. */
static void
weftrun_bind_setup(weftrun_job_t *job)
{
    weftrun_bind_t mode = job->opts.bind;
    hwloc_obj_type_t type = HWLOC_OBJ_CORE;
    hwloc_topology_t topo;
    hwloc_obj_t *nodes = NULL;
    int nobjs;

    job->bind_name = "none";
    if (mode == WEFTRUN_BIND_NONE) {
        return;
    }
    if (hwloc_topology_init(&topo) != 0) {
        weftrun_bind_warn("hwloc cannot start");
        return;
    }
    if (hwloc_topology_load(topo) != 0) {
        weftrun_bind_warn("hwloc cannot read the topology");
        hwloc_topology_destroy(topo);
        return;
    }
    nobjs = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    if (nobjs <= 0) {
        type = HWLOC_OBJ_PU;
        nobjs = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
    }
    if (mode == WEFTRUN_BIND_AUTO) {
        /* more ranks than cores too: ranks that share a core hand it to
         * each other when they yield, instead of the scheduler moving
         * them (4 ranks on 2 cores, 8-byte allreduce 2.7 against 3.9-4.8
         * us unbound; 8 ranks, 64-byte allgather 10 against 13-18) */
        if (nobjs <= 0 || job->hosts.n > 0) {
            hwloc_topology_destroy(topo);
            return;
        }
        mode = WEFTRUN_BIND_CORE;
    }
    if (mode == WEFTRUN_BIND_NUMA) {
        int total = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);

        nobjs = 0;
        nodes = calloc(total > 0 ? (size_t)total : 1, sizeof(*nodes));
        for (int i = 0; nodes != NULL && i < total; i++) {
            hwloc_obj_t o =
                hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)i);

            /* memory-only nodes have no cores to run on */
            if (o != NULL && o->cpuset != NULL &&
                !hwloc_bitmap_iszero(o->cpuset)) {
                nodes[nobjs++] = o;
            }
        }
    }
    if (nobjs <= 0) {
        weftrun_bind_warn(mode == WEFTRUN_BIND_NUMA
                              ? "hwloc finds no NUMA node with cores"
                              : "hwloc finds no cores");
        free(nodes);
        hwloc_topology_destroy(topo);
        return;
    }
    for (int r = 0; r < job->opts.nranks; r++) {
        weftrun_rank_t *rk = &job->ranks[r];
        int idx = rk->local_rank % nobjs;
        hwloc_obj_t o = nodes != NULL
                            ? nodes[idx]
                            : hwloc_get_obj_by_type(topo, type, (unsigned)idx);

        rk->bind_index = nodes != NULL ? (int)o->logical_index : idx;
        rk->cpuset = o != NULL ? hwloc_bitmap_dup(o->cpuset) : NULL;
    }
    free(nodes);
    job->topo = topo;
    job->bind_name = mode == WEFTRUN_BIND_NUMA ? "numa" : "core";
    weft__log_debug(WEFT_SUB_BOOT, "weftrun: binding ranks by %s (%d %s)",
                    job->bind_name, nobjs,
                    mode == WEFTRUN_BIND_NUMA ? "NUMA nodes" : "cores");
}

/* The store keeps a connection per rank and --tag-output two pipes per
 * rank: raise the soft RLIMIT_NOFILE when it is too low (ranks get the
 * original limit back). */
static void
weftrun_nofile_raise(weftrun_job_t *job)
{
    rlim_t need =
        (rlim_t)job->opts.nranks * (job->opts.tag_output ? 3 : 1) + 64;
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &job->nofile) != 0 ||
        job->nofile.rlim_cur == RLIM_INFINITY || job->nofile.rlim_cur >= need) {
        return;
    }
    rl = job->nofile;
    rl.rlim_cur =
        rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
    if (rl.rlim_cur > job->nofile.rlim_cur &&
        setrlimit(RLIMIT_NOFILE, &rl) == 0) {
        job->nofile_raised = 1;
    }
    if (rl.rlim_cur < need) {
        fprintf(stderr,
                "weftrun: warning: %d ranks need about %lu file descriptors; "
                "the limit is %lu\n",
                job->opts.nranks, (unsigned long)need,
                (unsigned long)rl.rlim_cur);
    }
}

int
weftrun_layout_create(weftrun_job_t *job)
{
    int rc;

    if (gethostname(job->hostname, sizeof(job->hostname) - 1) != 0) {
        weft__strlcpy(job->hostname, "localhost", sizeof(job->hostname));
    }
    if (job->opts.hosts != NULL) {
        rc = weftrun_hosts_parse(job);
        if (rc != 0) {
            return rc;
        }
    }
    job->ranks = calloc((size_t)job->opts.nranks, sizeof(*job->ranks));
    if (job->ranks == NULL) {
        fprintf(stderr, "weftrun: out of memory\n");
        return 1;
    }
    rc = weftrun_hosts_assign(job);
    if (rc != 0) {
        return rc;
    }
    if (job->opts.host_cmd != NULL && weftrun_host_cmd_split(job) != 0) {
        fprintf(stderr, "weftrun: out of memory\n");
        return 1;
    }
    weftrun_bind_setup(job);
    weftrun_nofile_raise(job);
    return 0;
}

void
weftrun_layout_destroy(weftrun_job_t *job)
{
    if (job->ranks != NULL) {
        for (int r = 0; r < job->opts.nranks; r++) {
            weftrun_stream_close(job, &job->ranks[r], &job->ranks[r].out);
            weftrun_stream_close(job, &job->ranks[r], &job->ranks[r].err);
            hwloc_bitmap_free(job->ranks[r].cpuset);
        }
        free(job->ranks);
        job->ranks = NULL;
    }
    if (job->topo != NULL) {
        hwloc_topology_destroy(job->topo);
        job->topo = NULL;
    }
    for (size_t i = 0; job->host_words != NULL && job->host_words[i]; i++) {
        free(job->host_words[i]);
    }
    free(job->host_words);
    job->host_words = NULL;
    weft__strlist_free(&job->hosts);
}

/* word with {host} and {rank} replaced (malloc'd). */
static char *
weftrun_word_expand(const char *word, const char *host, int rank)
{
    char rank_text[16];
    size_t len = 0;
    char *out;
    char *q;

    snprintf(rank_text, sizeof(rank_text), "%d", rank);
    for (const char *p = word; *p != '\0';) {
        if (strncmp(p, "{host}", 6) == 0) {
            len += strlen(host);
            p += 6;
        } else if (strncmp(p, "{rank}", 6) == 0) {
            len += strlen(rank_text);
            p += 6;
        } else {
            len++;
            p++;
        }
    }
    out = malloc(len + 1);
    if (out == NULL) {
        return NULL;
    }
    q = out;
    for (const char *p = word; *p != '\0';) {
        if (strncmp(p, "{host}", 6) == 0) {
            q = stpcpy(q, host);
            p += 6;
        } else if (strncmp(p, "{rank}", 6) == 0) {
            q = stpcpy(q, rank_text);
            p += 6;
        } else {
            *q++ = *p++;
        }
    }
    *q = '\0';
    return out;
}

static void
weftrun_strv_free(char **v, size_t first)
{
    if (v == NULL) {
        return;
    }
    for (size_t i = first; v[i] != NULL; i++) {
        weft__memzero(v[i], strlen(v[i])); /* the job key is among them */
        free(v[i]);
    }
    free(v);
}

/* --host-cmd words (expanded) followed by prog args; all malloc'd. */
static char **
weftrun_argv_create(weftrun_job_t *job, weftrun_rank_t *r)
{
    const char *host = r->host != NULL ? r->host : job->hostname;
    size_t nwords = 0;
    size_t nargs = 0;
    size_t n = 0;
    char **argv;

    while (job->host_words != NULL && job->host_words[nwords] != NULL) {
        nwords++;
    }
    while (job->opts.argv[nargs] != NULL) {
        nargs++;
    }
    argv = calloc(nwords + nargs + 1, sizeof(*argv));
    if (argv == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < nwords; i++, n++) {
        argv[n] = weftrun_word_expand(job->host_words[i], host, r->rank);
        if (argv[n] == NULL) {
            weftrun_strv_free(argv, 0);
            return NULL;
        }
    }
    for (size_t i = 0; i < nargs; i++, n++) {
        argv[n] = strdup(job->opts.argv[i]);
        if (argv[n] == NULL) {
            weftrun_strv_free(argv, 0);
            return NULL;
        }
    }
    return argv;
}

static int
weftrun_env_is_owned(const weftrun_job_t *job, const char *entry)
{
    const char *extra[] = {job->opts.tl != NULL ? "WEFT_TL" : NULL,
                           job->hosts.n > 0 ? "WEFT_NODE_ID" : NULL};

    for (size_t i = 0; weftrun_env_owned[i] != NULL; i++) {
        size_t len = strlen(weftrun_env_owned[i]);

        if (strncmp(entry, weftrun_env_owned[i], len) == 0 &&
            entry[len] == '=') {
            return 1;
        }
    }
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
        size_t len = extra[i] != NULL ? strlen(extra[i]) : 0;

        if (len > 0 && strncmp(entry, extra[i], len) == 0 &&
            entry[len] == '=') {
            return 1;
        }
    }
    return 0;
}

/* Appends a malloc'd "NAME=value"; 1 on success, 0 when out of memory. */
static int weftrun_env_add(char **envp, size_t *n_p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
weftrun_env_add(char **envp, size_t *n_p, const char *fmt, ...)
{
    va_list ap;
    char *entry;
    int len;

    va_start(ap, fmt);
    len = vasprintf(&entry, fmt, ap);
    va_end(ap);
    if (len < 0) {
        return 0;
    }
    envp[(*n_p)++] = entry;
    return 1;
}

/*
 * weftrun's environment (entries borrowed) minus the variables weftrun
 * sets, then those (malloc'd, from index *own_p on).
 */
static char **
weftrun_env_create(weftrun_job_t *job, weftrun_rank_t *r, size_t *own_p)
{
    const char *const *env = weft__config_environ();
    size_t count = 0;
    size_t n = 0;
    size_t own;
    char **envp;
    int ok = 1;

    while (env != NULL && env[count] != NULL) {
        count++;
    }
    envp = calloc(count + WEFTRUN_ENV_ADDED + 1, sizeof(*envp));
    if (envp == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        if (!weftrun_env_is_owned(job, env[i])) {
            envp[n++] = (char *)env[i];
        }
    }
    own = n;
    ok &= weftrun_env_add(envp, &n, "WEFT_RANK=%d", r->rank);
    ok &= weftrun_env_add(envp, &n, "WEFT_SIZE=%d", job->opts.nranks);
    ok &= weftrun_env_add(envp, &n, "WEFT_LOCAL_RANK=%d", r->local_rank);
    ok &= weftrun_env_add(envp, &n, "WEFT_LOCAL_SIZE=%d", r->local_size);
    ok &= weftrun_env_add(envp, &n, "WEFT_RENDEZVOUS=%s",
                          weft__boot_server_address(job->srv));
    ok &= weftrun_env_add(envp, &n, "WEFT_JOB_KEY=%s", job->key_hex);
    if (job->opts.tl != NULL) {
        ok &= weftrun_env_add(envp, &n, "WEFT_TL=%s", job->opts.tl);
    }
    if (r->host != NULL) {
        ok &= weftrun_env_add(envp, &n, "WEFT_NODE_ID=%s", r->host);
    }
    if (!ok) {
        weftrun_strv_free(envp, own);
        return NULL;
    }
    *own_p = own;
    return envp;
}

/* In the child: everything up to exec. Never returns. */
static void __attribute__((noreturn))
weftrun_child_exec(weftrun_job_t *job, weftrun_rank_t *r, char **argv,
                   char **envp, int in_fd, int out_w, int err_w, pid_t parent)
{
    sigset_t none;

    setpgid(0, 0);
    /* If weftrun is killed outright, take the rank with it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
        _exit(127);
    }
    signal(SIGPIPE, SIG_DFL);
    if (job->nofile_raised) {
        setrlimit(RLIMIT_NOFILE, &job->nofile);
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (in_fd != STDIN_FILENO) {
        dup2(in_fd, STDIN_FILENO);
    }
    if (out_w >= 0) {
        dup2(out_w, STDOUT_FILENO);
        dup2(err_w, STDERR_FILENO);
    }
    if (r->cpuset != NULL && hwloc_set_cpubind(job->topo, r->cpuset, 0) != 0) {
        dprintf(STDERR_FILENO,
                "weftrun: warning: rank %d: cannot bind to %s %d: %s\n",
                r->rank, job->bind_name, r->bind_index, strerror(errno));
    }
    execvpe(argv[0], argv, envp);
    dprintf(STDERR_FILENO, "weftrun: cannot run '%s': %s\n", argv[0],
            strerror(errno));
    _exit(127);
}

int
weftrun_rank_start(weftrun_job_t *job, weftrun_rank_t *r)
{
    int outp[2] = {-1, -1};
    int errp[2] = {-1, -1};
    char **argv;
    char **envp;
    size_t own = 0;
    int in_fd;
    pid_t parent = getpid();
    pid_t pid;
    int rc = -1;

    argv = weftrun_argv_create(job, r);
    envp = weftrun_env_create(job, r, &own);
    if (argv == NULL || envp == NULL) {
        fprintf(stderr, "weftrun: cannot start rank %d: out of memory\n",
                r->rank);
        goto out;
    }
    if (job->opts.tag_output &&
        (pipe2(outp, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0)) {
        fprintf(stderr, "weftrun: cannot start rank %d: pipe: %s\n", r->rank,
                strerror(errno));
        goto out;
    }
    in_fd =
        (r->rank == 0 && !isatty(STDIN_FILENO)) ? STDIN_FILENO : job->devnull;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "weftrun: cannot start rank %d: fork: %s\n", r->rank,
                strerror(errno));
        goto out;
    }
    if (pid == 0) {
        weftrun_child_exec(job, r, argv, envp, in_fd, outp[1], errp[1], parent);
    }
    setpgid(pid, pid); /* also done by the child: whoever comes first */
    r->pid = pid;
    r->running = 1;
    job->running++;
    weft__log_debug(WEFT_SUB_BOOT, "weftrun: rank %d is pid %d", r->rank,
                    (int)pid);
    if (job->opts.tag_output) {
        close(outp[1]);
        close(errp[1]);
        outp[1] = errp[1] = -1;
        weftrun_stream_open(job, r, &r->out, STDOUT_FILENO, outp[0]);
        weftrun_stream_open(job, r, &r->err, STDERR_FILENO, errp[0]);
        outp[0] = errp[0] = -1;
    }
    rc = 0;
out:
    for (int i = 0; i < 2; i++) {
        if (outp[i] >= 0) {
            close(outp[i]);
        }
        if (errp[i] >= 0) {
            close(errp[i]);
        }
    }
    weftrun_strv_free(argv, 0);
    if (envp != NULL) {
        weftrun_strv_free(envp, own);
    }
    return rc;
}
