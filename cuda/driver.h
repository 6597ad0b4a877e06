/*
 * The CUDA pieces libweft_cuda needs beyond the runtime API: driver entry
 * points fetched through the runtime (so nothing links libcuda), and the
 * conversion of CUDA errors into weft statuses with a message.
 */
#ifndef WEFT_CUDA_DRIVER_H
#define WEFT_CUDA_DRIVER_H

#include <cuda.h>
#include <cuda_runtime_api.h>
#include <weft/status.h>

typedef struct weft__cuda_driver {
    CUresult (*stream_wait_value32)(CUstream stream, CUdeviceptr addr,
                                    cuuint32_t value, unsigned int flags);
    CUresult (*mem_get_address_range)(CUdeviceptr *base, size_t *size,
                                      CUdeviceptr ptr);
    CUresult (*get_error_string)(CUresult res, const char **str);
} weft__cuda_driver_t;

/* The entry points, fetched once; WEFT_ERR_CUDA (logged) when the driver
 * lacks one. `fn` names the caller in the message. */
weft_status_t weft__cuda_driver_get(const char *fn,
                                    const weft__cuda_driver_t **drv_p);

/* WEFT_ERR_CUDA, logged: "<fn>: <what> failed: <CUDA's message>". */
weft_status_t weft__cuda_error(const char *fn, const char *what,
                               cudaError_t err);
weft_status_t weft__cuda_drv_error(const char *fn, const char *what,
                                   CUresult res);

#endif /* WEFT_CUDA_DRIVER_H */
