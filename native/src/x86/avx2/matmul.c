/* AVX2 matmul: SIMD activation quantization (prepare) and register-tiled kernels, R weight rows x C activation
 * columns per tile (GEMV: 4 x 1, GEMM: up to 4 x 4), int8 dot products (maddubs/madd) for quantized weights. */
#include <immintrin.h>
#include <math.h>
#include "avx2.h"

#define AI static inline __attribute__((always_inline))
/* Weight blocks fetched ahead of use in the streaming loops: ~a few hundred bytes per row, enough to cover
 * DRAM latency at the rate 4 rows are consumed. */
#define PF_BYTES 512

AI float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AI float h2f(pmx_half h) { return _cvtsh_ss(h); }

/* ---- prepare: activations to Q8_0 / Q8_K ---- */

/* 32 floats (4 vectors, already scaled) to 32 int8, rounding to nearest even (vs ggml's roundf: differs only on
 * exact .5 ties, by one unit of the block scale). */
AI __m256i pack32(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256i i0 = _mm256_cvtps_epi32(a), i1 = _mm256_cvtps_epi32(b), i2 = _mm256_cvtps_epi32(c), i3 = _mm256_cvtps_epi32(d);
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    /* packs interleave the 128-bit lanes: dwords come out as 0 2 4 6 1 3 5 7 */
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static void prepare_q8_0(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const int64_t nb = n / QK8_0;
    for (int64_t b = b0; b < b1; b++) {
        block_q8_0 *y = (block_q8_0 *)xa + b * nb;
        const float *xr = x + b * n;
        for (int64_t i = 0; i < nb; i++) {
            const float *p = xr + i * QK8_0;
            __m256 v0 = _mm256_loadu_ps(p), v1 = _mm256_loadu_ps(p + 8), v2 = _mm256_loadu_ps(p + 16), v3 = _mm256_loadu_ps(p + 24);
            __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v0, absmask), _mm256_and_ps(v1, absmask)),
                                     _mm256_max_ps(_mm256_and_ps(v2, absmask), _mm256_and_ps(v3, absmask)));
            __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
            h = _mm_max_ps(h, _mm_movehl_ps(h, h));
            h = _mm_max_ss(h, _mm_movehdup_ps(h));
            const float amax = _mm_cvtss_f32(h), d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
            const __m256 vid = _mm256_set1_ps(id);
            y[i].d = (pmx_half)_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
            _mm256_storeu_si256((__m256i *)y[i].qs, pack32(_mm256_mul_ps(v0, vid), _mm256_mul_ps(v1, vid),
                                                           _mm256_mul_ps(v2, vid), _mm256_mul_ps(v3, vid)));
        }
    }
}

/* As ggml's quantize_row_q8_K: the scale comes from the element of largest magnitude, signed, so that element
 * maps to -127 exactly. */
static void prepare_q8_K(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const int64_t nb = n / QK_K;
    for (int64_t b = b0; b < b1; b++) {
        block_q8_K *y = (block_q8_K *)xa + b * nb;
        const float *xr = x + b * n;
        for (int64_t i = 0; i < nb; i++) {
            const float *p = xr + i * QK_K;
            __m256 m = _mm256_setzero_ps();
            for (int j = 0; j < QK_K; j += 8) m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(p + j), absmask));
            __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
            h = _mm_max_ps(h, _mm_movehl_ps(h, h));
            h = _mm_max_ss(h, _mm_movehdup_ps(h));
            const float amax = _mm_cvtss_f32(h);
            if (amax == 0.0f) {
                memset(&y[i], 0, sizeof y[i]);
                continue;
            }
            float max = amax;
            for (int j = 0; j < QK_K; j++)
                if (fabsf(p[j]) == amax) {
                    max = p[j];
                    break;
                }
            const float iscale = -127.0f / max;
            const __m256 vs = _mm256_set1_ps(iscale);
            for (int j = 0; j < QK_K; j += 32) {
                __m256i q = pack32(_mm256_mul_ps(_mm256_loadu_ps(p + j), vs), _mm256_mul_ps(_mm256_loadu_ps(p + j + 8), vs),
                                   _mm256_mul_ps(_mm256_loadu_ps(p + j + 16), vs), _mm256_mul_ps(_mm256_loadu_ps(p + j + 24), vs));
                _mm256_storeu_si256((__m256i *)(y[i].qs + j), q);
                /* sums of each 16: pairs via maddubs with ones, then quads via madd, then fold */
                __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1));
                s = _mm256_hadd_epi32(s, s); /* per lane: [a0+a1, a2+a3, ...] */
                s = _mm256_hadd_epi32(s, s);
                y[i].bsums[j / 16] = (int16_t)_mm256_extract_epi32(s, 0);
                y[i].bsums[j / 16 + 1] = (int16_t)_mm256_extract_epi32(s, 4);
            }
            y[i].d = 1.0f / iscale;
        }
    }
}

/* ---- tile driver ---- */

typedef void (*tile_fn)(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t n, float *y, int64_t ldy);

/* Rows [r0, r1) x all batch columns in tiles of at most rt x ct; edge tiles use the smaller instantiations. */
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

/* name##_tile(w, rb, xa, xb, n, y, ldy, R, C) instantiated for every R, C in 1..4. */
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

#define UNROLL _Pragma("GCC unroll 4")

AI void store_tile(__m256 acc[4][4], float *y, int64_t ldy, const int R, const int C) {
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) y[c * ldy + r] = hsum8(acc[r][c]);
}

/* ---- float weights: F32, F16 (F16C), BF16 (shift into the high half of an f32) ---- */

enum { W_F32, W_F16, W_BF16 };

AI __m256 load_w8(const char *p, const int kind) {
    if (kind == W_F32) return _mm256_loadu_ps((const float *)p);
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (kind == W_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

AI float load_w1(const char *p, const int kind) {
    if (kind == W_F32) return *(const float *)p;
    if (kind == W_F16) return h2f(*(const pmx_half *)p);
    return pmx_bf16_to_f32(*(const pmx_bf16 *)p);
}

AI void float_tile(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t n, float *y, int64_t ldy,
                   const int R, const int C, const int kind) {
    const int es = kind == W_F32 ? 4 : 2;
    __m256 acc[4][4];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256 wv[4];
        UNROLL for (int r = 0; r < R; r++) {
            _mm_prefetch(w + r * rb + k * es + PF_BYTES, _MM_HINT_T0);
            wv[r] = load_w8(w + r * rb + k * es, kind);
        }
        UNROLL for (int c = 0; c < C; c++) {
            const __m256 xv = _mm256_loadu_ps((const float *)(xa + c * xb) + k);
            UNROLL for (int r = 0; r < R; r++) acc[r][c] = _mm256_fmadd_ps(wv[r], xv, acc[r][c]);
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

/* ---- Q8_0 and Q4_0 weights against Q8_0 activations ---- */

/* The 32 weights of a block as signed int8 (Q4_0: nibble - 8; low nibbles are elements 0..15). */
AI __m256i load_q4_0(const block_q4_0 *b) {
    const __m128i q = _mm_loadu_si128((const __m128i *)b->qs);
    const __m256i v = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
    return _mm256_sub_epi8(_mm256_and_si256(v, _mm256_set1_epi8(0x0f)), _mm256_set1_epi8(8));
}

/* Signed int8 dot product as 8 int32 partial sums: maddubs needs an unsigned operand, so the weight's sign is
 * moved onto the activation (|w| <= 128 and |x| <= 127 keep the int16 pair sums below saturation). */
AI __m256i dot_i8(__m256i wabs, __m256i w, __m256i x) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(wabs, _mm256_sign_epi8(x, w)), _mm256_set1_epi16(1));
}

AI void q8_0_tile(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t n, float *y, int64_t ldy,
                  const int R, const int C) {
    const int64_t nb = n / QK8_0;
    __m256 acc[4][4];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m256i wq[4], wa[4];
        __m256 wd[4];
        UNROLL for (int r = 0; r < R; r++) {
            const block_q8_0 *b = (const block_q8_0 *)(w + r * rb) + i;
            _mm_prefetch((const char *)b + PF_BYTES, _MM_HINT_T0);
            wq[r] = _mm256_loadu_si256((const __m256i *)b->qs);
            wd[r] = _mm256_set1_ps(h2f(b->d));
            wa[r] = _mm256_abs_epi8(wq[r]);
        }
        UNROLL for (int c = 0; c < C; c++) {
            const block_q8_0 *xbk = (const block_q8_0 *)(xa + c * xb) + i;
            const __m256i xq = _mm256_loadu_si256((const __m256i *)xbk->qs);
            const __m256 xd = _mm256_set1_ps(h2f(xbk->d));
            UNROLL for (int r = 0; r < R; r++) {
                const __m256 s = _mm256_cvtepi32_ps(dot_i8(wa[r], wq[r], xq));
                acc[r][c] = _mm256_fmadd_ps(s, _mm256_mul_ps(wd[r], xd), acc[r][c]);
            }
        }
    }
    store_tile(acc, y, ldy, R, C);
}
TILES(q8_0)

/* ---- Q4_0: 8 blocks per step ----
 * The per-block work that does not depend on the weights is hoisted out of the row loop and shared by the
 * rows of a tile: activation reordering, the offset term 8 * sum(x), the activation scales. Per row and
 * column, the 8 blocks' integer dot products fold into one vector of 8 block sums, so the int -> float
 * convert and the scale FMA run once per 256 weights instead of once per 32. */

/* 8 half-precision scales at p, p + stride, ... as floats, in block order 0 2 4 6 1 3 5 7 (the lane order of
 * fold8_i16). */
AI __m256 load_d8(const char *p, int64_t stride) {
    /* a gather is slower than these inserts on the AMD cores measured */
    __m128i h = _mm_cvtsi32_si128(*(const uint16_t *)p);
    h = _mm_insert_epi16(h, *(const uint16_t *)(p + 2 * stride), 1);
    h = _mm_insert_epi16(h, *(const uint16_t *)(p + 4 * stride), 2);
    h = _mm_insert_epi16(h, *(const uint16_t *)(p + 6 * stride), 3);
    h = _mm_insert_epi16(h, *(const uint16_t *)(p + 1 * stride), 4);
    h = _mm_insert_epi16(h, *(const uint16_t *)(p + 3 * stride), 5);
    h = _mm_insert_epi16(h, *(const uint16_t *)(p + 5 * stride), 6);
    h = _mm_insert_epi16(h, *(const uint16_t *)(p + 7 * stride), 7);
    return _mm256_cvtph_ps(h);
}

/* Four int16x16 vectors t[p] (low half: partial sums of block 2p, high half: block 2p+1) to the 8 block sums
 * as int32, lanes in block order 0 2 4 6 1 3 5 7. Each hadd doubles the magnitude: callers keep |t| <= 8191. */
AI __m256i fold8_i16(__m256i t0, __m256i t1, __m256i t2, __m256i t3) {
    const __m256i s = _mm256_hadd_epi16(_mm256_hadd_epi16(t0, t1), _mm256_hadd_epi16(t2, t3));
    return _mm256_madd_epi16(s, _mm256_set1_epi16(1));
}

/* Q4_0 weight rows [0, R) against activation columns [0, C). The nibbles (0..15) are maddubs' unsigned operand
 * as they are; the -8 offset becomes -8 * sum(x) per block, computed once per column and step. Two blocks
 * share a register: their low nibbles (elements 0..15 of each) against the activations reordered to match,
 * likewise the high nibbles. Magnitudes: nibble * x pair sums <= 2 * 15 * 128, lo + hi <= 7680, after the
 * two hadds <= 30720: int16 holds every step. Blocks past the last multiple of 8 take the per-block path. */
AI void q4_0_tile8(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t n, float *y, int64_t ldy,
                   const int R, const int C) {
    const int64_t nb = n / QK4_0;
    const __m256i m4 = _mm256_set1_epi8(0x0f), eight = _mm256_set1_epi8(8);
    __m256 acc[4][4];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= nb; i += 8) {
        __m256i xl[4][4], xh[4][4], off[4];
        __m256 xd[4];
        UNROLL for (int c = 0; c < C; c++) {
            const block_q8_0 *x = (const block_q8_0 *)(xa + c * xb) + i;
            __m256i o[4];
            UNROLL for (int p = 0; p < 4; p++) {
                const __m256i a = _mm256_loadu_si256((const __m256i *)x[2 * p].qs);
                const __m256i b = _mm256_loadu_si256((const __m256i *)x[2 * p + 1].qs);
                xl[c][p] = _mm256_permute2x128_si256(a, b, 0x20);
                xh[c][p] = _mm256_permute2x128_si256(a, b, 0x31);
                o[p] = _mm256_add_epi16(_mm256_maddubs_epi16(eight, xl[c][p]), _mm256_maddubs_epi16(eight, xh[c][p]));
            }
            off[c] = fold8_i16(o[0], o[1], o[2], o[3]);
            xd[c] = load_d8((const char *)&x->d, sizeof(block_q8_0));
        }
        UNROLL for (int r = 0; r < R; r++) {
            const block_q4_0 *b = (const block_q4_0 *)(w + r * rb) + i;
            _mm_prefetch((const char *)b + PF_BYTES, _MM_HINT_T0);
            _mm_prefetch((const char *)b + PF_BYTES + 64, _MM_HINT_T0);
            _mm_prefetch((const char *)b + PF_BYTES + 128, _MM_HINT_T0);
            __m256i lo[4], hi[4];
            UNROLL for (int p = 0; p < 4; p++) {
                const __m256i q = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)b[2 * p + 1].qs),
                                                   _mm_loadu_si128((const __m128i *)b[2 * p].qs));
                lo[p] = _mm256_and_si256(q, m4);
                hi[p] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            }
            const __m256 dw = load_d8((const char *)&b->d, sizeof(block_q4_0));
            UNROLL for (int c = 0; c < C; c++) {
                __m256i t[4];
                UNROLL for (int p = 0; p < 4; p++)
                    t[p] = _mm256_add_epi16(_mm256_maddubs_epi16(lo[p], xl[c][p]), _mm256_maddubs_epi16(hi[p], xh[c][p]));
                const __m256i s = _mm256_sub_epi32(fold8_i16(t[0], t[1], t[2], t[3]), off[c]);
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw, xd[c]), acc[r][c]);
            }
        }
    }
    store_tile(acc, y, ldy, R, C);
    for (; i < nb; i++)
        UNROLL for (int r = 0; r < R; r++) {
            const block_q4_0 *b = (const block_q4_0 *)(w + r * rb) + i;
            const __m256i wq = load_q4_0(b), wa = _mm256_abs_epi8(wq);
            UNROLL for (int c = 0; c < C; c++) {
                const block_q8_0 *x = (const block_q8_0 *)(xa + c * xb) + i;
                const __m256i s = dot_i8(wa, wq, _mm256_loadu_si256((const __m256i *)x->qs));
                y[c * ldy + r] += hsum8(_mm256_cvtepi32_ps(s)) * (h2f(b->d) * h2f(x->d));
            }
        }
}
#define q4_0_tile q4_0_tile8
TILES(q4_0)

/* ---- Q4_K weights against Q8_K activations ---- */

/* The 12 packed bytes to sc[0..7] (bytes 0..7) and m[0..7] (bytes 8..15), each 6 bits. */
AI __m128i q4k_scales(const uint8_t *s) {
    uint32_t u[4];
    memcpy(u, s, 12);
    const uint32_t m1 = 0x3f3f3f3f, m2 = 0x0f0f0f0f, m3 = 0x03030303;
    u[3] = ((u[2] >> 4) & m2) | (((u[1] >> 6) & m3) << 4);
    const uint32_t mins_lo = u[1] & m1;
    u[1] = (u[2] & m2) | (((u[0] >> 6) & m3) << 4);
    u[2] = mins_lo;
    u[0] &= m1;
    return _mm_loadu_si128((const __m128i *)u);
}

/* shuffle masks broadcasting the int16 at index j (of 8, in both lanes) to all 16 int16 lanes */
AI __m256i bcast16_mask(int j) { return _mm256_set1_epi16((short)(((2 * j + 1) << 8) | (2 * j))); }

AI void q4_K_tile(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t n, float *y, int64_t ldy,
                  const int R, const int C) {
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256 acc[4][4];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m256i sc[4], isum[4][4];
        __m128i mins[4];
        float dw[4], dmw[4];
        UNROLL for (int r = 0; r < R; r++) {
            const block_q4_K *b = (const block_q4_K *)(w + r * rb) + i;
            _mm_prefetch((const char *)b + PF_BYTES, _MM_HINT_T0);
            _mm_prefetch((const char *)b + PF_BYTES + 64, _MM_HINT_T0);
            _mm_prefetch((const char *)b + PF_BYTES + 128, _MM_HINT_T0);
            const __m128i s = q4k_scales(b->scales);
            sc[r] = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(s));
            mins[r] = _mm_cvtepu8_epi16(_mm_srli_si128(s, 8));
            dw[r] = h2f(b->d);
            dmw[r] = h2f(b->dmin);
            UNROLL for (int c = 0; c < C; c++) isum[r][c] = _mm256_setzero_si256();
        }
        for (int j = 0; j < QK_K / 64; j++) {
            __m256i lo[4], hi[4], slo[4], shi[4];
            UNROLL for (int r = 0; r < R; r++) {
                const block_q4_K *b = (const block_q4_K *)(w + r * rb) + i;
                const __m256i q = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * j));
                lo[r] = _mm256_and_si256(q, m4);
                hi[r] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
                slo[r] = _mm256_shuffle_epi8(sc[r], bcast16_mask(2 * j));
                shi[r] = _mm256_shuffle_epi8(sc[r], bcast16_mask(2 * j + 1));
            }
            UNROLL for (int c = 0; c < C; c++) {
                const block_q8_K *xk = (const block_q8_K *)(xa + c * xb) + i;
                const __m256i x0 = _mm256_loadu_si256((const __m256i *)(xk->qs + 64 * j));
                const __m256i x1 = _mm256_loadu_si256((const __m256i *)(xk->qs + 64 * j + 32));
                UNROLL for (int r = 0; r < R; r++) {
                    /* nibble (<= 15) x int8 pair sums fit int16; madd with the scale does the scale multiply */
                    const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo[r], x0), slo[r]);
                    const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi[r], x1), shi[r]);
                    isum[r][c] = _mm256_add_epi32(isum[r][c], _mm256_add_epi32(p0, p1));
                }
            }
        }
        UNROLL for (int c = 0; c < C; c++) {
            const block_q8_K *xk = (const block_q8_K *)(xa + c * xb) + i;
            /* bsums of each 32-wide sub-block: pairs of the 16-wide sums */
            const __m128i bs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)xk->bsums),
                                              _mm_loadu_si128((const __m128i *)(xk->bsums + 8)));
            UNROLL for (int r = 0; r < R; r++) {
                const __m128i ms = _mm_madd_epi16(mins[r], bs);
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[r][c]), _mm256_set1_ps(dw[r] * xk->d), acc[r][c]);
                acc[r][c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(_mm256_zextsi128_si256(ms)),
                                             _mm256_set1_ps(dmw[r] * xk->d), acc[r][c]);
            }
        }
    }
    store_tile(acc, y, ldy, R, C);
}
TILES(q4_K)

/* ---- Q6_K weights against Q8_K activations ---- */

/* byte shuffle giving [s[2g] x8, s[2g+1] x8] from 16 int8 scales */
AI __m128i q6_scale_mask(int g) {
    return _mm_set_epi64x((long long)(0x0101010101010101ull * (uint64_t)(2 * g + 1)),
                          (long long)(0x0101010101010101ull * (uint64_t)(2 * g)));
}

AI void q6_K_tile(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t n, float *y, int64_t ldy,
                  const int R, const int C) {
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(0x03);
    __m256 acc[4][4];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m256i isum[4][4];
        UNROLL for (int r = 0; r < R; r++) {
            const char *b = w + r * rb + i * (int64_t)sizeof(block_q6_K);
            _mm_prefetch(b + PF_BYTES, _MM_HINT_T0);
            _mm_prefetch(b + PF_BYTES + 64, _MM_HINT_T0);
            _mm_prefetch(b + PF_BYTES + 128, _MM_HINT_T0);
            _mm_prefetch(b + PF_BYTES + 192, _MM_HINT_T0);
            UNROLL for (int c = 0; c < C; c++) isum[r][c] = _mm256_setzero_si256();
        }
        /* two halves of 128; in each, groups of 32: (ql[0..31] lo, qh>>0), (ql[32..63] lo, qh>>2),
         * (ql[0..31] hi, qh>>4), (ql[32..63] hi, qh>>6) */
        for (int g = 0; g < 8; g++) {
            const int half = g / 4, k = g % 4;
            __m256i q[4], s[4];
            UNROLL for (int r = 0; r < R; r++) {
                const block_q6_K *b = (const block_q6_K *)(w + r * rb) + i;
                const __m256i ql = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * half + 32 * (k & 1)));
                const __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * half));
                const __m256i lo4 = k < 2 ? _mm256_and_si256(ql, m4) : _mm256_and_si256(_mm256_srli_epi16(ql, 4), m4);
                const __m256i h2 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), m3);
                q[r] = _mm256_or_si256(lo4, _mm256_slli_epi16(h2, 4));
                s[r] = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)b->scales), q6_scale_mask(g)));
            }
            UNROLL for (int c = 0; c < C; c++) {
                const block_q8_K *xk = (const block_q8_K *)(xa + c * xb) + i;
                const __m256i xv = _mm256_loadu_si256((const __m256i *)(xk->qs + 32 * g));
                /* unsigned q6 (<= 63) x int8 pair sums fit int16; the -32 offset is taken off below via bsums */
                UNROLL for (int r = 0; r < R; r++)
                    isum[r][c] = _mm256_add_epi32(isum[r][c], _mm256_madd_epi16(_mm256_maddubs_epi16(q[r], xv), s[r]));
            }
        }
        UNROLL for (int c = 0; c < C; c++) {
            const block_q8_K *xk = (const block_q8_K *)(xa + c * xb) + i;
            const __m256i bs = _mm256_loadu_si256((const __m256i *)xk->bsums);
            UNROLL for (int r = 0; r < R; r++) {
                const block_q6_K *b = (const block_q6_K *)(w + r * rb) + i;
                const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
                const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(s16, bs), 5);
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(isum[r][c], corr)),
                                            _mm256_set1_ps(h2f(b->d) * xk->d), acc[r][c]);
            }
        }
    }
    store_tile(acc, y, ldy, R, C);
}
TILES(q6_K)

/* ---- entry points ---- */

/* GEMV streams 4 rows at once (4 independent accumulators, 4 prefetch streams); GEMM tiles 4 rows x 4 columns
 * so each weight block loaded is used 4 times and each activation block 4 times. */
#define MATMUL(name, row_bytes, act_bytes)                                                                      \
    static void matmul_##name(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy,   \
                              int64_t r0, int64_t r1) {                                                        \
        run_tiles(name##_tiles, 4, batch == 1 ? 1 : 4, w, row_bytes, xa, act_bytes, n, batch, y, ldy, r0, r1); \
    }
MATMUL(f32, n * 4, n * 4)
MATMUL(f16, n * 2, n * 4)
MATMUL(bf16, n * 2, n * 4)
MATMUL(q8_0, n / QK8_0 * (int64_t)sizeof(block_q8_0), n / QK8_0 * (int64_t)sizeof(block_q8_0))
MATMUL(q4_0, n / QK4_0 * (int64_t)sizeof(block_q4_0), n / QK8_0 * (int64_t)sizeof(block_q8_0))
MATMUL(q4_K, n / QK_K * (int64_t)sizeof(block_q4_K), n / QK_K * (int64_t)sizeof(block_q8_K))
MATMUL(q6_K, n / QK_K * (int64_t)sizeof(block_q6_K), n / QK_K * (int64_t)sizeof(block_q8_K))

void pmx_avx2_register_matmul(pmx_kernels *k) {
    k->matmul[PMX_T_F32] = (pmx_matmul_kernel){NULL, matmul_f32};
    k->matmul[PMX_T_F16] = (pmx_matmul_kernel){NULL, matmul_f16};
    k->matmul[PMX_T_BF16] = (pmx_matmul_kernel){NULL, matmul_bf16};
    k->matmul[PMX_T_Q8_0] = (pmx_matmul_kernel){prepare_q8_0, matmul_q8_0};
    k->matmul[PMX_T_Q4_0] = (pmx_matmul_kernel){prepare_q8_0, matmul_q4_0};
    k->matmul[PMX_T_Q4_K] = (pmx_matmul_kernel){prepare_q8_K, matmul_q4_K};
    k->matmul[PMX_T_Q6_K] = (pmx_matmul_kernel){prepare_q8_K, matmul_q6_K};
}
