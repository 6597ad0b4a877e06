/* Copies that bypass the cache, for data larger than it. */
#ifndef WEFT_COPY_H
#define WEFT_COPY_H

#include <stddef.h>

/* Copy n bytes with stores that go straight to memory (x86-64 movntdq)
 * where they are whole cache lines: the destination's lines are not read
 * before they are written, and nothing cached is evicted for them.
 * memcpy on other machines. For data nobody reads again soon, in a call
 * whose data does not fit the cache (weft__copy_cache_bytes); slower than
 * memcpy where it would fit. */
void weft__copy_stream(void *dst, const void *src, size_t n);

/* The size of the largest cache of CPU 0 (sysfs; 32 MiB where sysfs does
 * not say). Read once per process. */
size_t weft__copy_cache_bytes(void);

#endif /* WEFT_COPY_H */
