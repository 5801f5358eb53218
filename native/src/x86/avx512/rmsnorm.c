/* AVX-512 RMSNorm: masked loads handle the tail, so there is no scalar remainder loop. */
#include <math.h>
#include "avx512.h"
#include "simd.h"

void pmx_avx512_rmsnorm_f32(float *y, const float *x, const float *w, int64_t n, int64_t r0, int64_t r1, float eps) {
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int64_t i = 0;
        for (; i + 64 <= n; i += 64) {
            __m512 v0 = _mm512_loadu_ps(xr + i), v1 = _mm512_loadu_ps(xr + i + 16);
            __m512 v2 = _mm512_loadu_ps(xr + i + 32), v3 = _mm512_loadu_ps(xr + i + 48);
            a0 = _mm512_fmadd_ps(v0, v0, a0);
            a1 = _mm512_fmadd_ps(v1, v1, a1);
            a2 = _mm512_fmadd_ps(v2, v2, a2);
            a3 = _mm512_fmadd_ps(v3, v3, a3);
        }
        for (; i < n; i += 16) {
            const __mmask16 m = pmx_mask16(n - i);
            __m512 v = _mm512_maskz_loadu_ps(m, xr + i);
            a0 = _mm512_fmadd_ps(v, v, a0);
        }
        const float ss = pmx_mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
        const __m512 vs = _mm512_set1_ps(1.0f / sqrtf(ss / (float)n + eps));
        for (i = 0; i < n; i += 16) {
            const __mmask16 m = pmx_mask16(n - i);
            __m512 v = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, xr + i), vs), _mm512_maskz_loadu_ps(m, w + i));
            _mm512_mask_storeu_ps(yr + i, m, v);
        }
    }
}
