/* Tag matching: FIFO per tag, either side first, cancel, drain. */
#include "build_config.h"

#include <criterion/criterion.h>
#include <stdlib.h>

#include "p2p/match.h"

typedef struct item {
    weft__match_entry_t e;
    int id;
} item_t;

static item_t *
mk(uint64_t tag, int id)
{
    item_t *it = calloc(1, sizeof(*it));

    it->e.tag = tag;
    it->id = id;
    return it;
}

#define ID(_e) (((item_t *)(_e))->id)

Test(p2p_match, arrival_matches_the_oldest_posted_receive, .timeout = 10)
{
    weft__match_queue_t q;

    weft__match_queue_init(&q);
    weft__match_add_posted(&q, &mk(5, 1)->e);
    weft__match_add_posted(&q, &mk(6, 2)->e);
    weft__match_add_posted(&q, &mk(5, 3)->e);
    cr_assert_eq(ID(weft__match_arrive(&q, 5)), 1);
    cr_assert_eq(ID(weft__match_arrive(&q, 5)), 3);
    cr_assert_null(weft__match_arrive(&q, 5));
    cr_assert_eq(ID(weft__match_arrive(&q, 6)), 2);
    cr_assert_eq(q.n_posted, 0);
}

Test(p2p_match, posting_matches_the_oldest_unexpected, .timeout = 10)
{
    weft__match_queue_t q;

    weft__match_queue_init(&q);
    for (int i = 0; i < 100; i++) {
        weft__match_add_unexp(&q, &mk((uint64_t)(i % 3), i)->e);
    }
    for (int i = 0; i < 100; i += 3) {
        cr_assert_eq(ID(weft__match_post(&q, 0)), i);
    }
    cr_assert_null(weft__match_post(&q, 0));
    cr_assert_eq(ID(weft__match_post(&q, 2)), 2);
    cr_assert_eq(q.n_unexp, 100 - 34 - 1);
}

Test(p2p_match, tags_differing_only_in_high_bits_do_not_match, .timeout = 10)
{
    weft__match_queue_t q;

    weft__match_queue_init(&q);
    weft__match_add_posted(&q, &mk(7ull | 1ull << 40, 1)->e);
    cr_assert_null(weft__match_arrive(&q, 7));
    cr_assert_null(weft__match_arrive(&q, 7ull | 2ull << 40));
    cr_assert_eq(ID(weft__match_arrive(&q, 7ull | 1ull << 40)), 1);
}

Test(p2p_match, remove_and_pop, .timeout = 10)
{
    weft__match_queue_t q;
    item_t *a = mk(1, 1), *b = mk(1, 2), *c = mk(9, 3);

    weft__match_queue_init(&q);
    weft__match_add_posted(&q, &a->e);
    weft__match_add_posted(&q, &b->e);
    weft__match_add_posted(&q, &c->e);
    weft__match_remove_posted(&q, &a->e);
    cr_assert_eq(ID(weft__match_arrive(&q, 1)), 2);
    cr_assert_eq(ID(weft__match_pop_posted(&q)), 3);
    cr_assert_null(weft__match_pop_posted(&q));
    weft__match_add_unexp(&q, &a->e);
    cr_assert_eq(ID(weft__match_pop_unexp(&q)), 1);
    cr_assert_null(weft__match_pop_unexp(&q));
    cr_assert_eq(q.n_posted + q.n_unexp, 0);
}

Test(p2p_match, many_tags_in_reverse_order, .timeout = 10)
{
    weft__match_queue_t q;

    weft__match_queue_init(&q);
    for (int i = 999; i >= 0; i--) {
        weft__match_add_posted(&q, &mk((uint64_t)i, i)->e);
    }
    for (int i = 0; i < 1000; i++) {
        weft__match_entry_t *e = weft__match_arrive(&q, (uint64_t)i);

        cr_assert_not_null(e, "tag %d", i);
        cr_assert_eq(ID(e), i);
    }
}
