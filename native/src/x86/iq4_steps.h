/* IQ4_NL's and IQ4_XS's weight scales for one step of Q4_0's prepared 8-block steps (avx2/matmul.c's layout), as floats
 * in the steps' lane order (blocks 0 2 4 6 in the low half, 1 3 5 7 in the high; absent blocks 0). Shared by the AVX2
 * (maddubs) and AVX-512 VNNI (vpdpbusd) steps kernels. Included after the intrinsics header (native or SIMDe). */
#ifndef PMX_X86_IQ4_STEPS_H
#define PMX_X86_IQ4_STEPS_H
#include <string.h>
#include "../ref/ref.h"

enum { S_IQ4_NL, S_IQ4_XS }; /* the steps kernels' kind */

/* IQ4_XS: d * (ls - 32) of the super-block's 8 sub-blocks; lane j is sub-block 2j (j < 4) or 2(j - 4) + 1, its nibble of
 * scales_l and its 2 bits of scales_h */
static inline __attribute__((always_inline)) __m256 pmx_iq4_xs_step_scales(const block_iq4_xs *b) {
    uint32_t l;
    memcpy(&l, b->scales_l, 4);
    const __m256i lo = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)l), _mm256_setr_epi32(0, 8, 16, 24, 4, 12, 20, 28)),
                                        _mm256_set1_epi32(0xf));
    const __m256i hi = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(b->scales_h), _mm256_setr_epi32(0, 4, 8, 12, 2, 6, 10, 14)),
                                        _mm256_set1_epi32(3));
    const __m256i ls = _mm256_sub_epi32(_mm256_or_si256(lo, _mm256_slli_epi32(hi, 4)), _mm256_set1_epi32(32));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(ls), _mm256_set1_ps(_cvtsh_ss(b->d)));
}

/* IQ4_NL: the d of the nb (2, 4 or 8) consecutive blocks at blk, assembled in general-purpose registers, then one move
 * and one convert (a gather or eight inserts would take the vector ports the dot products need) */
static inline __attribute__((always_inline)) __m256 pmx_iq4_nl_step_scales(const char *blk, const int nb) {
    uint64_t even = 0, odd = 0;
    for (int j = 0; j < nb; j++) {
        uint16_t h;
        memcpy(&h, blk + j * (int64_t)sizeof(block_iq4_nl), 2);
        if (j & 1) odd |= (uint64_t)h << (16 * (j / 2));
        else even |= (uint64_t)h << (16 * (j / 2));
    }
    return _mm256_cvtph_ps(_mm_set_epi64x((long long)odd, (long long)even));
}
/* The 4-bit indices of one step (2P blocks at blk; IQ4_XS: the super-block's first 2P sub-blocks, P = 4) mapped to
 * bytes through table (the levels, or the levels + 128 for vpdpbusd's unsigned operand, in both 128-bit lanes): lo[p]
 * the low nibbles of blocks 2p and 2p + 1, hi[p] the high ones */
static inline __attribute__((always_inline)) void pmx_iq4_step_levels(const char *blk, const int P, const int xs,
                                                                      const __m256i table, __m256i lo[4], __m256i hi[4]) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    _Pragma("GCC unroll 4") for (int p = 0; p < P; p++) {
        __m256i q;
        if (xs) {
            q = _mm256_loadu_si256((const __m256i *)(((const block_iq4_xs *)blk)->qs + 32 * p));
        } else {
            const block_iq4_nl *b = (const block_iq4_nl *)blk + 2 * p;
            q = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)b[1].qs), _mm_loadu_si128((const __m128i *)b[0].qs));
        }
        lo[p] = _mm256_shuffle_epi8(table, _mm256_and_si256(q, m4));
        hi[p] = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
    }
}
#endif
