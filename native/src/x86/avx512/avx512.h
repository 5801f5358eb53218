/* AVX-512 (F/BW/VL/DQ, VNNI where present) kernels; compiled with those flags only. */
#ifndef PMX_AVX512_H
#define PMX_AVX512_H
#include "../../kernels.h"

void pmx_avx512_rmsnorm_f32(float *y, const float *x, const float *w, int64_t n, int64_t r0, int64_t r1, float eps);

uint64_t pmx_avx512_read_bytes(const uint8_t *p, int64_t b0, int64_t b1);

/* Area registration: each overrides its entries of the table. */
void pmx_avx512_register_matmul(pmx_kernels *k);
void pmx_avx512_register_packed(pmx_kernels *k);
void pmx_avx512_register_gemm(pmx_kernels *k); /* gemm.c: F32 packed */
void pmx_avx512_register_matmul_lowbit(pmx_kernels *k); /* matmul_lowbit.c: Q4_1 Q5_1 Q2_K Q3_K Q5_K IQ4_NL IQ4_XS */
/* 1 when the VNNI kernels run: the CPU has AVX512_VNNI (in the SIMDe test build: PMX_EMU_VNNI=1). */
int pmx_avx512_vnni(void);
void pmx_avx512_register_ops(pmx_kernels *k);
void pmx_avx512_register_attention(pmx_kernels *k);

#endif
