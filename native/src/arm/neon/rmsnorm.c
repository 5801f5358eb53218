/* NEON RMSNorm: four accumulators of four lanes for the sum of squares. */
#include <arm_neon.h>
#include <math.h>
#include "neon.h"

void pmx_neon_rmsnorm_f32(float *y, const float *x, const float *w, int64_t n, int64_t r0, int64_t r1, float eps) {
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;
        int64_t i = 0;
        for (; i + 16 <= n; i += 16) {
            float32x4_t v0 = vld1q_f32(xr + i), v1 = vld1q_f32(xr + i + 4);
            float32x4_t v2 = vld1q_f32(xr + i + 8), v3 = vld1q_f32(xr + i + 12);
            a0 = vfmaq_f32(a0, v0, v0);
            a1 = vfmaq_f32(a1, v1, v1);
            a2 = vfmaq_f32(a2, v2, v2);
            a3 = vfmaq_f32(a3, v3, v3);
        }
        for (; i + 4 <= n; i += 4) {
            float32x4_t v = vld1q_f32(xr + i);
            a0 = vfmaq_f32(a0, v, v);
        }
        float ss = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
        for (; i < n; i++) ss += xr[i] * xr[i];
        const float scale = 1.0f / sqrtf(ss / (float)n + eps);
        i = 0;
        for (; i + 4 <= n; i += 4)
            vst1q_f32(yr + i, vmulq_f32(vmulq_n_f32(vld1q_f32(xr + i), scale), vld1q_f32(w + i)));
        for (; i < n; i++) yr[i] = xr[i] * scale * w[i];
    }
}
