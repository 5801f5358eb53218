package dev.panamax.kernels;

import static dev.panamax.kernels.JavaQuants.I16;
import static dev.panamax.kernels.JavaQuants.I32;
import static dev.panamax.kernels.JavaQuants.QK;
import static dev.panamax.kernels.JavaQuants.QK_K;
import static dev.panamax.kernels.JavaQuants.fromHalf;
import static dev.panamax.kernels.JavaQuants.nearestInt;
import static dev.panamax.kernels.JavaQuants.toHalf;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import java.lang.foreign.MemorySegment;

/**
 * The types beyond the first seven, in plain Java as {@link JavaQuants} does the others: Q4_1 and Q5_1 (32-blocks with
 * a minimum), the K-quants Q2_K, Q3_K and Q5_K, and the non-linear IQ4_NL and IQ4_XS. Quantizers give the bytes of
 * llama.cpp's quantizer without an importance matrix (native/src/ref/quants.c, the same float operations in the same
 * order); dequantizers the floats of ggml's; dot products the int8 sums of ggml's vec_dot against the Q8_0 (Q4_1, Q5_1,
 * IQ4_NL) or Q8_K (the others) activations of {@link ScalarKernels.Act}. Block layouts: native/src/blocks.h.
 */
public final class LowBitQuants {
    private LowBitQuants() {}

    /** ggml's kvalues_iq4nl: IQ4_NL's and IQ4_XS's 16 levels. */
    static final byte[] KVALUES_IQ4NL = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

    private static int u8(MemorySegment s, long o) {
        return s.get(JAVA_BYTE, o) & 0xff;
    }

    // ---- element accessors (block at o) ----

    /** Q2_K: the 2-bit quant of element j. */
    static int q2(MemorySegment s, long o, int j) {
        return (u8(s, o + 16 + 32 * (j / 128) + j % 32) >>> (2 * ((j % 128) / 32))) & 3;
    }

    /** Q3_K: the 3-bit quant (0..7, offset 4) of element j. */
    static int q3(MemorySegment s, long o, int j) {
        int lo = (u8(s, o + 32 + 32 * (j / 128) + j % 32) >>> (2 * ((j % 128) / 32))) & 3;
        return lo | (((u8(s, o + j % 32) >>> (j / 32)) & 1) << 2);
    }

    /** Q3_K: the signed 6-bit scale of sub-block j (16 values). */
    static int q3Scale(MemorySegment s, long o, int j) {
        long sc = o + 96;
        int lo = j < 8 ? u8(s, sc + j) & 0xf : u8(s, sc + j - 8) >>> 4;
        return (lo | (((u8(s, sc + 8 + j % 4) >>> (2 * (j / 4))) & 3) << 4)) - 32;
    }

    /** Q5_K: the 5-bit quant of element j. */
    static int q5(MemorySegment s, long o, int j) {
        int lo = (u8(s, o + 48 + 32 * (j / 64) + j % 32) >>> (4 * ((j / 32) & 1))) & 0xf;
        return lo | (((u8(s, o + 16 + j % 32) >>> (j / 32)) & 1) << 4);
    }

    /** IQ4_XS: the 6-bit scale (offset 32) of sub-block ib. */
    static int iq4xsScale(MemorySegment s, long o, int ib) {
        int h = s.get(I16, o + 2) & 0xffff;
        return ((u8(s, o + 4 + ib / 2) >>> (4 * (ib % 2))) & 0xf) | (((h >>> (2 * ib)) & 3) << 4);
    }

    // ---- dequantize (block at o into y[y0, y0 + block)) ----

    static void dequantQ4_1(float[] y, int y0, MemorySegment s, long o) {
        float d = fromHalf(s.get(I16, o)), m = fromHalf(s.get(I16, o + 2));
        for (int j = 0; j < 16; j++) {
            int q = u8(s, o + 4 + j);
            y[y0 + j] = (q & 0xf) * d + m;
            y[y0 + j + 16] = (q >>> 4) * d + m;
        }
    }

    static void dequantQ5_1(float[] y, int y0, MemorySegment s, long o) {
        float d = fromHalf(s.get(I16, o)), m = fromHalf(s.get(I16, o + 2));
        int qh = s.get(I32, o + 4);
        for (int j = 0; j < 16; j++) {
            int q = u8(s, o + 8 + j);
            y[y0 + j] = ((q & 0xf) | (((qh >>> j) & 1) << 4)) * d + m;
            y[y0 + j + 16] = ((q >>> 4) | (((qh >>> (j + 16)) & 1) << 4)) * d + m;
        }
    }

    static void dequantIq4Nl(float[] y, int y0, MemorySegment s, long o) {
        float d = fromHalf(s.get(I16, o));
        for (int j = 0; j < 16; j++) {
            int q = u8(s, o + 2 + j);
            y[y0 + j] = d * KVALUES_IQ4NL[q & 0xf];
            y[y0 + j + 16] = d * KVALUES_IQ4NL[q >>> 4];
        }
    }

    static void dequantQ2K(float[] y, int y0, MemorySegment s, long o) {
        float d = fromHalf(s.get(I16, o + 80)), min = fromHalf(s.get(I16, o + 82));
        for (int j = 0; j < QK_K; j++) {
            int sc = u8(s, o + j / 16);
            float dl = d * (sc & 0xf), ml = min * (sc >>> 4);
            y[y0 + j] = dl * q2(s, o, j) - ml;
        }
    }

    static void dequantQ3K(float[] y, int y0, MemorySegment s, long o) {
        float d = fromHalf(s.get(I16, o + 108));
        for (int j = 0; j < QK_K; j++) {
            float dl = d * q3Scale(s, o, j / 16);
            y[y0 + j] = dl * (q3(s, o, j) - 4);
        }
    }

    static void dequantQ5K(float[] y, int y0, MemorySegment s, long o) {
        float d = fromHalf(s.get(I16, o)), min = fromHalf(s.get(I16, o + 2));
        for (int j = 0; j < 8; j++) {
            int sm = JavaQuants.scaleMinK4(j, s, o + 4);
            float d1 = d * (sm & 0xff), m1 = min * (sm >>> 8);
            for (int l = 0; l < 32; l++) y[y0 + 32 * j + l] = d1 * q5(s, o, 32 * j + l) - m1;
        }
    }

    static void dequantIq4Xs(float[] y, int y0, MemorySegment s, long o) {
        float d = fromHalf(s.get(I16, o));
        for (int ib = 0; ib < 8; ib++) {
            float dl = d * (iq4xsScale(s, o, ib) - 32);
            for (int j = 0; j < 16; j++) {
                int q = u8(s, o + 8 + 16 * ib + j);
                y[y0 + 32 * ib + j] = dl * KVALUES_IQ4NL[q & 0xf];
                y[y0 + 32 * ib + j + 16] = dl * KVALUES_IQ4NL[q >>> 4];
            }
        }
    }

    // ---- dot products against prepared activations (weight row at wo, n elements) ----

    static float dotQx1(MemorySegment w, long wo, ScalarKernels.Act a, int n, boolean five) {
        int bb = five ? 24 : 20, qs = five ? 8 : 4;
        float s = 0;
        for (int b = 0; b < n / QK; b++) {
            long o = wo + (long) bb * b;
            int qh = five ? w.get(I32, o + 4) : 0;
            int sumi = 0, suma = 0;
            for (int j = 0; j < 16; j++) {
                int q = u8(w, o + qs + j);
                int q0 = (q & 0xf) | (((qh >>> j) & 1) << 4), q1 = (q >>> 4) | (((qh >>> (j + 16)) & 1) << 4);
                int a0 = a.qs[b * QK + j], a1 = a.qs[b * QK + 16 + j];
                sumi += q0 * a0 + q1 * a1;
                suma += a0 + a1;
            }
            s += sumi * (fromHalf(w.get(I16, o)) * a.d[b]) + suma * (fromHalf(w.get(I16, o + 2)) * a.d[b]);
        }
        return s;
    }

    static float dotIq4Nl(MemorySegment w, long wo, ScalarKernels.Act a, int n) {
        float s = 0;
        for (int b = 0; b < n / QK; b++) {
            long o = wo + 18L * b;
            int sumi = 0;
            for (int j = 0; j < 16; j++) {
                int q = u8(w, o + 2 + j);
                sumi += KVALUES_IQ4NL[q & 0xf] * a.qs[b * QK + j] + KVALUES_IQ4NL[q >>> 4] * a.qs[b * QK + 16 + j];
            }
            s += sumi * (fromHalf(w.get(I16, o)) * a.d[b]);
        }
        return s;
    }

    static float dotQ2K(MemorySegment w, long wo, ScalarKernels.Act a, int n) {
        float s = 0;
        for (int b = 0; b < n / QK_K; b++) {
            long o = wo + 84L * b;
            int sumi = 0, summ = 0;
            for (int j = 0; j < 16; j++) {
                int p = 0;
                for (int l = 0; l < 16; l++) p += q2(w, o, 16 * j + l) * a.qs[b * QK_K + 16 * j + l];
                int sc = u8(w, o + j);
                sumi += (sc & 0xf) * p;
                summ += (sc >>> 4) * a.bsums[b * 16 + j];
            }
            s += fromHalf(w.get(I16, o + 80)) * a.d[b] * sumi - fromHalf(w.get(I16, o + 82)) * a.d[b] * summ;
        }
        return s;
    }

    static float dotQ3K(MemorySegment w, long wo, ScalarKernels.Act a, int n) {
        float s = 0;
        for (int b = 0; b < n / QK_K; b++) {
            long o = wo + 110L * b;
            int sumi = 0;
            for (int j = 0; j < 16; j++) {
                int p = 0;
                for (int l = 0; l < 16; l++) p += (q3(w, o, 16 * j + l) - 4) * a.qs[b * QK_K + 16 * j + l];
                sumi += q3Scale(w, o, j) * p;
            }
            s += fromHalf(w.get(I16, o + 108)) * a.d[b] * sumi;
        }
        return s;
    }

    static float dotQ5K(MemorySegment w, long wo, ScalarKernels.Act a, int n) {
        float s = 0;
        for (int b = 0; b < n / QK_K; b++) {
            long o = wo + 176L * b;
            int sumi = 0, summ = 0;
            for (int j = 0; j < 8; j++) {
                int sm = JavaQuants.scaleMinK4(j, w, o + 4), p = 0;
                for (int l = 0; l < 32; l++) p += q5(w, o, 32 * j + l) * a.qs[b * QK_K + 32 * j + l];
                sumi += (sm & 0xff) * p;
                summ += (sm >>> 8) * (a.bsums[b * 16 + 2 * j] + a.bsums[b * 16 + 2 * j + 1]);
            }
            s += fromHalf(w.get(I16, o)) * a.d[b] * sumi - fromHalf(w.get(I16, o + 2)) * a.d[b] * summ;
        }
        return s;
    }

    static float dotIq4Xs(MemorySegment w, long wo, ScalarKernels.Act a, int n) {
        float s = 0;
        for (int b = 0; b < n / QK_K; b++) {
            long o = wo + 136L * b;
            int sumi = 0;
            for (int ib = 0; ib < 8; ib++) {
                int p = 0, x0 = b * QK_K + 32 * ib;
                for (int j = 0; j < 16; j++) {
                    int q = u8(w, o + 8 + 16 * ib + j);
                    p += KVALUES_IQ4NL[q & 0xf] * a.qs[x0 + j] + KVALUES_IQ4NL[q >>> 4] * a.qs[x0 + 16 + j];
                }
                sumi += (iq4xsScale(w, o, ib) - 32) * p;
            }
            s += fromHalf(w.get(I16, o)) * a.d[b] * sumi;
        }
        return s;
    }

    // ---- quantize (x[x0, x0 + block) into the block at o) ----

    private static void put(MemorySegment dst, long o, byte[] block) {
        MemorySegment.copy(block, 0, dst, JAVA_BYTE, o, block.length);
    }

    private static void putHalf(byte[] b, int at, short h) {
        b[at] = (byte) h;
        b[at + 1] = (byte) (h >>> 8);
    }

    /** Q4_1 (bits 4) or Q5_1 (bits 5): d = (max - min) / (2^bits - 1), q = trunc((x - min) / d + 0.5). */
    static void qx1Block(MemorySegment dst, long o, float[] x, int x0, int bits) {
        float min = Float.MAX_VALUE, max = -Float.MAX_VALUE;
        for (int j = 0; j < QK; j++) {
            float v = x[x0 + j];
            if (v < min) min = v;
            if (v > max) max = v;
        }
        float d = (max - min) / ((1 << bits) - 1);
        float id = d != 0 ? 1.0f / d : 0.0f;
        byte[] b = new byte[bits == 4 ? 20 : 24];
        putHalf(b, 0, toHalf(d));
        putHalf(b, 2, toHalf(min));
        int qs = bits == 4 ? 4 : 8, qh = 0;
        for (int j = 0; j < 16; j++) {
            float v0 = (x[x0 + j] - min) * id, v1 = (x[x0 + 16 + j] - min) * id;
            // C's (int8_t) / (uint8_t) of a float truncates toward zero; the values lie in [0, 2^bits - 0.5]
            int q0 = (int) (v0 + 0.5f), q1 = (int) (v1 + 0.5f);
            if (bits == 4) {
                q0 = Math.min(15, q0);
                q1 = Math.min(15, q1);
            }
            b[qs + j] = (byte) ((q0 & 0xf) | ((q1 & 0xf) << 4));
            qh |= ((q0 & 0x10) >>> 4) << j;
            qh |= ((q1 & 0x10) >>> 4) << (j + 16);
        }
        if (bits == 5) {
            for (int k = 0; k < 4; k++) b[4 + k] = (byte) (qh >>> (8 * k));
        }
        put(dst, o, b);
    }

    /** ggml's best_index_int8 over the IQ4 levels: the nearest, ties to the lower. */
    private static int bestIndex(float x) {
        byte[] val = KVALUES_IQ4NL;
        if (x <= val[0]) return 0;
        if (x >= val[15]) return 15;
        int ml = 0, mu = 15;
        while (mu - ml > 1) {
            int mav = (ml + mu) / 2;
            if (x < val[mav]) mu = mav;
            else ml = mav;
        }
        return x - val[mu - 1] < val[mu] - x ? mu - 1 : mu;
    }

    /**
     * ggml's quantize_row_iq4_nl_impl, ntry 7: one IQ4_NL block (sbs 32) or IQ4_XS super-block (sbs 256) into b (d at 0;
     * IQ4_XS: scales_h at 2, scales_l at 4; nibbles at qsAt). Without importance (qw null) the weights are x^2, with it
     * qw[qwOff + j] · sqrt(sigma2 + x^2), sigma2 twice the super-block's mean square.
     */
    private static void iq4Block(float[] x, int x0, int sbs, byte[] b, int qsAt, float[] qw, int qwOff) {
        int ntry = 7;
        byte[] values = KVALUES_IQ4NL;
        int[] l = new int[sbs];
        float[] weight = new float[32], scales = new float[sbs / 32];
        float maxScale = 0, amaxScale = 0;
        float sigma2 = 0;
        for (int j = 0; j < sbs; j++) sigma2 += x[x0 + j] * x[x0 + j];
        sigma2 *= 2.f / sbs;
        for (int ib = 0; ib < sbs / 32; ib++) {
            int xb = x0 + 32 * ib;
            for (int j = 0; j < 32; j++) {
                weight[j] = qw == null ? x[xb + j] * x[xb + j]
                        : qw[qwOff + 32 * ib + j] * (float) Math.sqrt(sigma2 + x[xb + j] * x[xb + j]);
            }
            float amax = 0, max = 0;
            for (int j = 0; j < 32; j++) {
                float ax = Math.abs(x[xb + j]);
                if (ax > amax) {
                    amax = ax;
                    max = x[xb + j];
                }
            }
            if (amax < JavaQuants.GROUP_MAX_EPS) {
                scales[ib] = 0;
                continue;
            }
            float d = -max / values[0];
            float id = 1 / d;
            float sumqx = 0, sumq2 = 0;
            for (int j = 0; j < 32; j++) {
                float al = id * x[xb + j];
                int q = values[bestIndex(al)];
                float w = weight[j];
                sumqx += w * q * x[xb + j];
                sumq2 += w * q * q;
            }
            d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
            float best = d * sumqx;
            for (int itry = -ntry; itry <= ntry; itry++) {
                id = (itry + values[0]) / max;
                sumqx = 0;
                sumq2 = 0;
                for (int j = 0; j < 32; j++) {
                    float al = id * x[xb + j];
                    int q = values[bestIndex(al)];
                    float w = weight[j];
                    sumqx += w * q * x[xb + j];
                    sumq2 += w * q * q;
                }
                if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                    d = sumqx / sumq2;
                    best = d * sumqx;
                }
            }
            scales[ib] = d;
            float absD = Math.abs(d);
            if (absD > amaxScale) {
                amaxScale = absD;
                maxScale = d;
            }
        }
        if (sbs > 32) {
            float d = -maxScale / 32;
            putHalf(b, 0, toHalf(d));
            float id = d != 0 ? 1 / d : 0.f;
            int scalesH = 0;
            for (int ib = 0; ib < sbs / 32; ib++) {
                int q = Math.max(-32, Math.min(31, nearestInt(id * scales[ib])));
                float dl = d * q;
                float idl = dl != 0 ? 1 / dl : 0.f;
                for (int j = 0; j < 32; j++) l[32 * ib + j] = bestIndex(idl * x[x0 + 32 * ib + j]);
                q += 32;
                b[4 + ib / 2] |= (byte) ((q & 0xf) << (4 * (ib % 2)));
                scalesH |= (q >>> 4) << (2 * (ib % 8));
            }
            putHalf(b, 2, (short) scalesH);
        } else {
            putHalf(b, 0, toHalf(scales[0]));
            float id = scales[0] != 0 ? 1 / scales[0] : 0;
            for (int j = 0; j < sbs; j++) l[j] = bestIndex(id * x[x0 + j]);
        }
        for (int i = 0; i < sbs / 32; i++) {
            for (int j = 0; j < 16; j++) b[qsAt + 16 * i + j] = (byte) (l[32 * i + j] | (l[32 * i + 16 + j] << 4));
        }
    }

    static void iq4NlBlock(MemorySegment dst, long o, float[] x, int x0) {
        iq4NlBlock(dst, o, x, x0, null, 0);
    }

    static void iq4XsBlock(MemorySegment dst, long o, float[] x, int x0) {
        iq4XsBlock(dst, o, x, x0, null, 0);
    }

    /** One IQ4_NL block of x[x0..x0+32) at dst[o], its columns weighted by qw[qwOff..] (null: without importance). */
    public static void iq4NlBlock(MemorySegment dst, long o, float[] x, int x0, float[] qw, int qwOff) {
        byte[] b = new byte[18];
        iq4Block(x, x0, 32, b, 2, qw, qwOff);
        put(dst, o, b);
    }

    /** One IQ4_XS super-block of x[x0..x0+256) at dst[o], its columns weighted by qw[qwOff..] (null: without importance). */
    public static void iq4XsBlock(MemorySegment dst, long o, float[] x, int x0, float[] qw, int qwOff) {
        byte[] b = new byte[136];
        iq4Block(x, x0, QK_K, b, 8, qw, qwOff);
        put(dst, o, b);
    }

    static void q2KBlock(MemorySegment dst, long o, float[] x, int x0) {
        byte[] b = new byte[84], l = new byte[QK_K], laux = new byte[16];
        float[] weights = new float[16], mins = new float[16], scales = new float[16], theMin = new float[1];
        float q4scale = 15.f, maxScale = 0, maxMin = 0;
        for (int j = 0; j < 16; j++) {
            for (int i = 0; i < 16; i++) weights[i] = Math.abs(x[x0 + 16 * j + i]);
            scales[j] = JavaQuants.makeQkx2Quants(16, 3, x, x0 + 16 * j, weights, l, 16 * j, theMin, laux, -0.5f, 0.1f, 15, true);
            mins[j] = theMin[0];
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }
        short dh = 0, mh = 0;
        if (maxScale > 0) {
            float iscale = q4scale / maxScale;
            for (int j = 0; j < 16; j++) b[j] = (byte) nearestInt(iscale * scales[j]);
            dh = toHalf(maxScale / q4scale);
        } else {
            dh = toHalf(0.f);
        }
        if (maxMin > 0) {
            float iscale = q4scale / maxMin;
            for (int j = 0; j < 16; j++) b[j] |= (byte) (nearestInt(iscale * mins[j]) << 4);
            mh = toHalf(maxMin / q4scale);
        } else {
            mh = toHalf(0.f);
        }
        putHalf(b, 80, dh);
        putHalf(b, 82, mh);
        for (int j = 0; j < 16; j++) {
            int sc = b[j] & 0xff;
            float d = fromHalf(dh) * (sc & 0xf);
            if (d == 0) continue;
            float dm = fromHalf(mh) * (sc >>> 4);
            for (int i = 0; i < 16; i++) {
                int q = nearestInt((x[x0 + 16 * j + i] + dm) / d);
                l[16 * j + i] = (byte) Math.max(0, Math.min(3, q));
            }
        }
        packLow2(b, 16, l);
        put(dst, o, b);
    }

    /** 2-bit values l (0..3) of 256 elements at b[at]: per 128, byte i holds elements i, i + 32, i + 64, i + 96. */
    private static void packLow2(byte[] b, int at, byte[] l) {
        for (int j = 0; j < QK_K; j += 128) {
            for (int i = 0; i < 32; i++) {
                b[at + j / 4 + i] = (byte) (l[j + i] | (l[j + i + 32] << 2) | (l[j + i + 64] << 4) | (l[j + i + 96] << 6));
            }
        }
    }

    /** ggml's make_q3_quants with do_rmse: signed levels -nmax..nmax-1 (returned + nmax in l). */
    private static float makeQ3Quants(int n, int nmax, float[] x, int x0, byte[] l, int l0) {
        float max = 0, amax = 0;
        for (int i = 0; i < n; i++) {
            float ax = Math.abs(x[x0 + i]);
            if (ax > amax) {
                amax = ax;
                max = x[x0 + i];
            }
        }
        if (amax < JavaQuants.GROUP_MAX_EPS) {
            for (int i = 0; i < n; i++) l[l0 + i] = 0;
            return 0.f;
        }
        float iscale = -nmax / max;
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++) {
            float xi = x[x0 + i];
            int q = Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * xi)));
            l[l0 + i] = (byte) q;
            float w = xi * xi;
            sumlx += w * xi * q;
            suml2 += w * q * q;
        }
        for (int itry = 0; itry < 5; itry++) {
            int changed = 0;
            for (int i = 0; i < n; i++) {
                float xi = x[x0 + i];
                float w = xi * xi;
                int li = l[l0 + i];
                float slx = sumlx - w * xi * li;
                if (slx > 0) {
                    float sl2 = suml2 - w * li * li;
                    int nl = Math.max(-nmax, Math.min(nmax - 1, nearestInt(xi * sl2 / slx)));
                    if (nl != li) {
                        slx += w * xi * nl;
                        sl2 += w * nl * nl;
                        if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                            l[l0 + i] = (byte) nl;
                            sumlx = slx;
                            suml2 = sl2;
                            changed++;
                        }
                    }
                }
            }
            if (changed == 0) break;
        }
        for (int i = 0; i < n; i++) l[l0 + i] = (byte) (l[l0 + i] + nmax);
        return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
    }

    static void q3KBlock(MemorySegment dst, long o, float[] x, int x0) {
        byte[] b = new byte[110], l = new byte[QK_K];
        float[] scales = new float[16];
        float maxScale = 0, amax = 0;
        for (int j = 0; j < 16; j++) {
            scales[j] = makeQ3Quants(16, 4, x, x0 + 16 * j, l, 16 * j);
            float scale = Math.abs(scales[j]);
            if (scale > amax) {
                amax = scale;
                maxScale = scales[j];
            }
        }
        short dh;
        if (maxScale != 0) {
            float iscale = -32.f / maxScale;
            for (int j = 0; j < 16; j++) {
                int q = (byte) nearestInt(iscale * scales[j]); // C stores it in an int8_t first
                q = Math.max(-32, Math.min(31, q)) + 32;
                if (j < 8) b[96 + j] = (byte) (q & 0xf);
                else b[96 + j - 8] |= (byte) ((q & 0xf) << 4);
                b[96 + 8 + j % 4] |= (byte) ((q >> 4) << (2 * (j / 4)));
            }
            dh = toHalf(1 / iscale);
        } else {
            dh = toHalf(0.f);
        }
        putHalf(b, 108, dh);
        MemorySegment bs = MemorySegment.ofArray(b);
        for (int j = 0; j < 16; j++) {
            float d = fromHalf(dh) * q3Scale(bs, 0, j);
            if (d == 0) continue;
            for (int i = 0; i < 16; i++) {
                int q = nearestInt(x[x0 + 16 * j + i] / d);
                l[16 * j + i] = (byte) (Math.max(-4, Math.min(3, q)) + 4);
            }
        }
        for (int j = 0; j < QK_K; j++) {
            if (l[j] > 3) {
                b[j % 32] |= (byte) (1 << (j / 32));
                l[j] -= 4;
            }
        }
        packLow2(b, 32, l);
        put(dst, o, b);
    }

    static void q5KBlock(MemorySegment dst, long o, float[] x, int x0) {
        byte[] b = new byte[176], l = new byte[QK_K], laux = new byte[32];
        float[] weights = new float[32], mins = new float[8], scales = new float[8], theMin = new float[1];
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; j++) {
            float sumX2 = 0;
            for (int i = 0; i < 32; i++) sumX2 += x[x0 + 32 * j + i] * x[x0 + 32 * j + i];
            float avX = (float) Math.sqrt(sumX2 / 32);
            for (int i = 0; i < 32; i++) weights[i] = avX + Math.abs(x[x0 + 32 * j + i]);
            scales[j] = JavaQuants.makeQkx2Quants(32, 31, x, x0 + 32 * j, weights, l, 32 * j, theMin, laux, -0.5f, 0.1f, 15, false);
            mins[j] = theMin[0];
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }
        float invScale = maxScale > 0 ? 63.f / maxScale : 0.f;
        float invMin = maxMin > 0 ? 63.f / maxMin : 0.f;
        int[] sb = JavaQuants.packScalesK4(scales, mins, invScale, invMin);
        short dh = toHalf(maxScale / 63.f), mh = toHalf(maxMin / 63.f);
        putHalf(b, 0, dh);
        putHalf(b, 2, mh);
        for (int j = 0; j < 12; j++) b[4 + j] = (byte) sb[j];
        MemorySegment bs = MemorySegment.ofArray(b);
        for (int j = 0; j < 8; j++) {
            int sm = JavaQuants.scaleMinK4(j, bs, 4);
            float d = fromHalf(dh) * (sm & 0xff);
            if (d == 0) continue;
            float dm = fromHalf(mh) * (sm >>> 8);
            for (int i = 0; i < 32; i++) {
                int q = nearestInt((x[x0 + 32 * j + i] + dm) / d);
                l[32 * j + i] = (byte) Math.max(0, Math.min(31, q));
            }
        }
        for (int p = 0; p < 4; p++) {
            for (int j = 0; j < 32; j++) {
                int l1 = l[64 * p + j], l2 = l[64 * p + 32 + j];
                b[16 + j] |= (byte) (((l1 >> 4) << (2 * p)) | ((l2 >> 4) << (2 * p + 1)));
                b[48 + 32 * p + j] = (byte) ((l1 & 0xf) | ((l2 & 0xf) << 4));
            }
        }
        put(dst, o, b);
    }
}
