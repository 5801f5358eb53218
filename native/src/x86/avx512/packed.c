/* AVX-512 VNNI kernels for the interleaved (packed) Q4_0/Q8_0/Q4_K/Q6_K/IQ4_NL/IQ4_XS/Q5_K/Q3_K/Q2_K/Q4_1/Q5_1 layouts: each vpdpbusd multiplies 4
 * consecutive quants of 16 weight rows (one 64-byte load) by 4 activation quants broadcast to every lane, so its 16
 * int32 lanes are the 16 rows' partial dot products: no horizontal sums, one convert and one FMA per block for 16 rows,
 * and one contiguous weight stream per 16 rows. A tile is 16 rows x up to 8 activation columns; the weights' unpacking
 * is shared by them. */
#include "avx512.h"
#include "simd.h"

#define AI static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 8")
/* Columns per tile, every type: up to 8 (weights unpacked once for 8 columns; Q4_0/Q8_0 measured 5-10% ahead of 4 at
 * batch 128, Zen 4, noisy). K-quants had 4 (their per-column chains and sums take the registers); at 8, with the
 * integer sums' mins and offsets in vpdpwssd, Q6_K spills a few vectors (its scales and sums) and still ran faster at
 * batches 6-16 (4096 x 4096, best of 20: 116-167 -> 147-209 GFLOP/s; 6 columns measured the same as 8). */
enum { COLS = 8 };

AI int64_t packed_block_bytes(const int t) {
    return t == PMX_T_Q4_0 || t == PMX_T_IQ4_NL ? (int64_t)sizeof(block_q4_0x16)
           : t == PMX_T_Q8_0                  ? (int64_t)sizeof(block_q8_0x16)
           : t == PMX_T_Q4_K                  ? (int64_t)sizeof(block_q4_Kx16)
           : t == PMX_T_IQ4_XS                ? (int64_t)sizeof(block_iq4_xsx16)
           : t == PMX_T_Q5_K                  ? (int64_t)sizeof(block_q5_Kx16)
           : t == PMX_T_Q3_K                  ? (int64_t)sizeof(block_q3_Kx16)
           : t == PMX_T_Q2_K                  ? (int64_t)sizeof(block_q2_Kx16)
           : t == PMX_T_Q4_1                  ? (int64_t)sizeof(block_q4_1x16)
           : t == PMX_T_Q5_1                  ? (int64_t)sizeof(block_q5_1x16)
                                              : (int64_t)sizeof(block_q6_Kx16);
}

/* IQ4's 16 levels + 128 (vpdpbusd's unsigned operand) in every 128-bit lane: a byte shuffle maps nibbles to them */
AI __m512i iq4_table128(void) {
    const __m128i t = _mm_xor_si128(_mm_loadu_si128((const __m128i *)pmx_kvalues_iq4nl), _mm_set1_epi8((char)0x80));
    return _mm512_broadcast_i32x4(t);
}

/* bit b (0..7) of every byte moved to bit t (2 or 4); the other bits are left as they fall: the caller masks (a 16-bit
 * shift by at most 5 never carries a neighbour byte's bit into bit t) */
AI __m512i bit_to(__m512i v, const int b, const int t) {
    return b < t ? _mm512_slli_epi16(v, t - b) : b == t ? v : _mm512_srli_epi16(v, b - t);
}
/* vpternlogd's a | (b & c) */
#define OR_AND 0xF8

AI __m512i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* Block i of a 16-row group against C activation columns, added to acc[c] (16 rows' sums each). Q4_0: the nibbles
 * as they are (offset 8 in x->sum); IQ4_NL (levels): each nibble's level + 128 (offset 128 in x->sum). */
AI void q4_0_block(const block_q4_0x16 *b, const char *xa, int64_t xb, int64_t i, __m512 acc[COLS], const int C,
                   const int levels) {
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    __m512i lo[4], hi[4];
    UNROLL for (int s = 0; s < 4; s++) {
        const __m512i v = _mm512_loadu_si512((const void *)b->qs[s]);
        lo[s] = _mm512_and_si512(v, m4);
        hi[s] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        if (levels) {
            lo[s] = _mm512_shuffle_epi8(iq4_table128(), lo[s]);
            hi[s] = _mm512_shuffle_epi8(iq4_table128(), hi[s]);
        }
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)b->d));
    UNROLL for (int c = 0; c < C; c++) {
        const block_q8_0s *x = (const block_q8_0s *)(xa + c * xb) + i;
        /* two chains (low and high nibbles) so that no dpbusd waits on the one before it */
        __m512i s0 = _mm512_set1_epi32(x->sum), s1 = _mm512_setzero_si512();
        UNROLL for (int s = 0; s < 4; s++) {
            s0 = _mm512_dpbusd_epi32(s0, lo[s], bcast4(x->qs + 4 * s));
            s1 = _mm512_dpbusd_epi32(s1, hi[s], bcast4(x->qs + 16 + 4 * s));
        }
        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), _mm512_mul_ps(dw, _mm512_set1_ps(x->d)), acc[c]);
    }
}

/* Block i of a 16-row Q4_1 (five: Q5_1, the 5th bits as 16) group against C columns: the unsigned quants times the
 * activations, then d * dx * that + m * dx * sum(activations) (x->sum): two FMAs per block and column. */
AI void qx_1_block(const char *blk, const char *xa, int64_t xb, int64_t i, __m512 acc[COLS], const int C, const int five) {
    const block_q4_1x16 *b = (const block_q4_1x16 *)blk; /* d, m: the same place in block_q5_1x16 */
    const uint8_t(*qs)[PMX_PACK_ROWS][4] = five ? ((const block_q5_1x16 *)blk)->qs : b->qs;
    const __m512i m4 = _mm512_set1_epi8(0x0f), sixteen = _mm512_set1_epi8(16);
    __m512i lo[4], hi[4];
    const __m512i h = five ? _mm512_loadu_si512((const void *)((const block_q5_1x16 *)blk)->qh) : m4;
    UNROLL for (int s = 0; s < 4; s++) {
        const __m512i v = _mm512_loadu_si512((const void *)qs[s]);
        lo[s] = _mm512_and_si512(v, m4);
        hi[s] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        if (five) { /* the packed qh: bit s of byte k is element 4s + k's, bit 4 + s element 16 + 4s + k's */
            lo[s] = _mm512_ternarylogic_epi32(lo[s], bit_to(h, s, 4), sixteen, OR_AND);
            hi[s] = _mm512_ternarylogic_epi32(hi[s], bit_to(h, 4 + s, 4), sixteen, OR_AND);
        }
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)b->d));
    const __m512 mw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)b->m));
    UNROLL for (int c = 0; c < C; c++) {
        const block_q8_0s *x = (const block_q8_0s *)(xa + c * xb) + i;
        __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
        UNROLL for (int s = 0; s < 4; s++) {
            s0 = _mm512_dpbusd_epi32(s0, lo[s], bcast4(x->qs + 4 * s));
            s1 = _mm512_dpbusd_epi32(s1, hi[s], bcast4(x->qs + 16 + 4 * s));
        }
        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), _mm512_mul_ps(dw, _mm512_set1_ps(x->d)), acc[c]);
        acc[c] = _mm512_fmadd_ps(mw, _mm512_set1_ps(x->d * (float)x->sum), acc[c]);
    }
}

AI void q8_0_block(const block_q8_0x16 *b, const char *xa, int64_t xb, int64_t i, __m512 acc[COLS], const int C) {
    __m512i q[8];
    UNROLL for (int s = 0; s < 8; s++) q[s] = _mm512_loadu_si512((const void *)b->qs[s]);
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)b->d));
    UNROLL for (int c = 0; c < C; c++) {
        const block_q8_0s *x = (const block_q8_0s *)(xa + c * xb) + i;
        __m512i s0 = _mm512_set1_epi32(x->sum), s1 = _mm512_setzero_si512();
        UNROLL for (int s = 0; s < 8; s += 2) {
            s0 = _mm512_dpbusd_epi32(s0, q[s], bcast4(x->qs + 4 * s));
            s1 = _mm512_dpbusd_epi32(s1, q[s + 1], bcast4(x->qs + 4 * s + 4));
        }
        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), _mm512_mul_ps(dw, _mm512_set1_ps(x->d)), acc[c]);
    }
}

/* Super-block i of a 16-row Q4_K (five: Q5_K) group against C columns of block_q8_K activations. Per pair p of
 * sub-blocks, 8 loads of 64 bytes: Q4_K's low nibbles are sub-block 2p, high 2p + 1; Q5_K (block_q5_Kx16's layout):
 * the low 5 bits are sub-block 2p, the top 3 bits with 2 bits of the qh word rotated to bits 3-4 are 2p + 1 times 8
 * (4 operations per load, Q4_K's 3; the 5th bits of the nibble layout took 7), so 2p's scales are taken times 8 too.
 * Their int32 sums times the rows' 6-bit scales (vpmulld) add into one integer sum per column, the mins times the
 * activations' sub-block sums into another; one convert and FMA each per super-block. Bounds: a sub-block sum <= 32 *
 * 31 * 127 = 125984, times a scale <= 63 (Q5_K: times 8), 8 of them: < 2^29. */
AI void q45_K_block(const char *blk, const char *xa, int64_t xb, int64_t i, __m512 acc[COLS], const int C, const int five) {
    const block_q4_Kx16 *b = (const block_q4_Kx16 *)blk; /* d, dmin, sc, m: the same place in block_q5_Kx16 */
    const uint8_t(*qs)[8][PMX_PACK_ROWS][4] = five ? ((const block_q5_Kx16 *)blk)->qs : b->qs;
    const __m512i m4 = _mm512_set1_epi8(0x0f), m5 = _mm512_set1_epi8(0x1f), top3 = _mm512_set1_epi8((char)0xe0),
                  bits34 = _mm512_set1_epi8(0x18);
    __m512i isum[COLS], imin[COLS];
    UNROLL for (int c = 0; c < C; c++) isum[c] = imin[c] = _mm512_setzero_si512();
    /* dpbusd chains per column and nibble half: with few columns, two each (even and odd steps), so that a GEMV's
     * chain is 4 deep per sub-block rather than 8 and more of the next blocks' loads are in flight behind it */
    const int NCH = C <= 2 ? 2 : 1;
    for (int p = 0; p < 4; p++) {
        const __m512i rot = _mm512_set1_epi32(2 * p); /* p varies: the rotate takes its count from a register */
        __m512i slo[2][COLS], shi[2][COLS];
        UNROLL for (int h = 0; h < NCH; h++) UNROLL for (int c = 0; c < C; c++) slo[h][c] = shi[h][c] = _mm512_setzero_si512();
        UNROLL for (int s = 0; s < 8; s++) {
            const __m512i v = _mm512_loadu_si512((const void *)qs[p][s]);
            __m512i lo, hi;
            if (five) {
                const __m512i h = _mm512_rorv_epi32(_mm512_loadu_si512((const void *)((const block_q5_Kx16 *)blk)->qh[s]), rot);
                lo = _mm512_and_si512(v, m5);
                hi = _mm512_ternarylogic_epi32(_mm512_and_si512(v, top3), h, bits34, OR_AND);
            } else {
                lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
            }
            UNROLL for (int c = 0; c < C; c++) {
                const int8_t *x = ((const block_q8_K *)(xa + c * xb) + i)->qs + 64 * p + 4 * s;
                slo[s % NCH][c] = _mm512_dpbusd_epi32(slo[s % NCH][c], lo, bcast4(x));
                shi[s % NCH][c] = _mm512_dpbusd_epi32(shi[s % NCH][c], hi, bcast4(x + 32));
            }
        }
        if (NCH == 2)
            UNROLL for (int c = 0; c < C; c++) {
                slo[0][c] = _mm512_add_epi32(slo[0][c], slo[NCH - 1][c]);
                shi[0][c] = _mm512_add_epi32(shi[0][c], shi[NCH - 1][c]);
            }
        const __m512i sc0 = _mm512_slli_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)b->sc[2 * p])), five ? 3 : 0);
        const __m512i sc1 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)b->sc[2 * p + 1]));
        UNROLL for (int c = 0; c < C; c++)
            isum[c] = _mm512_add_epi32(isum[c], _mm512_add_epi32(_mm512_mullo_epi32(slo[0][c], sc0), _mm512_mullo_epi32(shi[0][c], sc1)));
    }
    /* the mins against the activations' pairs of 16-value sums: one vpdpwssd per sub-block and column, the rows'
     * 6-bit min in both int16 halves of its lane times the pair (bsums[2j], bsums[2j+1]) broadcast as one int32 */
    UNROLL for (int j = 0; j < QK_K / 32; j++) {
        const __m512i m = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)b->m[j]));
        const __m512i mm = _mm512_or_si512(m, _mm512_slli_epi32(m, 16));
        UNROLL for (int c = 0; c < C; c++) {
            const block_q8_K *x = (const block_q8_K *)(xa + c * xb) + i;
            imin[c] = _mm512_dpwssd_epi32(imin[c], mm, bcast4((const int8_t *)(x->bsums + 2 * j)));
        }
    }
    const __m512 d = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)b->d)), _mm512_set1_ps(five ? 0.125f : 1.0f));
    const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)b->dmin));
    UNROLL for (int c = 0; c < C; c++) {
        const __m512 dx = _mm512_set1_ps(((const block_q8_K *)(xa + c * xb) + i)->d);
        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[c]), _mm512_mul_ps(d, dx), acc[c]);
        acc[c] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(imin[c]), _mm512_mul_ps(dmin, dx), acc[c]);
    }
}

/* Super-block i of a 16-row IQ4_XS group against C columns of block_q8_K activations. Per sub-block j, 4 loads of 64
 * bytes: low nibbles are elements 4s..4s+3, high nibbles 16 + 4s..; their levels + 128 (a byte shuffle) through
 * vpdpbusd, the sub-block's int32 sum times the rows' ls - 32 (vpmulld) into one integer sum per column. The offset
 * 128 * sum_j (ls_j - 32) * bsum_j comes off once per super-block: one vpdpwssd per sub-block and column into a
 * second sum, shifted by 7. Bounds: a sub-block sum <= 32 * 241 * 127 < 2^20, times |ls - 32| <= 32, 8 of them: < 2^28;
 * the offset sum < 8 * 32 * 32 * 127 * 128 < 2^28. */
AI void iq4_xs_block(const block_iq4_xsx16 *b, const char *xa, int64_t xb, int64_t i, __m512 acc[COLS], const int C) {
    const __m512i m4 = _mm512_set1_epi8(0x0f), table = iq4_table128();
    __m512i isum[COLS], ioff[COLS];
    UNROLL for (int c = 0; c < C; c++) isum[c] = ioff[c] = _mm512_setzero_si512();
    /* low and high nibbles in two chains when few columns (a GEMV's chain 4 deep per sub-block, not 8), else one */
    const int NCH = C <= 2 ? 2 : 1;
    for (int j = 0; j < QK_K / 32; j++) {
        __m512i ch[2][COLS];
        UNROLL for (int h = 0; h < NCH; h++) UNROLL for (int c = 0; c < C; c++) ch[h][c] = _mm512_setzero_si512();
        UNROLL for (int s = 0; s < 4; s++) {
            const __m512i v = _mm512_loadu_si512((const void *)b->qs[j][s]);
            const __m512i lo = _mm512_shuffle_epi8(table, _mm512_and_si512(v, m4));
            const __m512i hi = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(v, 4), m4));
            UNROLL for (int c = 0; c < C; c++) {
                const int8_t *x = ((const block_q8_K *)(xa + c * xb) + i)->qs + 32 * j + 4 * s;
                ch[0][c] = _mm512_dpbusd_epi32(ch[0][c], lo, bcast4(x));
                ch[NCH - 1][c] = _mm512_dpbusd_epi32(ch[NCH - 1][c], hi, bcast4(x + 16));
            }
        }
        const __m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b->sc[j]));
        UNROLL for (int c = 0; c < C; c++) {
            const __m512i dot = NCH == 2 ? _mm512_add_epi32(ch[0][c], ch[NCH - 1][c]) : ch[0][c];
            isum[c] = _mm512_add_epi32(isum[c], _mm512_mullo_epi32(dot, sc));
        }
    }
    /* the offset against the activations' pairs of 16-value sums: the rows' ls - 32 in both int16 halves of its lane */
    UNROLL for (int j = 0; j < QK_K / 32; j++) {
        const __m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b->sc[j]));
        const __m512i ss = _mm512_or_si512(_mm512_and_si512(sc, _mm512_set1_epi32(0xffff)), _mm512_slli_epi32(sc, 16));
        UNROLL for (int c = 0; c < C; c++) {
            const block_q8_K *x = (const block_q8_K *)(xa + c * xb) + i;
            ioff[c] = _mm512_dpwssd_epi32(ioff[c], ss, bcast4((const int8_t *)(x->bsums + 2 * j)));
        }
    }
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)b->d));
    UNROLL for (int c = 0; c < C; c++) {
        const __m512 dx = _mm512_set1_ps(((const block_q8_K *)(xa + c * xb) + i)->d);
        const __m512i t = _mm512_sub_epi32(isum[c], _mm512_slli_epi32(ioff[c], 7));
        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t), _mm512_mul_ps(d, dx), acc[c]);
    }
}

/* The offset or mins of a Q3_K/Q2_K/Q6_K super-block against the activations' sums of 16 values, one vpdpwssd per pair
 * of sub-blocks and column: w16(j) gives the rows' int16 weights of sub-blocks j..j+1 (32 lanes, j's first); lane r of
 * a pair holds (w[j][r], w[j+1][r]), times the activations' (bsums[j], bsums[j+1]) broadcast as one int32. */
#define PAIR_SUMS(out, w16, xa, xb, i, C)                                                                          \
    do {                                                                                                         \
        const __m512i pair_idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, \
                                                  22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);              \
        UNROLL for (int j = 0; j < QK_K / 16; j += 2) {                                                          \
            const __m512i wp = _mm512_permutexvar_epi16(pair_idx, w16(j));                                       \
            UNROLL for (int c = 0; c < (C); c++) {                                                                \
                const block_q8_K *x = (const block_q8_K *)((xa) + c * (xb)) + (i);                               \
                out[c] = _mm512_dpwssd_epi32(out[c], wp, bcast4((const int8_t *)(x->bsums + j)));               \
            }                                                                                                    \
        }                                                                                                        \
    } while (0)

/* Super-block i of a 16-row Q6_K group against C columns of block_q8_K activations. A half's ql and qh words of step s
 * lie side by side (one sequential stream: with ql and qh in two areas, a GEMV from memory ran at 8 instead of 20+
 * GB/s); the second pass over a half finds it in L1. Per half h and pass b, the low
 * nibbles of ql[h][b] with qh bits 2b..2b+1 on top are the values of group k = b, the high nibbles with bits
 * 2b+4..2b+5 those of k = b + 2: unsigned 6-bit quants for vpdpbusd; the -32 offset comes off once per super-block as
 * 32 * sum_j sc_j * bsum_j. Each 16-value sub-block's int32 sum times its int8 scale (vpmulld) adds into one integer
 * sum per column: |sum| <= 16 sub-blocks * 128 * 16 * 63 * 127 < 2^28, the offset term < 2^27. */
#define Q6_W16(j) _mm512_mullo_epi16(_mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)b->sc[j])), _mm512_set1_epi16(-32))
AI void q6_K_block(const block_q6_Kx16 *b, const char *xa, int64_t xb, int64_t i, __m512 acc[COLS], const int C) {
    const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
    __m512i isum[COLS];
    UNROLL for (int c = 0; c < C; c++) isum[c] = _mm512_setzero_si512();
    for (int h = 0; h < 2; h++)
        UNROLL for (int p = 0; p < 2; p++)
            UNROLL for (int s16 = 0; s16 < 2; s16++) {
                __m512i lo[COLS], hi[COLS];
                UNROLL for (int c = 0; c < C; c++) lo[c] = hi[c] = _mm512_setzero_si512();
                UNROLL for (int s = 4 * s16; s < 4 * s16 + 4; s++) {
                    const __m512i v = _mm512_loadu_si512((const void *)b->q[h][s][p]);
                    const __m512i hb = _mm512_loadu_si512((const void *)b->q[h][s][2]);
                    const __m512i top_lo = p ? _mm512_slli_epi16(hb, 2) : _mm512_slli_epi16(hb, 4);
                    const __m512i top_hi = p ? _mm512_srli_epi16(hb, 2) : hb;
                    const __m512i qlo = _mm512_or_si512(_mm512_and_si512(v, m4), _mm512_and_si512(top_lo, m30));
                    const __m512i qhi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v, 4), m4), _mm512_and_si512(top_hi, m30));
                    UNROLL for (int c = 0; c < C; c++) {
                        const int8_t *x = ((const block_q8_K *)(xa + c * xb) + i)->qs + 128 * h + 4 * s;
                        lo[c] = _mm512_dpbusd_epi32(lo[c], qlo, bcast4(x + 32 * p));
                        hi[c] = _mm512_dpbusd_epi32(hi[c], qhi, bcast4(x + 32 * (p + 2)));
                    }
                }
                const __m512i sl = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b->sc[8 * h + 2 * p + s16]));
                const __m512i sh = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b->sc[8 * h + 2 * (p + 2) + s16]));
                UNROLL for (int c = 0; c < C; c++)
                    isum[c] = _mm512_add_epi32(isum[c], _mm512_add_epi32(_mm512_mullo_epi32(lo[c], sl), _mm512_mullo_epi32(hi[c], sh)));
            }
    PAIR_SUMS(isum, Q6_W16, xa, xb, i, C); /* the -32 offset */
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)b->d));
    UNROLL for (int c = 0; c < C; c++) {
        const __m512 dx = _mm512_set1_ps(((const block_q8_K *)(xa + c * xb) + i)->d);
        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[c]), _mm512_mul_ps(d, dx), acc[c]);
    }
}

/* Super-block i of a 16-row Q3_K group (block_q3_Kx16's layout) against C columns of block_q8_K activations. Sub-block
 * 8h + m, step s: m < 3 is bits 0-2 of load v = m of group (h, s), m < 6 bits 5-7 of load m - 3 (its values times 32):
 * one vpandd each; m = 6, 7 take bits 3-4 of load 0, 1 with the third bit of load 2 shifted to bit 5 (times 8): three
 * operations (the 2-bit planes and hmask took four per operand). Each sub-block's int32 sum times its scale shifted to
 * make every sum 32 times its values' (vpmulld) adds into one integer sum per column; the -4 offset comes off once per
 * super-block as 128 * sum_j sc_j * bsum_j, one vpdpwssd per pair of sub-blocks and column. Bounds: 32 * |sub-block
 * sum| <= 32 * 16 * 7 * 128, times |sc| <= 32, 16 of them: < 2^28; the offset < 2^28. */
AI __m512i q3_K_values(const block_q3_Kx16 *b, const int h, const int s, const int m) {
    const uint8_t(*v)[PMX_PACK_ROWS][4] = b->q[h][s];
    if (m < 6) return _mm512_and_si512(_mm512_loadu_si512((const void *)v[m % 3]), _mm512_set1_epi8(m < 3 ? 7 : (char)0xe0));
    const __m512i third = _mm512_slli_epi16(_mm512_loadu_si512((const void *)v[2]), m == 6 ? 2 : 1);
    return _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_loadu_si512((const void *)v[m - 6]), _mm512_set1_epi8(0x18)), third,
                                     _mm512_set1_epi8(0x20), OR_AND);
}
#define Q3_W16(j) _mm512_mullo_epi16(_mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)b->sc[j])), _mm512_set1_epi16(-128))
/* sub-block 8h + m's scales, shifted to make its sum 32 times its values' */
AI __m512i q3_K_scales(const block_q3_Kx16 *b, const int h, const int m) {
    return _mm512_slli_epi32(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b->sc[8 * h + m])), m < 3 ? 5 : m < 6 ? 0 : 2);
}
AI void q3_K_block(const block_q3_Kx16 *b, const char *xa, int64_t xb, int64_t i, __m512 acc[COLS], const int C) {
    __m512i isum[COLS];
    UNROLL for (int c = 0; c < C; c++) isum[c] = _mm512_setzero_si512();
    if (C == 1) { /* a GEMV: per step, the half's 8 sub-blocks from its 3 loads (7% faster in L2 than sub-block by
                   * sub-block; with 8 columns their 64 sums would not fit the registers) */
        const int8_t *x = ((const block_q8_K *)xa + i)->qs;
        UNROLL for (int h = 0; h < 2; h++) {
            __m512i dot[8];
            UNROLL for (int m = 0; m < 8; m++) dot[m] = _mm512_setzero_si512();
            UNROLL for (int s = 0; s < 4; s++)
                UNROLL for (int m = 0; m < 8; m++)
                    dot[m] = _mm512_dpbusd_epi32(dot[m], q3_K_values(b, h, s, m), bcast4(x + 16 * (8 * h + m) + 4 * s));
            UNROLL for (int m = 0; m < 8; m++) isum[0] = _mm512_add_epi32(isum[0], _mm512_mullo_epi32(dot[m], q3_K_scales(b, h, m)));
        }
    } else {
        UNROLL for (int h = 0; h < 2; h++)
            UNROLL for (int m = 0; m < 8; m++) {
                __m512i dot[COLS];
                UNROLL for (int c = 0; c < C; c++) dot[c] = _mm512_setzero_si512();
                UNROLL for (int s = 0; s < 4; s++) {
                    const __m512i q = q3_K_values(b, h, s, m);
                    UNROLL for (int c = 0; c < C; c++) {
                        const int8_t *x = ((const block_q8_K *)(xa + c * xb) + i)->qs + 16 * (8 * h + m) + 4 * s;
                        dot[c] = _mm512_dpbusd_epi32(dot[c], q, bcast4(x));
                    }
                }
                const __m512i sc = q3_K_scales(b, h, m);
                UNROLL for (int c = 0; c < C; c++) isum[c] = _mm512_add_epi32(isum[c], _mm512_mullo_epi32(dot[c], sc));
            }
    }
    PAIR_SUMS(isum, Q3_W16, xa, xb, i, C);
    const __m512 d = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)b->d)), _mm512_set1_ps(1.0f / 32));
    UNROLL for (int c = 0; c < C; c++) {
        const __m512 dx = _mm512_set1_ps(((const block_q8_K *)(xa + c * xb) + i)->d);
        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[c]), _mm512_mul_ps(d, dx), acc[c]);
    }
}

/* Super-block i of a 16-row Q2_K group against C columns of block_q8_K activations. Per half n, step s and plane k,
 * one load of 64 bytes (L1 after the first plane): bits 2k..2k+1 of each byte are 4 values of sub-block 8n + 2k + s / 4;
 * a sub-block's int32 sum times its scale (vpmulld) adds into one integer sum per column; the mins come off once per
 * super-block as sum_j m_j * bsum_j, one vpdpwssd per pair of sub-blocks and column. Bounds: sub-block sum <= 16 * 3
 * * 128, times sc <= 15, 16 of them: < 2^24; the mins < 2^23. */
#define Q2_W16(j) _mm512_srli_epi16(_mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)b->sc[j])), 4)
AI void q2_K_block(const block_q2_Kx16 *b, const char *xa, int64_t xb, int64_t i, __m512 acc[COLS], const int C) {
    const __m512i m3 = _mm512_set1_epi8(3);
    __m512i isum[COLS], imin[COLS];
    UNROLL for (int c = 0; c < C; c++) isum[c] = imin[c] = _mm512_setzero_si512();
    UNROLL for (int n = 0; n < 2; n++)
        UNROLL for (int k = 0; k < 4; k++)
            UNROLL for (int s16 = 0; s16 < 2; s16++) {
                __m512i dot[COLS];
                UNROLL for (int c = 0; c < C; c++) dot[c] = _mm512_setzero_si512();
                UNROLL for (int s = 4 * s16; s < 4 * s16 + 4; s++) {
                    const __m512i q = _mm512_and_si512(_mm512_srli_epi16(_mm512_loadu_si512((const void *)b->qs[n][s]), 2 * k), m3);
                    UNROLL for (int c = 0; c < C; c++) {
                        const int8_t *x = ((const block_q8_K *)(xa + c * xb) + i)->qs + 128 * n + 32 * k + 4 * s;
                        dot[c] = _mm512_dpbusd_epi32(dot[c], q, bcast4(x));
                    }
                }
                const int j = 8 * n + 2 * k + s16;
                const __m512i sc = _mm512_and_si512(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)b->sc[j])), _mm512_set1_epi32(0xf));
                UNROLL for (int c = 0; c < C; c++) isum[c] = _mm512_add_epi32(isum[c], _mm512_mullo_epi32(dot[c], sc));
            }
    PAIR_SUMS(imin, Q2_W16, xa, xb, i, C);
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)b->d));
    const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)b->dmin));
    UNROLL for (int c = 0; c < C; c++) {
        const __m512 dx = _mm512_set1_ps(((const block_q8_K *)(xa + c * xb) + i)->d);
        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[c]), _mm512_mul_ps(d, dx), acc[c]);
        acc[c] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(imin[c]), _mm512_mul_ps(dmin, dx), acc[c]);
    }
}

/* Software prefetch distance of the tiles of 2+ columns, in bytes ahead of the block being read: ~14 Q4_0 or 7 Q8_0
 * blocks, ~3 K-quant super-blocks. */
AI int64_t prefetch_bytes(const int t) {
    return t == PMX_T_Q4_0 || t == PMX_T_Q8_0 || t == PMX_T_IQ4_NL || t == PMX_T_Q4_1 || t == PMX_T_Q5_1 ? 4096 : 8192;
}

/* One group of 16 rows (its nb blocks from g) against columns [0, C). The group is one sequential stream. A GEMV
 * (C = 1) leaves it to the hardware prefetcher: hints 256 B to 19 KB ahead measured slower or no faster (Zen 4, one
 * thread, 32768 x 4096 weights: Q4_K 16-19 GB/s with them, 22-23 without; Q4_0 21-23 vs 25-31). A tile of 2+ columns
 * spends 2-16x longer per byte, and there the hardware prefetcher alone leaves the loads exposed: an L2 hint (T1) a
 * few KB ahead of every line, measured on Zen 4 (1 thread, A/B alternated, best of 8-20 runs; the machine was shared):
 * 32768 x 4096 Q4_0 batch 8: 102-181 GFLOP/s without, 159-300 with; Q4_K batch 8 155-202 -> 219-278; in L3
 * (4096 x 4096) Q4_0 batch 16 249-310 -> 333-355. T0 (into L1) was as good for Q4_0, worse for K-quants. */
AI void group_tile(const char *g, int64_t nb, const char *xa, int64_t xb, float *y, int64_t ldy, const int C,
                   const int t) {
    __m512 acc[COLS];
    UNROLL for (int c = 0; c < C; c++) acc[c] = _mm512_setzero_ps();
    const int64_t bb = packed_block_bytes(t);
    for (int64_t i = 0; i < nb; i++) {
        const char *blk = g + i * bb;
        if (C >= 2)
            UNROLL for (int64_t o = 0; o < bb; o += 64) _mm_prefetch(blk + prefetch_bytes(t) + o, _MM_HINT_T1);
        if (t == PMX_T_Q4_0 || t == PMX_T_IQ4_NL) q4_0_block((const block_q4_0x16 *)blk, xa, xb, i, acc, C, t == PMX_T_IQ4_NL);
        else if (t == PMX_T_Q4_1 || t == PMX_T_Q5_1) qx_1_block(blk, xa, xb, i, acc, C, t == PMX_T_Q5_1);
        else if (t == PMX_T_Q8_0) q8_0_block((const block_q8_0x16 *)blk, xa, xb, i, acc, C);
        else if (t == PMX_T_Q4_K || t == PMX_T_Q5_K) q45_K_block(blk, xa, xb, i, acc, C, t == PMX_T_Q5_K);
        else if (t == PMX_T_Q3_K) q3_K_block((const block_q3_Kx16 *)blk, xa, xb, i, acc, C);
        else if (t == PMX_T_Q2_K) q2_K_block((const block_q2_Kx16 *)blk, xa, xb, i, acc, C);
        else if (t == PMX_T_IQ4_XS) iq4_xs_block((const block_iq4_xsx16 *)blk, xa, xb, i, acc, C);
        else q6_K_block((const block_q6_Kx16 *)blk, xa, xb, i, acc, C);
    }
    UNROLL for (int c = 0; c < C; c++) _mm512_storeu_ps(y + c * ldy, acc[c]);
}

typedef void (*group_fn)(const char *g, int64_t nb, const char *xa, int64_t xb, float *y, int64_t ldy);
#define GROUP_FN(name, T, C)                                                                                     \
    static void name##_##C(const char *g, int64_t nb, const char *xa, int64_t xb, float *y, int64_t ldy) {       \
        group_tile(g, nb, xa, xb, y, ldy, C, T);                                                                 \
    }
#define GROUP_FNS(name, T)                                                                                       \
    GROUP_FN(name, T, 1) GROUP_FN(name, T, 2) GROUP_FN(name, T, 3) GROUP_FN(name, T, 4) GROUP_FN(name, T, 5)       \
    GROUP_FN(name, T, 6) GROUP_FN(name, T, 7) GROUP_FN(name, T, 8)                                                \
    static const group_fn name##_tiles[COLS] = {name##_1, name##_2, name##_3, name##_4,                          \
                                                name##_5, name##_6, name##_7, name##_8};
#define GROUP_FNS_K(name, T)                                                                                     \
    GROUP_FN(name, T, 1) GROUP_FN(name, T, 2) GROUP_FN(name, T, 3) GROUP_FN(name, T, 4)                          \
    static const group_fn name##_tiles[COLS] = {name##_1, name##_2, name##_3, name##_4};
GROUP_FNS(q4_0x16, PMX_T_Q4_0)
GROUP_FNS(q8_0x16, PMX_T_Q8_0)
GROUP_FNS(q4_Kx16, PMX_T_Q4_K)
GROUP_FNS(q6_Kx16, PMX_T_Q6_K)
GROUP_FNS(iq4_nlx16, PMX_T_IQ4_NL)
GROUP_FNS(iq4_xsx16, PMX_T_IQ4_XS)
GROUP_FNS(q5_Kx16, PMX_T_Q5_K)
GROUP_FNS(q3_Kx16, PMX_T_Q3_K)
GROUP_FNS(q2_Kx16, PMX_T_Q2_K)
GROUP_FNS(q4_1x16, PMX_T_Q4_1)
GROUP_FNS(q5_1x16, PMX_T_Q5_1)

/* bb: bytes of a packed block, nb blocks per row, xb bytes per activation row */
static void run_groups(const group_fn tiles[COLS], int cols, int64_t bb, int64_t nb, int64_t xb, const void *w,
                       const void *xa, int64_t batch, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r += PMX_PACK_ROWS) {
        const char *g = (const char *)w + r / PMX_PACK_ROWS * nb * bb;
        for (int64_t c = 0; c < batch; c += cols) {
            const int C = batch - c < cols ? (int)(batch - c) : cols;
            tiles[C - 1](g, nb, (const char *)xa + c * xb, xb, y + c * ldy + r, ldy);
        }
    }
}

static void matmul_q4_0x16(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy, int64_t r0,
                           int64_t r1) {
    run_groups(q4_0x16_tiles, COLS, sizeof(block_q4_0x16), n / QK8_0, n / QK8_0 * (int64_t)sizeof(block_q8_0s), w, xa, batch, y,
               ldy, r0, r1);
}
static void matmul_q8_0x16(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy, int64_t r0,
                           int64_t r1) {
    run_groups(q8_0x16_tiles, COLS, sizeof(block_q8_0x16), n / QK8_0, n / QK8_0 * (int64_t)sizeof(block_q8_0s), w, xa, batch, y,
               ldy, r0, r1);
}
static void matmul_q6_Kx16(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy, int64_t r0,
                           int64_t r1) {
    run_groups(q6_Kx16_tiles, COLS, sizeof(block_q6_Kx16), n / QK_K, n / QK_K * (int64_t)sizeof(block_q8_K), w, xa, batch,
               y, ldy, r0, r1);
}
static void matmul_q4_Kx16(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy, int64_t r0,
                           int64_t r1) {
    run_groups(q4_Kx16_tiles, COLS, sizeof(block_q4_Kx16), n / QK_K, n / QK_K * (int64_t)sizeof(block_q8_K), w, xa, batch,
               y, ldy, r0, r1);
}

static void matmul_iq4_nlx16(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy, int64_t r0,
                             int64_t r1) {
    run_groups(iq4_nlx16_tiles, COLS, sizeof(block_iq4_nlx16), n / QK8_0, n / QK8_0 * (int64_t)sizeof(block_q8_0s), w, xa,
               batch, y, ldy, r0, r1);
}
static void matmul_iq4_xsx16(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy, int64_t r0,
                             int64_t r1) {
    run_groups(iq4_xsx16_tiles, COLS, sizeof(block_iq4_xsx16), n / QK_K, n / QK_K * (int64_t)sizeof(block_q8_K), w, xa,
               batch, y, ldy, r0, r1);
}

#define MATMUL_K(name)                                                                                   \
    static void matmul_##name(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy,   \
                              int64_t r0, int64_t r1) {                                                        \
        run_groups(name##_tiles, COLS, sizeof(block_##name), n / QK_K, n / QK_K * (int64_t)sizeof(block_q8_K), w, xa, \
                   batch, y, ldy, r0, r1);                                                                       \
    }
MATMUL_K(q5_Kx16)
MATMUL_K(q3_Kx16)
MATMUL_K(q2_Kx16)
#define MATMUL_32(name)                                                                                  \
    static void matmul_##name(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy,   \
                              int64_t r0, int64_t r1) {                                                        \
        run_groups(name##_tiles, COLS, sizeof(block_##name), n / QK8_0, n / QK8_0 * (int64_t)sizeof(block_q8_0s), w, \
                   xa, batch, y, ldy, r0, r1);                                                                   \
    }
MATMUL_32(q4_1x16)
MATMUL_32(q5_1x16)

/* VNNI only: without it the biased Q8_0 quants (up to 255) would saturate maddubs' int16 pair sums. The activations are
 * prepared by the AVX2 table's packed prepare functions (ggml's quants, once per activation row). */
void pmx_avx512_register_packed(pmx_kernels *k) {
    if (!pmx_avx512_vnni()) return;
    k->packed[PMX_T_Q4_0].matmul = matmul_q4_0x16;
    k->packed[PMX_T_Q8_0].matmul = matmul_q8_0x16;
    k->packed[PMX_T_Q4_K].matmul = matmul_q4_Kx16;
    k->packed[PMX_T_Q6_K].matmul = matmul_q6_Kx16;
    k->packed_preferred[PMX_T_Q4_0] = k->packed_preferred[PMX_T_Q8_0] = 1;
    k->packed_preferred[PMX_T_Q4_K] = k->packed_preferred[PMX_T_Q6_K] = 1;
    k->packed[PMX_T_IQ4_NL].matmul = matmul_iq4_nlx16;
    k->packed[PMX_T_IQ4_XS].matmul = matmul_iq4_xsx16;
    k->packed_preferred[PMX_T_IQ4_NL] = k->packed_preferred[PMX_T_IQ4_XS] = 1;
    k->packed[PMX_T_Q5_K].matmul = matmul_q5_Kx16;
    k->packed[PMX_T_Q3_K].matmul = matmul_q3_Kx16;
    k->packed[PMX_T_Q2_K].matmul = matmul_q2_Kx16;
    k->packed_preferred[PMX_T_Q5_K] = k->packed_preferred[PMX_T_Q3_K] = k->packed_preferred[PMX_T_Q2_K] = 1;
    k->packed[PMX_T_Q4_1].matmul = matmul_q4_1x16;
    k->packed[PMX_T_Q5_1].matmul = matmul_q5_1x16;
    k->packed_preferred[PMX_T_Q4_1] = k->packed_preferred[PMX_T_Q5_1] = 1;
}
