/*
 * Copies around the cache (src/copy.c): every byte lands as memcpy would
 * put it, for every length and both buffers' alignments, and not one byte
 * outside the destination; the cache size is read.
 */
#include "build_config.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "copy.h"

#define CP_GUARD 64
#define CP_FILL  0xa5

/* Copy len bytes from src offset so to dst offset d (mod 64 each) and
 * check every byte of the destination area and its guards. */
static void
cp_check(uint8_t *src, uint8_t *dst, size_t len, size_t so, size_t d)
{
    uint8_t *to = dst + CP_GUARD + d;

    memset(dst, CP_FILL, CP_GUARD + 64 + len + CP_GUARD);
    weft__copy_stream(to, src + so, len);
    for (size_t i = 0; i < len; i++) {
        cr_assert_eq(to[i], src[so + i],
                     "len %zu, src +%zu, dst +%zu: byte %zu is %u, not %u", len,
                     so, d, i, to[i], src[so + i]);
    }
    for (size_t i = 0; i < CP_GUARD + d; i++) {
        cr_assert_eq(dst[i], CP_FILL,
                     "len %zu, src +%zu, dst +%zu: wrote %zu bytes before", len,
                     so, d, CP_GUARD + d - i);
    }
    for (size_t i = 0; i < CP_GUARD; i++) {
        cr_assert_eq(to[len + i], CP_FILL,
                     "len %zu, src +%zu, dst +%zu: wrote byte %zu past the "
                     "end",
                     len, so, d, i);
    }
}

Test(core_copy, every_length_and_alignment_to_a_few_lines)
{
    size_t max = 1100;
    uint8_t *src = aligned_alloc(64, max + 128);
    uint8_t *dst = aligned_alloc(64, max + 64 + 2 * CP_GUARD + 64);

    cr_assert(src != NULL && dst != NULL);
    for (size_t i = 0; i < max + 128; i++) {
        src[i] = (uint8_t)(i * 131 + 7);
    }
    for (size_t len = 0; len <= max; len++) {
        /* every alignment pair at the sizes around the cut to streaming
         * (256) and a few lines; the first four of each elsewhere */
        size_t step = (len >= 250 && len <= 330) ? 1 : 17;

        for (size_t so = 0; so < 64; so += step) {
            for (size_t d = 0; d < 64; d += step) {
                cp_check(src, dst, len, so, d);
            }
        }
    }
    free(src);
    free(dst);
}

Test(core_copy, megabytes_at_odd_offsets)
{
    size_t len = (size_t)3 << 20;
    uint8_t *src = malloc(len + 64);
    uint8_t *dst = malloc(len + 64 + 2 * CP_GUARD + 64);

    cr_assert(src != NULL && dst != NULL);
    for (size_t i = 0; i < len + 64; i++) {
        src[i] = (uint8_t)((i >> 8) ^ (i * 29));
    }
    cp_check(src, dst, len + 13, 3, 45);
    cp_check(src, dst, len, 0, 0);
    free(src);
    free(dst);
}

Test(core_copy, the_cache_size_is_read)
{
    size_t b = weft__copy_cache_bytes();

    cr_assert(b >= ((size_t)256 << 10) && b <= ((size_t)4 << 30),
              "cache size %zu bytes", b);
    cr_assert_eq(weft__copy_cache_bytes(), b, "read again: not the same");
}
