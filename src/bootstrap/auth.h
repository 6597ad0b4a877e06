/*
 * Job-key authentication (research/reliability.md §3.3).
 *
 * The launcher draws a random job key (32 bytes, passed as 64 hex digits
 * in WEFT_JOB_KEY or a 0600 file named by WEFT_JOB_KEY_FILE; never argv).
 * Each use derives its own key, HMAC-SHA256(job_key, label), so the job
 * key itself is never used on the wire. Every TCP connection (bootstrap
 * store and data links) runs a mutual challenge-response before anything
 * else is read:
 *
 *   C -> S  HELLO     magic "WFA1", version, purpose, claimed rank, job
 *                     size, nonce_c[16]                      (32 bytes)
 *   S -> C  CHALLENGE magic, version, type, server rank, nonce_s[16],
 *                     mac_s = HMAC(K, "S" || HELLO || first 32 bytes of
 *                     CHALLENGE)                              (64 bytes)
 *   C -> S  PROOF     magic, version, type, mac_c = HMAC(K, "C" || HELLO
 *                     || CHALLENGE)                           (40 bytes)
 *   S -> C  RESULT    magic, version, type, verdict           (16 bytes)
 *
 * MACs are compared in constant time. The server proves the key before
 * the client does; nonces make a recorded handshake useless; the claimed
 * rank is bound to the connection afterwards. Crypto: OpenSSL libcrypto
 * (HMAC-SHA256, RAND_bytes, CRYPTO_memcmp). The byte layout of each
 * message is documented in auth.c.
 */
#ifndef WEFT_AUTH_H
#define WEFT_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include <weft/status.h>

#define WEFT_AUTH_KEY_MIN 16 /* job key: at least 16 bytes (32 hex digits) */
#define WEFT_AUTH_KEY_MAX 64
#define WEFT_AUTH_KEY_LEN 32 /* generated job keys and derived keys */
#define WEFT_AUTH_NONCE_LEN 16
#define WEFT_AUTH_MAC_LEN 32

#define WEFT_AUTH_HELLO_LEN 32
#define WEFT_AUTH_CHALLENGE_LEN 64
#define WEFT_AUTH_PROOF_LEN 40
#define WEFT_AUTH_RESULT_LEN 16

#define WEFT_AUTH_LABEL_STORE "weft/v1/store"
#define WEFT_AUTH_LABEL_TCP "weft/v1/tl/tcp"

/* The store server has no rank. */
#define WEFT_AUTH_RANK_NONE 0xffffffffu

typedef enum weft__auth_purpose {
    WEFT_AUTH_PURPOSE_STORE = 1, /* a rank joining the bootstrap store */
    WEFT_AUTH_PURPOSE_TCP = 2    /* a tcp data link between two ranks */
} weft__auth_purpose_t;

typedef enum weft__auth_verdict {
    WEFT_AUTH_ACCEPT = 0,
    WEFT_AUTH_REJECT_RANK = 1,      /* claimed rank out of range */
    WEFT_AUTH_REJECT_DUPLICATE = 2, /* that rank is already connected */
    WEFT_AUTH_REJECT_SIZE = 3,      /* job size differs from the server's */
    WEFT_AUTH_REJECT_PURPOSE = 4,   /* wrong kind of connection */
    /* tcp: both ranks connected at once and ours (the server's) is the
     * one kept: the lower rank's connection wins, so the client (the
     * higher rank) waits for it instead of failing */
    WEFT_AUTH_REJECT_SIMULTANEOUS = 5,
    WEFT_AUTH_REJECT_LAST = 5
} weft__auth_verdict_t;

typedef struct weft__auth_hello {
    uint8_t purpose;
    uint32_t rank;
    uint32_t nranks;
    uint8_t nonce[WEFT_AUTH_NONCE_LEN];
} weft__auth_hello_t;

typedef struct weft__auth_challenge {
    uint32_t rank; /* the server's rank, or WEFT_AUTH_RANK_NONE */
    uint8_t nonce[WEFT_AUTH_NONCE_LEN];
    uint8_t mac[WEFT_AUTH_MAC_LEN];
} weft__auth_challenge_t;

/* ---- keys ---- */

/* Hex text -> key bytes (16..64 bytes). WEFT_ERR_INVALID_ARG with a
 * reason that never includes the key text. */
weft_status_t weft__auth_key_parse(const char *hex, uint8_t *key,
                                   size_t *len_p);
/* Read a key file: must be a regular file owned by this user with no
 * group/other permission bits, holding the hex key (blanks allowed). */
weft_status_t weft__auth_key_read_file(const char *path, uint8_t *key,
                                       size_t *len_p);
/* A fresh random job key as 64 hex digits + NUL. */
weft_status_t weft__auth_key_generate(char hex[2 * WEFT_AUTH_KEY_LEN + 1]);
/* out = HMAC-SHA256(key, label). */
void weft__auth_derive(const uint8_t *key, size_t len, const char *label,
                       uint8_t out[WEFT_AUTH_KEY_LEN]);
weft_status_t weft__auth_random(void *buf, size_t len);

/* ---- message codecs (pure; fuzzed) ---- */

void weft__auth_hello_encode(const weft__auth_hello_t *h,
                             uint8_t out[WEFT_AUTH_HELLO_LEN]);
/* WEFT_ERR_PROTOCOL (reason in why) on a wrong length, magic, version
 * or purpose. */
weft_status_t weft__auth_hello_decode(const uint8_t *in, size_t len,
                                      weft__auth_hello_t *h, char *why,
                                      size_t why_len);
void weft__auth_challenge_encode(const weft__auth_challenge_t *c,
                                 uint8_t out[WEFT_AUTH_CHALLENGE_LEN]);
weft_status_t weft__auth_challenge_decode(const uint8_t *in, size_t len,
                                          weft__auth_challenge_t *c,
                                          char *why, size_t why_len);
void weft__auth_proof_encode(const uint8_t mac[WEFT_AUTH_MAC_LEN],
                             uint8_t out[WEFT_AUTH_PROOF_LEN]);
weft_status_t weft__auth_proof_decode(const uint8_t *in, size_t len,
                                      uint8_t mac[WEFT_AUTH_MAC_LEN],
                                      char *why, size_t why_len);
void weft__auth_result_encode(uint32_t verdict,
                              uint8_t out[WEFT_AUTH_RESULT_LEN]);
weft_status_t weft__auth_result_decode(const uint8_t *in, size_t len,
                                       uint32_t *verdict_p, char *why,
                                       size_t why_len);
const char *weft__auth_verdict_string(uint32_t verdict);

/* ---- the handshake as a nonblocking state machine (both sides) ---- */

typedef struct weft__auth_hs {
    int server;     /* 1 on the accepting side */
    int state;      /* private */
    uint8_t key[WEFT_AUTH_KEY_LEN];
    uint8_t purpose;
    uint32_t rank;   /* own rank (server: WEFT_AUTH_RANK_NONE for the store) */
    uint32_t nranks; /* job size */
    double deadline;
    uint32_t verdict;
    uint8_t hello[WEFT_AUTH_HELLO_LEN];
    uint8_t challenge[WEFT_AUTH_CHALLENGE_LEN];
    uint8_t io[WEFT_AUTH_CHALLENGE_LEN]; /* the message being moved */
    size_t io_len, io_off;
    weft__auth_hello_t peer_hello;   /* server: what the client claimed */
    uint32_t peer_rank;              /* client: the server's rank */
    char why[160];                   /* reason of the last failure */
} weft__auth_hs_t;

void weft__auth_hs_client(weft__auth_hs_t *hs,
                          const uint8_t key[WEFT_AUTH_KEY_LEN],
                          uint8_t purpose, uint32_t rank, uint32_t nranks,
                          double deadline);
void weft__auth_hs_server(weft__auth_hs_t *hs,
                          const uint8_t key[WEFT_AUTH_KEY_LEN],
                          uint8_t purpose, uint32_t rank, uint32_t nranks,
                          double deadline);

/*
 * Drive the handshake on a nonblocking socket. Returns
 *  - WEFT_INPROGRESS: call again when the fd is ready for
 *    weft__auth_hs_events() (POLLIN or POLLOUT), or when time passes (the
 *    deadline is checked on every call);
 *  - WEFT_OK: client: the server proved the key and accepted us.
 *    Server: the client proved the key; look at hs->peer_hello, then call
 *    weft__auth_hs_set_verdict() and keep calling progress until it
 *    returns WEFT_OK again (verdict sent, accepted) or an error;
 *  - WEFT_ERR_AUTH (wrong key, or the server's verdict was a rejection),
 *    WEFT_ERR_PROTOCOL (malformed bytes), WEFT_ERR_PEER_LOST (EOF),
 *    WEFT_ERR_TIMED_OUT, WEFT_ERR_SYSTEM. hs->why says what happened in
 *    a form fit for a log line. Nothing is logged here.
 */
weft_status_t weft__auth_hs_progress(weft__auth_hs_t *hs, int fd);
short weft__auth_hs_events(const weft__auth_hs_t *hs);
void weft__auth_hs_set_verdict(weft__auth_hs_t *hs, uint32_t verdict);

/* Client side, blocking with poll() until done or the deadline. */
weft_status_t weft__auth_client_run(weft__auth_hs_t *hs, int fd);

#endif /* WEFT_AUTH_H */
