/*
 * Job-key authentication: keys and message codecs (see auth.h for the
 * protocol).
 *
 * Byte layout (little-endian; every reserved byte must be 0). All four
 * messages start with the same 6 bytes: magic "WFA1", version 1, type.
 *
 *   HELLO (32)       C -> S       CHALLENGE (64)   S -> C
 *    0  4 magic                    0  4 magic
 *    4  1 version                  4  1 version
 *    5  1 type (1)                 5  1 type (2)
 *    6  1 purpose                  6  2 reserved
 *    7  1 reserved                 8  4 server rank (0xffffffff: none)
 *    8  4 claimed rank            12  4 reserved
 *   12  4 job size                16 16 nonce_s
 *   16 16 nonce_c                 32 32 mac_s
 *
 *   PROOF (40)       C -> S       RESULT (16)      S -> C
 *    0  4 magic                    0  4 magic
 *    4  1 version                  4  1 version
 *    5  1 type (3)                 5  1 type (4)
 *    6  2 reserved                 6  2 reserved
 *    8 32 mac_c                    8  4 verdict (weft__auth_verdict_t)
 *                                 12  4 reserved
 *
 *   mac_s = HMAC-SHA256(K, "S" || HELLO || CHALLENGE[0, 32))
 *   mac_c = HMAC-SHA256(K, "C" || HELLO || CHALLENGE)
 *
 * The handshake state machine is in auth_hs.c.
 */
#include "build_config.h"
#include "bootstrap/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errmsg.h"
#include "log.h"
#include "util.h"

#define AUTH_MAGIC    0x31414657u /* "WFA1" */
#define AUTH_VERSION  1
#define AUTH_FILE_MAX 1024 /* bytes of a key file */

enum {
    AUTH_TYPE_HELLO = 1,
    AUTH_TYPE_CHALLENGE = 2,
    AUTH_TYPE_PROOF = 3,
    AUTH_TYPE_RESULT = 4
};

static const char *const auth_type_names[] = {"?", "hello", "challenge",
                                              "proof", "result"};

/* ---- little-endian helpers ---- */

static void
auth_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t
auth_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* ---- keys ---- */

static int
auth_is_blank(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

weft_status_t
weft__auth_key_parse(const char *hex, uint8_t *key, size_t *len_p)
{
    uint8_t buf[WEFT_AUTH_KEY_MAX];
    char text[2 * WEFT_AUTH_KEY_MAX + 1];
    size_t start = 0, end, n, len = 0;
    weft_status_t st;

    if (hex == NULL || key == NULL || len_p == NULL) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                           "job key: no key given");
    }
    end = strlen(hex);
    while (start < end && auth_is_blank((unsigned char)hex[start])) {
        start++;
    }
    while (end > start && auth_is_blank((unsigned char)hex[end - 1])) {
        end--;
    }
    n = end - start;
    if (n % 2 != 0 || n < 2 * WEFT_AUTH_KEY_MIN || n > 2 * WEFT_AUTH_KEY_MAX) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                           "job key: expected an even number of hex digits "
                           "between %d and %d, got %zu characters",
                           2 * WEFT_AUTH_KEY_MIN, 2 * WEFT_AUTH_KEY_MAX, n);
    }
    memcpy(text, hex + start, n);
    text[n] = '\0';
    st = weft__hex_decode(text, buf, sizeof(buf), &len);
    weft__memzero(text, sizeof(text));
    if (st != WEFT_OK) {
        weft__memzero(buf, sizeof(buf));
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                           "job key: not a hexadecimal string");
    }
    memcpy(key, buf, len);
    weft__memzero(buf, sizeof(buf));
    *len_p = len;
    return WEFT_OK;
}

weft_status_t
weft__auth_key_read_file(const char *path, uint8_t *key, size_t *len_p)
{
    char raw[AUTH_FILE_MAX + 1];
    char text[AUTH_FILE_MAX + 1];
    struct stat sb;
    size_t got = 0, n = 0;
    weft_status_t st;
    int fd;

    if (path == NULL || *path == '\0') {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                           "job key file: no path given");
    }
    /* O_NONBLOCK: a FIFO planted under that name must not hang us */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                           "job key file %s: cannot open: %m", path);
    }
    if (fstat(fd, &sb) != 0) {
        st = weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_BOOT,
                         "job key file %s: fstat failed: %m", path);
        goto err_close_fd;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                         "job key file %s: not a regular file", path);
        goto err_close_fd;
    }
    if (sb.st_uid != geteuid()) {
        st = weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                         "job key file %s: owned by uid %u, not by this "
                         "user (uid %u)",
                         path, (unsigned)sb.st_uid, (unsigned)geteuid());
        goto err_close_fd;
    }
    if ((sb.st_mode & 077) != 0) {
        st = weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                         "job key file %s: mode %03o gives access to group "
                         "or others (chmod 600 it)",
                         path, (unsigned)(sb.st_mode & 0777));
        goto err_close_fd;
    }
    for (;;) {
        ssize_t r = read(fd, raw + got, sizeof(raw) - got);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            st = weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_BOOT,
                             "job key file %s: read failed: %m", path);
            goto err_zero;
        }
        if (r == 0) {
            break;
        }
        got += (size_t)r;
        if (got == sizeof(raw)) {
            st = weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                             "job key file %s: larger than %d bytes", path,
                             AUTH_FILE_MAX);
            goto err_zero;
        }
    }
    for (size_t i = 0; i < got; i++) {
        if (!auth_is_blank((unsigned char)raw[i])) {
            text[n++] = raw[i];
        }
    }
    text[n] = '\0';
    st = weft__auth_key_parse(text, key, len_p);
err_zero:
    weft__memzero(raw, sizeof(raw));
    weft__memzero(text, sizeof(text));
err_close_fd:
    close(fd);
    return st;
}

weft_status_t
weft__auth_random(void *buf, size_t len)
{
    if (len > (size_t)INT32_MAX || RAND_bytes(buf, (int)len) != 1) {
        return weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_BOOT,
                           "RAND_bytes failed for %zu bytes", len);
    }
    return WEFT_OK;
}

weft_status_t
weft__auth_key_generate(char hex[2 * WEFT_AUTH_KEY_LEN + 1])
{
    uint8_t key[WEFT_AUTH_KEY_LEN];

    WEFT_CHECK(weft__auth_random(key, sizeof(key)));
    weft__hex_encode(key, sizeof(key), hex);
    weft__memzero(key, sizeof(key));
    return WEFT_OK;
}

static int
auth_hmac(const uint8_t *key, size_t key_len, const uint8_t *data, size_t len,
          uint8_t out[WEFT_AUTH_MAC_LEN])
{
    unsigned int out_len = 0;

    if (key_len > (size_t)INT32_MAX ||
        HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &out_len) ==
            NULL ||
        out_len != WEFT_AUTH_MAC_LEN) {
        return -1;
    }
    return 0;
}

void
weft__auth_derive(const uint8_t *key, size_t len, const char *label,
                  uint8_t out[WEFT_AUTH_KEY_LEN])
{
    if (auth_hmac(key, len, (const uint8_t *)label, strlen(label), out) != 0) {
        /* never hand out a predictable key: a random one fails every
         * handshake instead */
        weft__log_error(WEFT_SUB_BOOT,
                        "hmac-sha256 failed deriving the "
                        "'%s' key; handshakes will fail",
                        label);
        if (RAND_bytes(out, WEFT_AUTH_KEY_LEN) != 1) {
            memset(out, 0xa5, WEFT_AUTH_KEY_LEN);
            out[0] ^= (uint8_t)getpid();
        }
    }
}

/* ---- codecs ---- */

static void
auth_head_encode(uint8_t *out, uint8_t type)
{
    auth_put32(out, AUTH_MAGIC);
    out[4] = AUTH_VERSION;
    out[5] = type;
}

static weft_status_t
auth_head_decode(const uint8_t *in, size_t len, size_t want, uint8_t type,
                 char *why, size_t why_len)
{
    const char *name = auth_type_names[type];
    uint32_t magic;

    if (in == NULL || len != want) {
        weft__why(why, why_len, "%s: %zu bytes instead of %zu", name, len, want);
        return WEFT_ERR_PROTOCOL;
    }
    magic = auth_get32(in);
    if (magic != AUTH_MAGIC) {
        weft__why(why, why_len,
                 "%s: bad magic 0x%08" PRIx32 " (not a weft "
                 "peer?)",
                 name, magic);
        return WEFT_ERR_PROTOCOL;
    }
    if (in[4] != AUTH_VERSION) {
        weft__why(why, why_len, "%s: unsupported version %u (this is %u)", name,
                 in[4], AUTH_VERSION);
        return WEFT_ERR_PROTOCOL;
    }
    if (in[5] != type) {
        weft__why(why, why_len, "%s: message type %u instead of %u", name, in[5],
                 type);
        return WEFT_ERR_PROTOCOL;
    }
    return WEFT_OK;
}

static int
auth_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;

    for (size_t i = 0; i < n; i++) {
        acc |= p[i];
    }
    return acc == 0;
}

void
weft__auth_hello_encode(const weft__auth_hello_t *h,
                        uint8_t out[WEFT_AUTH_HELLO_LEN])
{
    memset(out, 0, WEFT_AUTH_HELLO_LEN);
    auth_head_encode(out, AUTH_TYPE_HELLO);
    out[6] = h->purpose;
    auth_put32(out + 8, h->rank);
    auth_put32(out + 12, h->nranks);
    memcpy(out + 16, h->nonce, WEFT_AUTH_NONCE_LEN);
}

weft_status_t
weft__auth_hello_decode(const uint8_t *in, size_t len, weft__auth_hello_t *h,
                        char *why, size_t why_len)
{
    WEFT_CHECK(auth_head_decode(in, len, WEFT_AUTH_HELLO_LEN, AUTH_TYPE_HELLO,
                                why, why_len));
    if (in[6] != WEFT_AUTH_PURPOSE_STORE && in[6] != WEFT_AUTH_PURPOSE_TCP) {
        weft__why(why, why_len, "hello: unknown purpose %u", in[6]);
        return WEFT_ERR_PROTOCOL;
    }
    if (in[7] != 0) {
        weft__why(why, why_len, "hello: reserved byte is 0x%02x, not 0", in[7]);
        return WEFT_ERR_PROTOCOL;
    }
    h->purpose = in[6];
    h->rank = auth_get32(in + 8);
    h->nranks = auth_get32(in + 12);
    memcpy(h->nonce, in + 16, WEFT_AUTH_NONCE_LEN);
    return WEFT_OK;
}

void
weft__auth_challenge_encode(const weft__auth_challenge_t *c,
                            uint8_t out[WEFT_AUTH_CHALLENGE_LEN])
{
    memset(out, 0, WEFT_AUTH_CHALLENGE_LEN);
    auth_head_encode(out, AUTH_TYPE_CHALLENGE);
    auth_put32(out + 8, c->rank);
    memcpy(out + 16, c->nonce, WEFT_AUTH_NONCE_LEN);
    memcpy(out + 32, c->mac, WEFT_AUTH_MAC_LEN);
}

weft_status_t
weft__auth_challenge_decode(const uint8_t *in, size_t len,
                            weft__auth_challenge_t *c, char *why,
                            size_t why_len)
{
    WEFT_CHECK(auth_head_decode(in, len, WEFT_AUTH_CHALLENGE_LEN,
                                AUTH_TYPE_CHALLENGE, why, why_len));
    if (!auth_zero(in + 6, 2) || !auth_zero(in + 12, 4)) {
        weft__why(why, why_len, "challenge: reserved bytes are not 0");
        return WEFT_ERR_PROTOCOL;
    }
    c->rank = auth_get32(in + 8);
    memcpy(c->nonce, in + 16, WEFT_AUTH_NONCE_LEN);
    memcpy(c->mac, in + 32, WEFT_AUTH_MAC_LEN);
    return WEFT_OK;
}

void
weft__auth_proof_encode(const uint8_t mac[WEFT_AUTH_MAC_LEN],
                        uint8_t out[WEFT_AUTH_PROOF_LEN])
{
    memset(out, 0, WEFT_AUTH_PROOF_LEN);
    auth_head_encode(out, AUTH_TYPE_PROOF);
    memcpy(out + 8, mac, WEFT_AUTH_MAC_LEN);
}

weft_status_t
weft__auth_proof_decode(const uint8_t *in, size_t len,
                        uint8_t mac[WEFT_AUTH_MAC_LEN], char *why,
                        size_t why_len)
{
    WEFT_CHECK(auth_head_decode(in, len, WEFT_AUTH_PROOF_LEN, AUTH_TYPE_PROOF,
                                why, why_len));
    if (!auth_zero(in + 6, 2)) {
        weft__why(why, why_len, "proof: reserved bytes are not 0");
        return WEFT_ERR_PROTOCOL;
    }
    memcpy(mac, in + 8, WEFT_AUTH_MAC_LEN);
    return WEFT_OK;
}

void
weft__auth_result_encode(uint32_t verdict, uint8_t out[WEFT_AUTH_RESULT_LEN])
{
    memset(out, 0, WEFT_AUTH_RESULT_LEN);
    auth_head_encode(out, AUTH_TYPE_RESULT);
    auth_put32(out + 8, verdict);
}

weft_status_t
weft__auth_result_decode(const uint8_t *in, size_t len, uint32_t *verdict_p,
                         char *why, size_t why_len)
{
    uint32_t verdict;

    WEFT_CHECK(auth_head_decode(in, len, WEFT_AUTH_RESULT_LEN, AUTH_TYPE_RESULT,
                                why, why_len));
    if (!auth_zero(in + 6, 2) || !auth_zero(in + 12, 4)) {
        weft__why(why, why_len, "result: reserved bytes are not 0");
        return WEFT_ERR_PROTOCOL;
    }
    verdict = auth_get32(in + 8);
    if (verdict > WEFT_AUTH_REJECT_LAST) {
        weft__why(why, why_len, "result: unknown verdict %" PRIu32, verdict);
        return WEFT_ERR_PROTOCOL;
    }
    *verdict_p = verdict;
    return WEFT_OK;
}

const char *
weft__auth_verdict_string(uint32_t verdict)
{
    switch (verdict) {
    case WEFT_AUTH_ACCEPT:
        return "accepted";
    case WEFT_AUTH_REJECT_RANK:
        return "rank out of range";
    case WEFT_AUTH_REJECT_DUPLICATE:
        return "that rank is already connected";
    case WEFT_AUTH_REJECT_SIZE:
        return "job size differs";
    case WEFT_AUTH_REJECT_PURPOSE:
        return "wrong kind of connection";
    case WEFT_AUTH_REJECT_SIMULTANEOUS:
        return "simultaneous connect: the lower rank's connection is kept";
    default:
        return "unknown verdict";
    }
}
