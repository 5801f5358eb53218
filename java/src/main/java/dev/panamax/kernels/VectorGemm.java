package dev.panamax.kernels;

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
 * floats) and a column group's chunk stay in L1 while the column groups stream from L2. Each output y[c][r] is the
 * same sequence of fused multiply-adds (lane-wise over its chunk, one lane reduction per chunk, the chunks summed
 * in order) whatever the tile, the panel and the thread it falls in: results do not depend on the thread count.
 */
final class VectorGemm {
    private VectorGemm() {
    }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Register tile: weight rows x activation columns (12 accumulators + 3 activations + 1 weight: 16 AVX2 registers). */
    static final int R = 4, C = 3;
    /** K chunk in elements: a multiple of every block size (256). */
    static final int KC = 512;
    /** Rows per dequantized panel (a multiple of R): RP x KC floats = 16 KiB. */
    static final int RP = 8;

    /** Whether the GEMM takes this product: the row length a whole number of vectors and of the type's blocks. */
    static boolean takes(GgmlType type, int nCols) {
        return nCols % L == 0 && nCols % type.blockSize() == 0;
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
        float[] out = new float[R * C];
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
                    int rows = Math.min(R, p1 - t0);
                    float[] w0 = panel[t0 - p0], w1 = panel[t0 - p0 + 1], w2 = panel[t0 - p0 + 2], w3 = panel[t0 - p0 + 3];
                    int c = 0;
                    for (; c + C <= batch; c += C) {
                        tile4x3(w0, w1, w2, w3, x[c], x[c + 1], x[c + 2], k0, len, out);
                        store(y, nRows, t0, rows, c, C, out, first);
                    }
                    if (batch - c == 2) {
                        tile4x2(w0, w1, w2, w3, x[c], x[c + 1], k0, len, out);
                        store(y, nRows, t0, rows, c, 2, out, first);
                    } else if (batch - c == 1) {
                        tile4x1(w0, w1, w2, w3, x[c], k0, len, out);
                        store(y, nRows, t0, rows, c, 1, out, first);
                    }
                }
            }
        }
    }

    /** out[i * C + j] (row i, column j of the tile) into y[c + j][t0 + i], set on the first K chunk, added after. */
    private static void store(MemorySegment y, int nRows, int t0, int rows, int c, int cols, float[] out, boolean first) {
        for (int j = 0; j < cols; j++) {
            for (int i = 0; i < rows; i++) {
                long o = ((long) (c + j) * nRows + t0 + i) * Float.BYTES;
                float v = out[i * C + j];
                y.set(JavaQuants.F32, o, first ? v : y.get(JavaQuants.F32, o) + v);
            }
        }
    }

    private static float sum(FloatVector v) {
        return v.reduceLanes(VectorOperators.ADD);
    }

    private static void tile4x3(float[] w0, float[] w1, float[] w2, float[] w3, float[] x0, float[] x1, float[] x2,
                                int xo, int len, float[] out) {
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
        for (int i = 0; i < len; i += L) {
            FloatVector v0 = FloatVector.fromArray(F, x0, xo + i);
            FloatVector v1 = FloatVector.fromArray(F, x1, xo + i);
            FloatVector v2 = FloatVector.fromArray(F, x2, xo + i);
            FloatVector u = FloatVector.fromArray(F, w0, i);
            a00 = u.fma(v0, a00);
            a01 = u.fma(v1, a01);
            a02 = u.fma(v2, a02);
            u = FloatVector.fromArray(F, w1, i);
            a10 = u.fma(v0, a10);
            a11 = u.fma(v1, a11);
            a12 = u.fma(v2, a12);
            u = FloatVector.fromArray(F, w2, i);
            a20 = u.fma(v0, a20);
            a21 = u.fma(v1, a21);
            a22 = u.fma(v2, a22);
            u = FloatVector.fromArray(F, w3, i);
            a30 = u.fma(v0, a30);
            a31 = u.fma(v1, a31);
            a32 = u.fma(v2, a32);
        }
        out[0] = sum(a00);
        out[1] = sum(a01);
        out[2] = sum(a02);
        out[3] = sum(a10);
        out[4] = sum(a11);
        out[5] = sum(a12);
        out[6] = sum(a20);
        out[7] = sum(a21);
        out[8] = sum(a22);
        out[9] = sum(a30);
        out[10] = sum(a31);
        out[11] = sum(a32);
    }

    private static void tile4x2(float[] w0, float[] w1, float[] w2, float[] w3, float[] x0, float[] x1, int xo, int len,
                                float[] out) {
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
        for (int i = 0; i < len; i += L) {
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
        }
        out[0] = sum(a00);
        out[1] = sum(a01);
        out[3] = sum(a10);
        out[4] = sum(a11);
        out[6] = sum(a20);
        out[7] = sum(a21);
        out[9] = sum(a30);
        out[10] = sum(a31);
    }

    private static void tile4x1(float[] w0, float[] w1, float[] w2, float[] w3, float[] x0, int xo, int len, float[] out) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        for (int i = 0; i < len; i += L) {
            FloatVector v0 = FloatVector.fromArray(F, x0, xo + i);
            a0 = FloatVector.fromArray(F, w0, i).fma(v0, a0);
            a1 = FloatVector.fromArray(F, w1, i).fma(v0, a1);
            a2 = FloatVector.fromArray(F, w2, i).fma(v0, a2);
            a3 = FloatVector.fromArray(F, w3, i).fma(v0, a3);
        }
        out[0] = sum(a0);
        out[3] = sum(a1);
        out[6] = sum(a2);
        out[9] = sum(a3);
    }

    /** Bytes as many as float lanes (AVX2, AVX-512), null where no such shape exists (128-bit NEON: 32 bits). */
    private static final VectorSpecies<Byte> BF = L == 8 || L == 16
            ? ByteVector.SPECIES_PREFERRED.withShape(VectorShape.forBitSize(8 * L)) : null;

    /**
     * n elements of a row from byte offset o (a block boundary) as floats into dst[0, n): the values of
     * {@link JavaQuants#dequantizeRow} (the same float products q * d), Q8_0 and Q4_0 on vectors.
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
        } else {
            JavaQuants.dequantizeRow(type, dst, w, o, n);
        }
    }
}
