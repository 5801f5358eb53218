package dev.panamax.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The Java implementation of the encoder's element-wise ops ({@link Kernels#layerNorm}, {@link Kernels#gelu}) for the
 * Java backends, the native library's scalar reference in Java: ggml_norm with its double sums then ggml_mul and
 * ggml_add, and ggml_vec_gelu_f32 with GGML_GELU_FP16 (the tanh form through its binary16 table).
 */
final class EncoderOps {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final float[] GELU_F16 = geluTable();

    private EncoderOps() {}

    static void layerNorm(MemorySegment y, MemorySegment x, MemorySegment res, MemorySegment w, MemorySegment b, int n,
                          int rows, float eps) {
        for (int r = 0; r < rows; r++) {
            long o = (long) r * n;
            MemorySegment src = x;
            if (res != null) {
                for (int i = 0; i < n; i++) y.setAtIndex(F, o + i, x.getAtIndex(F, o + i) + res.getAtIndex(F, o + i));
                src = y;
            }
            double sum = 0;
            for (int i = 0; i < n; i++) sum += src.getAtIndex(F, o + i);
            float mean = (float) (sum / n);
            double var = 0;
            for (int i = 0; i < n; i++) {
                float d = src.getAtIndex(F, o + i) - mean;
                var += d * d;
            }
            float s = 1.0f / (float) Math.sqrt((float) (var / n) + eps);
            for (int i = 0; i < n; i++) {
                float v = (src.getAtIndex(F, o + i) - mean) * s;
                y.setAtIndex(F, o + i, v * w.getAtIndex(F, i) + b.getAtIndex(F, i));
            }
        }
    }

    /** The native reference's steps: products and softmax in double, K and V rounded to binary16. */
    static void attention(MemorySegment out, MemorySegment q, MemorySegment k, MemorySegment v, MemorySegment seqRows,
                          int nSeq, int nHead, int headDim, float scale) {
        long st = (long) nHead * headDim;
        for (int s = 0; s < nSeq; s++) {
            int r0 = seqRows.getAtIndex(ValueLayout.JAVA_INT, s), len = seqRows.getAtIndex(ValueLayout.JAVA_INT, s + 1) - r0;
            double[] p = new double[len], o = new double[headDim];
            for (int h = 0; h < nHead; h++) {
                for (int i = 0; i < len; i++) {
                    long qi = (r0 + i) * st + (long) h * headDim;
                    double mx = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int j = 0; j < len; j++) {
                        long kj = (r0 + j) * st + (long) h * headDim;
                        double d = 0;
                        for (int e = 0; e < headDim; e++) d += (double) q.getAtIndex(F, qi + e) * half(k.getAtIndex(F, kj + e));
                        p[j] = d * scale;
                        mx = Math.max(mx, p[j]);
                    }
                    java.util.Arrays.fill(o, 0);
                    for (int j = 0; j < len; j++) {
                        double w = Math.exp(p[j] - mx);
                        sum += w;
                        long vj = (r0 + j) * st + (long) h * headDim;
                        for (int e = 0; e < headDim; e++) o[e] += w * half(v.getAtIndex(F, vj + e));
                    }
                    for (int e = 0; e < headDim; e++) out.setAtIndex(F, qi + e, (float) (o[e] / sum));
                }
            }
        }
    }

    private static float half(float x) {
        return Float.float16ToFloat(Float.floatToFloat16(x));
    }

    static void gelu(MemorySegment x, MemorySegment b, int n, int rows) {
        for (int r = 0; r < rows; r++) {
            long o = (long) r * n;
            for (int i = 0; i < n; i++) {
                float v = x.getAtIndex(F, o + i);
                if (b != null) v += b.getAtIndex(F, i);
                x.setAtIndex(F, o + i, v <= -10f ? 0f : v >= 10f ? v : GELU_F16[Float.floatToFloat16(v) & 0xFFFF]);
            }
        }
    }

    static float geluTanh(float x) {
        final float sqrt2OverPi = 0.79788456080286535587989211986876f, coefA = 0.044715f;
        return 0.5f * x * (1.0f + (float) Math.tanh(sqrt2OverPi * x * (1.0f + coefA * x * x)));
    }

    private static float[] geluTable() {
        float[] t = new float[1 << 16];
        for (int h = 0; h < t.length; h++) {
            float f = Float.float16ToFloat((short) h);
            t[h] = Float.float16ToFloat(Float.floatToFloat16(geluTanh(f)));
        }
        return t;
    }
}
