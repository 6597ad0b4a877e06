/* The frame header: round trips and every rejection rule. */
#include "build_config.h"

#include <criterion/criterion.h>
#include <string.h>

#include "wire.h"

static const weft__wire_limits_t limits = {
    .src = 3, .max_eager = 65536, .max_data = 1 << 20};

static weft_status_t
decode(const uint8_t *buf, weft__wire_hdr_t *h, char *why)
{
    return weft__wire_decode(buf, &limits, h, why, 128);
}

Test(core_wire, round_trip_of_every_type, .timeout = 10)
{
    const weft__wire_hdr_t in[] = {
        {.type = WEFT_WIRE_EAGER, .src = 3, .len = 17, .tag = ~0ull,
         .size = 17},
        {.type = WEFT_WIRE_EAGER, .src = 3, .len = 0, .tag = 5, .size = 0},
        {.type = WEFT_WIRE_RTS, .src = 3, .tag = 1ull << 40, .msg_id = 9,
         .size = 1ull << 33},
        {.type = WEFT_WIRE_CTS, .src = 3, .msg_id = 9, .size = 100},
        {.type = WEFT_WIRE_DATA, .src = 3, .len = 1 << 20, .msg_id = 9,
         .size = 4096},
        {.type = WEFT_WIRE_BYE, .src = 3},
    };

    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        uint8_t buf[WEFT_WIRE_HDR_LEN];
        weft__wire_hdr_t out;
        char why[128] = "";

        weft__wire_encode(&in[i], buf);
        cr_assert_eq(decode(buf, &out, why), WEFT_OK, "case %zu: %s", i, why);
        cr_assert_eq(memcmp(&out.type, &in[i].type, 1), 0);
        cr_assert_eq(out.src, in[i].src);
        cr_assert_eq(out.len, in[i].len);
        cr_assert_eq(out.tag, in[i].tag);
        cr_assert_eq(out.msg_id, in[i].msg_id);
        cr_assert_eq(out.size, in[i].size);
    }
}

Test(core_wire, little_endian_layout, .timeout = 10)
{
    weft__wire_hdr_t h = {.type = WEFT_WIRE_EAGER, .src = 3, .len = 2,
                          .size = 2, .tag = 0x0102030405060708ull};
    uint8_t buf[WEFT_WIRE_HDR_LEN];

    weft__wire_encode(&h, buf);
    cr_assert_eq(memcmp(buf, "WFT1", 4), 0);
    cr_assert_eq(buf[4], WEFT_WIRE_VERSION);
    cr_assert_eq(buf[5], WEFT_WIRE_EAGER);
    cr_assert_eq(buf[8], 3);
    cr_assert_eq(buf[16], 0x08);
    cr_assert_eq(buf[23], 0x01);
}

static void
expect_reject(const weft__wire_hdr_t *h, void (*corrupt)(uint8_t *),
              const char *what)
{
    uint8_t buf[WEFT_WIRE_HDR_LEN];
    weft__wire_hdr_t out;
    char why[128] = "";

    weft__wire_encode(h, buf);
    if (corrupt != NULL) {
        corrupt(buf);
    }
    memset(&out, 0xab, sizeof(out));
    cr_assert_eq(decode(buf, &out, why), WEFT_ERR_PROTOCOL, "%s accepted",
                 what);
    cr_assert(strlen(why) > 0, "%s: no reason", what);
    cr_assert_eq(out.src, 0xabababab, "%s: header written on failure", what);
}

static void
bad_magic(uint8_t *b)
{
    b[0] ^= 1;
}

static void
bad_version(uint8_t *b)
{
    b[4] = WEFT_WIRE_VERSION + 1;
}

static void
bad_type(uint8_t *b)
{
    b[5] = 0;
}

static void
big_type(uint8_t *b)
{
    b[5] = 200;
}

static void
bad_flags(uint8_t *b)
{
    b[7] = 0x80;
}

Test(core_wire, every_bad_field_is_rejected, .timeout = 10)
{
    weft__wire_hdr_t ok = {.type = WEFT_WIRE_EAGER, .src = 3, .len = 4,
                           .size = 4};
    weft__wire_hdr_t h;

    expect_reject(&ok, bad_magic, "bad magic");
    expect_reject(&ok, bad_version, "bad version");
    expect_reject(&ok, bad_type, "type 0");
    expect_reject(&ok, big_type, "type 200");
    expect_reject(&ok, bad_flags, "unknown flags");
    h = ok;
    h.src = 4;
    expect_reject(&h, NULL, "spoofed source rank");
    h = ok;
    h.len = 65537;
    h.size = 65537;
    expect_reject(&h, NULL, "eager over the limit");
    h = ok;
    h.len = 0xffffffffu;
    h.size = 0xffffffffu;
    expect_reject(&h, NULL, "eager of 4 GiB");
    h = ok;
    h.size = 5;
    expect_reject(&h, NULL, "eager size != len");
    h = (weft__wire_hdr_t){.type = WEFT_WIRE_RTS, .src = 3, .len = 1,
                           .size = 8};
    expect_reject(&h, NULL, "rts with payload");
    h.len = 0;
    h.size = 0;
    expect_reject(&h, NULL, "rts of 0 bytes");
    h = (weft__wire_hdr_t){.type = WEFT_WIRE_CTS, .src = 3, .len = 8};
    expect_reject(&h, NULL, "cts with payload");
    h = (weft__wire_hdr_t){.type = WEFT_WIRE_DATA, .src = 3, .len = 0};
    expect_reject(&h, NULL, "empty data");
    h.len = (1 << 20) + 1;
    expect_reject(&h, NULL, "data over the limit");
    h = (weft__wire_hdr_t){.type = WEFT_WIRE_BYE, .src = 3, .len = 1};
    expect_reject(&h, NULL, "bye with payload");
}
