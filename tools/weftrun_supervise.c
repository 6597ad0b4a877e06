/*
 * weftrun supervision: one epoll loop over a signalfd (SIGCHLD, SIGINT,
 * SIGTERM, SIGHUP, SIGTSTP, SIGCONT), the store server and the
 * --tag-output pipes.
 *
 * The first event that ends the job (a rank failing, --timeout, a signal
 * to weftrun, a rank that cannot be started) decides the exit status.
 * After a failure or the timeout every rank is told through the store,
 * gets --grace (WEFTRUN_GRACE_S) to exit on its own, then SIGTERM to its
 * process group and SIGKILL WEFTRUN_KILL_S later. A forwarded signal is only
 * escalated by a second signal. When the last rank is gone, whatever the
 * ranks left behind is killed: weftrun is a child subreaper, so orphans
 * of the job come back to it.
 *
 * SIGTSTP (^Z) stops the ranks (SIGSTOP to their groups, which are not
 * the terminal's) and then weftrun; when weftrun goes on (fg, bg,
 * SIGCONT) the store hears from every rank afresh, each rank is sent a
 * BEAT, and the ranks get SIGCONT, so a stop longer than
 * WEFT_HEARTBEAT_TIMEOUT does not read as a silent rank or store; the
 * --timeout clock does not count the stop. A blocking call's own
 * WEFT_TIMEOUT still does (its clock is the process's).
 */
#include "build_config.h"
#include "weftrun.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bootstrap/store.h"
#include "clock.h"
#include "log.h"

#define WEFTRUN_STORE_POLL_MS 200 /* the store's own deadlines need calls */
#define WEFTRUN_MAX_EVENTS    64

int
weftrun_signals_init(weftrun_job_t *job)
{
    struct epoll_event ev;
    sigset_t set;
    int fd;

    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTSTP);
    sigaddset(&set, SIGCONT);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
        fprintf(stderr, "weftrun: sigprocmask: %s\n", strerror(errno));
        return -1;
    }
    signal(SIGPIPE, SIG_IGN); /* a closed stdout must not kill us */
    job->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    job->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (job->sigfd < 0 || job->epfd < 0) {
        fprintf(stderr, "weftrun: %s: %s\n",
                job->sigfd < 0 ? "signalfd" : "epoll_create1", strerror(errno));
        return -1;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.u64 = WEFTRUN_KEY_SIGNAL;
    if (epoll_ctl(job->epfd, EPOLL_CTL_ADD, job->sigfd, &ev) != 0) {
        fprintf(stderr, "weftrun: epoll_ctl: %s\n", strerror(errno));
        return -1;
    }
    fd = weft__boot_server_fd(job->srv);
    ev.data.u64 = WEFTRUN_KEY_STORE;
    if (fd >= 0 && epoll_ctl(job->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        fprintf(stderr, "weftrun: epoll_ctl: %s\n", strerror(errno));
        return -1;
    }
    /* Orphans of the job (a rank's children after the rank died) are
     * reparented to us, so they can be found and killed at the end. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        weft__log_debug(WEFT_SUB_BOOT, "weftrun: PR_SET_CHILD_SUBREAPER: %m");
    }
    return 0;
}

/* Signals every process group of a started rank (reaped ones too: their
 * children may still be in it). */
static void
weftrun_job_killpg(weftrun_job_t *job, int sig)
{
    for (int i = 0; i < job->opts.nranks; i++) {
        if (job->ranks[i].pid > 0 && killpg(job->ranks[i].pid, sig) != 0 &&
            errno != ESRCH) {
            weft__log_debug(WEFT_SUB_BOOT, "weftrun: killpg(%d, %d): %m",
                            (int)job->ranks[i].pid, sig);
        }
    }
}

void
weftrun_job_stop(weftrun_job_t *job, weftrun_cause_t cause, int exit_code,
                 int failed_rank, const char *reason)
{
    weft__store_event_t ev;
    weft_status_t st;

    if (job->cause != WEFTRUN_CAUSE_NONE) {
        return; /* the first event decides */
    }
    job->cause = cause;
    job->exit_code = exit_code;
    if (cause == WEFTRUN_CAUSE_SIGNAL) {
        return; /* forwarded as is; escalated only by a second signal */
    }
    if (job->srv != NULL && !job->store_failed) {
        memset(&ev, 0, sizeof(ev));
        ev.kind = WEFT_STORE_EVENT_ABORT;
        ev.origin = -1;
        ev.failed_rank = failed_rank;
        ev.comm_id = WEFT_STORE_ALL_COMMS;
        ev.status = cause == WEFTRUN_CAUSE_RANK      ? WEFT_ERR_PEER_LOST
                    : cause == WEFTRUN_CAUSE_TIMEOUT ? WEFT_ERR_TIMED_OUT
                                                     : WEFT_ERR_ABORTED;
        weft__strlcpy(ev.reason, reason, sizeof(ev.reason));
        st = weft__boot_server_abort(job->srv, &ev);
        if (st != WEFT_OK) {
            weft__log_warn(
                WEFT_SUB_BOOT,
                "weftrun: cannot tell the ranks through the store: %s",
                weft_last_error());
        }
    }
    if (job->running > 0) {
        job->term_at = weft__now() + job->opts.grace;
    }
}

/* The job goes on after a stop: see the header. Also on a SIGCONT that
 * follows a plain SIGSTOP of weftrun (the ranks ran on; sending them
 * SIGCONT does nothing then). */
static void
weftrun_job_resumed(weftrun_job_t *job)
{
    if (job->stopped_at > 0) {
        double stopped = weft__now() - job->stopped_at;

        job->start += stopped; /* --timeout counts running time */
        job->stopped_at = 0;
    }
    if (job->srv != NULL && !job->store_failed) {
        weft__boot_server_resumed(job->srv);
    }
    weftrun_job_killpg(job, SIGCONT);
}

/* ^Z: the ranks stop, then weftrun. It returns when weftrun goes on; the
 * SIGCONT that continued it waits in the signalfd and resumes the job
 * (weftrun_job_resumed) in the same read loop. */
static void
weftrun_job_suspend(weftrun_job_t *job)
{
    if (job->cause != WEFTRUN_CAUSE_NONE) {
        fprintf(stderr, "weftrun: got SIGTSTP while the job stops; "
                        "not stopping\n");
        return;
    }
    fprintf(stderr, "weftrun: stopped with the ranks (SIGTSTP); fg, bg or "
                    "SIGCONT resumes them\n");
    weftrun_job_killpg(job, SIGSTOP);
    job->stopped_at = weft__now();
    (void)kill(getpid(), SIGSTOP); /* returns once continued */
}

static void
weftrun_job_signal(weftrun_job_t *job, int sig)
{
    job->signals++;
    if (job->signals == 1) {
        fprintf(stderr,
                "weftrun: got signal %d (%s); passing it on to the ranks (send "
                "it again to kill them)\n",
                sig, strsignal(sig));
        weftrun_job_stop(job, WEFTRUN_CAUSE_SIGNAL, 128 + sig, -1, NULL);
        weftrun_job_killpg(job, sig);
        return;
    }
    if (job->signals == 2) {
        fprintf(stderr,
                "weftrun: got signal %d (%s) again; killing the ranks\n", sig,
                strsignal(sig));
        weftrun_job_killpg(job, SIGKILL);
        job->term_at = 0;
        job->kill_at = 0;
        job->abandon_at = weft__now() + WEFTRUN_ABANDON_S;
    }
}

/* Exit status weftrun takes from a rank's wait status; 0 for success. */
static int
weftrun_status_code(int ws)
{
    if (WIFEXITED(ws)) {
        return WEXITSTATUS(ws);
    }
    if (WIFSIGNALED(ws)) {
        return 128 + WTERMSIG(ws);
    }
    return 1;
}

static void
weftrun_status_describe(const weftrun_rank_t *r, int ws, char *buf, size_t size)
{
    char who[WEFT_STORE_REASON_MAX / 2];

    if (r->host != NULL) {
        snprintf(who, sizeof(who), "rank %d (pid %d, host %s)", r->rank,
                 (int)r->pid, r->host);
    } else {
        snprintf(who, sizeof(who), "rank %d (pid %d)", r->rank, (int)r->pid);
    }
    if (WIFSIGNALED(ws)) {
        snprintf(buf, size, "%s was killed by signal %d (%s)%s", who,
                 WTERMSIG(ws), strsignal(WTERMSIG(ws)),
                 WCOREDUMP(ws) ? ", core dumped" : "");
    } else {
        snprintf(buf, size, "%s exited with status %d", who,
                 WIFEXITED(ws) ? WEXITSTATUS(ws) : -1);
    }
}

static weftrun_rank_t *
weftrun_rank_find(weftrun_job_t *job, pid_t pid)
{
    for (int i = 0; i < job->opts.nranks; i++) {
        if (job->ranks[i].pid == pid) {
            return &job->ranks[i];
        }
    }
    return NULL;
}

static void
weftrun_job_reap(weftrun_job_t *job)
{
    char what[WEFT_STORE_REASON_MAX];
    weftrun_rank_t *r;
    pid_t pid;
    int ws;

    while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
        r = weftrun_rank_find(job, pid);
        if (r == NULL || !r->running) {
            weft__log_debug(WEFT_SUB_BOOT,
                            "weftrun: reaped pid %d (not a rank)", (int)pid);
            continue;
        }
        r->running = 0;
        r->wstatus = ws;
        job->running--;
        weftrun_status_describe(r, ws, what, sizeof(what));
        if (weftrun_status_code(ws) != 0 && job->cause == WEFTRUN_CAUSE_NONE) {
            fprintf(stderr, "weftrun: %s\n", what);
            weftrun_job_stop(job, WEFTRUN_CAUSE_RANK, weftrun_status_code(ws),
                             r->rank, what);
            job->cause_at = weft__now();
            job->cause_signaled = WIFSIGNALED(ws);
        } else if (WIFSIGNALED(ws) && job->cause == WEFTRUN_CAUSE_RANK &&
                   !job->cause_signaled &&
                   weft__now() - job->cause_at < WEFTRUN_SETTLE_S) {
            /* A rank that exits nonzero right after another dies by a
             * signal (whose core dump delayed its reaping) most likely
             * exited because of that death: the signal is the cause. */
            fprintf(stderr, "weftrun: %s (the exits just before followed "
                            "from it)\n",
                    what);
            job->exit_code = weftrun_status_code(ws);
            job->cause_signaled = 1;
            if (job->srv != NULL && !job->store_failed) {
                weft__store_event_t ev = {.kind = WEFT_STORE_EVENT_ABORT,
                                          .origin = -1,
                                          .failed_rank = r->rank,
                                          .comm_id = WEFT_STORE_ALL_COMMS,
                                          .status = WEFT_ERR_PEER_LOST};

                weft__strlcpy(ev.reason, what, sizeof(ev.reason));
                weft__boot_server_abort(job->srv, &ev);
            }
        } else {
            weft__log_debug(WEFT_SUB_BOOT, "weftrun: %s", what);
        }
    }
}

static void
weftrun_job_read_signals(weftrun_job_t *job)
{
    struct signalfd_siginfo si;

    while (read(job->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGTSTP) {
            weftrun_job_suspend(job);
        } else if (si.ssi_signo == SIGCONT) {
            weftrun_job_resumed(job);
        } else if (si.ssi_signo != SIGCHLD) {
            weftrun_job_signal(job, (int)si.ssi_signo);
        }
        /* SIGCHLD: weftrun_job_reap runs after every round anyway */
    }
}

static void
weftrun_job_store_progress(weftrun_job_t *job)
{
    int rc;

    if (job->srv == NULL || job->store_failed) {
        return;
    }
    rc = weft__boot_server_progress(job->srv, 0);
    if (rc < 0) {
        int fd = weft__boot_server_fd(job->srv);

        job->store_failed = 1;
        fprintf(stderr,
                "weftrun: the bootstrap store failed (%s); ranks that use it "
                "will fail\n",
                weft_status_string((weft_status_t)rc));
        if (fd >= 0) {
            epoll_ctl(job->epfd, EPOLL_CTL_DEL, fd, NULL);
        }
    }
}

static double
weftrun_job_deadline(const weftrun_job_t *job)
{
    return job->opts.timeout > 0 ? job->start + job->opts.timeout : 0;
}

/* Timeout and escalation steps that are due. */
static void
weftrun_job_deadlines(weftrun_job_t *job)
{
    double now = weft__now();
    double deadline = weftrun_job_deadline(job);

    if (deadline > 0 && now >= deadline && job->cause == WEFTRUN_CAUSE_NONE) {
        char reason[WEFT_STORE_REASON_MAX];

        fprintf(stderr, "weftrun: job timed out after %g s; stopping ranks\n",
                job->opts.timeout);
        snprintf(reason, sizeof(reason),
                 "the job timed out after %g s (weftrun --timeout)",
                 job->opts.timeout);
        weftrun_job_stop(job, WEFTRUN_CAUSE_TIMEOUT, 124, -1, reason);
    }
    if (job->term_at > 0 && now >= job->term_at) {
        weft__log_debug(WEFT_SUB_BOOT,
                        "weftrun: %d ranks still running; SIGTERM",
                        job->running);
        job->term_at = 0;
        weftrun_job_killpg(job, SIGTERM);
        weftrun_job_killpg(job, SIGCONT); /* a stopped rank must see it */
        job->kill_at = now + WEFTRUN_KILL_S;
    }
    if (job->kill_at > 0 && now >= job->kill_at) {
        fprintf(stderr,
                "weftrun: %d rank%s still running %g s after SIGTERM; sending "
                "SIGKILL\n",
                job->running, job->running == 1 ? "" : "s", WEFTRUN_KILL_S);
        job->kill_at = 0;
        weftrun_job_killpg(job, SIGKILL);
        job->abandon_at = now + WEFTRUN_ABANDON_S;
    }
    if (job->abandon_at > 0 && now >= job->abandon_at) {
        for (int i = 0; i < job->opts.nranks; i++) {
            if (job->ranks[i].running) {
                fprintf(stderr,
                        "weftrun: rank %d (pid %d) survives SIGKILL (stuck in "
                        "the kernel?); giving up on it\n",
                        i, (int)job->ranks[i].pid);
            }
        }
        job->abandoned = 1;
    }
}

static int
weftrun_job_wait_ms(const weftrun_job_t *job)
{
    double next = weft__now() + WEFTRUN_STORE_POLL_MS / 1e3;
    double at[4] = {job->cause == WEFTRUN_CAUSE_NONE ? weftrun_job_deadline(job)
                                                     : 0,
                    job->term_at, job->kill_at, job->abandon_at};

    for (int i = 0; i < 4; i++) {
        if (at[i] > 0 && at[i] < next) {
            next = at[i];
        }
    }
    return weft__ms_until(next, WEFTRUN_STORE_POLL_MS);
}

static void
weftrun_job_dispatch(weftrun_job_t *job, uint64_t key)
{
    uint64_t idx;
    weftrun_rank_t *r;

    if (key == WEFTRUN_KEY_SIGNAL) {
        weftrun_job_read_signals(job);
        return;
    }
    if (key == WEFTRUN_KEY_STORE) {
        return; /* progress runs after every round */
    }
    idx = key - WEFTRUN_KEY_STREAM;
    if (idx / 2 >= (uint64_t)job->opts.nranks) {
        return;
    }
    r = &job->ranks[idx / 2];
    weftrun_stream_read(job, r, idx % 2 ? &r->err : &r->out);
}

int
weftrun_job_run(weftrun_job_t *job)
{
    struct epoll_event evs[WEFTRUN_MAX_EVENTS];

    weftrun_job_reap(job);
    while (job->running > 0 && !job->abandoned) {
        int n = epoll_wait(job->epfd, evs, WEFTRUN_MAX_EVENTS,
                           weftrun_job_wait_ms(job));

        if (n < 0 && errno != EINTR) {
            weft__log_warn(WEFT_SUB_BOOT, "weftrun: epoll_wait: %m");
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL); /* never spin */
        }
        for (int i = 0; i < n; i++) {
            weftrun_job_dispatch(job, evs[i].data.u64);
        }
        weftrun_job_store_progress(job);
        weftrun_job_reap(job);
        weftrun_job_deadlines(job);
    }
    weftrun_job_reap_leftovers(job);
    weftrun_output_drain(job, weft__now() + WEFTRUN_OUTPUT_DRAIN_S);
    return job->cause == WEFTRUN_CAUSE_NONE ? 0 : job->exit_code;
}

/* SIGKILL every process whose parent is weftrun (orphans reparented to
 * us, and ranks that survived); returns how many were found. */
static int
weftrun_children_kill(void)
{
    pid_t self = getpid();
    struct dirent *de;
    int found = 0;
    DIR *d = opendir("/proc");

    if (d == NULL) {
        return 0;
    }
    while ((de = readdir(d)) != NULL) {
        char path[64];
        char stat[512];
        char *p;
        FILE *f;
        int ppid = -1;
        long pid = strtol(de->d_name, &p, 10);

        if (*p != '\0' || pid <= 0) {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        f = fopen(path, "re");
        if (f == NULL) {
            continue;
        }
        p = fgets(stat, sizeof(stat), f);
        fclose(f);
        /* "pid (comm) state ppid ...": comm may hold anything, even ')' */
        p = p != NULL ? strrchr(stat, ')') : NULL;
        if (p == NULL || sscanf(p + 1, " %*c %d", &ppid) != 1 ||
            ppid != (int)self) {
            continue;
        }
        weft__log_debug(WEFT_SUB_BOOT, "weftrun: killing leftover pid %ld",
                        pid);
        kill((pid_t)pid, SIGKILL);
        found++;
    }
    closedir(d);
    return found;
}

void
weftrun_job_reap_leftovers(weftrun_job_t *job)
{
    double deadline = weft__now() + WEFTRUN_REAP_S;

    /* What the ranks left in their process groups. */
    if (job->ranks != NULL) {
        weftrun_job_killpg(job, SIGKILL);
    }
    for (;;) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        pid_t pid;
        int ws;

        while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
            weft__log_debug(WEFT_SUB_BOOT, "weftrun: reaped leftover pid %d",
                            (int)pid);
        }
        if (pid < 0 && errno == ECHILD) {
            return; /* no child of ours is left */
        }
        if (weft__now() >= deadline) {
            return;
        }
        weftrun_children_kill();
        nanosleep(&ts, NULL);
    }
}
