/*
 * The shm transport's own behaviour (the conformance suite covers the
 * messaging contract): the double copy when the kernel refuses reads of
 * another process's memory (seccomp, as in containers) or when told to,
 * eager messages of every size up to 700 bytes (payloads packed after
 * the header or starting at the next cell) many at once through ring
 * wrap-arounds, blocking sends behind queued ones, file segments and what they
 * leave behind (nothing, crashed or not), stale files of dead runs, a full
 * segment directory (a clear error, or tcp instead), a killed peer, and a peer
 * writing garbage into a ring.
 */
#include "build_config.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>
#include <weft.h>

#include "clock.h"
#include "context.h"
#include "harness.h"
#include "transports/shm/shm.h"

/* ---- large messages both ways, every byte checked ---------------------- */

static void
exchange_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    static const size_t sizes[] = {0, 1, 8191, 8193, 200000, (1u << 20) + 3,
                                   64u << 20};
    int me = weft_comm_rank(w), n = weft_comm_size(w);

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t len = sizes[i];
        uint8_t *out = malloc(len + 1), *in = malloc(len + 1);

        wt_fill(out, len, me, (int)i);
        memset(in, 0xee, len + 1);
        WT_OK(weft_sendrecv(out, len, (me + 1) % n, (int)i, in, len,
                            (me + n - 1) % n, (int)i, w));
        WT_CHECK(wt_verify(in, len, (me + n - 1) % n, (int)i) == len,
                 "%zu bytes from rank %d: byte %zu wrong", len,
                 (me + n - 1) % n, wt_verify(in, len, (me + n - 1) % n,
                                             (int)i));
        WT_CHECK(in[len] == 0xee, "%zu bytes: guard byte overwritten", len);
        free(out);
        free(in);
    }
}

/* process_vm_readv refused with EPERM, as Docker's default profile does */
static void
deny_cma(int rank)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_process_vm_readv, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};

    (void)rank;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
        fprintf(stderr, "cannot install the seccomp filter: %m\n");
        _exit(4);
    }
}

static void
no_cma_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    /* the probe at attach found it out: no peer is read directly */
    for (int i = 0; i < ctx->ntls; i++) {
        if (ctx->tls[i].ops == &weft__tl_shm) {
            weft_tl_t *tl = ctx->tls[i].tl;

            for (int k = 0; k < tl->nlocal; k++) {
                WT_CHECK(tl->peers[k] == NULL || !tl->peers[k]->cma,
                         "rank %d would be read directly",
                         tl->local_ranks[k]);
            }
        }
    }
    exchange_body(ctx, w, arg);
    {
        /* collectives too: the node-local ones take the buffered path or
         * give way to point-to-point ones */
        size_t n = (1u << 20) + 3;
        float *v = malloc(n * sizeof(float));

        for (size_t i = 0; i < n; i++) {
            v[i] = (float)(i % 1000);
        }
        WT_OK(weft_allreduce(v, v, n, WEFT_FLOAT32, WEFT_SUM, w));
        for (size_t i = 0; i < n; i++) {
            if (v[i] != (float)(i % 1000) * weft_comm_size(w)) {
                WT_CHECK(0, "element %zu: %g", i, v[i]);
                break;
            }
        }
        free(v);
    }
}

/* ---- eager messages of every small size, many in the ring at once ---- */

#define EG_MAX    700
#define EG_WINDOW 32

static void
eager_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int me = weft_comm_rank(w), peer = me ^ 1;
    /* +3: the user's buffers start at every offset mod 4 */
    uint8_t *out = malloc(EG_WINDOW * (EG_MAX + 4));
    uint8_t *in = malloc(EG_WINDOW * (EG_MAX + 4));
    weft_request_t *reqs[2 * EG_WINDOW];

    (void)ctx;
    (void)arg;
    WT_CHECK(out != NULL && in != NULL, "out of memory");
    /* 3 rounds of 0..EG_MAX bytes: the 128 KiB ring wraps several times */
    for (int len0 = 0; len0 < 3 * (EG_MAX + 1) && wt_failures == 0;
         len0 += EG_WINDOW) {
        for (int k = 0; k < EG_WINDOW; k++) {
            size_t len = (size_t)((len0 + k) % (EG_MAX + 1));
            uint8_t *o = out + k * (EG_MAX + 4) + k % 4;
            uint8_t *i = in + k * (EG_MAX + 4) + k % 4;

            wt_fill(o, len, me, len0 + k);
            memset(i, 0xee, len + 1);
            WT_OK(weft_irecv(i, len, peer, k, w, &reqs[k]));
            WT_OK(weft_isend(o, len, peer, k, w, &reqs[EG_WINDOW + k]));
        }
        WT_OK(weft_waitall(2 * EG_WINDOW, reqs));
        for (int k = 0; k < EG_WINDOW; k++) {
            size_t len = (size_t)((len0 + k) % (EG_MAX + 1));
            uint8_t *i = in + k * (EG_MAX + 4) + k % 4;
            size_t at = wt_verify(i, len, peer, len0 + k);

            WT_CHECK(at == len, "%zu bytes: byte %zu wrong", len, at);
            WT_CHECK(i[len] == 0xee, "%zu bytes: guard byte overwritten", len);
        }
    }
    free(out);
    free(in);
}

Test(tl_shm, eager_messages_of_every_small_size, .timeout = 120)
{
    wt_job_t job = {.nranks = 2, .tl = "shm"};

    cr_assert_eq(wt_run(&job, eager_body, NULL), 0);
}

Test(tl_shm, double_copy_when_the_kernel_refuses_cma, .timeout = 120)
{
    wt_job_t job = {.nranks = 3, .tl = "shm", .setup = deny_cma};

    cr_assert_eq(wt_run(&job, no_cma_body, NULL), 0);
}

Test(tl_shm, double_copy_when_told, .timeout = 120)
{
    wt_job_t job = {.nranks = 2, .tl = "shm", .env = {"WEFT_SHM_CMA=off"}};

    cr_assert_eq(wt_run(&job, no_cma_body, NULL), 0);
}

/* ---- blocking sends behind a full ring --------------------------------- */

/* Rank 0 fills its ring to rank 1 (16 KiB, WEFT_SHM_RING_SIZE) with
 * nonblocking eager sends, some of which wait in its send queue, then
 * sends small messages on the same tag with blocking sends, which the
 * transport writes straight into the ring when it can (inject): never
 * ahead of the queued ones. Rank 1 starts receiving only later, and gets
 * every message in the order sent (each one's bytes name it). */
#define FR_BIG   40
#define FR_SMALL 40

static size_t
full_ring_len(int i)
{
    return i < FR_BIG ? 1000 + (size_t)i : 8 + (size_t)(i % 8);
}

static void
full_ring_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    static uint8_t msg[FR_BIG + FR_SMALL][1100];
    weft_request_t *reqs[FR_BIG];

    (void)ctx;
    (void)arg;
    if (weft_comm_rank(w) == 0) {
        for (int i = 0; i < FR_BIG + FR_SMALL; i++) {
            wt_fill(msg[i], full_ring_len(i), 0, i);
            if (i < FR_BIG) {
                WT_OK(weft_isend(msg[i], full_ring_len(i), 1, 3, w, &reqs[i]));
            } else {
                WT_OK(weft_send(msg[i], full_ring_len(i), 1, 3, w));
            }
        }
        WT_OK(weft_waitall(FR_BIG, reqs));
        return;
    }
    usleep(200 * 1000); /* rank 0's ring fills, and its queue with it */
    for (int i = 0; i < FR_BIG + FR_SMALL; i++) {
        size_t got = 0;

        WT_OK(weft_recv(msg[i], sizeof(msg[i]), 0, 3, w, &got));
        WT_CHECK(got == full_ring_len(i) && wt_verify(msg[i], got, 0, i) == got,
                 "message %d: %zu bytes, not the %zu-byte one sent %d-th", i,
                 got, full_ring_len(i), i);
    }
}

Test(tl_shm, blocking_sends_wait_behind_a_full_ring, .timeout = 60)
{
    wt_job_t job = {
        .nranks = 2, .tl = "shm", .env = {"WEFT_SHM_RING_SIZE=16K"}};

    cr_assert_eq(wt_run(&job, full_ring_body, NULL), 0);
}

/* ---- file segments ---------------------------------------------------- */

/* Entries of dir whose name starts with "weft-". */
static int
count_weft_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    while (d != NULL && (e = readdir(d)) != NULL) {
        n += strncmp(e->d_name, "weft-", 5) == 0;
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

static char shm_dir_env[256];

static const char *
make_dir(void)
{
    static char dir[128];

    snprintf(dir, sizeof(dir), "/tmp/wt-shm-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(shm_dir_env, sizeof(shm_dir_env), "WEFT_SHM_DIR=%s", dir);
    return dir;
}

static void
files_gone_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    const char *dir = arg;

    /* every local rank has mapped every segment: the names are gone */
    WT_CHECK(count_weft_files(dir) == 0, "%d segment files left in %s",
             count_weft_files(dir), dir);
    exchange_body(ctx, w, NULL);
}

Test(tl_shm, file_segments_leave_nothing, .timeout = 120)
{
    const char *dir = make_dir();
    wt_job_t job = {.nranks = 4, .tl = "shm",
                    .env = {"WEFT_SHM_SEGMENT=file", shm_dir_env}};

    cr_assert_eq(wt_run(&job, files_gone_body, (void *)dir), 0);
    cr_assert_eq(count_weft_files(dir), 0);
    rmdir(dir);
}

static void
killed_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int me = weft_comm_rank(w);
    char buf[64];
    weft_status_t st;
    double t0;

    if (me == 1) {
        raise(SIGKILL);
    }
    t0 = weft__now();
    st = weft_recv(buf, sizeof(buf), 1, 0, w, NULL);
    WT_CHECK(st == WEFT_ERR_PEER_LOST, "receive from the killed rank: %s (%s)",
             weft_status_string(st), weft_last_error());
    WT_CHECK(weft__now() - t0 < 5.0, "noticed after %.1f s",
             weft__now() - t0);
    usleep(200 * 1000); /* every survivor learns of it first */
    _exit(wt_failures ? 1 : 0);
}

Test(tl_shm, killed_peer_is_lost_at_once_and_leaves_nothing, .timeout = 120)
{
    const char *dir = make_dir();
    wt_job_t job = {.nranks = 3, .tl = "shm", .timeout_s = 60,
                    .env = {"WEFT_SHM_SEGMENT=file", shm_dir_env,
                            "WEFT_TIMEOUT=60s"}};

    /* the victim is the harness's one failure */
    cr_assert_eq(wt_run(&job, killed_body, NULL), 1);
    cr_assert_eq(count_weft_files(dir), 0, "segment files left behind");
    rmdir(dir);
}

static void
nothing_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    exchange_body(ctx, w, NULL);
}

Test(tl_shm, memfd_segments_never_touch_dev_shm, .timeout = 120)
{
    int before = count_weft_files("/dev/shm");
    wt_job_t job = {.nranks = 3, .tl = "shm"};

    cr_assert_eq(wt_run(&job, nothing_body, NULL), 0);
    cr_assert_eq(count_weft_files("/dev/shm"), before);
}

Test(tl_shm, stale_files_of_dead_runs_are_removed, .timeout = 120)
{
    const char *dir = make_dir();
    char dead[256], alive[256], young[256];
    struct utimbuf old = {.actime = time(NULL) - 3600,
                          .modtime = time(NULL) - 3600};
    pid_t pid = fork();
    int fd;

    if (pid == 0) {
        _exit(0);
    }
    waitpid(pid, NULL, 0); /* a pid that is gone */
    snprintf(dead, sizeof(dead), "%s/weft-%u-%d-0000beef", dir,
             (unsigned)geteuid(), (int)pid);
    snprintf(alive, sizeof(alive), "%s/weft-%u-%d-0000cafe", dir,
             (unsigned)geteuid(), (int)getpid());
    snprintf(young, sizeof(young), "%s/weft-%u-%d-0000f00d", dir,
             (unsigned)geteuid(), (int)pid);
    for (int i = 0; i < 3; i++) {
        const char *p = i == 0 ? dead : i == 1 ? alive : young;

        fd = open(p, O_CREAT | O_WRONLY, 0600);
        cr_assert_geq(fd, 0);
        close(fd);
        if (i < 2) {
            utime(p, &old);
        }
    }
    {
        wt_job_t job = {.nranks = 2, .tl = "shm",
                        .env = {"WEFT_SHM_SEGMENT=file", shm_dir_env}};

        cr_assert_eq(wt_run(&job, nothing_body, NULL), 0);
    }
    cr_expect_neq(access(dead, F_OK), 0, "the dead run's file is still there");
    cr_expect_eq(access(alive, F_OK), 0, "a live process's file was removed");
    cr_expect_eq(access(young, F_OK), 0, "a file younger than a run was "
                                         "removed");
    unlink(alive);
    unlink(young);
    rmdir(dir);
}

/* ---- a full directory ------------------------------------------------- */

typedef struct full_case {
    char tl[16];
    int want_ok; /* 1: tcp takes over */
} full_case_t;

static void
full_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    exchange_body(ctx, w, NULL);
}

/* In a private mount namespace, a 64 KiB tmpfs as the segment directory;
 * returns the wt_run result, or -1 when the namespace cannot be made. */
static int
run_with_full_dir(const char *tl, int nranks, char *log, size_t log_len)
{
    int p[2];
    pid_t pid;
    int status;

    cr_assert_eq(pipe(p), 0);
    pid = fork();
    if (pid == 0) {
        static char env[256];
        char dir[] = "/tmp/wt-full-XXXXXX";

        close(p[0]);
        dup2(p[1], 2);
        if (unshare(CLONE_NEWNS) != 0 ||
            mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
            mkdtemp(dir) == NULL ||
            mount("tmpfs", dir, "tmpfs", 0, "size=64k") != 0) {
            _exit(100);
        }
        snprintf(env, sizeof(env), "WEFT_SHM_DIR=%s", dir);
        {
            wt_job_t job = {.nranks = nranks, .tl = tl,
                            .env = {"WEFT_SHM_SEGMENT=file", env}};
            int failed = wt_run(&job, full_body, NULL);

            umount(dir);
            rmdir(dir);
            _exit(failed);
        }
    }
    close(p[1]);
    {
        size_t used = 0;
        ssize_t k;

        while ((k = read(p[0], log + used, log_len - 1 - used)) > 0) {
            used += (size_t)k;
        }
        log[used] = '\0';
    }
    close(p[0]);
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 100) {
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 99;
}

Test(tl_shm, full_directory_is_a_clear_error_or_tcp, .timeout = 240)
{
    static char log[65536];
    static const int ranks[] = {2, 4, 8};

    for (int i = 0; i < 3; i++) {
        int np = ranks[i], rc = run_with_full_dir("shm", np, log, sizeof(log));

        if (rc < 0) {
            cr_skip_test("cannot mount a private tmpfs here (not root?)");
        }
        /* shm alone: every rank stops, naming the directory and the size */
        cr_expect_eq(rc, np, "shm alone, %d ranks: %d failed; log:\n%s", np,
                     rc, log);
        cr_expect(strstr(log, "/tmp/wt-full-") != NULL &&
                      strstr(log, "bytes") != NULL,
                  "%d ranks: the error names the directory and the size:\n%s",
                  np, log);
        /* shm then tcp: tcp carries the job, with a warning */
        rc = run_with_full_dir("shm,tcp", np, log, sizeof(log));
        cr_expect_eq(rc, 0, "shm,tcp, %d ranks: %d failed; log:\n%s", np, rc,
                     log);
        cr_expect(strstr(log, "trying the next one") != NULL,
                  "%d ranks: the fall back to tcp is logged:\n%s", np, log);
    }
}

/* ---- a peer that writes garbage --------------------------------------- */

static void
garbage_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int me = weft_comm_rank(w);
    char buf[64];
    weft_status_t st;

    WT_OK(weft_barrier(w)); /* both are past start-up */
    if (me == 0) {
        /* as rank 0's transport would, but a type no one knows */
        for (int i = 0; i < ctx->ntls; i++) {
            if (ctx->tls[i].ops == &weft__tl_shm) {
                weft_tl_t *tl = ctx->tls[i].tl;
                weft_tl_ep_t *p = tl->peers[1];
                shm_cell_t *c = &p->tx.cells[p->tx_tail & (p->tx.ncells - 1)];

                c->type = 200;
                c->ncells = 1;
                atomic_store(&c->stamp, p->tx_tail + 1);
                p->tx_tail++;
            }
        }
        usleep(500 * 1000); /* until rank 1 has seen it */
        return;
    }
    st = weft_recv(buf, sizeof(buf), 0, 5, w, NULL);
    WT_CHECK(st == WEFT_ERR_PROTOCOL, "receive: %s (%s)",
             weft_status_string(st), weft_last_error());
    WT_CHECK(strstr(weft_last_error(), "malformed") != NULL, "message: %s",
             weft_last_error());
}

Test(tl_shm, garbage_in_a_ring_fails_that_peer_with_protocol, .timeout = 60)
{
    wt_job_t job = {.nranks = 2, .tl = "shm", .env = {"WEFT_TIMEOUT=20s"}};

    cr_assert_eq(wt_run(&job, garbage_body, NULL), 0);
}
