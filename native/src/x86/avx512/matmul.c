/* AVX-512 matmul: register tiles of R weight rows x C activation columns (GEMV 4 x 1, GEMM up to 4 x 4) on zmm.
 * Q8_0/Q4_0/Q5_0 use vpdpbusd when the CPU has AVX512_VNNI, maddubs/madd otherwise; activations are the standard
 * blocks written by the AVX2 prepare functions. */
#include <stdlib.h>
#include <string.h>
#include "avx512.h"
#include "panamax.h"
#include "simd.h"
#include "../avx2/avx2.h"

#define AI static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 4")
/* Prefetch distance: each row of an R-row tile fetches the same offset of row r + R (the next tile), as the
 * AVX2 file does; a fixed in-row distance left the start of every row but the tile's first unfetched. */
#define PF_AHEAD(R, rb) ((int64_t)(R) * (rb))

AI float h2f(pmx_half h) { return _cvtsh_ss(h); }

/* 16 floats: a in lanes 0..7, b in lanes 8..15 (the scales of two 32-wide blocks sharing a register) */
AI __m512 bcast2(float a, float b) { return _mm512_mask_blend_ps((__mmask16)0xff00, _mm512_set1_ps(a), _mm512_set1_ps(b)); }

AI __m512i cat256(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

AI __m512i zext128(__m128i v) { return _mm512_inserti32x4(_mm512_setzero_si512(), v, 0); }

/* ---- tile driver (as in the AVX2 file) ---- */

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

AI void store_tile(__m512 acc[4][4], float *y, int64_t ldy, const int R, const int C) {
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) y[c * ldy + r] = pmx_mm512_reduce_add_ps(acc[r][c]);
}

/* ---- float weights ---- */

enum { W_F32, W_F16, W_BF16 };

AI __m512 load_w16(const char *p, const int kind) {
    if (kind == W_F32) return _mm512_loadu_ps((const float *)p);
    const __m256i h = _mm256_loadu_si256((const __m256i *)p);
    if (kind == W_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

AI float load_w1(const char *p, const int kind) {
    if (kind == W_F32) return *(const float *)p;
    if (kind == W_F16) return h2f(*(const pmx_half *)p);
    return pmx_bf16_to_f32(*(const pmx_bf16 *)p);
}

AI void float_tile(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t n, float *y, int64_t ldy,
                   const int R, const int C, const int kind) {
    const int es = kind == W_F32 ? 4 : 2;
    __m512 acc[4][4];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        __m512 wv[4];
        UNROLL for (int r = 0; r < R; r++) {
            _mm_prefetch(w + r * rb + k * es + PF_AHEAD(R, rb), _MM_HINT_T0);
            wv[r] = load_w16(w + r * rb + k * es, kind);
        }
        UNROLL for (int c = 0; c < C; c++) {
            const __m512 xv = _mm512_loadu_ps((const float *)(xa + c * xb) + k);
            UNROLL for (int r = 0; r < R; r++) acc[r][c] = _mm512_fmadd_ps(wv[r], xv, acc[r][c]);
        }
    }
    store_tile(acc, y, ldy, R, C);
    for (; k < n; k++)
        UNROLL for (int r = 0; r < R; r++) {
            const float wk = load_w1(w + r * rb + k * es, kind);
            UNROLL for (int c = 0; c < C; c++) y[c * ldy + r] += wk * ((const float *)(xa + c * xb))[k];
        }
}

#define f32_tile(w, rb, xa, xb, n, y, ldy, R, C) float_tile(w, rb, xa, xb, n, y, ldy, R, C, W_F32)
#define f16_tile(w, rb, xa, xb, n, y, ldy, R, C) float_tile(w, rb, xa, xb, n, y, ldy, R, C, W_F16)
#define bf16_tile(w, rb, xa, xb, n, y, ldy, R, C) float_tile(w, rb, xa, xb, n, y, ldy, R, C, W_BF16)
TILES(f32)
TILES(f16)
TILES(bf16)

/* ---- Q8_0, Q4_0 and Q5_0 weights against Q8_0 activations, two blocks per zmm ---- */

/* u8 x s8 products summed in groups of 4 onto acc. Without VNNI, maddubs saturates its int16 pair sums, which
 * the callers keep out of reach (|u| <= 128 with |s| <= 127). */
AI __m512i dot_u8s8(__m512i acc, __m512i u, __m512i s, const int vnni) {
    if (vnni) return _mm512_dpbusd_epi32(acc, u, s);
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)));
}

/* Activation qs of blocks i and i+1 (i+1 zeroed when absent) */
AI __m512i load_x2(const block_q8_0 *x, int64_t i, int two) {
    const __m256i a = _mm256_loadu_si256((const __m256i *)x[i].qs);
    return two ? cat256(a, _mm256_loadu_si256((const __m256i *)x[i + 1].qs)) : _mm512_inserti64x4(_mm512_setzero_si512(), a, 0);
}

/* Weights of blocks i and i+1 as unsigned bytes, in element order. Q4_0: the nibbles (0..15, offset 8 taken
 * off through the activation sums); Q5_0: the nibbles plus 16 where the 5th bit is set (0..31, offset 16
 * likewise); Q8_0 with VNNI: q ^ 0x80 = q + 128 (offset 128 likewise); Q8_0 without VNNI: |q|, the sign moving
 * onto the activations (wneg). */
enum { W_Q8_0, W_Q4_0, W_Q5_0 };

AI __m512i nibbles2(__m128i q0, __m128i q1) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    /* per block: low nibbles are elements 0..15, high nibbles 16..31 */
    return cat256(_mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q0, 4), q0), m4),
                  _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q1, 4), q1), m4));
}

AI __m512i load_w2(const char *row, int64_t i, int two, const int wk, const int vnni, __mmask64 *wneg, float *d0,
                   float *d1) {
    if (wk == W_Q4_0) {
        const block_q4_0 *b = (const block_q4_0 *)row + i;
        *d0 = h2f(b[0].d);
        *d1 = two ? h2f(b[1].d) : 0.0f;
        return nibbles2(_mm_loadu_si128((const __m128i *)b[0].qs),
                        two ? _mm_loadu_si128((const __m128i *)b[1].qs) : _mm_setzero_si128());
    }
    if (wk == W_Q5_0) {
        const block_q5_0 *b = (const block_q5_0 *)row + i;
        *d0 = h2f(b[0].d);
        *d1 = two ? h2f(b[1].d) : 0.0f;
        uint32_t h0, h1 = 0;
        memcpy(&h0, b[0].qh, 4);
        if (two) memcpy(&h1, b[1].qh, 4);
        /* bit k of qh is element k: byte k of the block's 256-bit half */
        const __mmask64 hi = (__mmask64)h0 | (__mmask64)h1 << 32;
        const __m512i q = nibbles2(_mm_loadu_si128((const __m128i *)b[0].qs),
                                   two ? _mm_loadu_si128((const __m128i *)b[1].qs) : _mm_setzero_si128());
        return _mm512_mask_add_epi8(q, hi, q, _mm512_set1_epi8(16));
    }
    const block_q8_0 *b = (const block_q8_0 *)row + i;
    *d0 = h2f(b[0].d);
    *d1 = two ? h2f(b[1].d) : 0.0f;
    const __m512i q = load_x2(b, 0, two);
    if (vnni) return _mm512_xor_si512(q, _mm512_set1_epi8((char)0x80));
    *wneg = _mm512_movepi8_mask(q);
    return _mm512_abs_epi8(q);
}

AI void q80_tile_kind(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t n, float *y, int64_t ldy,
                      const int R, const int C, const int wk, const int vnni) {
    const int64_t nb = n / QK8_0;
    const int64_t wbs = wk == W_Q4_0 ? (int64_t)sizeof(block_q4_0)
                        : wk == W_Q5_0 ? (int64_t)sizeof(block_q5_0) : (int64_t)sizeof(block_q8_0);
    /* weights are offset by +8 (Q4_0), +16 (Q5_0) or +128 (Q8_0 on VNNI): subtract offset * sum(x). Without
     * VNNI, maddubs' int16 pair sums stay below saturation: <= 2 * 31 * 127 for Q5_0. */
    const int offset_shift = wk == W_Q4_0 ? 3 : wk == W_Q5_0 ? 4 : 7, use_offset = wk != W_Q8_0 || vnni;
    __m512 acc[4][4];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i += 2) {
        const int two = i + 1 < nb;
        __m512i wu[4];
        __m512 wd[4];
        __mmask64 wneg[4] = {0, 0, 0, 0};
        UNROLL for (int r = 0; r < R; r++) {
            float d0, d1;
            _mm_prefetch(w + r * rb + i * wbs + PF_AHEAD(R, rb), _MM_HINT_T0);
            wu[r] = load_w2(w + r * rb, i, two, wk, vnni, &wneg[r], &d0, &d1);
            wd[r] = bcast2(d0, d1);
        }
        UNROLL for (int c = 0; c < C; c++) {
            const block_q8_0 *xbk = (const block_q8_0 *)(xa + c * xb);
            const __m512i xq = load_x2(xbk, i, two);
            const __m512 xd = bcast2(h2f(xbk[i].d), two ? h2f(xbk[i + 1].d) : 0.0f);
            __m512i init = _mm512_setzero_si512();
            if (use_offset) {
                const __m512i sx = dot_u8s8(_mm512_setzero_si512(), _mm512_set1_epi8(1), xq, vnni);
                init = _mm512_sub_epi32(init, _mm512_slli_epi32(sx, offset_shift));
            }
            UNROLL for (int r = 0; r < R; r++) {
                const __m512i xs = use_offset ? xq : _mm512_mask_sub_epi8(xq, wneg[r], _mm512_setzero_si512(), xq);
                const __m512 s = _mm512_cvtepi32_ps(dot_u8s8(init, wu[r], xs, vnni));
                acc[r][c] = _mm512_fmadd_ps(s, _mm512_mul_ps(wd[r], xd), acc[r][c]);
            }
        }
    }
    store_tile(acc, y, ldy, R, C);
}

#define q8_0_tile(w, rb, xa, xb, n, y, ldy, R, C) q80_tile_kind(w, rb, xa, xb, n, y, ldy, R, C, W_Q8_0, 0)
#define q4_0_tile(w, rb, xa, xb, n, y, ldy, R, C) q80_tile_kind(w, rb, xa, xb, n, y, ldy, R, C, W_Q4_0, 0)
#define q5_0_tile(w, rb, xa, xb, n, y, ldy, R, C) q80_tile_kind(w, rb, xa, xb, n, y, ldy, R, C, W_Q5_0, 0)
#define q8_0v_tile(w, rb, xa, xb, n, y, ldy, R, C) q80_tile_kind(w, rb, xa, xb, n, y, ldy, R, C, W_Q8_0, 1)
#define q4_0v_tile(w, rb, xa, xb, n, y, ldy, R, C) q80_tile_kind(w, rb, xa, xb, n, y, ldy, R, C, W_Q4_0, 1)
#define q5_0v_tile(w, rb, xa, xb, n, y, ldy, R, C) q80_tile_kind(w, rb, xa, xb, n, y, ldy, R, C, W_Q5_0, 1)
TILES(q8_0)
TILES(q4_0)
TILES(q8_0v)
TILES(q4_0v)
TILES(q5_0)
TILES(q5_0v)

/* ---- K-quants. Sub-block scales multiply the int16 pair sums inside madd_epi16 for free; vpdpbusd would
 * leave int32 sums needing a separate multiply per sub-block, so these use maddubs/madd with or without VNNI. */

AI void q4k_scales(const uint8_t *s, uint8_t out[16]) {
    uint32_t u[4];
    memcpy(u, s, 12);
    const uint32_t m1 = 0x3f3f3f3f, m2 = 0x0f0f0f0f, m3 = 0x03030303;
    u[3] = ((u[2] >> 4) & m2) | (((u[1] >> 6) & m3) << 4);
    const uint32_t mins_lo = u[1] & m1;
    u[1] = (u[2] & m2) | (((u[0] >> 6) & m3) << 4);
    u[2] = mins_lo;
    u[0] &= m1;
    memcpy(out, u, 16);
}

AI void q4_K_tile(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t n, float *y, int64_t ldy,
                  const int R, const int C) {
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m512 acc[4][4];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        uint8_t sm[4][16];
        __m512i isum[4][4];
        __m128i mins[4];
        UNROLL for (int r = 0; r < R; r++) {
            const block_q4_K *b = (const block_q4_K *)(w + r * rb) + i;
            _mm_prefetch((const char *)b + PF_AHEAD(R, rb), _MM_HINT_T0);
            _mm_prefetch((const char *)b + PF_AHEAD(R, rb) + 64, _MM_HINT_T0);
            _mm_prefetch((const char *)b + PF_AHEAD(R, rb) + 128, _MM_HINT_T0);
            q4k_scales(b->scales, sm[r]);
            mins[r] = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(sm[r] + 8)));
            UNROLL for (int c = 0; c < C; c++) isum[r][c] = _mm512_setzero_si512();
        }
        for (int j = 0; j < QK_K / 64; j++) {
            __m512i q[4], sc[4];
            UNROLL for (int r = 0; r < R; r++) {
                const block_q4_K *b = (const block_q4_K *)(w + r * rb) + i;
                const __m256i v = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * j));
                q[r] = cat256(_mm256_and_si256(v, m4), _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
                sc[r] = _mm512_mask_blend_epi16(0xffff0000u, _mm512_set1_epi16(sm[r][2 * j]), _mm512_set1_epi16(sm[r][2 * j + 1]));
            }
            UNROLL for (int c = 0; c < C; c++) {
                const block_q8_K *xk = (const block_q8_K *)(xa + c * xb) + i;
                const __m512i xv = _mm512_loadu_si512((const void *)(xk->qs + 64 * j));
                UNROLL for (int r = 0; r < R; r++)
                    isum[r][c] = _mm512_add_epi32(isum[r][c], _mm512_madd_epi16(_mm512_maddubs_epi16(q[r], xv), sc[r]));
            }
        }
        UNROLL for (int c = 0; c < C; c++) {
            const block_q8_K *xk = (const block_q8_K *)(xa + c * xb) + i;
            const __m128i bs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)xk->bsums),
                                              _mm_loadu_si128((const __m128i *)(xk->bsums + 8)));
            UNROLL for (int r = 0; r < R; r++) {
                const block_q4_K *b = (const block_q4_K *)(w + r * rb) + i;
                const __m512i ms = zext128(_mm_madd_epi16(mins[r], bs));
                acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r][c]), _mm512_set1_ps(h2f(b->d) * xk->d), acc[r][c]);
                acc[r][c] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(ms), _mm512_set1_ps(h2f(b->dmin) * xk->d), acc[r][c]);
            }
        }
    }
    store_tile(acc, y, ldy, R, C);
}
TILES(q4_K)

AI void q6_K_tile(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t n, float *y, int64_t ldy,
                  const int R, const int C) {
    const int64_t nb = n / QK_K;
    const __m512i m4 = _mm512_set1_epi8(0x0f), m3 = _mm512_set1_epi8(0x03);
    __m512 acc[4][4];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m512i isum[4][4];
        __m256i s16[4];
        UNROLL for (int r = 0; r < R; r++) {
            const block_q6_K *b = (const block_q6_K *)(w + r * rb) + i;
            const char *p = (const char *)b;
            _mm_prefetch(p + PF_AHEAD(R, rb), _MM_HINT_T0);
            _mm_prefetch(p + PF_AHEAD(R, rb) + 64, _MM_HINT_T0);
            _mm_prefetch(p + PF_AHEAD(R, rb) + 128, _MM_HINT_T0);
            _mm_prefetch(p + PF_AHEAD(R, rb) + 192, _MM_HINT_T0);
            s16[r] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
            UNROLL for (int c = 0; c < C; c++) isum[r][c] = _mm512_setzero_si512();
        }
        /* per half of 128: part 0 = elements 0..63 (ql low nibbles, qh bits 0-1 then 2-3), part 1 = 64..127
         * (ql high nibbles, qh bits 4-5 then 6-7); each 128-bit lane is one 16-wide sub-block */
        for (int g = 0; g < 4; g++) {
            const int half = g / 2, part = g % 2;
            __m512i q[4], sc[4];
            /* 128-bit lane L (one sub-block) takes scale 4 * g + L */
            const long long u = 0x0001000100010001ll;
            const __m512i idx = _mm512_set_epi64(u * (4 * g + 3), u * (4 * g + 3), u * (4 * g + 2), u * (4 * g + 2),
                                                 u * (4 * g + 1), u * (4 * g + 1), u * (4 * g), u * (4 * g));
            UNROLL for (int r = 0; r < R; r++) {
                const block_q6_K *b = (const block_q6_K *)(w + r * rb) + i;
                const __m512i ql = _mm512_loadu_si512((const void *)(b->ql + 64 * half));
                const __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * half));
                const __m512i lo4 = part ? _mm512_and_si512(_mm512_srli_epi16(ql, 4), m4) : _mm512_and_si512(ql, m4);
                const __m512i hz = part ? cat256(_mm256_srli_epi16(qh, 4), _mm256_srli_epi16(qh, 6))
                                        : cat256(qh, _mm256_srli_epi16(qh, 2));
                q[r] = _mm512_or_si512(lo4, _mm512_slli_epi16(_mm512_and_si512(hz, m3), 4));
                sc[r] = _mm512_permutexvar_epi16(idx, _mm512_castsi256_si512(s16[r]));
            }
            UNROLL for (int c = 0; c < C; c++) {
                const block_q8_K *xk = (const block_q8_K *)(xa + c * xb) + i;
                const __m512i xv = _mm512_loadu_si512((const void *)(xk->qs + 64 * g));
                UNROLL for (int r = 0; r < R; r++)
                    isum[r][c] = _mm512_add_epi32(isum[r][c], _mm512_madd_epi16(_mm512_maddubs_epi16(q[r], xv), sc[r]));
            }
        }
        UNROLL for (int c = 0; c < C; c++) {
            const block_q8_K *xk = (const block_q8_K *)(xa + c * xb) + i;
            const __m256i bs = _mm256_loadu_si256((const __m256i *)xk->bsums);
            UNROLL for (int r = 0; r < R; r++) {
                const block_q6_K *b = (const block_q6_K *)(w + r * rb) + i;
                /* the -32 offset of every q6: 32 * sum(sc * bsum) */
                const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(s16[r], bs), 5);
                const __m512i t = _mm512_sub_epi32(isum[r][c], _mm512_inserti64x4(_mm512_setzero_si512(), corr, 0));
                acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t), _mm512_set1_ps(h2f(b->d) * xk->d), acc[r][c]);
            }
        }
    }
    store_tile(acc, y, ldy, R, C);
}
TILES(q6_K)

/* ---- entry points ---- */

#define MATMUL(name, row_bytes, act_bytes)                                                                      \
    static void matmul_##name(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy,   \
                              int64_t r0, int64_t r1) {                                                        \
        run_tiles(name##_tiles, 4, batch == 1 ? 1 : 4, w, row_bytes, xa, act_bytes, n, batch, y, ldy, r0, r1); \
    }
#define Q8_0_ACT (n / QK8_0 * (int64_t)sizeof(block_q8_0))
#define Q8_K_ACT (n / QK_K * (int64_t)sizeof(block_q8_K))
MATMUL(f32, n * 4, n * 4)
MATMUL(f16, n * 2, n * 4)
MATMUL(bf16, n * 2, n * 4)
MATMUL(q8_0, Q8_0_ACT, Q8_0_ACT)
MATMUL(q8_0v, Q8_0_ACT, Q8_0_ACT)
MATMUL(q4_0, n / QK4_0 * (int64_t)sizeof(block_q4_0), Q8_0_ACT)
MATMUL(q4_0v, n / QK4_0 * (int64_t)sizeof(block_q4_0), Q8_0_ACT)
MATMUL(q5_0, n / QK5_0 * (int64_t)sizeof(block_q5_0), Q8_0_ACT)
MATMUL(q5_0v, n / QK5_0 * (int64_t)sizeof(block_q5_0), Q8_0_ACT)
MATMUL(q4_K, n / QK_K * (int64_t)sizeof(block_q4_K), Q8_K_ACT)
MATMUL(q6_K, n / QK_K * (int64_t)sizeof(block_q6_K), Q8_K_ACT)

/* VNNI is chosen once here. The SIMDe-emulated test build reports no AVX-512 features at all, yet both paths
 * must be held against the reference there: PMX_EMU_VNNI=1 selects the VNNI path in that build only (a second
 * ctest registration sets it), and a real build listens to the CPU alone. */
static int use_vnni(void) {
#ifdef PMX_SIMDE_AVX512
    const char *e = getenv("PMX_EMU_VNNI");
    return e && e[0] == '1';
#else
    return (pmx_cpu_features() & PMX_CPU_AVX512_VNNI) != 0;
#endif
}

/* prepare stays the AVX2 one registered before this, except for Q4_0/Q5_0, whose AVX2 kernels read a layout of
 * their own: these kernels read the standard Q8_0 blocks. */
void pmx_avx512_register_matmul(pmx_kernels *k) {
    const int vnni = use_vnni();
    k->matmul[PMX_T_F32].matmul = matmul_f32;
    k->matmul[PMX_T_F16].matmul = matmul_f16;
    k->matmul[PMX_T_BF16].matmul = matmul_bf16;
    k->matmul[PMX_T_Q8_0].matmul = vnni ? matmul_q8_0v : matmul_q8_0;
    k->matmul[PMX_T_Q4_0] = (pmx_matmul_kernel){pmx_avx2_prepare_q8_0, vnni ? matmul_q4_0v : matmul_q4_0, NULL};
    k->matmul[PMX_T_Q5_0] = (pmx_matmul_kernel){pmx_avx2_prepare_q8_0, vnni ? matmul_q5_0v : matmul_q5_0, NULL};
    k->matmul[PMX_T_Q4_K].matmul = matmul_q4_K;
    k->matmul[PMX_T_Q6_K].matmul = matmul_q6_K;
    /* The AVX2 float-panel GEMM was measured against the AVX2 int8 tiles only (on a Zen 3, no AVX-512 here); these
     * kernels (with VNNI: 64 int8 products per instruction) keep every batch until measured against it. */
    memset(k->gemm, 0, sizeof k->gemm);
}
