/*
 * fuzz_auth_hs: the job-key handshake (src/bootstrap/auth.h, auth_hs.c)
 * on a socketpair, fuzz bytes playing the peer.
 *
 * Byte 0 chooses the side under test and how the peer behaves (bits
 * 0-1), the purpose it expects (bit 2: store or tcp) and, for a server,
 * its rank (bit 3: none, as the store server, or 3):
 *   0  server, raw: the rest is everything the client sends, then EOF;
 *   1  server, scripted: the rest is the client's HELLO (32 bytes), a
 *      verdict byte, and up to 40 bytes XORed onto the correct PROOF the
 *      harness computes from the server's CHALLENGE (all zero: a client
 *      that knows the key), then EOF; a proved client gets the verdict
 *      byte through weft__auth_hs_set_verdict;
 *   2  client, raw: the rest is everything the server sends, then EOF;
 *   3  client, scripted: the rest is the first 32 bytes of the
 *      CHALLENGE (its MAC is computed here), 32 bytes XORed onto that MAC,
 *      and the RESULT bytes, then EOF.
 * Properties: once the peer has closed, progress never says "in
 * progress"; a failure is sticky and wipes the key; what the side under
 * test sends decodes and carries the right MAC; a client never shows its
 * MAC to a server that failed the key check; a server reports the
 * verdict it was given (and REJECT_PURPOSE for a wrong purpose).
 */
#include "build_config.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bootstrap/auth.h"
#include "clock.h"
#include "fuzz/fuzz.h"

static const uint8_t auth_fuzz_key[WEFT_AUTH_KEY_LEN] = {
    0x57, 0x46, 0x41, 0x31, 0x66, 0x75, 0x7a, 0x7a, 0x01, 0x02, 0x03,
    0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
    0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18};

#define AUTH_FUZZ_SIGNED (WEFT_AUTH_CHALLENGE_LEN - WEFT_AUTH_MAC_LEN)

typedef struct auth_fuzz {
    weft__auth_hs_t hs;
    int fd;   /* the side under test (nonblocking) */
    int peer; /* the harness's end */
    uint8_t hello[WEFT_AUTH_HELLO_LEN];
    uint8_t challenge[WEFT_AUTH_CHALLENGE_LEN];
} auth_fuzz_t;

/* role 'S': HMAC(K, "S" || HELLO || CHALLENGE[0, 32)); 'C': over all of
 * CHALLENGE (auth.h). */
static void
auth_fuzz_mac(const auth_fuzz_t *f, char role, uint8_t out[WEFT_AUTH_MAC_LEN])
{
    uint8_t buf[1 + WEFT_AUTH_HELLO_LEN + WEFT_AUTH_CHALLENGE_LEN];
    size_t n = role == 'S' ? AUTH_FUZZ_SIGNED : WEFT_AUTH_CHALLENGE_LEN;
    unsigned int len = 0;

    buf[0] = (uint8_t)role;
    memcpy(buf + 1, f->hello, WEFT_AUTH_HELLO_LEN);
    memcpy(buf + 1 + WEFT_AUTH_HELLO_LEN, f->challenge, n);
    fuzz_check(HMAC(EVP_sha256(), auth_fuzz_key, sizeof(auth_fuzz_key), buf,
                    1 + WEFT_AUTH_HELLO_LEN + n, out, &len) != NULL &&
                   len == WEFT_AUTH_MAC_LEN,
               "hmac-sha256");
}

static void
auth_fuzz_send(auth_fuzz_t *f, const uint8_t *buf, size_t len)
{
    size_t off = 0;

    while (off < len) {
        ssize_t n = send(f->peer, buf + off, len - off, MSG_NOSIGNAL);

        if (n <= 0) {
            return; /* the side under test closed: it is allowed to */
        }
        off += (size_t)n;
    }
}

/* What the side under test has sent so far, up to len bytes. */
static size_t
auth_fuzz_recv(auth_fuzz_t *f, uint8_t *buf, size_t len)
{
    size_t off = 0;

    while (off < len) {
        ssize_t n = recv(f->peer, buf + off, len - off, MSG_DONTWAIT);

        if (n <= 0) {
            break;
        }
        off += (size_t)n;
    }
    return off;
}

static int
auth_fuzz_zero(const uint8_t *p, size_t len)
{
    uint8_t acc = 0;

    for (size_t i = 0; i < len; i++) {
        acc |= p[i];
    }
    return acc == 0;
}

/* One progress call; failures must be sticky and wipe the key. */
static weft_status_t
auth_fuzz_progress(auth_fuzz_t *f)
{
    weft_status_t st = weft__auth_hs_progress(&f->hs, f->fd);

    if (st < 0) {
        fuzz_check(weft__auth_hs_progress(&f->hs, f->fd) == st,
                   "a handshake failure is sticky");
        fuzz_check(auth_fuzz_zero(f->hs.key, sizeof(f->hs.key)),
                   "a failed handshake wipes its key");
        fuzz_check(f->hs.why[0] != '\0', "a failed handshake says why");
    }
    return st;
}

/* The peer is done talking: what is left must end the handshake. */
static weft_status_t
auth_fuzz_finish(auth_fuzz_t *f)
{
    weft_status_t st;

    shutdown(f->peer, SHUT_WR);
    st = auth_fuzz_progress(f);
    fuzz_check(st != WEFT_INPROGRESS, "no handshake waits after EOF");
    return st;
}

static void
auth_fuzz_server(auth_fuzz_t *f, const uint8_t *in, size_t len)
{
    weft__auth_hello_t h;
    weft__auth_challenge_t c;
    uint8_t msg[WEFT_AUTH_CHALLENGE_LEN], mac[WEFT_AUTH_MAC_LEN];
    uint32_t verdict, got;
    weft_status_t st;
    char why[128];

    if (len < WEFT_AUTH_HELLO_LEN + 1) {
        auth_fuzz_send(f, in, len);
        auth_fuzz_finish(f);
        return;
    }
    memcpy(f->hello, in, WEFT_AUTH_HELLO_LEN);
    verdict = in[WEFT_AUTH_HELLO_LEN];
    in += WEFT_AUTH_HELLO_LEN + 1;
    len -= WEFT_AUTH_HELLO_LEN + 1;
    auth_fuzz_send(f, f->hello, sizeof(f->hello));
    st = auth_fuzz_progress(f);
    if (weft__auth_hello_decode(f->hello, sizeof(f->hello), &h, why,
                                sizeof(why)) != WEFT_OK) {
        fuzz_check(st == WEFT_ERR_PROTOCOL, "a bad hello is PROTOCOL");
        return;
    }
    fuzz_check(st == WEFT_INPROGRESS, "a good hello is answered");
    fuzz_check(auth_fuzz_recv(f, f->challenge, sizeof(f->challenge)) ==
                       sizeof(f->challenge) &&
                   weft__auth_challenge_decode(f->challenge,
                                               sizeof(f->challenge), &c, why,
                                               sizeof(why)) == WEFT_OK,
               "the server sends a well-formed challenge");
    auth_fuzz_mac(f, 'S', mac);
    fuzz_check(memcmp(mac, c.mac, sizeof(mac)) == 0 && c.rank == f->hs.rank,
               "the challenge proves the key and names the server's rank");

    /* the proof a client with the key sends, then the fuzz mask on it */
    auth_fuzz_mac(f, 'C', mac);
    weft__auth_proof_encode(mac, msg);
    for (size_t i = 0; i < len && i < WEFT_AUTH_PROOF_LEN; i++) {
        msg[i] ^= in[i];
    }
    auth_fuzz_send(f, msg, WEFT_AUTH_PROOF_LEN);
    st = auth_fuzz_finish(f);
    if (!auth_fuzz_zero(in, len < WEFT_AUTH_PROOF_LEN ? len
                                                      : WEFT_AUTH_PROOF_LEN)) {
        fuzz_check(st == WEFT_ERR_PROTOCOL || st == WEFT_ERR_AUTH,
                   "a damaged proof is refused");
        return;
    }
    if (h.purpose != f->hs.purpose) {
        fuzz_check(st == WEFT_ERR_AUTH, "a wrong purpose is refused");
        verdict = WEFT_AUTH_REJECT_PURPOSE;
    } else {
        fuzz_check(st == WEFT_OK && weft__auth_hs_events(&f->hs) == 0,
                   "a proved client waits for its verdict");
        fuzz_check(f->hs.peer_hello.rank == h.rank &&
                       f->hs.peer_hello.nranks == h.nranks &&
                       f->hs.peer_hello.purpose == h.purpose,
                   "the server reports what the client claimed");
        weft__auth_hs_set_verdict(&f->hs, verdict);
        if (verdict > WEFT_AUTH_REJECT_LAST) {
            verdict = WEFT_AUTH_REJECT_RANK;
        }
        st = auth_fuzz_progress(f);
        fuzz_check(st ==
                       (verdict == WEFT_AUTH_ACCEPT ? WEFT_OK : WEFT_ERR_AUTH),
                   "the server ends as its verdict says");
    }
    fuzz_check(auth_fuzz_zero(f->hs.key, sizeof(f->hs.key)),
               "the key is wiped once the proof is checked");
    fuzz_check(auth_fuzz_recv(f, msg, WEFT_AUTH_RESULT_LEN) ==
                       WEFT_AUTH_RESULT_LEN &&
                   weft__auth_result_decode(msg, WEFT_AUTH_RESULT_LEN, &got,
                                            why, sizeof(why)) == WEFT_OK &&
                   got == verdict,
               "the client is sent its verdict");
}

static void
auth_fuzz_client(auth_fuzz_t *f, const uint8_t *in, size_t len)
{
    weft__auth_hello_t h;
    weft__auth_challenge_t c;
    uint8_t mac[WEFT_AUTH_MAC_LEN], got[WEFT_AUTH_MAC_LEN];
    uint8_t msg[WEFT_AUTH_PROOF_LEN];
    uint32_t verdict;
    size_t mask;
    weft_status_t st;
    char why[128];
    int accept, mac_ok;

    st = auth_fuzz_progress(f);
    fuzz_check(st == WEFT_INPROGRESS, "the client says hello and waits");
    fuzz_check(auth_fuzz_recv(f, f->hello, sizeof(f->hello)) ==
                       sizeof(f->hello) &&
                   weft__auth_hello_decode(f->hello, sizeof(f->hello), &h, why,
                                           sizeof(why)) == WEFT_OK &&
                   h.rank == f->hs.rank && h.nranks == f->hs.nranks &&
                   h.purpose == f->hs.purpose,
               "the client's hello is well formed and true");
    if (len < AUTH_FUZZ_SIGNED) {
        auth_fuzz_send(f, in, len);
        auth_fuzz_finish(f);
        return;
    }
    memcpy(f->challenge, in, AUTH_FUZZ_SIGNED);
    in += AUTH_FUZZ_SIGNED;
    len -= AUTH_FUZZ_SIGNED;
    auth_fuzz_mac(f, 'S', f->challenge + AUTH_FUZZ_SIGNED);
    mask = len < WEFT_AUTH_MAC_LEN ? len : WEFT_AUTH_MAC_LEN;
    for (size_t i = 0; i < mask; i++) {
        f->challenge[AUTH_FUZZ_SIGNED + i] ^= in[i];
    }
    mac_ok = auth_fuzz_zero(in, mask);
    in += mask;
    len -= mask;
    auth_fuzz_send(f, f->challenge, sizeof(f->challenge));
    st = auth_fuzz_progress(f);
    if (mac_ok &&
        weft__auth_challenge_decode(f->challenge, sizeof(f->challenge), &c, why,
                                    sizeof(why)) == WEFT_OK) {
        fuzz_check(st == WEFT_INPROGRESS,
                   "a server that proves the key is answered");
    }
    auth_fuzz_mac(f, 'C', mac);
    if (st == WEFT_ERR_AUTH) {
        /* the client tells a server that failed the key check with a
         * PROOF of random bytes, never its real MAC */
        fuzz_check(auth_fuzz_recv(f, msg, sizeof(msg)) != sizeof(msg) ||
                       memcmp(msg + WEFT_AUTH_PROOF_LEN - WEFT_AUTH_MAC_LEN,
                              mac, sizeof(mac)) != 0,
                   "a server without the key never sees the client's MAC");
    }
    if (st != WEFT_INPROGRESS) {
        fuzz_check(st == WEFT_ERR_PROTOCOL || st == WEFT_ERR_AUTH,
                   "a bad challenge is refused");
        return;
    }
    /* the server proved the key: the client must prove it back */
    fuzz_check(auth_fuzz_recv(f, msg, sizeof(msg)) == sizeof(msg) &&
                   weft__auth_proof_decode(msg, sizeof(msg), got, why,
                                           sizeof(why)) == WEFT_OK &&
                   memcmp(got, mac, sizeof(mac)) == 0,
               "the client's proof carries the right MAC");
    accept = len >= WEFT_AUTH_RESULT_LEN &&
             weft__auth_result_decode(in, WEFT_AUTH_RESULT_LEN, &verdict, why,
                                      sizeof(why)) == WEFT_OK &&
             verdict == WEFT_AUTH_ACCEPT;
    auth_fuzz_send(f, in, len);
    st = auth_fuzz_finish(f);
    fuzz_check((st == WEFT_OK) == accept,
               "a client is accepted exactly by an ACCEPT result");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    auth_fuzz_t f;
    int fds[2], mode;
    uint8_t purpose;

    if (!quiet) {
        fuzz_log_quiet();
        quiet = 1;
    }
    if (size < 1) {
        return 0;
    }
    mode = data[0] & 3;
    purpose = (data[0] & 4) ? WEFT_AUTH_PURPOSE_TCP : WEFT_AUTH_PURPOSE_STORE;
    fuzz_check(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0, "socketpair");
    memset(&f, 0, sizeof(f));
    f.fd = fds[0];
    f.peer = fds[1];
    fcntl(f.fd, F_SETFL, fcntl(f.fd, F_GETFL) | O_NONBLOCK);
    if (mode < 2) {
        weft__auth_hs_server(&f.hs, auth_fuzz_key, purpose,
                             (data[0] & 8) ? WEFT_AUTH_RANK_NONE : 3, 8,
                             weft__now() + 60);
    } else {
        weft__auth_hs_client(&f.hs, auth_fuzz_key, purpose, 5, 8,
                             weft__now() + 60);
    }
    switch (mode) {
    case 0:
        auth_fuzz_send(&f, data + 1, size - 1);
        auth_fuzz_finish(&f);
        break;
    case 1:
        auth_fuzz_server(&f, data + 1, size - 1);
        break;
    case 2:
        auth_fuzz_progress(&f); /* the hello goes out */
        auth_fuzz_send(&f, data + 1, size - 1);
        auth_fuzz_finish(&f);
        break;
    default:
        auth_fuzz_client(&f, data + 1, size - 1);
        break;
    }
    close(fds[0]);
    close(fds[1]);
    return 0;
}
