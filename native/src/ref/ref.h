/* Scalar reference kernels (the oracle every ISA is tested against). */
#ifndef PMX_REF_H
#define PMX_REF_H
#include "../kernels.h"

void pmx_ref_rmsnorm_f32(float *y, const float *x, const float *w, int64_t n, int64_t r0, int64_t r1, float eps);

#endif
