/*
 * Making a stream wait until the comm's flag reaches a value, where the
 * driver has no cuStreamWaitValue32: a one-thread kernel that polls it.
 */
#ifndef WEFT_CUDA_WAIT_KERNEL_H
#define WEFT_CUDA_WAIT_KERNEL_H

#include <cuda.h>
#include <cuda_runtime_api.h>
#include <stdint.h>
#include <weft/status.h>

/* Load the kernel (once per process). */
weft_status_t weft__cuda_wait_kernel_load(const char *fn);

/* Enqueue on `stream`: wait until (int32_t)(*flag - value) >= 0. */
weft_status_t weft__cuda_wait_kernel_enqueue(const char *fn,
                                             cudaStream_t stream,
                                             CUdeviceptr flag_dev,
                                             uint32_t value);

#endif /* WEFT_CUDA_WAIT_KERNEL_H */
