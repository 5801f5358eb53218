/* NEON softmax, SiLU-gated product, add, argmax and RoPE rotation. The exp is the AVX2 one (Cephes-style
 * polynomial, 8.4e-8 max relative error) on four lanes; tails go through it too via a padded copy. */
#include <arm_neon.h>
#include <math.h>
#include <string.h>
#include "../../ref/ref.h"
#include "neon.h"
#include "vmath.h"
#include "panamax.h"

static void neon_softmax_f32(float *x, int64_t n, int64_t r0, int64_t r1) {
    const int64_t nv = n & ~(int64_t)3, nt = n - nv;
    for (int64_t r = r0; r < r1; r++) {
        float *xr = x + r * n;
        float32x4_t m0 = vdupq_n_f32(-INFINITY), m1 = m0;
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) {
            m0 = vmaxq_f32(m0, vld1q_f32(xr + i));
            m1 = vmaxq_f32(m1, vld1q_f32(xr + i + 4));
        }
        for (; i < nv; i += 4) m0 = vmaxq_f32(m0, vld1q_f32(xr + i));
        float mx = vmaxvq_f32(vmaxq_f32(m0, m1));
        for (i = nv; i < n; i++) mx = xr[i] > mx ? xr[i] : mx;
        const float32x4_t vmx = vdupq_n_f32(mx);
        float32x4_t s0 = vdupq_n_f32(0), s1 = s0;
        for (i = 0; i + 8 <= n; i += 8) {
            const float32x4_t e0 = exp4(vsubq_f32(vld1q_f32(xr + i), vmx));
            const float32x4_t e1 = exp4(vsubq_f32(vld1q_f32(xr + i + 4), vmx));
            vst1q_f32(xr + i, e0);
            vst1q_f32(xr + i + 4, e1);
            s0 = vaddq_f32(s0, e0);
            s1 = vaddq_f32(s1, e1);
        }
        for (; i < nv; i += 4) {
            const float32x4_t e = exp4(vsubq_f32(vld1q_f32(xr + i), vmx));
            vst1q_f32(xr + i, e);
            s0 = vaddq_f32(s0, e);
        }
        float sum = vaddvq_f32(vaddq_f32(s0, s1));
        if (nt) {
            float t[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
            memcpy(t, xr + nv, sizeof(float) * nt);
            vst1q_f32(t, exp4(vsubq_f32(vld1q_f32(t), vmx))); /* padding lanes: exp(-inf) = 0 */
            memcpy(xr + nv, t, sizeof(float) * nt);
            sum += t[0] + t[1] + t[2] + t[3];
        }
        const float inv = 1.0f / sum;
        for (i = 0; i < nv; i += 4) vst1q_f32(xr + i, vmulq_n_f32(vld1q_f32(xr + i), inv));
        for (; i < n; i++) xr[i] *= inv;
    }
}

static inline float32x4_t silu_mul4(float32x4_t g, float32x4_t u) {
    const float32x4_t e = exp4(vnegq_f32(g));
    return vmulq_f32(vdivq_f32(g, vaddq_f32(vdupq_n_f32(1.0f), e)), u);
}

/* Each lane reads its inputs before its store, so y may alias g or u. */
static void neon_silu_mul_f32(float *y, const float *g, const float *u, int64_t i0, int64_t i1) {
    int64_t i = i0;
    for (; i + 4 <= i1; i += 4) vst1q_f32(y + i, silu_mul4(vld1q_f32(g + i), vld1q_f32(u + i)));
    if (i < i1) {
        float tg[4] = {0}, tu[4] = {0}, ty[4];
        memcpy(tg, g + i, sizeof(float) * (i1 - i));
        memcpy(tu, u + i, sizeof(float) * (i1 - i));
        vst1q_f32(ty, silu_mul4(vld1q_f32(tg), vld1q_f32(tu)));
        memcpy(y + i, ty, sizeof(float) * (i1 - i));
    }
}

static void neon_add_f32(float *y, const float *a, const float *b, int64_t i0, int64_t i1) {
    int64_t i = i0;
    for (; i + 16 <= i1; i += 16)
        for (int k = 0; k < 16; k += 4) vst1q_f32(y + i + k, vaddq_f32(vld1q_f32(a + i + k), vld1q_f32(b + i + k)));
    for (; i + 4 <= i1; i += 4) vst1q_f32(y + i, vaddq_f32(vld1q_f32(a + i), vld1q_f32(b + i)));
    for (; i < i1; i++) y[i] = a[i] + b[i];
}

/* For a vector of only -inf and NaN: the first -inf, or 0 when all are NaN (as the reference). */
static int64_t first_number(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (x[i] == x[i]) return i;
    return 0;
}

/* Per lane the first strictly greater value (NaN compares false, so never enters); uint32 lane indices
 * with all-ones meaning none, scanned in blocks of 2^30. Lanes merge by value, then lower index. */
static int64_t neon_argmax_f32(const float *x, int64_t n) {
    int64_t best = -1;
    float bv = -INFINITY;
    for (int64_t b0 = 0; b0 < n; b0 += (int64_t)1 << 30) {
        const int64_t len = n - b0 < ((int64_t)1 << 30) ? n - b0 : (int64_t)1 << 30;
        const float *xb = x + b0;
        float32x4_t vb = vdupq_n_f32(-INFINITY);
        uint32x4_t vi = vdupq_n_u32(UINT32_MAX);
        static const uint32_t lane[4] = {0, 1, 2, 3};
        uint32x4_t cur = vld1q_u32(lane);
        int64_t i = 0;
        for (; i + 4 <= len; i += 4) {
            const float32x4_t v = vld1q_f32(xb + i);
            const uint32x4_t gt = vcgtq_f32(v, vb);
            vb = vbslq_f32(gt, v, vb);
            vi = vbslq_u32(gt, cur, vi);
            cur = vaddq_u32(cur, vdupq_n_u32(4));
        }
        float lv[4];
        uint32_t li[4];
        vst1q_f32(lv, vb);
        vst1q_u32(li, vi);
        for (int k = 0; k < 4; k++) {
            if (li[k] == UINT32_MAX) continue;
            const int64_t gi = b0 + li[k];
            if (lv[k] > bv || (lv[k] == bv && (best < 0 || gi < best))) bv = lv[k], best = gi;
        }
        for (; i < len; i++)
            if (xb[i] > bv) bv = xb[i], best = b0 + i;
    }
    return best < 0 ? first_number(x, n) : best;
}

/* RoPE: the rotation primitives of rope_chunked.h. */
static inline int64_t rotate_halves(float *x0, float *x1, const float *cs, const float *sn, int64_t np) {
    int64_t p = 0;
    for (; p + 4 <= np; p += 4) {
        const float32x4_t v0 = vld1q_f32(x0 + p), v1 = vld1q_f32(x1 + p);
        const float32x4_t c = vld1q_f32(cs + p), s = vld1q_f32(sn + p);
        vst1q_f32(x0 + p, vfmsq_f32(vmulq_f32(v0, c), v1, s));
        vst1q_f32(x1 + p, vfmaq_f32(vmulq_f32(v1, c), v0, s));
    }
    return p;
}

static inline int64_t rotate_pairs(float *xp, const float *cc, const float *ss, int64_t np) {
    int64_t p = 0;
    for (; p + 2 <= np; p += 2) {
        const float32x4_t v = vld1q_f32(xp + 2 * p);
        const float32x4_t sw = vrev64q_f32(v);
        vst1q_f32(xp + 2 * p, vfmaq_f32(vmulq_f32(sw, vld1q_f32(ss + 2 * p)), v, vld1q_f32(cc + 2 * p)));
    }
    return p;
}

#include "../../rope_chunked.h"

/* The reference's Walsh-Hadamard transform, spans from 4 up 4 floats at a time (the same adds: the same bits). */
static void neon_hadamard_f32(float *x, int64_t n, int64_t c0, int64_t c1) {
    const float scale = 1.0f / sqrtf((float)n);
    for (int64_t c = c0; c < c1; c++) {
        float *r = x + c * n;
        int64_t i = 0;
        for (; i + 4 <= n; i += 4) vst1q_f32(r + i, vmulq_n_f32(vld1q_f32(r + i), scale));
        for (; i < n; i++) r[i] *= scale;
        int64_t len = 1;
        for (; len < 4 && len < n; len <<= 1)
            for (i = 0; i < n; i += 2 * len)
                for (int64_t j = i; j < i + len; j++) {
                    const float u = r[j], v = r[j + len];
                    r[j] = u + v;
                    r[j + len] = u - v;
                }
        for (; len < n; len <<= 1)
            for (i = 0; i < n; i += 2 * len)
                for (int64_t j = i; j < i + len; j += 4) {
                    const float32x4_t u = vld1q_f32(r + j), v = vld1q_f32(r + j + len);
                    vst1q_f32(r + j, vaddq_f32(u, v));
                    vst1q_f32(r + j + len, vsubq_f32(u, v));
                }
    }
}

void pmx_neon_register_ops(pmx_kernels *k) {
    k->hadamard_f32 = neon_hadamard_f32;
    k->softmax_f32 = neon_softmax_f32;
    k->silu_mul_f32 = neon_silu_mul_f32;
    k->add_f32 = neon_add_f32;
    k->argmax_f32 = neon_argmax_f32;
    k->rope_f32 = pmx_rope_chunked;
}
