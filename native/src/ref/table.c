/* The scalar reference table: every kernel exists here, in portable C. */
#include "ref.h"

void pmx_kernels_ref(pmx_kernels *k) {
    *k = (pmx_kernels){0};
    k->rmsnorm_f32 = pmx_ref_rmsnorm_f32;
    pmx_ref_register_matmul(k);
    pmx_ref_register_ops(k);
    pmx_ref_register_attention(k);
}
