/* NEON causal GQA attention: per work item (query, head) an online softmax over blocks of BLK keys,
 * accumulated in the output row itself, so every head size works without heap or size limit. */
#include <arm_neon.h>
#include <math.h>
#include <string.h>
#include "neon.h"
#include "vmath.h"
#include "panamax.h"

/* Keys per block: the block's scores on the stack; its V rows stay in L1 while every output tile walks them. */
#define BLK 64

#define INLINE static inline __attribute__((always_inline))

/* f16 is a literal at every call site, so each kernel is compiled twice without a branch in the loops.
 * Half to float widening (fcvtl) is baseline AArch64. */
INLINE float32x4_t load4(const void *p, int64_t i, int f16) {
    return f16 ? vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const pmx_half *)p + i))) : vld1q_f32((const float *)p + i);
}

INLINE float load1(const void *p, int64_t i, int f16) {
    return f16 ? pmx_half_to_f32(((const pmx_half *)p)[i]) : ((const float *)p)[i];
}

/* s[j] = scale * q . k[off + j*ks], j < nb; four keys at a time share each load of q. */
INLINE void scores(float *s, const float *q, const void *k, int64_t off, int64_t ks, int64_t nb, int64_t hd,
                   float scale, int f16) {
    const int64_t hd4 = hd & ~(int64_t)3;
    int64_t j = 0;
    for (; j + 4 <= nb; j += 4) {
        const int64_t o0 = off + j * ks, o1 = o0 + ks, o2 = o1 + ks, o3 = o2 + ks;
        float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t i = 0; i < hd4; i += 4) {
            const float32x4_t qv = vld1q_f32(q + i);
            a0 = vfmaq_f32(a0, qv, load4(k, o0 + i, f16));
            a1 = vfmaq_f32(a1, qv, load4(k, o1 + i, f16));
            a2 = vfmaq_f32(a2, qv, load4(k, o2 + i, f16));
            a3 = vfmaq_f32(a3, qv, load4(k, o3 + i, f16));
        }
        float32x4_t r = vpaddq_f32(vpaddq_f32(a0, a1), vpaddq_f32(a2, a3));
        float t[4] = {0, 0, 0, 0};
        for (int64_t i = hd4; i < hd; i++) {
            t[0] += q[i] * load1(k, o0 + i, f16);
            t[1] += q[i] * load1(k, o1 + i, f16);
            t[2] += q[i] * load1(k, o2 + i, f16);
            t[3] += q[i] * load1(k, o3 + i, f16);
        }
        vst1q_f32(s + j, vmulq_n_f32(vaddq_f32(r, vld1q_f32(t)), scale));
    }
    for (; j < nb; j++) {
        const int64_t o = off + j * ks;
        float32x4_t a = vdupq_n_f32(0);
        for (int64_t i = 0; i < hd4; i += 4) a = vfmaq_f32(a, vld1q_f32(q + i), load4(k, o + i, f16));
        float t = vaddvq_f32(a);
        for (int64_t i = hd4; i < hd; i++) t += q[i] * load1(k, o + i, f16);
        s[j] = t * scale;
    }
}

/* s[j] = exp(s[j] - m) in place; returns their sum. */
static float exp_block(float *s, int64_t nb, float m) {
    const float32x4_t vm = vdupq_n_f32(m);
    float32x4_t sum = vdupq_n_f32(0);
    int64_t j = 0;
    for (; j + 4 <= nb; j += 4) {
        const float32x4_t e = exp4(vsubq_f32(vld1q_f32(s + j), vm));
        vst1q_f32(s + j, e);
        sum = vaddq_f32(sum, e);
    }
    float l = vaddvq_f32(sum);
    for (; j < nb; j++) l += s[j] = expf(s[j] - m);
    return l;
}

static void scale_row(float *o, int64_t n, float c) {
    int64_t d = 0;
    for (; d + 4 <= n; d += 4) vst1q_f32(o + d, vmulq_n_f32(vld1q_f32(o + d), c));
    for (; d < n; d++) o[d] *= c;
}

/* o[d] += sum_j p[j] * v[off + j*vs + d]: 16 outputs stay in registers while the block's keys stream by. */
INLINE void accumulate(float *o, const float *p, const void *v, int64_t off, int64_t vs, int64_t nb, int64_t dv,
                       int f16) {
    int64_t d = 0;
    for (; d + 16 <= dv; d += 16) {
        float32x4_t a0 = vld1q_f32(o + d), a1 = vld1q_f32(o + d + 4);
        float32x4_t a2 = vld1q_f32(o + d + 8), a3 = vld1q_f32(o + d + 12);
        for (int64_t j = 0; j < nb; j++) {
            const float w = p[j];
            const int64_t r = off + j * vs + d;
            a0 = vfmaq_n_f32(a0, load4(v, r, f16), w);
            a1 = vfmaq_n_f32(a1, load4(v, r + 4, f16), w);
            a2 = vfmaq_n_f32(a2, load4(v, r + 8, f16), w);
            a3 = vfmaq_n_f32(a3, load4(v, r + 12, f16), w);
        }
        vst1q_f32(o + d, a0);
        vst1q_f32(o + d + 4, a1);
        vst1q_f32(o + d + 8, a2);
        vst1q_f32(o + d + 12, a3);
    }
    for (; d + 4 <= dv; d += 4) {
        float32x4_t a = vld1q_f32(o + d);
        for (int64_t j = 0; j < nb; j++) a = vfmaq_n_f32(a, load4(v, off + j * vs + d, f16), p[j]);
        vst1q_f32(o + d, a);
    }
    for (; d < dv; d++) {
        float a = o[d];
        for (int64_t j = 0; j < nb; j++) a += p[j] * load1(v, off + j * vs + d, f16);
        o[d] = a;
    }
}

#include "../../attention_online.h"

void pmx_neon_register_attention(pmx_kernels *k) { k->attention = pmx_attention_online; }
