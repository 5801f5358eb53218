#include "avx512.h"

void pmx_kernels_avx512(pmx_kernels *k) {
    pmx_kernels_avx2(k); /* every AVX-512 CPU has AVX2: its kernels stand where no AVX-512 one exists */
    k->rmsnorm_f32 = pmx_avx512_rmsnorm_f32;
    k->read_bytes = pmx_avx512_read_bytes;
    pmx_avx512_register_matmul(k);
    pmx_avx512_register_matmul_lowbit(k);
    pmx_avx512_register_packed(k);
    pmx_avx512_register_gemm(k);
    pmx_avx512_register_ops(k);
    pmx_avx512_register_attention(k);
}
