/* Scalar reference quantizers and dequantizers. Each rounds exactly as ggml's quantize_row_*_ref (same
 * float operations in the same order), so a row quantized here has llama.cpp's bytes for the same floats. */

/* The rounding is defined by the C source evaluated one operation at a time: a fused multiply-add (which
 * gcc would otherwise form on aarch64) moves values across nearest_int's rounding boundaries. */
#pragma GCC optimize("fp-contract=off")

#include <math.h>
#include <string.h>
#include "ref.h"

/* ggml's GROUP_MAX_EPS: below this a group counts as all zero */
#define GROUP_MAX_EPS 1e-15f

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

/* Round half to even via the 1.5 * 2^23 trick, as ggml's nearest_int; valid for |f| <= 2^22 - 1. */
static inline int nearest_int(float f) {
    const float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* (int8_t)v as x86 computes it (cvttss2si, then the low byte), without C's undefined behaviour for NaN and values
 * outside int32 (a hostile file's weights, NaN activations): those give INT32_MIN, whose low byte is 0. Bit-exact with
 * ggml's plain casts on x86 for every input. */
static inline int8_t to_i8(float v) {
    return (int8_t)(v == v && v > -2147483648.0f && v < 2147483648.0f ? (int32_t)v : INT32_MIN);
}

/* ---- Q8_0: d = amax / 127, q = roundf(x / d) (half away from zero) ---- */

void pmx_ref_quantize_row_q8_0(block_q8_0 *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++) {
            const float a = fabsf(x[j]);
            amax = amax > a ? amax : a;
        }
        const float d = amax / 127;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = pmx_f32_to_half(d);
        for (int j = 0; j < QK8_0; j++) y[i].qs[j] = to_i8(roundf(x[j] * id));
    }
}

static void dequantize_q8_0(float *y, const block_q8_0 *x, int64_t n) {
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const float d = pmx_half_to_f32(x[i].d);
        for (int j = 0; j < QK8_0; j++) *y++ = x[i].qs[j] * d;
    }
}

/* ---- Q4_0: the signed extreme maps to -8, d = max / -8; q = trunc(x / d + 8.5) capped at 15, so the
 * opposite extreme (+8) lands on 7: one step of error there. ---- */

static void quantize_q4_0(block_q4_0 *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n / QK4_0; i++, x += QK4_0) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK4_0; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -8;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = pmx_f32_to_half(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            const float x0 = x[j] * id, x1 = x[QK4_0 / 2 + j] * id;
            const uint8_t q0 = (uint8_t)imin(15, to_i8(x0 + 8.5f));
            const uint8_t q1 = (uint8_t)imin(15, to_i8(x1 + 8.5f));
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

static void dequantize_q4_0(float *y, const block_q4_0 *x, int64_t n) {
    for (int64_t i = 0; i < n / QK4_0; i++, y += QK4_0) {
        const float d = pmx_half_to_f32(x[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[j] = ((x[i].qs[j] & 0x0f) - 8) * d;
            y[j + QK4_0 / 2] = ((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

/* ---- Q5_0: as Q4_0 with 5 bits: d = max / -16, q = trunc(x / d + 16.5) capped at 31 (the +16 extreme lands
 * on 15). The 5th bits go to qh, bit j for element j (a little-endian uint32), nibbles as Q4_0's. ---- */

static void quantize_q5_0(block_q5_0 *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n / QK5_0; i++, x += QK5_0) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK5_0; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -16;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = pmx_f32_to_half(d);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            const float x0 = x[j] * id, x1 = x[QK5_0 / 2 + j] * id;
            const uint8_t q0 = (uint8_t)imin(31, to_i8(x0 + 16.5f));
            const uint8_t q1 = (uint8_t)imin(31, to_i8(x1 + 16.5f));
            y[i].qs[j] = (uint8_t)((q0 & 0x0f) | ((q1 & 0x0f) << 4));
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + QK5_0 / 2);
        }
        y[i].qh[0] = (uint8_t)qh, y[i].qh[1] = (uint8_t)(qh >> 8), y[i].qh[2] = (uint8_t)(qh >> 16);
        y[i].qh[3] = (uint8_t)(qh >> 24);
    }
}

/* The 5-bit quant of element j (0..31) of a block. */
static inline int q5_0_quant(const block_q5_0 *b, int j) {
    const int nib = j < QK5_0 / 2 ? b->qs[j] & 0x0f : b->qs[j - QK5_0 / 2] >> 4;
    return nib | (((b->qh[j / 8] >> (j % 8)) & 1) << 4);
}

static void dequantize_q5_0(float *y, const block_q5_0 *x, int64_t n) {
    for (int64_t i = 0; i < n / QK5_0; i++, y += QK5_0) {
        const float d = pmx_half_to_f32(x[i].d);
        for (int j = 0; j < QK5_0; j++) y[j] = (q5_0_quant(&x[i], j) - 16) * d;
    }
}

/* ---- Q4_K ---- */

/* The longest run make_qkx2_quants fits (Q4_K/Q5_K: 32 values, Q2_K: 16). */
#define QKX2_MAX_N 32

/* With gcc on x86-64 the function is compiled twice, for AVX2 and for the baseline, and the loader picks one (the
 * same C operations in the same order: contraction is off, so both give the same floats). Compiled once elsewhere:
 * clang (the fuzzing build), other architectures, and sanitizer builds (the loader runs the clone's ifunc resolver
 * before the ThreadSanitizer runtime is up, which crashes every program at start). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__) && \
    !defined(__SANITIZE_ADDRESS__)
#define PMX_QUANT_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define PMX_QUANT_CLONES
#endif

/* ggml's make_qkx2_quants: L in [0, nmax] with x ~ scale * L - the_min, the scale and
 * min chosen by a weighted least-squares fit over nstep + 1 trial inverse scales (n <= QKX2_MAX_N). */
PMX_QUANT_CLONES
static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min,
                              float rmin, float rdelta, int nstep, int use_mad) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; i++) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        const int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)imax(0, imin(nmax, l));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    /* A trial's per-value products are independent, so the compiler vectorizes them; only the sums run in ggml's
     * order of i, one add at a time, and so are the floats ggml's loop computes. Quantizing to the K-quants is mostly
     * this loop: split so, it takes 0.6-0.8x the time of the loop written as ggml's. */
    float fl[QKX2_MAX_N], wl[QKX2_MAX_N], wl2[QKX2_MAX_N], wlx[QKX2_MAX_N], werr[QKX2_MAX_N];
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        for (int i = 0; i < n; i++) {
            float l = (float)nearest_int(iscale * (x[i] - min)); /* an integer: clamped as ggml clamps the int */
            l = l < 0.f ? 0.f : l;
            l = l > (float)nmax ? (float)nmax : l;
            fl[i] = l;
            wl[i] = weights[i] * l;
            wl2[i] = wl[i] * l;
            wlx[i] = wl[i] * x[i];
        }
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            sum_l += wl[i];
            sum_l2 += wl2[i];
            sum_xl += wlx[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            for (int i = 0; i < n; i++) {
                float diff = this_scale * fl[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                werr[i] = weights[i] * diff;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) cur_error += werr[i];
            if (cur_error < best_error) {
                for (int i = 0; i < n; i++) L[i] = (uint8_t)fl[i];
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* The 8 sub-block scales and mins as 6-bit values in Q4_K's / Q5_K's 12 bytes (pmx_get_scale_min_k4 reads them). */
static void pack_scales_k4(uint8_t *out, const float *scales, const float *mins, float inv_scale, float inv_min) {
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
        ls = (uint8_t)imin(63, ls);
        lm = (uint8_t)imin(63, lm);
        if (j < 4) {
            out[j] = ls;
            out[j + 4] = lm;
        } else {
            out[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            out[j - 4] |= (uint8_t)((ls >> 4) << 6);
            out[j - 0] |= (uint8_t)((lm >> 4) << 6);
        }
    }
}

/* Q4_K and Q5_K's shared step: per 32 values a make_qkx2_quants fit (nmax, rmin, nstep as ggml's), the 6-bit scales
 * and mins packed into scales[12] with d and dmin, then every value requantized against the scales as stored (6-bit,
 * half precision), not the fitted ones, into L (0..nmax; a sub-block of scale 0 keeps its fitted quants). */
static void quantize_k4_scales(const float *x, uint8_t L[QK_K], uint8_t scales_out[K_SCALE_SIZE], pmx_half *dh,
                               pmx_half *mh, const int nmax, const float rmin, const int nstep) {
    float weights[32], mins[QK_K / 32], scales[QK_K / 32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], rmin, 0.1f, nstep, 0);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    pack_scales_k4(scales_out, scales, mins, inv_scale, inv_min);
    *dh = pmx_f32_to_half(max_scale / 63.f);
    *mh = pmx_f32_to_half(max_min / 63.f);
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t sc, m;
        pmx_get_scale_min_k4(j, scales_out, &sc, &m);
        const float d = pmx_half_to_f32(*dh) * sc;
        if (!d) continue;
        const float dm = pmx_half_to_f32(*mh) * m;
        for (int ii = 0; ii < 32; ii++) {
            const int l = nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = (uint8_t)imax(0, imin(nmax, l));
        }
    }
}

static void quantize_q4_K(block_q4_K *y, const float *x, int64_t n) {
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        quantize_k4_scales(x, L, y[i].scales, &y[i].d, &y[i].dmin, 15, -1.f, 20);
        /* each 32 bytes hold two sub-blocks: the first in the low nibbles, the next in the high ones */
        uint8_t *q = y[i].qs;
        for (int j = 0; j < QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

static void dequantize_q4_K(float *y, const block_q4_K *x, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *q = x[i].qs;
        const float d = pmx_half_to_f32(x[i].d), min = pmx_half_to_f32(x[i].dmin);
        for (int j = 0, is = 0; j < QK_K; j += 64, is += 2, q += 32) {
            uint8_t sc, m;
            pmx_get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            pmx_get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

/* ---- Q6_K ---- */

/* ggml's make_qx_quants with rmse_type = 1 and no importance weights (w = x^2): L = l + nmax with
 * l in [-nmax, nmax - 1], the signed extreme at -nmax; 18 nearby inverse scales are tried for the best
 * weighted least-squares scale. */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * x[i]);
        l = imax(-nmax, imin(nmax - 1, l));
        L[i] = (int8_t)(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = nearest_int(iscale * x[i]);
            l = imax(-nmax, imin(nmax - 1, l));
            const float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) {
                const int l = nearest_int(iscale * x[i]);
                L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

static void quantize_q6_K(block_q6_K *y, const float *x, int64_t n) {
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < QK_K / 16; ib++) {
            const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
            scales[ib] = scale;
            const float abs_scale = fabsf(scale);
            if (abs_scale > max_abs_scale) {
                max_abs_scale = abs_scale;
                max_scale = scale;
            }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(&y[i], 0, sizeof y[i]);
            y[i].d = pmx_f32_to_half(0.f);
            continue;
        }
        /* sub-block scales are signed: the one of largest magnitude maps to -128 */
        const float iscale = -128.f / max_scale;
        y[i].d = pmx_f32_to_half(1 / iscale);
        for (int ib = 0; ib < QK_K / 16; ib++) y[i].scales[ib] = (int8_t)imin(127, nearest_int(iscale * scales[ib]));

        for (int j = 0; j < QK_K / 16; j++) {
            const float d = pmx_half_to_f32(y[i].d) * y[i].scales[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ii++) {
                int l = nearest_int(x[16 * j + ii] / d);
                l = imax(-32, imin(31, l));
                L[16 * j + ii] = (int8_t)(l + 32);
            }
        }
        /* per 128 values: ql[l] holds values l (low nibble) and l + 64 (high), ql[l + 32] values l + 32 and
         * l + 96; qh[l] holds the top 2 bits of values l, l + 32, l + 64, l + 96 */
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                const uint8_t q1 = L[j + l + 0] & 0xF, q2 = L[j + l + 32] & 0xF;
                const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                ql[l + 0] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                  ((L[j + l + 96] >> 4) << 6));
            }
        }
    }
}

static void dequantize_q6_K(float *y, const block_q6_K *x, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = pmx_half_to_f32(x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int h = 0; h < QK_K; h += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l + 0] = d * sc[is + 0] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

/* ---- Q4_1 / Q5_1: x = q * d + m with m the block's minimum, d = (max - min) / 15 (31); q = trunc((x - min) / d +
 * 0.5), Q4_1's capped at 15 (Q5_1's cannot pass 31). ---- */

static void quantize_qx_1(uint8_t *y, const float *x, int64_t n, const int bits) {
    const int64_t bb = bits == 4 ? (int64_t)sizeof(block_q4_1) : (int64_t)sizeof(block_q5_1);
    for (int64_t i = 0; i < n / 32; i++, x += 32, y += bb) {
        float min = 3.402823466e+38f, max = -3.402823466e+38f;
        for (int j = 0; j < 32; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / ((1 << bits) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        const pmx_half hd = pmx_f32_to_half(d), hm = pmx_f32_to_half(min);
        memcpy(y, &hd, 2);
        memcpy(y + 2, &hm, 2);
        uint8_t *qs = y + (bits == 4 ? 4 : 8);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            const float x0 = (x[j] - min) * id, x1 = (x[16 + j] - min) * id;
            uint8_t q0, q1;
            if (bits == 4) {
                q0 = (uint8_t)imin(15, to_i8(x0 + 0.5f));
                q1 = (uint8_t)imin(15, to_i8(x1 + 0.5f));
            } else {
                q0 = (uint8_t)to_i8(x0 + 0.5f);
                q1 = (uint8_t)to_i8(x1 + 0.5f);
            }
            qs[j] = (uint8_t)((q0 & 0x0f) | ((q1 & 0x0f) << 4));
            qh |= (uint32_t)((q0 & 0x10u) >> 4) << j;
            qh |= (uint32_t)((q1 & 0x10u) >> 4) << (j + 16);
        }
        if (bits == 5) memcpy(y + 4, &qh, 4);
    }
}

static void dequantize_q4_1(float *y, const block_q4_1 *x, int64_t n) {
    for (int64_t i = 0; i < n / QK4_1; i++, y += QK4_1) {
        const float d = pmx_half_to_f32(x[i].d), m = pmx_half_to_f32(x[i].m);
        for (int j = 0; j < 16; j++) {
            y[j] = (x[i].qs[j] & 0x0f) * d + m;
            y[j + 16] = (x[i].qs[j] >> 4) * d + m;
        }
    }
}

static void dequantize_q5_1(float *y, const block_q5_1 *x, int64_t n) {
    for (int64_t i = 0; i < n / QK5_1; i++, y += QK5_1) {
        const float d = pmx_half_to_f32(x[i].d), m = pmx_half_to_f32(x[i].m);
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        for (int j = 0; j < 16; j++) {
            y[j] = ((x[i].qs[j] & 0x0f) | (((qh >> j) & 1) << 4)) * d + m;
            y[j + 16] = ((x[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) * d + m;
        }
    }
}

/* ---- IQ4_NL / IQ4_XS: indices into 16 non-linear levels, ggml's quantize_row_iq4_nl_impl without an importance
 * matrix (weights x^2) and with ntry = 7, as llama_model_quantize calls it ---- */

/* index of the level nearest to x (ties to the lower one), as ggml's best_index_int8 */
static int best_index_iq4(float x) {
    const int8_t *val = pmx_kvalues_iq4nl;
    if (x <= val[0]) return 0;
    if (x >= val[15]) return 15;
    int ml = 0, mu = 15;
    while (mu - ml > 1) {
        const int mav = (ml + mu) / 2;
        if (x < val[mav]) mu = mav;
        else ml = mav;
    }
    return x - val[mu - 1] < val[mu] - x ? mu - 1 : mu;
}

/* One super-block of sbs values (32: IQ4_NL, QK_K: IQ4_XS) in blocks of 32: *dh, the nibbles q4 and (IQ4_XS) the
 * 6-bit block scales. */
static void quantize_iq4_block(const int sbs, const float *x, pmx_half *dh, uint8_t *q4, uint16_t *scales_h,
                               uint8_t *scales_l) {
    const int ntry = 7;
    const int8_t *values = pmx_kvalues_iq4nl;
    uint8_t L[QK_K];
    float weight[32], scales[QK_K / 32];
    memset(q4, 0, (size_t)sbs / 2);
    *dh = pmx_f32_to_half(0.f);
    float max_scale = 0, amax_scale = 0;
    for (int ib = 0; ib < sbs / 32; ib++) {
        const float *xb = x + 32 * ib;
        uint8_t *Lb = L + 32 * ib;
        for (int j = 0; j < 32; j++) weight[j] = xb[j] * xb[j];
        float amax = 0, max = 0;
        for (int j = 0; j < 32; j++) {
            const float ax = fabsf(xb[j]);
            if (ax > amax) {
                amax = ax;
                max = xb[j];
            }
        }
        if (amax < GROUP_MAX_EPS) {
            scales[ib] = 0;
            /* ggml leaves this block's indices as the previous block's; they are rewritten below (a zero scale
             * maps every element to the level nearest 0) */
            memset(Lb, 8, 32);
            continue;
        }
        float d = -max / values[0];
        float id = 1 / d;
        float sumqx = 0, sumq2 = 0;
        for (int j = 0; j < 32; j++) {
            const float al = id * xb[j];
            const int l = best_index_iq4(al);
            Lb[j] = (uint8_t)l;
            const float q = values[l];
            const float w = weight[j];
            sumqx += w * q * xb[j];
            sumq2 += w * q * q;
        }
        d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
        float best = d * sumqx;
        for (int itry = -ntry; itry <= ntry; itry++) {
            id = (itry + values[0]) / max;
            sumqx = sumq2 = 0;
            for (int j = 0; j < 32; j++) {
                const float al = id * xb[j];
                const int l = best_index_iq4(al);
                const float q = values[l];
                const float w = weight[j];
                sumqx += w * q * xb[j];
                sumq2 += w * q * q;
            }
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        scales[ib] = d;
        const float abs_d = fabsf(d);
        if (abs_d > amax_scale) {
            amax_scale = abs_d;
            max_scale = d;
        }
    }
    if (sbs > 32) {
        *scales_h = 0;
        const float d = -max_scale / 32;
        *dh = pmx_f32_to_half(d);
        const float id = d ? 1 / d : 0.f;
        for (int ib = 0; ib < sbs / 32; ib++) {
            int l = nearest_int(id * scales[ib]);
            l = imax(-32, imin(31, l));
            const float dl = d * l;
            const float idl = dl ? 1 / dl : 0.f;
            for (int j = 0; j < 32; j++) L[32 * ib + j] = (uint8_t)best_index_iq4(idl * x[32 * ib + j]);
            l += 32;
            const uint8_t l_l = (uint8_t)(l & 0xf), l_h = (uint8_t)(l >> 4);
            if (ib % 2 == 0) scales_l[ib / 2] = l_l;
            else scales_l[ib / 2] |= (uint8_t)(l_l << 4);
            *scales_h |= (uint16_t)(l_h << 2 * (ib % 8));
        }
    } else {
        *dh = pmx_f32_to_half(scales[0]);
        const float id = scales[0] ? 1 / scales[0] : 0;
        for (int j = 0; j < sbs; j++) L[j] = (uint8_t)best_index_iq4(id * x[j]);
    }
    for (int i = 0; i < sbs / 32; i++)
        for (int j = 0; j < 16; j++) q4[16 * i + j] = (uint8_t)(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
}

static void quantize_iq4_nl(block_iq4_nl *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n / QK4_NL; i++) quantize_iq4_block(QK4_NL, x + i * QK4_NL, &y[i].d, y[i].qs, NULL, NULL);
}

static void quantize_iq4_xs(block_iq4_xs *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++)
        quantize_iq4_block(QK_K, x + i * QK_K, &y[i].d, y[i].qs, &y[i].scales_h, y[i].scales_l);
}

static void dequantize_iq4_nl(float *y, const block_iq4_nl *x, int64_t n) {
    for (int64_t i = 0; i < n / QK4_NL; i++, y += QK4_NL) {
        const float d = pmx_half_to_f32(x[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = d * pmx_kvalues_iq4nl[x[i].qs[j] & 0xf];
            y[j + 16] = d * pmx_kvalues_iq4nl[x[i].qs[j] >> 4];
        }
    }
}

static void dequantize_iq4_xs(float *y, const block_iq4_xs *x, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = pmx_half_to_f32(x[i].d);
        const uint8_t *qs = x[i].qs;
        for (int ib = 0; ib < QK_K / 32; ib++, y += 32, qs += 16) {
            const float dl = d * (pmx_iq4_xs_scale(&x[i], ib) - 32);
            for (int j = 0; j < 16; j++) {
                y[j] = dl * pmx_kvalues_iq4nl[qs[j] & 0xf];
                y[j + 16] = dl * pmx_kvalues_iq4nl[qs[j] >> 4];
            }
        }
    }
}

/* ---- Q2_K: make_qkx2_quants over 16 values with 2 bits, mean absolute error (use_mad), weights |x|; 4-bit scales
 * and mins against d = max_scale / 15, dmin = max_min / 15 ---- */

static void quantize_q2_K(block_q2_K *y, const float *x, int64_t n) {
    uint8_t L[QK_K];
    float weights[16], mins[QK_K / 16], scales[QK_K / 16];
    const float q4scale = 15.f;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            for (int l = 0; l < 16; l++) weights[l] = fabsf(x[16 * j + l]);
            scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, 1);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            const float iscale = q4scale / max_scale;
            for (int j = 0; j < QK_K / 16; j++) y[i].scales[j] = (uint8_t)nearest_int(iscale * scales[j]);
            y[i].d = pmx_f32_to_half(max_scale / q4scale);
        } else {
            for (int j = 0; j < QK_K / 16; j++) y[i].scales[j] = 0;
            y[i].d = pmx_f32_to_half(0.f);
        }
        if (max_min > 0) {
            const float iscale = q4scale / max_min;
            /* shifted as unsigned: a non-finite min makes nearest_int negative, and a negative int shifted left is
             * undefined (the bits are ggml's x86 result all the same) */
            for (int j = 0; j < QK_K / 16; j++) y[i].scales[j] |= (uint8_t)((unsigned)nearest_int(iscale * mins[j]) << 4);
            y[i].dmin = pmx_f32_to_half(max_min / q4scale);
        } else {
            y[i].dmin = pmx_f32_to_half(0.f);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = pmx_half_to_f32(y[i].d) * (y[i].scales[j] & 0xF);
            if (!d) continue;
            const float dm = pmx_half_to_f32(y[i].dmin) * (y[i].scales[j] >> 4);
            for (int ii = 0; ii < 16; ii++) {
                const int l = nearest_int((x[16 * j + ii] + dm) / d);
                L[16 * j + ii] = (uint8_t)imax(0, imin(3, l));
            }
        }
        for (int j = 0; j < QK_K; j += 128)
            for (int l = 0; l < 32; l++)
                y[i].qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
    }
}

static void dequantize_q2_K(float *y, const block_q2_K *x, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = pmx_half_to_f32(x[i].d), min = pmx_half_to_f32(x[i].dmin);
        const uint8_t *q = x[i].qs;
        int is = 0;
        for (int h = 0; h < QK_K; h += 128, q += 32)
            for (int shift = 0; shift < 8; shift += 2)
                for (int half = 0; half < 2; half++) {
                    const uint8_t sc = x[i].scales[is++];
                    const float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                    for (int l = 0; l < 16; l++) *y++ = dl * ((q[16 * half + l] >> shift) & 3) - ml;
                }
    }
}

/* ---- Q3_K: make_q3_quants (signed 3-bit levels, 5 rounds of coordinate descent on the weighted error), 6-bit
 * signed scales against d = max_scale / -32 ---- */

static float make_q3_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.f;
    }
    const float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * x[i]);
        l = imax(-nmax, imin(nmax - 1, l));
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                int new_l = nearest_int(x[i] * sl2 / slx);
                new_l = imax(-nmax, imin(nmax - 1, new_l));
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

static void quantize_q3_K(block_q3_K *y, const float *x, int64_t n) {
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
            const float scale = fabsf(scales[j]);
            if (scale > amax) {
                amax = scale;
                max_scale = scales[j];
            }
        }
        memset(y[i].scales, 0, 12);
        if (max_scale) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < QK_K / 16; j++) {
                int8_t l = (int8_t)nearest_int(iscale * scales[j]);
                l = (int8_t)(imax(-32, imin(31, l)) + 32);
                if (j < 8) y[i].scales[j] = (uint8_t)(l & 0xF);
                else y[i].scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
                l >>= 4;
                y[i].scales[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
            }
            y[i].d = pmx_f32_to_half(1 / iscale);
        } else {
            y[i].d = pmx_f32_to_half(0.f);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = pmx_half_to_f32(y[i].d) * pmx_q3_K_scale(y[i].scales, j);
            if (!d) continue;
            for (int ii = 0; ii < 16; ii++) {
                const int l = nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)(imax(-4, imin(3, l)) + 4);
            }
        }
        /* the third bit of element 32k + l goes to bit k of hmask[l] */
        memset(y[i].hmask, 0, QK_K / 8);
        for (int j = 0; j < QK_K; j++)
            if (L[j] > 3) {
                y[i].hmask[j % 32] |= (uint8_t)(1 << (j / 32));
                L[j] = (int8_t)(L[j] - 4);
            }
        for (int j = 0; j < QK_K; j += 128)
            for (int l = 0; l < 32; l++)
                y[i].qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
    }
}

static void dequantize_q3_K(float *y, const block_q3_K *x, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        const float d = pmx_half_to_f32(x[i].d);
        for (int j = 0; j < QK_K; j++) {
            const float dl = d * pmx_q3_K_scale(x[i].scales, j / 16);
            y[j] = dl * (pmx_q3_K_quant(&x[i], j) - 4);
        }
    }
}

/* ---- Q5_K: as Q4_K with 5 bits (make_qkx2_quants over 32 values, nmax 31, rmin -0.5, 15 steps) ---- */

static void quantize_q5_K(block_q5_K *y, const float *x, int64_t n) {
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        quantize_k4_scales(x, L, y[i].scales, &y[i].d, &y[i].dmin, 31, -0.5f, 15);
        memset(y[i].qh, 0, QK_K / 8);
        uint8_t *ql = y[i].qs;
        for (int p = 0; p < QK_K / 64; p++, ql += 32)
            for (int j = 0; j < 32; j++) {
                const int l1 = L[64 * p + j], l2 = L[64 * p + 32 + j];
                y[i].qh[j] |= (uint8_t)(((l1 >> 4) << (2 * p)) | ((l2 >> 4) << (2 * p + 1)));
                ql[j] = (uint8_t)((l1 & 0xF) | ((l2 & 0xF) << 4));
            }
    }
}

static void dequantize_q5_K(float *y, const block_q5_K *x, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = pmx_half_to_f32(x[i].d), min = pmx_half_to_f32(x[i].dmin);
        for (int j = 0; j < QK_K / 32; j++) {
            uint8_t sc, m;
            pmx_get_scale_min_k4(j, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * pmx_q5_K_quant(&x[i], 32 * j + l) - m1;
        }
    }
}

/* ---- Q8_K (activations only): d = max / -127 as a float, q = nearest_int (half to even) ---- */

void pmx_ref_quantize_row_q8_K(block_q8_K *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; j++) {
            const float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (!amax) {
            y[i].d = 0;
            memset(y[i].qs, 0, sizeof y[i].qs);
            memset(y[i].bsums, 0, sizeof y[i].bsums);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j++) y[i].qs[j] = (int8_t)imin(127, nearest_int(iscale * x[j]));
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int ii = 0; ii < 16; ii++) sum += y[i].qs[j * 16 + ii];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

/* ---- rows of any type ---- */

void pmx_ref_quantize_row(int type_index, void *dst, const float *src, int64_t n) {
    switch (type_index) {
    case PMX_T_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case PMX_T_F16:
        for (int64_t i = 0; i < n; i++) ((pmx_half *)dst)[i] = pmx_f32_to_half(src[i]);
        break;
    case PMX_T_BF16:
        for (int64_t i = 0; i < n; i++) ((pmx_bf16 *)dst)[i] = pmx_f32_to_bf16(src[i]);
        break;
    case PMX_T_Q8_0: pmx_ref_quantize_row_q8_0(dst, src, n); break;
    case PMX_T_Q4_0: quantize_q4_0(dst, src, n); break;
    case PMX_T_Q5_0: quantize_q5_0(dst, src, n); break;
    case PMX_T_Q4_K: quantize_q4_K(dst, src, n); break;
    case PMX_T_Q6_K: quantize_q6_K(dst, src, n); break;
    case PMX_T_Q4_1: quantize_qx_1(dst, src, n, 4); break;
    case PMX_T_Q5_1: quantize_qx_1(dst, src, n, 5); break;
    case PMX_T_Q2_K: quantize_q2_K(dst, src, n); break;
    case PMX_T_Q3_K: quantize_q3_K(dst, src, n); break;
    case PMX_T_Q5_K: quantize_q5_K(dst, src, n); break;
    case PMX_T_IQ4_NL: quantize_iq4_nl(dst, src, n); break;
    case PMX_T_IQ4_XS: quantize_iq4_xs(dst, src, n); break;
    default: break;
    }
}

void pmx_ref_round_row(int t, float *dst, const float *src, int64_t n) {
    /* 256 values at a time: whole blocks of every 32-value type, and any tail of a type without blocks */
    _Alignas(64) uint8_t buf[256 * sizeof(float)];
    for (int64_t i = 0; i < n; i += 256) {
        const int64_t m = n - i < 256 ? n - i : 256;
        pmx_ref_quantize_row(t, buf, src + i, m);
        pmx_ref_dequantize_row(t, dst + i, buf, m);
    }
}

void pmx_ref_dequantize_row(int type_index, float *dst, const void *src, int64_t n) {
    switch (type_index) {
    case PMX_T_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case PMX_T_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = pmx_half_to_f32(((const pmx_half *)src)[i]);
        break;
    case PMX_T_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = pmx_bf16_to_f32(((const pmx_bf16 *)src)[i]);
        break;
    case PMX_T_Q8_0: dequantize_q8_0(dst, src, n); break;
    case PMX_T_Q4_0: dequantize_q4_0(dst, src, n); break;
    case PMX_T_Q5_0: dequantize_q5_0(dst, src, n); break;
    case PMX_T_Q4_K: dequantize_q4_K(dst, src, n); break;
    case PMX_T_Q6_K: dequantize_q6_K(dst, src, n); break;
    case PMX_T_Q4_1: dequantize_q4_1(dst, src, n); break;
    case PMX_T_Q5_1: dequantize_q5_1(dst, src, n); break;
    case PMX_T_Q2_K: dequantize_q2_K(dst, src, n); break;
    case PMX_T_Q3_K: dequantize_q3_K(dst, src, n); break;
    case PMX_T_Q5_K: dequantize_q5_K(dst, src, n); break;
    case PMX_T_IQ4_NL: dequantize_iq4_nl(dst, src, n); break;
    case PMX_T_IQ4_XS: dequantize_iq4_xs(dst, src, n); break;
    default: break;
    }
}
