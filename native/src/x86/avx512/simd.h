/* The one include for AVX-512 intrinsics. With PMX_SIMDE_AVX512 (test builds only) the same kernel
 * source compiles against SIMDe's portable AVX-512, so its logic is tested on CPUs without AVX-512.
 * SIMDe lacks a few intrinsics; the pmx_mm512_* helpers here stand in for them in both builds. */
#ifndef PMX_AVX512_SIMD_H
#define PMX_AVX512_SIMD_H
#include <string.h>

#ifdef PMX_SIMDE_AVX512
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#include <simde/x86/f16c.h>
#include <simde/x86/fma.h>
/* Intrinsics SIMDe 0.7 lacks, emulated lane by lane. A missing one shows as a compile error in the
 * emulated build ("inlining failed ... target specific option mismatch"): add it here. */
static inline __m512 pmx_emu_maskz_loadu_ps(__mmask16 m, const void *p) {
    float t[16];
    for (int i = 0; i < 16; i++) t[i] = (m >> i) & 1 ? ((const float *)p)[i] : 0.0f;
    return _mm512_loadu_ps(t);
}
static inline void pmx_emu_mask_storeu_ps(void *p, __mmask16 m, __m512 v) {
    float t[16];
    _mm512_storeu_ps(t, v);
    for (int i = 0; i < 16; i++)
        if ((m >> i) & 1) ((float *)p)[i] = t[i];
}
#define _mm512_maskz_loadu_ps pmx_emu_maskz_loadu_ps
#define _mm512_mask_storeu_ps pmx_emu_mask_storeu_ps
/* SIMDe 0.7.4 defines the native alias of _mm512_madd_epi16 with the mask variant's four arguments */
#undef _mm512_madd_epi16
#define _mm512_madd_epi16(a, b) simde_mm512_madd_epi16(a, b)
static inline __m512 pmx_emu_cvtph_ps(__m256i h) {
    float t[16];
    _mm256_storeu_ps(t, _mm256_cvtph_ps(_mm256_castsi256_si128(h)));
    _mm256_storeu_ps(t + 8, _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1)));
    return _mm512_loadu_ps(t);
}
static inline __m512i pmx_emu_cvtepu16_epi32(__m256i v) {
    uint16_t s[16];
    uint32_t t[16];
    _mm256_storeu_si256((__m256i *)s, v);
    for (int i = 0; i < 16; i++) t[i] = s[i];
    return _mm512_loadu_si512(t);
}
#define _mm512_cvtph_ps pmx_emu_cvtph_ps
/* SIMDe 0.7 has the function but no native alias */
#undef _mm512_shuffle_f32x4
#define _mm512_shuffle_f32x4(a, b, imm8) simde_mm512_shuffle_f32x4(a, b, imm8)
#define _mm512_cvtepu16_epi32 pmx_emu_cvtepu16_epi32
static inline __m512i pmx_emu_cvtepu8_epi16(__m256i v) {
    uint8_t s[32];
    uint16_t t[32];
    _mm256_storeu_si256((__m256i *)s, v);
    for (int i = 0; i < 32; i++) t[i] = s[i];
    return _mm512_loadu_si512(t);
}
#define _mm512_cvtepu8_epi16 pmx_emu_cvtepu8_epi16
static inline __m512 pmx_emu_cvtepi32_ps(__m512i v) {
    int32_t s[16];
    float t[16];
    _mm512_storeu_si512(s, v);
    for (int i = 0; i < 16; i++) t[i] = (float)s[i];
    return _mm512_loadu_ps(t);
}
#define _mm512_cvtepi32_ps pmx_emu_cvtepi32_ps
static inline __m512i pmx_emu_cvtepu8_epi32(__m128i v) {
    uint8_t s[16];
    uint32_t t[16];
    _mm_storeu_si128((__m128i *)s, v);
    for (int i = 0; i < 16; i++) t[i] = s[i];
    return _mm512_loadu_si512(t);
}
#define _mm512_cvtepu8_epi32 pmx_emu_cvtepu8_epi32
static inline __m512i pmx_emu_cvtepi8_epi32(__m128i v) {
    int8_t s[16];
    int32_t t[16];
    _mm_storeu_si128((__m128i *)s, v);
    for (int i = 0; i < 16; i++) t[i] = s[i];
    return _mm512_loadu_si512(t);
}
#define _mm512_cvtepi8_epi32 pmx_emu_cvtepi8_epi32
static inline __m256i pmx_emu_cvtepi32_epi16(__m512i v) {
    int32_t s[16];
    int16_t t[16];
    _mm512_storeu_si512(s, v);
    for (int i = 0; i < 16; i++) t[i] = (int16_t)s[i];
    return _mm256_loadu_si256((const __m256i *)t);
}
#define _mm512_cvtepi32_epi16 pmx_emu_cvtepi32_epi16
#else
#include <immintrin.h>
#endif

static inline float pmx_mm512_reduce_add_ps(__m512 v) {
    __m256 s = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* The lane sums of n <= 16 vectors v[i], computed as pmx_mm512_reduce_add_ps computes each (lanes i + i+8, then
 * i + i+4, i + i+2, i + i+1: the same additions in the same order, so bit for bit its results), but the vectors
 * transposed together: 16 vectors take 30 shuffles and 15 adds instead of 64 and 64. The sum of v[i] lands in lane
 * pmx_reduce_lane(i) of the result; n is a constant at every call site (missing vectors are zeros and fold away). */
static inline int pmx_reduce_lane(int i) { return 4 * (i % 4) + i / 4; }
static inline __m512 pmx_red_halves(__m512 a, __m512 b) { /* a's 8 sums of lanes i, i+8 in lanes 0..7, b's in 8..15 */
    return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
}
static inline __m512 pmx_red_quarters(__m512 a, __m512 b) { /* 128-bit lanes: q0 + q1 of a's halves, then of b's */
    return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}
static inline __m512 pmx_red_pairs(__m512 a, __m512 b) { /* within 128-bit lanes: [a0+a2, a1+a3, b0+b2, b1+b3] */
    return _mm512_add_ps(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
}
static inline __m512 pmx_red_last(__m512 a, __m512 b) { /* within 128-bit lanes: [a0+a1, a2+a3, b0+b1, b2+b3] */
    return _mm512_add_ps(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}
static inline __attribute__((always_inline)) __m512 pmx_mm512_reduce_add_16(const __m512 *v, const int n) {
    const __m512 z = _mm512_setzero_ps();
    __m512 s1[8], s2[4], s3[2];
    for (int i = 0; i < 8; i++) s1[i] = 2 * i < n ? pmx_red_halves(v[2 * i], 2 * i + 1 < n ? v[2 * i + 1] : z) : z;
    for (int i = 0; i < 4; i++) s2[i] = 4 * i < n ? pmx_red_quarters(s1[2 * i], s1[2 * i + 1]) : z;
    for (int i = 0; i < 2; i++) s3[i] = 8 * i < n ? pmx_red_pairs(s2[2 * i], s2[2 * i + 1]) : z;
    return pmx_red_last(s3[0], s3[1]);
}

/* 32 BF16 values (vdpbf16ps' operands) from the bits of an integer vector */
static inline __m512bh pmx_mm512_as_bh(__m512i v) {
#ifdef PMX_SIMDE_AVX512
    __m512bh b;
    memcpy(&b, &v, sizeof b);
    return b;
#else
    return (__m512bh)v;
#endif
}

/* mask of the first n (< 16 or more) lanes */
static inline __mmask16 pmx_mask16(int64_t n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1); }

#endif
