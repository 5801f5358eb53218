/* AVX-512 matmul of the types beyond the first seven: Q4_1 Q5_1 against Q8_0 activations, Q2_K Q3_K Q5_K against Q8_K,
 * the AVX2 tiles of avx2/matmul_lowbit.c on zmm (64 quants per register; the 32-blocks two blocks per zmm through
 * vpdpbusd, the K-quants keep maddubs/madd, whose madd multiplies in the sub-block scales for free); IQ4_NL and IQ4_XS
 * in Q4_0's prepared 8-block steps on ymm with vpdpbusd (levels + 128 by a byte shuffle, the offset taken off through
 * the prepared activation sums). Registered on VNNI CPUs only, and per type and batch only where it measured faster
 * than AVX2 (see pmx_avx512_register_matmul_lowbit). */
#include <stdlib.h>
#include <string.h>
#include "avx512.h"
#include "../avx2/avx2.h"
#include "simd.h"
#include "../q3_K_scales.h"
#include "../iq4_steps.h"
#include "../../ref/ref.h"

#define AI static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 4")
#define PF_AHEAD(R, rb) ((int64_t)(R) * (rb))

AI float h2f(pmx_half h) { return _cvtsh_ss(h); }
AI __m512 bcast2(float a, float b) { return _mm512_mask_blend_ps((__mmask16)0xff00, _mm512_set1_ps(a), _mm512_set1_ps(b)); }
AI __m512i cat256(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }
AI __m512i zext128(__m128i v) { return _mm512_inserti32x4(_mm512_setzero_si512(), v, 0); }

typedef void (*tile_fn)(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t n, float *y, int64_t ldy);

static void run_tiles(const tile_fn t[4][4], int rt, int ct, const void *w, int64_t rb, const void *xa, int64_t xb,
                      int64_t n, int64_t batch, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r += rt) {
        const int R = r1 - r < rt ? (int)(r1 - r) : rt;
        for (int64_t c = 0; c < batch; c += ct) {
            const int C = batch - c < ct ? (int)(batch - c) : ct;
            t[R - 1][C - 1]((const char *)w + r * rb, rb, (const char *)xa + c * xb, xb, n, y + c * ldy + r, ldy);
        }
    }
}

#define TILES(name)                                                                                              \
    TILE_1(name, 1) TILE_1(name, 2) TILE_1(name, 3) TILE_1(name, 4)                                              \
    static const tile_fn name##_tiles[4][4] = {                                                                  \
        {name##_1_1, name##_1_2, name##_1_3, name##_1_4}, {name##_2_1, name##_2_2, name##_2_3, name##_2_4},      \
        {name##_3_1, name##_3_2, name##_3_3, name##_3_4}, {name##_4_1, name##_4_2, name##_4_3, name##_4_4}};
#define TILE_1(name, R) TILE_RC(name, R, 1) TILE_RC(name, R, 2) TILE_RC(name, R, 3) TILE_RC(name, R, 4)
#define TILE_RC(name, R, C)                                                                                      \
    static void name##_##R##_##C(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t n, float *y,     \
                                 int64_t ldy) {                                                                  \
        name##_tile(w, rb, xa, xb, n, y, ldy, R, C);                                                             \
    }

/* The tile's R x C sums reduced together (acc[r][c] is vector r * C + c), each in pmx_mm512_reduce_add_ps's order:
 * a column of a wider tile equals the one-column tile's bit for bit, so a verify row gets a decode row's logits. */
AI void store_tile(__m512 acc[4][4], float *y, int64_t ldy, const int R, const int C) {
    __m512 v[16];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) v[r * C + c] = acc[r][c];
    float s[16];
    _mm512_storeu_ps(s, pmx_mm512_reduce_add_16(v, R * C));
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) y[c * ldy + r] = s[pmx_reduce_lane(r * C + c)];
}

AI void prefetch_block(const void *b, int64_t ahead, const int bytes) {
    for (int k = 0; k < bytes; k += 64) _mm_prefetch((const char *)b + ahead + k, _MM_HINT_T0);
    _mm_prefetch((const char *)b + ahead + bytes - 1, _MM_HINT_T0);
}

/* int16 lanes 0..15 = a, 16..31 = b */
AI __m512i scales2(int a, int b) {
    return _mm512_mask_blend_epi16(0xffff0000u, _mm512_set1_epi16((int16_t)a), _mm512_set1_epi16((int16_t)b));
}

/* ---- Q5_K: per 64 elements (sub-blocks 2p, 2p+1), low nibbles | qh bit 2p <<4 and high nibbles | bit 2p+1 << 4 ---- */

AI void q5_K_tile(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t n, float *y, int64_t ldy,
                  const int R, const int C) {
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
    __m512 acc[4][4];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m128i bs[4];
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
            __m512i isum[4];
            UNROLL for (int c = 0; c < C; c++) isum[c] = _mm512_setzero_si512();
            UNROLL for (int p = 0; p < 4; p++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * p));
                const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * p), one), 4);
                const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * p + 1), one), 4);
                const __m512i q = cat256(_mm256_or_si256(_mm256_and_si256(v, m4), h0),
                                         _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), h1));
                const __m512i s = scales2(sm[2 * p], sm[2 * p + 1]);
                UNROLL for (int c = 0; c < C; c++) {
                    const int8_t *x = ((const block_q8_K *)(xa + c * xb) + i)->qs + 64 * p;
                    isum[c] = _mm512_add_epi32(isum[c], _mm512_madd_epi16(_mm512_maddubs_epi16(q, _mm512_loadu_si512((const void *)x)), s));
                }
            }
            const float d = h2f(b->d), dmin = h2f(b->dmin);
            UNROLL for (int c = 0; c < C; c++) {
                const __m512i ms = zext128(_mm_madd_epi16(mins, bs[c]));
                acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[c]), _mm512_set1_ps(d * dx[c]), acc[r][c]);
                acc[r][c] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(ms), _mm512_set1_ps(dmin * dx[c]), acc[r][c]);
            }
        }
    }
    store_tile(acc, y, ldy, R, C);
}
TILES(q5_K)

/* ---- Q3_K and Q2_K: per 128 elements h and planes k, k+1 (k = 0, 2): 64 quants (sub-blocks 8h+2k .. 8h+2k+3, 16
 * each) in one zmm against 64 consecutive activations; the four scales spread over int16 lanes by a permute. ---- */

enum { W_Q2_K, W_Q3_K };

AI void q23_K_tile(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t n, float *y, int64_t ldy,
                   const int R, const int C, const int kind) {
    const int64_t nb = n / QK_K, bb = kind == W_Q2_K ? (int64_t)sizeof(block_q2_K) : (int64_t)sizeof(block_q3_K);
    const __m256i m3 = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4), m4 = _mm256_set1_epi8(0x0f);
    /* int16 lane l takes scale j0 + l / 8 */
    __m512i sidx[4];
    UNROLL for (int q = 0; q < 4; q++) {
        int16_t t[32];
        for (int l = 0; l < 32; l++) t[l] = (int16_t)(4 * q + l / 8);
        sidx[q] = _mm512_loadu_si512((const void *)t);
    }
    __m512 acc[4][4];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] = _mm512_setzero_ps();
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
            __m256i off[4], hm = _mm256_setzero_si256(), sc16;
            float d, dmin = 0;
            if (kind == W_Q2_K) {
                const block_q2_K *b = (const block_q2_K *)blk;
                const __m128i v = _mm_loadu_si128((const __m128i *)b->scales);
                sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(v, _mm256_castsi256_si128(m4)));
                const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(v, 4), _mm256_castsi256_si128(m4)));
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
            const __m512i sc = _mm512_castsi256_si512(sc16);
            __m512i isum[4];
            UNROLL for (int c = 0; c < C; c++) isum[c] = _mm512_setzero_si512();
            UNROLL for (int h = 0; h < 2; h++) {
                const __m256i qv = _mm256_loadu_si256((const __m256i *)(qs + 32 * h));
                UNROLL for (int k = 0; k < 4; k += 2) {
                    __m256i q0 = _mm256_and_si256(_mm256_srli_epi16(qv, 2 * k), m3);
                    __m256i q1 = _mm256_and_si256(_mm256_srli_epi16(qv, 2 * k + 2), m3);
                    if (kind == W_Q3_K) {
                        q0 = _mm256_or_si256(q0, _mm256_and_si256(pmx_bit_to_2(hm, 4 * h + k), four));
                        q1 = _mm256_or_si256(q1, _mm256_and_si256(pmx_bit_to_2(hm, 4 * h + k + 1), four));
                    }
                    const __m512i q = cat256(q0, q1);
                    const __m512i s = _mm512_permutexvar_epi16(sidx[2 * h + k / 2], sc);
                    UNROLL for (int c = 0; c < C; c++) {
                        const int8_t *x = ((const block_q8_K *)(xa + c * xb) + i)->qs + 128 * h + 32 * k;
                        isum[c] = _mm512_add_epi32(isum[c], _mm512_madd_epi16(_mm512_maddubs_epi16(q, _mm512_loadu_si512((const void *)x)), s));
                    }
                }
            }
            UNROLL for (int c = 0; c < C; c++) {
                if (kind == W_Q3_K) {
                    const __m512i o = _mm512_inserti64x4(_mm512_setzero_si512(), off[c], 0);
                    acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(isum[c], o)), _mm512_set1_ps(d * dx[c]), acc[r][c]);
                } else {
                    acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[c]), _mm512_set1_ps(d * dx[c]), acc[r][c]);
                    acc[r][c] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(_mm512_inserti64x4(_mm512_setzero_si512(), off[c], 0)),
                                                 _mm512_set1_ps(dmin * dx[c]), acc[r][c]);
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

/* ---- 32-blocks against Q8_0, blocks i and i + 1 in one zmm, vpdpbusd: Q4_1 and Q5_1 quants are unsigned (their
 * minimum m times the activations' block sum) ---- */

enum { W_Q4_1, W_Q5_1 };

/* 0xff in byte k where bit k of the 32-bit qh is set */
AI __m256i qh_bytes(uint32_t qh) {
    const __m256i idx = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                         2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bm = _mm256_set1_epi64x(0x8040201008040201ll);
    return _mm256_cmpeq_epi8(_mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), idx), bm), bm);
}

/* the 32 unsigned quants of one block in element order */
AI __m256i q32_quants(const char *blk, const int kind) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    const uint8_t *qs = kind == W_Q4_1 ? ((const block_q4_1 *)blk)->qs : ((const block_q5_1 *)blk)->qs;
    const __m128i v = _mm_loadu_si128((const __m128i *)qs);
    __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), m4);
    if (kind == W_Q5_1) {
        uint32_t qh;
        memcpy(&qh, ((const block_q5_1 *)blk)->qh, 4);
        q = _mm256_or_si256(q, _mm256_and_si256(qh_bytes(qh), _mm256_set1_epi8(16)));
    }
    return q;
}

AI void q32_tile(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t n, float *y, int64_t ldy,
                 const int R, const int C, const int kind) {
    const int64_t nb = n / QK8_0;
    const int64_t bb = kind == W_Q4_1 ? (int64_t)sizeof(block_q4_1) : (int64_t)sizeof(block_q5_1);
    const __m512i ones8 = _mm512_set1_epi8(1);
    __m512 acc[4][4];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i += 2) {
        const int two = i + 1 < nb;
        __m512i xq[4], xsum[4];
        __m512 xd[4];
        UNROLL for (int c = 0; c < C; c++) {
            const block_q8_0 *x = (const block_q8_0 *)(xa + c * xb) + i;
            const __m256i a = _mm256_loadu_si256((const __m256i *)x[0].qs);
            xq[c] = two ? cat256(a, _mm256_loadu_si256((const __m256i *)x[1].qs)) : _mm512_inserti64x4(_mm512_setzero_si512(), a, 0);
            xd[c] = bcast2(h2f(x[0].d), two ? h2f(x[1].d) : 0.0f);
            xsum[c] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones8, xq[c]);
        }
        UNROLL for (int r = 0; r < R; r++) {
            const char *blk = w + r * rb + i * bb;
            _mm_prefetch(blk + PF_AHEAD(R, rb), _MM_HINT_T0);
            const __m256i q0 = q32_quants(blk, kind);
            const __m512i q = two ? cat256(q0, q32_quants(blk + bb, kind)) : _mm512_inserti64x4(_mm512_setzero_si512(), q0, 0);
            const __m512 wd = bcast2(h2f(*(const pmx_half *)blk), two ? h2f(*(const pmx_half *)(blk + bb)) : 0.0f);
            const __m512 wm = bcast2(h2f(*(const pmx_half *)(blk + 2)), two ? h2f(*(const pmx_half *)(blk + bb + 2)) : 0.0f);
            UNROLL for (int c = 0; c < C; c++) {
                const __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, xq[c]);
                acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(wd, xd[c]), acc[r][c]);
                acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(xsum[c]), _mm512_mul_ps(wm, xd[c]), acc[r][c]);
            }
        }
    }
    store_tile(acc, y, ldy, R, C);
}
#define q4_1_tile(w, rb, xa, xb, n, y, ldy, R, C) q32_tile(w, rb, xa, xb, n, y, ldy, R, C, W_Q4_1)
#define q5_1_tile(w, rb, xa, xb, n, y, ldy, R, C) q32_tile(w, rb, xa, xb, n, y, ldy, R, C, W_Q5_1)
TILES(q4_1)
TILES(q5_1)

/* ---- IQ4_NL and IQ4_XS in the prepared steps of the Q4_0 kernels (pmx_avx2_prepare_steps_128; layout in
 * avx2/matmul.c): per pair of blocks (IQ4_XS: sub-blocks of 32) one ymm of unsigned levels + 128 (a byte shuffle of
 * the nibbles) per half, two vpdpbusd against the reordered activations give each block's int32 partial sums, two
 * hadd levels fold 8 blocks into one vector, the prepared 128 * sum(x) per block comes off, and one convert + FMA
 * per 8 blocks applies the scales (IQ4_XS: d * (ls - 32) per sub-block, the activations' d). Bounds: 32 * 241 * 127
 * per block. ---- */

/* the 16 levels + 128 (vpdpbusd's unsigned operand) in both 128-bit lanes */
AI __m256i iq4_table128(void) {
    const __m128i t = _mm_xor_si128(_mm_loadu_si128((const __m128i *)pmx_kvalues_iq4nl), _mm_set1_epi8((char)0x80));
    return _mm256_broadcastsi128_si256(t);
}

/* One step of 2P blocks from block i (IQ4_XS: super-block i, P = 4) of weight rows [0, R) against columns [0, C), the
 * columns' prepared step at byte so of their rows; added to acc. */
AI void iq4_step(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t so, int64_t i, __m256 acc[4][4],
                 const int R, const int C, const int P, const int kind) {
    const int64_t bb = kind == S_IQ4_XS ? (int64_t)sizeof(block_iq4_xs) : (int64_t)sizeof(block_iq4_nl);
    const __m256i table = iq4_table128(), zero = _mm256_setzero_si256();
    UNROLL for (int r = 0; r < R; r++) {
        const char *blk = w + r * rb + i * bb;
        const int bytes = kind == S_IQ4_XS ? (int)sizeof(block_iq4_xs) : 2 * P * (int)sizeof(block_iq4_nl);
        prefetch_block(blk, PF_AHEAD(R, rb), bytes);
        __m256i lo[4], hi[4];
        pmx_iq4_step_levels(blk, P, kind == S_IQ4_XS, table, lo, hi);
        const __m256 dw = kind == S_IQ4_XS ? pmx_iq4_xs_step_scales((const block_iq4_xs *)blk) : pmx_iq4_nl_step_scales(blk, 2 * P);
        UNROLL for (int c = 0; c < C; c++) {
            const char *xs = xa + c * xb + so;
            __m256i t[4] = {zero, zero, zero, zero};
            UNROLL for (int p = 0; p < P; p++) {
                t[p] = _mm256_dpbusd_epi32(zero, lo[p], _mm256_loadu_si256((const __m256i *)(xs + 64 * p)));
                t[p] = _mm256_dpbusd_epi32(t[p], hi[p], _mm256_loadu_si256((const __m256i *)(xs + 64 * p + 32)));
            }
            const __m256i sums = _mm256_hadd_epi32(_mm256_hadd_epi32(t[0], t[1]), _mm256_hadd_epi32(t[2], t[3]));
            const __m256i off = _mm256_loadu_si256((const __m256i *)(xs + 64 * P));
            const __m256 xd = _mm256_loadu_ps((const float *)(xs + 64 * P + 32));
            acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(sums, off)), _mm256_mul_ps(dw, xd), acc[r][c]);
        }
    }
}

AI float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AI void iq4_store(__m256 acc[4][4], float *y, int64_t ldy, const int R, const int C) {
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) y[c * ldy + r] = hsum8(acc[r][c]);
}

AI void iq4_nl_odd_block(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t so, int64_t i, float *y,
                         int64_t ldy, const int R, const int C) {
    const __m256i table = iq4_table128(), m4 = _mm256_set1_epi8(0x0f);
    UNROLL for (int r = 0; r < R; r++) {
        const block_iq4_nl *b = (const block_iq4_nl *)(w + r * rb) + i;
        const __m128i v = _mm_loadu_si128((const __m128i *)b->qs);
        const __m256i q = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), m4));
        UNROLL for (int c = 0; c < C; c++) {
            const block_q8_0 *x = (const block_q8_0 *)(xa + c * xb + so);
            const __m256i xq = _mm256_loadu_si256((const __m256i *)x->qs);
            const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q, xq);
            const __m256i sx = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8((char)0x80), xq);
            y[c * ldy + r] += hsum8(_mm256_cvtepi32_ps(_mm256_sub_epi32(s, sx))) * (h2f(b->d) * h2f(x->d));
        }
    }
}
#include "../iq4_steps_tile.h"
#define iq4_nl_steps_tile(w, rb, xa, xb, n, y, ldy, R, C) iq4_steps_tile(w, rb, xa, xb, n, y, ldy, R, C, S_IQ4_NL)
#define iq4_xs_steps_tile(w, rb, xa, xb, n, y, ldy, R, C) iq4_steps_tile(w, rb, xa, xb, n, y, ldy, R, C, S_IQ4_XS)
TILES(iq4_nl_steps)
TILES(iq4_xs_steps)

/* GEMV rows per tile as Q4_0's steps (1 from 2048 columns, 2 from 1024, else 4); GEMM 4 x 4 */
static void matmul_iq4_nl_steps(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy,
                                int64_t r0, int64_t r1) {
    run_tiles(iq4_nl_steps_tiles, batch == 1 ? (n >= 2048 ? 1 : n >= 1024 ? 2 : 4) : 4, batch == 1 ? 1 : 4, w,
              n / QK8_0 * (int64_t)sizeof(block_iq4_nl), xa, pmx_avx2_steps_row_bytes(n), n, batch, y, ldy, r0, r1);
}
static void matmul_iq4_xs_steps(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy,
                                int64_t r0, int64_t r1) {
    run_tiles(iq4_xs_steps_tiles, batch == 1 ? (n >= 2048 ? 1 : n >= 1024 ? 2 : 4) : 4, batch == 1 ? 1 : 4, w,
              n / QK_K * (int64_t)sizeof(block_iq4_xs), xa, pmx_avx2_steps_row_bytes(n), n, batch, y, ldy, r0, r1);
}

/* ---- entry points: GEMV rows per tile as the AVX2 file (2 on short rows, 1 from 2048 columns for K-quants) ---- */

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
MATMUL(q4_1, block_q4_1, block_q8_0, QK8_0, 2)
MATMUL(q5_1, block_q5_1, block_q8_0, QK8_0, 2)

/* Per type: the AVX2 kernel (registered before) and this file's; which one a batch takes. */
enum { USE_AVX2 = 0, USE_ZMM_GEMV = 1, USE_ZMM_BATCH = 2 };
static pmx_matmul_fn avx2_fn[PMX_T_COUNT], zmm_fn[PMX_T_COUNT];
static int use_zmm[PMX_T_COUNT];

#define MIXED(T)                                                                                                 \
    static void mixed_##T(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy,        \
                          int64_t r0, int64_t r1) {                                                              \
        const int z = use_zmm[T] & (batch == 1 ? USE_ZMM_GEMV : USE_ZMM_BATCH);                                  \
        (z ? zmm_fn : avx2_fn)[T](w, n, xa, batch, y, ldy, r0, r1);                                              \
    }
MIXED(PMX_T_Q5_K)
MIXED(PMX_T_Q3_K)
MIXED(PMX_T_Q2_K)

/* Which kernel per type and shape, measured quiet on Zen 4 (AMD EPYC, 2 cores, 512-bit ops issue as two 256-bit
 * halves; 2026-12-07, queue job quant4-dispatch: `./panamax microbench --types ... --native-only [--batch 128 --mib 16]`
 * with PMX_AVX512_LOWBIT=avx2 and =all alternated, two rounds; README "AVX-512 dispatch of the newer types").
 * GB/s of the GEMV over 256 MiB at 2 threads (1 thread), AVX2 -> zmm, and GFLOP/s of the batch-128 GEMM at 2 threads:
 *   Q4_1    GEMV 32.6-36.6 (20.8) -> 20.7 (10.3)   GEMM 249-251 -> 141-142   AVX2 both (matmul.c's Q4_0 steps)
 *   Q5_1    GEMV 26.2-27.0 (13.6) -> 20.4 (10.1)   GEMM 183-188 -> 124-125   AVX2 both
 *   Q2_K    GEMV 27.6-27.9 (13.9) -> 24.4 (12.2)   GEMM 217-226 -> 230       AVX2 GEMV, zmm GEMM
 *   Q3_K    GEMV 26.2-26.3 (13.3) -> 26.8-27.2 (13.6)  GEMM 213-219 -> 230-231  zmm both
 *   Q5_K    GEMV 31.6-32.4 (16.1) -> 29.6-30.4 (15.1)  GEMM 192-195 -> 188-189  AVX2 both
 *   IQ4_NL  GEMV 22.3-22.8 (11.2) -> 21.3-21.4 (10.7)  GEMM 131-133 -> 172      (then zmm GEMM; now the steps)
 *   IQ4_XS  GEMV 28.3-28.4 (14.3) -> 25.2-25.3 (12.7)  GEMM 175-178 -> 181-184  (then zmm GEMM; now the steps)
 * IQ4_NL and IQ4_XS now take this file's ymm steps kernels for every batch (queue job quant5-iq4, 2026-12-07, two
 * rounds against the kernels above): GEMV 2 threads (1) IQ4_NL 20.3-21.6 (7.5-10.8) -> 26.8-30.4 (17.3-17.7), IQ4_XS
 * 27.0-27.1 (13.7-14.1) -> 25.4-30.0 (17.2-18.7), read loop 25.0-26.9 (18.3-20.1); batch 128 at 2 threads IQ4_NL 172 ->
 * 301 (one outlier at 159), IQ4_XS 172-184 -> 252-329 GFLOP/s.
 * First token of a 128-token prompt at 2 threads, TinyLlama-shaped mixes, AVX2 -> all zmm: IQ4_NL 1974 -> 1531 ms,
 * IQ4_XS 1577 -> 1495, Q3_K_M 1018 -> 985, Q2_K 1254 -> 1223, Q5_K_M 1311 -> 1316, Q4_1 1098 -> 1933, Q5_1 1445 -> 2071.
 * Re-measured on Zen 5 (AMD EPYC family 26, full-width 512-bit datapath; 2026-12-07, queue job quant6-micro, same
 * commands, two rounds alternated; read loop 62 GB/s at 2 threads), AVX2 -> zmm, GEMV 2 threads (1), GEMM 2 threads:
 *   Q4_1    GEMV 41.8-44.1 (21.0-22.1) -> 24.5-24.6 (12.2-12.3)  GEMM 277-291 -> 220-224  AVX2 both (unchanged)
 *   Q5_1    GEMV 30.4-32.7 (15.2-16.6) -> 22.4-24.9 (11.2-11.9)  GEMM 206-210 -> 179-180  AVX2 both (unchanged)
 *   Q2_K    GEMV 29.6-30.8 (14.9-16.0) -> 35.5-35.7 (17.8-17.9)  GEMM 183-209 -> 369-382  zmm both (was AVX2 GEMV)
 *   Q3_K    GEMV 15.9-27.1 (13.5-14.8) -> 35.0-35.7 (17.9-18.0)  GEMM 208-214 -> 330-331  zmm both (unchanged)
 *   Q5_K    GEMV 35.3-38.1 (17.5-18.8) -> 40.1 (19.5-21.3)        GEMM 205-209 -> 263-265  zmm both (was AVX2 both)
 * On Zen 4 those two changes cost Q2_K's and Q5_K's GEMV 5-12% (figures above) while the mixes' first token was equal
 * or faster all-zmm (Q2_K 1254 -> 1223 ms, Q5_K_M 1311 -> 1316); Zen 5 is the machine measured now.
 * PMX_AVX512_LOWBIT=all takes the zmm kernels for every batch of every type, =avx2 none of them: the ctest registrations
 * use =all so that each kernel is held against the reference whether or not dispatch picks it (test_matmul without it
 * checks this table's mix, and the avx2 ISA the AVX2 kernels alone), and microbench uses both to compare. */
void pmx_avx512_register_matmul_lowbit(pmx_kernels *k) {
    if (!pmx_avx512_vnni()) return; /* the 32-block kernels need vpdpbusd; AVX2 stays without VNNI */
    /* prepare: the zmm kernel's activations where AVX2's differ (Q4_1, Q5_1: AVX2 runs them in Q4_0's prepared
     * steps, the zmm kernels read plain Q8_0 blocks): such a type takes one kernel for every batch, its choice
     * USE_AVX2 or both bits */
    static const struct {
        int t;
        pmx_matmul_fn zmm, mixed;
        int choice;
        void (*prepare)(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1);
        int64_t (*act_row_bytes)(int64_t n);
    } types[] = {
        {PMX_T_Q5_K, matmul_q5_K, mixed_PMX_T_Q5_K, USE_ZMM_GEMV | USE_ZMM_BATCH, NULL, NULL},
        {PMX_T_Q3_K, matmul_q3_K, mixed_PMX_T_Q3_K, USE_ZMM_GEMV | USE_ZMM_BATCH, NULL, NULL},
        {PMX_T_Q2_K, matmul_q2_K, mixed_PMX_T_Q2_K, USE_ZMM_GEMV | USE_ZMM_BATCH, NULL, NULL},
        {PMX_T_IQ4_XS, matmul_iq4_xs_steps, NULL, USE_ZMM_GEMV | USE_ZMM_BATCH, pmx_avx2_prepare_q8_K_steps_128,
         pmx_avx2_steps_row_bytes},
        {PMX_T_IQ4_NL, matmul_iq4_nl_steps, NULL, USE_ZMM_GEMV | USE_ZMM_BATCH, pmx_avx2_prepare_steps_128,
         pmx_avx2_steps_row_bytes},
        {PMX_T_Q4_1, matmul_q4_1, NULL, USE_AVX2, pmx_avx2_prepare_q8_0, NULL},
        {PMX_T_Q5_1, matmul_q5_1, NULL, USE_AVX2, pmx_avx2_prepare_q8_0, NULL},
    };
    const char *e = getenv("PMX_AVX512_LOWBIT");
    const int force = e == NULL ? -1 : !strcmp(e, "all") ? USE_ZMM_GEMV | USE_ZMM_BATCH : !strcmp(e, "avx2") ? USE_AVX2 : -1;
    for (size_t j = 0; j < sizeof types / sizeof types[0]; j++) {
        const int t = types[j].t;
        if (types[j].prepare) {
            if (force >= 0 ? force : types[j].choice)
                k->matmul[t] = (pmx_matmul_kernel){types[j].prepare, types[j].zmm, types[j].act_row_bytes};
            continue;
        }
        if (k->matmul[t].matmul != types[j].mixed) avx2_fn[t] = k->matmul[t].matmul;
        zmm_fn[t] = types[j].zmm;
        use_zmm[t] = force >= 0 ? force : types[j].choice;
        k->matmul[t].matmul = types[j].mixed; /* the AVX2 prepare stays: both read the same activation blocks */
    }
}
