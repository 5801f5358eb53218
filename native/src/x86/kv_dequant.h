/* x86 dequantizer of KV cache rows for attention_online.h (PMX_KV_DEQUANT): 32-value blocks of Q8_0, Q4_0, Q4_1,
 * Q5_0, Q5_1 and IQ4_NL, and BF16, to floats with AVX2 (the same values as ggml's dequantizers: q * d, or q * d + m).
 * Included by the AVX2 and AVX-512 attention after their intrinsics header (native or SIMDe), nothing else. */
#ifndef PMX_X86_KV_DEQUANT_H
#define PMX_X86_KV_DEQUANT_H
#include "../ref/ref.h"

#define PMX_KV_DEQUANT

/* The 32 4-bit quants of a block as bytes: element i < 16 is the low nibble of qs[i], element i + 16 its high one. */
static inline __m256i kv_nibbles32(const uint8_t *qs) {
    const __m128i b = _mm_loadu_si128((const __m128i *)qs), m = _mm_set1_epi8(0x0f);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(b, m)), _mm_and_si128(_mm_srli_epi16(b, 4), m), 1);
}

/* 0x10 in byte i where bit i of x is set (Q5's fifth bit), else 0: each byte picks its bit of a broadcast copy. */
static inline __m256i kv_high_bits32(uint32_t x) {
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x), shuf);
    b = _mm256_or_si256(b, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    return _mm256_and_si256(_mm256_cmpeq_epi8(b, _mm256_set1_epi64x(-1)), _mm256_set1_epi8(0x10));
}

/* 32 signed bytes q to dst[0..32) = q * d + m. */
static inline void kv_store32(float *dst, __m256i q, float d, float m) {
    const __m256 vd = _mm256_set1_ps(d), vm = _mm256_set1_ps(m);
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    const __m128i p[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int i = 0; i < 4; i++)
        _mm256_storeu_ps(dst + 8 * i, _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(p[i])), vd), vm));
}

static inline void kv_dequant_row(int t, float *dst, const void *src, int64_t n) {
    const int64_t nb = n / 32;
    switch (t) {
    case PMX_T_Q8_0:
        for (int64_t i = 0; i < nb; i++) {
            const block_q8_0 *b = (const block_q8_0 *)src + i;
            kv_store32(dst + 32 * i, _mm256_loadu_si256((const __m256i *)b->qs), pmx_half_to_f32(b->d), 0.0f);
        }
        return;
    case PMX_T_Q4_0:
        for (int64_t i = 0; i < nb; i++) {
            const block_q4_0 *b = (const block_q4_0 *)src + i;
            kv_store32(dst + 32 * i, _mm256_sub_epi8(kv_nibbles32(b->qs), _mm256_set1_epi8(8)), pmx_half_to_f32(b->d), 0.0f);
        }
        return;
    case PMX_T_Q4_1:
        for (int64_t i = 0; i < nb; i++) {
            const block_q4_1 *b = (const block_q4_1 *)src + i;
            kv_store32(dst + 32 * i, kv_nibbles32(b->qs), pmx_half_to_f32(b->d), pmx_half_to_f32(b->m));
        }
        return;
    case PMX_T_Q5_0:
        for (int64_t i = 0; i < nb; i++) {
            const block_q5_0 *b = (const block_q5_0 *)src + i;
            uint32_t qh;
            memcpy(&qh, b->qh, 4);
            const __m256i q = _mm256_or_si256(kv_nibbles32(b->qs), kv_high_bits32(qh));
            kv_store32(dst + 32 * i, _mm256_sub_epi8(q, _mm256_set1_epi8(16)), pmx_half_to_f32(b->d), 0.0f);
        }
        return;
    case PMX_T_Q5_1:
        for (int64_t i = 0; i < nb; i++) {
            const block_q5_1 *b = (const block_q5_1 *)src + i;
            uint32_t qh;
            memcpy(&qh, b->qh, 4);
            kv_store32(dst + 32 * i, _mm256_or_si256(kv_nibbles32(b->qs), kv_high_bits32(qh)), pmx_half_to_f32(b->d),
                       pmx_half_to_f32(b->m));
        }
        return;
    case PMX_T_IQ4_NL: {
        const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)pmx_kvalues_iq4nl));
        for (int64_t i = 0; i < nb; i++) {
            const block_iq4_nl *b = (const block_iq4_nl *)src + i;
            kv_store32(dst + 32 * i, _mm256_shuffle_epi8(table, kv_nibbles32(b->qs)), pmx_half_to_f32(b->d), 0.0f);
        }
        return;
    }
    case PMX_T_BF16: {
        const uint16_t *h = src;
        int64_t i = 0;
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(
                                          _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(h + i))), 16)));
        if (i < n) pmx_ref_dequantize_row(t, dst + i, h + i, n - i);
        return;
    }
    default: pmx_ref_dequantize_row(t, dst, src, n);
    }
}

#endif
