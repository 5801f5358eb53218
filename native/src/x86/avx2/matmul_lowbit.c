/* AVX2 matmul of the types beyond the first seven: the K-quants Q2_K, Q3_K and Q5_K against Q8_K activations (their
 * standard prepare), IQ4_NL and IQ4_XS in matmul.c's prepared Q4_0 steps (Q4_1 and Q5_1 run in its Q4_0/Q5_0 steps).
 * Register tiles of R rows x C columns as in matmul.c; int8 products by maddubs, whose unsigned operand is the
 * weight's quant where the format has an offset or minimum (taken off through the activations' block sums) and |w|
 * with the sign moved onto the activations for the signed non-linear levels; sub-block scales enter through madd.
 * AVX-512 uses these as they are. */
#include <immintrin.h>
#include <string.h>
#include "avx2.h"
#include "tiles.h"
#include "../q3_K_scales.h"
#include "../iq4_steps.h"
#include "../../ref/ref.h"

AI void prefetch_block(const void *b, int64_t ahead, const int bytes) {
    for (int k = 0; k < bytes; k += 64) _mm_prefetch((const char *)b + ahead + k, _MM_HINT_T0);
    _mm_prefetch((const char *)b + ahead + bytes - 1, _MM_HINT_T0);
}

/* ---- Q5_K: 8 sub-blocks of 32, 5-bit quants (0..31: maddubs pair sums <= 7874), 6-bit scales and mins ---- */

AI void q5_K_tile(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t n, float *y, int64_t ldy,
                  const int R, const int C) {
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
    __m256 acc[4][4];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m128i bs[4]; /* per column: the 8 sums of 32 activations */
        float dx[4];
        UNROLL for (int c = 0; c < C; c++) {
            const block_q8_K *xk = (const block_q8_K *)(xa + c * xb) + i;
            bs[c] = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)xk->bsums), _mm_loadu_si128((const __m128i *)(xk->bsums + 8)));
            dx[c] = xk->d;
        }
        UNROLL for (int r = 0; r < R; r++) {
            const block_q5_K *b = (const block_q5_K *)(w + r * rb) + i;
            prefetch_block(b, PF_AHEAD(R, rb), sizeof *b);
            uint8_t sm[16];
            pmx_scales_k4_unpack(b->scales, sm);
            const __m128i mins = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(sm + 8)));
            const __m256i hb = _mm256_loadu_si256((const __m256i *)b->qh);
            __m256i isum[4];
            UNROLL for (int c = 0; c < C; c++) isum[c] = _mm256_setzero_si256();
            UNROLL for (int p = 0; p < 4; p++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * p));
                const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * p), one), 4);
                const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * p + 1), one), 4);
                const __m256i lo = _mm256_or_si256(_mm256_and_si256(v, m4), h0);
                const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), h1);
                const __m256i s0 = _mm256_set1_epi16(sm[2 * p]), s1 = _mm256_set1_epi16(sm[2 * p + 1]);
                UNROLL for (int c = 0; c < C; c++) {
                    const int8_t *x = ((const block_q8_K *)(xa + c * xb) + i)->qs + 64 * p;
                    const __m256i a = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)x)), s0);
                    const __m256i e = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(x + 32))), s1);
                    isum[c] = _mm256_add_epi32(isum[c], _mm256_add_epi32(a, e));
                }
            }
            const float d = h2f(b->d), dmin = h2f(b->dmin);
            UNROLL for (int c = 0; c < C; c++) {
                const __m256i ms = _mm256_zextsi128_si256(_mm_madd_epi16(mins, bs[c]));
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_set1_ps(d * dx[c]), acc[r][c]);
                acc[r][c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(ms), _mm256_set1_ps(dmin * dx[c]), acc[r][c]);
            }
        }
    }
    store_tile(acc, y, ldy, R, C);
}
TILES(q5_K)

/* ---- Q3_K and Q2_K: 16 sub-blocks of 16, 2-bit planes (+ Q3_K's third bit from hmask). Per 128 elements and plane k,
 * 32 quants (elements 32k .. 32k + 31: sub-blocks 2k and 2k + 1) share one maddubs and one madd with their two scales.
 * Q3_K's offset 4 comes off as 4 * sum_j sc_j * bsum_j, Q2_K's mins as dmin * sum_j m_j * bsum_j. ---- */

enum { W_Q2_K, W_Q3_K };

/* int16 lanes: scale 2k of the 8 in each 128-bit half of sc (both halves alike) in the low half, 2k + 1 in the high */
AI __m256i pair_scales16(__m256i sc, const int k) {
    const char a = (char)(4 * k), b = (char)(4 * k + 2);
    const __m256i idx = _mm256_setr_epi8(a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1,
                                         b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1);
    return _mm256_shuffle_epi8(sc, idx);
}

AI void q23_K_tile(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t n, float *y, int64_t ldy,
                   const int R, const int C, const int kind) {
    const int64_t nb = n / QK_K, bb = kind == W_Q2_K ? (int64_t)sizeof(block_q2_K) : (int64_t)sizeof(block_q3_K);
    const __m256i m3 = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4);
    const __m128i m4 = _mm_set1_epi8(0x0f);
    __m256 acc[4][4];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m256i bs[4];
        float dx[4];
        UNROLL for (int c = 0; c < C; c++) {
            const block_q8_K *xk = (const block_q8_K *)(xa + c * xb) + i;
            bs[c] = _mm256_loadu_si256((const __m256i *)xk->bsums);
            dx[c] = xk->d;
        }
        UNROLL for (int r = 0; r < R; r++) {
            const char *blk = w + r * rb + i * bb;
            if (kind == W_Q2_K) prefetch_block(blk, PF_AHEAD(R, rb), sizeof(block_q2_K));
            else prefetch_block(blk, PF_AHEAD(R, rb), sizeof(block_q3_K));
            const uint8_t *qs;
            __m256i sc16, isum[4], off[4], hm = _mm256_setzero_si256();
            float d, dmin = 0;
            if (kind == W_Q2_K) {
                const block_q2_K *b = (const block_q2_K *)blk;
                const __m128i v = _mm_loadu_si128((const __m128i *)b->scales);
                sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(v, m4));
                const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(v, 4), m4));
                UNROLL for (int c = 0; c < C; c++) off[c] = _mm256_madd_epi16(mins, bs[c]);
                qs = b->qs;
                d = h2f(b->d), dmin = h2f(b->dmin);
            } else {
                const block_q3_K *b = (const block_q3_K *)blk;
                sc16 = _mm256_cvtepi8_epi16(pmx_q3_K_scales_epi8(b->scales));
                UNROLL for (int c = 0; c < C; c++) off[c] = _mm256_slli_epi32(_mm256_madd_epi16(sc16, bs[c]), 2);
                hm = _mm256_loadu_si256((const __m256i *)b->hmask);
                qs = b->qs;
                d = h2f(b->d);
            }
            UNROLL for (int c = 0; c < C; c++) isum[c] = _mm256_setzero_si256();
            UNROLL for (int h = 0; h < 2; h++) {
                const __m256i qv = _mm256_loadu_si256((const __m256i *)(qs + 32 * h));
                /* scales 8h .. 8h + 7 in both halves: pair k takes 8h + 2k (low half) and 8h + 2k + 1 (high) */
                /* two immediates, not one chosen at run time: clang wants a constant even where h is unrolled */
                const __m256i sh = h ? _mm256_permute4x64_epi64(sc16, 0xee) : _mm256_permute4x64_epi64(sc16, 0x44);
                UNROLL for (int k = 0; k < 4; k++) {
                    __m256i q = _mm256_and_si256(k ? _mm256_srli_epi16(qv, 2 * k) : qv, m3);
                    if (kind == W_Q3_K) q = _mm256_or_si256(q, _mm256_and_si256(pmx_bit_to_2(hm, 4 * h + k), four));
                    const __m256i s = pair_scales16(sh, k);
                    UNROLL for (int c = 0; c < C; c++) {
                        const int8_t *x = ((const block_q8_K *)(xa + c * xb) + i)->qs + 128 * h + 32 * k;
                        isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(_mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)x)), s));
                    }
                }
            }
            UNROLL for (int c = 0; c < C; c++) {
                if (kind == W_Q3_K) {
                    acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(isum[c], off[c])), _mm256_set1_ps(d * dx[c]), acc[r][c]);
                } else {
                    acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_set1_ps(d * dx[c]), acc[r][c]);
                    acc[r][c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(off[c]), _mm256_set1_ps(dmin * dx[c]), acc[r][c]);
                }
            }
        }
    }
    store_tile(acc, y, ldy, R, C);
}
#define q2_K_tile(w, rb, xa, xb, n, y, ldy, R, C) q23_K_tile(w, rb, xa, xb, n, y, ldy, R, C, W_Q2_K)
#define q3_K_tile(w, rb, xa, xb, n, y, ldy, R, C) q23_K_tile(w, rb, xa, xb, n, y, ldy, R, C, W_Q3_K)
TILES(q2_K)
TILES(q3_K)

/* ---- IQ4_NL and IQ4_XS in Q4_0's prepared 8-block steps (matmul.c's layout: pmx_avx2_prepare_steps_128 and
 * pmx_avx2_prepare_q8_K_steps_128, IQ4_XS's sub-blocks of 32 as blocks). The nibbles index 16 signed levels (a byte
 * shuffle); maddubs has no room for levels + 128 (pair sums up to 2 * 241 * 127), so |level| is its unsigned operand and
 * the level's sign moves onto the activation (pair sums <= 2 * 127 * 127 = 32258; the prepared 128 * sum(x) offsets are
 * not used), madd widens each half to int32, two hadd levels fold the 8 blocks into one vector, and one convert + FMA
 * per 8 blocks applies the scales (IQ4_XS: d * (ls - 32) per sub-block). The AVX-512 VNNI kernels
 * (avx512/matmul_lowbit.c) read the same activations with levels + 128 through vpdpbusd. ---- */

/* signed int8 w . x of a 32-byte half as int32 sums of 4: |w| unsigned, the sign moved onto x */
AI __m256i dot_signed(__m256i w, __m256i x) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w)), _mm256_set1_epi16(1));
}

/* One step of 2P blocks from block i (IQ4_XS: super-block i, P = 4) of weight rows [0, R) against columns [0, C), the
 * columns' prepared step at byte so of their rows; added to acc. */
AI void iq4_step(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t so, int64_t i, __m256 acc[4][4],
                 const int R, const int C, const int P, const int kind) {
    const int64_t bb = kind == S_IQ4_XS ? (int64_t)sizeof(block_iq4_xs) : (int64_t)sizeof(block_iq4_nl);
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)pmx_kvalues_iq4nl));
    UNROLL for (int r = 0; r < R; r++) {
        const char *blk = w + r * rb + i * bb;
        prefetch_block(blk, PF_AHEAD(R, rb), kind == S_IQ4_XS ? (int)sizeof(block_iq4_xs) : 2 * P * (int)sizeof(block_iq4_nl));
        __m256i lo[4], hi[4];
        pmx_iq4_step_levels(blk, P, kind == S_IQ4_XS, table, lo, hi);
        const __m256 dw = kind == S_IQ4_XS ? pmx_iq4_xs_step_scales((const block_iq4_xs *)blk) : pmx_iq4_nl_step_scales(blk, 2 * P);
        UNROLL for (int c = 0; c < C; c++) {
            const char *xs = xa + c * xb + so;
            __m256i t[4];
            UNROLL for (int p = 0; p < 4; p++) t[p] = _mm256_setzero_si256();
            UNROLL for (int p = 0; p < P; p++)
                t[p] = _mm256_add_epi32(dot_signed(lo[p], _mm256_loadu_si256((const __m256i *)(xs + 64 * p))),
                                        dot_signed(hi[p], _mm256_loadu_si256((const __m256i *)(xs + 64 * p + 32))));
            const __m256i sums = _mm256_hadd_epi32(_mm256_hadd_epi32(t[0], t[1]), _mm256_hadd_epi32(t[2], t[3]));
            const __m256 xd = _mm256_loadu_ps((const float *)(xs + 64 * P + 32));
            acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_mul_ps(dw, xd), acc[r][c]);
        }
    }
}

AI void iq4_store(__m256 acc[4][4], float *y, int64_t ldy, const int R, const int C) { store_tile(acc, y, ldy, R, C); }

AI void iq4_nl_odd_block(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t so, int64_t i, float *y,
                         int64_t ldy, const int R, const int C) {
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)pmx_kvalues_iq4nl));
    UNROLL for (int r = 0; r < R; r++) {
        const block_iq4_nl *b = (const block_iq4_nl *)(w + r * rb) + i;
        const __m128i v = _mm_loadu_si128((const __m128i *)b->qs);
        const __m256i q = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0f)));
        UNROLL for (int c = 0; c < C; c++) {
            const block_q8_0 *x = (const block_q8_0 *)(xa + c * xb + so);
            const __m256i s = dot_signed(q, _mm256_loadu_si256((const __m256i *)x->qs));
            y[c * ldy + r] += hsum8(_mm256_cvtepi32_ps(s)) * (h2f(b->d) * h2f(x->d));
        }
    }
}
#include "../iq4_steps_tile.h"
#define iq4_nl_tile(w, rb, xa, xb, n, y, ldy, R, C) iq4_steps_tile(w, rb, xa, xb, n, y, ldy, R, C, S_IQ4_NL)
#define iq4_xs_tile(w, rb, xa, xb, n, y, ldy, R, C) iq4_steps_tile(w, rb, xa, xb, n, y, ldy, R, C, S_IQ4_XS)
TILES(iq4_nl)
TILES(iq4_xs)

/* ---- entry points: GEMV rows per tile as the K-quants of matmul.c (2 on short rows, 1 from 2048 columns) ---- */

#define MATMUL(name, block, act_block, qk, gemv_rows)                                                             \
    static void matmul_##name(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy,   \
                              int64_t r0, int64_t r1) {                                                        \
        run_tiles(name##_tiles, batch == 1 ? (gemv_rows) : 4, batch == 1 ? 1 : 4, w,                           \
                  n / (qk) * (int64_t)sizeof(block), xa, n / (qk) * (int64_t)sizeof(act_block), n, batch, y, ldy, \
                  r0, r1);                                                                                     \
    }
MATMUL(q5_K, block_q5_K, block_q8_K, QK_K, n >= 2048 ? 1 : 2)
MATMUL(q3_K, block_q3_K, block_q8_K, QK_K, n >= 2048 ? 1 : 2)
MATMUL(q2_K, block_q2_K, block_q8_K, QK_K, n >= 2048 ? 1 : 2)

/* IQ4_NL, IQ4_XS: GEMV rows per tile as Q4_0's steps (1 from 2048 columns, 2 from 1024, else 4); GEMM 4 x 4 */
#define MATMUL_STEPS(name, block, qk)                                                                             \
    static void matmul_##name(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy,   \
                              int64_t r0, int64_t r1) {                                                        \
        run_tiles(name##_tiles, batch == 1 ? (n >= 2048 ? 1 : n >= 1024 ? 2 : 4) : 4, batch == 1 ? 1 : 4, w,   \
                  n / (qk) * (int64_t)sizeof(block), xa, pmx_avx2_steps_row_bytes(n), n, batch, y, ldy, r0, r1); \
    }
MATMUL_STEPS(iq4_xs, block_iq4_xs, QK_K)
MATMUL_STEPS(iq4_nl, block_iq4_nl, QK8_0)

void pmx_avx2_register_matmul_lowbit(pmx_kernels *k) {
    k->matmul[PMX_T_Q5_K] = (pmx_matmul_kernel){pmx_avx2_prepare_q8_K, matmul_q5_K, NULL};
    k->matmul[PMX_T_Q3_K] = (pmx_matmul_kernel){pmx_avx2_prepare_q8_K, matmul_q3_K, NULL};
    k->matmul[PMX_T_Q2_K] = (pmx_matmul_kernel){pmx_avx2_prepare_q8_K, matmul_q2_K, NULL};
    k->matmul[PMX_T_IQ4_XS] = (pmx_matmul_kernel){pmx_avx2_prepare_q8_K_steps_128, matmul_iq4_xs, pmx_avx2_steps_row_bytes};
    k->matmul[PMX_T_IQ4_NL] = (pmx_matmul_kernel){pmx_avx2_prepare_steps_128, matmul_iq4_nl, pmx_avx2_steps_row_bytes};
}
