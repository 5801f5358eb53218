package dev.panamax.kernels;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import dev.panamax.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * ggml's block formats in plain Java: quantizers that produce the bytes of ggml's {@code quantize_row_*_ref}
 * (float arithmetic in the same order, Java having no FMA contraction), dequantizers, half conversions, and
 * the 8-bit activation formats (Q8_0, Q8_K) the int8 matmul paths consume.
 */
final class JavaQuants {
    private JavaQuants() {}

    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    static final int QK = 32;
    static final int QK_K = 256;
    static final float GROUP_MAX_EPS = 1e-15f;

    // ---- half precision ----

    /** float to binary16, round to nearest even; NaN becomes a quiet NaN keeping the top payload bits (as F16C). */
    static short toHalf(float f) {
        if (Float.isNaN(f)) {
            int x = Float.floatToRawIntBits(f);
            return (short) (((x >>> 16) & 0x8000) | 0x7c00 | 0x200 | ((x >>> 13) & 0x3ff));
        }
        return Float.floatToFloat16(f);
    }

    static float fromHalf(short h) {
        return Float.float16ToFloat(h);
    }

    /** float to bfloat16 as ggml_compute_fp32_to_bf16: NaN stays a quiet NaN, else round to nearest even. */
    static short toBf16(float f) {
        int u = Float.floatToRawIntBits(f);
        if ((u & 0x7fffffff) > 0x7f800000) return (short) ((u >>> 16) | 64);
        return (short) ((u + (0x7fff + ((u >>> 16) & 1))) >>> 16);
    }

    static float fromBf16(short h) {
        return Float.intBitsToFloat((h & 0xffff) << 16);
    }

    /** ggml's nearest_int: round half to even through the float mantissa, valid for |f| <= 4194303. */
    static int nearestInt(float f) {
        int i = Float.floatToRawIntBits(f + 12582912.f);
        return (i & 0x007fffff) - 0x00400000;
    }

    /** C's roundf: half away from zero (exact in double for any float). */
    static float roundf(float f) {
        return (float) Math.copySign(Math.floor(Math.abs((double) f) + 0.5), f);
    }

    // ---- rows ----

    static void quantizeRow(GgmlType type, MemorySegment dst, long off, float[] x, int n) {
        switch (type) {
            case F32 -> { for (int i = 0; i < n; i++) dst.set(F32, off + 4L * i, x[i]); }
            case F16 -> { for (int i = 0; i < n; i++) dst.set(I16, off + 2L * i, toHalf(x[i])); }
            case BF16 -> { for (int i = 0; i < n; i++) dst.set(I16, off + 2L * i, toBf16(x[i])); }
            case Q8_0 -> { for (int b = 0; b < n / QK; b++) q8_0Block(dst, off + 34L * b, x, b * QK); }
            case Q4_0 -> { for (int b = 0; b < n / QK; b++) q4_0Block(dst, off + 18L * b, x, b * QK); }
            case Q5_0 -> { for (int b = 0; b < n / QK; b++) q5_0Block(dst, off + 22L * b, x, b * QK); }
            case Q4_K -> { for (int b = 0; b < n / QK_K; b++) q4KBlock(dst, off + 144L * b, x, b * QK_K); }
            case Q6_K -> { for (int b = 0; b < n / QK_K; b++) q6KBlock(dst, off + 210L * b, x, b * QK_K); }
            case Q4_1 -> { for (int b = 0; b < n / QK; b++) LowBitQuants.qx1Block(dst, off + 20L * b, x, b * QK, 4); }
            case Q5_1 -> { for (int b = 0; b < n / QK; b++) LowBitQuants.qx1Block(dst, off + 24L * b, x, b * QK, 5); }
            case IQ4_NL -> { for (int b = 0; b < n / QK; b++) LowBitQuants.iq4NlBlock(dst, off + 18L * b, x, b * QK); }
            case Q2_K -> { for (int b = 0; b < n / QK_K; b++) LowBitQuants.q2KBlock(dst, off + 84L * b, x, b * QK_K); }
            case Q3_K -> { for (int b = 0; b < n / QK_K; b++) LowBitQuants.q3KBlock(dst, off + 110L * b, x, b * QK_K); }
            case Q5_K -> { for (int b = 0; b < n / QK_K; b++) LowBitQuants.q5KBlock(dst, off + 176L * b, x, b * QK_K); }
            case IQ4_XS -> { for (int b = 0; b < n / QK_K; b++) LowBitQuants.iq4XsBlock(dst, off + 136L * b, x, b * QK_K); }
        }
    }

    static void dequantizeRow(GgmlType type, float[] y, MemorySegment src, long off, int n) {
        switch (type) {
            case F32 -> { for (int i = 0; i < n; i++) y[i] = src.get(F32, off + 4L * i); }
            case F16 -> { for (int i = 0; i < n; i++) y[i] = fromHalf(src.get(I16, off + 2L * i)); }
            case BF16 -> { for (int i = 0; i < n; i++) y[i] = fromBf16(src.get(I16, off + 2L * i)); }
            case Q8_0 -> {
                for (int b = 0; b < n / QK; b++) {
                    long o = off + 34L * b;
                    float d = fromHalf(src.get(I16, o));
                    for (int j = 0; j < QK; j++) y[b * QK + j] = src.get(JAVA_BYTE, o + 2 + j) * d;
                }
            }
            case Q4_0 -> {
                for (int b = 0; b < n / QK; b++) {
                    long o = off + 18L * b;
                    float d = fromHalf(src.get(I16, o));
                    for (int j = 0; j < 16; j++) {
                        int q = src.get(JAVA_BYTE, o + 2 + j) & 0xff;
                        y[b * QK + j] = ((q & 0xf) - 8) * d;
                        y[b * QK + j + 16] = ((q >>> 4) - 8) * d;
                    }
                }
            }
            case Q5_0 -> {
                for (int b = 0; b < n / QK; b++) {
                    long o = off + 22L * b;
                    float d = fromHalf(src.get(I16, o));
                    int qh = src.get(I32, o + 2);
                    for (int j = 0; j < 16; j++) {
                        int q = src.get(JAVA_BYTE, o + 6 + j) & 0xff;
                        y[b * QK + j] = (((q & 0xf) | (((qh >>> j) & 1) << 4)) - 16) * d;
                        y[b * QK + j + 16] = (((q >>> 4) | (((qh >>> (j + 16)) & 1) << 4)) - 16) * d;
                    }
                }
            }
            case Q4_K -> { for (int b = 0; b < n / QK_K; b++) dequantQ4K(y, b * QK_K, src, off + 144L * b); }
            case Q6_K -> { for (int b = 0; b < n / QK_K; b++) dequantQ6K(y, b * QK_K, src, off + 210L * b); }
            case Q4_1 -> { for (int b = 0; b < n / QK; b++) LowBitQuants.dequantQ4_1(y, b * QK, src, off + 20L * b); }
            case Q5_1 -> { for (int b = 0; b < n / QK; b++) LowBitQuants.dequantQ5_1(y, b * QK, src, off + 24L * b); }
            case IQ4_NL -> { for (int b = 0; b < n / QK; b++) LowBitQuants.dequantIq4Nl(y, b * QK, src, off + 18L * b); }
            case Q2_K -> { for (int b = 0; b < n / QK_K; b++) LowBitQuants.dequantQ2K(y, b * QK_K, src, off + 84L * b); }
            case Q3_K -> { for (int b = 0; b < n / QK_K; b++) LowBitQuants.dequantQ3K(y, b * QK_K, src, off + 110L * b); }
            case Q5_K -> { for (int b = 0; b < n / QK_K; b++) LowBitQuants.dequantQ5K(y, b * QK_K, src, off + 176L * b); }
            case IQ4_XS -> { for (int b = 0; b < n / QK_K; b++) LowBitQuants.dequantIq4Xs(y, b * QK_K, src, off + 136L * b); }
        }
    }

    // ---- Q8_0 / Q4_0 / Q5_0 ----

    private static void q8_0Block(MemorySegment dst, long o, float[] x, int x0) {
        float amax = 0;
        for (int j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[x0 + j]));
        float d = amax / 127;
        float id = d != 0 ? 1.0f / d : 0.0f;
        dst.set(I16, o, toHalf(d));
        for (int j = 0; j < QK; j++) dst.set(JAVA_BYTE, o + 2 + j, (byte) (int) roundf(x[x0 + j] * id));
    }

    private static void q4_0Block(MemorySegment dst, long o, float[] x, int x0) {
        float amax = 0, max = 0;
        for (int j = 0; j < QK; j++) {
            float v = x[x0 + j];
            if (amax < Math.abs(v)) {
                amax = Math.abs(v);
                max = v;
            }
        }
        float d = max / -8;
        float id = d != 0 ? 1.0f / d : 0.0f;
        dst.set(I16, o, toHalf(d));
        for (int j = 0; j < 16; j++) {
            // C's (int8_t) of a float truncates toward zero; the value is in [0.5, 16.5]
            int q0 = Math.min(15, (int) (x[x0 + j] * id + 8.5f));
            int q1 = Math.min(15, (int) (x[x0 + 16 + j] * id + 8.5f));
            dst.set(JAVA_BYTE, o + 2 + j, (byte) (q0 | (q1 << 4)));
        }
    }

    /** As Q4_0 with 5 bits: d = max / -16, q = trunc(x / d + 16.5) capped at 31; bit j of qh is element j's 5th bit. */
    private static void q5_0Block(MemorySegment dst, long o, float[] x, int x0) {
        float amax = 0, max = 0;
        for (int j = 0; j < QK; j++) {
            float v = x[x0 + j];
            if (amax < Math.abs(v)) {
                amax = Math.abs(v);
                max = v;
            }
        }
        float d = max / -16;
        float id = d != 0 ? 1.0f / d : 0.0f;
        dst.set(I16, o, toHalf(d));
        int qh = 0;
        for (int j = 0; j < 16; j++) {
            // C's (int8_t) of a float truncates toward zero; the value is in [0.5, 32.5]
            int q0 = Math.min(31, (int) (x[x0 + j] * id + 16.5f));
            int q1 = Math.min(31, (int) (x[x0 + 16 + j] * id + 16.5f));
            dst.set(JAVA_BYTE, o + 6 + j, (byte) ((q0 & 0xf) | ((q1 & 0xf) << 4)));
            qh |= (q0 >>> 4) << j;
            qh |= (q1 >>> 4) << (j + 16);
        }
        dst.set(I32, o + 2, qh);
    }

    // ---- Q4_K ----

    /** ggml's make_qkx2_quants: asymmetric quants 0..nmax with a min, the scale refined by weighted least squares. */
    static float makeQkx2Quants(int n, int nmax, float[] x, int x0, float[] weights, byte[] l, int l0,
                                float[] theMin, byte[] laux, float rmin, float rdelta, int nstep, boolean useMad) {
        float min = x[x0], max = x[x0];
        float sumW = weights[0];
        float sumX = sumW * x[x0];
        for (int i = 1; i < n; i++) {
            float xi = x[x0 + i];
            if (xi < min) min = xi;
            if (xi > max) max = xi;
            float w = weights[i];
            sumW += w;
            sumX += w * xi;
        }
        if (min > 0) min = 0;
        if (max == min) {
            for (int i = 0; i < n; i++) l[l0 + i] = 0;
            theMin[0] = -min;
            return 0.f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++) {
            int q = Math.max(0, Math.min(nmax, nearestInt(iscale * (x[x0 + i] - min))));
            l[l0 + i] = (byte) q;
            float diff = scale * q + min - x[x0 + i];
            bestError += weights[i] * (useMad ? Math.abs(diff) : diff * diff);
        }
        for (int is = 0; is <= nstep; is++) {
            iscale = (rmin + rdelta * is + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXl = 0;
            for (int i = 0; i < n; i++) {
                int q = Math.max(0, Math.min(nmax, nearestInt(iscale * (x[x0 + i] - min))));
                laux[i] = (byte) q;
                float w = weights[i];
                sumL += w * q;
                sumL2 += w * q * q;
                sumXl += w * q * x[x0 + i];
            }
            float det = sumW * sumL2 - sumL * sumL;
            if (det > 0) {
                float thisScale = (sumW * sumXl - sumX * sumL) / det;
                float thisMin = (sumL2 * sumX - sumL * sumXl) / det;
                if (thisMin > 0) {
                    thisMin = 0;
                    thisScale = sumXl / sumL2;
                }
                float curError = 0;
                for (int i = 0; i < n; i++) {
                    float diff = thisScale * laux[i] + thisMin - x[x0 + i];
                    curError += weights[i] * (useMad ? Math.abs(diff) : diff * diff);
                }
                if (curError < bestError) {
                    System.arraycopy(laux, 0, l, l0, n);
                    bestError = curError;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        theMin[0] = -min;
        return scale;
    }

    /** ggml's get_scale_min_k4: 6-bit scale (low 8 bits of the result) and min (next 8 bits) of sub-block j. */
    static int scaleMinK4(int j, MemorySegment s, long o) {
        int sc, m;
        if (j < 4) {
            sc = s.get(JAVA_BYTE, o + j) & 63;
            m = s.get(JAVA_BYTE, o + j + 4) & 63;
        } else {
            int a = s.get(JAVA_BYTE, o + j + 4) & 0xff;
            sc = (a & 0xf) | (((s.get(JAVA_BYTE, o + j - 4) & 0xff) >>> 6) << 4);
            m = (a >>> 4) | (((s.get(JAVA_BYTE, o + j) & 0xff) >>> 6) << 4);
        }
        return sc | (m << 8);
    }

    /** The 8 sub-block scales and mins as Q4_K's / Q5_K's 12 packed bytes (6 bits each). */
    static int[] packScalesK4(float[] scales, float[] mins, float invScale, float invMin) {
        int[] sb = new int[12];
        for (int j = 0; j < 8; j++) {
            int ls = Math.min(63, nearestInt(invScale * scales[j]) & 0xff);
            int lm = Math.min(63, nearestInt(invMin * mins[j]) & 0xff);
            if (j < 4) {
                sb[j] = ls;
                sb[j + 4] = lm;
            } else {
                sb[j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
                sb[j - 4] |= (ls >> 4) << 6;
                sb[j] |= (lm >> 4) << 6;
            }
        }
        return sb;
    }

    private static void q4KBlock(MemorySegment dst, long o, float[] x, int x0) {
        byte[] l = new byte[QK_K];
        byte[] laux = new byte[32];
        float[] weights = new float[32];
        float[] mins = new float[8], scales = new float[8], theMin = new float[1];
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; j++) {
            float sumX2 = 0;
            for (int i = 0; i < 32; i++) sumX2 += x[x0 + 32 * j + i] * x[x0 + 32 * j + i];
            float avX = (float) Math.sqrt(sumX2 / 32);
            for (int i = 0; i < 32; i++) weights[i] = avX + Math.abs(x[x0 + 32 * j + i]);
            scales[j] = makeQkx2Quants(32, 15, x, x0 + 32 * j, weights, l, 32 * j, theMin, laux, -1.f, 0.1f, 20, false);
            mins[j] = theMin[0];
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }
        float invScale = maxScale > 0 ? 63.f / maxScale : 0.f;
        float invMin = maxMin > 0 ? 63.f / maxMin : 0.f;
        int[] sb = packScalesK4(scales, mins, invScale, invMin);
        short dh = toHalf(maxScale / 63.f), mh = toHalf(maxMin / 63.f);
        dst.set(I16, o, dh);
        dst.set(I16, o + 2, mh);
        for (int j = 0; j < 12; j++) dst.set(JAVA_BYTE, o + 4 + j, (byte) sb[j]);
        for (int j = 0; j < 8; j++) {
            int sm = scaleMinK4(j, dst, o + 4);
            float d = fromHalf(dh) * (sm & 0xff);
            if (d == 0) continue;
            float dm = fromHalf(mh) * (sm >>> 8);
            for (int i = 0; i < 32; i++) {
                int q = nearestInt((x[x0 + 32 * j + i] + dm) / d);
                l[32 * j + i] = (byte) Math.max(0, Math.min(15, q));
            }
        }
        long q = o + 16;
        for (int j = 0; j < QK_K; j += 64) {
            for (int i = 0; i < 32; i++) dst.set(JAVA_BYTE, q + i, (byte) (l[j + i] | (l[j + i + 32] << 4)));
            q += 32;
        }
    }

    private static void dequantQ4K(float[] y, int y0, MemorySegment s, long o) {
        float d = fromHalf(s.get(I16, o)), min = fromHalf(s.get(I16, o + 2));
        long q = o + 16;
        for (int j = 0, is = 0; j < QK_K; j += 64, is += 2, q += 32) {
            int sm1 = scaleMinK4(is, s, o + 4), sm2 = scaleMinK4(is + 1, s, o + 4);
            float d1 = d * (sm1 & 0xff), m1 = min * (sm1 >>> 8);
            float d2 = d * (sm2 & 0xff), m2 = min * (sm2 >>> 8);
            for (int i = 0; i < 32; i++) y[y0 + j + i] = d1 * (s.get(JAVA_BYTE, q + i) & 0xf) - m1;
            for (int i = 0; i < 32; i++) y[y0 + j + 32 + i] = d2 * ((s.get(JAVA_BYTE, q + i) & 0xff) >>> 4) - m2;
        }
    }

    // ---- Q6_K ----

    /** ggml's make_qx_quants with rmse_type 1 and no importance: symmetric quants -nmax..nmax-1 (stored + nmax). */
    private static float makeQxQuants(int n, int nmax, float[] x, int x0, byte[] l, int l0) {
        float max = 0, amax = 0;
        for (int i = 0; i < n; i++) {
            float ax = Math.abs(x[x0 + i]);
            if (ax > amax) {
                amax = ax;
                max = x[x0 + i];
            }
        }
        if (amax < GROUP_MAX_EPS) {
            for (int i = 0; i < n; i++) l[l0 + i] = 0;
            return 0.f;
        }
        float iscale = -nmax / max;
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++) {
            float xi = x[x0 + i];
            int q = Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * xi)));
            l[l0 + i] = (byte) (q + nmax);
            float w = xi * xi;
            sumlx += w * xi * q;
            suml2 += w * q * q;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
        float best = scale * sumlx;
        for (int is = -9; is <= 9; is++) {
            if (is == 0) continue;
            iscale = -(nmax + 0.1f * is) / max;
            sumlx = 0;
            suml2 = 0;
            for (int i = 0; i < n; i++) {
                float xi = x[x0 + i];
                int q = Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * xi)));
                float w = xi * xi;
                sumlx += w * xi * q;
                suml2 += w * q * q;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2) {
                for (int i = 0; i < n; i++) {
                    int q = nearestInt(iscale * x[x0 + i]);
                    l[l0 + i] = (byte) (nmax + Math.max(-nmax, Math.min(nmax - 1, q)));
                }
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    private static void q6KBlock(MemorySegment dst, long o, float[] x, int x0) {
        byte[] l = new byte[QK_K];
        float[] scales = new float[16];
        float maxScale = 0, maxAbsScale = 0;
        for (int ib = 0; ib < 16; ib++) {
            float scale = makeQxQuants(16, 32, x, x0 + 16 * ib, l, 16 * ib);
            scales[ib] = scale;
            float abs = Math.abs(scale);
            if (abs > maxAbsScale) {
                maxAbsScale = abs;
                maxScale = scale;
            }
        }
        if (maxAbsScale < GROUP_MAX_EPS) {
            for (int i = 0; i < 210; i++) dst.set(JAVA_BYTE, o + i, (byte) 0);
            return;
        }
        float iscale = -128.f / maxScale;
        short dh = toHalf(1 / iscale);
        dst.set(I16, o + 208, dh);
        byte[] sc = new byte[16];
        for (int ib = 0; ib < 16; ib++) {
            sc[ib] = (byte) Math.min(127, nearestInt(iscale * scales[ib]));
            dst.set(JAVA_BYTE, o + 192 + ib, sc[ib]);
        }
        for (int j = 0; j < 16; j++) {
            float d = fromHalf(dh) * sc[j];
            if (d == 0) continue;
            for (int i = 0; i < 16; i++) {
                int q = nearestInt(x[x0 + 16 * j + i] / d);
                l[16 * j + i] = (byte) (Math.max(-32, Math.min(31, q)) + 32);
            }
        }
        long ql = o, qh = o + 128;
        for (int j = 0; j < QK_K; j += 128) {
            for (int i = 0; i < 32; i++) {
                int a = l[j + i], b = l[j + i + 32], c = l[j + i + 64], e = l[j + i + 96];
                dst.set(JAVA_BYTE, ql + i, (byte) ((a & 0xf) | ((c & 0xf) << 4)));
                dst.set(JAVA_BYTE, ql + i + 32, (byte) ((b & 0xf) | ((e & 0xf) << 4)));
                dst.set(JAVA_BYTE, qh + i, (byte) ((a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6)));
            }
            ql += 64;
            qh += 32;
        }
    }

    /** The 6-bit value (0..63) of element i (0..255) of a Q6_K block at o. */
    static int q6Value(MemorySegment s, long o, int i) {
        int half = i >> 7, r = i & 127, quarter = r >> 5, l = r & 31;
        int lo = s.get(JAVA_BYTE, o + 64L * half + l + (quarter & 1) * 32) & 0xff;
        lo = quarter >= 2 ? lo >>> 4 : lo & 0xf;
        int hi = ((s.get(JAVA_BYTE, o + 128 + 32L * half + l) & 0xff) >>> (2 * quarter)) & 3;
        return lo | (hi << 4);
    }

    private static void dequantQ6K(float[] y, int y0, MemorySegment s, long o) {
        float d = fromHalf(s.get(I16, o + 208));
        for (int i = 0; i < QK_K; i++) {
            int sc = s.get(JAVA_BYTE, o + 192 + i / 16);
            y[y0 + i] = d * sc * (q6Value(s, o, i) - 32);
        }
    }

    // ---- activations for the int8 matmul paths ----

    /** Activations as Q8_0: qs[n], d[n/32] (the fp16-rounded scale, as block_q8_0 stores it). */
    static void actQ8_0(float[] x, int n, byte[] qs, float[] d) {
        for (int b = 0; b < n / QK; b++) {
            float amax = 0;
            for (int j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[b * QK + j]));
            float db = amax / 127;
            float id = db != 0 ? 1.0f / db : 0.0f;
            d[b] = fromHalf(toHalf(db));
            for (int j = 0; j < QK; j++) qs[b * QK + j] = (byte) (int) roundf(x[b * QK + j] * id);
        }
    }

    /** Activations as ggml's Q8_K: qs[n], d[n/256], bsums[n/16] (sums of each 16 quants). */
    static void actQ8K(float[] x, int n, byte[] qs, float[] d, int[] bsums) {
        for (int b = 0; b < n / QK_K; b++) {
            int x0 = b * QK_K;
            float max = 0, amax = 0;
            for (int j = 0; j < QK_K; j++) {
                float ax = Math.abs(x[x0 + j]);
                if (ax > amax) {
                    amax = ax;
                    max = x[x0 + j];
                }
            }
            if (amax == 0) {
                d[b] = 0;
                for (int j = 0; j < QK_K; j++) qs[x0 + j] = 0;
            } else {
                float iscale = -127.f / max;
                for (int j = 0; j < QK_K; j++) qs[x0 + j] = (byte) Math.min(127, nearestInt(iscale * x[x0 + j]));
                d[b] = 1 / iscale;
            }
            for (int j = 0; j < 16; j++) {
                int sum = 0;
                for (int i = 0; i < 16; i++) sum += qs[x0 + 16 * j + i];
                bsums[b * 16 + j] = sum;
            }
        }
    }
}
