/* NEON kernels (baseline armv8-a); *_dotprod.c files are compiled with +dotprod and used only when the
 * CPU reports it. */
#ifndef PMX_NEON_H
#define PMX_NEON_H
#include "../../kernels.h"

void pmx_neon_rmsnorm_f32(float *y, const float *x, const float *w, int64_t n, int64_t r0, int64_t r1, float eps);

uint64_t pmx_neon_read_bytes(const uint8_t *p, int64_t b0, int64_t b1);

/* Area registration: each overrides its entries of the table. */
void pmx_neon_register_matmul(pmx_kernels *k);
void pmx_neon_register_ops(pmx_kernels *k);
void pmx_neon_register_attention(pmx_kernels *k);
void pmx_neon_register_matmul_dotprod(pmx_kernels *k); /* matmul_dotprod.c, +dotprod */

#endif
