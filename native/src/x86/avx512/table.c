#include "avx512.h"

void pmx_kernels_avx512(pmx_kernels *k) {
    pmx_kernels_avx2(k); /* every AVX-512 CPU has AVX2: take its kernels where no AVX-512 one exists yet */
    k->rmsnorm_f32 = pmx_avx512_rmsnorm_f32;
}
