package dev.panamax.kernels;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import dev.panamax.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The Vector API matmul for a batch of activation rows (prompt processing): a tiled GEMM in float on the operands
 * the int8 route multiplies. Weights are dequantized (d * q, per block) once per panel of rows and K chunk into a
 * thread's own buffer, activations once per call (their Q8_0 / Q8_K quants times the block scale, {@code Act.xq});
 * so every weight block is unpacked once for all batch columns instead of once per column, and a register tile
 * of {@link #R} rows x {@link #C} columns uses each weight load C times and each activation load R times. The
 * quantized values are those of the int8 route (the same activation bytes): only float rounding of the products
 * and the summation order differ from {@link ScalarKernels}' integer block sums (2^-24 per product).
 * <p>
 * Cache blocking: K in chunks of {@link #KC} elements, rows in panels of {@link #RP}; a panel's chunk (RP x KC
 * floats) and a column group's chunk stay in L1 while the column groups stream from L2. The vector accumulators
 * of a panel are carried from chunk to chunk in memory and reduced once at the end (a reduction per chunk cost
 * ~15%): each output y[c][r] is the same sequence of lane-wise fused multiply-adds over the whole row, then one lane
 * reduction, whatever the tile, the panel and the thread it falls in: results do not depend on the thread count.
 */
final class VectorGemm {
    private VectorGemm() {
    }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /**
     * Register tile: weight rows x activation columns. Measured on AVX2 (loop alone, 1024 floats from L1, GFLOP/s):
     * 4x2 and 2x4 60-70, 4x3 and 3x4 35-55 (12 accumulators: C2 spills), 5x2 45-50, 6x2 37; unrolled twice
     * beats once (4x3: 29-41 -> 49-55) and four times (4x2: 55).
     */
    static final int R = 4, C = 2;
    /**
     * K chunk in elements, a multiple of every block size (256): a 4-row tile's chunk (16 KiB) stays in L1 while the
     * column pairs stream, the chunk of 128 columns (512 KiB) mostly in L2. Measured (Q4_0 2048 x 2048, batch 128,
     * one thread, 4x2 tiles): 256 -> 31, 512 -> 32, 1024 -> 33, 4096 -> 33 GFLOP/s, differences within this
     * shared machine's noise; with 4x3 tiles and a lane reduction per chunk, 256 -> 24 and 4096 -> 35.
     */
    static final int KC = 1024;
    /** Rows per dequantized panel (a multiple of R): RP x KC floats, 32 KiB (4, 8, 16 measured alike). */
    static final int RP = 8;

    /** Whether the GEMM takes this product: the row length a whole number of vector pairs and of the type's blocks. */
    static boolean takes(GgmlType type, int nCols) {
        return nCols % (2 * L) == 0 && nCols % type.blockSize() == 0;
    }

    /** Activations the GEMM reads for a batch row: quantized types their dequantized quants, float types x itself. */
    static float[] acts(GgmlType type, ScalarKernels.Act a) {
        return type.blockSize() == 1 ? a.x : a.xq;
    }

    /**
     * y[b][r] for rows [r0, r1) and every batch row b (weights w, rows of rowBytes, nCols elements each): a thread's
     * share of {@link ScalarKernels#matmul}. Activations prepared with {@code xq} for quantized types.
     */
    static void rows(GgmlType type, MemorySegment w, long rowBytes, int nRows, int nCols, ScalarKernels.Act[] acts,
                     int batch, int r0, int r1, MemorySegment y) {
        float[][] panel = new float[RP][KC];
        float[][] x = new float[batch][];
        for (int b = 0; b < batch; b++) x[b] = acts(type, acts[b]);
        int groups = (batch + C - 1) / C;
        // the lane-wise partial sums of every (row, column) of a panel, carried from K chunk to K chunk
        float[] part = new float[RP / R * groups * R * C * L];
        int bs = type.blockSize();
        long blockBytes = type.rowBytes(bs);
        for (int p0 = r0; p0 < r1; p0 += RP) {
            int p1 = Math.min(r1, p0 + RP);
            for (int k0 = 0; k0 < nCols; k0 += KC) {
                int len = Math.min(KC, nCols - k0);
                for (int r = p0; r < p1; r++) {
                    dequantize(type, panel[r - p0], w, r * rowBytes + (long) (k0 / bs) * blockBytes, len);
                }
                boolean first = k0 == 0;
                for (int t0 = p0; t0 < p1; t0 += R) {
                    float[] w0 = panel[t0 - p0], w1 = panel[t0 - p0 + 1], w2 = panel[t0 - p0 + 2], w3 = panel[t0 - p0 + 3];
                    int po = (t0 - p0) / R * groups * R * C * L;
                    int c = 0;
                    for (; c + C <= batch; c += C, po += R * C * L) {
                        tile4x2(w0, w1, w2, w3, x[c], x[c + 1], k0, len, part, po, first);
                    }
                    if (c < batch) tile4x1(w0, w1, w2, w3, x[c], k0, len, part, po, first);
                }
            }
            for (int t0 = p0; t0 < p1; t0 += R) {
                int po = (t0 - p0) / R * groups * R * C * L;
                for (int c = 0; c < batch; c += C, po += R * C * L) {
                    for (int j = 0; j < Math.min(C, batch - c); j++) {
                        for (int i = 0; i < Math.min(R, p1 - t0); i++) {
                            float v = FloatVector.fromArray(F, part, po + (i * C + j) * L).reduceLanes(VectorOperators.ADD);
                            y.set(JavaQuants.F32, ((long) (c + j) * nRows + t0 + i) * Float.BYTES, v);
                        }
                    }
                }
            }
        }
    }

    /** The partial sums of slot s (row i, column j: i * C + j) of the tile at po: zero on the first K chunk. */
    private static FloatVector load(float[] part, int po, int s, boolean first) {
        return first ? FloatVector.zero(F) : FloatVector.fromArray(F, part, po + s * L);
    }

    private static void tile4x2(float[] w0, float[] w1, float[] w2, float[] w3, float[] x0, float[] x1, int xo, int len,
                                float[] part, int po, boolean first) {
        FloatVector a00 = load(part, po, 0, first), a01 = load(part, po, 1, first);
        FloatVector a10 = load(part, po, 2, first), a11 = load(part, po, 3, first);
        FloatVector a20 = load(part, po, 4, first), a21 = load(part, po, 5, first);
        FloatVector a30 = load(part, po, 6, first), a31 = load(part, po, 7, first);
        for (int i = 0; i < len; i += 2 * L) { // unrolled twice (len: a multiple of 2L, see takes)
            FloatVector v0 = FloatVector.fromArray(F, x0, xo + i);
            FloatVector v1 = FloatVector.fromArray(F, x1, xo + i);
            FloatVector u = FloatVector.fromArray(F, w0, i);
            a00 = u.fma(v0, a00);
            a01 = u.fma(v1, a01);
            u = FloatVector.fromArray(F, w1, i);
            a10 = u.fma(v0, a10);
            a11 = u.fma(v1, a11);
            u = FloatVector.fromArray(F, w2, i);
            a20 = u.fma(v0, a20);
            a21 = u.fma(v1, a21);
            u = FloatVector.fromArray(F, w3, i);
            a30 = u.fma(v0, a30);
            a31 = u.fma(v1, a31);
            v0 = FloatVector.fromArray(F, x0, xo + i + L);
            v1 = FloatVector.fromArray(F, x1, xo + i + L);
            u = FloatVector.fromArray(F, w0, i + L);
            a00 = u.fma(v0, a00);
            a01 = u.fma(v1, a01);
            u = FloatVector.fromArray(F, w1, i + L);
            a10 = u.fma(v0, a10);
            a11 = u.fma(v1, a11);
            u = FloatVector.fromArray(F, w2, i + L);
            a20 = u.fma(v0, a20);
            a21 = u.fma(v1, a21);
            u = FloatVector.fromArray(F, w3, i + L);
            a30 = u.fma(v0, a30);
            a31 = u.fma(v1, a31);
        }
        a00.intoArray(part, po);
        a01.intoArray(part, po + L);
        a10.intoArray(part, po + 2 * L);
        a11.intoArray(part, po + 3 * L);
        a20.intoArray(part, po + 4 * L);
        a21.intoArray(part, po + 5 * L);
        a30.intoArray(part, po + 6 * L);
        a31.intoArray(part, po + 7 * L);
    }

    private static void tile4x1(float[] w0, float[] w1, float[] w2, float[] w3, float[] x0, int xo, int len, float[] part,
                                int po, boolean first) {
        FloatVector a0 = load(part, po, 0, first), a1 = load(part, po, 2, first);
        FloatVector a2 = load(part, po, 4, first), a3 = load(part, po, 6, first);
        for (int i = 0; i < len; i += L) {
            FloatVector v0 = FloatVector.fromArray(F, x0, xo + i);
            a0 = FloatVector.fromArray(F, w0, i).fma(v0, a0);
            a1 = FloatVector.fromArray(F, w1, i).fma(v0, a1);
            a2 = FloatVector.fromArray(F, w2, i).fma(v0, a2);
            a3 = FloatVector.fromArray(F, w3, i).fma(v0, a3);
        }
        a0.intoArray(part, po);
        a1.intoArray(part, po + 2 * L);
        a2.intoArray(part, po + 4 * L);
        a3.intoArray(part, po + 6 * L);
    }

    /** Bytes as many as float lanes (AVX2, AVX-512), null where no such shape exists (128-bit NEON: 32 bits). */
    private static final VectorSpecies<Byte> BF = L == 8 || L == 16
            ? ByteVector.SPECIES_PREFERRED.withShape(VectorShape.forBitSize(8 * L)) : null;

    /**
     * n elements of a row from byte offset o (a block boundary) as floats into dst[0, n): the values of
     * {@link JavaQuants#dequantizeRow} (the same float operations), Q8_0, Q4_0, Q4_K and Q6_K on vectors.
     */
    static void dequantize(GgmlType type, float[] dst, MemorySegment w, long o, int n) {
        if (BF != null && type == GgmlType.Q8_0) {
            for (int b = 0; b < n / JavaQuants.QK; b++) {
                long bo = o + 34L * b;
                float d = JavaQuants.fromHalf(w.get(JavaQuants.I16, bo));
                for (int j = 0; j < JavaQuants.QK; j += L) {
                    ((FloatVector) ByteVector.fromMemorySegment(BF, w, bo + 2 + j, LE).convertShape(VectorOperators.B2F, F, 0))
                            .mul(d).intoArray(dst, b * JavaQuants.QK + j);
                }
            }
        } else if (BF != null && type == GgmlType.Q4_0) {
            for (int b = 0; b < n / JavaQuants.QK; b++) {
                long bo = o + 18L * b;
                float d = JavaQuants.fromHalf(w.get(JavaQuants.I16, bo));
                for (int j = 0; j < 16; j += L) {
                    ByteVector q = ByteVector.fromMemorySegment(BF, w, bo + 2 + j, LE);
                    ((FloatVector) q.and((byte) 0xf).sub((byte) 8).convertShape(VectorOperators.B2F, F, 0))
                            .mul(d).intoArray(dst, b * JavaQuants.QK + j);
                    ((FloatVector) q.lanewise(VectorOperators.LSHR, 4).and((byte) 0xf).sub((byte) 8)
                            .convertShape(VectorOperators.B2F, F, 0)).mul(d).intoArray(dst, b * JavaQuants.QK + 16 + j);
                }
            }
        } else if (BF != null && type == GgmlType.Q4_K) {
            for (int b = 0; b < n / JavaQuants.QK_K; b++) dequantQ4K(dst, b * JavaQuants.QK_K, w, o + 144L * b);
        } else if (BF != null && type == GgmlType.Q6_K) {
            for (int b = 0; b < n / JavaQuants.QK_K; b++) dequantQ6K(dst, b * JavaQuants.QK_K, w, o + 210L * b);
        } else {
            JavaQuants.dequantizeRow(type, dst, w, o, n);
        }
    }

    /** JavaQuants.dequantQ4K on vectors: d1 * q - m1 per 32-element sub-block, the same float operations. */
    private static void dequantQ4K(float[] y, int y0, MemorySegment w, long o) {
        float d = JavaQuants.fromHalf(w.get(JavaQuants.I16, o)), min = JavaQuants.fromHalf(w.get(JavaQuants.I16, o + 2));
        for (int j = 0; j < 4; j++) {
            int sm1 = JavaQuants.scaleMinK4(2 * j, w, o + 4), sm2 = JavaQuants.scaleMinK4(2 * j + 1, w, o + 4);
            float d1 = d * (sm1 & 0xff), m1 = min * (sm1 >>> 8);
            float d2 = d * (sm2 & 0xff), m2 = min * (sm2 >>> 8);
            long q = o + 16 + 32L * j;
            int yo = y0 + 64 * j;
            for (int i = 0; i < 32; i += L) {
                ByteVector v = ByteVector.fromMemorySegment(BF, w, q + i, LE);
                ((FloatVector) v.and((byte) 0xf).convertShape(VectorOperators.B2F, F, 0)).mul(d1).sub(m1).intoArray(y, yo + i);
                ((FloatVector) v.lanewise(VectorOperators.LSHR, 4).and((byte) 0xf).convertShape(VectorOperators.B2F, F, 0))
                        .mul(d2).sub(m2).intoArray(y, yo + 32 + i);
            }
        }
    }

    /** JavaQuants.dequantQ6K on vectors: (d * scale) * (q - 32), a chunk of L <= 16 within one 16-element scale group. */
    private static void dequantQ6K(float[] y, int y0, MemorySegment w, long o) {
        float d = JavaQuants.fromHalf(w.get(JavaQuants.I16, o + 208));
        for (int h = 0; h < 2; h++) {
            long ql = o + 64L * h, qh = o + 128 + 32L * h, sc = o + 192 + 8L * h;
            int yo = y0 + 128 * h;
            for (int l = 0; l < 32; l += L) {
                ByteVector l0 = ByteVector.fromMemorySegment(BF, w, ql + l, LE);
                ByteVector l1 = ByteVector.fromMemorySegment(BF, w, ql + 32 + l, LE);
                ByteVector hb = ByteVector.fromMemorySegment(BF, w, qh + l, LE);
                long g = sc + l / 16;
                ByteVector q1 = l0.and((byte) 0xf).or(hb.and((byte) 3).lanewise(VectorOperators.LSHL, 4));
                ByteVector q2 = l1.and((byte) 0xf).or(hb.lanewise(VectorOperators.LSHR, 2).and((byte) 3).lanewise(VectorOperators.LSHL, 4));
                ByteVector q3 = l0.lanewise(VectorOperators.LSHR, 4).and((byte) 0xf)
                        .or(hb.lanewise(VectorOperators.LSHR, 4).and((byte) 3).lanewise(VectorOperators.LSHL, 4));
                ByteVector q4 = l1.lanewise(VectorOperators.LSHR, 4).and((byte) 0xf)
                        .or(hb.lanewise(VectorOperators.LSHR, 6).and((byte) 3).lanewise(VectorOperators.LSHL, 4));
                ((FloatVector) q1.sub((byte) 32).convertShape(VectorOperators.B2F, F, 0))
                        .mul(d * w.get(JAVA_BYTE, g)).intoArray(y, yo + l);
                ((FloatVector) q2.sub((byte) 32).convertShape(VectorOperators.B2F, F, 0))
                        .mul(d * w.get(JAVA_BYTE, g + 2)).intoArray(y, yo + 32 + l);
                ((FloatVector) q3.sub((byte) 32).convertShape(VectorOperators.B2F, F, 0))
                        .mul(d * w.get(JAVA_BYTE, g + 4)).intoArray(y, yo + 64 + l);
                ((FloatVector) q4.sub((byte) 32).convertShape(VectorOperators.B2F, F, 0))
                        .mul(d * w.get(JAVA_BYTE, g + 6)).intoArray(y, yo + 96 + l);
            }
        }
    }
}
