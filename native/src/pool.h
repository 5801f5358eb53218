/* Internal side of the thread pool: how kernels split an op across the pool's threads. */
#ifndef PMX_POOL_H
#define PMX_POOL_H
#include <stddef.h>
#include <stdint.h>
#include "panamax.h"

/* fn runs once on each of nth threads (ith = 0..nth-1, the caller is ith 0) and returns when all finished. */
typedef void (*pmx_task_fn)(void *ctx, int ith, int nth);
void pmx_pool_run(pmx_pool *pool, pmx_task_fn fn, void *ctx);

/* A 64-byte-aligned scratch buffer of at least `bytes` owned by the pool, grown (never shrunk) on demand and
 * freed with it, for ops whose ABI takes no caller scratch (pmx_moe_ffn). Valid until the next call; the pool
 * runs one op at a time, so one buffer serves them all. NULL for a NULL pool or when memory runs out. */
void *pmx_pool_scratch(pmx_pool *pool, size_t bytes);

/* [*begin, *end) of n items for thread ith of nth, split in chunks of `align` items (a cache line of output)
 * so that no two threads write the same line. */
static inline void pmx_split(int64_t n, int64_t align, int ith, int nth, int64_t *begin, int64_t *end) {
    const int64_t chunks = (n + align - 1) / align;
    const int64_t per = chunks / nth, extra = chunks % nth;
    const int64_t c0 = ith * per + (ith < extra ? ith : extra);
    const int64_t c1 = c0 + per + (ith < extra ? 1 : 0);
    *begin = c0 * align < n ? c0 * align : n;
    *end = c1 * align < n ? c1 * align : n;
}

#endif
