/*
 * fuzz_ctrl_msg: control messages that came over a data link from a peer
 * (src/ctrl_msg.h).
 *
 * Bytes 0-1 are the job's rank count minus one (u16 little-endian), byte
 * 2 bit 0 says the receive was truncated, the rest is what was received
 * (more than a control message can hold counts as truncated, as the
 * transport would report it). An accepted message must have every field
 * in range, its reason NUL-free and as long as it says, and re-encode to
 * exactly the bytes received; a rejected one must say why.
 */
#include "build_config.h"

#include <string.h>
#include <weft/status.h>

#include "comm.h"
#include "ctrl_msg.h"
#include "fuzz/fuzz.h"

#define CTRL_FUZZ_PREFIX 3

static void
ctrl_fuzz_accepted(const weft__ctrl_msg_t *m, const uint8_t *wire, size_t bytes,
                   int nranks)
{
    uint8_t out[WEFT_CTRL_WIRE_MAX];

    fuzz_check(m->magic == WEFT_CTRL_MAGIC && m->version == WEFT_CTRL_VERSION &&
                   m->kind == WEFT_CTRL_KIND_COMM_ERROR,
               "accepted: magic, version and kind are the known ones");
    fuzz_check(m->reason_len <= WEFT_CTRL_REASON_MAX &&
                   bytes == WEFT_CTRL_HDR_SIZE + m->reason_len,
               "accepted: the length is the header and the reason");
    fuzz_check(strlen(m->reason) == m->reason_len,
               "accepted: the reason has no NUL and is terminated");
    fuzz_check(m->origin >= 0 && m->origin < nranks,
               "accepted: the origin is a rank of the job");
    fuzz_check(m->comm_id <= WEFT_COMM_ID_MAX,
               "accepted: the communicator id is in range");
    fuzz_check(m->status < 0 && m->status > WEFT_ERR_LAST,
               "accepted: the status is an error weft knows");
    fuzz_check(weft__ctrl_msg_encode(m, out) == bytes &&
                   memcmp(out, wire, bytes) == 0,
               "accepted: re-encodes to the bytes received");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    weft__ctrl_msg_t m;
    const char *bad;
    size_t bytes;
    int nranks, truncated;

    if (size < CTRL_FUZZ_PREFIX) {
        return 0;
    }
    nranks = 1 + (int)(data[0] | (unsigned)data[1] << 8);
    truncated = data[2] & 1;
    bytes = size - CTRL_FUZZ_PREFIX;
    if (bytes > WEFT_CTRL_WIRE_MAX) {
        bytes = WEFT_CTRL_WIRE_MAX; /* the receive buffer's size */
        truncated = 1;
    }
    memset(&m, 0, sizeof(m));
    bad = weft__ctrl_msg_parse(data + CTRL_FUZZ_PREFIX, bytes, truncated,
                               nranks, &m);
    if (bad == NULL) {
        fuzz_check(!truncated, "a truncated receive is never accepted");
        ctrl_fuzz_accepted(&m, data + CTRL_FUZZ_PREFIX, bytes, nranks);
    } else {
        fuzz_check(bad[0] != '\0', "a rejection says why");
    }
    return 0;
}
