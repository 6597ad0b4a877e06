/*
 * The fallback for drivers that refuse cuStreamWaitValue32: a one-thread
 * kernel that polls the host-mapped flag. It holds a slot of one SM while
 * it waits, so it is used only where the stream wait is missing (or a
 * test forces it). The PTX below is nvcc's output (CUDA 13.0, then
 * .version 7.0 / .target sm_70 so older drivers load it too) for
 *
 *     extern "C" __global__ void weft_wait_geq(const volatile unsigned *flag,
 *                                              unsigned value)
 *     {
 *         while ((int)(*flag - value) < 0) {
 *             __nanosleep(2000);
 *         }
 *     }
 *
 * made with: nvcc -ptx -arch=compute_75 wait.cu; the driver compiles it
 * for the GPU at load time.
 */
#include "build_config.h"
#include "cuda/wait_kernel.h"

#include <pthread.h>
#include <weft/log.h>

#include "cuda/driver.h"
#include "errmsg.h" /* WEFT_CHECK only */

static const char wait_kernel_ptx[] =
    ".version 7.0\n"
    ".target sm_70\n"
    ".address_size 64\n"
    " // .globl weft_wait_geq\n"
    ".visible .entry weft_wait_geq(\n"
    " .param .u64 weft_wait_geq_param_0,\n"
    " .param .u32 weft_wait_geq_param_1\n"
    ")\n"
    "{\n"
    " .reg .pred  %p<3>;\n"
    " .reg .b32  %r<7>;\n"
    " .reg .b64  %rd<3>;\n"
    " ld.param.u64  %rd2, [weft_wait_geq_param_0];\n"
    " ld.param.u32  %r1, [weft_wait_geq_param_1];\n"
    " cvta.to.global.u64  %rd1, %rd2;\n"
    " ld.volatile.global.u32  %r2, [%rd1];\n"
    " sub.s32  %r3, %r2, %r1;\n"
    " setp.gt.s32  %p1, %r3, -1;\n"
    " @%p1 bra  $L__BB0_2;\n"
    "$L__BB0_1:\n"
    " mov.u32  %r4, 2000;\n"
    " // begin inline asm\n"
    " nanosleep.u32 %r4;\n"
    " // end inline asm\n"
    " ld.volatile.global.u32  %r5, [%rd1];\n"
    " sub.s32  %r6, %r5, %r1;\n"
    " setp.lt.s32  %p2, %r6, 0;\n"
    " @%p2 bra  $L__BB0_1;\n"
    "$L__BB0_2:\n"
    " ret;\n"
    "}\n";

static cudaLibrary_t wait_kernel_lib;
static cudaKernel_t wait_kernel;
static cudaError_t wait_kernel_err = cudaSuccess;
static pthread_once_t wait_kernel_once = PTHREAD_ONCE_INIT;

static void
wait_kernel_load(void)
{
    wait_kernel_err = cudaLibraryLoadData(&wait_kernel_lib, wait_kernel_ptx,
                                          NULL, NULL, 0, NULL, NULL, 0);
    if (wait_kernel_err == cudaSuccess) {
        wait_kernel_err = cudaLibraryGetKernel(&wait_kernel, wait_kernel_lib,
                                               "weft_wait_geq");
    }
}

weft_status_t
weft__cuda_wait_kernel_load(const char *fn)
{
    pthread_once(&wait_kernel_once, wait_kernel_load);
    if (wait_kernel_err != cudaSuccess) {
        return weft__cuda_error(fn, "loading the flag-wait kernel",
                                wait_kernel_err);
    }
    return WEFT_OK;
}

weft_status_t
weft__cuda_wait_kernel_enqueue(const char *fn, cudaStream_t stream,
                               CUdeviceptr flag_dev, uint32_t value)
{
    void *flag = (void *)flag_dev;
    void *args[] = {&flag, &value};
    dim3 one = {1, 1, 1};
    cudaError_t err;

    WEFT_CHECK(weft__cuda_wait_kernel_load(fn));
    err =
        cudaLaunchKernel((const void *)wait_kernel, one, one, args, 0, stream);
    if (err != cudaSuccess) {
        return weft__cuda_error(fn, "launching the flag-wait kernel", err);
    }
    return WEFT_OK;
}
