/* Frame header codec and validation (see wire.h for the layout). */
#include "build_config.h"
#include "wire.h"

#include <inttypes.h>
#include <stdio.h>

static void
wire_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void
wire_put64(uint8_t *p, uint64_t v)
{
    wire_put32(p, (uint32_t)v);
    wire_put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t
wire_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t
wire_get64(const uint8_t *p)
{
    return (uint64_t)wire_get32(p) | (uint64_t)wire_get32(p + 4) << 32;
}

void
weft__wire_encode(const weft__wire_hdr_t *hdr, uint8_t out[WEFT_WIRE_HDR_LEN])
{
    wire_put32(out, WEFT_WIRE_MAGIC);
    out[4] = WEFT_WIRE_VERSION;
    out[5] = hdr->type;
    out[6] = (uint8_t)hdr->flags;
    out[7] = (uint8_t)(hdr->flags >> 8);
    wire_put32(out + 8, hdr->src);
    wire_put32(out + 12, hdr->len);
    wire_put64(out + 16, hdr->tag);
    wire_put64(out + 24, hdr->msg_id);
    wire_put64(out + 32, hdr->size);
}

const char *
weft__wire_type_name(unsigned type)
{
    static const char *const names[] = {"?", "eager", "rts", "cts", "data",
                                        "bye"};

    return type <= WEFT_WIRE_TYPE_LAST ? names[type] : "?";
}

weft_status_t
weft__wire_decode(const uint8_t in[WEFT_WIRE_HDR_LEN],
                  const weft__wire_limits_t *limits, weft__wire_hdr_t *hdr,
                  char *why, size_t why_len)
{
    weft__wire_hdr_t h;
    uint32_t magic = wire_get32(in);

    if (magic != WEFT_WIRE_MAGIC) {
        snprintf(why, why_len, "bad magic 0x%08" PRIx32, magic);
        return WEFT_ERR_PROTOCOL;
    }
    if (in[4] != WEFT_WIRE_VERSION) {
        snprintf(why, why_len, "unsupported version %u (this is %u)", in[4],
                 WEFT_WIRE_VERSION);
        return WEFT_ERR_PROTOCOL;
    }
    h.type = in[5];
    h.flags = (uint16_t)(in[6] | in[7] << 8);
    h.src = wire_get32(in + 8);
    h.len = wire_get32(in + 12);
    h.tag = wire_get64(in + 16);
    h.msg_id = wire_get64(in + 24);
    h.size = wire_get64(in + 32);

    if (h.type < WEFT_WIRE_EAGER || h.type > WEFT_WIRE_TYPE_LAST) {
        snprintf(why, why_len, "unknown frame type %u", h.type);
        return WEFT_ERR_PROTOCOL;
    }
    if (h.flags != 0) {
        snprintf(why, why_len, "unknown flags 0x%04x in %s frame", h.flags,
                 weft__wire_type_name(h.type));
        return WEFT_ERR_PROTOCOL;
    }
    if (h.src != limits->src) {
        snprintf(why, why_len,
                 "%s frame claims source rank %" PRIu32
                 " on the link of rank %" PRIu32,
                 weft__wire_type_name(h.type), h.src, limits->src);
        return WEFT_ERR_PROTOCOL;
    }
    switch (h.type) {
    case WEFT_WIRE_EAGER:
        if (h.len > limits->max_eager || h.size != h.len) {
            snprintf(why, why_len,
                     "eager frame of %" PRIu32 " bytes (size %" PRIu64
                     ", limit %" PRIu32 ")",
                     h.len, h.size, limits->max_eager);
            return WEFT_ERR_PROTOCOL;
        }
        break;
    case WEFT_WIRE_RTS:
        if (h.len != 0 || h.size == 0) {
            snprintf(why, why_len,
                     "rts frame with payload %" PRIu32 " and size %" PRIu64,
                     h.len, h.size);
            return WEFT_ERR_PROTOCOL;
        }
        break;
    case WEFT_WIRE_CTS:
    case WEFT_WIRE_BYE:
        if (h.len != 0) {
            snprintf(why, why_len, "%s frame with a payload of %" PRIu32,
                     weft__wire_type_name(h.type), h.len);
            return WEFT_ERR_PROTOCOL;
        }
        break;
    case WEFT_WIRE_DATA:
        if (h.len == 0 || h.len > limits->max_data) {
            snprintf(why, why_len,
                     "data frame of %" PRIu32 " bytes (limit %" PRIu32 ")",
                     h.len, limits->max_data);
            return WEFT_ERR_PROTOCOL;
        }
        break;
    }
    *hdr = h;
    return WEFT_OK;
}
