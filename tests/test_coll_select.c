/*
 * Selection: the cost model's picks across sizes, forcing by API and by
 * environment, and the errors of a forced algorithm that cannot run.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <weft.h>

#include "collectives/select.h"
#include "context.h"
#include "harness.h"

static const char *
pick(weft_comm_t *w, weft__coll_t coll, size_t count)
{
    weft__coll_args_t a = {.coll = coll, .count = count,
                           .dtype = WEFT_FLOAT32, .op = WEFT_SUM,
                           .esize = 4};
    const weft__algo_t *algo = NULL;
    weft_status_t st;

    pthread_mutex_lock(&w->ctx->lock);
    st = weft__select(&a, w, &algo);
    pthread_mutex_unlock(&w->ctx->lock);
    WT_CHECK(st == WEFT_OK, "select: %s", weft_last_error());
    return algo != NULL ? algo->name : "(none)";
}

/* The classic shape: latency-bound algorithms for small buffers,
 * bandwidth-bound ones for large. */
static void
model_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    const char *s;

    s = pick(w, WEFT_COLL_ALLREDUCE, 2);
    WT_CHECK(strcmp(s, "recursive_doubling") == 0, "allreduce 8 B: %s", s);
    /* a power of two halves and doubles; otherwise the fold's two extra
     * transfers of the whole vector hand large buffers to the ring */
    s = pick(w, WEFT_COLL_ALLREDUCE, 16u << 20);
    WT_CHECK(strcmp(s, weft_comm_size(w) == 4 ? "rabenseifner" : "ring") ==
                 0,
             "allreduce 64 MiB on %d ranks: %s", weft_comm_size(w), s);
    if (weft_comm_size(w) != 4) {
        return; /* at 3 ranks a chain or a pairwise exchange is as short */
    }
    s = pick(w, WEFT_COLL_BROADCAST, 2);
    WT_CHECK(strcmp(s, "binomial") == 0, "broadcast 8 B: %s", s);
    s = pick(w, WEFT_COLL_BROADCAST, 16u << 20);
    WT_CHECK(strcmp(s, "chain") == 0, "broadcast 64 MiB: %s", s);
    s = pick(w, WEFT_COLL_ALLTOALL, 1);
    WT_CHECK(strcmp(s, "bruck") == 0, "alltoall 4 B: %s", s);
    s = pick(w, WEFT_COLL_ALLTOALL, 1u << 20);
    WT_CHECK(strcmp(s, "pairwise") == 0, "alltoall 4 MiB: %s", s);
    s = pick(w, WEFT_COLL_REDUCE, 2);
    WT_CHECK(strcmp(s, "binomial") == 0, "reduce 8 B: %s", s);
    s = pick(w, WEFT_COLL_BARRIER, 0);
    WT_CHECK(strcmp(s, "dissemination") == 0, "barrier: %s", s);
}

Test(coll_select, cost_model_shape)
{
    /* point-to-point algorithms only: no shared area over tcp */
    wt_job_t job4 = {.nranks = 4, .tl = "tcp"}, job3 = {.nranks = 3,
                                                        .tl = "tcp"};

    cr_assert_eq(wt_run(&job4, model_body, NULL), 0);
    cr_assert_eq(wt_run(&job3, model_body, NULL), 0);
}

/* Ranks on one node reached through shm: the node-local algorithms, at
 * every size; across "nodes" (WEFT_NODE_ID) never, and the node-aware
 * ones for large calls. */
static void
node_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    static const weft__coll_t colls[] = {
        WEFT_COLL_ALLREDUCE, WEFT_COLL_BROADCAST, WEFT_COLL_ALLGATHER,
        WEFT_COLL_REDUCE_SCATTER, WEFT_COLL_ALLTOALL, WEFT_COLL_BARRIER};
    static const size_t counts[] = {1, 1000, 1u << 20};
    int one_node = *(const int *)arg;

    for (size_t i = 0; i < sizeof(colls) / sizeof(colls[0]); i++) {
        for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
            const char *s = pick(w, colls[i], counts[k]);

            WT_CHECK((strcmp(s, "shm") == 0) == one_node,
                     "%s of %zu on %s: %s", weft__coll_name(colls[i]),
                     counts[k], one_node ? "one node" : "two nodes", s);
            /* large calls over two nodes: only what must cross them */
            WT_CHECK(one_node || counts[k] < (1u << 20) ||
                         colls[i] == WEFT_COLL_REDUCE_SCATTER ||
                         colls[i] == WEFT_COLL_ALLTOALL ||
                         colls[i] == WEFT_COLL_BARRIER ||
                         strcmp(s, "hier") == 0,
                     "%s of %zu on two nodes: %s, not hier",
                     weft__coll_name(colls[i]), counts[k], s);
        }
    }
}

Test(coll_select, node_local_algorithms_on_one_node_only)
{
    int one = 1, two = 0;
    wt_job_t job = {.nranks = 4};
    wt_job_t split = {.nranks = 4, .nodes = 2};

    cr_assert_eq(wt_run(&job, node_body, &one), 0);
    cr_assert_eq(wt_run(&split, node_body, &two), 0);
}

/* Forcing through the API wins over the model and is what runs. */
static void
force_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    float v = 1, out = 0;

    for (int i = 0; weft_coll_algorithm_name("allreduce", i) != NULL; i++) {
        const char *name = weft_coll_algorithm_name("allreduce", i);
        const char *used;

        weft_status_t st;

        WT_OK(weft_comm_set_algorithm(w, "allreduce", name));
        st = weft_allreduce(&v, &out, 1, WEFT_FLOAT32, WEFT_SUM, w);
        if (st == WEFT_ERR_UNSUPPORTED) {
            /* node-aware on one node: refused, saying which and why */
            WT_CHECK(strcmp(name, "hier") == 0 &&
                         strstr(weft_last_error(), name) != NULL,
                     "%s refused: %s", name, weft_last_error());
            continue;
        }
        WT_OK(st);
        used = weft_comm_last_algorithm(w, "allreduce");
        WT_CHECK(used != NULL && strcmp(used, name) == 0, "ran %s, not %s",
                 used ? used : "(null)", name);
        WT_CHECK(out == (float)weft_comm_size(w), "result %g", out);
    }
    WT_OK(weft_comm_set_algorithm(w, "allreduce", "auto"));
    WT_CHECK(weft_coll_algorithm_name("allreduce", 99) == NULL, "index 99");
    WT_CHECK(weft_coll_algorithm_name("allreduc", 0) == NULL, "bad name");
    WT_CHECK(weft_comm_set_algorithm(w, "allreduce", "rign") ==
                     WEFT_ERR_INVALID_ARG &&
                 strstr(weft_last_error(), "there are: ") != NULL,
             "unknown algorithm: %s", weft_last_error());
    WT_CHECK(weft_comm_set_algorithm(w, "alreduce", "ring") ==
                 WEFT_ERR_INVALID_ARG,
             "unknown collective");
}

Test(coll_select, forced_by_the_api_is_what_runs)
{
    cr_assert_eq(wt_run_ranks(3, force_body, NULL), 0);
}

/* WEFT_ALLREDUCE_ALGO forces for every call of the job. */
static void
env_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int v = 1, out = 0;
    const char *used;

    WT_OK(weft_allreduce(&v, &out, 1, WEFT_INT32, WEFT_SUM, w));
    used = weft_comm_last_algorithm(w, "allreduce");
    WT_CHECK(used != NULL && strcmp(used, "ring") == 0, "ran %s",
             used ? used : "(null)");
    WT_CHECK(out == weft_comm_size(w), "result %d", out);
}

Test(coll_select, forced_by_the_environment)
{
    wt_job_t job = {.nranks = 3, .env = {"WEFT_ALLREDUCE_ALGO=ring", NULL}};

    cr_assert_eq(wt_run(&job, env_body, NULL), 0);
}
