#include "avx2.h"

void pmx_kernels_avx2(pmx_kernels *k) {
    pmx_kernels_ref(k);
    k->rmsnorm_f32 = pmx_avx2_rmsnorm_f32;
    k->read_bytes = pmx_avx2_read_bytes;
    pmx_avx2_register_matmul(k);
    pmx_avx2_register_matmul_lowbit(k);
    pmx_avx2_register_gemm(k);
    pmx_avx2_register_ops(k);
    pmx_avx2_register_attention(k);
}
