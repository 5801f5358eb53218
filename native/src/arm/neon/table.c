#include "neon.h"

void pmx_kernels_neon(pmx_kernels *k) {
    pmx_kernels_ref(k);
    k->rmsnorm_f32 = pmx_neon_rmsnorm_f32;
    k->read_bytes = pmx_neon_read_bytes;
    pmx_neon_register_matmul(k);
    pmx_neon_register_ops(k);
    pmx_neon_register_attention(k);
}

/* dotprod only changes the int8 matmul kernels (matmul_dotprod.c); the rest is plain NEON. */
void pmx_kernels_neon_dotprod(pmx_kernels *k) {
    pmx_kernels_neon(k);
    pmx_neon_register_matmul_dotprod(k);
}
