/* Shared parts of the libFuzzer harnesses (native/fuzz/README.md): a reader that turns the fuzz bytes into sizes and
 * data, exactly-sized heap buffers (so AddressSanitizer sees any access past what the contract in panamax.h
 * promises), and the comparison of a kernel's result with the scalar reference's. */
#ifndef PMX_FUZZ_H
#define PMX_FUZZ_H

#include "panamax.h"
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *p;
    size_t n, at;
} reader;

/* The next byte (0 once the input is used up: short inputs give the smallest shapes). */
static inline unsigned u8(reader *r) {
    return r->at < r->n ? r->p[r->at++] : 0;
}

/* A value in [lo, hi]. */
static inline int64_t pick(reader *r, int64_t lo, int64_t hi) {
    unsigned v = u8(r) | u8(r) << 8;
    return lo + (int64_t)(v % (unsigned)(hi - lo + 1));
}

/* Exactly `bytes` bytes on the heap (at least one, so that malloc(0) is not a special case). */
static inline void *buf(int64_t bytes) {
    void *p = malloc(bytes > 0 ? (size_t)bytes : 1);
    if (!p) abort();
    return p;
}

/* Fills dst with the remaining input, over again from the start of what is left when it runs out (zeros if nothing). */
static inline void fill_bytes(reader *r, void *dst, int64_t bytes) {
    uint8_t *d = dst;
    const size_t left = r->n - r->at;
    for (int64_t i = 0; i < bytes; i++) d[i] = left ? r->p[r->at + (size_t)i % left] : 0;
    if (left) r->at += (size_t)(bytes < (int64_t)left ? bytes : (int64_t)left);
}

/* n floats: raw bit patterns from the input (NaN, infinities, denormals: what a hostile file holds) when raw, else
 * values in [-scale, scale] (a well-behaved model, where results are compared with the reference). */
static inline void fill_floats(reader *r, float *x, int64_t n, int raw, float scale) {
    if (raw) {
        fill_bytes(r, x, n * (int64_t)sizeof(float));
        return;
    }
    uint8_t *b = buf(n * 2);
    fill_bytes(r, b, n * 2);
    for (int64_t i = 0; i < n; i++) x[i] = scale * ((float)(b[2 * i] | b[2 * i + 1] << 8) / 32767.5f - 1.0f);
    free(b);
}

/* A finding: what differs, then abort (libFuzzer saves the input). */
#define FUZZ_FAIL(...) do { fprintf(stderr, "FUZZ FINDING: " __VA_ARGS__); fputc('\n', stderr); abort(); } while (0)

/* |got - want| <= tol * (1 + bound) wherever want and bound are finite and the bound is within float range (bound:
 * the scale of the result, e.g. the sum of |w x| of a dot product; past FLT_MAX a partial sum may overflow to an
 * infinity in one summation order and not in another, as NEON's and the reference's do); the same NaN-ness is not
 * required (the kernels may order NaN and Inf differently). */
static inline void compare(const char *what, const float *got, const float *want, const double *bound, int64_t n,
                           double tol) {
    for (int64_t i = 0; i < n; i++) {
        const double b = bound ? bound[i] : 0;
        if (!isfinite(want[i]) || !isfinite(b) || b > FLT_MAX) continue;
        if (!(fabs((double)got[i] - want[i]) <= tol * (1 + b))) {
            FUZZ_FAIL("%s: element %ld is %.9g, the scalar reference %.9g (bound %.3g, tolerance %g)", what, (long)i,
                      got[i], want[i], b, tol);
        }
    }
}

/* Weight types of pmx_matmul and the KV cache types (panamax.h). */
static const int32_t WEIGHT_TYPES[] = {PMX_TYPE_F32, PMX_TYPE_F16, PMX_TYPE_BF16, PMX_TYPE_Q8_0, PMX_TYPE_Q4_0,
                                       PMX_TYPE_Q4_1, PMX_TYPE_Q5_0, PMX_TYPE_Q5_1, PMX_TYPE_Q2_K, PMX_TYPE_Q3_K,
                                       PMX_TYPE_Q4_K, PMX_TYPE_Q5_K, PMX_TYPE_Q6_K, PMX_TYPE_IQ4_NL, PMX_TYPE_IQ4_XS};
static const int32_t KV_TYPES[] = {PMX_TYPE_F32, PMX_TYPE_F16, PMX_TYPE_BF16, PMX_TYPE_Q8_0, PMX_TYPE_Q4_0,
                                   PMX_TYPE_Q4_1, PMX_TYPE_Q5_0, PMX_TYPE_Q5_1, PMX_TYPE_IQ4_NL};
#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Bytes of n elements of a type (n a multiple of its block). */
static inline int64_t row_bytes(int32_t type, int64_t n) {
    return n / pmx_type_block_size(type) * pmx_type_block_bytes(type);
}

/* A pool of two threads for the runs that go multi-threaded (made once). */
static inline pmx_pool *fuzz_pool(void) {
    static pmx_pool *pool;
    if (!pool) pool = pmx_pool_create(2);
    return pool;
}

#endif
