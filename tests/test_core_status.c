/* Status strings, dtype sizes and names. */
#include <criterion/criterion.h>
#include <string.h>
#include <weft.h>

Test(core_status, every_status_has_its_own_string, .timeout = 10)
{
    const weft_status_t all[] = {
        WEFT_OK,             WEFT_INPROGRESS,      WEFT_ERR_INVALID_ARG,
        WEFT_ERR_NO_MEMORY,  WEFT_ERR_UNSUPPORTED, WEFT_ERR_TIMED_OUT,
        WEFT_ERR_TRUNCATED,  WEFT_ERR_SYSTEM,      WEFT_ERR_PEER_LOST,
        WEFT_ERR_MISMATCH,   WEFT_ERR_ABORTED,     WEFT_ERR_AUTH,
        WEFT_ERR_PROTOCOL,   WEFT_ERR_TRANSPORT,   WEFT_ERR_INTERNAL};
    const size_t n = sizeof(all) / sizeof(all[0]);

    for (size_t i = 0; i < n; i++) {
        const char *s = weft_status_string(all[i]);

        cr_assert_not_null(s);
        cr_assert_neq(strcmp(s, "unknown status"), 0, "status %d", all[i]);
        for (size_t j = 0; j < i; j++) {
            cr_assert_neq(strcmp(s, weft_status_string(all[j])), 0,
                          "statuses %d and %d share '%s'", all[i], all[j], s);
        }
    }
}

Test(core_status, unknown_values_are_named_unknown, .timeout = 10)
{
    cr_assert_str_eq(weft_status_string((weft_status_t)-63), "unknown status");
    cr_assert_str_eq(weft_status_string((weft_status_t)42), "unknown status");
    cr_assert_str_eq(weft_status_string(WEFT_ERR_LAST), "unknown status");
}

Test(core_status, dtype_sizes, .timeout = 10)
{
    cr_assert_eq(weft_dtype_size(WEFT_INT8), 1);
    cr_assert_eq(weft_dtype_size(WEFT_UINT8), 1);
    cr_assert_eq(weft_dtype_size(WEFT_INT32), 4);
    cr_assert_eq(weft_dtype_size(WEFT_UINT32), 4);
    cr_assert_eq(weft_dtype_size(WEFT_INT64), 8);
    cr_assert_eq(weft_dtype_size(WEFT_UINT64), 8);
    cr_assert_eq(weft_dtype_size(WEFT_FLOAT16), 2);
    cr_assert_eq(weft_dtype_size(WEFT_BFLOAT16), 2);
    cr_assert_eq(weft_dtype_size(WEFT_FLOAT32), 4);
    cr_assert_eq(weft_dtype_size(WEFT_FLOAT64), 8);
    cr_assert_eq(weft_dtype_size(WEFT_DTYPE_COUNT), 0);
    cr_assert_eq(weft_dtype_size((weft_dtype_t)-1), 0);
}

Test(core_status, dtype_and_op_names, .timeout = 10)
{
    cr_assert_str_eq(weft_dtype_name(WEFT_BFLOAT16), "bfloat16");
    cr_assert_str_eq(weft_dtype_name((weft_dtype_t)99), "invalid");
    cr_assert_str_eq(weft_op_name(WEFT_AVG), "avg");
    cr_assert_str_eq(weft_op_name((weft_op_t)99), "invalid");
}

Test(core_status, version_matches_header, .timeout = 10)
{
    cr_assert_str_eq(weft_version(), WEFT_VERSION_STRING);
}
