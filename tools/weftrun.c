/*
 * weftrun: start N ranks of a program, serve their bootstrap store with a
 * fresh job key, and supervise them so that a job never hangs: the first
 * rank that fails is named, every other rank hears about it through the
 * store, and whatever is still running is stopped (grace period, SIGTERM,
 * SIGKILL). weftrun exits with the first failing rank's status.
 *
 * This file: options, --help, setting the job up and taking it down.
 * weftrun.h lists the other files.
 */
#include "build_config.h"
#include "weftrun.h"

#include <weft/version.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bootstrap/store.h"
#include "clock.h"
#include "config.h"
#include "log.h"

#define WEFTRUN_EXIT_FAILURE 1
#define WEFTRUN_CONTINUE     (-1)

enum {
    WEFTRUN_OPT_TL = 256,
    WEFTRUN_OPT_BIND,
    WEFTRUN_OPT_TIMEOUT,
    WEFTRUN_OPT_GRACE,
    WEFTRUN_OPT_HOST_CMD,
    WEFTRUN_OPT_HOSTS,
    WEFTRUN_OPT_RENDEZVOUS,
    WEFTRUN_OPT_TAG_OUTPUT
};

static const struct option weftrun_long_opts[] = {
    {"np", required_argument, NULL, 'n'},
    {"tl", required_argument, NULL, WEFTRUN_OPT_TL},
    {"bind", required_argument, NULL, WEFTRUN_OPT_BIND},
    {"timeout", required_argument, NULL, WEFTRUN_OPT_TIMEOUT},
    {"grace", required_argument, NULL, WEFTRUN_OPT_GRACE},
    {"host-cmd", required_argument, NULL, WEFTRUN_OPT_HOST_CMD},
    {"hosts", required_argument, NULL, WEFTRUN_OPT_HOSTS},
    {"rendezvous", required_argument, NULL, WEFTRUN_OPT_RENDEZVOUS},
    {"tag-output", no_argument, NULL, WEFTRUN_OPT_TAG_OUTPUT},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0}};

/* clang-format off */
static const char weftrun_help_text[] =
    "Usage: weftrun -n N [options] [--] prog [args...]\n"
    "\n"
    "Start N ranks of prog, serve their bootstrap store with a fresh job\n"
    "key, and supervise them: when one rank fails, every other rank is told\n"
    "at once and the job is stopped. weftrun never waits forever and leaves\n"
    "no process of the job behind.\n"
    "\n"
    "Options:\n"
    "  -n, --np N          number of ranks, 1 to 65536 (required)\n"
    "      --tl LIST       transports of the ranks, e.g. self,tcp (sets\n"
    "                      WEFT_TL)\n"
    "      --bind MODE     core: bind each rank to one core (its local rank\n"
    "                      modulo the cores of this machine); numa: to the\n"
    "                      cores of one NUMA node (local rank modulo the\n"
    "                      NUMA nodes, round-robin); none: no binding.\n"
    "                      Default: core unless --hosts is given (ranks\n"
    "                      beyond the cores share them round-robin). A\n"
    "                      binding that fails is a warning.\n"
    "      --timeout S     wall-clock limit of the whole job in seconds\n"
    "                      (30, 2.5, 90s); on expiry the ranks are told,\n"
    "                      stopped as after a failure, and weftrun exits 124\n"
    "      --grace S       after a failure or the timeout, how long the other\n"
    "                      ranks get to exit on their own before SIGTERM\n"
    "                      (default 2). Ranks the store cannot reach (a host\n"
    "                      cut off) learn of a failure only from their own\n"
    "                      deadline (WEFT_TIMEOUT): a grace that long lets\n"
    "                      them report it\n"
    "      --hosts LIST    comma list of H distinct host names. Rank r goes\n"
    "                      to host floor(r * H / N): consecutive blocks of\n"
    "                      ranks whose sizes differ by at most one (N=5,\n"
    "                      H=2: ranks 0-2 on the first host, 3-4 on the\n"
    "                      second). Each rank gets WEFT_NODE_ID=<its host>;\n"
    "                      WEFT_LOCAL_RANK and WEFT_LOCAL_SIZE count the\n"
    "                      ranks of its host. The ranks still start here;\n"
    "                      --host-cmd takes them there.\n"
    "      --host-cmd TPL  run each rank as TPL followed by prog args. TPL\n"
    "                      is split on blanks (no shell) after {host} (the\n"
    "                      rank's host; this machine's name without --hosts)\n"
    "                      and {rank} are replaced in each word.\n"
    "                      Example: --host-cmd 'ip netns exec {host}'\n"
    "      --rendezvous HOST:PORT\n"
    "                      where the bootstrap store listens (default\n"
    "                      127.0.0.1:0, a free loopback port); ranks in\n"
    "                      other network namespaces or hosts need an address\n"
    "                      they can reach\n"
    "      --tag-output    prefix each line the ranks write to stdout and\n"
    "                      stderr with \"[R] \" (R: the rank); a line longer\n"
    "                      than 64 KiB is cut; an unfinished last line is\n"
    "                      ended at exit\n"
    "  -h, --help          this text\n"
    "  -V, --version       weftrun's version\n"
    "\n"
    "Options end at the first argument that is not one (or at --): what\n"
    "follows is prog and its arguments, passed unchanged.\n"
    "\n"
    "Each rank gets weftrun's environment plus:\n"
    "  WEFT_RANK, WEFT_SIZE, WEFT_LOCAL_RANK, WEFT_LOCAL_SIZE\n"
    "  WEFT_RENDEZVOUS   the address of the bootstrap store\n"
    "  WEFT_JOB_KEY      the job key (hex): only ever in the environment,\n"
    "                    never on a command line\n"
    "  WEFT_TL           with --tl\n"
    "  WEFT_NODE_ID      with --hosts\n"
    "Inherited WEFT_JOB_KEY_FILE and WEFT_RENDEZVOUS_SERVER are dropped.\n"
    "Every rank runs in its own process group. stdin: rank 0 reads weftrun's\n"
    "stdin unless it is a terminal; the other ranks read /dev/null.\n"
    "\n"
    "Supervision:\n"
    "  A rank that exits with a nonzero status or is killed by a signal\n"
    "  fails the job: weftrun names it on stderr, sends that message to\n"
    "  every rank through the store (weft ranks then fail fast with it),\n"
    "  gives the others 2 s (--grace) to exit on their own, then sends\n"
    "  SIGTERM to their process groups, and SIGKILL 3 s later. The first\n"
    "  SIGINT, SIGTERM or SIGHUP weftrun gets is forwarded to every rank's\n"
    "  process group; a second one kills them. SIGTSTP (^Z) stops the ranks\n"
    "  with weftrun, and fg, bg or SIGCONT resumes them: the stop counts\n"
    "  neither as missed heartbeats nor against --timeout (it does against\n"
    "  a blocking call's WEFT_TIMEOUT). When the last rank has exited,\n"
    "  whatever the ranks left running in their process groups (or\n"
    "  orphaned) is killed. If weftrun itself is killed with SIGKILL, the\n"
    "  kernel kills each rank's own process (PR_SET_PDEATHSIG).\n"
    "\n"
    "Exit status (the first of these events decides):\n"
    "  0        every rank exited with status 0\n"
    "  S        the first failing rank exited with status S\n"
    "  128+SIG  the first failing rank was killed by signal SIG; a rank\n"
    "           killed by a signal within 0.5 s after another rank exited\n"
    "           nonzero counts as the first (those exits followed from it)\n"
    "  124      --timeout expired\n"
    "  128+SIG  weftrun got signal SIG (SIGINT, SIGTERM, SIGHUP)\n"
    "  127      a rank's program could not be executed (that rank's status)\n"
    "  2        usage error\n"
    "  1        weftrun itself failed (store, fork)\n"
    "\n"
    "weftrun reads WEFT_LOG_LEVEL, WEFT_LOG_SUBSYS, WEFT_HANDSHAKE_TIMEOUT\n"
    "and WEFT_BOOT_MAX_PENDING for itself (weft-info -c lists every\n"
    "variable).\n";
/* clang-format on */

int
weftrun_usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("weftrun: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'weftrun --help' for more information.\n", stderr);
    return WEFTRUN_EXIT_USAGE;
}

static int
weftrun_nranks_parse(const char *text, int *n_p)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || n < 1 ||
        n > WEFTRUN_MAX_RANKS) {
        return -1;
    }
    *n_p = (int)n;
    return 0;
}

static int
weftrun_timeout_parse(const char *text, double *s_p)
{
    char *end;
    double s;

    errno = 0;
    s = strtod(text, &end);
    if (errno != 0 || end == text) {
        return -1;
    }
    if (*end == 's' && end[1] == '\0') {
        end++;
    }
    if (*end != '\0' || !isfinite(s) || s <= 0 || s > 1e8) {
        return -1;
    }
    *s_p = s;
    return 0;
}

static int
weftrun_bind_parse(const char *text, weftrun_bind_t *bind_p)
{
    if (strcmp(text, "core") == 0) {
        *bind_p = WEFTRUN_BIND_CORE;
    } else if (strcmp(text, "numa") == 0) {
        *bind_p = WEFTRUN_BIND_NUMA;
    } else if (strcmp(text, "none") == 0) {
        *bind_p = WEFTRUN_BIND_NONE;
    } else {
        return -1;
    }
    return 0;
}

/* WEFTRUN_CONTINUE, or the exit status (--help, --version, an error). */
static int
weftrun_opts_parse(int argc, char **argv, weftrun_opts_t *o)
{
    int have_n = 0;
    int c;

    memset(o, 0, sizeof(*o));
    o->grace = WEFTRUN_GRACE_S;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:n:hV", weftrun_long_opts, NULL)) !=
           -1) {
        switch (c) {
        case 'n':
            if (weftrun_nranks_parse(optarg, &o->nranks) != 0) {
                return weftrun_usage_error(
                    "-n needs a number of ranks from 1 to %d, not '%s'",
                    WEFTRUN_MAX_RANKS, optarg);
            }
            have_n = 1;
            break;
        case WEFTRUN_OPT_TL:
            if (optarg[0] == '\0') {
                return weftrun_usage_error("--tl needs a list of transports");
            }
            o->tl = optarg;
            break;
        case WEFTRUN_OPT_BIND:
            if (weftrun_bind_parse(optarg, &o->bind) != 0) {
                return weftrun_usage_error(
                    "--bind takes core, numa or none, not '%s'", optarg);
            }
            break;
        case WEFTRUN_OPT_TIMEOUT:
            if (weftrun_timeout_parse(optarg, &o->timeout) != 0) {
                return weftrun_usage_error(
                    "--timeout needs a positive number of seconds, not '%s'",
                    optarg);
            }
            break;
        case WEFTRUN_OPT_GRACE:
            if (weftrun_timeout_parse(optarg, &o->grace) != 0) {
                return weftrun_usage_error(
                    "--grace needs a positive number of seconds, not '%s'",
                    optarg);
            }
            break;
        case WEFTRUN_OPT_HOST_CMD:
            if (strspn(optarg, " \t") == strlen(optarg)) {
                return weftrun_usage_error("--host-cmd needs a command");
            }
            o->host_cmd = optarg;
            break;
        case WEFTRUN_OPT_HOSTS:
            o->hosts = optarg;
            break;
        case WEFTRUN_OPT_RENDEZVOUS:
            if (optarg[0] == '\0') {
                return weftrun_usage_error("--rendezvous needs HOST:PORT");
            }
            o->rendezvous = optarg;
            break;
        case WEFTRUN_OPT_TAG_OUTPUT:
            o->tag_output = 1;
            break;
        case 'h':
            fputs(weftrun_help_text, stdout);
            return 0;
        case 'V':
            printf("weftrun (weft) %s\n", WEFT_VERSION_STRING);
            return 0;
        case ':':
            return weftrun_usage_error("option '%s' needs a value",
                                       argv[optind - 1]);
        default:
            if (optopt != 0) {
                return weftrun_usage_error("unknown option '-%c'", optopt);
            }
            return weftrun_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (!have_n) {
        return weftrun_usage_error("the number of ranks is missing (-n N)");
    }
    if (optind >= argc) {
        return weftrun_usage_error("no program to run");
    }
    o->argv = argv + optind;
    return WEFTRUN_CONTINUE;
}

static void
weftrun_store_on_lost(void *arg, int rank, const char *reason)
{
    (void)arg;
    /* The SIGCHLD path is authoritative; this is only a hint. */
    weft__log_info(WEFT_SUB_BOOT,
                   "weftrun: rank %d left the store without goodbye: %s", rank,
                   reason);
}

static int
weftrun_store_create(weftrun_job_t *job, const weft_config_t *cfg)
{
    weft__boot_server_params_t params;
    uint8_t key[WEFT_AUTH_KEY_MAX];
    uint8_t store_key[WEFT_AUTH_KEY_LEN];
    size_t key_len = 0;
    weft_status_t st;

    st = weft__auth_key_generate(job->key_hex);
    if (st == WEFT_OK) {
        st = weft__auth_key_parse(job->key_hex, key, &key_len);
    }
    if (st != WEFT_OK) {
        fprintf(stderr, "weftrun: cannot make a job key: %s\n",
                weft_last_error());
        return WEFTRUN_EXIT_FAILURE;
    }
    weft__auth_derive(key, key_len, WEFT_AUTH_LABEL_STORE, store_key);
    weft__memzero(key, sizeof(key));

    memset(&params, 0, sizeof(params));
    params.bind =
        job->opts.rendezvous != NULL ? job->opts.rendezvous : "127.0.0.1:0";
    params.key = store_key;
    params.nranks = job->opts.nranks;
    params.handshake_timeout = cfg->handshake_timeout;
    params.max_pending = cfg->boot.max_pending;
    params.heartbeat_timeout = cfg->heartbeat_timeout;
    params.on_lost = weftrun_store_on_lost;
    params.on_lost_arg = job;
    st = weft__boot_server_create(&params, &job->srv);
    weft__memzero(store_key, sizeof(store_key));
    if (st != WEFT_OK) {
        fprintf(stderr, "weftrun: cannot serve the bootstrap store on %s: %s\n",
                params.bind, weft_last_error());
        /* a --rendezvous that does not parse is a usage error */
        return st == WEFT_ERR_INVALID_ARG ? WEFTRUN_EXIT_USAGE
                                          : WEFTRUN_EXIT_FAILURE;
    }
    weft__log_debug(WEFT_SUB_BOOT, "weftrun: store at %s for %d ranks",
                    weft__boot_server_address(job->srv), job->opts.nranks);
    return 0;
}

static int
weftrun_job_setup(weftrun_job_t *job)
{
    weft_config_t cfg;
    int rc;

    if (weft__config_load(&cfg) != WEFT_OK) {
        fprintf(stderr, "weftrun: %s\n", weft_last_error());
        return WEFTRUN_EXIT_USAGE;
    }
    weft__log_configure(cfg.log_level, cfg.log_subsys);
    rc = weftrun_layout_create(job);
    if (rc == 0) {
        rc = weftrun_store_create(job, &cfg);
    }
    weft__config_free(&cfg);
    if (rc != 0) {
        return rc;
    }
    job->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (job->devnull < 0) {
        fprintf(stderr, "weftrun: cannot open /dev/null: %s\n",
                strerror(errno));
        return WEFTRUN_EXIT_FAILURE;
    }
    if (weftrun_signals_init(job) != 0) {
        return WEFTRUN_EXIT_FAILURE;
    }
    return 0;
}

static void
weftrun_job_start(weftrun_job_t *job)
{
    job->start = weft__now();
    for (int i = 0; i < job->opts.nranks; i++) {
        if (weftrun_rank_start(job, &job->ranks[i]) != 0) {
            char reason[WEFT_STORE_REASON_MAX];

            snprintf(reason, sizeof(reason), "weftrun could not start rank %d",
                     i);
            weftrun_job_stop(job, WEFTRUN_CAUSE_LAUNCH, WEFTRUN_EXIT_FAILURE,
                             -1, reason);
            break;
        }
    }
    /* Every rank has its copy (in its environment): drop ours. */
    weft__memzero(job->key_hex, sizeof(job->key_hex));
}

static void
weftrun_job_teardown(weftrun_job_t *job)
{
    if (job->srv != NULL) {
        weft_status_t st;

        st = weft__boot_server_drain(job->srv,
                                     weft__now() + WEFTRUN_STORE_DRAIN_S);
        if (st != WEFT_OK) {
            weft__log_debug(WEFT_SUB_BOOT, "weftrun: store drain: %s",
                            weft_status_string(st));
        }
        weft__boot_server_destroy(job->srv);
        job->srv = NULL;
    }
    weft__memzero(job->key_hex, sizeof(job->key_hex));
    if (job->sigfd >= 0) {
        close(job->sigfd);
    }
    if (job->epfd >= 0) {
        close(job->epfd);
    }
    if (job->devnull >= 0) {
        close(job->devnull);
    }
    weftrun_layout_destroy(job);
}

/* With fd 0, 1 or 2 closed, the next open() would take its place (and a
 * rank would read or write a socket of ours): fill them with /dev/null. */
static void
weftrun_stdio_check(void)
{
    for (int fd = 0; fd < 3; fd++) {
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            int nfd = open("/dev/null", O_RDWR);

            if (nfd >= 0 && nfd != fd) {
                close(nfd); /* a lower fd was free after all */
            }
        }
    }
}

int
main(int argc, char **argv)
{
    weftrun_job_t job;
    int rc;

    memset(&job, 0, sizeof(job));
    job.epfd = -1;
    job.sigfd = -1;
    job.devnull = -1;
    weftrun_stdio_check();
    rc = weftrun_opts_parse(argc, argv, &job.opts);
    if (rc != WEFTRUN_CONTINUE) {
        return rc;
    }
    rc = weftrun_job_setup(&job);
    if (rc == 0) {
        weftrun_job_start(&job);
        rc = weftrun_job_run(&job);
    }
    weftrun_job_teardown(&job);
    return rc;
}
