/*
 * fuzz_wire: frame headers of the stream transports (src/wire.h).
 *
 * Bytes 0-11 are the link's weft__wire_limits_t (src, max_eager,
 * max_data; u32 little-endian), bytes 12-51 the header given to
 * weft__wire_decode (a shorter input is padded with zeros; more is
 * ignored). An accepted header must obey the limits and re-encode to the
 * same 40 bytes; a rejected one must leave *hdr untouched and say why.
 */
#include "build_config.h"

#include <string.h>

#include "fuzz/fuzz.h"
#include "wire.h"

#define WIRE_FUZZ_LIMITS_LEN 12

static uint32_t
wire_fuzz_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void
wire_fuzz_accepted(const weft__wire_hdr_t *h, const weft__wire_limits_t *lim,
                   const uint8_t in[WEFT_WIRE_HDR_LEN])
{
    uint8_t out[WEFT_WIRE_HDR_LEN];

    fuzz_check(h->type >= WEFT_WIRE_EAGER && h->type <= WEFT_WIRE_TYPE_LAST,
               "accepted type is known");
    fuzz_check(h->flags == 0 && h->src == lim->src,
               "accepted header has no flags and the link's source");
    switch (h->type) {
    case WEFT_WIRE_EAGER:
        fuzz_check(h->len <= lim->max_eager && h->size == h->len,
                   "eager within max_eager, size == len");
        break;
    case WEFT_WIRE_RTS:
        fuzz_check(h->len == 0 && h->size > 0, "rts: no payload, a size");
        break;
    case WEFT_WIRE_DATA:
        fuzz_check(h->len > 0 && h->len <= lim->max_data,
                   "data within max_data");
        break;
    default:
        fuzz_check(h->len == 0, "cts and bye carry no payload");
        break;
    }
    weft__wire_encode(h, out);
    fuzz_check(memcmp(out, in, WEFT_WIRE_HDR_LEN) == 0,
               "an accepted header re-encodes to its bytes");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t buf[WIRE_FUZZ_LIMITS_LEN + WEFT_WIRE_HDR_LEN];
    const uint8_t *in = buf + WIRE_FUZZ_LIMITS_LEN;
    weft__wire_limits_t lim;
    weft__wire_hdr_t hdr, untouched;
    char why[160];

    memset(buf, 0, sizeof(buf));
    if (size > 0) {
        memcpy(buf, data, size < sizeof(buf) ? size : sizeof(buf));
    }
    lim.src = wire_fuzz_get32(buf);
    lim.max_eager = wire_fuzz_get32(buf + 4);
    lim.max_data = wire_fuzz_get32(buf + 8);
    memset(&hdr, 0xa5, sizeof(hdr));
    memcpy(&untouched, &hdr, sizeof(hdr));
    why[0] = '\0';
    if (weft__wire_decode(in, &lim, &hdr, why, sizeof(why)) == WEFT_OK) {
        wire_fuzz_accepted(&hdr, &lim, in);
    } else {
        fuzz_check(memcmp(&hdr, &untouched, sizeof(hdr)) == 0,
                   "a rejected header is not written");
        fuzz_check(why[0] != '\0', "a rejected header has a reason");
    }
    fuzz_check(weft__wire_type_name(in[5]) != NULL, "every type has a name");
    return 0;
}
