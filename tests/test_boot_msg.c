/* Bootstrap store frames: every type round-trips and re-encodes to the
 * same bytes, every truncation and every bad field is refused with a
 * reason. */
#include "build_config.h"

#include <criterion/criterion.h>
#include <string.h>

#include "bootstrap/store_msg.h"


static void
msg_round_trip(weft__store_msg_t *m, int from_server)
{
    uint8_t buf[1024], again[1024];
    weft__store_msg_t d;
    size_t len = 0, len2 = 0;
    char why[160] = "";

    cr_assert_eq(weft__store_msg_encode(m, buf, sizeof(buf), &len), WEFT_OK,
                 "encode %s", weft__store_msg_type_name(m->type));
    cr_assert_eq(len, weft__store_msg_size(m));
    cr_assert_eq(weft__store_msg_decode_frame(buf, len, from_server, &d, why,
                                              sizeof(why)),
                 WEFT_OK, "%s: %s", weft__store_msg_type_name(m->type), why);
    cr_assert_eq(weft__store_msg_encode(&d, again, sizeof(again), &len2),
                 WEFT_OK);
    cr_assert_eq(len2, len);
    cr_assert_arr_eq(buf, again, len, "%s does not re-encode the same",
                     weft__store_msg_type_name(m->type));
    /* the other direction refuses it */
    cr_assert_eq(weft__store_msg_decode_frame(buf, len, !from_server, &d, why,
                                              sizeof(why)),
                 WEFT_ERR_PROTOCOL);
    /* and every truncation is refused */
    for (size_t cut = 0; cut < len; cut++) {
        cr_assert_eq(weft__store_msg_decode_frame(buf, cut, from_server, &d,
                                                  why, sizeof(why)),
                     WEFT_ERR_PROTOCOL, "%s cut at %zu",
                     weft__store_msg_type_name(m->type), cut);
    }
}

Test(boot_msg, round_trips, .timeout = 10)
{
    static const uint8_t val[5] = {1, 2, 0, 4, 5};
    static const uint8_t ranks[8] = {2, 0, 0, 0, 5, 0, 0, 0};
    weft__store_msg_t m;

    memset(&m, 0, sizeof(m));
    m.type = WEFT_STORE_MSG_PUT;
    m.id = 77;
    strcpy(m.name, "addr/3");
    m.data = val;
    m.len = sizeof(val);
    msg_round_trip(&m, 0);
    m.type = WEFT_STORE_MSG_ALLGATHER;
    msg_round_trip(&m, 0);
    m.type = WEFT_STORE_MSG_GET;
    msg_round_trip(&m, 0);
    m.type = WEFT_STORE_MSG_FENCE;
    msg_round_trip(&m, 0);
    m.type = WEFT_STORE_MSG_STATUS;
    m.what = WEFT_STORE_WHAT_ALLGATHER;
    msg_round_trip(&m, 0);
    m.type = WEFT_STORE_MSG_VALUE;
    msg_round_trip(&m, 1);
    m.type = WEFT_STORE_MSG_GATHERED;
    msg_round_trip(&m, 1);

    memset(&m, 0, sizeof(m));
    m.type = WEFT_STORE_MSG_BYE;
    msg_round_trip(&m, 0);
    /* a heartbeat that asks for an answer, and the answer (only the
     * server sends it) */
    m.type = WEFT_STORE_MSG_HEARTBEAT;
    m.id = WEFT_STORE_BEAT_ASK;
    msg_round_trip(&m, 0);
    m.type = WEFT_STORE_MSG_BEAT;
    msg_round_trip(&m, 1);
    m.id = 0;
    m.type = WEFT_STORE_MSG_OK;
    m.id = 9;
    msg_round_trip(&m, 1);
    m.type = WEFT_STORE_MSG_MISSING;
    m.total = 40;
    m.data = ranks;
    m.len = sizeof(ranks);
    msg_round_trip(&m, 1);
    memset(&m, 0, sizeof(m));
    m.type = WEFT_STORE_MSG_ERROR;
    m.status = WEFT_ERR_MISMATCH;
    strcpy(m.reason, "allgather 'x': rank 1 contributes 3 bytes, others 4");
    msg_round_trip(&m, 1);
    memset(&m, 0, sizeof(m));
    m.type = WEFT_STORE_MSG_EVENT;
    m.event.kind = WEFT_STORE_EVENT_ABORT;
    m.event.origin = -1;
    m.event.failed_rank = 2;
    m.event.comm_id = WEFT_STORE_ALL_COMMS;
    m.event.status = WEFT_ERR_PEER_LOST;
    strcpy(m.event.reason, "rank 2 was killed by signal 9");
    msg_round_trip(&m, 1);
    m.type = WEFT_STORE_MSG_ABORT;
    msg_round_trip(&m, 0);
}

static void
msg_expect_bad(const uint8_t *buf, size_t len, int from_server,
               const char *word, const char *what)
{
    weft__store_msg_t d;
    char why[160] = "";

    cr_assert_eq(weft__store_msg_decode_frame(buf, len, from_server, &d, why,
                                              sizeof(why)),
                 WEFT_ERR_PROTOCOL, "%s accepted", what);
    cr_assert_not_null(strstr(why, word), "%s: reason '%s' lacks '%s'", what,
                       why, word);
}

Test(boot_msg, bad_fields_rejected_with_reason, .timeout = 10)
{
    uint8_t good[512], bad[512];
    weft__store_msg_t m;
    size_t len;

    memset(&m, 0, sizeof(m));
    m.type = WEFT_STORE_MSG_GET;
    strcpy(m.name, "key");
    cr_assert_eq(weft__store_msg_encode(&m, good, sizeof(good), &len), WEFT_OK);
    memcpy(bad, good, len);
    bad[5] = 1;
    msg_expect_bad(bad, len, 0, "reserved", "reserved byte");
    memcpy(bad, good, len);
    bad[4] = 99;
    msg_expect_bad(bad, len, 0, "unknown type", "type");
    memcpy(bad, good, len);
    bad[4] = WEFT_STORE_MSG_VALUE;
    msg_expect_bad(bad, len, 0, "may not come", "direction");
    memcpy(bad, good, len);
    bad[0] = 0xff, bad[1] = 0xff, bad[2] = 0xff, bad[3] = 0xff;
    msg_expect_bad(bad, len, 0, "at most", "oversized length");
    memcpy(bad, good, len);
    bad[12] = 0; /* name length 0 */
    msg_expect_bad(bad, len, 0, "malformed", "empty name");
    memcpy(bad, good, len);
    bad[15] = '\0'; /* NUL inside the name */
    msg_expect_bad(bad, len, 0, "malformed", "NUL in name");
    memcpy(bad, good, len);
    bad[0]++; /* one stray byte */
    bad[len] = 'x';
    msg_expect_bad(bad, len + 1, 0, "stray", "stray byte");

    /* an event with a positive status, and an unterminated reason */
    memset(&m, 0, sizeof(m));
    m.type = WEFT_STORE_MSG_EVENT;
    m.event.kind = WEFT_STORE_EVENT_ABORT;
    m.event.origin = 1;
    m.event.failed_rank = -1;
    m.event.status = WEFT_ERR_ABORTED;
    strcpy(m.event.reason, "x");
    cr_assert_eq(weft__store_msg_encode(&m, good, sizeof(good), &len), WEFT_OK);
    memcpy(bad, good, len);
    bad[12 + 14] = 5; /* status = 5 */
    bad[12 + 15] = bad[12 + 16] = bad[12 + 17] = 0;
    msg_expect_bad(bad, len, 1, "malformed", "positive status");
    memcpy(bad, good, len);
    bad[12 + 6] = 0xfe; /* origin = -2 */
    msg_expect_bad(bad, len, 1, "malformed", "origin -2");
    memset(m.event.reason, 'r', sizeof(m.event.reason));
    cr_assert_eq(weft__store_msg_size(&m), 0, "unterminated reason");
    cr_assert_eq(weft__store_msg_encode(&m, good, sizeof(good), &len),
                 WEFT_ERR_INVALID_ARG);

    /* a value over the cap cannot be encoded */
    memset(&m, 0, sizeof(m));
    m.type = WEFT_STORE_MSG_PUT;
    strcpy(m.name, "k");
    m.data = good;
    m.len = WEFT_STORE_VALUE_MAX + 1;
    cr_assert_eq(weft__store_msg_size(&m), 0);
    /* nor a missing list longer than its total */
    memset(&m, 0, sizeof(m));
    m.type = WEFT_STORE_MSG_MISSING;
    m.total = 1;
    m.data = good;
    m.len = 8;
    cr_assert_eq(weft__store_msg_size(&m), 0);
}

/* What a fuzz target would check, on a few thousand mutations of valid
 * frames: a frame is refused, or it re-encodes to exactly its bytes. */
Test(boot_msg, mutations_are_refused_or_round_trip, .timeout = 20)
{
    static const uint8_t val[6] = {9, 8, 7, 6, 5, 4};
    weft__store_msg_t seeds[4], d;
    uint8_t buf[1024], again[1024];
    uint32_t rng = 12345;
    size_t len, len2;
    char why[160];
    int accepted = 0;

    memset(seeds, 0, sizeof(seeds));
    seeds[0].type = WEFT_STORE_MSG_PUT;
    strcpy(seeds[0].name, "k/1");
    seeds[0].data = val;
    seeds[0].len = sizeof(val);
    seeds[1].type = WEFT_STORE_MSG_STATUS;
    seeds[1].what = WEFT_STORE_WHAT_FENCE;
    strcpy(seeds[1].name, "init");
    seeds[2].type = WEFT_STORE_MSG_ABORT;
    seeds[2].event.kind = WEFT_STORE_EVENT_ABORT;
    seeds[2].event.origin = 3;
    seeds[2].event.failed_rank = -1;
    seeds[2].event.status = WEFT_ERR_ABORTED;
    strcpy(seeds[2].event.reason, "app error");
    seeds[3].type = WEFT_STORE_MSG_ALLGATHER;
    strcpy(seeds[3].name, "t");
    seeds[3].data = val;
    seeds[3].len = 4;
    for (int iter = 0; iter < 20000; iter++) {
        const weft__store_msg_t *seed = &seeds[iter % 4];
        int flips = 1 + iter % 3;

        cr_assert_eq(weft__store_msg_encode(seed, buf, sizeof(buf), &len),
                     WEFT_OK);
        for (int f = 0; f < flips; f++) {
            rng = rng * 1103515245u + 12345u;
            buf[(rng >> 8) % len] ^= (uint8_t)(1u << ((rng >> 4) % 8));
        }
        rng = rng * 1103515245u + 12345u;
        if ((rng >> 16) % 8 == 0) {
            len -= (rng >> 8) % len; /* and sometimes cut it short */
        }
        if (weft__store_msg_decode_frame(buf, len, 0, &d, why, sizeof(why)) !=
            WEFT_OK) {
            continue;
        }
        accepted++;
        cr_assert_eq(weft__store_msg_encode(&d, again, sizeof(again), &len2),
                     WEFT_OK, "iteration %d", iter);
        cr_assert_eq(len2, len, "iteration %d", iter);
        cr_assert_arr_eq(buf, again, len, "iteration %d", iter);
    }
    cr_assert_gt(accepted, 0, "no mutation was ever accepted");
}
