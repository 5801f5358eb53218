/* The dispatch table: one function pointer per kernel, filled once per ISA. Every ISA directory provides
 * pmx_kernels_<isa>() returning a table where it overrides the entries it accelerates; the rest stay
 * with the scalar reference, so a new kernel can land in ref/ first. Kernels here are single-threaded
 * over a row range; api.c splits work across the pool. */
#ifndef PMX_KERNELS_H
#define PMX_KERNELS_H
#include <stdint.h>

typedef struct pmx_kernels {
    /* rows [r0, r1) of an n-wide row-major matrix */
    void (*rmsnorm_f32)(float *y, const float *x, const float *w, int64_t n, int64_t r0, int64_t r1, float eps);
} pmx_kernels;

void pmx_kernels_ref(pmx_kernels *k);
#if defined(__x86_64__)
void pmx_kernels_avx2(pmx_kernels *k);
void pmx_kernels_avx512(pmx_kernels *k);
#endif
#if defined(__aarch64__)
void pmx_kernels_neon(pmx_kernels *k);
void pmx_kernels_neon_dotprod(pmx_kernels *k);
#endif

/* The active table (api.c). */
extern pmx_kernels pmx_k;

#endif
