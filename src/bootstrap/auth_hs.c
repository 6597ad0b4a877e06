/*
 * The job-key handshake as a nonblocking state machine, both sides (see
 * auth.h for the protocol and auth.c for the byte layout).
 *
 * A client that finds the server's MAC wrong still sends a PROOF, filled
 * with random bytes, so both ends report the wrong key (the client's real
 * MAC is never shown to a server that has not proved the key).
 */
#include "build_config.h"
#include "bootstrap/auth.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "util.h"

/* hs->state: a live state (>= 0), or the failure status (< 0). */
enum {
    AUTH_HS_C_SEND_HELLO = 0,
    AUTH_HS_C_RECV_CHALLENGE,
    AUTH_HS_C_SEND_PROOF,
    AUTH_HS_C_RECV_RESULT,
    AUTH_HS_C_DONE,
    AUTH_HS_S_RECV_HELLO,
    AUTH_HS_S_SEND_CHALLENGE,
    AUTH_HS_S_RECV_PROOF,
    AUTH_HS_S_VERDICT, /* proof checked; waiting for set_verdict */
    AUTH_HS_S_SEND_RESULT,
    AUTH_HS_S_DONE
};

/* The MAC covers this much of the CHALLENGE (all but the MAC itself). */
#define AUTH_HS_CHALLENGE_SIGNED (WEFT_AUTH_CHALLENGE_LEN - WEFT_AUTH_MAC_LEN)

static weft_status_t auth_hs_fail(weft__auth_hs_t *hs, weft_status_t status,
                                  const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static weft_status_t
auth_hs_fail(weft__auth_hs_t *hs, weft_status_t status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(hs->why, sizeof(hs->why), fmt, ap);
    va_end(ap);
    hs->state = (int)status;
    weft__memzero(hs->key, sizeof(hs->key));
    return status;
}

static void
auth_hs_io(weft__auth_hs_t *hs, const uint8_t *msg, size_t len)
{
    if (msg != NULL) {
        memcpy(hs->io, msg, len);
    }
    hs->io_len = len;
    hs->io_off = 0;
}

static const char *
auth_hs_what(const weft__auth_hs_t *hs)
{
    switch (hs->state) {
    case AUTH_HS_C_SEND_HELLO:
    case AUTH_HS_S_RECV_HELLO:
        return "hello";
    case AUTH_HS_C_RECV_CHALLENGE:
    case AUTH_HS_S_SEND_CHALLENGE:
        return "challenge";
    case AUTH_HS_C_SEND_PROOF:
    case AUTH_HS_S_RECV_PROOF:
        return "proof";
    default:
        return "result";
    }
}

/* Move hs->io: WEFT_OK when complete, WEFT_INPROGRESS when the socket
 * would block, or a failure (recorded in hs). */
static weft_status_t
auth_hs_transfer(weft__auth_hs_t *hs, int fd, int sending)
{
    while (hs->io_off < hs->io_len) {
        size_t left = hs->io_len - hs->io_off;
        ssize_t n;

        if (sending) {
            n = send(fd, hs->io + hs->io_off, left, MSG_NOSIGNAL);
        } else {
            n = recv(fd, hs->io + hs->io_off, left, 0);
        }
        if (n > 0) {
            hs->io_off += (size_t)n;
            continue;
        }
        if (n == 0) {
            return auth_hs_fail(hs, WEFT_ERR_PEER_LOST,
                                "connection closed during the handshake "
                                "(%zu of %zu bytes of the %s)",
                                hs->io_off, hs->io_len, auth_hs_what(hs));
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return WEFT_INPROGRESS;
        }
        if (errno == EPIPE || errno == ECONNRESET) {
            return auth_hs_fail(hs, WEFT_ERR_PEER_LOST,
                                "connection reset during the handshake "
                                "(%s %s)",
                                sending ? "sending the" : "receiving the",
                                auth_hs_what(hs));
        }
        return auth_hs_fail(hs, WEFT_ERR_SYSTEM,
                            "%s failed during the handshake: %s",
                            sending ? "send" : "recv", strerror(errno));
    }
    return WEFT_OK;
}

/* role 'S': HMAC(K, "S" || HELLO || CHALLENGE without its MAC);
 * role 'C': HMAC(K, "C" || HELLO || CHALLENGE). 0, or -1 on failure. */
static int
auth_hs_mac(const weft__auth_hs_t *hs, char role,
            uint8_t out[WEFT_AUTH_MAC_LEN])
{
    uint8_t buf[1 + WEFT_AUTH_HELLO_LEN + WEFT_AUTH_CHALLENGE_LEN];
    size_t n = 1 + WEFT_AUTH_HELLO_LEN;
    unsigned int out_len = 0;
    size_t signed_len =
        role == 'S' ? AUTH_HS_CHALLENGE_SIGNED : WEFT_AUTH_CHALLENGE_LEN;

    buf[0] = (uint8_t)role;
    memcpy(buf + 1, hs->hello, WEFT_AUTH_HELLO_LEN);
    memcpy(buf + n, hs->challenge, signed_len);
    n += signed_len;
    if (HMAC(EVP_sha256(), hs->key, (int)sizeof(hs->key), buf, n, out,
             &out_len) == NULL ||
        out_len != WEFT_AUTH_MAC_LEN) {
        return -1;
    }
    return 0;
}

static void
auth_hs_init(weft__auth_hs_t *hs, int server,
             const uint8_t key[WEFT_AUTH_KEY_LEN], uint8_t purpose,
             uint32_t rank, uint32_t nranks, double deadline)
{
    memset(hs, 0, sizeof(*hs));
    hs->server = server;
    memcpy(hs->key, key, WEFT_AUTH_KEY_LEN);
    hs->purpose = purpose;
    hs->rank = rank;
    hs->nranks = nranks;
    hs->deadline = deadline;
    hs->verdict = WEFT_AUTH_ACCEPT;
    hs->peer_rank = WEFT_AUTH_RANK_NONE;
}

void
weft__auth_hs_client(weft__auth_hs_t *hs, const uint8_t key[WEFT_AUTH_KEY_LEN],
                     uint8_t purpose, uint32_t rank, uint32_t nranks,
                     double deadline)
{
    weft__auth_hello_t h;

    auth_hs_init(hs, 0, key, purpose, rank, nranks, deadline);
    memset(&h, 0, sizeof(h));
    h.purpose = purpose;
    h.rank = rank;
    h.nranks = nranks;
    if (RAND_bytes(h.nonce, WEFT_AUTH_NONCE_LEN) != 1) {
        auth_hs_fail(hs, WEFT_ERR_SYSTEM, "RAND_bytes failed for a nonce");
        return;
    }
    weft__auth_hello_encode(&h, hs->hello);
    hs->state = AUTH_HS_C_SEND_HELLO;
    auth_hs_io(hs, hs->hello, WEFT_AUTH_HELLO_LEN);
}

void
weft__auth_hs_server(weft__auth_hs_t *hs, const uint8_t key[WEFT_AUTH_KEY_LEN],
                     uint8_t purpose, uint32_t rank, uint32_t nranks,
                     double deadline)
{
    auth_hs_init(hs, 1, key, purpose, rank, nranks, deadline);
    hs->state = AUTH_HS_S_RECV_HELLO;
    auth_hs_io(hs, NULL, WEFT_AUTH_HELLO_LEN);
}

/* Client: the server's CHALLENGE arrived in hs->io. */
static weft_status_t
auth_hs_client_challenge(weft__auth_hs_t *hs, int fd)
{
    weft__auth_challenge_t c;
    uint8_t expect[WEFT_AUTH_MAC_LEN];
    uint8_t proof[WEFT_AUTH_PROOF_LEN];
    char why[128];

    if (weft__auth_challenge_decode(hs->io, WEFT_AUTH_CHALLENGE_LEN, &c, why,
                                    sizeof(why)) != WEFT_OK) {
        return auth_hs_fail(hs, WEFT_ERR_PROTOCOL, "malformed %s", why);
    }
    memcpy(hs->challenge, hs->io, WEFT_AUTH_CHALLENGE_LEN);
    if (auth_hs_mac(hs, 'S', expect) != 0) {
        return auth_hs_fail(hs, WEFT_ERR_INTERNAL, "hmac-sha256 failed");
    }
    if (CRYPTO_memcmp(expect, c.mac, WEFT_AUTH_MAC_LEN) != 0) {
        uint8_t junk[WEFT_AUTH_MAC_LEN];
        ssize_t ignored;

        /* tell the server, without showing it our real MAC */
        if (RAND_bytes(junk, sizeof(junk)) != 1) {
            memset(junk, 0, sizeof(junk));
        }
        weft__auth_proof_encode(junk, proof);
        ignored = send(fd, proof, sizeof(proof), MSG_NOSIGNAL);
        (void)ignored;
        return auth_hs_fail(hs, WEFT_ERR_AUTH,
                            "the peer failed the key check (its challenge "
                            "MAC does not match: a different job key)");
    }
    hs->peer_rank = c.rank;
    if (auth_hs_mac(hs, 'C', expect) != 0) {
        return auth_hs_fail(hs, WEFT_ERR_INTERNAL, "hmac-sha256 failed");
    }
    weft__memzero(hs->key, sizeof(hs->key)); /* not needed any more */
    weft__auth_proof_encode(expect, proof);
    hs->state = AUTH_HS_C_SEND_PROOF;
    auth_hs_io(hs, proof, sizeof(proof));
    return WEFT_OK;
}

/* Server: the client's HELLO arrived in hs->io. */
static weft_status_t
auth_hs_server_hello(weft__auth_hs_t *hs)
{
    weft__auth_challenge_t c;
    char why[128];

    if (weft__auth_hello_decode(hs->io, WEFT_AUTH_HELLO_LEN, &hs->peer_hello,
                                why, sizeof(why)) != WEFT_OK) {
        return auth_hs_fail(hs, WEFT_ERR_PROTOCOL, "malformed %s", why);
    }
    memcpy(hs->hello, hs->io, WEFT_AUTH_HELLO_LEN);
    memset(&c, 0, sizeof(c));
    c.rank = hs->rank;
    if (RAND_bytes(c.nonce, WEFT_AUTH_NONCE_LEN) != 1) {
        return auth_hs_fail(hs, WEFT_ERR_SYSTEM,
                            "RAND_bytes failed for a nonce");
    }
    weft__auth_challenge_encode(&c, hs->challenge);
    if (auth_hs_mac(hs, 'S', c.mac) != 0) {
        return auth_hs_fail(hs, WEFT_ERR_INTERNAL, "hmac-sha256 failed");
    }
    weft__auth_challenge_encode(&c, hs->challenge);
    hs->state = AUTH_HS_S_SEND_CHALLENGE;
    auth_hs_io(hs, hs->challenge, WEFT_AUTH_CHALLENGE_LEN);
    return WEFT_OK;
}

/* Server: the client's PROOF arrived in hs->io. */
static weft_status_t
auth_hs_server_proof(weft__auth_hs_t *hs)
{
    uint8_t mac[WEFT_AUTH_MAC_LEN];
    uint8_t expect[WEFT_AUTH_MAC_LEN];
    char why[128];

    if (weft__auth_proof_decode(hs->io, WEFT_AUTH_PROOF_LEN, mac, why,
                                sizeof(why)) != WEFT_OK) {
        return auth_hs_fail(hs, WEFT_ERR_PROTOCOL, "malformed %s", why);
    }
    if (auth_hs_mac(hs, 'C', expect) != 0) {
        return auth_hs_fail(hs, WEFT_ERR_INTERNAL, "hmac-sha256 failed");
    }
    if (CRYPTO_memcmp(expect, mac, WEFT_AUTH_MAC_LEN) != 0) {
        return auth_hs_fail(hs, WEFT_ERR_AUTH,
                            "the peer claiming rank %" PRIu32 " failed the "
                            "key check (wrong job key, or a replayed "
                            "handshake)",
                            hs->peer_hello.rank);
    }
    weft__memzero(hs->key, sizeof(hs->key));
    if (hs->peer_hello.purpose != hs->purpose) {
        weft__auth_hs_set_verdict(hs, WEFT_AUTH_REJECT_PURPOSE);
        return WEFT_OK;
    }
    hs->state = AUTH_HS_S_VERDICT;
    return WEFT_OK;
}

/* One step: WEFT_OK when the state moved, WEFT_INPROGRESS when the socket
 * would block, a failure, or (done != 0) a resting point. */
static weft_status_t
auth_hs_step(weft__auth_hs_t *hs, int fd, int *done)
{
    weft_status_t st;
    uint32_t verdict;
    char why[128];

    *done = 0;
    if (weft__auth_hs_events(hs) != 0) {
        st = auth_hs_transfer(hs, fd, weft__auth_hs_events(hs) == POLLOUT);
        if (st != WEFT_OK) {
            return st; /* would block, or failed */
        }
    }
    switch (hs->state) {
    case AUTH_HS_C_SEND_HELLO:
        hs->state = AUTH_HS_C_RECV_CHALLENGE;
        auth_hs_io(hs, NULL, WEFT_AUTH_CHALLENGE_LEN);
        return WEFT_OK;
    case AUTH_HS_C_RECV_CHALLENGE:
        return auth_hs_client_challenge(hs, fd);
    case AUTH_HS_C_SEND_PROOF:
        hs->state = AUTH_HS_C_RECV_RESULT;
        auth_hs_io(hs, NULL, WEFT_AUTH_RESULT_LEN);
        return WEFT_OK;
    case AUTH_HS_C_RECV_RESULT:
        st = weft__auth_result_decode(hs->io, WEFT_AUTH_RESULT_LEN, &verdict,
                                      why, sizeof(why));
        if (st != WEFT_OK) {
            return auth_hs_fail(hs, WEFT_ERR_PROTOCOL, "malformed %s", why);
        }
        hs->verdict = verdict;
        if (verdict != WEFT_AUTH_ACCEPT) {
            return auth_hs_fail(
                hs, WEFT_ERR_AUTH,
                "the peer rejected us as rank %" PRIu32 " of %" PRIu32 ": %s",
                hs->rank, hs->nranks, weft__auth_verdict_string(verdict));
        }
        hs->state = AUTH_HS_C_DONE;
        *done = 1;
        return WEFT_OK;
    case AUTH_HS_S_RECV_HELLO:
        return auth_hs_server_hello(hs);
    case AUTH_HS_S_SEND_CHALLENGE:
        hs->state = AUTH_HS_S_RECV_PROOF;
        auth_hs_io(hs, NULL, WEFT_AUTH_PROOF_LEN);
        return WEFT_OK;
    case AUTH_HS_S_RECV_PROOF:
        st = auth_hs_server_proof(hs);
        *done = st == WEFT_OK && hs->state == AUTH_HS_S_VERDICT;
        return st;
    case AUTH_HS_S_SEND_RESULT:
        if (hs->verdict != WEFT_AUTH_ACCEPT) {
            return auth_hs_fail(hs, WEFT_ERR_AUTH,
                                "rejected the peer claiming rank %" PRIu32
                                " of %" PRIu32 ": %s",
                                hs->peer_hello.rank, hs->peer_hello.nranks,
                                weft__auth_verdict_string(hs->verdict));
        }
        hs->state = AUTH_HS_S_DONE;
        *done = 1;
        return WEFT_OK;
    case AUTH_HS_S_VERDICT:
    case AUTH_HS_C_DONE:
    case AUTH_HS_S_DONE:
        *done = 1;
        return WEFT_OK;
    default:
        return (weft_status_t)hs->state; /* the failure, again */
    }
}

weft_status_t
weft__auth_hs_progress(weft__auth_hs_t *hs, int fd)
{
    weft_status_t st;
    int done = 0;

    if (hs->state < 0) {
        return (weft_status_t)hs->state;
    }
    for (;;) {
        st = auth_hs_step(hs, fd, &done);
        if (st < 0 || done) {
            return st;
        }
        if (st == WEFT_INPROGRESS) {
            break;
        }
    }
    if (weft__now() >= hs->deadline) {
        return auth_hs_fail(hs, WEFT_ERR_TIMED_OUT,
                            "handshake not finished in time (waiting to %s "
                            "the %s)",
                            weft__auth_hs_events(hs) == POLLOUT ? "send"
                                                                : "receive",
                            auth_hs_what(hs));
    }
    return WEFT_INPROGRESS;
}

short
weft__auth_hs_events(const weft__auth_hs_t *hs)
{
    switch (hs->state) {
    case AUTH_HS_C_SEND_HELLO:
    case AUTH_HS_C_SEND_PROOF:
    case AUTH_HS_S_SEND_CHALLENGE:
    case AUTH_HS_S_SEND_RESULT:
        return POLLOUT;
    case AUTH_HS_C_RECV_CHALLENGE:
    case AUTH_HS_C_RECV_RESULT:
    case AUTH_HS_S_RECV_HELLO:
    case AUTH_HS_S_RECV_PROOF:
        return POLLIN;
    default:
        return 0;
    }
}

void
weft__auth_hs_set_verdict(weft__auth_hs_t *hs, uint32_t verdict)
{
    uint8_t msg[WEFT_AUTH_RESULT_LEN];

    if (!hs->server || hs->state < 0 ||
        (hs->state != AUTH_HS_S_VERDICT && hs->state != AUTH_HS_S_RECV_PROOF)) {
        return;
    }
    if (verdict > WEFT_AUTH_REJECT_LAST) {
        verdict = WEFT_AUTH_REJECT_RANK;
    }
    hs->verdict = verdict;
    weft__auth_result_encode(verdict, msg);
    hs->state = AUTH_HS_S_SEND_RESULT;
    auth_hs_io(hs, msg, sizeof(msg));
}

weft_status_t
weft__auth_client_run(weft__auth_hs_t *hs, int fd)
{
    for (;;) {
        weft_status_t st = weft__auth_hs_progress(hs, fd);
        struct pollfd pfd;
        int rc;

        if (st != WEFT_INPROGRESS) {
            return st;
        }
        pfd.fd = fd;
        pfd.events = weft__auth_hs_events(hs);
        pfd.revents = 0;
        rc = poll(&pfd, 1, weft__ms_until(hs->deadline, 1000));
        if (rc < 0 && errno != EINTR) {
            return auth_hs_fail(hs, WEFT_ERR_SYSTEM, "poll failed: %s",
                                strerror(errno));
        }
    }
}
