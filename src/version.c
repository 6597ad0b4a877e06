/* weft_version(): the version of the loaded library. */
#include "build_config.h"

#include <weft/version.h>

const char *
weft_version(void)
{
    return WEFT_VERSION_STRING;
}
