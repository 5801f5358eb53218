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
 * the int8 route multiplies. Weights are dequantized (d * q, per block) once per block of rows and K range into a
 * thread's own buffer, activations once per call (their Q8_0 / Q8_K quants times the block scale, {@code Act.xq})
 * and laid out k-major per group of {@link #NR} batch columns ({@link #pack}, run once per call by
 * {@code VectorKernels.actsLoaded}); so every weight block is unpacked once for all batch columns instead of once
 * per column. The register tile is an outer product: {@link #MR} weight rows x {@link #NR} columns, per k two
 * activation vector loads and MR broadcast weights, MR x 2 vector fused multiply-adds, no lane reduction. Batches
 * under {@link #OUTER_MIN_BATCH} take the dot-product tiles ({@link #rowsDot}) instead. The quantized values are
 * those of the int8 route (the same activation bytes): only float rounding of the products and the summation order
 * differ from {@link ScalarKernels}' integer block sums (2^-24 per product).
 * <p>
 * Each output y[c][r] is one lane of one accumulator: the fused multiply-adds w[r][k] * x[c][k] + acc in order of
 * k = 0, 1, ..., nCols - 1 from zero, carried from K chunk to K chunk in memory exactly; whatever the tile, block
 * and thread the output falls in, the same sequence, so results do not depend on the thread count (bit for bit).
 * Against the former dot-product form (8 lane sums then a reduction) one sum of nCols terms: rounding error grows
 * with the row length as for a plain float dot product (KernelsTest holds it to the same 1e-5 of the products'
 * magnitude at 4384 elements).
 * <p>
 * Cache blocking: rows in blocks of {@link #MC}, each block's partial sums (MC x batch floats) kept over the whole
 * row; the block's rows dequantized {@link #KD} elements at a time (MC x KD floats, in L2), then per K chunk of
 * {@link #KC} and column group the group's chunk (KC x NR floats) stays in L1 while the block's panels of MR rows
 * stream. Measured on this shared 2-core machine, Q4_0 4096 x 4096, batch 128, one thread (GFLOP/s): former
 * dot-product tiles 28-33, these 33-66 (the spread is other processes' load: it moves these more).
 */
final class VectorGemm {
    private VectorGemm() {
    }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /**
     * Register tile: weight rows x batch columns (two vectors): 8 accumulators, two activation vectors, a broadcast.
     * Measured (Q4_0 4096 x 4096, batch 128, one thread, GFLOP/s): 4 rows 54, 5 rows 26, 6 rows 29 (C2 spills an
     * accumulator in the loop at 5 and 6 rows: 12 accumulators, two activations and the broadcasts it hoists all
     * live at once); the k loop unrolled by hand twice 33, four times 25 (spills again).
     */
    static final int MR = 4, NR = 2 * L;
    /** K chunk of a tile call in elements, a multiple of every block size (256); 512 measured alike. */
    static final int KC = 256;
    /**
     * Elements of a row dequantized at a time (a multiple of KC): runs of weight bytes long enough for the hardware
     * prefetcher (with KD = KC = 256, 64 rows x 144 bytes of Q4_0 per chunk, dequantization took more time than the
     * tiles at batch 16).
     */
    static final int KD = 1024;
    /** Rows per block whose partial sums stay in cache over the K chunks (a multiple of MR; 32 measured alike). */
    static final int MC = 16 * MR;

    /**
     * Smallest batch of the outer-product tiles: below it the dot-product tiles ({@link #rowsDot}) are faster (a
     * one-vector column group leaves the outer-product tile four accumulators). Measured (Q4_0 4096 x 4096, one
     * thread, GFLOP/s, dot / outer, KD = 256): batch 2 10.0 / 5.9, 4 15.4 / 12.2, 8 21.7 / 23.8, 12 25.2 / 33.6;
     * with KD = 1024, batch 8 22.2 / 25.0, 16 27.6 / 46.3.
     */
    static final int OUTER_MIN_BATCH = 8;
    /** Dot-product tiles ({@link #rowsDot}): rows x columns, K chunk, rows per dequantized panel. */
    static final int DR = 4, DC = 2, DK = 1024, DP = 8;

    /** Whether the GEMM takes this product: the row length a whole number of vector pairs and of the type's blocks. */
    static boolean takes(GgmlType type, int nCols) {
        return nCols % (2 * L) == 0 && nCols % type.blockSize() == 0;
    }

    /** Activations the GEMM reads for a batch row: quantized types their dequantized quants, float types x itself. */
    static float[] acts(GgmlType type, ScalarKernels.Act a) {
        return type.blockSize() == 1 ? a.x : a.xq;
    }

    /** Column groups of NR for a batch. */
    static int groups(int batch) {
        return (batch + NR - 1) / NR;
    }

    /**
     * Column groups [g0, g1) of the batch into xp, k-major: xp[(g * nCols + k) * NR + j] = x[g * NR + j][k], zero
     * for the columns past the batch.
     */
    static void pack(GgmlType type, ScalarKernels.Act[] acts, int batch, int nCols, float[] xp, int g0, int g1) {
        for (int g = g0; g < g1; g++) {
            int base = g * nCols * NR;
            // in runs of 64 k: the run's NR x 64 floats stay in L1 while its columns are written one by one
            for (int k0 = 0; k0 < nCols; k0 += 64) {
                int k1 = Math.min(nCols, k0 + 64);
                for (int j = 0; j < NR; j++) {
                    int b = g * NR + j;
                    if (b >= batch) {
                        for (int k = k0; k < k1; k++) xp[base + k * NR + j] = 0;
                    } else {
                        float[] x = acts(type, acts[b]);
                        for (int k = k0; k < k1; k++) xp[base + k * NR + j] = x[k];
                    }
                }
            }
        }
    }

    /**
     * y[b][r] for rows [r0, r1) and every batch row b (weights w, rows of rowBytes, nCols elements each): a thread's
     * share of {@link ScalarKernels#matmul}. Activations packed by {@link #pack} into xp.
     */
    static void rows(GgmlType type, MemorySegment w, long rowBytes, int nRows, int nCols, float[] xp, int batch,
                     int r0, int r1, MemorySegment y) {
        int groups = groups(batch), gs = groups * NR;
        // the last group one vector wide when the batch leaves at most L columns in it
        boolean half = batch % NR != 0 && batch % NR <= L;
        int mc = Math.min(MC, (r1 - r0 + MR - 1) / MR * MR);
        // a block's rows over KD elements, row i at i * KD (one array: C2 keeps the tile in registers); rows past
        // the block's end keep stale values: their sums land in part rows never written out
        Scratch sc = SCRATCH.get();
        if (sc.blk.length < mc * KD) sc.blk = new float[mc * KD];
        if (sc.part.length < mc * gs) sc.part = new float[mc * gs];
        float[] blk = sc.blk, tmp = sc.tmp;
        float[] part = sc.part; // part[(r - m0) * gs + c]: y[c][r] so far (read from the second K chunk on)
        int bs = type.blockSize();
        long blockBytes = type.rowBytes(bs);
        for (int m0 = r0; m0 < r1; m0 += MC) {
            int m1 = Math.min(r1, m0 + MC);
            for (int kd = 0; kd < nCols; kd += KD) {
                int lenD = Math.min(KD, nCols - kd);
                for (int r = m0; r < m1; r++) {
                    dequantize(type, blk, (r - m0) * KD, tmp, w, r * rowBytes + (long) (kd / bs) * blockBytes, lenD);
                }
                for (int k0 = kd; k0 < kd + lenD; k0 += KC) {
                    int len = Math.min(KC, kd + lenD - k0);
                    boolean first = k0 == 0;
                    // a column group's chunk (KC x NR floats) stays in L1 while the block's panels stream from L2
                    for (int g = 0; g < groups; g++) {
                        int xo = (g * nCols + k0) * NR;
                        boolean narrow = half && g == groups - 1;
                        for (int t0 = m0; t0 < m1; t0 += MR) {
                            int po = (t0 - m0) * gs + g * NR, wo = (t0 - m0) * KD + k0 - kd;
                            if (narrow) {
                                tile1(blk, wo, xp, xo, len, part, po, gs, first);
                            } else {
                                tile2(blk, wo, xp, xo, len, part, po, gs, first);
                            }
                        }
                    }
                }
            }
            for (int c = 0; c < batch; c++) {
                long yo = ((long) c * nRows + m0) * Float.BYTES;
                for (int r = m0; r < m1; r++) y.set(JavaQuants.F32, yo + (long) (r - m0) * Float.BYTES, part[(r - m0) * gs + c]);
            }
        }
    }

    /** A thread's buffers for {@link #rows}, kept: a forward pass calls with the same sizes every layer. */
    private static final class Scratch {
        float[] blk = new float[0], part = new float[0];
        final float[] tmp = new float[KD];
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /** The partial sums at o: zero on the first K chunk. */
    private static FloatVector load(float[] part, int o, boolean first) {
        return first ? FloatVector.zero(F) : FloatVector.fromArray(F, part, o);
    }

    /**
     * The block's MR rows from wo (at wo, wo + KC, ..., len elements) x the NR columns at xo (k-major) into the sums
     * at po (row stride ps). The panel in one array with constant row offsets: with an array per row C2 spilled
     * accumulators and array bases (34-38 GFLOP/s alone from L1 at 6 rows against 64-82).
     */
    static void tile2(float[] w, int wo, float[] xp, int xo, int len, float[] part, int po, int ps, boolean first) {
        FloatVector a00 = load(part, po, first), a01 = load(part, po + L, first);
        FloatVector a10 = load(part, po + ps, first), a11 = load(part, po + ps + L, first);
        FloatVector a20 = load(part, po + 2 * ps, first), a21 = load(part, po + 2 * ps + L, first);
        FloatVector a30 = load(part, po + 3 * ps, first), a31 = load(part, po + 3 * ps + L, first);
        for (int k = 0, o = xo; k < len; k++, o += NR) {
            FloatVector x0 = FloatVector.fromArray(F, xp, o), x1 = FloatVector.fromArray(F, xp, o + L);
            FloatVector b = FloatVector.broadcast(F, w[wo + k]);
            a00 = b.fma(x0, a00);
            a01 = b.fma(x1, a01);
            b = FloatVector.broadcast(F, w[wo + 1 * KD + k]);
            a10 = b.fma(x0, a10);
            a11 = b.fma(x1, a11);
            b = FloatVector.broadcast(F, w[wo + 2 * KD + k]);
            a20 = b.fma(x0, a20);
            a21 = b.fma(x1, a21);
            b = FloatVector.broadcast(F, w[wo + 3 * KD + k]);
            a30 = b.fma(x0, a30);
            a31 = b.fma(x1, a31);
        }
        a00.intoArray(part, po);
        a01.intoArray(part, po + L);
        a10.intoArray(part, po + ps);
        a11.intoArray(part, po + ps + L);
        a20.intoArray(part, po + 2 * ps);
        a21.intoArray(part, po + 2 * ps + L);
        a30.intoArray(part, po + 3 * ps);
        a31.intoArray(part, po + 3 * ps + L);
    }

    /** tile2 for the first L columns of the group only (a batch's last, narrow group). */
    static void tile1(float[] w, int wo, float[] xp, int xo, int len, float[] part, int po, int ps, boolean first) {
        FloatVector a0 = load(part, po, first);
        FloatVector a1 = load(part, po + ps, first);
        FloatVector a2 = load(part, po + 2 * ps, first);
        FloatVector a3 = load(part, po + 3 * ps, first);
        for (int k = 0; k < len; k++) {
            FloatVector x0 = FloatVector.fromArray(F, xp, xo + k * NR);
            a0 = FloatVector.broadcast(F, w[wo + k]).fma(x0, a0);
            a1 = FloatVector.broadcast(F, w[wo + 1 * KD + k]).fma(x0, a1);
            a2 = FloatVector.broadcast(F, w[wo + 2 * KD + k]).fma(x0, a2);
            a3 = FloatVector.broadcast(F, w[wo + 3 * KD + k]).fma(x0, a3);
        }
        a0.intoArray(part, po);
        a1.intoArray(part, po + ps);
        a2.intoArray(part, po + 2 * ps);
        a3.intoArray(part, po + 3 * ps);
    }

    /**
     * {@link #rows} for batches under {@link #OUTER_MIN_BATCH}, in dot-product form on the unpacked activations: tiles
     * of {@link #DR} rows x {@link #DC} columns, each accumulator a vector over k reduced once at the end; per output
     * the same lane-wise fused multiply-adds over the whole row then one lane reduction, whatever the tile and thread.
     */
    static void rowsDot(GgmlType type, MemorySegment w, long rowBytes, int nRows, int nCols, ScalarKernels.Act[] acts,
                        int batch, int r0, int r1, MemorySegment y) {
        float[][] panel = new float[DP][DK];
        float[][] x = new float[batch][];
        for (int b = 0; b < batch; b++) x[b] = acts(type, acts[b]);
        int groups = (batch + DC - 1) / DC;
        // the lane-wise partial sums of every (row, column) of a panel, carried from K chunk to K chunk
        float[] part = new float[DP / DR * groups * DR * DC * L];
        int bs = type.blockSize();
        long blockBytes = type.rowBytes(bs);
        for (int p0 = r0; p0 < r1; p0 += DP) {
            int p1 = Math.min(r1, p0 + DP);
            for (int k0 = 0; k0 < nCols; k0 += DK) {
                int len = Math.min(DK, nCols - k0);
                for (int r = p0; r < p1; r++) {
                    dequantize(type, panel[r - p0], w, r * rowBytes + (long) (k0 / bs) * blockBytes, len);
                }
                boolean first = k0 == 0;
                for (int t0 = p0; t0 < p1; t0 += DR) {
                    float[] w0 = panel[t0 - p0], w1 = panel[t0 - p0 + 1], w2 = panel[t0 - p0 + 2], w3 = panel[t0 - p0 + 3];
                    int po = (t0 - p0) / DR * groups * DR * DC * L;
                    int c = 0;
                    for (; c + DC <= batch; c += DC, po += DR * DC * L) {
                        tile4x2(w0, w1, w2, w3, x[c], x[c + 1], k0, len, part, po, first);
                    }
                    if (c < batch) tile4x1(w0, w1, w2, w3, x[c], k0, len, part, po, first);
                }
            }
            for (int t0 = p0; t0 < p1; t0 += DR) {
                int po = (t0 - p0) / DR * groups * DR * DC * L;
                for (int c = 0; c < batch; c += DC, po += DR * DC * L) {
                    for (int j = 0; j < Math.min(DC, batch - c); j++) {
                        for (int i = 0; i < Math.min(DR, p1 - t0); i++) {
                            float v = FloatVector.fromArray(F, part, po + (i * DC + j) * L).reduceLanes(VectorOperators.ADD);
                            y.set(JavaQuants.F32, ((long) (c + j) * nRows + t0 + i) * Float.BYTES, v);
                        }
                    }
                }
            }
        }
    }

    /** The partial sums of slot s (row i, column j: i * DC + j) of the tile at po: zero on the first K chunk. */
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
        dequantize(type, dst, 0, null, w, o, n);
    }

    /** dequantize into dst[d0, d0 + n); tmp: room for n floats, for the types without a vector dequantizer. */
    static void dequantize(GgmlType type, float[] dst, int d0, float[] tmp, MemorySegment w, long o, int n) {
        if (BF != null && type == GgmlType.Q8_0) {
            for (int b = 0; b < n / JavaQuants.QK; b++) {
                long bo = o + 34L * b;
                float d = JavaQuants.fromHalf(w.get(JavaQuants.I16, bo));
                for (int j = 0; j < JavaQuants.QK; j += L) {
                    ((FloatVector) ByteVector.fromMemorySegment(BF, w, bo + 2 + j, LE).convertShape(VectorOperators.B2F, F, 0))
                            .mul(d).intoArray(dst, d0 + b * JavaQuants.QK + j);
                }
            }
        } else if (B16 != null && type == GgmlType.Q4_0) {
            dequantQ4_0(dst, d0, w, o, n / JavaQuants.QK);
        } else if (BF != null && type == GgmlType.Q4_0) {
            for (int b = 0; b < n / JavaQuants.QK; b++) {
                long bo = o + 18L * b;
                float d = JavaQuants.fromHalf(w.get(JavaQuants.I16, bo));
                for (int j = 0; j < 16; j += L) {
                    ByteVector q = ByteVector.fromMemorySegment(BF, w, bo + 2 + j, LE);
                    ((FloatVector) q.and((byte) 0xf).sub((byte) 8).convertShape(VectorOperators.B2F, F, 0))
                            .mul(d).intoArray(dst, d0 + b * JavaQuants.QK + j);
                    ((FloatVector) q.lanewise(VectorOperators.LSHR, 4).and((byte) 0xf).sub((byte) 8)
                            .convertShape(VectorOperators.B2F, F, 0)).mul(d).intoArray(dst, d0 + b * JavaQuants.QK + 16 + j);
                }
            }
        } else if (BF != null && type == GgmlType.Q4_K) {
            for (int b = 0; b < n / JavaQuants.QK_K; b++) dequantQ4K(dst, d0 + b * JavaQuants.QK_K, w, o + 144L * b);
        } else if (BF != null && type == GgmlType.Q6_K) {
            for (int b = 0; b < n / JavaQuants.QK_K; b++) dequantQ6K(dst, d0 + b * JavaQuants.QK_K, w, o + 210L * b);
        } else if (d0 == 0) {
            JavaQuants.dequantizeRow(type, dst, w, o, n);
        } else {
            JavaQuants.dequantizeRow(type, tmp, w, o, n);
            System.arraycopy(tmp, 0, dst, d0, n);
        }
    }

    /** 16 bytes, for L = 8 (AVX2): a Q4_0 block's nibbles in one load. */
    private static final VectorSpecies<Byte> B16 = L == 8 ? ByteVector.SPECIES_128 : null;

    /**
     * nb Q4_0 blocks from o into y at y0: d * (q - 8), low nibbles the block's first 16 elements, high the last 16;
     * one 16-byte load per block, the high nibbles by a 16-bit shift (the byte shift costs a widening and a pack).
     */
    private static void dequantQ4_0(float[] y, int y0, MemorySegment w, long o, int nb) {
        for (int b = 0; b < nb; b++) {
            long bo = o + 18L * b;
            FloatVector d = FloatVector.broadcast(F, JavaQuants.fromHalf(w.get(JavaQuants.I16, bo)));
            ByteVector q = ByteVector.fromMemorySegment(B16, w, bo + 2, LE);
            ByteVector lo = q.and((byte) 0xf).sub((byte) 8);
            ByteVector hi = q.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0xf).sub((byte) 8);
            int yo = y0 + b * JavaQuants.QK;
            ((FloatVector) lo.convertShape(VectorOperators.B2F, F, 0)).mul(d).intoArray(y, yo);
            ((FloatVector) lo.convertShape(VectorOperators.B2F, F, 1)).mul(d).intoArray(y, yo + 8);
            ((FloatVector) hi.convertShape(VectorOperators.B2F, F, 0)).mul(d).intoArray(y, yo + 16);
            ((FloatVector) hi.convertShape(VectorOperators.B2F, F, 1)).mul(d).intoArray(y, yo + 24);
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
