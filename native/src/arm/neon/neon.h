/* NEON kernels (baseline armv8-a); *_dotprod.c files are compiled with +dotprod and used only when the
 * CPU reports it. */
#ifndef PMX_NEON_H
#define PMX_NEON_H
#include "../../kernels.h"

void pmx_neon_rmsnorm_f32(float *y, const float *x, const float *w, int64_t n, int64_t r0, int64_t r1, float eps);

#endif
