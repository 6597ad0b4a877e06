/*
 * A CPU stand-in for the parts of the CUDA runtime libweft_cuda and
 * tests/test_cuda_stream use, for checking the stream/proxy logic on a
 * machine without a GPU (CI has none; the real test skips there). Not
 * built by make; not a model of CUDA's timing or of every rule (it has
 * one device, and its legacy stream does not synchronize with others).
 * Streams are threads that run their queue in order (copies, memsets,
 * event records, host functions, flag waits); "device memory" is malloc
 * remembered in a table, so cudaPointerGetAttributes and
 * cuMemGetAddressRange answer as for real allocations.
 *
 *     gcc -O1 -g -fPIC -shared -I/usr/local/cuda/include \
 *         -o libfakecudart.so contrib/fake_cudart.c -lpthread
 *     LD_PRELOAD=$PWD/libfakecudart.so tests/test_cuda_stream
 */
#define _GNU_SOURCE
#include <cuda.h>
#include <cuda_runtime_api.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct blk {
    char *p;
    size_t n;
    int type;
    struct blk *next;
} blk_t;
static blk_t *blks;
static pthread_mutex_t blk_lock = PTHREAD_MUTEX_INITIALIZER;

static void
blk_add(void *p, size_t n, int type)
{
    blk_t *b = malloc(sizeof(*b));
    b->p = p;
    b->n = n;
    b->type = type;
    pthread_mutex_lock(&blk_lock);
    b->next = blks;
    blks = b;
    pthread_mutex_unlock(&blk_lock);
}
static blk_t *
blk_find(const void *p)
{
    blk_t *b;
    pthread_mutex_lock(&blk_lock);
    for (b = blks; b; b = b->next)
        if ((const char *)p >= b->p &&
            (const char *)p < b->p + (b->n ? b->n : 1))
            break;
    pthread_mutex_unlock(&blk_lock);
    return b;
}
static void
blk_del(void *p)
{
    blk_t **pp;
    pthread_mutex_lock(&blk_lock);
    for (pp = &blks; *pp; pp = &(*pp)->next)
        if ((*pp)->p == p) {
            blk_t *b = *pp;
            *pp = b->next;
            free(b);
            break;
        }
    pthread_mutex_unlock(&blk_lock);
}

struct CUevent_st {
    volatile long rec, done;
};
enum { OP_COPY, OP_SET, OP_EVENT, OP_WAIT, OP_HOST };
typedef struct op {
    int kind;
    void *dst;
    const void *src;
    size_t n;
    int val;
    struct CUevent_st *ev;
    long gen;
    volatile uint32_t *addr;
    uint32_t wv;
    cudaHostFn_t fn;
    void *arg;
    struct op *next;
} op_t;
struct CUstream_st {
    pthread_mutex_t m;
    pthread_cond_t c, idle;
    op_t *h, *t;
    int busy, stop;
    pthread_t th;
};
static struct CUstream_st *legacy;
static pthread_mutex_t legacy_lock = PTHREAD_MUTEX_INITIALIZER;

static void *
stream_main(void *a)
{
    struct CUstream_st *s = a;
    for (;;) {
        pthread_mutex_lock(&s->m);
        while (!s->h) {
            s->busy = 0;
            pthread_cond_broadcast(&s->idle);
            pthread_cond_wait(&s->c, &s->m);
        }
        op_t *o = s->h;
        s->h = o->next;
        if (!s->h)
            s->t = NULL;
        s->busy = 1;
        pthread_mutex_unlock(&s->m);
        switch (o->kind) {
        case OP_COPY:
            memcpy(o->dst, o->src, o->n);
            break;
        case OP_SET:
            memset(o->dst, o->val, o->n);
            break;
        case OP_EVENT:
            __atomic_store_n(&o->ev->done, o->gen, __ATOMIC_RELEASE);
            break;
        case OP_WAIT:
            while ((int32_t)(__atomic_load_n(o->addr, __ATOMIC_ACQUIRE) -
                             o->wv) < 0)
                sched_yield();
            break;
        case OP_HOST:
            o->fn(o->arg);
            break;
        }
        free(o);
    }
    return NULL;
}
static struct CUstream_st *
stream_new(void)
{
    struct CUstream_st *s = calloc(1, sizeof(*s));
    pthread_mutex_init(&s->m, NULL);
    pthread_cond_init(&s->c, NULL);
    pthread_cond_init(&s->idle, NULL);
    pthread_create(&s->th, NULL, stream_main, s);
    return s;
}
static struct CUstream_st *
S(cudaStream_t s)
{
    if (s == NULL || s == cudaStreamLegacy || s == cudaStreamPerThread) {
        pthread_mutex_lock(&legacy_lock);
        if (!legacy)
            legacy = stream_new();
        pthread_mutex_unlock(&legacy_lock);
        return legacy;
    }
    return s;
}
static void
push(cudaStream_t st, op_t *o)
{
    struct CUstream_st *s = S(st);
    o->next = NULL;
    pthread_mutex_lock(&s->m);
    if (s->t)
        s->t->next = o;
    else
        s->h = o;
    s->t = o;
    s->busy = 1;
    pthread_cond_signal(&s->c);
    pthread_mutex_unlock(&s->m);
}
cudaError_t
cudaStreamSynchronize(cudaStream_t st)
{
    struct CUstream_st *s = S(st);
    pthread_mutex_lock(&s->m);
    while (s->h || s->busy)
        pthread_cond_wait(&s->idle, &s->m);
    pthread_mutex_unlock(&s->m);
    return cudaSuccess;
}
cudaError_t
cudaDeviceSynchronize(void)
{
    return cudaStreamSynchronize(NULL);
}
cudaError_t
cudaStreamCreateWithFlags(cudaStream_t *p, unsigned f)
{
    *p = stream_new();
    return cudaSuccess;
}
cudaError_t
cudaStreamDestroy(cudaStream_t s)
{
    cudaStreamSynchronize(s);
    return cudaSuccess;
}
cudaError_t
cudaStreamGetDevice(cudaStream_t s, int *d)
{
    *d = 0;
    return cudaSuccess;
}
cudaError_t
cudaGetDeviceCount(int *n)
{
    *n = 1;
    return cudaSuccess;
}
cudaError_t
cudaSetDevice(int d)
{
    return d == 0 ? cudaSuccess : cudaErrorInvalidDevice;
}
cudaError_t
cudaGetDevice(int *d)
{
    *d = 0;
    return cudaSuccess;
}
cudaError_t
cudaMalloc(void **p, size_t n)
{
    *p = n ? malloc(n) : NULL;
    if (n)
        blk_add(*p, n, cudaMemoryTypeDevice);
    return cudaSuccess;
}
cudaError_t
cudaFree(void *p)
{
    if (p) {
        blk_del(p);
        free(p);
    }
    return cudaSuccess;
}
cudaError_t
cudaMallocHost(void **p, size_t n)
{
    *p = malloc(n);
    blk_add(*p, n, cudaMemoryTypeHost);
    return cudaSuccess;
}
cudaError_t
cudaHostAlloc(void **p, size_t n, unsigned f)
{
    return cudaMallocHost(p, n);
}
cudaError_t
cudaFreeHost(void *p)
{
    return cudaFree(p);
}
cudaError_t
cudaHostGetDevicePointer(void **d, void *h, unsigned f)
{
    *d = h;
    return cudaSuccess;
}
cudaError_t
cudaMemcpy(void *d, const void *s, size_t n, enum cudaMemcpyKind k)
{
    cudaStreamSynchronize(NULL);
    memcpy(d, s, n);
    return cudaSuccess;
}
cudaError_t
cudaMemset(void *d, int v, size_t n)
{
    cudaStreamSynchronize(NULL);
    memset(d, v, n);
    return cudaSuccess;
}
cudaError_t
cudaMemcpyAsync(void *d, const void *s, size_t n, enum cudaMemcpyKind k,
                cudaStream_t st)
{
    op_t *o = calloc(1, sizeof(*o));
    o->kind = OP_COPY;
    o->dst = d;
    o->src = s;
    o->n = n;
    push(st, o);
    return cudaSuccess;
}
cudaError_t
cudaMemsetAsync(void *d, int v, size_t n, cudaStream_t st)
{
    op_t *o = calloc(1, sizeof(*o));
    o->kind = OP_SET;
    o->dst = d;
    o->val = v;
    o->n = n;
    push(st, o);
    return cudaSuccess;
}
cudaError_t
cudaLaunchHostFunc(cudaStream_t st, cudaHostFn_t fn, void *arg)
{
    op_t *o = calloc(1, sizeof(*o));
    o->kind = OP_HOST;
    o->fn = fn;
    o->arg = arg;
    push(st, o);
    return cudaSuccess;
}
cudaError_t
cudaEventCreateWithFlags(cudaEvent_t *e, unsigned f)
{
    *e = calloc(1, sizeof(struct CUevent_st));
    return cudaSuccess;
}
cudaError_t
cudaEventDestroy(cudaEvent_t e)
{
    free(e);
    return cudaSuccess;
}
cudaError_t
cudaEventRecord(cudaEvent_t e, cudaStream_t st)
{
    op_t *o = calloc(1, sizeof(*o));
    o->kind = OP_EVENT;
    o->ev = e;
    o->gen = ++e->rec;
    push(st, o);
    return cudaSuccess;
}
cudaError_t
cudaEventQuery(cudaEvent_t e)
{
    return __atomic_load_n(&e->done, __ATOMIC_ACQUIRE) >= e->rec
               ? cudaSuccess
               : cudaErrorNotReady;
}
cudaError_t
cudaEventSynchronize(cudaEvent_t e)
{
    while (cudaEventQuery(e) != cudaSuccess)
        sched_yield();
    return cudaSuccess;
}
cudaError_t
cudaPointerGetAttributes(struct cudaPointerAttributes *a, const void *p)
{
    blk_t *b = blk_find(p);
    memset(a, 0, sizeof(*a));
    a->type = b ? b->type : cudaMemoryTypeUnregistered;
    a->device = 0;
    a->devicePointer = (void *)p;
    return cudaSuccess;
}
const char *
cudaGetErrorString(cudaError_t e)
{
    return e ? "fake error" : "no error";
}
const char *
cudaGetErrorName(cudaError_t e)
{
    return e ? "cudaErrorFake" : "cudaSuccess";
}
cudaError_t
cudaGetLastError(void)
{
    return cudaSuccess;
}
cudaError_t
cudaGetDeviceProperties(struct cudaDeviceProp *p, int d)
{
    memset(p, 0, sizeof(*p));
    strcpy(p->name, "fake");
    return cudaSuccess;
}
static CUresult
f_wait(CUstream st, CUdeviceptr addr, cuuint32_t v, unsigned flags)
{
    op_t *o = calloc(1, sizeof(*o));
    o->kind = OP_WAIT;
    o->addr = (volatile uint32_t *)addr;
    o->wv = v;
    push(st, o);
    return CUDA_SUCCESS;
}
static CUresult
f_range(CUdeviceptr *base, size_t *size, CUdeviceptr p)
{
    blk_t *b = blk_find((void *)p);
    if (!b)
        return CUDA_ERROR_NOT_FOUND;
    *base = (CUdeviceptr)b->p;
    *size = b->n;
    return CUDA_SUCCESS;
}
static CUresult
f_err(CUresult r, const char **s)
{
    *s = "fake driver error";
    return CUDA_SUCCESS;
}
cudaError_t
cudaGetDriverEntryPointByVersion(const char *sym, void **fn, unsigned v,
                                 unsigned long long fl,
                                 enum cudaDriverEntryPointQueryResult *q)
{
    *fn = !strcmp(sym, "cuStreamWaitValue32")    ? (void *)f_wait
          : !strcmp(sym, "cuMemGetAddressRange") ? (void *)f_range
          : !strcmp(sym, "cuGetErrorString")     ? (void *)f_err
                                                 : NULL;
    if (q)
        *q = *fn ? cudaDriverEntryPointSuccess
                 : cudaDriverEntryPointSymbolNotFound;
    return cudaSuccess;
}
cudaError_t
cudaLibraryLoadData(cudaLibrary_t *l, const void *code, enum cudaJitOption *jo,
                    void **jv, unsigned nj, enum cudaLibraryOption *lo,
                    void **lv, unsigned nl)
{
    *l = (cudaLibrary_t)0x1;
    return cudaSuccess;
}
cudaError_t
cudaLibraryGetKernel(cudaKernel_t *k, cudaLibrary_t l, const char *name)
{
    *k = (cudaKernel_t)0x2;
    return cudaSuccess;
}
cudaError_t
cudaLaunchKernel(const void *f, dim3 g, dim3 b, void **args, size_t sm,
                 cudaStream_t st)
{
    static int said;
    if (!said++)
        fprintf(stderr, "fake: wait kernel launched\n");
    op_t *o = calloc(1, sizeof(*o));
    o->kind = OP_WAIT;
    o->addr = *(volatile uint32_t **)args[0];
    o->wv = *(uint32_t *)args[1];
    push(st, o);
    return cudaSuccess;
}
