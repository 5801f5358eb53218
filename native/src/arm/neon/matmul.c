/* NEON matmul kernels (baseline armv8-a): int8 dot products by widening multiplies (vmull_s8) folded
 * pairwise into int32 (vpadalq_s16), float types by FMA. Also the template of matmul_dotprod.c, which
 * includes this file with PMX_NEON_MATMUL_DOTPROD defined after giving dot32/dot32_small/dot16 to vdotq_s32. */
#ifndef PMX_NEON_MATMUL_DOTPROD
#include <arm_neon.h>
#include <string.h>
#include "neon.h"

/* acc += a0.b0 + a1.b1 (16 int8 lanes each), any int8 a and |b| <= 127 (the activation quantizers never
 * produce -128): two products of at most 128*127 per int16 lane stay below 2^15. The lane layout of the
 * int32 partial sums is unspecified: callers only use lane totals. */
static inline int32x4_t dot32(int32x4_t acc, int8x16_t a0, int8x16_t b0, int8x16_t a1, int8x16_t b1) {
    const int16x8_t p0 = vmlal_high_s8(vmull_s8(vget_low_s8(a0), vget_low_s8(b0)), a0, b0);
    const int16x8_t p1 = vmlal_high_s8(vmull_s8(vget_low_s8(a1), vget_low_s8(b1)), a1, b1);
    return vpadalq_s16(vpadalq_s16(acc, p0), p1);
}

/* As dot32 when |a| <= 63 and |b| <= 127 (4- and 6-bit weights against q8 activations): four products per
 * int16 lane stay below 2^15 (4 * 63 * 127 = 32004), so one widening add instead of two. */
static inline int32x4_t dot32_small(int32x4_t acc, int8x16_t a0, int8x16_t b0, int8x16_t a1, int8x16_t b1) {
    int16x8_t p = vmull_s8(vget_low_s8(a0), vget_low_s8(b0));
    p = vmlal_high_s8(p, a0, b0);
    p = vmlal_s8(p, vget_low_s8(a1), vget_low_s8(b1));
    p = vmlal_high_s8(p, a1, b1);
    return vpadalq_s16(acc, p);
}

/* acc += a.b over 16 int8 lanes, |a|, |b| <= 127. */
static inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
    return vpadalq_s16(acc, vmlal_high_s8(vmull_s8(vget_low_s8(a), vget_low_s8(b)), a, b));
}
#endif

#include "../../ref/ref.h" /* the packed-scale decoders shared with the reference */

#define PMX_INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 8")

/* Bytes ahead of the current weight block to prefetch: a few cache lines, enough to cover memory latency
 * at GEMV speed without running past the L1. */
#define PF_AHEAD 512

/* Activation columns per panel are capped so that a panel of quantized activations (~128 KiB) stays in L2
 * while every row tile of the thread's range streams past it. */
#define PANEL_BYTES (128 * 1024)

static inline float h2f(pmx_half h) {
    __fp16 v;
    memcpy(&v, &h, sizeof v);
    return (float)v;
}

static inline float ld_f32(const void *p) {
    float v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* A tile computes out[j * 4 + i] = W[i] . act[j] for 4 weight rows i and C <= 4 activation columns j:
 * column-major, so the int8 tiles store one vector per column whose lanes are the 4 rows. */
typedef void (*tile_fn)(const uint8_t *const *w, const uint8_t *const *x, int64_t n, float *out);

/* Runs rows [r0, r1) against all batch columns with 4-row tiles; tiles[0..2] take 1, 2, 4 columns. A tail
 * of fewer than 4 rows repeats the last row (its results are discarded) so there is a single row shape. */
static void run_tiles(const tile_fn tiles[3], const void *w, int64_t rb, const void *xa, int64_t xb, int64_t n,
                      int64_t batch, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    int64_t panel = PANEL_BYTES / (xb > 0 ? xb : 1);
    panel = panel < 4 ? 4 : panel & ~(int64_t)3;
    for (int64_t p0 = 0; p0 < batch; p0 += panel) {
        const int64_t p1 = batch - p0 < panel ? batch : p0 + panel;
        for (int64_t r = r0; r < r1; r += 4) {
            const int nr = r1 - r < 4 ? (int)(r1 - r) : 4;
            const uint8_t *wp[4];
            for (int i = 0; i < 4; i++) wp[i] = (const uint8_t *)w + (r + (i < nr ? i : nr - 1)) * rb;
            for (int64_t b = p0; b < p1;) {
                const int64_t left = p1 - b;
                const int nc = left >= 4 ? 4 : left >= 2 ? 2 : 1;
                const uint8_t *xp[4];
                for (int j = 0; j < 4; j++) xp[j] = (const uint8_t *)xa + (b + (j < nc ? j : 0)) * xb;
                float out[16];
                tiles[nc == 4 ? 2 : nc - 1](wp, xp, n, out);
                for (int j = 0; j < nc; j++)
                    for (int i = 0; i < nr; i++) y[(b + j) * ldy + r + i] = out[j * 4 + i];
                b += nc;
            }
        }
    }
}

#define TILES(name)                                                                                           \
    static void name##_4x1(const uint8_t *const *w, const uint8_t *const *x, int64_t n, float *out) {         \
        name##_tile(w, x, n, out, 1);                                                                         \
    }                                                                                                         \
    static void name##_4x2(const uint8_t *const *w, const uint8_t *const *x, int64_t n, float *out) {         \
        name##_tile(w, x, n, out, 2);                                                                         \
    }                                                                                                         \
    static void name##_4x4(const uint8_t *const *w, const uint8_t *const *x, int64_t n, float *out) {         \
        name##_tile(w, x, n, out, 4);                                                                         \
    }                                                                                                         \
    static const tile_fn name##_tiles[3] = {name##_4x1, name##_4x2, name##_4x4};

/* The totals of four int32x4 partial sums, one per lane: lane i = sum of s[i]. Turns the 4 row dots of a
 * column into one vector so a block costs one scale FMA per column instead of one per row. */
static inline int32x4_t row_totals(int32x4_t s0, int32x4_t s1, int32x4_t s2, int32x4_t s3) {
    return vpaddq_s32(vpaddq_s32(s0, s1), vpaddq_s32(s2, s3));
}

/* Four binary16 scales, one per row, as a float vector. */
static inline float32x4_t half4(const pmx_half h[4]) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h)));
}

/* Transposes 16 per-sub-block values of 4 rows: out[s * 4 + i] = r_i[s], so the scales of one sub-block for
 * the 4 rows load as one vector. */
static inline void transpose_4x16(int8x16_t r0, int8x16_t r1, int8x16_t r2, int8x16_t r3, int8_t out[64]) {
    const int16x8_t a = vreinterpretq_s16_s8(vzip1q_s8(r0, r1)), b = vreinterpretq_s16_s8(vzip2q_s8(r0, r1));
    const int16x8_t c = vreinterpretq_s16_s8(vzip1q_s8(r2, r3)), e = vreinterpretq_s16_s8(vzip2q_s8(r2, r3));
    vst1q_s8(out, vreinterpretq_s8_s16(vzip1q_s16(a, c)));
    vst1q_s8(out + 16, vreinterpretq_s8_s16(vzip2q_s16(a, c)));
    vst1q_s8(out + 32, vreinterpretq_s8_s16(vzip1q_s16(b, e)));
    vst1q_s8(out + 48, vreinterpretq_s8_s16(vzip2q_s16(b, e)));
}

/* ---- Q4_0, Q5_0 and Q8_0 weights against Q8_0 activations: per 32-block, y += dw * dx * int dot ---- */

PMX_INLINE void q4_0_tile(const uint8_t *const *w, const uint8_t *const *x, int64_t n, float *out, const int C) {
    float32x4_t acc[4];
    UNROLL for (int j = 0; j < C; j++) acc[j] = vdupq_n_f32(0);
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    const int8x16_t s8 = vdupq_n_s8(8);
    const int64_t nb = n / QK4_0;
    for (int64_t ib = 0; ib < nb; ib++) {
        int8x16_t w0[4], w1[4];
        pmx_half dh[4];
        UNROLL for (int i = 0; i < 4; i++) {
            const block_q4_0 *b = (const block_q4_0 *)w[i] + ib;
            __builtin_prefetch((const uint8_t *)b + PF_AHEAD);
            const uint8x16_t q = vld1q_u8(b->qs);
            w0[i] = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, m4)), s8);
            w1[i] = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), s8);
            dh[i] = b->d;
        }
        const float32x4_t dw = half4(dh);
        UNROLL for (int j = 0; j < C; j++) {
            const block_q8_0 *a = (const block_q8_0 *)x[j] + ib;
            const int8x16_t x0 = vld1q_s8(a->qs), x1 = vld1q_s8(a->qs + 16);
            int32x4_t s[4];
            UNROLL for (int i = 0; i < 4; i++) s[i] = dot32_small(vdupq_n_s32(0), w0[i], x0, w1[i], x1);
            const float32x4_t dot = vcvtq_f32_s32(row_totals(s[0], s[1], s[2], s[3]));
            acc[j] = vfmaq_f32(acc[j], dot, vmulq_n_f32(dw, h2f(a->d)));
        }
    }
    UNROLL for (int j = 0; j < C; j++) vst1q_f32(out + 4 * j, acc[j]);
}
TILES(q4_0)

/* The 5th bits of a Q5_0 / Q5_1 block (qh, bit k: element k) as byte masks: h0 lane k = 0xff where bit k is set,
 * h1 lane k where bit 16 + k is; by a table lookup of qh's bytes and a bit test. */
static inline void qh_masks(const uint8_t qh[4], uint8x16_t *h0, uint8x16_t *h1) {
    static const uint8_t bit_tbl[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    static const uint8_t idx_tbl[32] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                        2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
    uint32_t u;
    memcpy(&u, qh, sizeof u);
    const uint8x16_t h = vreinterpretq_u8_u32(vdupq_n_u32(u)), bits = vld1q_u8(bit_tbl);
    *h0 = vtstq_u8(vqtbl1q_u8(h, vld1q_u8(idx_tbl)), bits);
    *h1 = vtstq_u8(vqtbl1q_u8(h, vld1q_u8(idx_tbl + 16)), bits);
}

/* Q5_0: q - 16 in [-16, 15] as nibble | (5th bit clear ? 0xF0 : 0) (0xF0 | nib is nib - 16 as int8), so
 * |w| <= 16 suits dot32_small. */
PMX_INLINE void q5_0_tile(const uint8_t *const *w, const uint8_t *const *x, int64_t n, float *out, const int C) {
    float32x4_t acc[4];
    UNROLL for (int j = 0; j < C; j++) acc[j] = vdupq_n_f32(0);
    const uint8x16_t m4 = vdupq_n_u8(0x0f), f0 = vdupq_n_u8(0xf0);
    const int64_t nb = n / QK5_0;
    for (int64_t ib = 0; ib < nb; ib++) {
        int8x16_t w0[4], w1[4];
        pmx_half dh[4];
        UNROLL for (int i = 0; i < 4; i++) {
            const block_q5_0 *b = (const block_q5_0 *)w[i] + ib;
            __builtin_prefetch((const uint8_t *)b + PF_AHEAD);
            uint8x16_t h0, h1;
            qh_masks(b->qh, &h0, &h1);
            const uint8x16_t q = vld1q_u8(b->qs);
            w0[i] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, m4), vbicq_u8(f0, h0)));
            w1[i] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), vbicq_u8(f0, h1)));
            dh[i] = b->d;
        }
        const float32x4_t dw = half4(dh);
        UNROLL for (int j = 0; j < C; j++) {
            const block_q8_0 *a = (const block_q8_0 *)x[j] + ib;
            const int8x16_t x0 = vld1q_s8(a->qs), x1 = vld1q_s8(a->qs + 16);
            int32x4_t s[4];
            UNROLL for (int i = 0; i < 4; i++) s[i] = dot32_small(vdupq_n_s32(0), w0[i], x0, w1[i], x1);
            const float32x4_t dot = vcvtq_f32_s32(row_totals(s[0], s[1], s[2], s[3]));
            acc[j] = vfmaq_f32(acc[j], dot, vmulq_n_f32(dw, h2f(a->d)));
        }
    }
    UNROLL for (int j = 0; j < C; j++) vst1q_f32(out + 4 * j, acc[j]);
}
TILES(q5_0)

PMX_INLINE void q8_0_tile(const uint8_t *const *w, const uint8_t *const *x, int64_t n, float *out, const int C) {
    float32x4_t acc[4];
    UNROLL for (int j = 0; j < C; j++) acc[j] = vdupq_n_f32(0);
    const int64_t nb = n / QK8_0;
    for (int64_t ib = 0; ib < nb; ib++) {
        int8x16_t w0[4], w1[4];
        pmx_half dh[4];
        UNROLL for (int i = 0; i < 4; i++) {
            const block_q8_0 *b = (const block_q8_0 *)w[i] + ib;
            __builtin_prefetch((const uint8_t *)b + PF_AHEAD);
            w0[i] = vld1q_s8(b->qs);
            w1[i] = vld1q_s8(b->qs + 16);
            dh[i] = b->d;
        }
        const float32x4_t dw = half4(dh);
        UNROLL for (int j = 0; j < C; j++) {
            const block_q8_0 *a = (const block_q8_0 *)x[j] + ib;
            const int8x16_t x0 = vld1q_s8(a->qs), x1 = vld1q_s8(a->qs + 16);
            int32x4_t s[4];
            UNROLL for (int i = 0; i < 4; i++) s[i] = dot32(vdupq_n_s32(0), w0[i], x0, w1[i], x1);
            const float32x4_t dot = vcvtq_f32_s32(row_totals(s[0], s[1], s[2], s[3]));
            acc[j] = vfmaq_f32(acc[j], dot, vmulq_n_f32(dw, h2f(a->d)));
        }
    }
    UNROLL for (int j = 0; j < C; j++) vst1q_f32(out + 4 * j, acc[j]);
}
TILES(q8_0)

/* ---- Q4_K against Q8_K: per super-block, d * sum_s sc_s * (q_s . x_s) - dmin * sum_s m_s * bsum_s ---- */

/* The 6-bit scales and mins of a Q4_K super-block (ggml's get_scale_min_k4, four at a time in 32-bit
 * words): sub-blocks 0-3 keep the low 6 bits of bytes 0-3 (scales) and 4-7 (mins); sub-blocks 4-7 take
 * their low nibbles from bytes 8-11 and their top two bits from the spare top bits of bytes 0-7. */
static inline void q4_K_scales(const uint8_t *s, uint8_t sc[8], uint8_t mn[8]) {
    uint32_t u0, u1, u2;
    memcpy(&u0, s, 4);
    memcpy(&u1, s + 4, 4);
    memcpy(&u2, s + 8, 4);
    const uint32_t lo6 = 0x3f3f3f3fu, lo4 = 0x0f0f0f0fu, lo2 = 0x03030303u;
    const uint32_t s_lo = u0 & lo6, m_lo = u1 & lo6;
    const uint32_t s_hi = (u2 & lo4) | (((u0 >> 6) & lo2) << 4);
    const uint32_t m_hi = ((u2 >> 4) & lo4) | (((u1 >> 6) & lo2) << 4);
    memcpy(sc, &s_lo, 4);
    memcpy(sc + 4, &s_hi, 4);
    memcpy(mn, &m_lo, 4);
    memcpy(mn + 4, &m_hi, 4);
}

/* Q4_K, and Q5_K (five = 1: the same layout of scales, nibbles 16 bytes further on, a 5th bit per element in qh:
 * bit s of qh[l] for element l of sub-block s; 5-bit values stay within dot32_small's |a| <= 63). */
PMX_INLINE void qk_tile(const uint8_t *const *w, const uint8_t *const *x, int64_t n, float *out, const int C, const int five) {
    const int64_t bb = five ? (int64_t)sizeof(block_q5_K) : (int64_t)sizeof(block_q4_K);
    const int qs_at = five ? (int)offsetof(block_q5_K, qs) : (int)offsetof(block_q4_K, qs);
    float32x4_t acc[4];
    UNROLL for (int j = 0; j < C; j++) acc[j] = vdupq_n_f32(0);
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    const int64_t nb = n / QK_K;
    for (int64_t ib = 0; ib < nb; ib++) {
        uint8_t sc[4][8], mn[4][8];
        int8_t scv[64]; /* scv[s * 4 + i]: scale of sub-block s in row i (the mins follow, unused) */
        pmx_half dh[4], mh[4];
        UNROLL for (int i = 0; i < 4; i++) {
            const block_q4_K *b = (const block_q4_K *)(w[i] + ib * bb); /* d, dmin, scales: the same in Q5_K */
            /* 144-byte blocks (Q5_K: 176): three lines ahead covers the next block */
            __builtin_prefetch((const uint8_t *)b + PF_AHEAD);
            __builtin_prefetch((const uint8_t *)b + PF_AHEAD + 64);
            __builtin_prefetch((const uint8_t *)b + PF_AHEAD + 128);
            q4_K_scales(b->scales, sc[i], mn[i]);
            dh[i] = b->d;
            mh[i] = b->dmin;
        }
        transpose_4x16(vreinterpretq_s8_u8(vcombine_u8(vld1_u8(sc[0]), vld1_u8(mn[0]))),
                       vreinterpretq_s8_u8(vcombine_u8(vld1_u8(sc[1]), vld1_u8(mn[1]))),
                       vreinterpretq_s8_u8(vcombine_u8(vld1_u8(sc[2]), vld1_u8(mn[2]))),
                       vreinterpretq_s8_u8(vcombine_u8(vld1_u8(sc[3]), vld1_u8(mn[3]))), scv);
        int32x4_t isum[4];
        UNROLL for (int j = 0; j < C; j++) isum[j] = vdupq_n_s32(0);
        /* one 32-wide sub-block at a time keeps 4 rows of decoded weights and the sums in registers */
        for (int s = 0; s < 8; s++) {
            int8x16_t w0[4], w1[4];
            UNROLL for (int i = 0; i < 4; i++) {
                const uint8_t *blk = w[i] + ib * bb, *q = blk + qs_at + (s >> 1) * 32;
                uint8x16_t q0 = vld1q_u8(q), q1 = vld1q_u8(q + 16);
                if (s & 1) {
                    q0 = vshrq_n_u8(q0, 4);
                    q1 = vshrq_n_u8(q1, 4);
                } else {
                    q0 = vandq_u8(q0, m4);
                    q1 = vandq_u8(q1, m4);
                }
                if (five) {
                    const uint8_t *qh = ((const block_q5_K *)blk)->qh;
                    const int8x16_t sh = vdupq_n_s8((int8_t)-s);
                    const uint8x16_t one = vdupq_n_u8(1);
                    q0 = vorrq_u8(q0, vshlq_n_u8(vandq_u8(vshlq_u8(vld1q_u8(qh), sh), one), 4));
                    q1 = vorrq_u8(q1, vshlq_n_u8(vandq_u8(vshlq_u8(vld1q_u8(qh + 16), sh), one), 4));
                }
                w0[i] = vreinterpretq_s8_u8(q0);
                w1[i] = vreinterpretq_s8_u8(q1);
            }
            const int32x4_t scs = vmovl_s16(vget_low_s16(vmovl_s8(vld1_s8(scv + 4 * s))));
            UNROLL for (int j = 0; j < C; j++) {
                const int8_t *xq = ((const block_q8_K *)x[j] + ib)->qs + s * 32;
                const int8x16_t x0 = vld1q_s8(xq), x1 = vld1q_s8(xq + 16);
                int32x4_t p[4];
                UNROLL for (int i = 0; i < 4; i++) p[i] = dot32_small(vdupq_n_s32(0), w0[i], x0, w1[i], x1);
                isum[j] = vmlaq_s32(isum[j], row_totals(p[0], p[1], p[2], p[3]), scs);
            }
        }
        const float32x4_t d = half4(dh), dmin = half4(mh);
        UNROLL for (int j = 0; j < C; j++) {
            const block_q8_K *a = (const block_q8_K *)x[j] + ib;
            const float dx = ld_f32(&a->d);
            /* sums of each 32 activations, sub-block order */
            const int16x8_t bs = vpaddq_s16(vld1q_s16(a->bsums), vld1q_s16(a->bsums + 8));
            int32x4_t mp[4];
            UNROLL for (int i = 0; i < 4; i++) {
                const int16x8_t m = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mn[i])));
                mp[i] = vmlal_high_s16(vmull_s16(vget_low_s16(m), vget_low_s16(bs)), m, bs);
            }
            const float32x4_t summ = vcvtq_f32_s32(row_totals(mp[0], mp[1], mp[2], mp[3]));
            acc[j] = vfmaq_f32(acc[j], vcvtq_f32_s32(isum[j]), vmulq_n_f32(d, dx));
            acc[j] = vfmsq_f32(acc[j], summ, vmulq_n_f32(dmin, dx));
        }
    }
    UNROLL for (int j = 0; j < C; j++) vst1q_f32(out + 4 * j, acc[j]);
}
#define q4_K_tile(w, x, n, out, C) qk_tile(w, x, n, out, C, 0)
#define q5_K_tile(w, x, n, out, C) qk_tile(w, x, n, out, C, 1)
TILES(q4_K)
TILES(q5_K)

/* Sixteen per-sub-block values v of a row (scales, mins) times the 16 block sums of a Q8_K block, as int32x4 partial
 * sums (callers use the lane total). */
static inline int32x4_t bsums_dot(int8x16_t v, const int16_t *bsums) {
    const int16x8_t bs0 = vld1q_s16(bsums), bs1 = vld1q_s16(bsums + 8);
    const int16x8_t v0 = vmovl_s8(vget_low_s8(v)), v1 = vmovl_high_s8(v);
    int32x4_t t = vmull_s16(vget_low_s16(v0), vget_low_s16(bs0));
    t = vmlal_high_s16(t, v0, bs0);
    t = vmlal_s16(t, vget_low_s16(v1), vget_low_s16(bs1));
    return vmlal_high_s16(t, v1, bs1);
}

/* ---- Q6_K against Q8_K: weights taken as unsigned 0..63, the -32 offset applied once per super-block
 * through the activation block sums: d * (sum_s sc_s * (q_s . x_s) - 32 * sum_s sc_s * bsum_s) ---- */

/* The 32 weights of group g (0..7, elements 32g..32g+31) of a Q6_K block as two int8x16 in 0..63. A half
 * (128 elements) stores low nibbles in ql[64] (groups 0,1 low nibbles, groups 2,3 high nibbles of the same
 * bytes) and the top two bits in qh[32], bit pair g%4 of each byte. */
static inline void q6_K_group(const block_q6_K *b, int g, int8x16_t *a0, int8x16_t *a1) {
    const int h = g >> 2, gg = g & 3;
    const uint8_t *ql = b->ql + h * 64 + (gg & 1) * 32, *qh = b->qh + h * 32;
    const int8x16_t lo_shift = vdupq_n_s8((int8_t)(-4 * (gg >> 1))), hi_shift = vdupq_n_s8((int8_t)(-2 * gg));
    const uint8x16_t m4 = vdupq_n_u8(0x0f), m2 = vdupq_n_u8(0x03);
    const uint8x16_t l0 = vandq_u8(vshlq_u8(vld1q_u8(ql), lo_shift), m4);
    const uint8x16_t l1 = vandq_u8(vshlq_u8(vld1q_u8(ql + 16), lo_shift), m4);
    const uint8x16_t h0 = vshlq_n_u8(vandq_u8(vshlq_u8(vld1q_u8(qh), hi_shift), m2), 4);
    const uint8x16_t h1 = vshlq_n_u8(vandq_u8(vshlq_u8(vld1q_u8(qh + 16), hi_shift), m2), 4);
    *a0 = vreinterpretq_s8_u8(vorrq_u8(l0, h0));
    *a1 = vreinterpretq_s8_u8(vorrq_u8(l1, h1));
}

PMX_INLINE void q6_K_tile(const uint8_t *const *w, const uint8_t *const *x, int64_t n, float *out, const int C) {
    float32x4_t acc[4];
    UNROLL for (int j = 0; j < C; j++) acc[j] = vdupq_n_f32(0);
    const int64_t nb = n / QK_K;
    for (int64_t ib = 0; ib < nb; ib++) {
        int8_t scv[64]; /* scv[s * 4 + i]: scale of 16-wide sub-block s in row i */
        pmx_half dh[4];
        UNROLL for (int i = 0; i < 4; i++) {
            const block_q6_K *b = (const block_q6_K *)w[i] + ib;
            /* 210-byte blocks: four lines ahead covers the next block */
            __builtin_prefetch((const uint8_t *)b + PF_AHEAD);
            __builtin_prefetch((const uint8_t *)b + PF_AHEAD + 64);
            __builtin_prefetch((const uint8_t *)b + PF_AHEAD + 128);
            __builtin_prefetch((const uint8_t *)b + PF_AHEAD + 192);
            dh[i] = b->d;
        }
        int8x16_t rs[4];
        UNROLL for (int i = 0; i < 4; i++) rs[i] = vld1q_s8(((const block_q6_K *)w[i] + ib)->scales);
        transpose_4x16(rs[0], rs[1], rs[2], rs[3], scv);
        int32x4_t isum[4];
        UNROLL for (int j = 0; j < C; j++) isum[j] = vdupq_n_s32(0);
        for (int g = 0; g < 8; g++) {
            int8x16_t w0[4], w1[4];
            UNROLL for (int i = 0; i < 4; i++) q6_K_group((const block_q6_K *)w[i] + ib, g, &w0[i], &w1[i]);
            const int16x8_t sc01 = vmovl_s8(vld1_s8(scv + 8 * g));
            const int32x4_t sc0 = vmovl_s16(vget_low_s16(sc01)), sc1 = vmovl_high_s16(sc01);
            UNROLL for (int j = 0; j < C; j++) {
                const int8_t *xq = ((const block_q8_K *)x[j] + ib)->qs + g * 32;
                const int8x16_t x0 = vld1q_s8(xq), x1 = vld1q_s8(xq + 16);
                int32x4_t p[4];
                UNROLL for (int i = 0; i < 4; i++) p[i] = dot16(vdupq_n_s32(0), w0[i], x0);
                isum[j] = vmlaq_s32(isum[j], row_totals(p[0], p[1], p[2], p[3]), sc0);
                UNROLL for (int i = 0; i < 4; i++) p[i] = dot16(vdupq_n_s32(0), w1[i], x1);
                isum[j] = vmlaq_s32(isum[j], row_totals(p[0], p[1], p[2], p[3]), sc1);
            }
        }
        const float32x4_t d = half4(dh);
        UNROLL for (int j = 0; j < C; j++) {
            const block_q8_K *a = (const block_q8_K *)x[j] + ib;
            int32x4_t bias[4];
            UNROLL for (int i = 0; i < 4; i++) bias[i] = bsums_dot(vld1q_s8(((const block_q6_K *)w[i] + ib)->scales), a->bsums);
            const int32x4_t b32 = vshlq_n_s32(row_totals(bias[0], bias[1], bias[2], bias[3]), 5);
            const int32x4_t sumi = vsubq_s32(isum[j], b32);
            acc[j] = vfmaq_f32(acc[j], vcvtq_f32_s32(sumi), vmulq_n_f32(d, ld_f32(&a->d)));
        }
    }
    UNROLL for (int j = 0; j < C; j++) vst1q_f32(out + 4 * j, acc[j]);
}
TILES(q6_K)

/* ---- Q4_1 and Q5_1 (x = q d + m) and IQ4_NL (x = d * level) against Q8_0: per 32-block, dw * dx * (q . x), plus
 * m * dx * (sum of the block's activations) for Q4_1 / Q5_1 ---- */

enum { W_Q4_1, W_Q5_1, W_IQ4_NL };

/* Q4_1 / Q5_1 quants are unsigned 0..15 / 0..31 (dot32_small); IQ4_NL's nibbles index its 16 levels (-127..113: any
 * int8, so dot32) by a table lookup. */
PMX_INLINE void q32_tile(const uint8_t *const *w, const uint8_t *const *x, int64_t n, float *out, const int C,
                         const int kind) {
    const int64_t bb = kind == W_Q4_1   ? (int64_t)sizeof(block_q4_1)
                       : kind == W_Q5_1 ? (int64_t)sizeof(block_q5_1)
                                        : (int64_t)sizeof(block_iq4_nl);
    const int qs_at = kind == W_Q4_1   ? (int)offsetof(block_q4_1, qs)
                      : kind == W_Q5_1 ? (int)offsetof(block_q5_1, qs)
                                       : (int)offsetof(block_iq4_nl, qs);
    float32x4_t acc[4];
    UNROLL for (int j = 0; j < C; j++) acc[j] = vdupq_n_f32(0);
    const uint8x16_t m4 = vdupq_n_u8(0x0f), b4 = vdupq_n_u8(0x10);
    const int8x16_t levels = vld1q_s8(pmx_kvalues_iq4nl);
    const int64_t nb = n / QK8_0;
    for (int64_t ib = 0; ib < nb; ib++) {
        int8x16_t w0[4], w1[4];
        pmx_half dh[4], mh[4];
        UNROLL for (int i = 0; i < 4; i++) {
            const uint8_t *blk = w[i] + ib * bb; /* d first in all three; Q4_1 / Q5_1: m next */
            __builtin_prefetch(blk + PF_AHEAD);
            const uint8x16_t q = vld1q_u8(blk + qs_at);
            uint8x16_t lo = vandq_u8(q, m4), hi = vshrq_n_u8(q, 4);
            memcpy(&dh[i], blk, sizeof dh[i]);
            if (kind == W_IQ4_NL) {
                w0[i] = vqtbl1q_s8(levels, lo);
                w1[i] = vqtbl1q_s8(levels, hi);
                continue;
            }
            memcpy(&mh[i], blk + sizeof(pmx_half), sizeof mh[i]);
            if (kind == W_Q5_1) {
                uint8x16_t h0, h1;
                qh_masks(((const block_q5_1 *)blk)->qh, &h0, &h1);
                lo = vorrq_u8(lo, vandq_u8(h0, b4));
                hi = vorrq_u8(hi, vandq_u8(h1, b4));
            }
            w0[i] = vreinterpretq_s8_u8(lo);
            w1[i] = vreinterpretq_s8_u8(hi);
        }
        const float32x4_t dw = half4(dh), dm = kind == W_IQ4_NL ? vdupq_n_f32(0) : half4(mh);
        UNROLL for (int j = 0; j < C; j++) {
            const block_q8_0 *a = (const block_q8_0 *)x[j] + ib;
            const int8x16_t x0 = vld1q_s8(a->qs), x1 = vld1q_s8(a->qs + 16);
            int32x4_t s[4];
            if (kind == W_IQ4_NL) {
                UNROLL for (int i = 0; i < 4; i++) s[i] = dot32(vdupq_n_s32(0), w0[i], x0, w1[i], x1);
            } else {
                UNROLL for (int i = 0; i < 4; i++) s[i] = dot32_small(vdupq_n_s32(0), w0[i], x0, w1[i], x1);
            }
            const float dx = h2f(a->d);
            const float32x4_t dot = vcvtq_f32_s32(row_totals(s[0], s[1], s[2], s[3]));
            acc[j] = vfmaq_f32(acc[j], dot, vmulq_n_f32(dw, dx));
            if (kind != W_IQ4_NL) {
                const int32_t sum = vaddlvq_s8(x0) + vaddlvq_s8(x1);
                acc[j] = vfmaq_f32(acc[j], dm, vdupq_n_f32(dx * (float)sum));
            }
        }
    }
    UNROLL for (int j = 0; j < C; j++) vst1q_f32(out + 4 * j, acc[j]);
}
#define q4_1_tile(w, x, n, out, C) q32_tile(w, x, n, out, C, W_Q4_1)
#define q5_1_tile(w, x, n, out, C) q32_tile(w, x, n, out, C, W_Q5_1)
#define iq4_nl_tile(w, x, n, out, C) q32_tile(w, x, n, out, C, W_IQ4_NL)
TILES(q4_1)
TILES(q5_1)
TILES(iq4_nl)

/* Prefetches the block of `bytes` PF_AHEAD past b, every line it touches. */
PMX_INLINE void prefetch_block(const uint8_t *b, const int bytes) {
    for (int k = 0; k < bytes; k += 64) __builtin_prefetch(b + PF_AHEAD + k);
    __builtin_prefetch(b + PF_AHEAD + bytes - 1);
}

/* ---- Q2_K and Q3_K against Q8_K: 16 sub-blocks of 16 and 2-bit planes. Per 128 elements h and plane k, the 32 quants
 * of elements 128h + 32k .. + 31 (sub-blocks 8h + 2k and 8h + 2k + 1) are bits 2k, 2k + 1 of qs[32h .. 32h + 31];
 * Q3_K's third bit is bit 4h + k of hmask[0 .. 31], and its quants are taken as q - 4 (-4..3). Per super-block
 * d * sum_j sc_j * (q_j . x_j), minus Q2_K's dmin * sum_j m_j * bsum_j. The scales are transposed as Q6_K's. ---- */

enum { W_Q2_K, W_Q3_K };

PMX_INLINE void q23_K_tile(const uint8_t *const *w, const uint8_t *const *x, int64_t n, float *out, const int C,
                           const int kind) {
    const int64_t bb = kind == W_Q2_K ? (int64_t)sizeof(block_q2_K) : (int64_t)sizeof(block_q3_K);
    const int qs_at = kind == W_Q2_K ? (int)offsetof(block_q2_K, qs) : (int)offsetof(block_q3_K, qs);
    float32x4_t acc[4];
    UNROLL for (int j = 0; j < C; j++) acc[j] = vdupq_n_f32(0);
    const uint8x16_t m3 = vdupq_n_u8(3), m4 = vdupq_n_u8(0x0f), one = vdupq_n_u8(1);
    const int8x16_t four = vdupq_n_s8(4);
    const int64_t nb = n / QK_K;
    for (int64_t ib = 0; ib < nb; ib++) {
        int8_t scv[64]; /* scv[s * 4 + i]: scale of 16-wide sub-block s in row i */
        int8x16_t rs[4], mins[4];
        pmx_half dh[4], mh[4];
        UNROLL for (int i = 0; i < 4; i++) {
            const uint8_t *blk = w[i] + ib * bb;
            if (kind == W_Q2_K) {
                const block_q2_K *b = (const block_q2_K *)blk;
                prefetch_block(blk, sizeof *b);
                const uint8x16_t v = vld1q_u8(b->scales);
                rs[i] = vreinterpretq_s8_u8(vandq_u8(v, m4));
                mins[i] = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
                dh[i] = b->d;
                mh[i] = b->dmin;
            } else {
                const block_q3_K *b = (const block_q3_K *)blk;
                prefetch_block(blk, sizeof *b);
                int8_t s8[16];
                pmx_q3_K_scales_unpack(b->scales, s8);
                rs[i] = vld1q_s8(s8);
                dh[i] = b->d;
            }
        }
        transpose_4x16(rs[0], rs[1], rs[2], rs[3], scv);
        int32x4_t isum[4];
        UNROLL for (int j = 0; j < C; j++) isum[j] = vdupq_n_s32(0);
        for (int g = 0; g < 8; g++) { /* g = 4h + k: sub-blocks 2g and 2g + 1 */
            const int h = g >> 2;
            const int8x16_t lo_shift = vdupq_n_s8((int8_t)(-2 * (g & 3))), hi_shift = vdupq_n_s8((int8_t)-g);
            int8x16_t w0[4], w1[4];
            UNROLL for (int i = 0; i < 4; i++) {
                const uint8_t *blk = w[i] + ib * bb, *qs = blk + qs_at + 32 * h;
                uint8x16_t q0 = vandq_u8(vshlq_u8(vld1q_u8(qs), lo_shift), m3);
                uint8x16_t q1 = vandq_u8(vshlq_u8(vld1q_u8(qs + 16), lo_shift), m3);
                if (kind == W_Q3_K) {
                    const uint8_t *hm = ((const block_q3_K *)blk)->hmask;
                    q0 = vorrq_u8(q0, vshlq_n_u8(vandq_u8(vshlq_u8(vld1q_u8(hm), hi_shift), one), 2));
                    q1 = vorrq_u8(q1, vshlq_n_u8(vandq_u8(vshlq_u8(vld1q_u8(hm + 16), hi_shift), one), 2));
                    w0[i] = vsubq_s8(vreinterpretq_s8_u8(q0), four);
                    w1[i] = vsubq_s8(vreinterpretq_s8_u8(q1), four);
                } else {
                    w0[i] = vreinterpretq_s8_u8(q0);
                    w1[i] = vreinterpretq_s8_u8(q1);
                }
            }
            const int16x8_t sc01 = vmovl_s8(vld1_s8(scv + 8 * g));
            const int32x4_t sc0 = vmovl_s16(vget_low_s16(sc01)), sc1 = vmovl_high_s16(sc01);
            UNROLL for (int j = 0; j < C; j++) {
                const int8_t *xq = ((const block_q8_K *)x[j] + ib)->qs + g * 32;
                const int8x16_t x0 = vld1q_s8(xq), x1 = vld1q_s8(xq + 16);
                int32x4_t p[4];
                UNROLL for (int i = 0; i < 4; i++) p[i] = dot16(vdupq_n_s32(0), w0[i], x0);
                isum[j] = vmlaq_s32(isum[j], row_totals(p[0], p[1], p[2], p[3]), sc0);
                UNROLL for (int i = 0; i < 4; i++) p[i] = dot16(vdupq_n_s32(0), w1[i], x1);
                isum[j] = vmlaq_s32(isum[j], row_totals(p[0], p[1], p[2], p[3]), sc1);
            }
        }
        const float32x4_t d = half4(dh);
        UNROLL for (int j = 0; j < C; j++) {
            const block_q8_K *a = (const block_q8_K *)x[j] + ib;
            const float dx = ld_f32(&a->d);
            acc[j] = vfmaq_f32(acc[j], vcvtq_f32_s32(isum[j]), vmulq_n_f32(d, dx));
            if (kind == W_Q2_K) {
                int32x4_t mp[4];
                UNROLL for (int i = 0; i < 4; i++) mp[i] = bsums_dot(mins[i], a->bsums);
                const float32x4_t summ = vcvtq_f32_s32(row_totals(mp[0], mp[1], mp[2], mp[3]));
                acc[j] = vfmsq_f32(acc[j], summ, vmulq_n_f32(half4(mh), dx));
            }
        }
    }
    UNROLL for (int j = 0; j < C; j++) vst1q_f32(out + 4 * j, acc[j]);
}
#define q2_K_tile(w, x, n, out, C) q23_K_tile(w, x, n, out, C, W_Q2_K)
#define q3_K_tile(w, x, n, out, C) q23_K_tile(w, x, n, out, C, W_Q3_K)
TILES(q2_K)
TILES(q3_K)

/* ---- IQ4_XS against Q8_K: 8 sub-blocks of 32, nibbles indexing IQ4_NL's levels (dot32), signed 6-bit scales
 * ls - 32 transposed as Q4_K's: d * sum_s sc_s * (q_s . x_s) ---- */

PMX_INLINE void iq4_xs_tile(const uint8_t *const *w, const uint8_t *const *x, int64_t n, float *out, const int C) {
    float32x4_t acc[4];
    UNROLL for (int j = 0; j < C; j++) acc[j] = vdupq_n_f32(0);
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    const int8x16_t levels = vld1q_s8(pmx_kvalues_iq4nl);
    const int64_t nb = n / QK_K;
    for (int64_t ib = 0; ib < nb; ib++) {
        int8_t sc[4][16] = {{0}}, scv[64]; /* scv[s * 4 + i]: scale of sub-block s in row i (s >= 8: unused) */
        pmx_half dh[4];
        UNROLL for (int i = 0; i < 4; i++) {
            const block_iq4_xs *b = (const block_iq4_xs *)w[i] + ib;
            prefetch_block((const uint8_t *)b, sizeof *b);
            for (int s = 0; s < 8; s++) sc[i][s] = (int8_t)(pmx_iq4_xs_scale(b, s) - 32);
            dh[i] = b->d;
        }
        transpose_4x16(vld1q_s8(sc[0]), vld1q_s8(sc[1]), vld1q_s8(sc[2]), vld1q_s8(sc[3]), scv);
        int32x4_t isum[4];
        UNROLL for (int j = 0; j < C; j++) isum[j] = vdupq_n_s32(0);
        for (int s = 0; s < 8; s++) {
            int8x16_t w0[4], w1[4];
            UNROLL for (int i = 0; i < 4; i++) {
                const uint8x16_t q = vld1q_u8(((const block_iq4_xs *)w[i] + ib)->qs + 16 * s);
                w0[i] = vqtbl1q_s8(levels, vandq_u8(q, m4));
                w1[i] = vqtbl1q_s8(levels, vshrq_n_u8(q, 4));
            }
            const int32x4_t scs = vmovl_s16(vget_low_s16(vmovl_s8(vld1_s8(scv + 4 * s))));
            UNROLL for (int j = 0; j < C; j++) {
                const int8_t *xq = ((const block_q8_K *)x[j] + ib)->qs + s * 32;
                const int8x16_t x0 = vld1q_s8(xq), x1 = vld1q_s8(xq + 16);
                int32x4_t p[4];
                UNROLL for (int i = 0; i < 4; i++) p[i] = dot32(vdupq_n_s32(0), w0[i], x0, w1[i], x1);
                isum[j] = vmlaq_s32(isum[j], row_totals(p[0], p[1], p[2], p[3]), scs);
            }
        }
        const float32x4_t d = half4(dh);
        UNROLL for (int j = 0; j < C; j++) {
            const float dx = ld_f32(&((const block_q8_K *)x[j] + ib)->d);
            acc[j] = vfmaq_f32(acc[j], vcvtq_f32_s32(isum[j]), vmulq_n_f32(d, dx));
        }
    }
    UNROLL for (int j = 0; j < C; j++) vst1q_f32(out + 4 * j, acc[j]);
}
TILES(iq4_xs)

#define INT8_MATMUL(name, T)                                                                                  \
    static void matmul_##name(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy, \
                              int64_t r0, int64_t r1) {                                                       \
        run_tiles(name##_tiles, w, pmx_row_bytes(T, n), xa, pmx_act_row_bytes(T, n), n, batch, y, ldy, r0,   \
                  r1);                                                                                        \
    }
INT8_MATMUL(q4_0, PMX_T_Q4_0)
INT8_MATMUL(q5_0, PMX_T_Q5_0)
INT8_MATMUL(q8_0, PMX_T_Q8_0)
INT8_MATMUL(q4_K, PMX_T_Q4_K)
INT8_MATMUL(q5_K, PMX_T_Q5_K)
INT8_MATMUL(q6_K, PMX_T_Q6_K)
INT8_MATMUL(q4_1, PMX_T_Q4_1)
INT8_MATMUL(q5_1, PMX_T_Q5_1)
INT8_MATMUL(iq4_nl, PMX_T_IQ4_NL)
INT8_MATMUL(q2_K, PMX_T_Q2_K)
INT8_MATMUL(q3_K, PMX_T_Q3_K)
INT8_MATMUL(iq4_xs, PMX_T_IQ4_XS)

#ifndef PMX_NEON_MATMUL_DOTPROD

/* ---- float weights (F32, F16, BF16) against float activations ---- */

enum { KIND_F32, KIND_F16, KIND_BF16 };

/* Weights k..k+7 of a row as floats. */
PMX_INLINE void load8(int kind, const uint8_t *row, int64_t k, float32x4_t *lo, float32x4_t *hi) {
    if (kind == KIND_F32) {
        const float *p = (const float *)row + k;
        *lo = vld1q_f32(p);
        *hi = vld1q_f32(p + 4);
    } else if (kind == KIND_F16) {
        const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16((const uint16_t *)row + k));
        *lo = vcvt_f32_f16(vget_low_f16(h));
        *hi = vcvt_high_f32_f16(h);
    } else {
        /* bf16 is the top half of an f32 */
        const uint16x8_t h = vld1q_u16((const uint16_t *)row + k);
        *lo = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16));
        *hi = vreinterpretq_f32_u32(vshll_high_n_u16(h, 16));
    }
}

PMX_INLINE float load1(int kind, const uint8_t *row, int64_t k) {
    if (kind == KIND_F32) return ((const float *)row)[k];
    const uint16_t h = ((const uint16_t *)row)[k];
    return kind == KIND_F16 ? h2f(h) : pmx_bf16_to_f32(h);
}

PMX_INLINE void float_tile(int kind, const uint8_t *const *w, const uint8_t *const *x, int64_t n, float *out,
                           const int C) {
    const int R = 4;
    /* a single column gets two accumulators per row so that 8 FMA chains are in flight */
    const int A = C == 1 ? 2 : 1;
    const int64_t esize = kind == KIND_F32 ? 4 : 2;
    float32x4_t acc[4][4][2];
    UNROLL for (int i = 0; i < R; i++) UNROLL for (int j = 0; j < C; j++) {
        acc[i][j][0] = vdupq_n_f32(0);
        acc[i][j][A - 1] = vdupq_n_f32(0);
    }
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) {
        float32x4_t wl[4], wh[4];
        UNROLL for (int i = 0; i < R; i++) {
            __builtin_prefetch(w[i] + k * esize + PF_AHEAD);
            load8(kind, w[i], k, &wl[i], &wh[i]);
        }
        UNROLL for (int j = 0; j < C; j++) {
            const float *xj = (const float *)x[j] + k;
            const float32x4_t xl = vld1q_f32(xj), xh = vld1q_f32(xj + 4);
            UNROLL for (int i = 0; i < R; i++) {
                acc[i][j][0] = vfmaq_f32(acc[i][j][0], wl[i], xl);
                acc[i][j][A - 1] = vfmaq_f32(acc[i][j][A - 1], wh[i], xh);
            }
        }
    }
    UNROLL for (int i = 0; i < R; i++) UNROLL for (int j = 0; j < C; j++) {
        float s = vaddvq_f32(A == 2 ? vaddq_f32(acc[i][j][0], acc[i][j][1]) : acc[i][j][0]);
        for (int64_t t = k; t < n; t++) s += load1(kind, w[i], t) * ((const float *)x[j])[t];
        out[j * 4 + i] = s;
    }
}

PMX_INLINE void f32_tile(const uint8_t *const *w, const uint8_t *const *x, int64_t n, float *out, int C) {
    float_tile(KIND_F32, w, x, n, out, C);
}
PMX_INLINE void f16_tile(const uint8_t *const *w, const uint8_t *const *x, int64_t n, float *out, int C) {
    float_tile(KIND_F16, w, x, n, out, C);
}
PMX_INLINE void bf16_tile(const uint8_t *const *w, const uint8_t *const *x, int64_t n, float *out, int C) {
    float_tile(KIND_BF16, w, x, n, out, C);
}
TILES(f32)
TILES(f16)
TILES(bf16)

#define FLOAT_MATMUL(name, T)                                                                                 \
    static void matmul_##name(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy, \
                              int64_t r0, int64_t r1) {                                                       \
        run_tiles(name##_tiles, w, pmx_row_bytes(T, n), xa, n * (int64_t)sizeof(float), n, batch, y, ldy, r0, \
                  r1);                                                                                        \
    }
FLOAT_MATMUL(f32, PMX_T_F32)
FLOAT_MATMUL(f16, PMX_T_F16)
FLOAT_MATMUL(bf16, PMX_T_BF16)

/* ---- activation quantization, rounding as ggml's reference quantizers ---- */

/* Q8_0: d = amax / 127, q = round-half-away(x / d) (vcvtaq is roundf), d stored as binary16. */
static void prepare_q8_0(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1) {
    const int64_t nb = n / QK8_0;
    for (int64_t b = b0; b < b1; b++) {
        block_q8_0 *yb = (block_q8_0 *)xa + b * nb;
        const float *xr = x + b * n;
        for (int64_t ib = 0; ib < nb; ib++) {
            float32x4_t v[8];
            for (int t = 0; t < 8; t++) v[t] = vld1q_f32(xr + ib * QK8_0 + 4 * t);
            float32x4_t m = vabsq_f32(v[0]);
            for (int t = 1; t < 8; t++) m = vmaxq_f32(m, vabsq_f32(v[t]));
            const float d = vmaxvq_f32(m) / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
            for (int t = 0; t < 8; t += 2) {
                const int32x4_t q0 = vcvtaq_s32_f32(vmulq_n_f32(v[t], id));
                const int32x4_t q1 = vcvtaq_s32_f32(vmulq_n_f32(v[t + 1], id));
                vst1_s8(yb[ib].qs + 4 * t, vqmovn_s16(vcombine_s16(vqmovn_s32(q0), vqmovn_s32(q1))));
            }
            const __fp16 dh = (__fp16)d;
            memcpy(&yb[ib].d, &dh, sizeof dh);
        }
    }
}

/* Q8_K: the element of largest magnitude (the first of equals) maps to -127: d = max / -127,
 * q = min(127, round-half-even(x / d)) (vcvtnq, as ggml's nearest_int), plus the sums of each 16 q. */
static void prepare_q8_K(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1) {
    const int64_t nb = n / QK_K;
    for (int64_t b = b0; b < b1; b++) {
        uint8_t *row = (uint8_t *)xa + b * nb * (int64_t)sizeof(block_q8_K);
        const float *xr = x + b * n;
        for (int64_t ib = 0; ib < nb; ib++, xr += QK_K) {
            block_q8_K *yb = (block_q8_K *)(row + ib * (int64_t)sizeof(block_q8_K));
            float32x4_t m = vdupq_n_f32(0);
            for (int t = 0; t < QK_K; t += 4) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(xr + t)));
            const float amax = vmaxvq_f32(m);
            if (!(amax > 0.0f)) {
                memset(yb, 0, sizeof *yb);
                continue;
            }
            int t = 0;
            while (t < QK_K - 1 && !(xr[t] == amax || xr[t] == -amax)) t++;
            const float iscale = -127.0f / xr[t], d = 1.0f / iscale;
            memcpy(&yb->d, &d, sizeof d);
            for (int s = 0; s < QK_K / 16; s++) {
                int16x8_t q16[2];
                for (int h = 0; h < 2; h++) {
                    const float *p = xr + 16 * s + 8 * h;
                    const int32x4_t q0 = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(p), iscale));
                    const int32x4_t q1 = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(p + 4), iscale));
                    q16[h] = vcombine_s16(vqmovn_s32(q0), vqmovn_s32(q1));
                }
                const int8x16_t q = vcombine_s8(vqmovn_s16(q16[0]), vqmovn_s16(q16[1]));
                vst1q_s8(yb->qs + 16 * s, q);
                const int16_t sum = (int16_t)vaddlvq_s8(q);
                memcpy(&yb->bsums[s], &sum, sizeof sum);
            }
        }
    }
}

void pmx_neon_register_matmul(pmx_kernels *k) {
    k->matmul[PMX_T_F32] = (pmx_matmul_kernel){NULL, matmul_f32, NULL};
    k->matmul[PMX_T_F16] = (pmx_matmul_kernel){NULL, matmul_f16, NULL};
    k->matmul[PMX_T_BF16] = (pmx_matmul_kernel){pmx_ref_prepare_bf16, matmul_bf16, NULL};
    k->matmul[PMX_T_Q8_0] = (pmx_matmul_kernel){prepare_q8_0, matmul_q8_0, NULL};
    k->matmul[PMX_T_Q4_0] = (pmx_matmul_kernel){prepare_q8_0, matmul_q4_0, NULL};
    k->matmul[PMX_T_Q5_0] = (pmx_matmul_kernel){prepare_q8_0, matmul_q5_0, NULL};
    k->matmul[PMX_T_Q4_K] = (pmx_matmul_kernel){prepare_q8_K, matmul_q4_K, NULL};
    k->matmul[PMX_T_Q6_K] = (pmx_matmul_kernel){prepare_q8_K, matmul_q6_K, NULL};
    k->matmul[PMX_T_Q5_K] = (pmx_matmul_kernel){prepare_q8_K, matmul_q5_K, NULL};
    k->matmul[PMX_T_Q4_1] = (pmx_matmul_kernel){prepare_q8_0, matmul_q4_1, NULL};
    k->matmul[PMX_T_Q5_1] = (pmx_matmul_kernel){prepare_q8_0, matmul_q5_1, NULL};
    k->matmul[PMX_T_IQ4_NL] = (pmx_matmul_kernel){prepare_q8_0, matmul_iq4_nl, NULL};
    k->matmul[PMX_T_Q2_K] = (pmx_matmul_kernel){prepare_q8_K, matmul_q2_K, NULL};
    k->matmul[PMX_T_Q3_K] = (pmx_matmul_kernel){prepare_q8_K, matmul_q3_K, NULL};
    k->matmul[PMX_T_IQ4_XS] = (pmx_matmul_kernel){prepare_q8_K, matmul_iq4_xs, NULL};
}
#endif
