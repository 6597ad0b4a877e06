/* What the fault tests share (see fault_common.h). */
#include "build_config.h"
#include "fault_common.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

double
fc_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

fc_shared_t *
fc_shared_new(void)
{
    fc_shared_t *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    cr_assert(sh != MAP_FAILED, "mmap failed");
    memset(sh, 0, sizeof(*sh));
    for (int i = 0; i < FC_MAX; i++) {
        sh->status[i] = 1; /* "never answered" */
    }
    return sh;
}

/* Record this rank's answer, then stay until every rank that answers has
 * (so that none learns of the fault from another's exit). */
void
fc_answer(fc_shared_t *sh, int rank, weft_status_t st, double since,
          int answering)
{
    sh->status[rank] = st;
    sh->took[rank] = fc_now() - since;
    snprintf(sh->msg[rank], sizeof(sh->msg[rank]), "%s",
             st != WEFT_OK ? weft_last_error() : "");
    __atomic_add_fetch(&sh->answered, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < 3000 && __atomic_load_n(&sh->answered,
                                                __ATOMIC_SEQ_CST) < answering;
         i++) {
        usleep(10 * 1000);
    }
}

/* Entries of /dev/shm (names joined), to compare before and after. */
static void
fc_shm_list(char *buf, size_t len)
{
    DIR *d = opendir("/dev/shm");
    struct dirent *e;
    size_t off = 0;

    buf[0] = '\0';
    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL && off + 1 < len) {
        if (strncmp(e->d_name, "weft", 4) == 0) {
            off += (size_t)snprintf(buf + off, len - off, "%s ", e->d_name);
        }
    }
    closedir(d);
}

const char *
fc_status(int st)
{
    return st == 1 ? "no answer" : weft_status_string((weft_status_t)st);
}

int
fc_run(const fc_case_t *c, wt_rank_fn_t fn, fc_shared_t *sh)
{
    char tl[64], before[4096], after[4096];
    wt_job_t job = {.nranks = c->nranks,
                    .timeout_s = 60,
                    .heartbeat_timeout = c->hb_timeout};
    int n = 0, failed;

    snprintf(tl, sizeof(tl), "WEFT_TL=%s", c->tl);
    job.env[n++] = tl;
    for (int i = 0; c->env[i] != NULL && n < 7; i++) {
        job.env[n++] = c->env[i];
    }
    fc_shm_list(before, sizeof(before));
    failed = wt_run(&job, fn, sh);
    fc_shm_list(after, sizeof(after));
    cr_expect_str_eq(after, before, "%s: /dev/shm before \"%s\", after \"%s\"",
                     c->name, before, after);
    for (int r = 0; r < c->nranks; r++) {
        cr_log_info("%s, %s, %d ranks: rank %d: %s after %.3f s: %s", c->name,
                    c->tl, c->nranks, r, fc_status(sh->status[r]), sh->took[r],
                    sh->msg[r]);
    }
    cr_expect_eq(failed, c->victim_fails,
                 "%s, %s, %d ranks: %d ranks failed "
                 "(want %d)",
                 c->name, c->tl, c->nranks, failed, c->victim_fails);
    return failed;
}

const char *const fc_tls[2] = {"self,tcp", "self,shm,tcp"};
const int fc_ranks[3] = {2, 4, 8};
