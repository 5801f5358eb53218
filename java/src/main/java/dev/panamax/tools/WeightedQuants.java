package dev.panamax.tools;

import dev.panamax.kernels.LowBitQuants;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.EnumSet;
import java.util.Set;

/**
 * ggml's quantizers with an importance matrix ({@code quantize_row_q4_K_impl(.., quant_weights)} and friends in
 * ggml-quants.c): each block's scale (and min) minimizes the rounding error weighted by the mean squared activation of
 * each column, so the columns that matter keep more precision. Only the quantizer uses them (inference never quantizes
 * weights), so they live here, in plain Java, operation for operation as ggml's float code (Java's float arithmetic is
 * IEEE without contraction, as ggml-base is compiled), giving the same bytes.
 */
final class WeightedQuants {

    /** Types whose ggml quantizer takes the importance matrix (Q8_0 and the float types ignore it). */
    private static final Set<GgmlType> USES = EnumSet.of(GgmlType.Q4_0, GgmlType.Q5_0, GgmlType.Q4_1, GgmlType.Q5_1,
            GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_NL, GgmlType.IQ4_XS);
    /** Types with a weighted quantizer here: one entry per type as they are added. */
    private static final Set<GgmlType> SUPPORTED = EnumSet.copyOf(USES);

    private static final ValueLayout.OfShort F16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final float GROUP_MAX_EPS = 1e-15f;
    private static final int QK_K = 256;

    private WeightedQuants() {
    }

    static boolean usesImatrix(GgmlType t) {
        return USES.contains(t);
    }

    static boolean supports(GgmlType t) {
        return SUPPORTED.contains(t);
    }

    /** rows rows of n floats (src) to rows of t (dst), weighting column j by qw[off + j]. */
    static void quantize(GgmlType t, MemorySegment dst, MemorySegment src, int rows, int n, float[] qw, int off) {
        if (!supports(t)) throw new UnsupportedOperationException("type " + t + " with an importance matrix not yet supported");
        if (off < 0 || off + n > qw.length) throw new IllegalArgumentException("importance matrix of " + qw.length + " for rows of " + n + " at " + off);
        long rowBytes = t.rowBytes(n);
        if (dst.byteSize() < rows * rowBytes || src.byteSize() < 4L * rows * n) throw new IllegalArgumentException("buffers too small");
        float[] x = new float[n];
        for (int r = 0; r < rows; r++) {
            MemorySegment.copy(src, ValueLayout.JAVA_FLOAT_UNALIGNED, 4L * r * n, x, 0, n);
            MemorySegment y = dst.asSlice(r * rowBytes, rowBytes);
            switch (t) {
                case Q4_0 -> q4_0(x, y, n, qw, off);
                case Q5_0 -> q5_0(x, y, n, qw, off);
                case Q4_K -> q4K(x, y, n, qw, off);
                case Q6_K -> q6K(x, y, n, qw, off);
                case Q4_1 -> qx1(x, y, n, qw, off, 15);
                case Q5_1 -> qx1(x, y, n, qw, off, 31);
                case Q2_K -> q2K(x, y, n, qw, off);
                case Q3_K -> q3K(x, y, n, qw, off);
                case Q5_K -> q5K(x, y, n, qw, off);
                case IQ4_NL -> {
                    for (int ib = 0; ib < n / 32; ib++) LowBitQuants.iq4NlBlock(y, 18L * ib, x, 32 * ib, qw, off + 32 * ib);
                }
                case IQ4_XS -> {
                    for (int ib = 0; ib < n / QK_K; ib++) LowBitQuants.iq4XsBlock(y, 136L * ib, x, QK_K * ib, qw, off + QK_K * ib);
                }
                default -> throw new AssertionError(t);
            }
        }
    }

    static int nearestInt(float f) {
        return (int) Math.rint(f); // ggml's magic-number rounding: to nearest, ties to even, for |f| < 2^22
    }

    static float sqrtf(float f) {
        return (float) Math.sqrt(f);
    }

    static short fp16(float f) {
        return Float.floatToFloat16(f);
    }

    static float fp32(short h) {
        return Float.float16ToFloat(h);
    }

    private static void q4_0(float[] x, MemorySegment y, int n, float[] qw, int off) {
        float sumX2 = 0;
        for (int j = 0; j < n; j++) sumX2 += x[j] * x[j];
        float sigma2 = sumX2 / n;
        float[] w = new float[32], xb = new float[32];
        int[] l = new int[32];
        for (int ib = 0; ib < n / 32; ib++) {
            System.arraycopy(x, 32 * ib, xb, 0, 32);
            for (int j = 0; j < 32; j++) w[j] = qw[off + 32 * ib + j] * sqrtf(sigma2 + xb[j] * xb[j]);
            float d = makeQxQuants(32, 8, xb, l, 1, w);
            long b = 18L * ib;
            y.set(F16, b, fp16(d));
            for (int j = 0; j < 16; j++) y.set(ValueLayout.JAVA_BYTE, b + 2 + j, (byte) (l[j] | (l[j + 16] << 4)));
        }
    }

    private static void q5_0(float[] x, MemorySegment y, int n, float[] qw, int off) {
        float sumX2 = 0;
        for (int j = 0; j < n; j++) sumX2 += x[j] * x[j];
        float sigma2 = sumX2 / n;
        float[] w = new float[32], xb = new float[32];
        int[] l = new int[32];
        for (int ib = 0; ib < n / 32; ib++) {
            System.arraycopy(x, 32 * ib, xb, 0, 32);
            for (int j = 0; j < 32; j++) w[j] = qw[off + 32 * ib + j] * sqrtf(sigma2 + xb[j] * xb[j]);
            float d = makeQxQuants(32, 16, xb, l, 1, w);
            long b = 22L * ib;
            y.set(F16, b, fp16(d));
            int qh = 0;
            for (int j = 0; j < 16; j++) {
                int x0 = l[j], x1 = l[j + 16];
                y.set(ValueLayout.JAVA_BYTE, b + 6 + j, (byte) ((x0 & 0x0F) | ((x1 & 0x0F) << 4)));
                qh |= ((x0 & 0x10) >>> 4) << j;
                qh |= ((x1 & 0x10) >>> 4) << (j + 16);
            }
            y.set(U32, b + 2, qh);
        }
    }

    /** ggml's make_qx_quants: L[i] = l + nmax; x ≈ scale · l with the weighted least-squares scale of 19 tries. */
    static float makeQxQuants(int n, int nmax, float[] x, int[] L, int rmseType, float[] qw) {
        float max = 0, amax = 0;
        for (int i = 0; i < n; i++) {
            float ax = Math.abs(x[i]);
            if (ax > amax) {
                amax = ax;
                max = x[i];
            }
        }
        if (amax < GROUP_MAX_EPS) {
            for (int i = 0; i < n; i++) L[i] = 0;
            return 0f;
        }
        float iscale = -nmax / max;
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = nearestInt(iscale * x[i]);
            l = Math.max(-nmax, Math.min(nmax - 1, l));
            L[i] = l + nmax;
            float w = qw[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
        float best = scale * sumlx;
        for (int is = -9; is <= 9; is++) {
            if (is == 0) continue;
            iscale = -(nmax + 0.1f * is) / max;
            sumlx = suml2 = 0;
            for (int i = 0; i < n; i++) {
                int l = nearestInt(iscale * x[i]);
                l = Math.max(-nmax, Math.min(nmax - 1, l));
                float w = qw[i];
                sumlx += w * x[i] * l;
                suml2 += w * l * l;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2) {
                for (int i = 0; i < n; i++) {
                    int l = nearestInt(iscale * x[i]);
                    L[i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
                }
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    private static void q4K(float[] xs, MemorySegment y, int n, float[] qw, int off) {
        KScratch t = new KScratch();
        for (int i = 0; i < n / QK_K; i++) {
            long b = 144L * i; // d dmin scales[12] qs[128]
            int[] L = kBlock(xs, QK_K * i, qw, off + QK_K * i, 15, y, b, t);
            long q = b + 16;
            for (int j = 0; j < QK_K; j += 64) {
                for (int l = 0; l < 32; l++) y.set(ValueLayout.JAVA_BYTE, q + l, (byte) (L[j + l] | (L[j + l + 32] << 4)));
                q += 32;
            }
        }
    }

    /** Scratch of {@link #kBlock}, allocated once per row set. */
    private static final class KScratch {
        final int[] L = new int[QK_K], laux = new int[32], ls = new int[8], lm = new int[8], lj = new int[32], sc = new int[12];
        final float[] weights = new float[32], sw = new float[8], mins = new float[8], scales = new float[8], x = new float[32];
        final float[] theMin = new float[1];
    }

    /**
     * The part Q4_K and Q5_K share (ggml's quantize_row_q4_K_impl / q5_K_impl): per 32-value sub-block a weighted
     * scale and min with levels 0..maxQ, the eight scales and mins quantized to 6 bits and packed into 12 bytes, the
     * block's d and dmin written at b, and the levels recomputed from the quantized scales. Returns the levels (t.L).
     */
    private static int[] kBlock(float[] xs, int xo, float[] qw, int qo, int maxQ, MemorySegment y, long b, KScratch t) {
        int[] L = t.L, ls = t.ls, lm = t.lm, sc = t.sc;
        float sumX2 = 0;
        for (int l = 0; l < QK_K; l++) sumX2 += xs[xo + l] * xs[xo + l];
        float sigma2 = 2 * sumX2 / QK_K;
        for (int j = 0; j < 8; j++) {
            for (int l = 0; l < 32; l++) {
                float v = xs[xo + 32 * j + l];
                t.weights[l] = qw[qo + 32 * j + l] * sqrtf(sigma2 + v * v);
            }
            float sumw = 0;
            for (int l = 0; l < 32; l++) sumw += t.weights[l];
            t.sw[j] = sumw;
            System.arraycopy(xs, xo + 32 * j, t.x, 0, 32);
            t.scales[j] = makeQkx3Quants(32, maxQ, t.x, t.weights, t.lj, t.theMin, t.laux, -0.9f, 0.05f, 36);
            t.mins[j] = t.theMin[0];
            System.arraycopy(t.lj, 0, L, 32 * j, 32);
        }
        float dBlock = makeQpQuants(8, 63, t.scales, ls, t.sw);
        float mBlock = makeQpQuants(8, 63, t.mins, lm, t.sw);
        java.util.Arrays.fill(sc, 0);
        for (int j = 0; j < 8; j++) {
            int a = Math.min(63, ls[j]), m = Math.min(63, lm[j]);
            if (j < 4) {
                sc[j] = a;
                sc[j + 4] = m;
            } else {
                sc[j + 4] = (a & 0xF) | ((m & 0xF) << 4);
                sc[j - 4] |= (a >> 4) << 6;
                sc[j] |= (m >> 4) << 6;
            }
        }
        short dh = fp16(dBlock), mh = fp16(mBlock);
        y.set(F16, b, dh);
        y.set(F16, b + 2, mh);
        for (int j = 0; j < 12; j++) y.set(ValueLayout.JAVA_BYTE, b + 4 + j, (byte) sc[j]);
        for (int j = 0; j < 8; j++) {
            int s, m;
            if (j < 4) {
                s = sc[j] & 63;
                m = sc[j + 4] & 63;
            } else {
                s = (sc[j + 4] & 0xF) | (((sc[j - 4] & 0xFF) >> 6) << 4);
                m = ((sc[j + 4] & 0xFF) >> 4) | (((sc[j] & 0xFF) >> 6) << 4);
            }
            float d = fp32(dh) * s;
            if (d == 0) continue;
            float dm = fp32(mh) * m;
            for (int ii = 0; ii < 32; ii++) {
                int l = nearestInt((xs[xo + 32 * j + ii] + dm) / d);
                L[32 * j + ii] = Math.max(0, Math.min(maxQ, l));
            }
        }
        return L;
    }

    /** ggml's make_qkx3_quants (use_mad = false): x ≈ scale · L - min, weighted, nstep + 1 tries. */
    static float makeQkx3Quants(int n, int nmax, float[] x, float[] weights, int[] L, float[] theMin, int[] laux,
                                float rmin, float rdelta, int nstep) {
        float min = x[0], max = x[0];
        float sumW = weights[0];
        float sumX = sumW * x[0];
        for (int i = 1; i < n; i++) {
            if (x[i] < min) min = x[i];
            if (x[i] > max) max = x[i];
            float w = weights[i];
            sumW += w;
            sumX += w * x[i];
        }
        if (min > 0) min = 0;
        if (max <= min) {
            for (int i = 0; i < n; i++) L[i] = 0;
            theMin[0] = -min;
            return 0f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestMad = 0;
        for (int i = 0; i < n; i++) {
            int l = nearestInt(iscale * (x[i] - min));
            L[i] = Math.max(0, Math.min(nmax, l));
            float diff = scale * L[i] + min - x[i];
            diff = diff * diff;
            bestMad += weights[i] * diff;
        }
        for (int is = 0; is <= nstep; is++) {
            iscale = (rmin + rdelta * is + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXl = 0;
            for (int i = 0; i < n; i++) {
                int l = nearestInt(iscale * (x[i] - min));
                l = Math.max(0, Math.min(nmax, l));
                laux[i] = l;
                float w = weights[i];
                sumL += w * l;
                sumL2 += w * l * l;
                sumXl += w * l * x[i];
            }
            float D = sumW * sumL2 - sumL * sumL;
            if (D > 0) {
                float thisScale = (sumW * sumXl - sumX * sumL) / D;
                float thisMin = (sumL2 * sumX - sumL * sumXl) / D;
                if (thisMin > 0) {
                    thisMin = 0;
                    thisScale = sumXl / sumL2;
                }
                float mad = 0;
                for (int i = 0; i < n; i++) {
                    float diff = thisScale * laux[i] + thisMin - x[i];
                    diff = diff * diff;
                    mad += weights[i] * diff;
                }
                if (mad < bestMad) {
                    System.arraycopy(laux, 0, L, 0, n);
                    bestMad = mad;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        theMin[0] = -min;
        return scale;
    }

    /** ggml's make_qp_quants: non-negative x ≈ scale · L, L in [0, nmax], weighted, then coordinate refinement. */
    static float makeQpQuants(int n, int nmax, float[] x, int[] L, float[] qw) {
        float max = 0;
        for (int i = 0; i < n; i++) max = Math.max(max, x[i]);
        if (max < GROUP_MAX_EPS) {
            for (int i = 0; i < n; i++) L[i] = 0;
            return 0f;
        }
        float iscale = nmax / max;
        for (int i = 0; i < n; i++) L[i] = nearestInt(iscale * x[i]);
        float scale = 1 / iscale;
        float bestMse = 0;
        for (int i = 0; i < n; i++) {
            float diff = x[i] - scale * L[i];
            bestMse += qw[i] * diff * diff;
        }
        for (int is = -4; is <= 4; is++) {
            if (is == 0) continue;
            float iscaleIs = (0.1f * is + nmax) / max;
            float scaleIs = 1 / iscaleIs;
            float mse = 0;
            for (int i = 0; i < n; i++) {
                int l = Math.min(nmax, nearestInt(iscaleIs * x[i]));
                float diff = x[i] - scaleIs * l;
                mse += qw[i] * diff * diff;
            }
            if (mse < bestMse) {
                bestMse = mse;
                iscale = iscaleIs;
            }
        }
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = Math.min(nmax, nearestInt(iscale * x[i]));
            L[i] = l;
            float w = qw[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        for (int itry = 0; itry < 5; itry++) {
            int changed = 0;
            for (int i = 0; i < n; i++) {
                float w = qw[i];
                float slx = sumlx - w * x[i] * L[i];
                float sl2 = suml2 - w * L[i] * L[i];
                if (slx > 0 && sl2 > 0) {
                    int newL = Math.min(nmax, nearestInt(x[i] * sl2 / slx));
                    if (newL != L[i]) {
                        slx += w * x[i] * newL;
                        sl2 += w * newL * newL;
                        if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                            L[i] = newL;
                            sumlx = slx;
                            suml2 = sl2;
                            changed++;
                        }
                    }
                }
            }
            if (changed == 0) break;
        }
        return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
    }

    private static void q6K(float[] xs, MemorySegment y, int n, float[] qw, int off) {
        int[] L = new int[QK_K], l16 = new int[16];
        float[] scales = new float[16], x16 = new float[16], w16 = new float[16];
        for (int i = 0; i < n / QK_K; i++) {
            int xo = QK_K * i;
            long b = 210L * i; // ql[128] qh[64] scales[16] d
            float maxScale = 0, maxAbsScale = 0;
            for (int ib = 0; ib < 16; ib++) {
                System.arraycopy(xs, xo + 16 * ib, x16, 0, 16);
                System.arraycopy(qw, off + QK_K * i + 16 * ib, w16, 0, 16);
                float scale = makeQxQuants(16, 32, x16, l16, 1, w16);
                System.arraycopy(l16, 0, L, 16 * ib, 16);
                scales[ib] = scale;
                float abs = Math.abs(scale);
                if (abs > maxAbsScale) {
                    maxAbsScale = abs;
                    maxScale = scale;
                }
            }
            if (maxAbsScale < GROUP_MAX_EPS) {
                y.asSlice(b, 210).fill((byte) 0);
                continue;
            }
            float iscale = -128.f / maxScale;
            short dh = fp16(1 / iscale);
            y.set(F16, b + 208, dh);
            byte[] sc = new byte[16];
            for (int ib = 0; ib < 16; ib++) sc[ib] = (byte) Math.min(127, nearestInt(iscale * scales[ib]));
            for (int ib = 0; ib < 16; ib++) y.set(ValueLayout.JAVA_BYTE, b + 192 + ib, sc[ib]);
            for (int j = 0; j < 16; j++) {
                float d = fp32(dh) * sc[j];
                if (d == 0) continue;
                for (int ii = 0; ii < 16; ii++) {
                    int l = nearestInt(xs[xo + 16 * j + ii] / d);
                    L[16 * j + ii] = Math.max(-32, Math.min(31, l)) + 32;
                }
            }
            long ql = b, qh = b + 128;
            for (int j = 0; j < QK_K; j += 128) {
                for (int l = 0; l < 32; l++) {
                    int q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF, q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                    y.set(ValueLayout.JAVA_BYTE, ql + l, (byte) (q1 | (q3 << 4)));
                    y.set(ValueLayout.JAVA_BYTE, ql + l + 32, (byte) (q2 | (q4 << 4)));
                    y.set(ValueLayout.JAVA_BYTE, qh + l, (byte) ((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2)
                            | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6)));
                }
                ql += 64;
                qh += 32;
            }
        }
    }

    /** Q4_1 (nmax 15) and Q5_1 (nmax 31): quantize_row_q4_1_impl / q5_1_impl, each 32-block by make_qkx3_quants. */
    private static void qx1(float[] x, MemorySegment y, int n, float[] qw, int off, int nmax) {
        float sumX2 = 0;
        for (int j = 0; j < n; j++) sumX2 += x[j] * x[j];
        float sigma2 = sumX2 / n;
        float[] w = new float[32], xb = new float[32], theMin = new float[1];
        int[] l = new int[32], laux = new int[32];
        boolean five = nmax == 31;
        long bb = five ? 24 : 20;
        for (int ib = 0; ib < n / 32; ib++) {
            System.arraycopy(x, 32 * ib, xb, 0, 32);
            for (int j = 0; j < 32; j++) w[j] = qw[off + 32 * ib + j] * sqrtf(sigma2 + xb[j] * xb[j]);
            float d = makeQkx3Quants(32, nmax, xb, w, l, theMin, laux, -0.9f, 0.05f, 36);
            long b = bb * ib;
            y.set(F16, b, fp16(d));
            y.set(F16, b + 2, fp16(-theMin[0])); // m: the block minimum (make_qkx3_quants returns its negation)
            long qs = b + (five ? 8 : 4);
            int qh = 0;
            for (int j = 0; j < 16; j++) {
                y.set(ValueLayout.JAVA_BYTE, qs + j, (byte) ((l[j] & 0xF) | ((l[j + 16] & 0xF) << 4)));
                qh |= ((l[j] & 0x10) >>> 4) << j;
                qh |= ((l[j + 16] & 0x10) >>> 4) << (j + 16);
            }
            if (five) y.set(U32, b + 4, qh);
        }
    }

    /** quantize_row_q2_K_impl: 16-blocks by make_qkx3_quants (2 bits), 4-bit scales and mins by make_qp_quants. */
    private static void q2K(float[] xs, MemorySegment y, int n, float[] qw, int off) {
        int[] L = new int[QK_K], laux = new int[16], ls = new int[16], lm = new int[16], lj = new int[16];
        float[] weight = new float[16], sw = new float[16], mins = new float[16], scales = new float[16], x = new float[16];
        float[] theMin = new float[1];
        for (int i = 0; i < n / QK_K; i++) {
            int xo = QK_K * i;
            float sumX2 = 0;
            for (int j = 0; j < QK_K; j++) sumX2 += xs[xo + j] * xs[xo + j];
            float sigma2 = sumX2 / QK_K;
            for (int j = 0; j < 16; j++) {
                for (int l = 0; l < 16; l++) {
                    float v = xs[xo + 16 * j + l];
                    weight[l] = qw[off + QK_K * i + 16 * j + l] * sqrtf(sigma2 + v * v);
                }
                float sumw = 0;
                for (int l = 0; l < 16; l++) sumw += weight[l];
                sw[j] = sumw;
                System.arraycopy(xs, xo + 16 * j, x, 0, 16);
                scales[j] = makeQkx3Quants(16, 3, x, weight, lj, theMin, laux, -0.9f, 0.05f, 36);
                mins[j] = theMin[0];
                System.arraycopy(lj, 0, L, 16 * j, 16);
            }
            float dm = makeQpQuants(16, 15, scales, ls, sw);
            float mm = makeQpQuants(16, 15, mins, lm, sw);
            long b = 84L * i; // scales[16] qs[64] d dmin
            short dh = fp16(dm), mh = fp16(mm);
            y.set(F16, b + 80, dh);
            y.set(F16, b + 82, mh);
            dm = fp32(dh);
            mm = fp32(mh);
            for (int j = 0; j < 16; j++) {
                int sc = (ls[j] | (lm[j] << 4)) & 0xFF;
                y.set(ValueLayout.JAVA_BYTE, b + j, (byte) sc);
                float d = dm * (sc & 0xF);
                if (d == 0) continue;
                float m = mm * (sc >> 4);
                for (int ii = 0; ii < 16; ii++) {
                    int l = nearestInt((xs[xo + 16 * j + ii] + m) / d);
                    L[16 * j + ii] = Math.max(0, Math.min(3, l));
                }
            }
            for (int j = 0; j < QK_K; j += 128) {
                for (int l = 0; l < 32; l++) {
                    y.set(ValueLayout.JAVA_BYTE, b + 16 + j / 4 + l,
                            (byte) (L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6)));
                }
            }
        }
    }

    /** quantize_row_q3_K_impl: 16-blocks by make_qx_quants (signed 3 bits), 6-bit scales by make_qx_quants. */
    private static void q3K(float[] xs, MemorySegment y, int n, float[] qw, int off) {
        int[] L = new int[QK_K], ls = new int[16], lj = new int[16];
        float[] weight = new float[16], sw = new float[16], scales = new float[16], x = new float[16];
        for (int i = 0; i < n / QK_K; i++) {
            int xo = QK_K * i;
            float sumX2 = 0;
            for (int j = 0; j < QK_K; j++) sumX2 += xs[xo + j] * xs[xo + j];
            float sigma2 = 2 * sumX2 / QK_K;
            for (int j = 0; j < 16; j++) {
                for (int l = 0; l < 16; l++) {
                    float v = xs[xo + 16 * j + l];
                    weight[l] = qw[off + QK_K * i + 16 * j + l] * sqrtf(sigma2 + v * v);
                }
                float sumw = 0;
                for (int l = 0; l < 16; l++) sumw += weight[l];
                sw[j] = sumw;
                System.arraycopy(xs, xo + 16 * j, x, 0, 16);
                scales[j] = makeQxQuants(16, 4, x, lj, 1, weight);
                System.arraycopy(lj, 0, L, 16 * j, 16);
            }
            float dBlock = makeQxQuants(16, 32, scales, ls, 1, sw);
            long b = 110L * i; // hmask[32] qs[64] scales[12] d
            int[] sc = new int[12];
            for (int j = 0; j < 16; j++) {
                int l = ls[j];
                if (j < 8) sc[j] = l & 0xF;
                else sc[j - 8] |= (l & 0xF) << 4;
                l >>= 4;
                sc[j % 4 + 8] |= l << (2 * (j / 4));
            }
            for (int j = 0; j < 12; j++) y.set(ValueLayout.JAVA_BYTE, b + 96 + j, (byte) sc[j]);
            short dh = fp16(dBlock);
            y.set(F16, b + 108, dh);
            for (int j = 0; j < 16; j++) {
                int s = j < 8 ? sc[j] & 0xF : (sc[j - 8] & 0xFF) >> 4;
                s = (s | (((sc[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
                float d = fp32(dh) * s;
                if (d == 0) continue;
                for (int ii = 0; ii < 16; ii++) {
                    int l = nearestInt(xs[xo + 16 * j + ii] / d);
                    L[16 * j + ii] = Math.max(-4, Math.min(3, l)) + 4;
                }
            }
            int[] hmask = new int[32];
            int m = 0, hm = 1;
            for (int j = 0; j < QK_K; j++) {
                if (L[j] > 3) {
                    hmask[m] |= hm;
                    L[j] -= 4;
                }
                if (++m == QK_K / 8) {
                    m = 0;
                    hm <<= 1;
                }
            }
            for (int j = 0; j < 32; j++) y.set(ValueLayout.JAVA_BYTE, b + j, (byte) hmask[j]);
            for (int j = 0; j < QK_K; j += 128) {
                for (int l = 0; l < 32; l++) {
                    y.set(ValueLayout.JAVA_BYTE, b + 32 + j / 4 + l,
                            (byte) (L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6)));
                }
            }
        }
    }

    /** quantize_row_q5_K_impl: as Q4_K with 5-bit levels (nmax 31), the fifth bits in qh. */
    private static void q5K(float[] xs, MemorySegment y, int n, float[] qw, int off) {
        KScratch t = new KScratch();
        for (int i = 0; i < n / QK_K; i++) {
            long b = 176L * i; // d dmin scales[12] qh[32] qs[128]
            int[] L = kBlock(xs, QK_K * i, qw, off + QK_K * i, 31, y, b, t);
            int[] qh = new int[32];
            int m1 = 1, m2 = 2;
            for (int nn = 0, q = 0; nn < QK_K; nn += 64, q++) {
                for (int j = 0; j < 32; j++) {
                    int l1 = L[nn + j], l2 = L[nn + j + 32];
                    if (l1 > 15) {
                        l1 -= 16;
                        qh[j] |= m1;
                    }
                    if (l2 > 15) {
                        l2 -= 16;
                        qh[j] |= m2;
                    }
                    y.set(ValueLayout.JAVA_BYTE, b + 48 + 32L * q + j, (byte) (l1 | (l2 << 4)));
                }
                m1 <<= 2;
                m2 <<= 2;
            }
            for (int j = 0; j < 32; j++) y.set(ValueLayout.JAVA_BYTE, b + 16 + j, (byte) qh[j]);
        }
    }
}
