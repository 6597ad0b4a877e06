/* Multi-rank test harness: forked ranks over a loopback store. */
#include "build_config.h"
#include "harness.h"
#include "tl_registry.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bootstrap/auth.h"
#include "bootstrap/server.h"
#include "clock.h"

int wt_failures;
int wt_rank = -1;

void
wt_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "[rank %d] %s:%d: check failed: ", wt_rank, file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    wt_failures++;
}

static inline uint8_t
wt_byte(size_t i, int src, int seq)
{
    return (uint8_t)(i * 7 + (i >> 8) * 3 + (i >> 16) * 5 + (size_t)src * 13 +
                     (size_t)seq * 31 + 1);
}

double
wt_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void
wt_fill(void *buf, size_t n, int src, int seq)
{
    uint8_t *p = buf;

    for (size_t i = 0; i < n; i++) {
        p[i] = wt_byte(i, src, seq);
    }
}

size_t
wt_verify(const void *buf, size_t n, int src, int seq)
{
    const uint8_t *p = buf;

    for (size_t i = 0; i < n; i++) {
        if (p[i] != wt_byte(i, src, seq)) {
            return i;
        }
    }
    return n;
}

int
wt_free_port(void)
{
    struct sockaddr_in in = {.sin_family = AF_INET};
    socklen_t len = sizeof(in);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port = -1;

    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&in, sizeof(in)) == 0 &&
        getsockname(fd, (struct sockaddr *)&in, &len) == 0) {
        port = ntohs(in.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    return port;
}

void
wt_job_key(char hex[65])
{
    if (weft__auth_key_generate(hex) != WEFT_OK) {
        fprintf(stderr, "harness: cannot generate a job key\n");
        abort();
    }
}

static void
wt_child(const wt_job_t *job, int rank, const char *addr, const char *key,
         wt_rank_fn_t fn, void *arg)
{
    weft_context_params_t params = {0};
    weft_context_t *ctx = NULL;
    weft_comm_t *world = NULL;
    weft_status_t st;
    char num[32];

    wt_rank = rank;
    wt_failures = 0;
    if (job->tl != NULL) {
        setenv("WEFT_TL", job->tl, 1);
    }
    for (int i = 0; i < 8 && job->env[i] != NULL; i++) {
        putenv((char *)job->env[i]);
    }
    if (job->setup != NULL) {
        job->setup(rank);
    }
    if (job->nodes > 1) {
        snprintf(num, sizeof(num), "wt-node-%d",
                 rank * job->nodes / job->nranks);
        setenv("WEFT_NODE_ID", num, 1);
    }
    if (job->rank0_serves) {
        params.field_mask = WEFT_CONTEXT_PARAM_RANK | WEFT_CONTEXT_PARAM_SIZE |
                            WEFT_CONTEXT_PARAM_RENDEZVOUS |
                            WEFT_CONTEXT_PARAM_JOB_KEY;
        params.rank = rank;
        params.size = job->nranks;
        params.rendezvous = addr;
        params.job_key = key;
        st = weft_context_create(&params, &ctx);
    } else {
        snprintf(num, sizeof(num), "%d", rank);
        setenv("WEFT_RANK", num, 1);
        snprintf(num, sizeof(num), "%d", job->nranks);
        setenv("WEFT_SIZE", num, 1);
        setenv("WEFT_RENDEZVOUS", addr, 1);
        setenv("WEFT_JOB_KEY", key, 1);
        st = weft_context_create(NULL, &ctx);
    }
    if (st != WEFT_OK) {
        fprintf(stderr, "[rank %d] weft_context_create: %s (%s)\n", rank,
                weft_status_string(st), weft_last_error());
        _exit(3);
    }
    WT_OK(weft_comm_world(ctx, &world));
    if (world != NULL) {
        fn(ctx, world, arg);
    }
    weft_context_destroy(ctx);
    fflush(stdout);
    fflush(stderr);
    _exit(wt_failures > 0 ? 1 : 0);
}

static int
wt_reap(const wt_job_t *job, pid_t *pids, double timeout)
{
    double deadline = weft__now() + timeout;
    int failed = 0, left = job->nranks;

    while (left > 0) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);

        if (pid > 0) {
            for (int r = 0; r < job->nranks; r++) {
                if (pids[r] != pid) {
                    continue;
                }
                pids[r] = 0;
                left--;
                if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                    break;
                }
                failed++;
                if (WIFSIGNALED(status)) {
                    fprintf(stderr, "harness: rank %d killed by signal %d\n",
                            r, WTERMSIG(status));
                } else {
                    fprintf(stderr, "harness: rank %d exited with %d\n", r,
                            WEXITSTATUS(status));
                }
            }
            continue;
        }
        if (pid < 0 && errno != EINTR) {
            break;
        }
        if (weft__now() > deadline) {
            for (int r = 0; r < job->nranks; r++) {
                if (pids[r] > 0) {
                    fprintf(stderr,
                            "harness: rank %d still running after %g s: "
                            "killed\n",
                            r, timeout);
                    kill(pids[r], SIGKILL);
                    waitpid(pids[r], NULL, 0);
                    pids[r] = 0;
                    failed++;
                }
            }
            break;
        }
        usleep(2000);
    }
    return failed;
}

int
wt_run(const wt_job_t *job, wt_rank_fn_t fn, void *arg)
{
    char key[65], addr[64];
    uint8_t raw[WEFT_AUTH_KEY_MAX], store_key[WEFT_AUTH_KEY_LEN];
    size_t raw_len;
    weft__boot_server_t *srv = NULL;
    pid_t pids[256];
    int failed;

    if (job->nranks < 1 || job->nranks > 256) {
        fprintf(stderr, "harness: bad rank count %d\n", job->nranks);
        return 1;
    }
    wt_job_key(key);
    if (job->rank0_serves) {
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", wt_free_port());
    } else {
        weft__boot_server_params_t sp = {
            .bind = "127.0.0.1:0",
            .key = store_key,
            .nranks = job->nranks,
            .handshake_timeout = 5,
            .max_pending = 64,
            .heartbeat_timeout = job->heartbeat_timeout,
        };

        weft__auth_key_parse(key, raw, &raw_len);
        weft__auth_derive(raw, raw_len, WEFT_AUTH_LABEL_STORE, store_key);
        if (weft__boot_server_create(&sp, &srv) != WEFT_OK) {
            fprintf(stderr, "harness: cannot start the store: %s\n",
                    weft_last_error());
            return job->nranks;
        }
        snprintf(addr, sizeof(addr), "%s", weft__boot_server_address(srv));
    }
    fflush(stdout);
    fflush(stderr);
    for (int r = 0; r < job->nranks; r++) {
        pids[r] = fork();
        if (pids[r] == 0) {
            wt_child(job, r, addr, key, fn, arg);
        }
        if (pids[r] < 0) {
            fprintf(stderr, "harness: fork failed: %s\n", strerror(errno));
            pids[r] = 0;
        }
    }
    /* the server thread starts after fork: no child inherits its locks */
    if (srv != NULL) {
        weft__boot_server_start_thread(srv);
    }
    failed = wt_reap(job, pids, job->timeout_s > 0 ? job->timeout_s : 60);
    weft__boot_server_destroy(srv);
    return failed;
}

int
wt_run_ranks(int n, wt_rank_fn_t fn, void *arg)
{
    wt_job_t job = {.nranks = n};

    return wt_run(&job, fn, arg);
}

int
wt_module_loadable(const char *name, char *why, size_t why_len)
{
    const weft_tl_ops_t *ops = NULL;

    if (weft__tl_registry_load(name, getenv("WEFT_TL_MODULE_PATH"), &ops) ==
        WEFT_OK) {
        return 1;
    }
    snprintf(why, why_len, "%s", weft_last_error());
    return 0;
}
