/* AVX2+FMA+F16C kernels; compiled with those flags only, called only when the CPU has them. */
#ifndef PMX_AVX2_H
#define PMX_AVX2_H
#include "../../kernels.h"

void pmx_avx2_rmsnorm_f32(float *y, const float *x, const float *w, int64_t n, int64_t r0, int64_t r1, float eps);

uint64_t pmx_avx2_read_bytes(const uint8_t *p, int64_t b0, int64_t b1);

/* Float rows to Q8_0 blocks (the standard activation format of Q4_0/Q5_0/Q8_0), as ggml rounds. */
void pmx_avx2_prepare_q8_0(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1);
/* Float rows to block_q8_K (the K-quants' and IQ4_XS's activations), as ggml rounds. */
void pmx_avx2_prepare_q8_K(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1);

/* Activations in the prepared steps of the Q4_0 kernels (matmul.c: 8-block steps, quants reordered by pairs, per-block
 * offset 128 * sum(x) and scales) for IQ4_NL, and IQ4_XS with Q8_K's rounding, a sub-block per block: the offsets serve
 * the VNNI kernels, whose unsigned weights carry a +128 bias; the AVX2 ones (matmul_lowbit.c) take the levels' sign onto
 * the activations instead. Row bytes pmx_avx2_steps_row_bytes(n). */
void pmx_avx2_prepare_steps_128(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1);
void pmx_avx2_prepare_q8_K_steps_128(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1);
int64_t pmx_avx2_steps_row_bytes(int64_t n);

/* Area registration: each overrides its entries of the table. */
void pmx_avx2_register_matmul(pmx_kernels *k);
void pmx_avx2_register_matmul_lowbit(pmx_kernels *k); /* matmul_lowbit.c: Q2_K Q3_K Q5_K IQ4_NL IQ4_XS (Q4_1 Q5_1: matmul.c) */
void pmx_avx2_register_gemm(pmx_kernels *k);
void pmx_avx2_register_ops(pmx_kernels *k);
void pmx_avx2_register_attention(pmx_kernels *k);

#endif
