/* Q3_K's 16 signed 6-bit sub-block scales (-32..31) as int8 lanes of one register: ref.h's pmx_q3_K_scales_unpack
 * without the trip through memory (its words built in general registers, then one vpsubb). Included by the AVX2 and
 * AVX-512 matmul files after their intrinsics header (native or SIMDe). */
#ifndef PMX_X86_Q3_K_SCALES_H
#define PMX_X86_Q3_K_SCALES_H
#include <string.h>
#include "../ref/ref.h"

static inline __attribute__((always_inline)) __m128i pmx_q3_K_scales_epi8(const uint8_t *s) {
    uint32_t a[3];
    memcpy(a, s, 12);
    const uint32_t m4 = 0x0f0f0f0f, m2 = 0x03030303; /* the layout of pmx_q3_K_scales_unpack */
    const __m128i u = _mm_setr_epi32((int)((a[0] & m4) | ((a[2] & m2) << 4)), (int)((a[1] & m4) | (((a[2] >> 2) & m2) << 4)),
                                     (int)(((a[0] >> 4) & m4) | (((a[2] >> 4) & m2) << 4)),
                                     (int)(((a[1] >> 4) & m4) | (((a[2] >> 6) & m2) << 4)));
    return _mm_sub_epi8(u, _mm_set1_epi8(32));
}

/* bit b (0..7) of every byte of v moved to bit 2; the caller masks the other bits off (a 16-bit shift by at most 5
 * never carries a neighbour byte's bit into bit 2) */
static inline __attribute__((always_inline)) __m256i pmx_bit_to_2(__m256i v, const int b) {
    return b < 2 ? _mm256_slli_epi16(v, 2 - b) : b == 2 ? v : _mm256_srli_epi16(v, b - 2);
}
#endif
