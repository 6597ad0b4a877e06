/* A transport module built for another ABI: the loader must refuse it,
 * naming the file and the versions (tests/test_tl_modules.c). */
#include <weft/transport.h>

WEFT_TL_PLUGIN_EXPORT const weft_tl_ops_t weft_tl_plugin_v1 = {
    .abi_version = WEFT_TL_ABI_VERSION + 98,
    .size = sizeof(weft_tl_ops_t),
    .name = "ucx",
};
