/* AVX2 matmul: SIMD activation quantization (prepare) and register-tiled kernels, R weight rows x C activation
 * columns per tile (GEMV: 4 x 1, GEMM: up to 4 x 4), int8 dot products (maddubs/madd) for quantized weights. */
#include <immintrin.h>
#include <math.h>
#include <stddef.h>
#include "avx2.h"

#include "tiles.h"

/* ---- prepare: activations to Q8_0 / Q8_K ---- */

/* 32 floats (4 vectors, already scaled) to 32 int8, rounding to nearest even (Q8_K, as ggml's nearest_int;
 * Q8_0 rounds with round_away first). */
AI __m256i pack32(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256i i0 = _mm256_cvtps_epi32(a), i1 = _mm256_cvtps_epi32(b), i2 = _mm256_cvtps_epi32(c), i3 = _mm256_cvtps_epi32(d);
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    /* packs interleave the 128-bit lanes: dwords come out as 0 2 4 6 1 3 5 7 */
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* roundf: halves away from zero. v - trunc(v) is exact, so the comparison with 0.5 decides ties exactly. */
AI __m256 round_away(__m256 v) {
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 sign = _mm256_and_ps(v, _mm256_set1_ps(-0.0f)), absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 up = _mm256_cmp_ps(_mm256_and_ps(_mm256_sub_ps(v, t), absmask), _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    return _mm256_add_ps(t, _mm256_and_ps(up, _mm256_or_ps(sign, _mm256_set1_ps(1.0f))));
}

/* One Q8_0 block of the 32 floats at p, bit for bit as ggml's quantize_row_q8_0 (the scalar reference). */
AI __m256i quantize_q8_0_block(const float *p, pmx_half *d_out) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 v0 = _mm256_loadu_ps(p), v1 = _mm256_loadu_ps(p + 8), v2 = _mm256_loadu_ps(p + 16), v3 = _mm256_loadu_ps(p + 24);
    __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v0, absmask), _mm256_and_ps(v1, absmask)),
                             _mm256_max_ps(_mm256_and_ps(v2, absmask), _mm256_and_ps(v3, absmask)));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    const float amax = _mm_cvtss_f32(h), d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m256 vid = _mm256_set1_ps(id);
    *d_out = (pmx_half)_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    return pack32(round_away(_mm256_mul_ps(v0, vid)), round_away(_mm256_mul_ps(v1, vid)),
                  round_away(_mm256_mul_ps(v2, vid)), round_away(_mm256_mul_ps(v3, vid)));
}

/* Sum of 32 int8 quants: pairs by maddubs against ones, then madd, then across lanes. */
AI int32_t sum_i8x32(__m256i q) {
    const __m256i s32 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1));
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(s32), _mm256_extracti128_si256(s32, 1));
    s = _mm_hadd_epi32(s, s);
    s = _mm_hadd_epi32(s, s);
    return _mm_cvtsi128_si32(s);
}

/* block_q8_0s rows, the activations of the packed Q4_0/Q8_0 kernels: these quants (ggml's), the scale as a float and
 * -offset * sum(qs) (offset 8 against Q4_0, 128 against packed Q8_0's biased quants, -1: sum(qs) for the minimums of
 * Q4_1 and Q5_1). */
AI void prepare_q8_0s(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1, const int offset) {
    const int64_t nb = n / QK8_0;
    for (int64_t b = b0; b < b1; b++)
        for (int64_t i = 0; i < nb; i++) {
            block_q8_0s *o = (block_q8_0s *)xa + b * nb + i;
            pmx_half d;
            const __m256i q = quantize_q8_0_block(x + b * n + i * QK8_0, &d);
            _mm256_storeu_si256((__m256i *)o->qs, q);
            o->d = h2f(d);
            o->sum = -offset * sum_i8x32(q);
        }
}
static void prepare_q4_0x16(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1) { prepare_q8_0s(xa, x, n, b0, b1, 8); }
static void prepare_q8_0x16(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1) { prepare_q8_0s(xa, x, n, b0, b1, 128); }
static void prepare_qx_1x16(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1) { prepare_q8_0s(xa, x, n, b0, b1, -1); }

void pmx_avx2_prepare_q8_0(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1) {
    const int64_t nb = n / QK8_0;
    for (int64_t b = b0; b < b1; b++) {
        block_q8_0 *y = (block_q8_0 *)xa + b * nb;
        for (int64_t i = 0; i < nb; i++)
            _mm256_storeu_si256((__m256i *)y[i].qs, quantize_q8_0_block(x + b * n + i * QK8_0, &y[i].d));
    }
}

/* As ggml's quantize_row_q8_K: the scale comes from the element of largest magnitude, signed, so that element
 * maps to -127 exactly. */
void pmx_avx2_prepare_q8_K(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1) {
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
            _mm_prefetch(w + r * rb + k * es + PF_AHEAD(R, rb), _MM_HINT_T0);
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
            _mm_prefetch((const char *)b + PF_AHEAD(R, rb), _MM_HINT_T0);
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

/* ---- Q4_0 and Q5_0: 8 blocks per step ----
 * The per-block work that does not depend on the weights is done once per activation row, in prepare (see
 * prepare_q4x): activation reordering, the offset term 8 * sum(x), the activation scales. Per row and
 * column, the 8 blocks' integer dot products fold into one vector of 8 block sums, so the int -> float
 * convert and the scale FMA run once per 256 weights instead of once per 32. */

/* 8 half-precision scales at p, p + stride, ... as floats, in block order 0 2 4 6 1 3 5 7 (the lane order of
 * fold8_i16). */
AI __m256 load_d8(const char *p, int64_t stride) {
    /* assembled in general-purpose registers (the integer ports are idle here), then one move and one convert: a
     * gather, or eight vector inserts, take the vector ports the dot products need */
    uint16_t h[8];
    for (int k = 0; k < 8; k++) memcpy(&h[k], p + k * stride, 2);
    const uint64_t even = h[0] | (uint64_t)h[2] << 16 | (uint64_t)h[4] << 32 | (uint64_t)h[6] << 48;
    const uint64_t odd = h[1] | (uint64_t)h[3] << 16 | (uint64_t)h[5] << 32 | (uint64_t)h[7] << 48;
    return _mm256_cvtph_ps(_mm_set_epi64x((long long)odd, (long long)even));
}

/* Four int16x16 vectors t[p] (low half: partial sums of block 2p, high half: block 2p+1) to the 8 block sums
 * as int32, lanes in block order 0 2 4 6 1 3 5 7. Each hadd doubles the magnitude: callers keep |t| <= 8191. */
AI __m256i fold8_i16(__m256i t0, __m256i t1, __m256i t2, __m256i t3) {
    const __m256i s = _mm256_hadd_epi16(_mm256_hadd_epi16(t0, t1), _mm256_hadd_epi16(t2, t3));
    return _mm256_madd_epi16(s, _mm256_set1_epi16(1));
}

/* Half-precision scales of n (<= 8) blocks at p, p + stride, ... as floats in fold8_i16's lane order (blocks 0 2 4
 * 6 1 3 5 7); lanes of absent blocks are 0. Reads only the n blocks: a step at the end of a tensor stays in it. */
AI __m256 load_dn(const char *p, int64_t stride, const int n) {
    if (n == 8) return load_d8(p, stride);
    __m128i h = _mm_cvtsi32_si128(*(const uint16_t *)p);
    if (n > 2) h = _mm_insert_epi16(h, *(const uint16_t *)(p + 2 * stride), 1);
    if (n > 1) h = _mm_insert_epi16(h, *(const uint16_t *)(p + 1 * stride), 4);
    if (n > 3) h = _mm_insert_epi16(h, *(const uint16_t *)(p + 3 * stride), 5);
    return _mm256_cvtph_ps(h);
}

/* Q5_0: the 5-bit quant is nibble | 16 where the block's qh bit is set. */

/* 0xff in byte k where bit k % 8 of byte idx[k] of v (per 128-bit lane) is set: the qh bits as a byte mask. */
AI __m256i bits_to_bytes(__m256i v, __m256i idx) {
    const __m256i bm = _mm256_set1_epi64x(0x8040201008040201ll);
    return _mm256_cmpeq_epi8(_mm256_and_si256(_mm256_shuffle_epi8(v, idx), bm), bm);
}

AI uint32_t load_qh(const block_q5_0 *b) {
    uint32_t h;
    memcpy(&h, b->qh, sizeof h);
    return h;
}

/* The 32 weights of a block as signed int8 q - 16, in element order (the per-block tail). */
AI __m256i load_q5_0(const block_q5_0 *b) {
    const __m128i q = _mm_loadu_si128((const __m128i *)b->qs);
    const __m256i nib = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0f));
    const __m256i idx = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                         2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bits = bits_to_bytes(_mm256_set1_epi32((int)load_qh(b)), idx);
    return _mm256_or_si256(nib, _mm256_andnot_si256(bits, _mm256_set1_epi8((char)0xf0)));
}

/* fold8_i16 for |t| <= 16383: the second level of pair sums in int32. Same lane order (blocks 0 2 4 6 1 3 5 7). */
AI __m256i fold8_i32(__m256i t0, __m256i t1, __m256i t2, __m256i t3) {
    const __m256i one = _mm256_set1_epi16(1);
    return _mm256_hadd_epi32(_mm256_madd_epi16(_mm256_hadd_epi16(t0, t1), one),
                             _mm256_madd_epi16(_mm256_hadd_epi16(t2, t3), one));
}

/* Steps of 2P blocks (P = 4, 2 or 1 pairs) for the 4/5-bit types against Q8_0 activations. The quants (Q4_0, Q4_1:
 * nibble 0..15, Q5_0, Q5_1: 0..31) are maddubs' unsigned operand as they are; Q4_0/Q5_0's offset (8 or 16) becomes
 * -offset * sum(x) per block, Q4_1/Q5_1's minimum m adds m * sum(x): the sums computed once per column and step. Two
 * blocks share a register: their elements 0..15 against the activations reordered to match (xl), likewise elements
 * 16..31 (xh). Pairs past P are zero, so their lanes add nothing. */
enum { W_Q4_0, W_Q5_0, W_Q4_1, W_Q5_1 };

AI int64_t q4x_block_bytes(const int kind) {
    return kind == W_Q4_0 ? (int64_t)sizeof(block_q4_0) : kind == W_Q5_0 ? (int64_t)sizeof(block_q5_0)
         : kind == W_Q4_1 ? (int64_t)sizeof(block_q4_1) : (int64_t)sizeof(block_q5_1);
}
/* byte offsets in a block: the quants' nibbles, the 32 fifth bits (Q5_0, Q5_1), the minimum m (Q4_1, Q5_1) */
AI int q4x_qs_at(const int kind) {
    return kind == W_Q4_0 ? (int)offsetof(block_q4_0, qs) : kind == W_Q5_0 ? (int)offsetof(block_q5_0, qs)
         : kind == W_Q4_1 ? (int)offsetof(block_q4_1, qs) : (int)offsetof(block_q5_1, qs);
}
AI int q4x_qh_at(const int kind) { return kind == W_Q5_0 ? (int)offsetof(block_q5_0, qh) : (int)offsetof(block_q5_1, qh); }
AI int q4x_has_min(const int kind) { return kind == W_Q4_1 || kind == W_Q5_1; }
AI int q4x_5bit(const int kind) { return kind == W_Q5_0 || kind == W_Q5_1; }

/* The activations of a Q4_0/Q5_0 matmul are prepared in the order the steps read them, so that the work that
 * does not depend on the weights is done once per activation row instead of once per row tile: a row is the
 * sequence of q4x_tile's steps (8 blocks while 8 remain, then 4, then 2), each step of P pairs laid out as
 *   2P x 32 bytes: xl, xh of pair 0, 1, ... (xl: elements 0..15 of blocks 2p and 2p+1, xh: elements 16..31)
 *   8 int32: offset x sum of each block's quants (offset 1 for Q4_1/Q5_1), in fold8_i16's lane order (blocks 0 2 4
 *            6 1 3 5 7; absent: 0)
 *   8 floats: each block's scale, same order
 * then, for an odd block count, the last block as a plain block_q8_0 in a 64-byte slot. The quants are those of
 * pmx_avx2_prepare_q8_0 (ggml's), only placed differently. */
AI int64_t q4x_step_bytes(const int P) { return 64 * (int64_t)P + 64; }

static int64_t q4x_act_row_bytes(int64_t n) {
    const int64_t nb = n / QK8_0, rest = nb % 8;
    return nb / 8 * q4x_step_bytes(4) + (rest & 4 ? q4x_step_bytes(2) : 0) + (rest & 2 ? q4x_step_bytes(1) : 0) +
           (rest & 1 ? 64 : 0);
}

/* fold8_i16's lane of block b (0..7) of a step */
AI int fold_lane(int b) { return (b & 1) * 4 + b / 2; }

/* Blocks [i, i + 2P) of the floats at src as one prepared step at dst. */
AI void prepare_q4x_step(char *dst, const float *src, int64_t i, const int P, const int offset) {
    int32_t off[8] = {0};
    float xd[8] = {0};
    for (int p = 0; p < P; p++) {
        __m256i q[2];
        pmx_half d[2];
        for (int k = 0; k < 2; k++) {
            q[k] = quantize_q8_0_block(src + (i + 2 * p + k) * QK8_0, &d[k]);
            off[fold_lane(2 * p + k)] = offset * sum_i8x32(q[k]);
            xd[fold_lane(2 * p + k)] = h2f(d[k]);
        }
        _mm256_storeu_si256((__m256i *)(dst + 64 * p), _mm256_permute2x128_si256(q[0], q[1], 0x20));
        _mm256_storeu_si256((__m256i *)(dst + 64 * p + 32), _mm256_permute2x128_si256(q[0], q[1], 0x31));
    }
    memcpy(dst + 64 * P, off, sizeof off);
    memcpy(dst + 64 * P + 32, xd, sizeof xd);
}

AI void prepare_q4x(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1, const int offset) {
    const int64_t nb = n / QK8_0, rb = q4x_act_row_bytes(n);
    for (int64_t b = b0; b < b1; b++) {
        char *dst = (char *)xa + b * rb;
        const float *src = x + b * n;
        int64_t i = 0;
        for (; i + 8 <= nb; i += 8, dst += q4x_step_bytes(4)) prepare_q4x_step(dst, src, i, 4, offset);
        if (i + 4 <= nb) {
            prepare_q4x_step(dst, src, i, 2, offset);
            i += 4, dst += q4x_step_bytes(2);
        }
        if (i + 2 <= nb) {
            prepare_q4x_step(dst, src, i, 1, offset);
            i += 2, dst += q4x_step_bytes(1);
        }
        if (i < nb) {
            block_q8_0 *last = (block_q8_0 *)dst;
            _mm256_storeu_si256((__m256i *)last->qs, quantize_q8_0_block(src + i * QK8_0, &last->d));
        }
    }
}

/* IQ4_XS's activations in the same steps (n a multiple of 256: 8-block steps only), the quants and scale of
 * pmx_avx2_prepare_q8_K (ggml's Q8_K) with each sub-block of 32 as a block: xd is the super-block's d in all 8 lanes,
 * the offsets offset * sum(sub-block). */
AI void prepare_q8_K_steps(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1, const int offset) {
    const int64_t nb = n / QK_K, rb = q4x_act_row_bytes(n);
    for (int64_t b = b0; b < b1; b++)
        for (int64_t i = 0; i < nb; i++) {
            block_q8_K k;
            pmx_avx2_prepare_q8_K(&k, x + b * n + i * QK_K, QK_K, 0, 1);
            char *dst = (char *)xa + b * rb + i * q4x_step_bytes(4);
            int32_t off[8];
            float xd[8];
            for (int p = 0; p < 4; p++) {
                const __m256i q0 = _mm256_loadu_si256((const __m256i *)(k.qs + 64 * p));
                const __m256i q1 = _mm256_loadu_si256((const __m256i *)(k.qs + 64 * p + 32));
                off[fold_lane(2 * p)] = offset * (k.bsums[4 * p] + k.bsums[4 * p + 1]);
                off[fold_lane(2 * p + 1)] = offset * (k.bsums[4 * p + 2] + k.bsums[4 * p + 3]);
                _mm256_storeu_si256((__m256i *)(dst + 64 * p), _mm256_permute2x128_si256(q0, q1, 0x20));
                _mm256_storeu_si256((__m256i *)(dst + 64 * p + 32), _mm256_permute2x128_si256(q0, q1, 0x31));
            }
            for (int j = 0; j < 8; j++) xd[j] = k.d;
            memcpy(dst + 64 * 4, off, sizeof off);
            memcpy(dst + 64 * 4 + 32, xd, sizeof xd);
        }
}

static void prepare_q4_0(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1) { prepare_q4x(xa, x, n, b0, b1, 8); }
void pmx_avx2_prepare_steps_128(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1) { prepare_q4x(xa, x, n, b0, b1, 128); }
void pmx_avx2_prepare_q8_K_steps_128(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1) {
    prepare_q8_K_steps(xa, x, n, b0, b1, 128);
}
int64_t pmx_avx2_steps_row_bytes(int64_t n) { return q4x_act_row_bytes(n); }
static void prepare_q5_0(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1) { prepare_q4x(xa, x, n, b0, b1, 16); }
static void prepare_qx_1(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1) { prepare_q4x(xa, x, n, b0, b1, 1); }

/* Pair p of a row's step as unsigned quants: elements 0..15 of blocks 2p, 2p + 1 in lo, elements 16..31 in hi. */
AI void unpack_pair(const char *row, int64_t i, int p, const int kind, __m256i *lo, __m256i *hi) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    const int64_t bb = q4x_block_bytes(kind);
    const char *b0 = row + (i + 2 * p) * bb, *b1 = b0 + bb;
    const __m256i q = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)(b1 + q4x_qs_at(kind))),
                                       _mm_loadu_si128((const __m128i *)(b0 + q4x_qs_at(kind))));
    *lo = _mm256_and_si256(q, m4);
    *hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    if (!q4x_5bit(kind)) return;
    /* elements 0..15 take qh bytes 0 and 1 of their block, elements 16..31 bytes 2 and 3 */
    const __m256i idx_lo = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                            0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const __m256i idx_hi = _mm256_add_epi8(idx_lo, _mm256_set1_epi8(2)), sixteen = _mm256_set1_epi8(16);
    uint32_t h0, h1;
    memcpy(&h0, b0 + q4x_qh_at(kind), 4);
    memcpy(&h1, b1 + q4x_qh_at(kind), 4);
    const __m256i hv = _mm256_set_m128i(_mm_cvtsi32_si128((int)h1), _mm_cvtsi32_si128((int)h0));
    *lo = _mm256_or_si256(*lo, _mm256_and_si256(bits_to_bytes(hv, idx_lo), sixteen));
    *hi = _mm256_or_si256(*hi, _mm256_and_si256(bits_to_bytes(hv, idx_hi), sixteen));
}

/* The 32 unsigned quants of one Q4_1/Q5_1 block in element order (the per-block tail). */
AI __m256i load_qx_1(const char *blk, const int kind) {
    const __m128i v = _mm_loadu_si128((const __m128i *)(blk + q4x_qs_at(kind)));
    const __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0f));
    if (!q4x_5bit(kind)) return q;
    const __m256i idx = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                         2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    uint32_t h;
    memcpy(&h, blk + q4x_qh_at(kind), 4);
    return _mm256_or_si256(q, _mm256_and_si256(bits_to_bytes(_mm256_set1_epi32((int)h), idx), _mm256_set1_epi8(16)));
}

/* One step from block i of weight rows [0, R) against columns [0, C), added to acc; the columns' prepared step
 * starts so bytes into their rows. Q4_0 pair sums <= 2 * 15 * 128, lo + hi <= 7680, after the two hadds of
 * fold8_i16 <= 30720; Q5_0 pair sums reach 2 * 31 * 127 = 7874 and lo + hi 15748: one hadd level still fits
 * int16, the second goes through int32 (fold8_i32). */
AI void q4x_step(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t so, int64_t i, __m256 acc[4][4],
                 const int R, const int C, const int P, const int kind) {
    const int64_t bb = q4x_block_bytes(kind);
    const __m256i zero = _mm256_setzero_si256();
    UNROLL for (int r = 0; r < R; r++) {
        const char *row = w + r * rb, *blk = row + i * bb;
        UNROLL for (int k = 0; k < (2 * P * (int)bb + 63) / 64; k++)
            _mm_prefetch(blk + PF_AHEAD(R, rb) + 64 * k, _MM_HINT_T0);
        __m256i lo[4], hi[4];
        UNROLL for (int p = 0; p < P; p++) unpack_pair(row, i, p, kind, &lo[p], &hi[p]);
        const __m256 dw = load_dn(blk, bb, 2 * P); /* d is each block's first field, Q4_1/Q5_1's m the second */
        const __m256 mw = q4x_has_min(kind) ? load_dn(blk + sizeof(pmx_half), bb, 2 * P) : _mm256_setzero_ps();
        UNROLL for (int c = 0; c < C; c++) {
            const char *xs = xa + c * xb + so;
            __m256i t[4] = {zero, zero, zero, zero};
            UNROLL for (int p = 0; p < P; p++)
                t[p] = _mm256_add_epi16(_mm256_maddubs_epi16(lo[p], _mm256_loadu_si256((const __m256i *)(xs + 64 * p))),
                                        _mm256_maddubs_epi16(hi[p], _mm256_loadu_si256((const __m256i *)(xs + 64 * p + 32))));
            const __m256i sums = q4x_5bit(kind) ? fold8_i32(t[0], t[1], t[2], t[3]) : fold8_i16(t[0], t[1], t[2], t[3]);
            const __m256i off = _mm256_loadu_si256((const __m256i *)(xs + 64 * P));
            const __m256 xd = _mm256_loadu_ps((const float *)(xs + 64 * P + 32));
            if (q4x_has_min(kind)) {
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_mul_ps(dw, xd), acc[r][c]);
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(off), _mm256_mul_ps(mw, xd), acc[r][c]);
            } else {
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(sums, off)), _mm256_mul_ps(dw, xd), acc[r][c]);
            }
        }
    }
}

/* Weight rows [0, R) against activation columns [0, C): steps of 8 blocks, then 4 and 2 (rows of 704 or 384
 * columns, common in MoE experts and MLA projections, end in such a rest), a last odd block on its own. */
AI void q4x_tile(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t n, float *y, int64_t ldy,
                 const int R, const int C, const int kind) {
    const int64_t nb = n / QK8_0;
    __m256 acc[4][4];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
    int64_t i = 0, so = 0;
    for (; i + 8 <= nb; i += 8, so += q4x_step_bytes(4)) q4x_step(w, rb, xa, xb, so, i, acc, R, C, 4, kind);
    if (i + 4 <= nb) {
        q4x_step(w, rb, xa, xb, so, i, acc, R, C, 2, kind);
        i += 4, so += q4x_step_bytes(2);
    }
    if (i + 2 <= nb) {
        q4x_step(w, rb, xa, xb, so, i, acc, R, C, 1, kind);
        i += 2, so += q4x_step_bytes(1);
    }
    store_tile(acc, y, ldy, R, C);
    if (i < nb)
        UNROLL for (int r = 0; r < R; r++) {
            const char *blk = w + r * rb + i * q4x_block_bytes(kind);
            if (q4x_has_min(kind)) { /* unsigned quants: d * q . x + m * sum(x) */
                const __m256i q = load_qx_1(blk, kind);
                const float d = h2f(*(const pmx_half *)blk), m = h2f(*(const pmx_half *)(blk + sizeof(pmx_half)));
                UNROLL for (int c = 0; c < C; c++) {
                    const block_q8_0 *x = (const block_q8_0 *)(xa + c * xb + so);
                    const __m256i xq = _mm256_loadu_si256((const __m256i *)x->qs), one = _mm256_set1_epi16(1);
                    const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(q, xq), one);
                    const __m256i sx = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), xq), one);
                    y[c * ldy + r] += (hsum8(_mm256_cvtepi32_ps(s)) * d + hsum8(_mm256_cvtepi32_ps(sx)) * m) * h2f(x->d);
                }
                continue;
            }
            const __m256i wq = kind == W_Q4_0 ? load_q4_0((const block_q4_0 *)blk) : load_q5_0((const block_q5_0 *)blk);
            const __m256i wa = _mm256_abs_epi8(wq);
            UNROLL for (int c = 0; c < C; c++) {
                const block_q8_0 *x = (const block_q8_0 *)(xa + c * xb + so);
                const __m256i s = dot_i8(wa, wq, _mm256_loadu_si256((const __m256i *)x->qs));
                y[c * ldy + r] += hsum8(_mm256_cvtepi32_ps(s)) * (h2f(*(const pmx_half *)blk) * h2f(x->d));
            }
        }
}
#define q4_0_tile(w, rb, xa, xb, n, y, ldy, R, C) q4x_tile(w, rb, xa, xb, n, y, ldy, R, C, W_Q4_0)
TILES(q4_0)

#define q5_0_tile(w, rb, xa, xb, n, y, ldy, R, C) q4x_tile(w, rb, xa, xb, n, y, ldy, R, C, W_Q5_0)
TILES(q5_0)

#define q4_1_tile(w, rb, xa, xb, n, y, ldy, R, C) q4x_tile(w, rb, xa, xb, n, y, ldy, R, C, W_Q4_1)
TILES(q4_1)

#define q5_1_tile(w, rb, xa, xb, n, y, ldy, R, C) q4x_tile(w, rb, xa, xb, n, y, ldy, R, C, W_Q5_1)
TILES(q5_1)

/* ---- Q4_K weights against Q8_K activations ----
 * Per row and super-block, everything stays in registers: the 6-bit scales and mins are unpacked with byte
 * shuffles, the 8 sub-block dot products fold to one int16 vector by hadds, one madd applies the 8 scales,
 * and one convert + FMA per 256 weights applies d and dmin together (sums and mins in separate lanes). */

/* Scales and mins of a block as int16: lanes 0..7 sc[0..7], lanes 8..15 m[0..7]. ggml's packing: for j < 4
 * sc = s[j] & 63, m = s[j+4] & 63; for j >= 4 sc = (s[j+4] & 15) | (s[j-4] >> 6) << 4 and
 * m = (s[j+4] >> 4) | (s[j] >> 6) << 4. One shuffle puts s[j] or s[j+4] in each low byte and the byte whose
 * top 2 bits complete it in the high byte; masks and shifts finish. Reads 16 bytes (the 12 scale bytes and
 * the first 4 of qs). */
AI __m256i q4k_scales16(const block_q4_K *b) {
    const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)b->scales));
    const __m256i e = _mm256_shuffle_epi8(
        v, _mm256_setr_epi8(0, -1, 1, -1, 2, -1, 3, -1, 8, 0, 9, 1, 10, 2, 11, 3,          /* sc */
                            4, -1, 5, -1, 6, -1, 7, -1, 8, 4, 9, 5, 10, 6, 11, 7));        /* m  */
    const __m256i lo = _mm256_and_si256(e, _mm256_setr_epi16(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0, 0));
    const __m256i top = _mm256_and_si256(_mm256_srli_epi16(e, 10), _mm256_set1_epi16(0x30));
    const __m256i mhi = _mm256_and_si256(_mm256_srli_epi16(e, 4), _mm256_setr_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 15, 15, 15));
    return _mm256_or_si256(_mm256_or_si256(lo, top), mhi);
}

AI void q4_K_tile(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t n, float *y, int64_t ldy,
                  const int R, const int C) {
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    /* [d, d, dmin, dmin] in each 128-bit lane, matching the hadd_epi32 below */
    const __m256i dd_idx = _mm256_setr_epi32(0, 0, 1, 1, 0, 0, 1, 1);
    __m256 acc[4][4];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        /* per column: minus the 32-wide sub-block sums of the activations, in the high lane (where the mins
         * sit in q4k_scales16), and the activation scale */
        __m256i nbs[4];
        __m256 dx[4];
        UNROLL for (int c = 0; c < C; c++) {
            const block_q8_K *xk = (const block_q8_K *)(xa + c * xb) + i;
            const __m128i bs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)xk->bsums),
                                              _mm_loadu_si128((const __m128i *)(xk->bsums + 8)));
            nbs[c] = _mm256_inserti128_si256(_mm256_setzero_si256(), _mm_sub_epi16(_mm_setzero_si128(), bs), 1);
            dx[c] = _mm256_set1_ps(xk->d);
        }
        UNROLL for (int r = 0; r < R; r++) {
            const block_q4_K *b = (const block_q4_K *)(w + r * rb) + i;
            _mm_prefetch((const char *)b + PF_AHEAD(R, rb), _MM_HINT_T0);
            _mm_prefetch((const char *)b + PF_AHEAD(R, rb) + 64, _MM_HINT_T0);
            _mm_prefetch((const char *)b + PF_AHEAD(R, rb) + 128, _MM_HINT_T0);
            const __m256i scm = q4k_scales16(b);
            const __m256i sc = _mm256_permute2x128_si256(scm, scm, 0x00);
            int32_t d2;
            memcpy(&d2, &b->d, 4); /* d and dmin */
            const __m256 dd = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_cvtph_ps(_mm_cvtsi32_si128(d2))), dd_idx);
            /* nibbles (<= 15) x int8 (|x| <= 127): pair sums <= 3810; each hadd level doubles: after three
             * levels one int16 lane per sub-block and 128-bit lane holds <= 30480 */
            __m256i g[2][4];
            UNROLL for (int h = 0; h < 2; h++) {
                const __m256i q0 = _mm256_loadu_si256((const __m256i *)(b->qs + 64 * h));
                const __m256i q1 = _mm256_loadu_si256((const __m256i *)(b->qs + 64 * h + 32));
                const __m256i l0 = _mm256_and_si256(q0, m4), h0 = _mm256_and_si256(_mm256_srli_epi16(q0, 4), m4);
                const __m256i l1 = _mm256_and_si256(q1, m4), h1 = _mm256_and_si256(_mm256_srli_epi16(q1, 4), m4);
                UNROLL for (int c = 0; c < C; c++) {
                    const int8_t *x = ((const block_q8_K *)(xa + c * xb) + i)->qs + 128 * h;
                    const __m256i p0 = _mm256_maddubs_epi16(l0, _mm256_loadu_si256((const __m256i *)x));
                    const __m256i p1 = _mm256_maddubs_epi16(h0, _mm256_loadu_si256((const __m256i *)(x + 32)));
                    const __m256i p2 = _mm256_maddubs_epi16(l1, _mm256_loadu_si256((const __m256i *)(x + 64)));
                    const __m256i p3 = _mm256_maddubs_epi16(h1, _mm256_loadu_si256((const __m256i *)(x + 96)));
                    g[h][c] = _mm256_hadd_epi16(_mm256_hadd_epi16(p0, p1), _mm256_hadd_epi16(p2, p3));
                }
            }
            UNROLL for (int c = 0; c < C; c++) {
                /* lanes: sc-weighted sums | (-mins . bsums) in the upper half of the high lane */
                const __m256i s = _mm256_madd_epi16(_mm256_hadd_epi16(g[0][c], g[1][c]), sc);
                const __m256i t = _mm256_hadd_epi32(s, _mm256_madd_epi16(scm, nbs[c]));
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(t), _mm256_mul_ps(dd, dx[c]), acc[r][c]);
            }
        }
    }
    store_tile(acc, y, ldy, R, C);
}
TILES(q4_K)

/* ---- Q6_K weights against Q8_K activations ----
 * Two groups of 32 share one madd: their int16 dot products fold by one hadd, and the madd applies four
 * sub-block scales at once. The -32 offset is taken off with the activations' bsums (32 * sc . bsums, once per
 * row and column); one convert + FMA per 256 weights. */

/* Scale vectors of group pair p (groups 2p, 2p+1): int16 lanes [sc[4p] x4, sc[4p+2] x4 | sc[4p+1] x4,
 * sc[4p+3] x4], the layout of hadd_epi16 of the two groups' maddubs (lane L of group g is sub-block 2g + L).
 * The byte goes to the high half of each int16 and an arithmetic shift sign-extends it. */
AI __m256i q6_pair_scales(__m256i sb, int p) {
    const char a = (char)(4 * p), b = (char)(4 * p + 2), c = (char)(4 * p + 1), d = (char)(4 * p + 3);
    const __m256i idx = _mm256_setr_epi8(-1, a, -1, a, -1, a, -1, a, -1, b, -1, b, -1, b, -1, b,
                                         -1, c, -1, c, -1, c, -1, c, -1, d, -1, d, -1, d, -1, d);
    return _mm256_srai_epi16(_mm256_shuffle_epi8(sb, idx), 8);
}

AI void q6_K_tile(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t n, float *y, int64_t ldy,
                  const int R, const int C) {
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
    __m256 acc[4][4];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m256i nbs[4];
        __m256 dx[4];
        UNROLL for (int c = 0; c < C; c++) {
            const block_q8_K *xk = (const block_q8_K *)(xa + c * xb) + i;
            nbs[c] = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_loadu_si256((const __m256i *)xk->bsums));
            dx[c] = _mm256_set1_ps(xk->d);
        }
        UNROLL for (int r = 0; r < R; r++) {
            const block_q6_K *b = (const block_q6_K *)(w + r * rb) + i;
            _mm_prefetch((const char *)b + PF_AHEAD(R, rb), _MM_HINT_T0);
            _mm_prefetch((const char *)b + PF_AHEAD(R, rb) + 64, _MM_HINT_T0);
            _mm_prefetch((const char *)b + PF_AHEAD(R, rb) + 128, _MM_HINT_T0);
            _mm_prefetch((const char *)b + PF_AHEAD(R, rb) + 192, _MM_HINT_T0);
            const __m128i s8 = _mm_loadu_si128((const __m128i *)b->scales);
            const __m256i sb = _mm256_broadcastsi128_si256(s8);
            /* 32 * sc fits int16 (|sc| <= 128), so the offset term is one madd against -bsums */
            const __m256i sc32 = _mm256_slli_epi16(_mm256_cvtepi8_epi16(s8), 5);
            const __m256 dw = _mm256_set1_ps(h2f(b->d));
            __m256i isum[4];
            UNROLL for (int c = 0; c < C; c++) isum[c] = _mm256_madd_epi16(sc32, nbs[c]);
            UNROLL for (int h = 0; h < 2; h++) {
                const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
                const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
                const __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
                /* 6-bit values 0..63, groups of 32 in element order: low nibbles of ql0, ql1, then high */
                __m256i q[4];
                q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
                q[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
                q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30));
                q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                       _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
                const __m256i s0 = q6_pair_scales(sb, 2 * h), s1 = q6_pair_scales(sb, 2 * h + 1);
                UNROLL for (int c = 0; c < C; c++) {
                    const int8_t *x = ((const block_q8_K *)(xa + c * xb) + i)->qs + 128 * h;
                    __m256i p[4];
                    /* q (<= 63) x int8 (|x| <= 127): pair sums <= 16002, after the hadd <= 32004 */
                    UNROLL for (int k = 0; k < 4; k++)
                        p[k] = _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)(x + 32 * k)));
                    isum[c] = _mm256_add_epi32(isum[c], _mm256_add_epi32(_mm256_madd_epi16(_mm256_hadd_epi16(p[0], p[1]), s0),
                                                                         _mm256_madd_epi16(_mm256_hadd_epi16(p[2], p[3]), s1)));
                }
            }
            UNROLL for (int c = 0; c < C; c++)
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_mul_ps(dw, dx[c]), acc[r][c]);
        }
    }
    store_tile(acc, y, ldy, R, C);
}
TILES(q6_K)

/* ---- entry points ---- */

/* GEMV streams gemv_rows rows at once (independent accumulators and prefetch streams); GEMM tiles 4 rows x 4
 * columns so each weight block loaded is used 4 times and each activation block 4 times. Measured (102400 x 1024
 * and 25600 x 4096, 1 and 2 threads): Q6_K streams best one row at a time at every width (1024 columns: 6-7 ->
 * 9-11 GB/s on one thread, 11 -> 17 GB/s on two), Q8_0 on rows up to ~2 KB (8.4 -> 11-12.8 GB/s) but not on long
 * rows; Q4_K two rows at a time at 1024 columns (7.3 -> 9.7 GB/s) and one from 2048 up (fourth session, 1 thread, best
 of 45 runs, ms for the same matrix: 2048 columns 9.0 -> 7.6, 4096: 7.5 -> 6.3; equal at 5632), Q5_0 on rows up
 * to 2048 (1024: 5.9 -> 6.5 GB/s; 4096: 9.6 -> 8.6, so long rows keep 4); float types keep 4 rows. Q4_0, since
 * its activations come prepared (151 MB of weights, one thread, best of 45 runs): one row from 2048 columns up
 * (4096: 17.2 ms with 2 rows -> 13.6 ms with 1; 5632: 10.5 -> 9.3 ms), 2 rows at 1024, 4 rows below (704: 10.6
 * -> 9.6 ms). */
#define MATMUL(name, row_bytes, act_bytes, gemv_rows)                                                           \
    static void matmul_##name(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy,   \
                              int64_t r0, int64_t r1) {                                                        \
        run_tiles(name##_tiles, batch == 1 ? (gemv_rows) : 4, batch == 1 ? 1 : 4, w, row_bytes, xa, act_bytes, n, \
                  batch, y, ldy, r0, r1);                                                                      \
    }
MATMUL(f32, n * 4, n * 4, 4)
MATMUL(f16, n * 2, n * 4, 4)
MATMUL(bf16, n * 2, n * 4, 4)
MATMUL(q8_0, n / QK8_0 * (int64_t)sizeof(block_q8_0), n / QK8_0 * (int64_t)sizeof(block_q8_0), n <= 2048 ? 1 : 4)
MATMUL(q4_0, n / QK4_0 * (int64_t)sizeof(block_q4_0), q4x_act_row_bytes(n), n >= 2048 ? 1 : n >= 1024 ? 2 : 4)
MATMUL(q5_0, n / QK5_0 * (int64_t)sizeof(block_q5_0), q4x_act_row_bytes(n), n <= 2048 ? 2 : 4)
/* Q4_1 and Q5_1 in Q4_0's and Q5_0's steps, with their rows per GEMV tile (not measured apart) */
MATMUL(q4_1, n / QK8_0 * (int64_t)sizeof(block_q4_1), q4x_act_row_bytes(n), n >= 2048 ? 1 : n >= 1024 ? 2 : 4)
MATMUL(q5_1, n / QK8_0 * (int64_t)sizeof(block_q5_1), q4x_act_row_bytes(n), n <= 2048 ? 2 : 4)
MATMUL(q4_K, n / QK_K * (int64_t)sizeof(block_q4_K), n / QK_K * (int64_t)sizeof(block_q8_K), n >= 2048 ? 1 : 2)
MATMUL(q6_K, n / QK_K * (int64_t)sizeof(block_q6_K), n / QK_K * (int64_t)sizeof(block_q8_K), 1)

void pmx_avx2_register_matmul(pmx_kernels *k) {
    k->matmul[PMX_T_F32] = (pmx_matmul_kernel){NULL, matmul_f32, NULL};
    k->matmul[PMX_T_F16] = (pmx_matmul_kernel){NULL, matmul_f16, NULL};
    k->matmul[PMX_T_BF16] = (pmx_matmul_kernel){pmx_ref_prepare_bf16, matmul_bf16, NULL};
    k->matmul[PMX_T_Q8_0] = (pmx_matmul_kernel){pmx_avx2_prepare_q8_0, matmul_q8_0, NULL};
    k->matmul[PMX_T_Q4_0] = (pmx_matmul_kernel){prepare_q4_0, matmul_q4_0, q4x_act_row_bytes};
    k->matmul[PMX_T_Q5_0] = (pmx_matmul_kernel){prepare_q5_0, matmul_q5_0, q4x_act_row_bytes};
    k->matmul[PMX_T_Q4_1] = (pmx_matmul_kernel){prepare_qx_1, matmul_q4_1, q4x_act_row_bytes};
    k->matmul[PMX_T_Q5_1] = (pmx_matmul_kernel){prepare_qx_1, matmul_q5_1, q4x_act_row_bytes};
    k->matmul[PMX_T_Q4_K] = (pmx_matmul_kernel){pmx_avx2_prepare_q8_K, matmul_q4_K, NULL};
    k->matmul[PMX_T_Q6_K] = (pmx_matmul_kernel){pmx_avx2_prepare_q8_K, matmul_q6_K, NULL};
    /* the packed kernels stay the reference's here (AVX-512 overrides them); their activations are prepared on vectors,
     * the K-quants' by the standard Q8_K prepare */
    k->packed[PMX_T_Q4_0].prepare = prepare_q4_0x16;
    k->packed[PMX_T_Q8_0].prepare = k->packed[PMX_T_IQ4_NL].prepare = prepare_q8_0x16;
    k->packed[PMX_T_Q4_K].prepare = k->packed[PMX_T_Q6_K].prepare = k->packed[PMX_T_IQ4_XS].prepare = pmx_avx2_prepare_q8_K;
    k->packed[PMX_T_Q5_K].prepare = k->packed[PMX_T_Q3_K].prepare = k->packed[PMX_T_Q2_K].prepare = pmx_avx2_prepare_q8_K;
    k->packed[PMX_T_Q4_1].prepare = k->packed[PMX_T_Q5_1].prepare = prepare_qx_1x16;
}
