/* Driver entry points through the runtime, and CUDA error messages. */
#include "build_config.h"
#include "cuda/driver.h"

#include <pthread.h>
#include <weft/log.h>

static weft__cuda_driver_t driver_table;
static cudaError_t driver_err = cudaSuccess;
static const char *driver_missing;
static pthread_once_t driver_once = PTHREAD_ONCE_INIT;

/* The version of each entry point's ABI we were written against. */
static int
driver_sym(const char *name, unsigned version, void **fn_p)
{
    enum cudaDriverEntryPointQueryResult q = cudaDriverEntryPointSuccess;
    cudaError_t err;

    err = cudaGetDriverEntryPointByVersion(name, fn_p, version,
                                           cudaEnableDefault, &q);
    if (err != cudaSuccess || q != cudaDriverEntryPointSuccess ||
        *fn_p == NULL) {
        driver_err = err != cudaSuccess ? err : cudaErrorSymbolNotFound;
        driver_missing = name;
        return 0;
    }
    return 1;
}

static void
driver_load(void)
{
    (void)(driver_sym("cuStreamWaitValue32", 12000,
                      (void **)&driver_table.stream_wait_value32) &&
           driver_sym("cuMemGetAddressRange", 12000,
                      (void **)&driver_table.mem_get_address_range) &&
           driver_sym("cuGetErrorString", 12000,
                      (void **)&driver_table.get_error_string));
}

weft_status_t
weft__cuda_driver_get(const char *fn, const weft__cuda_driver_t **drv_p)
{
    pthread_once(&driver_once, driver_load);
    if (driver_missing != NULL) {
        return weft_log_error(WEFT_ERR_CUDA, WEFT_LOG_WARN, WEFT_SUB_COLL,
                              "%s: the CUDA driver has no %s (%s)", fn,
                              driver_missing, cudaGetErrorString(driver_err));
    }
    *drv_p = &driver_table;
    return WEFT_OK;
}

weft_status_t
weft__cuda_error(const char *fn, const char *what, cudaError_t err)
{
    return weft_log_error(WEFT_ERR_CUDA, WEFT_LOG_WARN, WEFT_SUB_COLL,
                          "%s: %s failed: %s (%s)", fn, what,
                          cudaGetErrorString(err), cudaGetErrorName(err));
}

weft_status_t
weft__cuda_drv_error(const char *fn, const char *what, CUresult res)
{
    const char *msg = NULL;

    if (driver_table.get_error_string == NULL ||
        driver_table.get_error_string(res, &msg) != CUDA_SUCCESS ||
        msg == NULL) {
        msg = "unknown driver error";
    }
    return weft_log_error(WEFT_ERR_CUDA, WEFT_LOG_WARN, WEFT_SUB_COLL,
                          "%s: %s failed: %s (CUresult %d)", fn, what, msg,
                          (int)res);
}
