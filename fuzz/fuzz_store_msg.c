/*
 * fuzz_store_msg: bootstrap store frames (src/bootstrap/store_msg.h).
 *
 * Byte 0 chooses: bit 0 the direction (1: frames from the server, as a
 * rank reads them; 0: from a rank, as the server reads them), bits 1-7
 * (mod 3) the entry point the rest of the input goes to:
 *   0  weft__store_msg_decode_frame (header + payload, exact length);
 *   1  weft__store_msg_decode: byte 1 is the type, the rest the payload
 *      (no header check in front: every type with any length);
 *   2  weft__store_rx_read on a socketpair: byte 1 sets gathered_max,
 *      the rest is a stream of frames followed by EOF.
 * Whatever decodes must re-encode (weft__store_msg_encode and _prefix)
 * to the bytes it came from; the stream reader must end in an error
 * (never "in progress") once the peer has closed.
 */
#include "build_config.h"

#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bootstrap/store_msg.h"
#include "fuzz/fuzz.h"

#define STORE_MSG_FUZZ_STREAM_MAX (64u << 10) /* fits a socket buffer */
#define STORE_MSG_FUZZ_FRAMES     4096

static int
store_msg_fuzz_has_tail(uint8_t type)
{
    return type == WEFT_STORE_MSG_PUT || type == WEFT_STORE_MSG_ALLGATHER ||
           type == WEFT_STORE_MSG_VALUE || type == WEFT_STORE_MSG_GATHERED;
}

/* memcmp that takes a NULL pointer with n == 0 (an empty payload). */
static int
store_msg_fuzz_same(const uint8_t *a, const uint8_t *b, size_t n)
{
    return n == 0 || memcmp(a, b, n) == 0;
}

/* m was decoded from hdr (12 bytes, or NULL: not checked) and payload
 * (plen bytes): encoding m must give those bytes back. */
static void
store_msg_fuzz_roundtrip(const weft__store_msg_t *m, const uint8_t *hdr,
                         const uint8_t *payload, size_t plen)
{
    size_t size = weft__store_msg_size(m), len = 0, tail;
    uint8_t *out;

    fuzz_check(size == WEFT_STORE_MSG_HDR_LEN + plen,
               "store_msg_size of a decoded frame is its length");
    out = malloc(size);
    fuzz_check(out != NULL, "malloc");
    fuzz_check(weft__store_msg_encode(m, out, size - 1, &len) ==
                   WEFT_ERR_TRUNCATED,
               "encode into one byte too few is TRUNCATED");
    fuzz_check(weft__store_msg_encode(m, out, size, &len) == WEFT_OK &&
                   len == size,
               "a decoded frame encodes");
    fuzz_check(hdr == NULL || memcmp(out, hdr, WEFT_STORE_MSG_HDR_LEN) == 0,
               "re-encoded header equals the decoded one");
    fuzz_check(store_msg_fuzz_same(out + WEFT_STORE_MSG_HDR_LEN, payload, plen),
               "re-encoded payload equals the decoded one");
    tail = store_msg_fuzz_has_tail(m->type) ? m->len : 0;
    fuzz_check(weft__store_msg_encode_prefix(m, out, size, &len) == WEFT_OK &&
                   len == size - tail &&
                   store_msg_fuzz_same(out + WEFT_STORE_MSG_HDR_LEN, payload,
                                       len - WEFT_STORE_MSG_HDR_LEN),
               "the prefix encoding is the frame without its data");
    if (m->type == WEFT_STORE_MSG_MISSING) {
        uint32_t sum = 0;

        for (size_t i = 0; i < m->len / 4; i++) {
            sum += weft__store_msg_missing_rank(m, i);
        }
        (void)sum;
    }
    free(out);
}

static void
store_msg_fuzz_frame(const uint8_t *in, size_t len, int from_server)
{
    weft__store_msg_t m;
    char why[256];

    why[0] = '\0';
    if (weft__store_msg_decode_frame(in, len, from_server, &m, why,
                                     sizeof(why)) != WEFT_OK) {
        fuzz_check(why[0] != '\0' && memchr(why, '\0', sizeof(why)) != NULL,
                   "a rejected frame has a reason");
        return;
    }
    store_msg_fuzz_roundtrip(&m, in, in + WEFT_STORE_MSG_HDR_LEN,
                             len - WEFT_STORE_MSG_HDR_LEN);
}

static void
store_msg_fuzz_payload(const uint8_t *in, size_t len)
{
    weft__store_msg_t m;
    char why[256];

    if (len < 1) {
        return;
    }
    why[0] = '\0';
    if (weft__store_msg_decode(in[0], 0x5eed, in + 1, len - 1, &m, why,
                               sizeof(why)) != WEFT_OK) {
        fuzz_check(why[0] != '\0', "a rejected payload has a reason");
        return;
    }
    store_msg_fuzz_roundtrip(&m, NULL, in + 1, len - 1);
}

/* What weft__store_rx_read must answer for the next frame of a stream
 * whose unread bytes are in[0, len), then EOF: the codec's verdict on
 * the same bytes, the caller's bound on a GATHERED frame's data
 * (gathered_max, SIZE_MAX: none), or PEER_LOST when the frame is cut
 * short. *used_p: the frame's length. */
static weft_status_t
store_msg_fuzz_expect(const uint8_t *in, size_t len, int from_server,
                      size_t gathered_max, size_t *used_p)
{
    weft__store_msg_t m;
    uint32_t plen, id;
    uint8_t type;

    if (len < WEFT_STORE_MSG_HDR_LEN) {
        return WEFT_ERR_PEER_LOST;
    }
    if (weft__store_msg_header_decode(in, from_server, &type, &plen, &id, NULL,
                                      0) != WEFT_OK) {
        return WEFT_ERR_PROTOCOL;
    }
    if (type == WEFT_STORE_MSG_GATHERED && plen > 4 &&
        plen - 4 > gathered_max) {
        return WEFT_ERR_PROTOCOL;
    }
    if (len - WEFT_STORE_MSG_HDR_LEN < plen) {
        return WEFT_ERR_PEER_LOST;
    }
    *used_p = WEFT_STORE_MSG_HDR_LEN + plen;
    return weft__store_msg_decode(type, id, in + WEFT_STORE_MSG_HDR_LEN, plen,
                                  &m, NULL, 0);
}

static void
store_msg_fuzz_stream(const uint8_t *in, size_t len, int from_server)
{
    weft__store_rx_t rx;
    weft__store_msg_t m;
    size_t gathered_max, off = 0, pos = 0, used;
    weft_status_t st = WEFT_OK, want;
    char why[256];
    int fds[2];

    if (len < 1) {
        return;
    }
    gathered_max = in[0] == 0xff ? SIZE_MAX : (size_t)1 << (in[0] % 28);
    in++;
    len--;
    if (len > STORE_MSG_FUZZ_STREAM_MAX) {
        len = STORE_MSG_FUZZ_STREAM_MAX;
    }
    fuzz_check(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0, "socketpair");
    while (off < len) {
        ssize_t n = write(fds[1], in + off, len - off);

        fuzz_check(n > 0, "write to the socketpair");
        off += (size_t)n;
    }
    shutdown(fds[1], SHUT_WR);
    fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    memset(&rx, 0, sizeof(rx));
    for (int i = 0; i < STORE_MSG_FUZZ_FRAMES && st == WEFT_OK; i++) {
        used = 0;
        want = store_msg_fuzz_expect(in + pos, len - pos, from_server,
                                     gathered_max, &used);
        st = weft__store_rx_read(&rx, fds[0], from_server, gathered_max, &m,
                                 why, sizeof(why));
        fuzz_check(st != WEFT_INPROGRESS, "rx_read is not stuck after EOF");
        fuzz_check(st == want, "rx_read judges a frame as the codec does");
        if (st == WEFT_OK) {
            fuzz_check(rx.frame_done && rx.plen == rx.poff,
                       "a returned frame is complete");
            store_msg_fuzz_roundtrip(&m, rx.hdr, rx.payload, rx.plen);
            pos += used;
        }
    }
    weft__store_rx_free(&rx);
    close(fds[0]);
    close(fds[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    int from_server;

    if (!quiet) {
        fuzz_log_quiet();
        quiet = 1;
    }
    if (size < 1) {
        return 0;
    }
    from_server = data[0] & 1;
    switch ((data[0] >> 1) % 3) {
    case 0:
        store_msg_fuzz_frame(data + 1, size - 1, from_server);
        break;
    case 1:
        store_msg_fuzz_payload(data + 1, size - 1);
        break;
    default:
        store_msg_fuzz_stream(data + 1, size - 1, from_server);
        break;
    }
    return 0;
}
