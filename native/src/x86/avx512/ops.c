/* AVX-512 softmax, SiLU-gated product, add, argmax and RoPE rotation; masked loads take the tails. The
 * exp is the AVX2 one (Cephes-style polynomial) widened: 8.4e-8 max relative error (1.4 ulp). */
#include <math.h>
#include "../../ref/ref.h"
#include "avx512.h"
#include "panamax.h"
#include "simd.h"
#include "vmath.h"

static void avx512_softmax_f32(float *x, int64_t n, int64_t r0, int64_t r1) {
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    for (int64_t r = r0; r < r1; r++) {
        float *xr = x + r * n;
        __m512 m0 = ninf, m1 = ninf;
        int64_t i = 0;
        for (; i + 32 <= n; i += 32) {
            m0 = _mm512_max_ps(m0, _mm512_loadu_ps(xr + i));
            m1 = _mm512_max_ps(m1, _mm512_loadu_ps(xr + i + 16));
        }
        for (; i < n; i += 16) {
            const __mmask16 m = pmx_mask16(n - i);
            m0 = _mm512_max_ps(m0, _mm512_mask_blend_ps(m, ninf, _mm512_maskz_loadu_ps(m, xr + i)));
        }
        const __m512 mx = _mm512_set1_ps(hmax512(_mm512_max_ps(m0, m1)));
        __m512 s0 = _mm512_setzero_ps(), s1 = s0;
        for (i = 0; i + 32 <= n; i += 32) {
            const __m512 e0 = exp512(_mm512_sub_ps(_mm512_loadu_ps(xr + i), mx));
            const __m512 e1 = exp512(_mm512_sub_ps(_mm512_loadu_ps(xr + i + 16), mx));
            _mm512_storeu_ps(xr + i, e0);
            _mm512_storeu_ps(xr + i + 16, e1);
            s0 = _mm512_add_ps(s0, e0);
            s1 = _mm512_add_ps(s1, e1);
        }
        for (; i < n; i += 16) {
            const __mmask16 m = pmx_mask16(n - i);
            const __m512 e = _mm512_maskz_mov_ps(m, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, xr + i), mx)));
            _mm512_mask_storeu_ps(xr + i, m, e);
            s0 = _mm512_add_ps(s0, e);
        }
        const __m512 inv = _mm512_set1_ps(1.0f / pmx_mm512_reduce_add_ps(_mm512_add_ps(s0, s1)));
        for (i = 0; i < n; i += 16) {
            const __mmask16 m = pmx_mask16(n - i);
            _mm512_mask_storeu_ps(xr + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, xr + i), inv));
        }
    }
}

static inline __m512 silu_mul16(__m512 g, __m512 u) {
    const __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), g));
    return _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), e)), u);
}

/* Each lane reads its inputs before its store, so y may alias g or u. */
static void avx512_silu_mul_f32(float *y, const float *g, const float *u, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i += 16) {
        const __mmask16 m = pmx_mask16(i1 - i);
        _mm512_mask_storeu_ps(y + i, m, silu_mul16(_mm512_maskz_loadu_ps(m, g + i), _mm512_maskz_loadu_ps(m, u + i)));
    }
}

static void avx512_add_f32(float *y, const float *a, const float *b, int64_t i0, int64_t i1) {
    int64_t i = i0;
    for (; i + 16 <= i1; i += 16) _mm512_storeu_ps(y + i, _mm512_add_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)));
    if (i < i1) {
        const __mmask16 m = pmx_mask16(i1 - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i)));
    }
}

/* For a vector of only -inf and NaN: the first -inf, or 0 when all are NaN (as the reference). */
static int64_t first_number(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (x[i] == x[i]) return i;
    return 0;
}

/* Per lane the first strictly greater value (NaN compares false, so never enters); int32 lane indices, so
 * blocks of 2^30. Lanes merge by value, then lower index. */
static int64_t avx512_argmax_f32(const float *x, int64_t n) {
    int64_t best = -1;
    float bv = -INFINITY;
    for (int64_t b0 = 0; b0 < n; b0 += (int64_t)1 << 30) {
        const int64_t len = n - b0 < ((int64_t)1 << 30) ? n - b0 : (int64_t)1 << 30;
        const float *xb = x + b0;
        __m512 vb = _mm512_set1_ps(-INFINITY);
        __m512i vi = _mm512_set1_epi32(-1);
        __m512i cur = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        const __m512i step = _mm512_set1_epi32(16);
        for (int64_t i = 0; i < len; i += 16) {
            const __mmask16 m = pmx_mask16(len - i);
            const __m512 v = _mm512_maskz_loadu_ps(m, xb + i);
            const __mmask16 gt = (__mmask16)(_mm512_cmp_ps_mask(v, vb, _CMP_GT_OQ) & m);
            vb = _mm512_mask_mov_ps(vb, gt, v);
            vi = _mm512_mask_mov_epi32(vi, gt, cur);
            cur = _mm512_add_epi32(cur, step);
        }
        float lv[16];
        int32_t li[16];
        _mm512_storeu_ps(lv, vb);
        _mm512_storeu_si512(li, vi);
        for (int k = 0; k < 16; k++) {
            if (li[k] < 0) continue;
            const int64_t gi = b0 + li[k];
            if (lv[k] > bv || (lv[k] == bv && (best < 0 || gi < best))) bv = lv[k], best = gi;
        }
    }
    return best < 0 ? first_number(x, n) : best;
}

/* RoPE: the rotation primitives of rope_chunked.h. */
/* masked: the whole range in vector code */
static inline int64_t rotate_halves(float *x0, float *x1, const float *cs, const float *sn, int64_t np) {
    for (int64_t p = 0; p < np; p += 16) {
        const __mmask16 m = pmx_mask16(np - p);
        const __m512 v0 = _mm512_maskz_loadu_ps(m, x0 + p), v1 = _mm512_maskz_loadu_ps(m, x1 + p);
        const __m512 c = _mm512_maskz_loadu_ps(m, cs + p), s = _mm512_maskz_loadu_ps(m, sn + p);
        _mm512_mask_storeu_ps(x0 + p, m, _mm512_fmsub_ps(v0, c, _mm512_mul_ps(v1, s)));
        _mm512_mask_storeu_ps(x1 + p, m, _mm512_fmadd_ps(v0, s, _mm512_mul_ps(v1, c)));
    }
    return np;
}

static inline int64_t rotate_pairs(float *xp, const float *cc, const float *ss, int64_t np) {
    for (int64_t d = 0; d < 2 * np; d += 16) {
        const __mmask16 m = pmx_mask16(2 * np - d);
        const __m512 v = _mm512_maskz_loadu_ps(m, xp + d);
        const __m512 sw = _mm512_shuffle_ps(v, v, 0xB1);
        _mm512_mask_storeu_ps(xp + d, m, _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, cc + d),
                                                        _mm512_mul_ps(sw, _mm512_maskz_loadu_ps(m, ss + d))));
    }
    return np;
}

#include "../../rope_chunked.h"

void pmx_avx512_register_ops(pmx_kernels *k) {
    k->softmax_f32 = avx512_softmax_f32;
    k->silu_mul_f32 = avx512_silu_mul_f32;
    k->add_f32 = avx512_add_f32;
    k->argmax_f32 = avx512_argmax_f32;
    k->rope_f32 = pmx_rope_chunked;
}
