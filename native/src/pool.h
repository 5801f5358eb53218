/* Internal side of the thread pool: how kernels split an op across the pool's threads. */
#ifndef PMX_POOL_H
#define PMX_POOL_H
#include <stddef.h>
#include <stdint.h>
#include "panamax.h"

/* fn runs once on each of nth threads (ith = 0..nth-1, the caller is ith 0) and returns when all finished. */
typedef void (*pmx_task_fn)(void *ctx, int ith, int nth);
void pmx_pool_run(pmx_pool *pool, pmx_task_fn fn, void *ctx);

/* The pool to run an op of about `work` multiply-adds (or element operations) on: NULL (the caller alone) below the
 * pool's inline threshold, since handing an op to the workers and waiting for the last of them costs microseconds,
 * more than a small op's whole run (pool.c has the measured threshold). Scratch still comes from the real pool. */
pmx_pool *pmx_pool_for_work(pmx_pool *pool, int64_t work);

/* a * b * c for non-negative sizes, INT64_MAX when it would overflow: an op's work for pmx_pool_for_work */
static inline int64_t pmx_work(int64_t a, int64_t b, int64_t c) {
    if (a <= 0 || b <= 0 || c <= 0) return 0;
    if (a > INT64_MAX / b) return INT64_MAX;
    const int64_t ab = a * b;
    return ab > INT64_MAX / c ? INT64_MAX : ab * c;
}

/* A 64-byte aligned buffer of at least `bytes`, owned by the pool and kept between calls (it only grows), for
 * ops whose threads exchange partial results; valid until the next call. NULL for a NULL pool or no memory.
 * Like pmx_pool_run, for one caller at a time. */
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
