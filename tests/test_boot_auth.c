/* Job-key authentication: keys, codecs, and the handshake state machine
 * over socketpairs (right key, wrong key, replay, truncation, deadline). */
#include "build_config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bootstrap/auth.h"
#include "clock.h"
#include "util.h"


static const uint8_t key_a[WEFT_AUTH_KEY_LEN] = {
    1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t key_b[WEFT_AUTH_KEY_LEN] = {
    1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 33};

/* ---- keys ---- */

Test(boot_auth, key_parse_accepts_hex_and_blanks, .timeout = 10)
{
    uint8_t key[WEFT_AUTH_KEY_MAX];
    size_t len = 0;

    cr_assert_eq(weft__auth_key_parse(" 000102030405060708090a0b0c0d0e0fA0B0\n",
                                      key, &len),
                 WEFT_OK);
    cr_assert_eq(len, 18);
    cr_assert_eq(key[0], 0x00);
    cr_assert_eq(key[15], 0x0f);
    cr_assert_eq(key[16], 0xa0);
    cr_assert_eq(key[17], 0xb0);
}

Test(boot_auth, key_parse_rejects_bad_text_without_echoing_it, .timeout = 10)
{
    const char *bad[] = {
        "",
        "00112233445566778899aabbccddee",    /* 15 bytes: too short */
        "00112233445566778899aabbccddeeff0", /* odd */
        "zz112233445566778899aabbccddeeff",
        "0011223344556677 8899aabbccddeeff", /* blank inside */
    };
    char too_long[2 * WEFT_AUTH_KEY_MAX + 3];
    uint8_t key[WEFT_AUTH_KEY_MAX];
    size_t len = 0;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(weft__auth_key_parse(bad[i], key, &len),
                     WEFT_ERR_INVALID_ARG, "case %zu", i);
        if (strlen(bad[i]) > 8) {
            cr_assert_null(strstr(weft_last_error(), bad[i] + 4),
                           "case %zu: the error echoes the key: %s", i,
                           weft_last_error());
        }
    }
    memset(too_long, 'a', sizeof(too_long) - 1);
    too_long[sizeof(too_long) - 1] = '\0';
    cr_assert_eq(weft__auth_key_parse(too_long, key, &len),
                 WEFT_ERR_INVALID_ARG);
}

Test(boot_auth, key_generate_is_fresh_hex, .timeout = 10)
{
    char a[2 * WEFT_AUTH_KEY_LEN + 1], b[2 * WEFT_AUTH_KEY_LEN + 1];
    uint8_t key[WEFT_AUTH_KEY_MAX];
    size_t len = 0;

    cr_assert_eq(weft__auth_key_generate(a), WEFT_OK);
    cr_assert_eq(weft__auth_key_generate(b), WEFT_OK);
    cr_assert_eq(strlen(a), 2 * WEFT_AUTH_KEY_LEN);
    cr_assert_neq(strcmp(a, b), 0);
    cr_assert_eq(weft__auth_key_parse(a, key, &len), WEFT_OK);
    cr_assert_eq(len, WEFT_AUTH_KEY_LEN);
}

static void
auth_write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    cr_assert_eq(fchmod(fd, mode), 0);
    close(fd);
}

Test(boot_auth, key_file_must_be_private_and_regular, .timeout = 10)
{
    char dir[] = "/tmp/weft-auth-XXXXXX";
    char path[64];
    uint8_t key[WEFT_AUTH_KEY_MAX];
    size_t len = 0;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/key", dir);
    auth_write_file(path,
                    "00112233445566778899aabbccddeeff\n"
                    "00112233445566778899aabbccddeeff\n",
                    0600);
    cr_assert_eq(weft__auth_key_read_file(path, key, &len), WEFT_OK);
    cr_assert_eq(len, 32);
    cr_assert_eq(key[17], 0x11);

    auth_write_file(path, "00112233445566778899aabbccddeeff", 0640);
    cr_assert_eq(weft__auth_key_read_file(path, key, &len),
                 WEFT_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(weft_last_error(), "mode"), "%s",
                       weft_last_error());
    cr_assert_eq(weft__auth_key_read_file(dir, key, &len),
                 WEFT_ERR_INVALID_ARG);
    unlink(path);
    cr_assert_eq(weft__auth_key_read_file(path, key, &len),
                 WEFT_ERR_INVALID_ARG);
    rmdir(dir);
}

Test(boot_auth, derive_is_hmac_sha256_and_stable, .timeout = 10)
{
    /* RFC 4231 test case 2 */
    static const uint8_t expect[32] = {
        0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
        0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
        0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
    uint8_t out[WEFT_AUTH_KEY_LEN], again[WEFT_AUTH_KEY_LEN];
    uint8_t other[WEFT_AUTH_KEY_LEN];

    weft__auth_derive((const uint8_t *)"Jefe", 4,
                      "what do ya want for nothing?", out);
    cr_assert_arr_eq(out, expect, 32);

    weft__auth_derive(key_a, sizeof(key_a), WEFT_AUTH_LABEL_STORE, out);
    weft__auth_derive(key_a, sizeof(key_a), WEFT_AUTH_LABEL_STORE, again);
    weft__auth_derive(key_a, sizeof(key_a), WEFT_AUTH_LABEL_TCP, other);
    cr_assert_arr_eq(out, again, 32);
    cr_assert_arr_neq(out, other, 32);
}

/* ---- codecs ---- */

Test(boot_auth, codecs_round_trip, .timeout = 10)
{
    weft__auth_hello_t h = {
        .purpose = WEFT_AUTH_PURPOSE_TCP, .rank = 7, .nranks = 0x01020304};
    weft__auth_hello_t h2;
    weft__auth_challenge_t c, c2;
    uint8_t buf[WEFT_AUTH_CHALLENGE_LEN], buf2[WEFT_AUTH_CHALLENGE_LEN];
    uint8_t mac[WEFT_AUTH_MAC_LEN], mac2[WEFT_AUTH_MAC_LEN];
    uint32_t verdict = 99;
    char why[128];

    for (int i = 0; i < WEFT_AUTH_NONCE_LEN; i++) {
        h.nonce[i] = (uint8_t)(0xf0 + i);
    }
    weft__auth_hello_encode(&h, buf);
    cr_assert_eq(memcmp(buf, "WFA1", 4), 0);
    cr_assert_eq(weft__auth_hello_decode(buf, WEFT_AUTH_HELLO_LEN, &h2, why,
                                         sizeof(why)),
                 WEFT_OK);
    cr_assert_eq(h2.purpose, h.purpose);
    cr_assert_eq(h2.rank, 7);
    cr_assert_eq(h2.nranks, 0x01020304);
    cr_assert_arr_eq(h2.nonce, h.nonce, WEFT_AUTH_NONCE_LEN);
    weft__auth_hello_encode(&h2, buf2);
    cr_assert_arr_eq(buf, buf2, WEFT_AUTH_HELLO_LEN);

    c.rank = WEFT_AUTH_RANK_NONE;
    for (int i = 0; i < WEFT_AUTH_NONCE_LEN; i++) {
        c.nonce[i] = (uint8_t)i;
    }
    for (int i = 0; i < WEFT_AUTH_MAC_LEN; i++) {
        c.mac[i] = (uint8_t)(100 + i);
    }
    weft__auth_challenge_encode(&c, buf);
    cr_assert_eq(weft__auth_challenge_decode(buf, WEFT_AUTH_CHALLENGE_LEN, &c2,
                                             why, sizeof(why)),
                 WEFT_OK);
    cr_assert_eq(c2.rank, WEFT_AUTH_RANK_NONE);
    cr_assert_arr_eq(c2.nonce, c.nonce, WEFT_AUTH_NONCE_LEN);
    cr_assert_arr_eq(c2.mac, c.mac, WEFT_AUTH_MAC_LEN);

    memcpy(mac, c.mac, sizeof(mac));
    weft__auth_proof_encode(mac, buf);
    cr_assert_eq(weft__auth_proof_decode(buf, WEFT_AUTH_PROOF_LEN, mac2, why,
                                         sizeof(why)),
                 WEFT_OK);
    cr_assert_arr_eq(mac, mac2, WEFT_AUTH_MAC_LEN);

    for (uint32_t v = 0; v <= WEFT_AUTH_REJECT_LAST; v++) {
        weft__auth_result_encode(v, buf);
        cr_assert_eq(weft__auth_result_decode(buf, WEFT_AUTH_RESULT_LEN,
                                              &verdict, why, sizeof(why)),
                     WEFT_OK);
        cr_assert_eq(verdict, v);
        cr_assert_neq(strcmp(weft__auth_verdict_string(v), "unknown verdict"),
                      0);
    }
}

/* Decode buf (len bytes) as a HELLO and expect PROTOCOL with a reason that
 * contains word. */
static void
auth_expect_bad_hello(const uint8_t *buf, size_t len, const char *word,
                      const char *what)
{
    weft__auth_hello_t h;
    char why[128] = "";

    cr_assert_eq(weft__auth_hello_decode(buf, len, &h, why, sizeof(why)),
                 WEFT_ERR_PROTOCOL, "%s accepted", what);
    cr_assert_not_null(strstr(why, word), "%s: reason '%s' lacks '%s'", what,
                       why, word);
}

Test(boot_auth, hello_bad_fields_rejected_with_reason, .timeout = 10)
{
    weft__auth_hello_t h = {
        .purpose = WEFT_AUTH_PURPOSE_STORE, .rank = 1, .nranks = 4};
    uint8_t good[WEFT_AUTH_HELLO_LEN], bad[WEFT_AUTH_HELLO_LEN];

    weft__auth_hello_encode(&h, good);
    auth_expect_bad_hello(good, WEFT_AUTH_HELLO_LEN - 1, "bytes", "short");
    memcpy(bad, good, sizeof(bad));
    bad[0] = 'X';
    auth_expect_bad_hello(bad, sizeof(bad), "magic", "magic");
    memcpy(bad, good, sizeof(bad));
    bad[4] = 2;
    auth_expect_bad_hello(bad, sizeof(bad), "version", "version");
    memcpy(bad, good, sizeof(bad));
    bad[5] = 3;
    auth_expect_bad_hello(bad, sizeof(bad), "type", "type");
    memcpy(bad, good, sizeof(bad));
    bad[6] = 9;
    auth_expect_bad_hello(bad, sizeof(bad), "purpose", "purpose");
    memcpy(bad, good, sizeof(bad));
    bad[7] = 1;
    auth_expect_bad_hello(bad, sizeof(bad), "reserved", "reserved");
}

Test(boot_auth, other_bad_messages_rejected_with_reason, .timeout = 10)
{
    weft__auth_challenge_t c;
    uint8_t buf[WEFT_AUTH_CHALLENGE_LEN];
    uint8_t mac[WEFT_AUTH_MAC_LEN] = {0};
    uint32_t verdict;
    char why[128];

    memset(&c, 0, sizeof(c));
    weft__auth_challenge_encode(&c, buf);
    buf[13] = 1;
    cr_assert_eq(
        weft__auth_challenge_decode(buf, sizeof(buf), &c, why, sizeof(why)),
        WEFT_ERR_PROTOCOL);
    cr_assert_not_null(strstr(why, "reserved"), "%s", why);
    cr_assert_eq(weft__auth_challenge_decode(buf, 56, &c, why, sizeof(why)),
                 WEFT_ERR_PROTOCOL);

    weft__auth_proof_encode(mac, buf);
    buf[5] = 1; /* a hello's type */
    cr_assert_eq(weft__auth_proof_decode(buf, WEFT_AUTH_PROOF_LEN, mac, why,
                                         sizeof(why)),
                 WEFT_ERR_PROTOCOL);
    cr_assert_not_null(strstr(why, "type"), "%s", why);

    weft__auth_result_encode(WEFT_AUTH_REJECT_LAST + 1, buf);
    cr_assert_eq(weft__auth_result_decode(buf, WEFT_AUTH_RESULT_LEN, &verdict,
                                          why, sizeof(why)),
                 WEFT_ERR_PROTOCOL);
    cr_assert_not_null(strstr(why, "verdict"), "%s", why);
    cr_assert_eq(weft__auth_result_decode(NULL, 0, &verdict, why, sizeof(why)),
                 WEFT_ERR_PROTOCOL);
}

/* A fuzz target's invariant on mutations of valid messages: refused, or
 * re-encoded to exactly the same bytes. */
Test(boot_auth, codec_mutations_are_refused_or_round_trip, .timeout = 10)
{
    weft__auth_hello_t h = {.purpose = 1, .rank = 2, .nranks = 4};
    weft__auth_challenge_t c = {.rank = 1};
    uint8_t hello[WEFT_AUTH_HELLO_LEN], chal[WEFT_AUTH_CHALLENGE_LEN];
    uint8_t proof[WEFT_AUTH_PROOF_LEN], result[WEFT_AUTH_RESULT_LEN];
    uint8_t buf[WEFT_AUTH_CHALLENGE_LEN], again[WEFT_AUTH_CHALLENGE_LEN];
    uint8_t mac[WEFT_AUTH_MAC_LEN] = {7};
    uint32_t rng = 777, verdict;
    char why[128];

    weft__auth_hello_encode(&h, hello);
    weft__auth_challenge_encode(&c, chal);
    weft__auth_proof_encode(mac, proof);
    weft__auth_result_encode(WEFT_AUTH_REJECT_SIZE, result);
    for (int iter = 0; iter < 20000; iter++) {
        int kind = iter % 4;
        const uint8_t *seed = kind == 0   ? hello
                              : kind == 1 ? chal
                              : kind == 2 ? proof
                                          : result;
        size_t len = kind == 0   ? sizeof(hello)
                     : kind == 1 ? sizeof(chal)
                     : kind == 2 ? sizeof(proof)
                                 : sizeof(result);

        memcpy(buf, seed, len);
        rng = rng * 1103515245u + 12345u;
        buf[(rng >> 8) % len] ^= (uint8_t)(1u << ((rng >> 4) % 8));
        if (kind == 0 && weft__auth_hello_decode(buf, len, &h, why,
                                                 sizeof(why)) == WEFT_OK) {
            weft__auth_hello_encode(&h, again);
            cr_assert_arr_eq(buf, again, len, "hello, iteration %d", iter);
        } else if (kind == 1 &&
                   weft__auth_challenge_decode(buf, len, &c, why,
                                               sizeof(why)) == WEFT_OK) {
            weft__auth_challenge_encode(&c, again);
            cr_assert_arr_eq(buf, again, len, "challenge, iteration %d", iter);
        } else if (kind == 2 &&
                   weft__auth_proof_decode(buf, len, mac, why, sizeof(why)) ==
                       WEFT_OK) {
            weft__auth_proof_encode(mac, again);
            cr_assert_arr_eq(buf, again, len, "proof, iteration %d", iter);
        } else if (kind == 3 &&
                   weft__auth_result_decode(buf, len, &verdict, why,
                                            sizeof(why)) == WEFT_OK) {
            weft__auth_result_encode(verdict, again);
            cr_assert_arr_eq(buf, again, len, "result, iteration %d", iter);
        }
    }
}

/* ---- the handshake over socketpairs ---- */

typedef struct auth_pair {
    int cfd, sfd;         /* the two ends the state machines use */
    int relay_c, relay_s; /* when relayed: the test sits in between */
    uint8_t record[256];  /* client -> server bytes seen by the relay */
    size_t recorded;
} auth_pair_t;

static void
auth_pair_open(auth_pair_t *p, int relay)
{
    int a[2], b[2];

    memset(p, 0, sizeof(*p));
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a), 0);
    p->cfd = a[0];
    p->relay_c = -1;
    p->relay_s = -1;
    if (!relay) {
        p->sfd = a[1];
        return;
    }
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b), 0);
    p->relay_c = a[1];
    p->relay_s = b[0];
    p->sfd = b[1];
}

static void
auth_pair_close(auth_pair_t *p)
{
    int fds[] = {p->cfd, p->sfd, p->relay_c, p->relay_s};

    for (size_t i = 0; i < 4; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
}

static void
auth_pair_relay(auth_pair_t *p)
{
    uint8_t buf[256];
    ssize_t n;

    if (p->relay_c < 0) {
        return;
    }
    while ((n = read(p->relay_c, buf, sizeof(buf))) > 0) {
        cr_assert_leq(p->recorded + (size_t)n, sizeof(p->record));
        memcpy(p->record + p->recorded, buf, (size_t)n);
        p->recorded += (size_t)n;
        cr_assert_eq(write(p->relay_s, buf, (size_t)n), n);
    }
    while ((n = read(p->relay_s, buf, sizeof(buf))) > 0) {
        cr_assert_eq(write(p->relay_c, buf, (size_t)n), n);
    }
}

/* Drive both ends until neither is in progress; the server answers with
 * verdict once the client proved the key. An end that fails closes its
 * socket, as a real one would. */
static void
auth_pair_run(auth_pair_t *p, weft__auth_hs_t *c, weft__auth_hs_t *s,
              uint32_t verdict, weft_status_t *cst, weft_status_t *sst)
{
    int verdict_set = 0;

    *cst = WEFT_INPROGRESS;
    *sst = WEFT_INPROGRESS;
    for (int i = 0; i < 1000; i++) {
        if (*cst == WEFT_INPROGRESS) {
            *cst = weft__auth_hs_progress(c, p->cfd);
            if (*cst < 0) {
                close(p->cfd);
                p->cfd = -1;
            }
        }
        auth_pair_relay(p);
        if (*sst == WEFT_INPROGRESS) {
            *sst = weft__auth_hs_progress(s, p->sfd);
            if (*sst == WEFT_OK && !verdict_set) {
                weft__auth_hs_set_verdict(s, verdict);
                verdict_set = 1;
                *sst = WEFT_INPROGRESS;
                continue;
            }
            if (*sst < 0) {
                close(p->sfd);
                p->sfd = -1;
            }
        }
        auth_pair_relay(p);
        if (*cst != WEFT_INPROGRESS && *sst != WEFT_INPROGRESS) {
            return;
        }
        usleep(1000);
    }
    cr_assert_fail("handshake did not finish");
}

Test(boot_auth, right_key_binds_claimed_rank, .timeout = 10)
{
    weft__auth_hs_t c, s;
    weft_status_t cst, sst;
    auth_pair_t p;
    double dl = weft__now() + 5;

    auth_pair_open(&p, 0);
    weft__auth_hs_client(&c, key_a, WEFT_AUTH_PURPOSE_TCP, 3, 8, dl);
    weft__auth_hs_server(&s, key_a, WEFT_AUTH_PURPOSE_TCP, 5, 8, dl);
    auth_pair_run(&p, &c, &s, WEFT_AUTH_ACCEPT, &cst, &sst);
    cr_assert_eq(cst, WEFT_OK, "client: %s", c.why);
    cr_assert_eq(sst, WEFT_OK, "server: %s", s.why);
    cr_assert_eq(s.peer_hello.rank, 3);
    cr_assert_eq(s.peer_hello.nranks, 8);
    cr_assert_eq(s.peer_hello.purpose, WEFT_AUTH_PURPOSE_TCP);
    cr_assert_eq(c.peer_rank, 5);
    cr_assert_eq(weft__auth_hs_events(&c), 0);
    cr_assert_eq(weft__auth_hs_events(&s), 0);
    /* done is sticky */
    cr_assert_eq(weft__auth_hs_progress(&c, p.cfd), WEFT_OK);
    auth_pair_close(&p);
}

Test(boot_auth, wrong_key_fails_on_both_sides, .timeout = 10)
{
    weft__auth_hs_t c, s;
    weft_status_t cst, sst;
    auth_pair_t p;
    double dl = weft__now() + 5;

    auth_pair_open(&p, 0);
    weft__auth_hs_client(&c, key_b, WEFT_AUTH_PURPOSE_STORE, 0, 2, dl);
    weft__auth_hs_server(&s, key_a, WEFT_AUTH_PURPOSE_STORE,
                         WEFT_AUTH_RANK_NONE, 2, dl);
    auth_pair_run(&p, &c, &s, WEFT_AUTH_ACCEPT, &cst, &sst);
    cr_assert_eq(cst, WEFT_ERR_AUTH, "client: %d %s", cst, c.why);
    cr_assert_eq(sst, WEFT_ERR_AUTH, "server: %d %s", sst, s.why);
    cr_assert_not_null(strstr(s.why, "key"), "%s", s.why);
    cr_assert_not_null(strstr(c.why, "key"), "%s", c.why);
    /* failure is sticky */
    cr_assert_eq(weft__auth_hs_progress(&s, -1), WEFT_ERR_AUTH);
    auth_pair_close(&p);
}

Test(boot_auth, rejected_verdict_reaches_the_client, .timeout = 10)
{
    weft__auth_hs_t c, s;
    weft_status_t cst, sst;
    auth_pair_t p;
    double dl = weft__now() + 5;

    auth_pair_open(&p, 0);
    weft__auth_hs_client(&c, key_a, WEFT_AUTH_PURPOSE_STORE, 1, 4, dl);
    weft__auth_hs_server(&s, key_a, WEFT_AUTH_PURPOSE_STORE,
                         WEFT_AUTH_RANK_NONE, 4, dl);
    auth_pair_run(&p, &c, &s, WEFT_AUTH_REJECT_DUPLICATE, &cst, &sst);
    cr_assert_eq(cst, WEFT_ERR_AUTH, "client: %s", c.why);
    cr_assert_eq(c.verdict, WEFT_AUTH_REJECT_DUPLICATE);
    cr_assert_not_null(strstr(c.why, "already connected"), "%s", c.why);
    cr_assert_eq(sst, WEFT_ERR_AUTH, "server: %s", s.why);
    auth_pair_close(&p);
}

/* The tcp transport's answer to the higher rank of a simultaneous
 * connect: a rejection the client can tell from the others (it waits for
 * the lower rank's connection instead of failing). */
Test(boot_auth, simultaneous_verdict_reaches_the_client, .timeout = 10)
{
    weft__auth_hs_t c, s;
    weft_status_t cst, sst;
    uint8_t buf[WEFT_AUTH_RESULT_LEN];
    uint32_t verdict = 0;
    char why[128];
    auth_pair_t p;
    double dl = weft__now() + 5;

    weft__auth_result_encode(WEFT_AUTH_REJECT_SIMULTANEOUS, buf);
    cr_assert_eq(weft__auth_result_decode(buf, sizeof(buf), &verdict, why,
                                          sizeof(why)),
                 WEFT_OK, "%s", why);
    cr_assert_eq(verdict, WEFT_AUTH_REJECT_SIMULTANEOUS);
    auth_pair_open(&p, 0);
    weft__auth_hs_client(&c, key_a, WEFT_AUTH_PURPOSE_TCP, 3, 4, dl);
    weft__auth_hs_server(&s, key_a, WEFT_AUTH_PURPOSE_TCP, 1, 4, dl);
    auth_pair_run(&p, &c, &s, WEFT_AUTH_REJECT_SIMULTANEOUS, &cst, &sst);
    cr_assert_eq(cst, WEFT_ERR_AUTH, "client: %s", c.why);
    cr_assert_eq(c.verdict, WEFT_AUTH_REJECT_SIMULTANEOUS);
    cr_assert_not_null(strstr(c.why, "simultaneous"), "%s", c.why);
    cr_assert_eq(sst, WEFT_ERR_AUTH, "server: %s", s.why);
    cr_assert_eq(s.verdict, WEFT_AUTH_REJECT_SIMULTANEOUS);
    auth_pair_close(&p);
}

Test(boot_auth, purpose_mismatch_is_rejected, .timeout = 10)
{
    weft__auth_hs_t c, s;
    weft_status_t cst, sst;
    auth_pair_t p;
    double dl = weft__now() + 5;

    auth_pair_open(&p, 0);
    weft__auth_hs_client(&c, key_a, WEFT_AUTH_PURPOSE_TCP, 1, 4, dl);
    weft__auth_hs_server(&s, key_a, WEFT_AUTH_PURPOSE_STORE,
                         WEFT_AUTH_RANK_NONE, 4, dl);
    auth_pair_run(&p, &c, &s, WEFT_AUTH_ACCEPT, &cst, &sst);
    cr_assert_eq(cst, WEFT_ERR_AUTH, "client: %s", c.why);
    cr_assert_eq(c.verdict, WEFT_AUTH_REJECT_PURPOSE);
    cr_assert_eq(sst, WEFT_ERR_AUTH, "server: %s", s.why);
    auth_pair_close(&p);
}

/* Drive a server alone until it leaves WEFT_INPROGRESS. */
static weft_status_t
auth_server_run(weft__auth_hs_t *s, int fd)
{
    for (;;) {
        weft_status_t st = weft__auth_hs_progress(s, fd);
        struct pollfd pfd = {.fd = fd, .events = weft__auth_hs_events(s)};

        if (st != WEFT_INPROGRESS) {
            return st;
        }
        poll(&pfd, 1, weft__ms_until(s->deadline, 100));
    }
}

Test(boot_auth, replayed_client_transcript_fails, .timeout = 10)
{
    uint8_t challenge[WEFT_AUTH_CHALLENGE_LEN];
    weft__auth_hs_t c, s;
    weft_status_t cst, sst;
    auth_pair_t p;
    double dl = weft__now() + 5;
    int sv[2];

    /* a legit handshake, recorded by a relay in the middle */
    auth_pair_open(&p, 1);
    weft__auth_hs_client(&c, key_a, WEFT_AUTH_PURPOSE_STORE, 2, 4, dl);
    weft__auth_hs_server(&s, key_a, WEFT_AUTH_PURPOSE_STORE,
                         WEFT_AUTH_RANK_NONE, 4, dl);
    auth_pair_run(&p, &c, &s, WEFT_AUTH_ACCEPT, &cst, &sst);
    cr_assert_eq(cst, WEFT_OK, "%s", c.why);
    cr_assert_eq(sst, WEFT_OK, "%s", s.why);
    cr_assert_eq(p.recorded, WEFT_AUTH_HELLO_LEN + WEFT_AUTH_PROOF_LEN);
    auth_pair_close(&p);

    /* the eavesdropper replays it to a fresh server */
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    weft__auth_hs_server(&s, key_a, WEFT_AUTH_PURPOSE_STORE,
                         WEFT_AUTH_RANK_NONE, 4, weft__now() + 2);
    cr_assert_eq(write(sv[0], p.record, WEFT_AUTH_HELLO_LEN),
                 WEFT_AUTH_HELLO_LEN);
    cr_assert_eq(weft__auth_hs_progress(&s, sv[1]), WEFT_INPROGRESS);
    cr_assert_eq(read(sv[0], challenge, sizeof(challenge)),
                 (ssize_t)sizeof(challenge));
    cr_assert_eq(
        write(sv[0], p.record + WEFT_AUTH_HELLO_LEN, WEFT_AUTH_PROOF_LEN),
        WEFT_AUTH_PROOF_LEN);
    cr_assert_eq(auth_server_run(&s, sv[1]), WEFT_ERR_AUTH, "%s", s.why);
    close(sv[0]);
    close(sv[1]);
}

Test(boot_auth, truncated_and_garbage_messages, .timeout = 10)
{
    weft__auth_hs_t s, c;
    uint8_t junk[WEFT_AUTH_CHALLENGE_LEN];
    int sv[2];

    /* truncated hello, then EOF */
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    weft__auth_hs_server(&s, key_a, WEFT_AUTH_PURPOSE_STORE,
                         WEFT_AUTH_RANK_NONE, 4, weft__now() + 2);
    cr_assert_eq(write(sv[0], "WFA1\1\1", 6), 6);
    close(sv[0]);
    cr_assert_eq(auth_server_run(&s, sv[1]), WEFT_ERR_PEER_LOST, "%s", s.why);
    cr_assert_not_null(strstr(s.why, "6 of 32"), "%s", s.why);
    close(sv[1]);

    /* random bytes */
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    weft__auth_hs_server(&s, key_a, WEFT_AUTH_PURPOSE_STORE,
                         WEFT_AUTH_RANK_NONE, 4, weft__now() + 2);
    cr_assert_eq(weft__auth_random(junk, sizeof(junk)), WEFT_OK);
    cr_assert_eq(write(sv[0], junk, WEFT_AUTH_HELLO_LEN), WEFT_AUTH_HELLO_LEN);
    cr_assert_eq(auth_server_run(&s, sv[1]), WEFT_ERR_PROTOCOL, "%s", s.why);
    close(sv[0]);
    close(sv[1]);

    /* client: the server answers with half a challenge and hangs up */
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    weft__auth_hs_client(&c, key_a, WEFT_AUTH_PURPOSE_STORE, 0, 4,
                         weft__now() + 2);
    cr_assert_eq(write(sv[1], junk, 20), 20);
    close(sv[1]);
    cr_assert_eq(weft__auth_client_run(&c, sv[0]), WEFT_ERR_PEER_LOST, "%s",
                 c.why);
    close(sv[0]);

    /* client: a full challenge of garbage */
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    weft__auth_hs_client(&c, key_a, WEFT_AUTH_PURPOSE_STORE, 0, 4,
                         weft__now() + 2);
    cr_assert_eq(write(sv[1], junk, sizeof(junk)), (ssize_t)sizeof(junk));
    cr_assert_eq(weft__auth_client_run(&c, sv[0]), WEFT_ERR_PROTOCOL, "%s",
                 c.why);
    close(sv[0]);
    close(sv[1]);
}

Test(boot_auth, deadline_gives_timed_out, .timeout = 10)
{
    weft__auth_hs_t s, c;
    double t0 = weft__now();
    int sv[2];

    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    weft__auth_hs_server(&s, key_a, WEFT_AUTH_PURPOSE_STORE,
                         WEFT_AUTH_RANK_NONE, 4, t0 + 0.2);
    cr_assert_eq(weft__auth_hs_events(&s), POLLIN);
    cr_assert_eq(auth_server_run(&s, sv[1]), WEFT_ERR_TIMED_OUT, "%s", s.why);
    cr_assert_geq(weft__now() - t0, 0.19);

    /* a silent server: the blocking client gives up at its deadline */
    weft__auth_hs_client(&c, key_a, WEFT_AUTH_PURPOSE_STORE, 0, 4,
                         weft__now() + 0.2);
    cr_assert_eq(weft__auth_client_run(&c, sv[0]), WEFT_ERR_TIMED_OUT, "%s",
                 c.why);
    cr_assert_not_null(strstr(c.why, "challenge"), "%s", c.why);
    close(sv[0]);
    close(sv[1]);
}

typedef struct auth_thread_arg {
    int fd;
    weft__auth_hs_t hs;
    weft_status_t st;
} auth_thread_arg_t;

static void *
auth_server_thread(void *arg)
{
    auth_thread_arg_t *a = arg;

    a->st = auth_server_run(&a->hs, a->fd);
    if (a->st == WEFT_OK) {
        weft__auth_hs_set_verdict(&a->hs, WEFT_AUTH_ACCEPT);
        a->st = auth_server_run(&a->hs, a->fd);
    }
    return NULL;
}

Test(boot_auth, blocking_client_against_a_server_thread, .timeout = 10)
{
    auth_thread_arg_t a;
    weft__auth_hs_t c;
    pthread_t t;
    int sv[2];

    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    a.fd = sv[1];
    weft__auth_hs_server(&a.hs, key_a, WEFT_AUTH_PURPOSE_TCP, 0, 2,
                         weft__now() + 5);
    cr_assert_eq(pthread_create(&t, NULL, auth_server_thread, &a), 0);
    weft__auth_hs_client(&c, key_a, WEFT_AUTH_PURPOSE_TCP, 1, 2,
                         weft__now() + 5);
    cr_assert_eq(weft__auth_client_run(&c, sv[0]), WEFT_OK, "%s", c.why);
    pthread_join(t, NULL);
    cr_assert_eq(a.st, WEFT_OK, "%s", a.hs.why);
    cr_assert_eq(a.hs.peer_hello.rank, 1);
    cr_assert_eq(c.peer_rank, 0);
    close(sv[0]);
    close(sv[1]);
}
