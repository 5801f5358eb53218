/* AVX-512 causal GQA attention: the AVX2 kernel's online softmax over blocks of BLK keys, 16 lanes wide, with
 * masked loads for head-size tails; accumulates in the output row, so any head size works without heap. */
#include <math.h>
#include <string.h>
#include "avx512.h"
#include "panamax.h"
#include "simd.h"
#include "vmath.h"

/* Keys per block: the block's scores on the stack; its V rows stay in L1 while every output tile walks them. */
#define BLK 64

#define INLINE static inline __attribute__((always_inline))

/* 16 halves to floats. SIMDe 0.7 lacks _mm512_cvtph_ps: the emulated build converts two 8-lane halves. */
static inline __m512 cvt16(const pmx_half *p) {
#ifdef PMX_SIMDE_AVX512
    float f[16];
    _mm256_storeu_ps(f, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)));
    _mm256_storeu_ps(f + 8, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 8))));
    return _mm512_loadu_ps(f);
#else
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
#endif
}

/* f16 is a literal at every call site, so each kernel is compiled twice without a branch in the loops. */
INLINE __m512 load16(const void *p, int64_t i, int f16) {
    return f16 ? cvt16((const pmx_half *)p + i) : _mm512_loadu_ps((const float *)p + i);
}

/* The first n (< 16) elements, zeros after: halves go through a zeroed copy (no masked 16-bit load needed). */
INLINE __m512 load16_tail(const void *p, int64_t i, int64_t n, int f16) {
    if (!f16) return _mm512_maskz_loadu_ps(pmx_mask16(n), (const float *)p + i);
    pmx_half t[16] = {0};
    memcpy(t, (const pmx_half *)p + i, (size_t)n * sizeof(pmx_half));
    return cvt16(t);
}

/* 16 lanes to 8 by adding the halves. */
static inline __m256 fold(__m512 v) {
    return _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

/* s[j] = scale * q . k[off + j*ks], j < nb; four keys at a time share each load of q. */
INLINE void scores(float *s, const float *q, const void *k, int64_t off, int64_t ks, int64_t nb, int64_t hd,
                   float scale, int f16) {
    const int64_t hd16 = hd & ~(int64_t)15, tail = hd - hd16;
    const __m512 qt = _mm512_maskz_loadu_ps(pmx_mask16(tail), q + hd16);
    int64_t j = 0;
    for (; j + 4 <= nb; j += 4) {
        const int64_t o0 = off + j * ks, o1 = o0 + ks, o2 = o1 + ks, o3 = o2 + ks;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t i = 0; i < hd16; i += 16) {
            const __m512 qv = _mm512_loadu_ps(q + i);
            a0 = _mm512_fmadd_ps(qv, load16(k, o0 + i, f16), a0);
            a1 = _mm512_fmadd_ps(qv, load16(k, o1 + i, f16), a1);
            a2 = _mm512_fmadd_ps(qv, load16(k, o2 + i, f16), a2);
            a3 = _mm512_fmadd_ps(qv, load16(k, o3 + i, f16), a3);
        }
        if (tail) {
            a0 = _mm512_fmadd_ps(qt, load16_tail(k, o0 + hd16, tail, f16), a0);
            a1 = _mm512_fmadd_ps(qt, load16_tail(k, o1 + hd16, tail, f16), a1);
            a2 = _mm512_fmadd_ps(qt, load16_tail(k, o2 + hd16, tail, f16), a2);
            a3 = _mm512_fmadd_ps(qt, load16_tail(k, o3 + hd16, tail, f16), a3);
        }
        const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(fold(a0), fold(a1)), _mm256_hadd_ps(fold(a2), fold(a3)));
        const __m128 r = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
        _mm_storeu_ps(s + j, _mm_mul_ps(r, _mm_set1_ps(scale)));
    }
    for (; j < nb; j++) {
        const int64_t o = off + j * ks;
        __m512 a = _mm512_setzero_ps();
        for (int64_t i = 0; i < hd16; i += 16) a = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), load16(k, o + i, f16), a);
        if (tail) a = _mm512_fmadd_ps(qt, load16_tail(k, o + hd16, tail, f16), a);
        s[j] = pmx_mm512_reduce_add_ps(a) * scale;
    }
}

/* s[j] = exp(s[j] - m) in place; returns their sum. Lanes past nb are masked out of the sum. */
static float exp_block(float *s, int64_t nb, float m) {
    const __m512 vm = _mm512_set1_ps(m);
    __m512 sum = _mm512_setzero_ps();
    for (int64_t j = 0; j < nb; j += 16) {
        const __mmask16 mk = pmx_mask16(nb - j);
        const __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, s + j), vm));
        _mm512_mask_storeu_ps(s + j, mk, e);
        sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(mk, e));
    }
    return pmx_mm512_reduce_add_ps(sum);
}

static void scale_row(float *o, int64_t n, float c) {
    const __m512 vc = _mm512_set1_ps(c);
    for (int64_t d = 0; d < n; d += 16) {
        const __mmask16 mk = pmx_mask16(n - d);
        _mm512_mask_storeu_ps(o + d, mk, _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, o + d), vc));
    }
}

/* o[d] += sum_j p[j] * v[off + j*vs + d]: 64 outputs stay in registers while the block's keys stream by. */
INLINE void accumulate(float *o, const float *p, const void *v, int64_t off, int64_t vs, int64_t nb, int64_t dv,
                       int f16) {
    int64_t d = 0;
    for (; d + 64 <= dv; d += 64) {
        __m512 a0 = _mm512_loadu_ps(o + d), a1 = _mm512_loadu_ps(o + d + 16);
        __m512 a2 = _mm512_loadu_ps(o + d + 32), a3 = _mm512_loadu_ps(o + d + 48);
        for (int64_t j = 0; j < nb; j++) {
            const __m512 w = _mm512_set1_ps(p[j]);
            const int64_t r = off + j * vs + d;
            a0 = _mm512_fmadd_ps(w, load16(v, r, f16), a0);
            a1 = _mm512_fmadd_ps(w, load16(v, r + 16, f16), a1);
            a2 = _mm512_fmadd_ps(w, load16(v, r + 32, f16), a2);
            a3 = _mm512_fmadd_ps(w, load16(v, r + 48, f16), a3);
        }
        _mm512_storeu_ps(o + d, a0);
        _mm512_storeu_ps(o + d + 16, a1);
        _mm512_storeu_ps(o + d + 32, a2);
        _mm512_storeu_ps(o + d + 48, a3);
    }
    if (d + 32 <= dv) { /* two chains in flight (head size 32: the only block), each output's order unchanged */
        __m512 a0 = _mm512_loadu_ps(o + d), a1 = _mm512_loadu_ps(o + d + 16);
        for (int64_t j = 0; j < nb; j++) {
            const __m512 w = _mm512_set1_ps(p[j]);
            const int64_t r = off + j * vs + d;
            a0 = _mm512_fmadd_ps(w, load16(v, r, f16), a0);
            a1 = _mm512_fmadd_ps(w, load16(v, r + 16, f16), a1);
        }
        _mm512_storeu_ps(o + d, a0);
        _mm512_storeu_ps(o + d + 16, a1);
        d += 32;
    }
    for (; d + 16 <= dv; d += 16) {
        __m512 a = _mm512_loadu_ps(o + d);
        for (int64_t j = 0; j < nb; j++) a = _mm512_fmadd_ps(_mm512_set1_ps(p[j]), load16(v, off + j * vs + d, f16), a);
        _mm512_storeu_ps(o + d, a);
    }
    if (d < dv) {
        const __mmask16 mk = pmx_mask16(dv - d);
        __m512 a = _mm512_maskz_loadu_ps(mk, o + d);
        for (int64_t j = 0; j < nb; j++)
            a = _mm512_fmadd_ps(_mm512_set1_ps(p[j]), load16_tail(v, off + j * vs + d, dv - d, f16), a);
        _mm512_mask_storeu_ps(o + d, mk, a);
    }
}

#include "../kv_dequant.h"
#include "../../attention_online.h"

void pmx_avx512_register_attention(pmx_kernels *k) { k->attention = pmx_attention_online; }
