/* The reference quantizers: round-trip error bounds per type on random data, hand-derived bytes of
 * known blocks (ggml's rounding rules: roundf for Q8_0, truncation of x/d + 8.5 for Q4_0 (+ 16.5 for Q5_0), half-to-even
 * nearest_int for the K-quants and Q8_K), special values, and argument rejection. */
#include <string.h>
#include "check.h"
#include "kernels.h"
#include "ref/ref.h"

#define HALF_ULP 4.8828125e-4 /* 2^-11: relative rounding bound of binary16 */

static float gauss(void) { return (rnd() + rnd() + rnd() + rnd()) * 0.8660254f; }

/* Test rows: uniform, roughly gaussian, all positive (the K-quants' min > 0 path), sparse outliers, and
 * magnitudes from 1e-3 to 1e3. */
static void make_row(float *x, int64_t n, int kind) {
    for (int64_t i = 0; i < n; i++) {
        switch (kind) {
        case 0: x[i] = rnd(); break;
        case 1: x[i] = gauss(); break;
        case 2: x[i] = 0.5f * (rnd() + 1.0f); break;
        case 3: x[i] = rnd() * (i % 53 == 7 ? 30.0f : 1.0f); break;
        case 4: x[i] = rnd() * 1e-3f; break;
        default: x[i] = gauss() * 1e3f; break;
        }
    }
}
#define N_KINDS 6

static int64_t row_bytes_of(int32_t type, int64_t n) { return n / pmx_type_block_size(type) * pmx_type_block_bytes(type); }

/* 6-bit scale and min of Q4_K sub-block j, decoded from the packing rule independently of quants.c */
static void q4k_scale_min(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 0x3f, *m = s[j + 4] & 0x3f;
    } else {
        *sc = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

static void round_trips(void) {
    const int64_t n = 4096;
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
    void *q = malloc((size_t)n * 4);
    double worst_f16 = 0, worst_bf16 = 0, worst_q8 = 0, worst_q4 = 0, worst_q4_clamped = 0, worst_q5 = 0,
           worst_q5_clamped = 0;
    double worst_q4k_in = 0, worst_q4k_clip = 0, worst_q6k = 0, worst_q6k_clip = 0, rmse_ratio[PMX_T_COUNT] = {0};
#define RMSE(t) (rmse_ratio[t] = fmax(rmse_ratio[t], sqrt(se / ss)))
    for (int kind = 0; kind < N_KINDS; kind++) {
        make_row(x, n, kind);
        double ss = 0;
        for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];

        CHECK(pmx_quantize(PMX_TYPE_F32, q, x, 1, n) == PMX_OK && pmx_dequantize(PMX_TYPE_F32, y, q, 1, n) == PMX_OK, "f32");
        CHECK(memcmp(x, y, sizeof(float) * n) == 0, "f32 round trip is exact");

        /* F16: relative 2^-11 in the normal range, absolute 2^-25 (half the smallest subnormal) below it */
        pmx_quantize(PMX_TYPE_F16, q, x, 1, n);
        pmx_dequantize(PMX_TYPE_F16, y, q, 1, n);
        for (int64_t i = 0; i < n; i++) {
            const double e = fabs((double)x[i] - y[i]), b = fmax(HALF_ULP * fabs(x[i]), 0x1p-25);
            CHECK(e <= b, "f16 kind %d [%ld]: %g -> %g", kind, (long)i, x[i], y[i]);
            worst_f16 = fmax(worst_f16, e / b);
        }
        /* BF16: relative 2^-8 */
        pmx_quantize(PMX_TYPE_BF16, q, x, 1, n);
        pmx_dequantize(PMX_TYPE_BF16, y, q, 1, n);
        for (int64_t i = 0; i < n; i++) {
            const double e = fabs((double)x[i] - y[i]), b = 0x1p-8 * fabs(x[i]);
            CHECK(e <= b, "bf16 kind %d [%ld]: %g -> %g", kind, (long)i, x[i], y[i]);
            worst_bf16 = fmax(worst_bf16, b > 0 ? e / b : 0);
        }

        /* Q8_0: |x - q*d16| <= d/2 + 127 |d - d16| with d = amax/127 (the half-precision d moves each step) */
        pmx_quantize(PMX_TYPE_Q8_0, q, x, 1, n);
        pmx_dequantize(PMX_TYPE_Q8_0, y, q, 1, n);
        double se = 0;
        for (int64_t b0 = 0; b0 < n; b0 += QK8_0) {
            float amax = 0;
            for (int j = 0; j < QK8_0; j++) amax = fmaxf(amax, fabsf(x[b0 + j]));
            const double d = amax / 127.0f, d16 = pmx_half_to_f32(((block_q8_0 *)q)[b0 / QK8_0].d);
            const double bound = d / 2 * (1 + 1e-5) + 127 * fabs(d - d16);
            for (int j = 0; j < QK8_0; j++) {
                const double e = fabs((double)x[b0 + j] - y[b0 + j]);
                se += e * e;
                CHECK(e <= bound, "q8_0 kind %d [%ld]: %g -> %g (d %g)", kind, (long)(b0 + j), x[b0 + j], y[b0 + j], d);
                if (d > 0) worst_q8 = fmax(worst_q8, e / d);
            }
        }
        RMSE(PMX_T_Q8_0);

        /* Q4_0: d = max/-8 so values span [-8d, 8d]; |err| <= |d|/2 except x/d in (7.5, 8], capped at 7: <= |d| */
        pmx_quantize(PMX_TYPE_Q4_0, q, x, 1, n);
        pmx_dequantize(PMX_TYPE_Q4_0, y, q, 1, n);
        se = 0;
        for (int64_t b0 = 0; b0 < n; b0 += QK4_0) {
            float amax = 0, max = 0;
            for (int j = 0; j < QK4_0; j++)
                if (fabsf(x[b0 + j]) > amax) amax = fabsf(x[b0 + j]), max = x[b0 + j];
            const double d = max / -8.0f, d16 = pmx_half_to_f32(((block_q4_0 *)q)[b0 / QK4_0].d);
            for (int j = 0; j < QK4_0; j++) {
                const double e = fabs((double)x[b0 + j] - y[b0 + j]);
                const int clamped = d != 0 && x[b0 + j] / d > 7.5;
                const double bound = fabs(d) * (clamped ? 1.0 : 0.5) * (1 + 1e-5) + 8 * fabs(d - d16);
                se += e * e;
                CHECK(e <= bound, "q4_0 kind %d [%ld]: %g -> %g (d %g)", kind, (long)(b0 + j), x[b0 + j], y[b0 + j], d);
                if (d != 0) {
                    if (clamped) worst_q4_clamped = fmax(worst_q4_clamped, e / fabs(d));
                    else worst_q4 = fmax(worst_q4, e / fabs(d));
                }
            }
        }
        RMSE(PMX_T_Q4_0);

        /* Q5_0: d = max/-16 so values span [-16d, 16d]; |err| <= |d|/2 except x/d in (15.5, 16], capped at 15:
         * <= |d|. And the format is a fixed point of its own quantizer: the extreme decodes to -16 * d16 exactly,
         * so re-quantizing the decoded row gives the same bytes (what a ggml-written Q5_0 tensor must satisfy). */
        pmx_quantize(PMX_TYPE_Q5_0, q, x, 1, n);
        pmx_dequantize(PMX_TYPE_Q5_0, y, q, 1, n);
        se = 0;
        for (int64_t b0 = 0; b0 < n; b0 += QK5_0) {
            float amax = 0, max = 0;
            for (int j = 0; j < QK5_0; j++)
                if (fabsf(x[b0 + j]) > amax) amax = fabsf(x[b0 + j]), max = x[b0 + j];
            const double d = max / -16.0f, d16 = pmx_half_to_f32(((block_q5_0 *)q)[b0 / QK5_0].d);
            for (int j = 0; j < QK5_0; j++) {
                const double e = fabs((double)x[b0 + j] - y[b0 + j]);
                const int clamped = d != 0 && x[b0 + j] / d > 15.5;
                const double bound = fabs(d) * (clamped ? 1.0 : 0.5) * (1 + 1e-5) + 16 * fabs(d - d16);
                se += e * e;
                CHECK(e <= bound, "q5_0 kind %d [%ld]: %g -> %g (d %g)", kind, (long)(b0 + j), x[b0 + j], y[b0 + j], d);
                if (d != 0) {
                    if (clamped) worst_q5_clamped = fmax(worst_q5_clamped, e / fabs(d));
                    else worst_q5 = fmax(worst_q5, e / fabs(d));
                }
            }
        }
        RMSE(PMX_T_Q5_0);
        {
            unsigned char *q2 = malloc((size_t)n * 4);
            pmx_quantize(PMX_TYPE_Q5_0, q2, y, 1, n);
            CHECK(memcmp(q, q2, (size_t)row_bytes_of(PMX_TYPE_Q5_0, n)) == 0, "q5_0 kind %d: re-quantizing the decoded row changes its bytes", kind);
            free(q2);
        }

        /* Q4_K: sub-block j decodes as d*sc_j*q - dmin*m_j, q in [0, 15]. Inside that grid's range an element
         * is within half a step (nearest rounding against the stored scales); outside it decodes to the end
         * of the range. How far ggml's fit (and the 6-bit rounding of its scale) lets values clip is a
         * property of the format, measured by the RMS bound below. */
        pmx_quantize(PMX_TYPE_Q4_K, q, x, 1, n);
        pmx_dequantize(PMX_TYPE_Q4_K, y, q, 1, n);
        se = 0;
        for (int64_t i = 0; i < n; i++) {
            const block_q4_K *b = (const block_q4_K *)q + i / QK_K;
            int sc, m;
            q4k_scale_min(b->scales, (int)(i % QK_K) / 32, &sc, &m);
            const double step = (double)pmx_half_to_f32(b->d) * sc, lo = -(double)pmx_half_to_f32(b->dmin) * m;
            const double hi = lo + 15 * step, e = fabs((double)x[i] - y[i]);
            se += e * e;
            if (x[i] >= lo && x[i] <= hi) {
                CHECK(e <= step / 2 * (1 + 1e-5) + 1e-6 * fabs(x[i]), "q4_K kind %d [%ld]: %g -> %g, step %g", kind,
                      (long)i, x[i], y[i], step);
                if (step > 0) worst_q4k_in = fmax(worst_q4k_in, e / step);
            } else {
                const double end = x[i] < lo ? lo : hi;
                CHECK(fabs(y[i] - end) <= 1e-6 * fabs(end) + 1e-30, "q4_K kind %d [%ld]: clipped %g -> %g, not %g", kind,
                      (long)i, x[i], y[i], end);
                if (step > 0) worst_q4k_clip = fmax(worst_q4k_clip, e / step);
            }
        }
        RMSE(PMX_T_Q4_K);

        /* Q6_K: sub-block j of 16 decodes as s*(q - 32) with s = d*sc_j (signed), q in [0, 63]: within half a
         * step inside [-32s, 31s], the end of that range outside it (clipped as for Q4_K) */
        pmx_quantize(PMX_TYPE_Q6_K, q, x, 1, n);
        pmx_dequantize(PMX_TYPE_Q6_K, y, q, 1, n);
        se = 0;
        for (int64_t i = 0; i < n; i++) {
            const block_q6_K *b = (const block_q6_K *)q + i / QK_K;
            const double s = (double)pmx_half_to_f32(b->d) * b->scales[(i % QK_K) / 16], step = fabs(s);
            const double lo = fmin(-32 * s, 31 * s), hi = fmax(-32 * s, 31 * s);
            const double e = fabs((double)x[i] - y[i]);
            se += e * e;
            if (x[i] >= lo && x[i] <= hi) {
                CHECK(e <= step / 2 * (1 + 1e-5) + 1e-6 * fabs(x[i]), "q6_K kind %d [%ld]: %g -> %g, step %g", kind,
                      (long)i, x[i], y[i], step);
                if (step > 0) worst_q6k = fmax(worst_q6k, e / step);
            } else {
                const double end = x[i] < lo ? lo : hi;
                CHECK(fabs(y[i] - end) <= 1e-6 * fabs(end) + 1e-30, "q6_K kind %d [%ld]: clipped %g -> %g, not %g", kind,
                      (long)i, x[i], y[i], end);
                if (step > 0) worst_q6k_clip = fmax(worst_q6k_clip, e / step);
            }
        }
        RMSE(PMX_T_Q6_K);
    }
    /* RMS error relative to the signal's RMS, worst over the kinds: the fidelity each format keeps.
     * Measured: q8_0 0.0121, q4_0 0.143, q5_0 0.107, q4_K 0.098, q6_K 0.033, all from the sparse-outlier rows (one
     * 30x value per block coarsens its neighbours' step); uniform rows give 0.0038 (q8_0), 0.066 (q4_0), 0.055 (q4_K), 0.013 (q6_K).
     * Bounds with ~30% headroom. */
    const double rmse_bound[PMX_T_COUNT] = {[PMX_T_Q8_0] = 0.016, [PMX_T_Q4_0] = 0.18, [PMX_T_Q4_K] = 0.13,
                                            [PMX_T_Q6_K] = 0.043, [PMX_T_Q5_0] = 0.14};
    static const char *const names[PMX_T_COUNT] = {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_K", "q6_K", "q5_0"};
    for (int t = PMX_T_Q8_0; t < PMX_T_COUNT; t++)
        CHECK(rmse_ratio[t] <= rmse_bound[t], "%s rms error / rms %g > %g", names[t], rmse_ratio[t], rmse_bound[t]);
    printf("f16 err <= %.3f of 2^-11|x|; bf16 err <= %.3f of 2^-8|x|\n", worst_f16, worst_bf16);
    printf("q8_0 err <= %.4f d; q4_0 err <= %.4f |d| (%.4f |d| at the +8 cap)\n", worst_q8, worst_q4, worst_q4_clamped);
    printf("q5_0 err <= %.4f |d| (%.4f |d| at the +16 cap)\n", worst_q5, worst_q5_clamped);
    printf("q4_K err <= %.4f step in range, clipped by <= %.3f step; q6_K err <= %.4f step in range, clipped by <= "
           "%.3f step\n", worst_q4k_in, worst_q4k_clip, worst_q6k, worst_q6k_clip);
    printf("rms err / rms: q8_0 %.4f, q4_0 %.4f, q5_0 %.4f, q4_K %.4f, q6_K %.4f\n", rmse_ratio[PMX_T_Q8_0],
           rmse_ratio[PMX_T_Q4_0], rmse_ratio[PMX_T_Q5_0], rmse_ratio[PMX_T_Q4_K], rmse_ratio[PMX_T_Q6_K]);
#undef RMSE
    free(x), free(y), free(q);
}

static void zeros(void) {
    static const int32_t types[] = {PMX_TYPE_F32, PMX_TYPE_F16, PMX_TYPE_BF16, PMX_TYPE_Q8_0,
                                    PMX_TYPE_Q4_0, PMX_TYPE_Q5_0, PMX_TYPE_Q4_K, PMX_TYPE_Q6_K};
    float x[512] = {0}, y[512];
    unsigned char q[2048];
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        memset(q, 0x77, sizeof q);
        for (int i = 0; i < 512; i++) y[i] = 1;
        CHECK(pmx_quantize(types[k], q, x, 2, 256) == PMX_OK, "type %d", types[k]);
        CHECK(pmx_dequantize(types[k], y, q, 2, 256) == PMX_OK, "type %d", types[k]);
        int ok = 1;
        for (int i = 0; i < 512; i++) ok &= y[i] == 0;
        CHECK(ok, "type %d: zeros decode to zeros", types[k]);
    }
    /* bytes: Q8_0 d = 0, q = 0; Q4_0 d = 0 / -8 = -0 (0x8000, as ggml stores it), every nibble 8 (0 + 8.5
     * truncated); Q4_K and Q6_K all zero */
    const block_q8_0 *b8 = (const void *)q;
    pmx_quantize(PMX_TYPE_Q8_0, q, x, 1, 32);
    int ok = b8->d == 0;
    for (int j = 0; j < 32; j++) ok &= b8->qs[j] == 0;
    CHECK(ok, "q8_0 zero block bytes");
    const block_q4_0 *b4 = (const void *)q;
    pmx_quantize(PMX_TYPE_Q4_0, q, x, 1, 32);
    ok = b4->d == 0x8000;
    for (int j = 0; j < 16; j++) ok &= b4->qs[j] == 0x88;
    CHECK(ok, "q4_0 zero block bytes");
    /* Q5_0 likewise: d = -0, every quant 16 (0 + 16.5 truncated): nibbles 0, every 5th bit set */
    const block_q5_0 *b5 = (const void *)q;
    pmx_quantize(PMX_TYPE_Q5_0, q, x, 1, 32);
    ok = b5->d == 0x8000;
    for (int j = 0; j < 4; j++) ok &= b5->qh[j] == 0xff;
    for (int j = 0; j < 16; j++) ok &= b5->qs[j] == 0x00;
    CHECK(ok, "q5_0 zero block bytes");
    pmx_quantize(PMX_TYPE_Q4_K, q, x, 1, 256);
    ok = 1;
    for (size_t j = 0; j < sizeof(block_q4_K); j++) ok &= q[j] == 0;
    CHECK(ok, "q4_K zero block is all zero bytes");
    pmx_quantize(PMX_TYPE_Q6_K, q, x, 1, 256);
    ok = 1;
    for (size_t j = 0; j < sizeof(block_q6_K); j++) ok &= q[j] == 0;
    CHECK(ok, "q6_K zero block is all zero bytes");
}

static void known_blocks(void) {
    float x[256], y[256];
    block_q8_0 b8;
    /* Q8_0 of 0..31: d = 31/127 -> half 0x33d0 (0.244140625); q_i = roundf(i * 127/31), never a tie */
    for (int i = 0; i < 32; i++) x[i] = (float)i;
    pmx_quantize(PMX_TYPE_Q8_0, &b8, x, 1, 32);
    CHECK(b8.d == 0x33d0, "q8_0 0..31: d %04x, want 33d0", b8.d);
    for (int i = 0; i < 32; i++) {
        const int want = (int)floor(i * 127.0 / 31 + 0.5);
        CHECK(b8.qs[i] == want, "q8_0 0..31: q[%d] = %d, want %d", i, b8.qs[i], want);
    }
    CHECK(b8.qs[31] == 127, "q8_0 max maps to 127");
    /* roundf is half away from zero: with amax 127, d = 1 and +-2.5 -> +-3, 0.5 -> 1 */
    for (int i = 0; i < 32; i++) x[i] = 0;
    x[0] = -127, x[1] = 2.5f, x[2] = -2.5f, x[3] = 0.5f, x[4] = 3.5f;
    pmx_quantize(PMX_TYPE_Q8_0, &b8, x, 1, 32);
    CHECK(b8.d == 0x3c00 && b8.qs[0] == -127 && b8.qs[1] == 3 && b8.qs[2] == -3 && b8.qs[3] == 1 && b8.qs[4] == 4,
          "q8_0 ties away from zero: d %04x q %d %d %d %d %d", b8.d, b8.qs[0], b8.qs[1], b8.qs[2], b8.qs[3], b8.qs[4]);
    /* one nonzero value: -3 -> d = 3/127, q = -127, the rest 0 */
    for (int i = 0; i < 32; i++) x[i] = 0;
    x[5] = -3;
    pmx_quantize(PMX_TYPE_Q8_0, &b8, x, 1, 32);
    CHECK(b8.d == pmx_f32_to_half(3.0f / 127) && b8.qs[5] == -127, "q8_0 single value");

    /* Q4_0: max -4 -> d = 0.5, id = 2; q = trunc(x*2 + 8.5) capped at 15: ties round up */
    block_q4_0 b4;
    for (int i = 0; i < 32; i++) x[i] = 0;
    x[0] = -4, x[1] = 1, x[2] = 0.25f, x[3] = -0.25f, x[4] = -0.75f, x[16] = 3.9f, x[17] = 4;
    pmx_quantize(PMX_TYPE_Q4_0, &b4, x, 1, 32);
    CHECK(b4.d == 0x3800, "q4_0 d %04x, want 3800 (0.5)", b4.d);
    const int want_lo[5] = {0, 10, 9, 8, 7};
    for (int j = 0; j < 5; j++) CHECK((b4.qs[j] & 15) == want_lo[j], "q4_0 nibble %d = %d, want %d", j, b4.qs[j] & 15, want_lo[j]);
    CHECK(b4.qs[0] >> 4 == 15 && b4.qs[1] >> 4 == 15, "q4_0 +8 steps capped at 15: %d %d", b4.qs[0] >> 4, b4.qs[1] >> 4);
    pmx_dequantize(PMX_TYPE_Q4_0, y, &b4, 1, 32);
    CHECK(y[0] == -4 && y[1] == 1 && y[2] == 0.5f && y[16] == 3.5f, "q4_0 decode %g %g %g %g", y[0], y[1], y[2], y[16]);
    /* a positive extreme flips the sign of d: x = 3 alone -> d = -0.375, decodes exactly */
    for (int i = 0; i < 32; i++) x[i] = 0;
    x[7] = 3;
    pmx_quantize(PMX_TYPE_Q4_0, &b4, x, 1, 32);
    pmx_dequantize(PMX_TYPE_Q4_0, y, &b4, 1, 32);
    CHECK(b4.d == pmx_f32_to_half(-0.375f) && y[7] == 3 && y[0] == 0, "q4_0 single positive value: d %04x y %g", b4.d, y[7]);

    /* Q5_0: max -8 -> d = 0.5, id = 2; q = trunc(x*2 + 16.5) capped at 31. Element j's 5th bit is bit j of qh
     * (little-endian), its low 4 bits the low nibble of qs[j] (j < 16) or the high nibble of qs[j - 16]. */
    block_q5_0 b5;
    for (int i = 0; i < 32; i++) x[i] = 0;
    x[0] = -8, x[1] = 1, x[2] = 0.25f, x[3] = -0.25f, x[4] = -0.75f, x[5] = -7.75f, x[16] = 7.9f, x[17] = 8, x[31] = 7;
    pmx_quantize(PMX_TYPE_Q5_0, &b5, x, 1, 32);
    CHECK(b5.d == 0x3800, "q5_0 d %04x, want 3800 (0.5)", b5.d);
    /* quants: 0, 18, 17, 16, 15, 1, rest 16; 16, 17 capped at 31; 31: 14 + 16.5 -> 30 */
    int want5[32];
    for (int j = 0; j < 32; j++) want5[j] = 16;
    want5[0] = 0, want5[1] = 18, want5[2] = 17, want5[3] = 16, want5[4] = 15, want5[5] = 1, want5[16] = 31, want5[17] = 31,
    want5[31] = 30;
    uint32_t qh5 = 0;
    for (int j = 0; j < 32; j++) qh5 |= (uint32_t)(want5[j] >> 4) << j;
    CHECK(b5.qh[0] == (qh5 & 0xff) && b5.qh[1] == ((qh5 >> 8) & 0xff) && b5.qh[2] == ((qh5 >> 16) & 0xff) &&
              b5.qh[3] == qh5 >> 24,
          "q5_0 qh %02x%02x%02x%02x, want %08x", b5.qh[3], b5.qh[2], b5.qh[1], b5.qh[0], qh5);
    for (int j = 0; j < 16; j++)
        CHECK(b5.qs[j] == ((want5[j] & 15) | (want5[j + 16] & 15) << 4), "q5_0 qs[%d] = %02x", j, b5.qs[j]);
    pmx_dequantize(PMX_TYPE_Q5_0, y, &b5, 1, 32);
    CHECK(y[0] == -8 && y[1] == 1 && y[2] == 0.5f && y[4] == -0.5f && y[5] == -7.5f && y[16] == 7.5f && y[31] == 7,
          "q5_0 decode %g %g %g %g %g %g %g", y[0], y[1], y[2], y[4], y[5], y[16], y[31]);
    /* a positive extreme flips the sign of d: x = 3 alone -> d = -0.1875, decodes exactly */
    for (int i = 0; i < 32; i++) x[i] = 0;
    x[20] = 3;
    pmx_quantize(PMX_TYPE_Q5_0, &b5, x, 1, 32);
    pmx_dequantize(PMX_TYPE_Q5_0, y, &b5, 1, 32);
    CHECK(b5.d == pmx_f32_to_half(-0.1875f) && y[20] == 3 && y[0] == 0, "q5_0 single positive value: d %04x y %g", b5.d,
          y[20]);

    /* Q4_K of a constant 1: min clamps to 0, scale 1/15 everywhere (the trial fits are singular), so every
     * 6-bit scale is 63, every min 0, d = (1/15)/63 in half, every quant 15 */
    block_q4_K bk;
    for (int i = 0; i < 256; i++) x[i] = 1;
    pmx_quantize(PMX_TYPE_Q4_K, &bk, x, 1, 256);
    static const uint8_t want_scales[12] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x0f, 0x0f, 0x0f, 0x0f};
    CHECK(memcmp(bk.scales, want_scales, 12) == 0, "q4_K constant: packed scales");
    CHECK(bk.d == pmx_f32_to_half(1.0f / 15 / 63) && bk.dmin == 0, "q4_K constant: d %04x dmin %04x", bk.d, bk.dmin);
    int ok = 1;
    for (int j = 0; j < 128; j++) ok &= bk.qs[j] == 0xff;
    CHECK(ok, "q4_K constant: quants 15");
    pmx_dequantize(PMX_TYPE_Q4_K, y, &bk, 1, 256);
    CHECK(fabsf(y[0] - 1) < 1e-3f && y[255] == y[0], "q4_K constant decodes to %g", y[0]);

    /* Q6_K of a constant 1: each sub-block scale -1/32 (1 is the extreme, at -32), so iscale = 4096,
     * d = 2^-12 (half 0x0c00), 8-bit scales -128, quants 0 (= -32): decodes to exactly 1 */
    block_q6_K b6;
    pmx_quantize(PMX_TYPE_Q6_K, &b6, x, 1, 256);
    ok = b6.d == 0x0c00;
    for (int j = 0; j < 16; j++) ok &= b6.scales[j] == -128;
    for (int j = 0; j < 128; j++) ok &= b6.ql[j] == 0;
    for (int j = 0; j < 64; j++) ok &= b6.qh[j] == 0;
    CHECK(ok, "q6_K constant: d %04x scale %d ql %02x qh %02x", b6.d, b6.scales[0], b6.ql[0], b6.qh[0]);
    pmx_dequantize(PMX_TYPE_Q6_K, y, &b6, 1, 256);
    ok = 1;
    for (int i = 0; i < 256; i++) ok &= y[i] == 1;
    CHECK(ok, "q6_K constant decodes to exactly 1 (%g)", y[0]);
    /* Q6_K packing: with a ramp, the decoded order must follow the input order */
    for (int i = 0; i < 256; i++) x[i] = (float)(i % 16) - 7.5f + (float)(i / 16) * 0.01f;
    pmx_quantize(PMX_TYPE_Q6_K, &b6, x, 1, 256);
    pmx_dequantize(PMX_TYPE_Q6_K, y, &b6, 1, 256);
    ok = 1;
    for (int i = 0; i < 256; i++) ok &= fabsf(y[i] - x[i]) < 0.3f;
    CHECK(ok, "q6_K ramp decodes in order");
}

static void activations_q8_K(void) {
    float x[512];
    block_q8_K b[2];
    /* iscale = -127 / max maps the signed extreme to -127: max = -127 gives iscale 1, d = 1; nearest_int
     * rounds half to even (2.5 -> 2, 3.5 -> 4, -2.5 -> -2) and 127 stays 127 */
    for (int i = 0; i < 512; i++) x[i] = 0;
    x[0] = -127, x[1] = 2.5f, x[2] = 3.5f, x[3] = -2.5f, x[17] = 100, x[255] = 127;
    pmx_ref_quantize_row_q8_K(b, x, 512);
    CHECK(b[0].d == 1.0f, "q8_K d = 1 / iscale: %g", b[0].d);
    CHECK(b[0].qs[0] == -127 && b[0].qs[1] == 2 && b[0].qs[2] == 4 && b[0].qs[3] == -2 && b[0].qs[17] == 100 &&
              b[0].qs[255] == 127,
          "q8_K quants %d %d %d %d %d %d", b[0].qs[0], b[0].qs[1], b[0].qs[2], b[0].qs[3], b[0].qs[17], b[0].qs[255]);
    CHECK(b[0].bsums[0] == -127 + 2 + 4 - 2 && b[0].bsums[1] == 100 && b[0].bsums[15] == 127, "q8_K bsums %d %d %d",
          b[0].bsums[0], b[0].bsums[1], b[0].bsums[15]);
    int ok = b[1].d == 0;
    for (int j = 0; j < 256; j++) ok &= b[1].qs[j] == 0;
    for (int j = 0; j < 16; j++) ok &= b[1].bsums[j] == 0;
    CHECK(ok, "q8_K zero block");
    /* random: x ~ d * q within half a step, bsums the sums */
    fill(x, 512, 3.0f);
    pmx_ref_quantize_row_q8_K(b, x, 512);
    double worst = 0;
    for (int i = 0; i < 512; i++) {
        const block_q8_K *bb = &b[i / 256];
        worst = fmax(worst, fabs((double)x[i] - (double)bb->d * bb->qs[i % 256]) / fabs(bb->d));
    }
    CHECK(worst <= 0.5 + 1e-5, "q8_K err %g steps", worst);
    ok = 1;
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 16; j++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += b[k].qs[16 * j + l];
            ok &= s == b[k].bsums[j];
        }
    CHECK(ok, "q8_K bsums are the sums of 16 quants");
    /* the Q8_0 activation quantizer is the weight quantizer */
    block_q8_0 a[16], w[16];
    pmx_ref_quantize_row_q8_0(a, x, 512);
    pmx_quantize(PMX_TYPE_Q8_0, w, x, 1, 512);
    CHECK(memcmp(a, w, sizeof a) == 0, "q8_0 activations = q8_0 weights");
}

static void special_values(void) {
    /* F16: signed zero, infinities, NaN, the largest finite, overflow, subnormals and ties to even */
    const struct { float f; uint16_t h; } f16[] = {
        {0.0f, 0x0000},      {-0.0f, 0x8000},        {INFINITY, 0x7c00},   {-INFINITY, 0xfc00},
        {65504.0f, 0x7bff},  {65519.0f, 0x7bff},     {65520.0f, 0x7c00},   {1e6f, 0x7c00},
        {0x1p-24f, 0x0001},  {0x1p-25f, 0x0000},     {0x3p-25f, 0x0002},   {0x1p-14f, 0x0400},
        {1.0f, 0x3c00},      {1.0f + 0x1p-11f, 0x3c00}, {1.0f + 0x3p-11f, 0x3c02}, {-2.0f, 0xc000},
        {0.1f, 0x2e66},
    };
    uint16_t h[32];
    float y[32];
    for (size_t i = 0; i < sizeof f16 / sizeof f16[0]; i++) {
        CHECK(pmx_quantize(PMX_TYPE_F16, h, &f16[i].f, 1, 1) == PMX_OK, "f16 status");
        CHECK(h[0] == f16[i].h, "f16(%a) = %04x, want %04x", f16[i].f, h[0], f16[i].h);
    }
    float nan = NAN;
    pmx_quantize(PMX_TYPE_F16, h, &nan, 1, 1);
    pmx_dequantize(PMX_TYPE_F16, y, h, 1, 1);
    CHECK((h[0] & 0x7c00) == 0x7c00 && (h[0] & 0x3ff) && isnan(y[0]), "f16 NaN stays NaN (%04x)", h[0]);
    const uint16_t sub = 0x0001, hinf = 0xfc00;
    pmx_dequantize(PMX_TYPE_F16, y, &sub, 1, 1);
    CHECK(y[0] == 0x1p-24f, "f16 smallest subnormal decodes to 2^-24: %a", y[0]);
    pmx_dequantize(PMX_TYPE_F16, y, &hinf, 1, 1);
    CHECK(y[0] == -INFINITY, "f16 -inf");

    /* BF16: round to nearest even at bit 16; NaN stays a quiet NaN */
    const struct { uint32_t f; uint16_t b; } bf[] = {
        {0x3f808000u, 0x3f80}, /* 1 + 2^-8: tie, to even */
        {0x3f818000u, 0x3f82}, /* 1 + 3*2^-8: tie, to even (up) */
        {0x3f808001u, 0x3f81}, /* just above the tie */
        {0x3f807fffu, 0x3f80}, /* just below */
        {0x7f7fffffu, 0x7f80}, /* FLT_MAX rounds to inf, as ggml */
        {0xff800000u, 0xff80}, /* -inf */
        {0x80000000u, 0x8000}, /* -0 */
    };
    for (size_t i = 0; i < sizeof bf / sizeof bf[0]; i++) {
        const float f = pmx_f32_from_bits(bf[i].f);
        pmx_quantize(PMX_TYPE_BF16, h, &f, 1, 1);
        CHECK(h[0] == bf[i].b, "bf16(%08x) = %04x, want %04x", bf[i].f, h[0], bf[i].b);
    }
    const float snan = pmx_f32_from_bits(0x7f800001u);
    pmx_quantize(PMX_TYPE_BF16, h, &snan, 1, 1);
    pmx_dequantize(PMX_TYPE_BF16, y, h, 1, 1);
    CHECK((h[0] & 0x7fc0) == 0x7fc0 && isnan(y[0]), "bf16 of a signalling NaN is a quiet NaN (%04x)", h[0]);
    /* F32 passes NaN and infinities through */
    float v[3] = {NAN, INFINITY, -0.0f}, w[3];
    pmx_quantize(PMX_TYPE_F32, w, v, 1, 3);
    CHECK(isnan(w[0]) && w[1] == INFINITY && signbit(w[2]), "f32 specials");
}

static void rejections(void) {
    float x[512] = {0};
    unsigned char q[2048];
    CHECK(pmx_quantize(PMX_TYPE_Q8_0, q, x, 1, 48) == PMX_ERR_INVALID_ARG, "q8_0 n=48");
    CHECK(pmx_quantize(PMX_TYPE_Q4_0, q, x, 1, 33) == PMX_ERR_INVALID_ARG, "q4_0 n=33");
    CHECK(pmx_quantize(PMX_TYPE_Q5_0, q, x, 1, 48) == PMX_ERR_INVALID_ARG, "q5_0 n=48");
    CHECK(pmx_type_block_size(PMX_TYPE_Q5_0) == 32 && pmx_type_block_bytes(PMX_TYPE_Q5_0) == 22, "q5_0 geometry");
    CHECK(pmx_quantize(PMX_TYPE_Q4_K, q, x, 1, 128) == PMX_ERR_INVALID_ARG, "q4_K n=128");
    CHECK(pmx_quantize(PMX_TYPE_Q6_K, q, x, 1, 320) == PMX_ERR_INVALID_ARG, "q6_K n=320");
    CHECK(pmx_dequantize(PMX_TYPE_Q6_K, x, q, 1, 320) == PMX_ERR_INVALID_ARG, "q6_K dequantize n=320");
    CHECK(pmx_quantize(PMX_TYPE_F32, q, x, 1, 0) == PMX_ERR_INVALID_ARG, "n=0");
    CHECK(pmx_quantize(16, q, x, 1, 256) == PMX_ERR_INVALID_ARG, "unknown type (ggml's iq2_xxs)");
    CHECK(pmx_quantize(PMX_TYPE_Q8_0, NULL, x, 1, 32) == PMX_ERR_INVALID_ARG, "null dst");
    CHECK(pmx_quantize(PMX_TYPE_Q8_0, q, x, -1, 32) == PMX_ERR_INVALID_ARG, "negative rows");
    CHECK(pmx_quantize(PMX_TYPE_F16, q, x, 1, 7) == PMX_OK, "f16 takes any n");
    /* multi-row: row r lands at r * row bytes, identical to quantizing it alone */
    float xr[3 * 256];
    unsigned char all[3 * 210], one[210];
    fill(xr, 3 * 256, 2.0f);
    pmx_quantize(PMX_TYPE_Q6_K, all, xr, 3, 256);
    pmx_quantize(PMX_TYPE_Q6_K, one, xr + 2 * 256, 1, 256);
    CHECK(row_bytes_of(PMX_TYPE_Q6_K, 256) == 210 && memcmp(all + 2 * 210, one, 210) == 0, "q6_K rows are independent");
}

int main(void) {
    round_trips();
    zeros();
    known_blocks();
    activations_q8_K();
    special_values();
    rejections();
    return finish();
}
