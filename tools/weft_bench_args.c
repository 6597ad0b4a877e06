/*
 * weft-bench: the command line. Sizes and defaults as
 * ../shared/peers/mpi_coll_bench.c; a bad argument prints a message and
 * exits 2.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weft_bench.h"

static const struct {
    const char *name;
    weft_dtype_t dtype;
} bench_dtypes[] = {
    {"int8", WEFT_INT8},         {"uint8", WEFT_UINT8},
    {"int32", WEFT_INT32},       {"uint32", WEFT_UINT32},
    {"int64", WEFT_INT64},       {"uint64", WEFT_UINT64},
    {"fp16", WEFT_FLOAT16},      {"half", WEFT_FLOAT16},
    {"float16", WEFT_FLOAT16},   {"bf16", WEFT_BFLOAT16},
    {"bfloat16", WEFT_BFLOAT16}, {"fp32", WEFT_FLOAT32},
    {"float", WEFT_FLOAT32},     {"float32", WEFT_FLOAT32},
    {"fp64", WEFT_FLOAT64},      {"double", WEFT_FLOAT64},
    {"float64", WEFT_FLOAT64},
};

const char *const bench_ops[WEFT_OP_COUNT] = {
    [WEFT_SUM] = "sum", [WEFT_PROD] = "prod", [WEFT_MIN] = "min",
    [WEFT_MAX] = "max", [WEFT_AVG] = "avg",
};

static void
bench_usage(FILE *out)
{
    fprintf(out,
            "usage: weft-bench COLL [-b MIN] [-e MAX] [-f FACTOR] [-d DTYPE] "
            "[-o OP]\n"
            "                  [-n ITERS] [-w WARMUP] [-a ALGO|all] [-r ROOT] "
            "[--check]\n"
            "                  [--inplace] [--huge] [--json]\n"
            "       weft-bench pingpong [-b MIN] [-e MAX] [-f FACTOR] "
            "[-n ITERS] [-w WARMUP]\n"
            "                  [-W WINDOW] [--check]\n"
            "  run under weftrun, e.g. weftrun -n 4 weft-bench allreduce "
            "--check\n"
            "  COLL: allreduce reduce broadcast (bcast) allgather "
            "reduce_scatter alltoall\n"
            "        gather scatter barrier\n"
            "  sizes are per-rank buffers (nccl-tests) and take K/M/G; "
            "defaults -b 8 -e 64M\n"
            "  -f 2 (pingpong: -f 4); ITERS 1000 below 64K, 100 up to 16M, "
            "20 above;\n"
            "  WARMUP ITERS/10, at least 2 (pingpong: at least 5000 below "
            "64K)\n"
            "  -d int8 uint8 int32 uint32 int64 uint64 fp16 bf16 fp32 fp64 "
            "(default fp32)\n"
            "  -o sum prod min max avg (default sum)   -r ROOT (default 0)\n"
            "  -a ALGO   force an algorithm; all: every algorithm, one row "
            "per size and\n"
            "            algorithm (the algo column says which)\n"
            "  --check   verify every output element after the timed loop "
            "(exit 1 on errors)\n"
            "  --inplace time the in-place form (sendbuf == recvbuf)\n"
            "  --huge    buffers in transparent huge pages "
            "(madvise MADV_HUGEPAGE), as a\n"
            "            framework's allocator may give them\n"
            "  --json    one JSON object per size instead of the table\n");
}

int
bench_bad(const char *fmt, const char *arg)
{
    fprintf(stderr, "weft-bench: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (weft-bench --help)\n");
    return BENCH_EXIT_USAGE;
}

static int
bench_parse_long(const char *s, long lo, long hi, long *out_p)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        return -1;
    }
    *out_p = v;
    return 0;
}

static int
bench_parse_name(const char *s, bench_opts_t *o, int c)
{
    if (c == 'd') {
        for (size_t i = 0; i < sizeof(bench_dtypes) / sizeof(*bench_dtypes);
             i++) {
            if (strcmp(s, bench_dtypes[i].name) == 0) {
                o->dtype = bench_dtypes[i].dtype;
                return 0;
            }
        }
        return -1;
    }
    for (int op = 0; op < WEFT_OP_COUNT; op++) {
        if (strcmp(s, bench_ops[op]) == 0) {
            o->op = (weft_op_t)op;
            return 0;
        }
    }
    return -1;
}

int
bench_parse(int argc, char **argv, bench_opts_t *o, int *pingpong_p)
{
    static const struct option lopts[] = {
        {"check", no_argument, NULL, 'c'},   {"json", no_argument, NULL, 'j'},
        {"inplace", no_argument, NULL, 'i'}, {"huge", no_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},    {NULL, 0, NULL, 0}};
    const char *coll = NULL;
    char *end;
    int c, factor_set = 0;
    long v;

    while ((c = getopt_long(argc, argv, "b:e:f:n:w:W:d:o:a:r:h", lopts,
                            NULL)) != -1) {
        switch (c) {
        case 'b':
        case 'e':
            if (bench_parse_size(optarg, c == 'b' ? &o->min : &o->max)) {
                return bench_bad(c == 'b' ? "bad size for -b: '%s'"
                                          : "bad size for -e: '%s'",
                                 optarg);
            }
            break;
        case 'f':
            o->factor = strtod(optarg, &end);
            if (*end != '\0' || !(o->factor > 1 && o->factor < 1e6)) {
                return bench_bad("bad -f '%s': need a factor above 1", optarg);
            }
            factor_set = 1;
            break;
        case 'n':
        case 'w':
        case 'W':
        case 'r': {
            long lo = c == 'n' || c == 'W';
            long hi = c == 'W' ? 1024 : c == 'r' ? INT32_MAX : BENCH_MAX_ITERS;

            if (bench_parse_long(optarg, lo, hi, &v) != 0) {
                char msg[96];

                snprintf(msg, sizeof(msg),
                         "bad value for -%c: '%%s' (an integer from %ld to "
                         "%ld)",
                         c, lo, hi);
                return bench_bad(msg, optarg);
            }
            if (c == 'n') {
                o->iters = v;
            } else if (c == 'w') {
                o->warmup = v;
            } else if (c == 'W') {
                o->window = (int)v;
            } else {
                o->root = (int)v;
            }
            break;
        }
        case 'd':
        case 'o':
            if (bench_parse_name(optarg, o, c) != 0) {
                return bench_bad(
                    c == 'd' ? "unknown dtype '%s' (int8 uint8 int32 uint32 "
                               "int64 uint64 fp16 bf16 fp32 fp64)"
                             : "unknown op '%s' (sum prod min max avg)",
                    optarg);
            }
            break;
        case 'a':
            o->algo = optarg;
            break;
        case 'c':
            o->check = 1;
            break;
        case 'j':
            o->json = 1;
            break;
        case 'i':
            o->inplace = 1;
            break;
        case 'H':
            o->huge = 1;
            break;
        case 'h':
            bench_usage(stdout);
            return 1;
        default:
            return bench_bad("%s", "bad option");
        }
    }
    if (optind < argc) {
        coll = argv[optind++];
    }
    if (coll == NULL) {
        return bench_bad("%s", "no collective given");
    }
    if (optind < argc) {
        return bench_bad("unexpected argument '%s'", argv[optind]);
    }
    *pingpong_p = strcmp(coll, "pingpong") == 0;
    if (*pingpong_p) {
        o->factor = factor_set ? o->factor : 4;
    } else if ((c = bench_coll_by_name(coll)) < 0) {
        return bench_bad("unknown collective '%s' (allreduce reduce "
                         "broadcast bcast allgather reduce_scatter alltoall "
                         "gather scatter barrier pingpong)",
                         coll);
    } else {
        o->coll = (bench_coll_t)c;
    }
    if (o->min > o->max) {
        return bench_bad("%s", "-b is larger than -e");
    }
    if (!*pingpong_p && bench_coll_reduces(o->coll) && o->op == WEFT_AVG &&
        o->dtype != WEFT_FLOAT16 && o->dtype != WEFT_BFLOAT16 &&
        o->dtype != WEFT_FLOAT32 && o->dtype != WEFT_FLOAT64) {
        return bench_bad("%s", "-o avg needs a floating-point dtype");
    }
    return 0;
}
