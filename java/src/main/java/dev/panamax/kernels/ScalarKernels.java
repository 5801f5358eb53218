package dev.panamax.kernels;

import dev.panamax.Backend;

import static dev.panamax.kernels.JavaQuants.F32;
import static dev.panamax.kernels.JavaQuants.I16;
import static dev.panamax.kernels.JavaQuants.I32;
import static dev.panamax.kernels.JavaQuants.QK;
import static dev.panamax.kernels.JavaQuants.QK_K;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import dev.panamax.tensor.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * Plain-Java {@link Kernels}: the fallback where the Vector API is missing, and the Java oracle. Quantizers
 * give ggml's reference bytes; quantized matmuls take the native int8 route (activations to Q8_0 or Q8_K,
 * integer dot per block, one float multiply-add per block), so results match native closely.
 */
public class ScalarKernels implements Kernels {
    private final MoeFfn moe = new MoeFfn();
    private final MatmulStacked stacked = new MatmulStacked();
    /** Splits matmul rows and attention heads over the threads; each row (head) is computed whole by one thread. */
    final JavaPool pool;
    /** Activation rows of the last matmuls, kept: a forward pass calls with the same sizes every layer. */
    private Act[] acts = new Act[0];

    /** One thread. */
    public ScalarKernels() {
        this(1);
    }

    /** @param threads threads per operation (the caller's included); <= 0 means one per CPU */
    public ScalarKernels(int threads) {
        pool = new JavaPool(threads > 0 ? threads : Runtime.getRuntime().availableProcessors());
    }

    @Override
    public String name() {
        return "java/scalar";
    }

    @Override
    public Backend backend() {
        return Backend.JAVA;
    }

    @Override
    public int threads() {
        return pool.size();
    }

    @Override
    public void quantize(GgmlType type, MemorySegment dst, MemorySegment src, int rows, int n) {
        Checks.quantRows(type, dst, src, rows, n);
        long rowBytes = type.rowBytes(n);
        float[] x = new float[n];
        for (int r = 0; r < rows; r++) {
            MemorySegment.copy(src, F32, (long) r * n * Float.BYTES, x, 0, n);
            JavaQuants.quantizeRow(type, dst, r * rowBytes, x, n);
        }
    }

    @Override
    public void dequantize(GgmlType type, MemorySegment dst, MemorySegment src, int rows, int n) {
        Checks.quantRows(type, src, dst, rows, n);
        long rowBytes = type.rowBytes(n);
        float[] y = new float[n];
        for (int r = 0; r < rows; r++) {
            JavaQuants.dequantizeRow(type, y, src, r * rowBytes, n);
            MemorySegment.copy(y, 0, dst, F32, (long) r * n * Float.BYTES, n);
        }
    }

    @Override
    public void getRows(GgmlType type, MemorySegment dst, MemorySegment src, int nRows, int nCols, MemorySegment ids, int n) {
        Checks.getRows(type, dst, src, nRows, nCols, ids, n);
        long rb = type.rowBytes(nCols);
        for (int i = 0; i < n; i++) {
            dequantize(type, dst.asSlice(4L * i * nCols, 4L * nCols), src.asSlice(ids.getAtIndex(I32, i) * rb, rb), 1, nCols);
        }
    }

    /** A batch row of activations in the form the weight type's dot product reads. */
    static final class Act {
        final float[] x;
        final byte[] qs;
        final float[] d;
        final int[] bsums;
        /** qs widened to 16 bits, for the Vector API's 16-bit products (no widening of x per weight row). */
        final short[] xs;
        /** qs times their block scale, for the Vector API's float GEMM ({@link VectorGemm}); filled on request. */
        final float[] xq;

        /** Room for rows of up to n elements of any type. */
        Act(int n) {
            x = new float[n];
            qs = new byte[n];
            xs = new short[n];
            xq = new float[n];
            d = new float[n / QK];
            bsums = new int[n / 16];
        }

        /** @param dequantized fill {@link #xq} instead of {@link #xs} (for the GEMM, which reads nothing else) */
        void load(GgmlType type, MemorySegment src, long off, int n, boolean dequantized) {
            MemorySegment.copy(src, F32, off, x, 0, n);
            switch (type) {
                case Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, IQ4_NL -> JavaQuants.actQ8_0(x, n, qs, d);
                case Q4_K, Q6_K, Q2_K, Q3_K, Q5_K, IQ4_XS -> JavaQuants.actQ8K(x, n, qs, d, bsums);
                case BF16 -> { // rounded to BF16 as ggml's vec_dot_type for BF16 (and the C core's pmx_ref_prepare_bf16)
                    for (int i = 0; i < n; i++) x[i] = JavaQuants.fromBf16(JavaQuants.toBf16(x[i]));
                    return;
                }
                default -> {
                    return;
                }
            }
            if (dequantized) { // the GEMM reads xq alone
                int bs = type.blockSize();
                for (int b = 0; b < n / bs; b++) {
                    float db = d[b];
                    for (int i = b * bs; i < (b + 1) * bs; i++) xq[i] = qs[i] * db;
                }
            } else {
                for (int i = 0; i < n; i++) xs[i] = qs[i];
            }
        }
    }

    /** Rows per task of a matmul split over threads: a multiple of every kernel's row tile (4). */
    static final int ROW_ALIGN = 4;

    /**
     * Activations prepared once per batch row (on the pool for a batch), then the weight rows split over the
     * threads in chunks aligned to {@link #ROW_ALIGN}: a row is computed by the same code whatever the thread count.
     */
    @Override
    public final void matmul(GgmlType type, MemorySegment w, int nRows, int nCols, MemorySegment x, int batch, MemorySegment y) {
        Checks.matmul(type, w, nRows, nCols, x, batch, y);
        Act[] a = acts(batch, nCols);
        // caller alone: a confined segment, or a small product (a job costs a few microseconds of hand-over)
        long rowBytes = type.rowBytes(nCols);
        boolean shared = rowBytes * nRows * batch >= (64 << 10) && pool.canShare(w, x, y, y);
        boolean dq = dequantizedActs(type, nCols, batch);
        if (batch == 1 || !shared) {
            for (int b = 0; b < batch; b++) a[b].load(type, x, (long) b * nCols * Float.BYTES, nCols, dq);
        } else {
            pool.forRange(batch, 1, (b0, b1) -> {
                for (int b = b0; b < b1; b++) a[b].load(type, x, (long) b * nCols * Float.BYTES, nCols, dq);
            });
        }
        if (dq) actsLoaded(type, a, batch, nCols, shared);
        int chunk = shared ? Math.max(ROW_ALIGN, (nRows / (pool.size() * 4) + ROW_ALIGN - 1) / ROW_ALIGN * ROW_ALIGN) : nRows;
        pool.forRange(nRows, chunk, (r0, r1) -> rows(type, w, rowBytes, nRows, nCols, a, batch, r0, r1, y));
    }

    /** Whether {@link #rows} reads {@link Act#xq} for this product (the Vector API's GEMM). */
    boolean dequantizedActs(GgmlType type, int nCols, int batch) {
        return false;
    }

    /**
     * Called once per matmul that reads {@link Act#xq} ({@link #dequantizedActs}), after the activations are loaded
     * and before the rows: the Vector API's GEMM lays them out for its tiles. shared: the pool may run it.
     */
    void actsLoaded(GgmlType type, Act[] a, int batch, int nCols, boolean shared) {
    }

    /** Batch rows of activations with room for n elements, grown on demand. */
    private Act[] acts(int batch, int n) {
        if (acts.length < batch || acts[0].x.length < n) {
            int cap = Math.max(n, acts.length > 0 ? acts[0].x.length : 0);
            Act[] grown = new Act[Math.max(batch, acts.length)];
            for (int b = 0; b < grown.length; b++) grown[b] = b < acts.length && acts[b].x.length >= cap ? acts[b] : new Act(cap);
            acts = grown;
        }
        return acts;
    }

    /**
     * y[b][r] for rows [r0, r1) and every batch row b. r0 is a multiple of {@link #ROW_ALIGN}, r1 too unless it is
     * nRows; runs on any pool thread.
     */
    void rows(GgmlType type, MemorySegment w, long rowBytes, int nRows, int nCols, Act[] a, int batch, int r0, int r1,
              MemorySegment y) {
        for (int b = 0; b < batch; b++) {
            for (int r = r0; r < r1; r++) {
                y.set(F32, ((long) b * nRows + r) * Float.BYTES, dot(type, w, r * rowBytes, a[b], nCols));
            }
        }
    }

    /** One weight row at wo against prepared activations. */
    static float dot(GgmlType type, MemorySegment w, long wo, Act a, int n) {
        switch (type) {
            case F32: {
                double s = 0;
                for (int i = 0; i < n; i++) s += (double) w.get(F32, wo + 4L * i) * a.x[i];
                return (float) s;
            }
            case F16: {
                double s = 0;
                for (int i = 0; i < n; i++) s += (double) JavaQuants.fromHalf(w.get(I16, wo + 2L * i)) * a.x[i];
                return (float) s;
            }
            case BF16: {
                double s = 0;
                for (int i = 0; i < n; i++) s += (double) JavaQuants.fromBf16(w.get(I16, wo + 2L * i)) * a.x[i];
                return (float) s;
            }
            case Q8_0: {
                float s = 0;
                for (int b = 0; b < n / QK; b++) {
                    long o = wo + 34L * b;
                    int sumi = 0;
                    for (int j = 0; j < QK; j++) sumi += w.get(JAVA_BYTE, o + 2 + j) * a.qs[b * QK + j];
                    s += sumi * (JavaQuants.fromHalf(w.get(I16, o)) * a.d[b]);
                }
                return s;
            }
            case Q4_0: {
                float s = 0;
                for (int b = 0; b < n / QK; b++) {
                    long o = wo + 18L * b;
                    int sumi = 0;
                    for (int j = 0; j < 16; j++) {
                        int q = w.get(JAVA_BYTE, o + 2 + j) & 0xff;
                        sumi += ((q & 0xf) - 8) * a.qs[b * QK + j] + ((q >>> 4) - 8) * a.qs[b * QK + 16 + j];
                    }
                    s += sumi * (JavaQuants.fromHalf(w.get(I16, o)) * a.d[b]);
                }
                return s;
            }
            case Q5_0: {
                float s = 0;
                for (int b = 0; b < n / QK; b++) {
                    long o = wo + 22L * b;
                    int qh = w.get(I32, o + 2);
                    int sumi = 0;
                    for (int j = 0; j < 16; j++) {
                        int q = w.get(JAVA_BYTE, o + 6 + j) & 0xff;
                        int q0 = (q & 0xf) | (((qh >>> j) & 1) << 4), q1 = (q >>> 4) | (((qh >>> (j + 16)) & 1) << 4);
                        sumi += (q0 - 16) * a.qs[b * QK + j] + (q1 - 16) * a.qs[b * QK + 16 + j];
                    }
                    s += sumi * (JavaQuants.fromHalf(w.get(I16, o)) * a.d[b]);
                }
                return s;
            }
            case Q4_K: {
                float s = 0;
                for (int b = 0; b < n / QK_K; b++) {
                    long o = wo + 144L * b;
                    int sumi = 0, summ = 0;
                    for (int j = 0; j < 8; j++) {
                        int sm = JavaQuants.scaleMinK4(j, w, o + 4);
                        long q = o + 16 + 32L * (j / 2);
                        int shift = 4 * (j & 1), base = b * QK_K + 32 * j, p = 0;
                        for (int i = 0; i < 32; i++) p += (((w.get(JAVA_BYTE, q + i) & 0xff) >>> shift) & 0xf) * a.qs[base + i];
                        sumi += (sm & 0xff) * p;
                        summ += (sm >>> 8) * (a.bsums[b * 16 + 2 * j] + a.bsums[b * 16 + 2 * j + 1]);
                    }
                    float d = JavaQuants.fromHalf(w.get(I16, o)) * a.d[b];
                    float dmin = JavaQuants.fromHalf(w.get(I16, o + 2)) * a.d[b];
                    s += d * sumi - dmin * summ;
                }
                return s;
            }
            case Q6_K: {
                float s = 0;
                for (int b = 0; b < n / QK_K; b++) {
                    long o = wo + 210L * b;
                    int sumi = 0;
                    for (int g = 0; g < 16; g++) {
                        int p = 0;
                        for (int i = 0; i < 16; i++) p += (JavaQuants.q6Value(w, o, 16 * g + i) - 32) * a.qs[b * QK_K + 16 * g + i];
                        sumi += w.get(JAVA_BYTE, o + 192 + g) * p;
                    }
                    s += JavaQuants.fromHalf(w.get(I16, o + 208)) * a.d[b] * sumi;
                }
                return s;
            }
            case Q4_1: return LowBitQuants.dotQx1(w, wo, a, n, false);
            case Q5_1: return LowBitQuants.dotQx1(w, wo, a, n, true);
            case IQ4_NL: return LowBitQuants.dotIq4Nl(w, wo, a, n);
            case Q2_K: return LowBitQuants.dotQ2K(w, wo, a, n);
            case Q3_K: return LowBitQuants.dotQ3K(w, wo, a, n);
            case Q5_K: return LowBitQuants.dotQ5K(w, wo, a, n);
            case IQ4_XS: return LowBitQuants.dotIq4Xs(w, wo, a, n);
            default:
                throw new IllegalArgumentException("matmul: unsupported weight type " + type);
        }
    }

    /** Written once for both Java backends ({@link MatmulStacked}), over this instance's own matmul. */
    @Override
    public final void matmulStacked(GgmlType type, MemorySegment w, int nMat, int rows, int cols, long wMatBytes,
                                    MemorySegment x, int nTok, int xTokStride, int xMatStride, MemorySegment y,
                                    int yTokStride, int yMatStride) {
        Checks.matmulStacked(type, w, nMat, rows, cols, wMatBytes, x, nTok, xTokStride, xMatStride, y, yTokStride, yMatStride);
        stacked.run(this, type, w, nMat, rows, cols, wMatBytes, x, nTok, xTokStride, xMatStride, y, yTokStride, yMatStride);
    }

    @Override
    public void rmsnorm(MemorySegment y, MemorySegment x, MemorySegment w, int n, int rows, float eps) {
        Checks.rmsnorm(y, x, w, n, rows, eps);
        for (int r = 0; r < rows; r++) {
            long base = (long) r * n * Float.BYTES;
            double ss = 0;
            for (int i = 0; i < n; i++) {
                float v = x.get(F32, base + (long) i * Float.BYTES);
                ss += (double) v * v;
            }
            float scale = (float) (1.0 / Math.sqrt(ss / n + eps));
            for (int i = 0; i < n; i++) {
                long off = base + (long) i * Float.BYTES;
                y.set(F32, off, x.get(F32, off) * scale * w.get(F32, (long) i * Float.BYTES));
            }
        }
    }

    @Override
    public void softmax(MemorySegment x, int n, int rows) {
        Checks.softmax(x, n, rows);
        for (int r = 0; r < rows; r++) {
            long base = (long) r * n * Float.BYTES;
            float max = Float.NEGATIVE_INFINITY;
            for (int i = 0; i < n; i++) max = Math.max(max, x.get(F32, base + 4L * i));
            double sum = 0;
            for (int i = 0; i < n; i++) {
                float e = (float) Math.exp(x.get(F32, base + 4L * i) - max);
                x.set(F32, base + 4L * i, e);
                sum += e;
            }
            float inv = (float) (1.0 / sum);
            for (int i = 0; i < n; i++) x.set(F32, base + 4L * i, x.get(F32, base + 4L * i) * inv);
        }
    }

    @Override
    public void siluMul(MemorySegment y, MemorySegment g, MemorySegment u, int n) {
        Checks.elementwise(y, g, u, n);
        for (int i = 0; i < n; i++) {
            float gv = g.get(F32, 4L * i);
            y.set(F32, 4L * i, (float) (gv / (1.0 + Math.exp(-gv))) * u.get(F32, 4L * i));
        }
    }

    @Override
    public void add(MemorySegment y, MemorySegment a, MemorySegment b, int n) {
        Checks.elementwise(y, a, b, n);
        for (int i = 0; i < n; i++) y.set(F32, 4L * i, a.get(F32, 4L * i) + b.get(F32, 4L * i));
    }

    @Override
    public int argmax(MemorySegment x, int n) {
        Checks.positive(n, "n");
        Checks.floats(x, n, "x");
        int best = -1;
        float bv = 0;
        for (int i = 0; i < n; i++) {
            float v = x.get(F32, 4L * i);
            if (Float.isNaN(v)) continue;
            if (best < 0 || v > bv) {
                best = i;
                bv = v;
            }
        }
        return Math.max(best, 0);
    }

    /** a ranks before b: larger first, NaN last. */
    private static boolean above(float a, float b) {
        if (Float.isNaN(a)) return false;
        return Float.isNaN(b) || a > b;
    }

    @Override
    public void topk(MemorySegment x, int n, int k, MemorySegment idx, MemorySegment val) {
        Checks.topk(x, n, k, idx, val);
        int[] ti = new int[k];
        float[] tv = new float[k];
        int size = 0;
        for (int i = 0; i < n; i++) {
            float v = x.get(F32, 4L * i);
            if (size == k && !above(v, tv[k - 1])) continue;
            // strictly above: an equal value stays behind the earlier index
            int p = size < k ? size : k - 1;
            while (p > 0 && above(v, tv[p - 1])) {
                tv[p] = tv[p - 1];
                ti[p] = ti[p - 1];
                p--;
            }
            tv[p] = v;
            ti[p] = i;
            if (size < k) size++;
        }
        for (int j = 0; j < k; j++) {
            idx.set(I32, 4L * j, ti[j]);
            val.set(F32, 4L * j, tv[j]);
        }
    }

    /** YaRN correction dims of ggml_rope_yarn_corr_dims: {low, high}. */
    static float[] corrDims(int nDims, int nCtxOrig, float freqBase, float betaFast, float betaSlow) {
        float start = (float) Math.floor(corrDim(nDims, nCtxOrig, betaFast, freqBase));
        float end = (float) Math.ceil(corrDim(nDims, nCtxOrig, betaSlow, freqBase));
        return new float[] {Math.max(0, start), Math.min(nDims - 1, end)};
    }

    private static float corrDim(int nDims, int nCtxOrig, float nRot, float base) {
        return nDims * (float) Math.log(nCtxOrig / (nRot * 2 * (float) Math.PI)) / (2 * (float) Math.log(base));
    }

    /**
     * cos and sin of each rotated pair for position p, as ggml_rope_cache_init: cache[2i] = cos, cache[2i+1] = sin,
     * theta stepped by repeated float multiplication like ggml; pair i's extrapolated angle is divided by ff[i]
     * (ff null: no factors).
     */
    static void ropeCache(float[] cache, int nRot, float p, RopeConfig rc, float[] corr, float[] ff) {
        float thetaScale = (float) Math.pow(rc.freqBase(), -2.0f / nRot);
        float theta = p;
        for (int i0 = 0; i0 < nRot; i0 += 2) {
            float thetaExtrap = ff == null ? theta : theta / ff[i0 / 2];
            float thetaInterp = rc.freqScale() * thetaExtrap;
            float th = thetaInterp;
            float mscale = rc.attnFactor();
            if (rc.extFactor() != 0.0f) {
                float yv = (i0 / 2 - corr[0]) / Math.max(0.001f, corr[1] - corr[0]);
                float rampMix = (1 - Math.min(1, Math.max(0, yv))) * rc.extFactor();
                th = thetaInterp * (1 - rampMix) + thetaExtrap * rampMix;
                mscale *= 1.0f + 0.1f * (float) Math.log(1.0f / rc.freqScale());
            }
            cache[i0] = (float) Math.cos(th) * mscale;
            cache[i0 + 1] = (float) Math.sin(th) * mscale;
            theta *= thetaScale;
        }
    }

    @Override
    public void rope(MemorySegment x, int nTokens, int nHeads, int headDim, int nRot, MemorySegment pos, RopeConfig rc,
                     MemorySegment freqFactors) {
        Checks.rope(x, nTokens, nHeads, headDim, nRot, pos, rc, freqFactors);
        float[] corr = corrDims(nRot, rc.nCtxOrig(), rc.freqBase(), rc.betaFast(), rc.betaSlow());
        float[] ff = freqFactors == null ? null : freqFactors.asSlice(0, 4L * (nRot / 2)).toArray(F32);
        float[] cache = new float[nRot];
        for (int t = 0; t < nTokens; t++) {
            ropeCache(cache, nRot, pos.get(I32, 4L * t), rc, corr, ff);
            for (int h = 0; h < nHeads; h++) {
                long base = ((long) t * nHeads + h) * headDim * Float.BYTES;
                for (int i0 = 0; i0 < nRot; i0 += 2) {
                    int a = rc.neox() ? i0 / 2 : i0, b = rc.neox() ? i0 / 2 + nRot / 2 : i0 + 1;
                    float c = cache[i0], s = cache[i0 + 1];
                    float x0 = x.get(F32, base + 4L * a), x1 = x.get(F32, base + 4L * b);
                    x.set(F32, base + 4L * a, x0 * c - x1 * s);
                    x.set(F32, base + 4L * b, x0 * s + x1 * c);
                }
            }
        }
    }

    /**
     * n values of a KV cache row from element e (whole blocks of a block type) into dst as floats: read in place, or
     * one block at a time through ggml's dequantizer; no copy of the cache.
     */
    static void kvRow(MemorySegment s, GgmlType t, long e, float[] dst, int n) {
        JavaQuants.dequantizeRow(t, dst, s, t.rowBytes(e), n);
    }

    /**
     * The type a query row is rounded through before its dot products with keys of type k, as ggml's flash attention
     * converts Q to K's vec_dot_type: Q8_0 for the block types, BF16 for BF16, none (null) for F32 and F16.
     */
    static GgmlType queryRounding(GgmlType k) {
        return k == GgmlType.F32 || k == GgmlType.F16 ? null : k == GgmlType.BF16 ? GgmlType.BF16 : GgmlType.Q8_0;
    }

    /** n floats of x through type t and back in place (buf: at least t.rowBytes(n) bytes). */
    static void roundRow(GgmlType t, float[] x, int n, MemorySegment buf) {
        JavaQuants.quantizeRow(t, buf, 0, x, n);
        JavaQuants.dequantizeRow(t, x, buf, 0, n);
    }

    @Override
    public void attention(MemorySegment out, MemorySegment q, int nQ, int pos0, int nHead, int nKvHead, int headDim,
                          int headDimV, MemorySegment k, MemorySegment v, GgmlType kType, GgmlType vType, int nKv,
                          float scale) {
        Checks.attention(out, q, nQ, pos0, nHead, nKvHead, headDim, headDimV, k, v, kType, vType, nKv, scale);
        attend(out, q, nQ, pos0, nHead, nKvHead, headDim, headDimV, k, (long) nKvHead * headDim, v,
                (long) nKvHead * headDimV, kType, vType, scale, null, 0);
    }

    @Override
    public void attentionMla(MemorySegment out, MemorySegment q, int nQ, int pos0, int nHead, int kvLora, int nRope,
                             MemorySegment cache, GgmlType kvType, int nKv, float scale) {
        Checks.attentionMla(out, q, nQ, pos0, nHead, kvLora, nRope, cache, kvType, nKv, scale);
        // MQA over the cache: the key is the whole row, the value its latent part
        int row = kvLora + nRope;
        attend(out, q, nQ, pos0, nHead, 1, row, kvLora, cache, row, cache, row, kvType, kvType, scale, null, 0);
    }

    @Override
    public void attentionPaged(MemorySegment out, MemorySegment q, PagedBatch b, int nHead, int nKvHead, int headDim,
                               int headDimV, MemorySegment k, MemorySegment v, GgmlType kType, GgmlType vType,
                               float scale) {
        Checks.attentionPaged(out, q, b, nHead, nKvHead, headDim, headDimV, k, v, kType, vType, scale);
        for (int s = 0; s < b.nSeq(); s++) {
            int r0 = b.seqRows().getAtIndex(I32, s), nQ = b.seqRows().getAtIndex(I32, s + 1) - r0;
            attend(out.asSlice(4L * r0 * nHead * headDimV), q.asSlice(4L * r0 * nHead * headDim), nQ,
                    b.seqPos0().getAtIndex(I32, s), nHead, nKvHead, headDim, headDimV, k, (long) nKvHead * headDim, v,
                    (long) nKvHead * headDimV, kType, vType, scale, b, s);
        }
    }

    @Override
    public void attentionMlaPaged(MemorySegment out, MemorySegment q, PagedBatch b, int nHead, int kvLora, int nRope,
                                  MemorySegment cache, GgmlType kvType, float scale) {
        Checks.attentionMlaPaged(out, q, b, nHead, kvLora, nRope, cache, kvType, scale);
        int row = kvLora + nRope;
        for (int s = 0; s < b.nSeq(); s++) {
            int r0 = b.seqRows().getAtIndex(I32, s), nQ = b.seqRows().getAtIndex(I32, s + 1) - r0;
            attend(out.asSlice(4L * r0 * nHead * kvLora), q.asSlice(4L * r0 * nHead * row), nQ,
                    b.seqPos0().getAtIndex(I32, s), nHead, 1, row, kvLora, cache, row, cache, row, kvType, kvType, scale, b, s);
        }
    }

    @Override
    public void kvStore(GgmlType kvType, MemorySegment cache, MemorySegment rows, MemorySegment src, int n, int width) {
        Checks.kvStore(kvType, cache, rows, src, n, width);
        long rb = kvType.rowBytes(width);
        for (int i = 0; i < n; i++) {
            MemorySegment dst = cache.asSlice(rows.getAtIndex(I32, i) * rb, rb);
            if (kvType == GgmlType.F32) MemorySegment.copy(src, 4L * i * width, dst, 0, rb);
            else quantize(kvType, dst, src.asSlice(4L * i * width, 4L * width), 1, width);
        }
    }

    @Override
    public void hadamard(MemorySegment x, int n, int chunks) {
        Checks.hadamard(x, n, chunks);
        float scale = 1.0f / (float) Math.sqrt(n); // sqrtf of a power of 2: exact in double then rounded, as C's
        for (int c = 0; c < chunks; c++) {
            long base = 4L * c * n;
            for (int i = 0; i < n; i++) x.set(F32, base + 4L * i, x.get(F32, base + 4L * i) * scale);
            for (int len = 1; len < n; len <<= 1)
                for (int i = 0; i < n; i += 2 * len)
                    for (int j = i; j < i + len; j++) {
                        float u = x.get(F32, base + 4L * j), v = x.get(F32, base + 4L * (j + len));
                        x.set(F32, base + 4L * j, u + v);
                        x.set(F32, base + 4L * (j + len), u - v);
                    }
        }
    }

    @Override
    public void addRows(MemorySegment y, MemorySegment b, int n, int rows) {
        Checks.addRows(y, b, n, rows);
        for (int r = 0; r < rows; r++) {
            MemorySegment row = y.asSlice(4L * r * n, 4L * n);
            add(row, row, b, n);
        }
    }

    @Override
    public void rmsnormStrided(MemorySegment x, MemorySegment w, int n, int rows, int stride, float eps) {
        Checks.rmsnormStrided(x, w, n, rows, stride, eps);
        for (int r = 0; r < rows; r++) {
            MemorySegment row = x.asSlice(4L * r * stride, 4L * n);
            rmsnorm(row, row, w, n, 1, eps);
        }
    }

    /**
     * Causal attention with explicit row strides: the K (V) row of token j and KV head g starts at element
     * j * kStride + g * headDim (j * vStride + g * headDimV). Arguments already checked. The (query, head) pairs are
     * split over the threads, each pair computed whole by one thread. With a paged batch, row j is the cache row of
     * token j of its sequence {@code seq} ({@link PagedBatch#row}).
     */
    final void attend(MemorySegment out, MemorySegment q, int nQ, int pos0, int nHead, int nKvHead, int headDim,
                      int headDimV, MemorySegment k, long kStride, MemorySegment v, long vStride, GgmlType kType,
                      GgmlType vType, float scale, PagedBatch paged, int seq) {
        int pairs = nQ * nHead;
        long work = (long) pairs * (pos0 + nQ) * (headDim + headDimV);
        boolean shared = work >= (32 << 10) && pool.canShare(out, q, k, v);
        int chunk = shared ? Math.max(1, pairs / (pool.size() * 4)) : pairs;
        pool.forRange(pairs, chunk, (p0, p1) ->
                attendPairs(out, q, pos0, nHead, nKvHead, headDim, headDimV, k, kStride, v, vStride, kType, vType,
                        scale, paged, seq, p0, p1));
    }

    /** Query-head pairs [p0, p1) of {@link #attend} (pair p: query p / nHead, head p % nHead); on any pool thread. */
    void attendPairs(MemorySegment out, MemorySegment q, int pos0, int nHead, int nKvHead, int headDim, int headDimV,
                     MemorySegment k, long kStride, MemorySegment v, long vStride, GgmlType kType, GgmlType vType,
                     float scale, PagedBatch paged, int seq, int p0, int p1) {
        int group = nHead / nKvHead;
        float[] qv = new float[headDim], kr = new float[headDim], vr = new float[headDimV];
        float[] acc = new float[headDimV];
        GgmlType qt = queryRounding(kType);
        MemorySegment qb = qt == null ? null : MemorySegment.ofArray(new byte[(int) qt.rowBytes(headDim)]);
        for (int pair = p0; pair < p1; pair++) {
            int t = pair / nHead, h = pair % nHead;
            int kvh = h / group;
            MemorySegment.copy(q, F32, ((long) t * nHead + h) * headDim * Float.BYTES, qv, 0, headDim);
            if (qt != null) roundRow(qt, qv, headDim, qb);
            java.util.Arrays.fill(acc, 0);
            float m = Float.NEGATIVE_INFINITY, sum = 0;
            for (int j = 0; j <= pos0 + t; j++) {
                long row = paged == null ? j : paged.row(seq, j);
                long ko = row * kStride + (long) kvh * headDim, vo = row * vStride + (long) kvh * headDimV;
                kvRow(k, kType, ko, kr, headDim);
                float dot = 0;
                for (int i = 0; i < headDim; i++) dot += qv[i] * kr[i];
                float sc = dot * scale;
                if (sc > m) {
                    // online softmax: rescale what was accumulated under the old max
                    float corr = m == Float.NEGATIVE_INFINITY ? 0 : (float) Math.exp(m - sc);
                    for (int i = 0; i < headDimV; i++) acc[i] *= corr;
                    sum *= corr;
                    m = sc;
                }
                float p = (float) Math.exp(sc - m);
                sum += p;
                kvRow(v, vType, vo, vr, headDimV);
                for (int i = 0; i < headDimV; i++) acc[i] += p * vr[i];
            }
            long oo = ((long) t * nHead + h) * headDimV * Float.BYTES;
            float inv = sum > 0 ? 1 / sum : 0;
            for (int i = 0; i < headDimV; i++) out.set(F32, oo + 4L * i, acc[i] * inv);
        }
    }

    /** Written once for both Java backends ({@link MoeFfn}), over this instance's own matmul and siluMul. */
    @Override
    public final void moeFfn(MemorySegment out, MemorySegment x, int nTok, int nEmbd, int nFf, int nExpert, int nUsed,
                             MemorySegment ids, MemorySegment weights, GgmlType gateType, MemorySegment gate,
                             GgmlType upType, MemorySegment up, GgmlType downType, MemorySegment down) {
        Checks.moeFfn(out, x, nTok, nEmbd, nFf, nExpert, nUsed, ids, weights, gateType, gate, upType, up, downType, down);
        moe.run(this, out, x, nTok, nEmbd, nFf, nExpert, nUsed, ids, weights, gateType, gate, upType, up, downType, down);
    }

    @Override
    public void close() {
        pool.close();
    }
}
