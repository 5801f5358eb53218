#include "neon.h"

void pmx_kernels_neon(pmx_kernels *k) {
    pmx_kernels_ref(k);
    k->rmsnorm_f32 = pmx_neon_rmsnorm_f32;
}

/* dotprod only changes the int8 kernels; the rest is plain NEON. */
void pmx_kernels_neon_dotprod(pmx_kernels *k) {
    pmx_kernels_neon(k);
}
