/*
 * floors.c - what this machine allows node-local communication at best,
 * measured the way the collectives use it, to put weft's and the peers'
 * figures next to (bench/floors.sh builds and runs it):
 *   line    two processes on two cores, each writes its own cache line
 *           and spins on the other's: the time of one exchange, which is
 *           a two-rank 8-byte allreduce with no software around it;
 *   yield   two processes on one core hand it to each other with
 *           sched_yield: the cost of one switch, which a call pays per
 *           core where ranks outnumber cores;
 *   copy    one and two processes, one per core, each memcpy'ing its own
 *           buffers: the copy bandwidth at sizes in and out of cache;
 *   sum     the same with a = b + c over float32 vectors (each n bytes):
 *           PERF.md's memory-bandwidth limit for busbw, in GB/s of a.
 * Usage: floors line|yield|copy|sum [ROUNDS]
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    _Alignas(64) _Atomic unsigned long seq;
    double v;
} line_t;

static double
now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void
pin(int cpu)
{
    cpu_set_t s;

    CPU_ZERO(&s);
    CPU_SET(cpu % (int)sysconf(_SC_NPROCESSORS_ONLN), &s);
    sched_setaffinity(0, sizeof(s), &s);
}

static void *
shared(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);

    if (p == MAP_FAILED) {
        perror("floors: mmap");
        exit(1);
    }
    return p;
}

/* Each of two processes (cores 0 and 1) publishes call i on its line and
 * waits for the other's, as a two-rank allreduce of one double. */
static void
floor_line(long n)
{
    line_t *l = shared(4096);
    pid_t p = fork();
    int me = p == 0;
    double acc = 0, t0 = 0;

    pin(me);
    for (long i = -10000; i < n; i++) {
        unsigned long seq = (unsigned long)(i + 10001);

        if (i == 0) {
            t0 = now();
        }
        l[me].v = (double)i;
        atomic_store_explicit(&l[me].seq, seq, memory_order_release);
        while (atomic_load_explicit(&l[!me].seq, memory_order_acquire) < seq) {
        }
        acc += l[!me].v;
    }
    if (me) {
        _exit(acc < 0);
    }
    waitpid(p, NULL, 0);
    printf("line:  %.3f us per exchange of one line each way (2 cores)\n",
           (now() - t0) / (double)n * 1e6);
}

/* Two processes on core 0 take turns through a shared counter, yielding
 * while it is the other's turn. */
static void
floor_yield(long n)
{
    _Atomic long *turn = shared(4096);
    pid_t p = fork();
    int me = p == 0;
    double t0;

    pin(0);
    t0 = now();
    for (long i = 0; i < n; i++) {
        long want = 2 * i + me;

        while (atomic_load(turn) != want) {
            sched_yield();
        }
        atomic_store(turn, want + 1);
    }
    if (me) {
        _exit(0);
    }
    waitpid(p, NULL, 0);
    printf("yield: %.3f us per switch between two processes on one core\n",
           (now() - t0) / (2.0 * (double)n) * 1e6);
}

/* One pass of the floor: b = a (copy), or a = b + c over floats (sum). */
static void
rate_pass(int sum, float *a, float *b, const float *c, size_t n)
{
    if (!sum) {
        memcpy(b, a, n);
    } else {
        for (size_t i = 0; i < n / sizeof(float); i++) {
            a[i] = b[i] + c[i];
        }
    }
    __asm__ volatile("" : : "r"(a), "r"(b) : "memory");
}

/* nproc processes, one per core, each copying (or summing into) its own
 * n-byte buffer: GB/s of buffer written, all processes together. */
static double
pass_rate(int sum, int nproc, size_t n)
{
    double *gbs = shared(4096);
    double total = 0;

    for (int k = 0; k < nproc; k++) {
        if (fork() == 0) {
            float *a = malloc(n), *b = malloc(n), *c = malloc(n);
            long reps = (long)(4e9 / (double)n) + 4;
            double t0;

            if (a == NULL || b == NULL || c == NULL) {
                _exit(1);
            }
            pin(k);
            memset(a, 1, n);
            memset(b, 2, n);
            memset(c, 3, n);
            rate_pass(sum, a, b, c, n);
            t0 = now();
            for (long r = 0; r < reps; r++) {
                rate_pass(sum, a, b, c, n);
            }
            gbs[k] = (double)n * (double)reps / (now() - t0) / 1e9;
            _exit(0);
        }
    }
    while (wait(NULL) > 0) {
    }
    for (int k = 0; k < nproc; k++) {
        total += gbs[k];
    }
    munmap(gbs, 4096);
    return total;
}

static void
floor_rate(int sum)
{
    static const size_t sizes[] = {4u << 10, 32u << 10, 256u << 10,
                                   2u << 20, 16u << 20, 64u << 20};
    const char *name = sum ? "sum: " : "copy:";

    printf("%s  size_per_process  1_process_GBs  2_processes_GBs\n", name);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        double one = pass_rate(sum, 1, sizes[i]);

        printf("%s  %10zu KiB %14.1f %16.1f\n", name, sizes[i] >> 10, one,
               pass_rate(sum, 2, sizes[i]));
    }
}

int
main(int argc, char **argv)
{
    long n = argc > 2 ? atol(argv[2]) : 0;

    if (argc < 2) {
        fprintf(stderr, "usage: floors line|yield|copy|sum [ROUNDS]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(argv[1], "line") == 0) {
        floor_line(n > 0 ? n : 1000000);
    } else if (strcmp(argv[1], "yield") == 0) {
        floor_yield(n > 0 ? n : 100000);
    } else if (strcmp(argv[1], "copy") == 0) {
        floor_rate(0);
    } else if (strcmp(argv[1], "sum") == 0) {
        floor_rate(1);
    } else {
        fprintf(stderr, "floors: unknown test '%s'\n", argv[1]);
        return 2;
    }
    return 0;
}
