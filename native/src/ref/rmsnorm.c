/* Scalar reference RMSNorm: the oracle. Sums in double so the reference error is far below any ISA's. */
#include <math.h>
#include "../kernels.h"

void pmx_ref_rmsnorm_f32(float *y, const float *x, const float *w, int64_t n, int64_t r0, int64_t r1, float eps) {
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        double ss = 0;
        for (int64_t i = 0; i < n; i++) ss += (double)xr[i] * xr[i];
        const float scale = (float)(1.0 / sqrt(ss / (double)n + eps));
        for (int64_t i = 0; i < n; i++) yr[i] = xr[i] * scale * w[i];
    }
}
