package dev.panamax.kernels;

import static dev.panamax.kernels.JavaQuants.F32;
import static dev.panamax.kernels.JavaQuants.I16;
import static dev.panamax.kernels.JavaQuants.QK;
import static dev.panamax.kernels.JavaQuants.QK_K;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import dev.panamax.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link Kernels} on the Java Vector API at the platform's preferred width, scalar code for the tails.
 * Quantized matmuls follow {@link ScalarKernels}' int8 route: int8 x int8 products widen to 16 bits (a pair
 * of products still fits), then to 32-bit lanes; per-block scales apply in float. Loading this class fails
 * when the JVM runs without {@code --add-modules jdk.incubator.vector}; {@link KernelsProvider} then falls
 * back to {@link ScalarKernels}.
 */
public final class VectorKernels extends ScalarKernels {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** int8 lanes: half the float width (capped at 128 bits), so they widen to 16 bits in one register. */
    private static final VectorSpecies<Byte> B;
    private static final VectorSpecies<Short> S;
    private static final VectorSpecies<Integer> I;
    /** 16-bit halves for F16/BF16 rows: as many lanes as F, widened to 32 bits. */
    private static final VectorSpecies<Short> H;
    private static final VectorSpecies<Integer> FI;

    static {
        int bits = Math.min(F.vectorBitSize(), 256);
        B = ByteVector.SPECIES_PREFERRED.withShape(VectorShape.forBitSize(bits / 2));
        S = ShortVector.SPECIES_PREFERRED.withShape(VectorShape.forBitSize(bits));
        I = IntVector.SPECIES_PREFERRED.withShape(VectorShape.forBitSize(bits));
        H = ShortVector.SPECIES_PREFERRED.withShape(VectorShape.forBitSize(F.vectorBitSize() / 2));
        FI = IntVector.SPECIES_PREFERRED.withShape(F.vectorShape());
    }

    private static final int BL = B.length();

    @Override
    public String name() {
        return "java/vector" + F.vectorBitSize();
    }

    // ---- matmul ----

    /** One thread. */
    public VectorKernels() {
        this(1);
    }

    /** @param threads threads per operation (the caller's included); <= 0 means one per CPU */
    public VectorKernels(int threads) {
        super(threads);
    }

    /** Batch rows per pass over a tile of weight rows (the tile stays in L1 while their activations stream). */
    private static final int BATCH_GROUP = 16;

    /** Smallest batch the tiled GEMM ({@link VectorGemm}) takes; smaller batches run the per-row dot products. */
    static final int GEMM_MIN_BATCH = 2;

    private static boolean gemm(GgmlType type, int nCols, int batch) {
        return batch >= GEMM_MIN_BATCH && VectorGemm.takes(type, nCols);
    }

    @Override
    boolean dequantizedActs(GgmlType type, int nCols, int batch) {
        return gemm(type, nCols, batch);
    }

    /** The activations of the last GEMM in {@link VectorGemm#pack}'s layout, grown on demand and kept. */
    private float[] packed = new float[0];

    @Override
    void actsLoaded(GgmlType type, Act[] acts, int batch, int nCols, boolean shared) {
        if (batch < VectorGemm.OUTER_MIN_BATCH) return; // the dot-product tiles read the rows as they are
        int groups = VectorGemm.groups(batch);
        if (packed.length < (long) groups * nCols * VectorGemm.NR) packed = new float[groups * nCols * VectorGemm.NR];
        float[] xp = packed;
        if (shared) {
            pool.forRange(groups, 1, (g0, g1) -> VectorGemm.pack(type, acts, batch, nCols, xp, g0, g1));
        } else {
            VectorGemm.pack(type, acts, batch, nCols, xp, 0, groups);
        }
    }

    @Override
    void rows(GgmlType type, MemorySegment w, long rowBytes, int nRows, int nCols, Act[] acts, int batch, int r0, int r1,
              MemorySegment y) {
        if (gemm(type, nCols, batch)) {
            if (batch >= VectorGemm.OUTER_MIN_BATCH) {
                VectorGemm.rows(type, w, rowBytes, nRows, nCols, packed, batch, r0, r1, y);
            } else {
                VectorGemm.rowsDot(type, w, rowBytes, nRows, nCols, acts, batch, r0, r1, y);
            }
            return;
        }
        for (int b0 = 0; b0 < batch; b0 += BATCH_GROUP) {
            int b1 = Math.min(batch, b0 + BATCH_GROUP);
            for (int r = r0; r < r1; ) {
                int tile = r + ROW_ALIGN <= r1 ? ROW_ALIGN : 1; // 4-row tiles from a 4-aligned r0, single tail rows
                long wo = r * rowBytes;
                for (int b = b0; b < b1; b++) {
                    Act a = acts[b];
                    long yo = ((long) b * nRows + r) * Float.BYTES;
                    if (tile == 1) {
                        y.set(F32, yo, dot1(type, w, wo, a, nCols));
                    } else {
                        dot4(type, w, wo, rowBytes, a, nCols, y, yo);
                    }
                }
                r += tile;
            }
        }
    }

    /** One row. */
    private static float dot1(GgmlType type, MemorySegment w, long wo, Act a, int nCols) {
        return switch (type) {
            case F32 -> dotF32(w, wo, a.x, nCols);
            case F16 -> dotHalf(w, wo, a.x, nCols, false);
            case BF16 -> dotHalf(w, wo, a.x, nCols, true);
            case Q8_0 -> dotQ8_0(w, wo, a, nCols);
            case Q4_0 -> dotQ4_0(w, wo, a, nCols);
            case Q5_0 -> dotQ5_0(w, wo, a, nCols);
            case Q4_K -> dotQ4K(w, wo, a, nCols);
            case Q6_K -> dotQ6K(w, wo, a, nCols);
            case Q4_1 -> dotQx1(w, wo, a, nCols, false);
            case Q5_1 -> dotQx1(w, wo, a, nCols, true);
            case IQ4_NL -> dotIq4Nl(w, wo, a, nCols);
            case Q2_K -> dotQ2K(w, wo, a, nCols);
            case Q3_K -> dotQ3K(w, wo, a, nCols);
            case Q5_K -> dotQ5K(w, wo, a, nCols);
            case IQ4_XS -> dotIq4Xs(w, wo, a, nCols);
        };
    }

    /** Four rows at wo, wo + rb, ... into y at yo, yo + 4, ... */
    private static void dot4(GgmlType type, MemorySegment w, long wo, long rb, Act a, int nCols, MemorySegment y, long yo) {
        switch (type) {
            case F32 -> dotF32x4(w, wo, rb, a.x, nCols, y, yo);
            case F16, BF16 -> {
                boolean bf = type == GgmlType.BF16;
                dotHalfx2(w, wo, rb, a.x, nCols, bf, y, yo);
                dotHalfx2(w, wo + 2 * rb, rb, a.x, nCols, bf, y, yo + 8);
            }
            default -> { // quantized: one row at a time measured faster than 4-row tiles sharing the activation loads,
                // which C2 stops inlining (NodeCountInliningCutoff) and then runs with boxed vectors
                for (int i = 0; i < 4; i++) y.set(F32, yo + 4L * i, dot1(type, w, wo + i * rb, a, nCols));
            }
        }
    }

    private static float dotF32(MemorySegment w, long wo, float[] x, int n) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0, bound = F.loopBound(n);
        for (; i < bound; i += F.length()) {
            acc = FloatVector.fromMemorySegment(F, w, wo + 4L * i, LE).fma(FloatVector.fromArray(F, x, i), acc);
        }
        float s = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) s += w.get(F32, wo + 4L * i) * x[i];
        return s;
    }

    /** Four rows sharing each load of x. */
    private static void dotF32x4(MemorySegment w, long wo, long rb, float[] x, int n, MemorySegment y, long yo) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int i = 0, bound = F.loopBound(n);
        for (; i < bound; i += F.length()) {
            FloatVector xv = FloatVector.fromArray(F, x, i);
            long o = wo + 4L * i;
            a0 = FloatVector.fromMemorySegment(F, w, o, LE).fma(xv, a0);
            a1 = FloatVector.fromMemorySegment(F, w, o + rb, LE).fma(xv, a1);
            a2 = FloatVector.fromMemorySegment(F, w, o + 2 * rb, LE).fma(xv, a2);
            a3 = FloatVector.fromMemorySegment(F, w, o + 3 * rb, LE).fma(xv, a3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD), s1 = a1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD), s3 = a3.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            long o = wo + 4L * i;
            s0 += w.get(F32, o) * x[i];
            s1 += w.get(F32, o + rb) * x[i];
            s2 += w.get(F32, o + 2 * rb) * x[i];
            s3 += w.get(F32, o + 3 * rb) * x[i];
        }
        y.set(F32, yo, s0);
        y.set(F32, yo + 4, s1);
        y.set(F32, yo + 8, s2);
        y.set(F32, yo + 12, s3);
    }

    /**
     * F.length() halves at o as floats. binary16: the magnitude bits shifted into float position and scaled by
     * 2^112 is exact for normals and subnormals; exponent 31 (inf, NaN) maps to float exponent 255.
     */
    private static FloatVector halves(MemorySegment w, long o, boolean bf16) {
        IntVector v = (IntVector) ShortVector.fromMemorySegment(H, w, o, LE).convertShape(VectorOperators.S2I, FI, 0);
        if (bf16) return v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
        IntVector mag = v.and(0x7fff);
        IntVector bits = mag.lanewise(VectorOperators.LSHL, 13);
        FloatVector f = bits.reinterpretAsFloats().mul(0x1p112f);
        IntVector fb = f.reinterpretAsInts();
        fb = fb.blend(bits.or(0x7f800000), mag.compare(VectorOperators.GE, 0x7c00));
        return fb.or(v.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
    }

    private static float halfAt(MemorySegment w, long o, boolean bf16) {
        short h = w.get(I16, o);
        return bf16 ? JavaQuants.fromBf16(h) : JavaQuants.fromHalf(h);
    }

    private static float dotHalf(MemorySegment w, long wo, float[] x, int n, boolean bf16) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0, bound = F.loopBound(n);
        for (; i < bound; i += F.length()) acc = halves(w, wo + 2L * i, bf16).fma(FloatVector.fromArray(F, x, i), acc);
        float s = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) s += halfAt(w, wo + 2L * i, bf16) * x[i];
        return s;
    }

    private static void dotHalfx2(MemorySegment w, long wo, long rb, float[] x, int n, boolean bf16, MemorySegment y, long yo) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        int i = 0, bound = F.loopBound(n);
        for (; i < bound; i += F.length()) {
            FloatVector xv = FloatVector.fromArray(F, x, i);
            a0 = halves(w, wo + 2L * i, bf16).fma(xv, a0);
            a1 = halves(w, wo + rb + 2L * i, bf16).fma(xv, a1);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD), s1 = a1.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            s0 += halfAt(w, wo + 2L * i, bf16) * x[i];
            s1 += halfAt(w, wo + rb + 2L * i, bf16) * x[i];
        }
        y.set(F32, yo, s0);
        y.set(F32, yo + 4, s1);
    }

    /** Adds both 16-bit halves of a product vector into 32-bit lanes. */
    private static IntVector widenAdd(IntVector acc, ShortVector p) {
        return acc.add(pairSum(p));
    }

    private static ShortVector wide(ByteVector b) {
        return (ShortVector) b.convertShape(VectorOperators.B2S, S, 0);
    }

    /**
     * Sum of the 16-bit lanes of p pairwise into 32-bit lanes: each int lane of the reinterpreted vector holds
     * two shorts, sign-extended by shifts (no cross-lane shuffle, unlike a widening conversion).
     */
    private static IntVector pairSum(ShortVector p) {
        IntVector v = p.reinterpretAsInts();
        return v.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).add(v.lanewise(VectorOperators.ASHR, 16));
    }

    /** 16-bit lanes per int8 chunk (16 on AVX2 and AVX-512, 8 on 128-bit NEON). */
    private static final int SL = S.length();
    private static final VectorSpecies<Float> FS = F.withShape(I.vectorShape());

    private static ShortVector zwide(ByteVector b) {
        return (ShortVector) b.convertShape(VectorOperators.ZERO_EXTEND_B2S, S, 0);
    }

    /** acc + d * lanes of s as floats: one block's integer dot product scaled into the float accumulator. */
    private static FloatVector scaled(IntVector s, float d, FloatVector acc) {
        return ((FloatVector) s.convert(VectorOperators.I2F, 0)).fma(FloatVector.broadcast(FS, d), acc);
    }

    /**
     * Two chunks of int8 weights at o, o + SL times the 16-bit activations x0, x1, summed per 16-bit lane: two
     * products of |q| <= 127 each still fit (ggml's Q8_0 quants are within +-127).
     */
    private static ShortVector q8Pair(MemorySegment w, long o, ShortVector x0, ShortVector x1) {
        return wide(ByteVector.fromMemorySegment(B, w, o, LE)).mul(x0)
                .add(wide(ByteVector.fromMemorySegment(B, w, o + SL, LE)).mul(x1));
    }

    private static float dotQ8_0(MemorySegment w, long wo, Act a, int n) {
        FloatVector acc = FloatVector.zero(FS);
        for (int b = 0; b < n / QK; b++) {
            long o = wo + 34L * b;
            int xo = b * QK;
            // the first pair of chunks starts the sum (adding it to a zero vector costs two instructions per block
            // in C2's code); 16-lane shorts need no more
            IntVector sum = pairSum(q8Pair(w, o + 2, ShortVector.fromArray(S, a.xs, xo), ShortVector.fromArray(S, a.xs, xo + SL)));
            for (int c = 2 * SL; c < QK; c += 2 * SL) {
                sum = sum.add(pairSum(q8Pair(w, o + 2 + c, ShortVector.fromArray(S, a.xs, xo + c),
                        ShortVector.fromArray(S, a.xs, xo + c + SL))));
            }
            acc = scaled(sum, JavaQuants.fromHalf(w.get(I16, o)) * a.d[b], acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    /**
     * SL packed Q4_0 bytes at o: low nibbles (elements c..) times xl plus high nibbles (elements 16 + c..) times xh,
     * per 16-bit lane, the nibbles split after a zero extension (AVX2 has no byte shifts) and less 8.
     */
    private static ShortVector q4Pair(MemorySegment w, long o, ShortVector xl, ShortVector xh) {
        ShortVector packed = zwide(ByteVector.fromMemorySegment(B, w, o, LE));
        return packed.and((short) 0xf).sub((short) 8).mul(xl)
                .add(packed.lanewise(VectorOperators.LSHR, 4).sub((short) 8).mul(xh));
    }

    private static float dotQ4_0(MemorySegment w, long wo, Act a, int n) {
        FloatVector acc = FloatVector.zero(FS);
        for (int b = 0; b < n / QK; b++) {
            long o = wo + 18L * b;
            int xo = b * QK;
            // the first chunk starts the sum, as in dotQ8_0; 16-lane shorts need no more
            IntVector sum = pairSum(q4Pair(w, o + 2, ShortVector.fromArray(S, a.xs, xo), ShortVector.fromArray(S, a.xs, xo + 16)));
            for (int c = SL; c < 16; c += SL) {
                sum = sum.add(pairSum(q4Pair(w, o + 2 + c, ShortVector.fromArray(S, a.xs, xo + c),
                        ShortVector.fromArray(S, a.xs, xo + 16 + c))));
            }
            acc = scaled(sum, JavaQuants.fromHalf(w.get(I16, o)) * a.d[b], acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    /** Lane k: 1 << k, the qh bit of the k-th element of a chunk. */
    private static final ShortVector LANE_BIT;

    static {
        short[] bits = new short[S.length()];
        for (int k = 0; k < bits.length; k++) bits[k] = (short) (1 << k);
        LANE_BIT = ShortVector.fromArray(S, bits, 0);
    }

    /** As Q4_0, the 5th bits from qh by a lane mask and compare (no per-lane shifts: AVX2 has none for 16 bits). */
    private static float dotQ5_0(MemorySegment w, long wo, Act a, int n) {
        FloatVector acc = FloatVector.zero(F.withShape(I.vectorShape()));
        VectorSpecies<Float> FS = acc.species();
        for (int b = 0; b < n / QK; b++) {
            long o = wo + 22L * b;
            int xo = b * QK;
            int qh = w.get(JavaQuants.I32, o + 2);
            IntVector sum = IntVector.zero(I);
            for (int c = 0; c < 16; c += BL) {
                ShortVector packed = wide(ByteVector.fromMemorySegment(B, w, o + 6 + c, LE)).and((short) 0xff);
                // q - 16: the nibble, less 16 where the 5th bit is clear
                VectorMask<Short> clearLo = ShortVector.broadcast(S, (short) (qh >>> c)).and(LANE_BIT).compare(VectorOperators.EQ, 0);
                VectorMask<Short> clearHi = ShortVector.broadcast(S, (short) (qh >>> (16 + c))).and(LANE_BIT).compare(VectorOperators.EQ, 0);
                ShortVector lo = packed.and((short) 0xf).sub((short) 16, clearLo);
                ShortVector hi = packed.lanewise(VectorOperators.LSHR, 4).sub((short) 16, clearHi);
                ShortVector p = lo.mul(wide(ByteVector.fromArray(B, a.qs, xo + c)))
                        .add(hi.mul(wide(ByteVector.fromArray(B, a.qs, xo + 16 + c))));
                sum = widenAdd(sum, p);
            }
            float d = JavaQuants.fromHalf(w.get(I16, o)) * a.d[b];
            acc = ((FloatVector) sum.convert(VectorOperators.I2F, 0)).fma(FloatVector.broadcast(FS, d), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    // The K-quant kernels below are written flat, without helper methods: C2 inlines the Vector API only so deep
    // (MaxInlineLevel) and so many nodes (NodeCountInliningCutoff); past either, vectors are boxed and the kernel
    // runs several times slower.

    private static float dotQ4K(MemorySegment w, long wo, Act a, int n) {
        FloatVector acc = FloatVector.zero(FS);
        float mins = 0;
        for (int b = 0; b < n / QK_K; b++) {
            long o = wo + 144L * b;
            // the 12 scale bytes in two reads; the eight 6-bit scales and mins unpacked four to an int (ggml's
            // packing, as JavaQuants.scaleMinK4: bytes 0..3 scales 0..3, 4..7 mins 0..3, 8..11 the low nibbles of
            // scales and mins 4..7, whose top 2 bits are the top 2 bits of bytes 0..7): no per-sub-block branches
            long s8 = w.get(I64, o + 4);
            int s4 = w.get(JavaQuants.I32, o + 12);
            int lo = (int) s8, hi = (int) (s8 >>> 32);
            int sc03 = lo & 0x3f3f3f3f, m03 = hi & 0x3f3f3f3f;
            int sc47 = (s4 & 0x0f0f0f0f) | ((lo >>> 2) & 0x30303030);
            int m47 = ((s4 >>> 4) & 0x0f0f0f0f) | ((hi >>> 2) & 0x30303030);
            IntVector sum = IntVector.zero(I);
            int summ = 0;
            for (int j = 0; j < 8; j += 2) {
                int scs = j < 4 ? sc03 : sc47, ms = j < 4 ? m03 : m47, sh = 8 * (j & 3);
                long q = o + 16 + 16L * j;
                int xo = b * QK_K + 32 * j;
                // sub-blocks j (low nibbles) and j + 1 (high nibbles) of these 32 bytes; per 16-bit lane 32 / SL
                // products of a nibble (<= 15) and |x| <= 127, at most 4 x 1905: fits
                ShortVector pl = ShortVector.zero(S), ph = pl;
                for (int c = 0; c < 32; c += 2 * SL) { // one pass at 16 lanes (AVX2, AVX-512), two at 8 (NEON)
                    ShortVector p0 = (ShortVector) ByteVector.fromMemorySegment(B, w, q + c, LE)
                            .convertShape(VectorOperators.ZERO_EXTEND_B2S, S, 0);
                    ShortVector p1 = (ShortVector) ByteVector.fromMemorySegment(B, w, q + c + SL, LE)
                            .convertShape(VectorOperators.ZERO_EXTEND_B2S, S, 0);
                    pl = pl.add(p0.and((short) 0xf).mul(ShortVector.fromArray(S, a.xs, xo + c)))
                            .add(p1.and((short) 0xf).mul(ShortVector.fromArray(S, a.xs, xo + c + SL)));
                    ph = ph.add(p0.lanewise(VectorOperators.LSHR, 4).mul(ShortVector.fromArray(S, a.xs, xo + 32 + c)))
                            .add(p1.lanewise(VectorOperators.LSHR, 4).mul(ShortVector.fromArray(S, a.xs, xo + 32 + c + SL)));
                }
                IntVector vl = pl.reinterpretAsInts(), vh = ph.reinterpretAsInts();
                IntVector il = vl.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).add(vl.lanewise(VectorOperators.ASHR, 16));
                IntVector ih = vh.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).add(vh.lanewise(VectorOperators.ASHR, 16));
                sum = sum.add(il.mul((scs >>> sh) & 0xff)).add(ih.mul((scs >>> (sh + 8)) & 0xff));
                int bs = b * 16 + 2 * j;
                summ += ((ms >>> sh) & 0xff) * (a.bsums[bs] + a.bsums[bs + 1])
                        + ((ms >>> (sh + 8)) & 0xff) * (a.bsums[bs + 2] + a.bsums[bs + 3]);
            }
            // the scaled sums stay in lanes (one convert + FMA per 256 weights, no lane reduction per block)
            acc = ((FloatVector) sum.convert(VectorOperators.I2F, 0))
                    .fma(FloatVector.broadcast(FS, JavaQuants.fromHalf(w.get(I16, o)) * a.d[b]), acc);
            mins += JavaQuants.fromHalf(w.get(I16, o + 2)) * a.d[b] * summ;
        }
        return acc.reduceLanes(VectorOperators.ADD) - mins;
    }

    private static final java.lang.foreign.ValueLayout.OfLong I64 =
            java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED.withOrder(LE);

    private static float dotQ6K(MemorySegment w, long wo, Act a, int n) {
        FloatVector acc = FloatVector.zero(FS);
        short[] xs = a.xs;
        for (int b = 0; b < n / QK_K; b++) {
            long o = wo + 210L * b;
            IntVector sum = IntVector.zero(I);
            for (int half = 0; half < 2; half++) {
                long ql = o + 64L * half, qh = o + 128 + 32L * half;
                long sc = o + 192 + 8L * half;
                int xo = b * QK_K + 128 * half;
                for (int l = 0; l < 32; l += SL) {
                    // bit fiddling in 16-bit lanes: AVX2 has no byte shifts
                    ShortVector l0 = (ShortVector) ByteVector.fromMemorySegment(B, w, ql + l, LE).convertShape(VectorOperators.ZERO_EXTEND_B2S, S, 0);
                    ShortVector l1 = (ShortVector) ByteVector.fromMemorySegment(B, w, ql + 32 + l, LE).convertShape(VectorOperators.ZERO_EXTEND_B2S, S, 0);
                    ShortVector h = (ShortVector) ByteVector.fromMemorySegment(B, w, qh + l, LE).convertShape(VectorOperators.ZERO_EXTEND_B2S, S, 0);
                    // (q - 32) . x per lane, |p| <= 32 * 127, each of the four in its own 16-wide scale group
                    IntVector p1 = l0.and((short) 0xf).or(h.and((short) 3).lanewise(VectorOperators.LSHL, 4)).sub((short) 32)
                            .mul(ShortVector.fromArray(S, xs, xo + l)).reinterpretAsInts();
                    IntVector p2 = l1.and((short) 0xf).or(h.and((short) 0xc).lanewise(VectorOperators.LSHL, 2)).sub((short) 32)
                            .mul(ShortVector.fromArray(S, xs, xo + 32 + l)).reinterpretAsInts();
                    IntVector p3 = l0.lanewise(VectorOperators.LSHR, 4).or(h.and((short) 0x30)).sub((short) 32)
                            .mul(ShortVector.fromArray(S, xs, xo + 64 + l)).reinterpretAsInts();
                    IntVector p4 = l1.lanewise(VectorOperators.LSHR, 4).or(h.lanewise(VectorOperators.LSHR, 2).and((short) 0x30)).sub((short) 32)
                            .mul(ShortVector.fromArray(S, xs, xo + 96 + l)).reinterpretAsInts();
                    long g = sc + l / 16; // a chunk of SL <= 16 never straddles two 16-wide scale groups
                    sum = sum.add(p1.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).add(p1.lanewise(VectorOperators.ASHR, 16)).mul(w.get(JAVA_BYTE, g)))
                            .add(p2.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).add(p2.lanewise(VectorOperators.ASHR, 16)).mul(w.get(JAVA_BYTE, g + 2)))
                            .add(p3.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).add(p3.lanewise(VectorOperators.ASHR, 16)).mul(w.get(JAVA_BYTE, g + 4)))
                            .add(p4.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).add(p4.lanewise(VectorOperators.ASHR, 16)).mul(w.get(JAVA_BYTE, g + 6)));
                }
            }
            // one convert + FMA per 256 weights, the lanes reduced once per row
            acc = ((FloatVector) sum.convert(VectorOperators.I2F, 0))
                    .fma(FloatVector.broadcast(FS, JavaQuants.fromHalf(w.get(I16, o + 208)) * a.d[b]), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    // ---- the types beyond the first seven: Q4_1, Q5_1 and IQ4_NL against Q8_0 activations, Q2_K, Q3_K, Q5_K and
    // IQ4_XS against Q8_K. The same int8 route: 16-bit products, summed pairwise into 32-bit lanes (pairSum) before a
    // sum could pass 2^15, scales applied in int (sub-blocks) or float (blocks). ----

    /**
     * Q4_1 (five false) and Q5_1: per block d * dx * (q . x) + m * dx * sum(x). Quants 0..31 against |x| <= 127: four
     * products per 16-bit lane stay below 2^15 (two passes of two at 8 lanes); Q5_1's 5th bits by lane masks as Q5_0's.
     */
    private static float dotQx1(MemorySegment w, long wo, Act a, int n, boolean five) {
        int bb = five ? 24 : 20, qsAt = five ? 8 : 4;
        FloatVector acc = FloatVector.zero(FS);
        for (int b = 0; b < n / QK; b++) {
            long o = wo + (long) bb * b;
            int xo = b * QK;
            int qh = five ? w.get(JavaQuants.I32, o + 4) : 0;
            ShortVector p = ShortVector.zero(S), xsum = p;
            for (int c = 0; c < 16; c += SL) {
                ShortVector packed = zwide(ByteVector.fromMemorySegment(B, w, o + qsAt + c, LE));
                ShortVector lo = packed.and((short) 0xf), hi = packed.lanewise(VectorOperators.LSHR, 4);
                if (five) {
                    lo = lo.add((short) 16, ShortVector.broadcast(S, (short) (qh >>> c)).and(LANE_BIT).compare(VectorOperators.NE, 0));
                    hi = hi.add((short) 16, ShortVector.broadcast(S, (short) (qh >>> (16 + c))).and(LANE_BIT).compare(VectorOperators.NE, 0));
                }
                ShortVector x0 = ShortVector.fromArray(S, a.xs, xo + c), x1 = ShortVector.fromArray(S, a.xs, xo + 16 + c);
                p = p.add(lo.mul(x0)).add(hi.mul(x1));
                xsum = xsum.add(x0).add(x1);
            }
            float dx = a.d[b];
            acc = scaled(pairSum(p), JavaQuants.fromHalf(w.get(I16, o)) * dx, acc);
            acc = scaled(pairSum(xsum), JavaQuants.fromHalf(w.get(I16, o + 2)) * dx, acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    /** The 16 IQ4 levels, the table of a byte lookup (16 lanes whatever the platform's width). */
    private static final VectorSpecies<Byte> B16 = ByteVector.SPECIES_128;
    private static final ByteVector IQ4_LEVELS = ByteVector.fromArray(B16, LowBitQuants.KVALUES_IQ4NL, 0);

    /**
     * IQ4_NL: the nibbles of a block (16 bytes at o + 2) index the levels; |level| <= 127, so each product vector is
     * summed pairwise on its own. 16 levels widen to one 16-lane short vector, or two at 8 lanes (NEON).
     */
    private static float dotIq4Nl(MemorySegment w, long wo, Act a, int n) {
        FloatVector acc = FloatVector.zero(FS);
        for (int b = 0; b < n / QK; b++) {
            long o = wo + 18L * b;
            int xo = b * QK;
            ByteVector q = ByteVector.fromMemorySegment(B16, w, o + 2, LE);
            ByteVector lo = q.and((byte) 0xf).selectFrom(IQ4_LEVELS);
            ByteVector hi = q.lanewise(VectorOperators.LSHR, 4).and((byte) 0xf).selectFrom(IQ4_LEVELS);
            IntVector sum = IntVector.zero(I);
            for (int c = 0; c < 16; c += SL) {
                ShortVector l = (ShortVector) lo.convertShape(VectorOperators.B2S, S, c / SL);
                ShortVector h = (ShortVector) hi.convertShape(VectorOperators.B2S, S, c / SL);
                sum = sum.add(pairSum(l.mul(ShortVector.fromArray(S, a.xs, xo + c))))
                        .add(pairSum(h.mul(ShortVector.fromArray(S, a.xs, xo + 16 + c))));
            }
            acc = scaled(sum, JavaQuants.fromHalf(w.get(I16, o)) * a.d[b], acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    /** IQ4_XS: IQ4_NL's decode per sub-block of 32 (16 bytes at o + 8 + 16 ib), its sum times the 6-bit scale - 32. */
    private static float dotIq4Xs(MemorySegment w, long wo, Act a, int n) {
        FloatVector acc = FloatVector.zero(FS);
        for (int b = 0; b < n / QK_K; b++) {
            long o = wo + 136L * b;
            int sh = w.get(I16, o + 2) & 0xffff, sl = w.get(JavaQuants.I32, o + 4);
            IntVector sum = IntVector.zero(I);
            for (int ib = 0; ib < 8; ib++) {
                int xo = b * QK_K + 32 * ib;
                ByteVector q = ByteVector.fromMemorySegment(B16, w, o + 8 + 16L * ib, LE);
                ByteVector lo = q.and((byte) 0xf).selectFrom(IQ4_LEVELS);
                ByteVector hi = q.lanewise(VectorOperators.LSHR, 4).and((byte) 0xf).selectFrom(IQ4_LEVELS);
                IntVector s = IntVector.zero(I);
                for (int c = 0; c < 16; c += SL) {
                    ShortVector l = (ShortVector) lo.convertShape(VectorOperators.B2S, S, c / SL);
                    ShortVector h = (ShortVector) hi.convertShape(VectorOperators.B2S, S, c / SL);
                    s = s.add(pairSum(l.mul(ShortVector.fromArray(S, a.xs, xo + c))))
                            .add(pairSum(h.mul(ShortVector.fromArray(S, a.xs, xo + 16 + c))));
                }
                int ls = ((sl >>> (4 * ib)) & 0xf) | (((sh >>> (2 * ib)) & 3) << 4); // LowBitQuants.iq4xsScale
                sum = sum.add(s.mul(ls - 32));
            }
            acc = scaled(sum, JavaQuants.fromHalf(w.get(I16, o)) * a.d[b], acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    /**
     * Q2_K: per 128 elements h and plane k, bits 2k of qs[32h ..] (at o + 16) are elements 128h + 32k .. + 31, sub-blocks
     * 8h + 2k (the first 16) and 8h + 2k + 1. The 4-bit scale multiplies the 16-bit products (3 * 127 * 15 = 5715,
     * at most four to a lane); the mins come off through the activation block sums.
     */
    private static float dotQ2K(MemorySegment w, long wo, Act a, int n) {
        FloatVector acc = FloatVector.zero(FS);
        float mins = 0;
        for (int b = 0; b < n / QK_K; b++) {
            long o = wo + 84L * b;
            IntVector sum = IntVector.zero(I);
            for (int h = 0; h < 2; h++) {
                for (int k = 0; k < 4; k++) {
                    int xo = b * QK_K + 128 * h + 32 * k;
                    ShortVector p = ShortVector.zero(S);
                    for (int c = 0; c < 32; c += SL) {
                        ShortVector q = zwide(ByteVector.fromMemorySegment(B, w, o + 16 + 32L * h + c, LE))
                                .lanewise(VectorOperators.LSHR, 2 * k).and((short) 3);
                        short sc = (short) (w.get(JAVA_BYTE, o + 8 * h + 2 * k + c / 16) & 0xf);
                        p = p.add(q.mul(ShortVector.fromArray(S, a.xs, xo + c)).mul(sc));
                    }
                    sum = sum.add(pairSum(p));
                }
            }
            int summ = 0;
            for (int j = 0; j < 16; j++) summ += ((w.get(JAVA_BYTE, o + j) & 0xff) >>> 4) * a.bsums[b * 16 + j];
            float dx = a.d[b];
            acc = scaled(sum, JavaQuants.fromHalf(w.get(I16, o + 80)) * dx, acc);
            mins += JavaQuants.fromHalf(w.get(I16, o + 82)) * dx * summ;
        }
        return acc.reduceLanes(VectorOperators.ADD) - mins;
    }

    /**
     * Q3_K: Q2_K's planes (qs at o + 32) with the third bit, bit 4h + k of hmask[0 .. 31] (at o), taken as q - 4; the
     * signed 6-bit scales multiply the 16-bit products (|sc * (q - 4) * x| <= 16256: one to a lane, summed pairwise). The 16
     * scales are unpacked four to an int (scale + 32 per byte, as pmx_q3_K_scales_unpack): no call in the loop, which
     * would cost C2's inlining of the vector code.
     */
    private static float dotQ3K(MemorySegment w, long wo, Act a, int n) {
        FloatVector acc = FloatVector.zero(FS);
        for (int b = 0; b < n / QK_K; b++) {
            long o = wo + 110L * b;
            int a0 = w.get(JavaQuants.I32, o + 96), a1 = w.get(JavaQuants.I32, o + 100), a2 = w.get(JavaQuants.I32, o + 104);
            int u0 = (a0 & 0x0f0f0f0f) | ((a2 & 0x03030303) << 4);
            int u1 = (a1 & 0x0f0f0f0f) | (((a2 >>> 2) & 0x03030303) << 4);
            int u2 = ((a0 >>> 4) & 0x0f0f0f0f) | (((a2 >>> 4) & 0x03030303) << 4);
            int u3 = ((a1 >>> 4) & 0x0f0f0f0f) | (((a2 >>> 6) & 0x03030303) << 4);
            IntVector sum = IntVector.zero(I);
            for (int h = 0; h < 2; h++) {
                for (int k = 0; k < 4; k++) {
                    int xo = b * QK_K + 128 * h + 32 * k;
                    for (int c = 0; c < 32; c += SL) {
                        ShortVector lo = zwide(ByteVector.fromMemorySegment(B, w, o + 32 + 32L * h + c, LE))
                                .lanewise(VectorOperators.LSHR, 2 * k).and((short) 3);
                        ShortVector hb = zwide(ByteVector.fromMemorySegment(B, w, o + c, LE))
                                .lanewise(VectorOperators.LSHR, 4 * h + k).and((short) 1).lanewise(VectorOperators.LSHL, 2);
                        int j = 8 * h + 2 * k + c / 16, u = j < 4 ? u0 : j < 8 ? u1 : j < 12 ? u2 : u3;
                        short sc = (short) (((u >>> (8 * (j & 3))) & 0xff) - 32);
                        sum = sum.add(pairSum(lo.or(hb).sub((short) 4).mul(sc).mul(ShortVector.fromArray(S, a.xs, xo + c))));
                    }
                }
            }
            acc = scaled(sum, JavaQuants.fromHalf(w.get(I16, o + 108)) * a.d[b], acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    /** Q5_K: dotQ4K's walk (quants at o + 48) with the 5th bits, bit j of qh[l] (at o + 16) for sub-block j. */
    private static float dotQ5K(MemorySegment w, long wo, Act a, int n) {
        FloatVector acc = FloatVector.zero(FS);
        float mins = 0;
        for (int b = 0; b < n / QK_K; b++) {
            long o = wo + 176L * b;
            long s8 = w.get(I64, o + 4);
            int s4 = w.get(JavaQuants.I32, o + 12);
            int lo = (int) s8, hi = (int) (s8 >>> 32);
            int sc03 = lo & 0x3f3f3f3f, m03 = hi & 0x3f3f3f3f;
            int sc47 = (s4 & 0x0f0f0f0f) | ((lo >>> 2) & 0x30303030);
            int m47 = ((s4 >>> 4) & 0x0f0f0f0f) | ((hi >>> 2) & 0x30303030);
            IntVector sum = IntVector.zero(I);
            int summ = 0;
            for (int j = 0; j < 8; j += 2) {
                int scs = j < 4 ? sc03 : sc47, ms = j < 4 ? m03 : m47, sh = 8 * (j & 3);
                long q = o + 48 + 16L * j;
                int xo = b * QK_K + 32 * j;
                // 5-bit quants (<= 31) against |x| <= 127: at most 4 products per 16-bit lane, 15748
                ShortVector pl = ShortVector.zero(S), ph = pl;
                for (int c = 0; c < 32; c += SL) {
                    ShortVector v = zwide(ByteVector.fromMemorySegment(B, w, q + c, LE));
                    ShortVector hb = zwide(ByteVector.fromMemorySegment(B, w, o + 16 + c, LE));
                    ShortVector l = v.and((short) 0xf).or(hb.lanewise(VectorOperators.LSHR, j).and((short) 1).lanewise(VectorOperators.LSHL, 4));
                    ShortVector u = v.lanewise(VectorOperators.LSHR, 4).or(hb.lanewise(VectorOperators.LSHR, j + 1).and((short) 1).lanewise(VectorOperators.LSHL, 4));
                    pl = pl.add(l.mul(ShortVector.fromArray(S, a.xs, xo + c)));
                    ph = ph.add(u.mul(ShortVector.fromArray(S, a.xs, xo + 32 + c)));
                }
                sum = sum.add(pairSum(pl).mul((scs >>> sh) & 0xff)).add(pairSum(ph).mul((scs >>> (sh + 8)) & 0xff));
                int bs = b * 16 + 2 * j;
                summ += ((ms >>> sh) & 0xff) * (a.bsums[bs] + a.bsums[bs + 1])
                        + ((ms >>> (sh + 8)) & 0xff) * (a.bsums[bs + 2] + a.bsums[bs + 3]);
            }
            acc = scaled(sum, JavaQuants.fromHalf(w.get(I16, o)) * a.d[b], acc);
            mins += JavaQuants.fromHalf(w.get(I16, o + 2)) * a.d[b] * summ;
        }
        return acc.reduceLanes(VectorOperators.ADD) - mins;
    }

    // ---- elementwise and row ops ----

    @Override
    public void rmsnorm(MemorySegment y, MemorySegment x, MemorySegment w, int n, int rows, float eps) {
        Checks.rmsnorm(y, x, w, n, rows, eps);
        int step = F.length();
        int bound = F.loopBound(n);
        for (int r = 0; r < rows; r++) {
            long base = (long) r * n * Float.BYTES;
            FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
            int i = 0;
            for (; i + 2 * step <= n; i += 2 * step) {
                FloatVector v0 = FloatVector.fromMemorySegment(F, x, base + (long) i * Float.BYTES, LE);
                FloatVector v1 = FloatVector.fromMemorySegment(F, x, base + (long) (i + step) * Float.BYTES, LE);
                acc0 = v0.fma(v0, acc0);
                acc1 = v1.fma(v1, acc1);
            }
            for (; i < bound; i += step) {
                FloatVector v = FloatVector.fromMemorySegment(F, x, base + (long) i * Float.BYTES, LE);
                acc0 = v.fma(v, acc0);
            }
            float ss = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
            for (; i < n; i++) {
                float v = x.get(F32, base + (long) i * Float.BYTES);
                ss += v * v;
            }
            float scale = (float) (1.0 / Math.sqrt(ss / n + eps));
            i = 0;
            for (; i < bound; i += step) {
                long off = base + (long) i * Float.BYTES;
                FloatVector v = FloatVector.fromMemorySegment(F, x, off, LE);
                FloatVector g = FloatVector.fromMemorySegment(F, w, (long) i * Float.BYTES, LE);
                v.mul(scale).mul(g).intoMemorySegment(y, off, LE);
            }
            for (; i < n; i++) {
                long off = base + (long) i * Float.BYTES;
                y.set(F32, off, x.get(F32, off) * scale * w.get(F32, (long) i * Float.BYTES));
            }
        }
    }

    @Override
    public void softmax(MemorySegment x, int n, int rows) {
        Checks.softmax(x, n, rows);
        int bound = F.loopBound(n);
        for (int r = 0; r < rows; r++) {
            long base = (long) r * n * Float.BYTES;
            FloatVector mv = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
            int i = 0;
            for (; i < bound; i += F.length()) mv = mv.max(FloatVector.fromMemorySegment(F, x, base + 4L * i, LE));
            float max = mv.reduceLanes(VectorOperators.MAX);
            for (; i < n; i++) max = Math.max(max, x.get(F32, base + 4L * i));
            FloatVector sv = FloatVector.zero(F);
            for (i = 0; i < bound; i += F.length()) {
                FloatVector e = FloatVector.fromMemorySegment(F, x, base + 4L * i, LE).sub(max).lanewise(VectorOperators.EXP);
                e.intoMemorySegment(x, base + 4L * i, LE);
                sv = sv.add(e);
            }
            float sum = sv.reduceLanes(VectorOperators.ADD);
            for (; i < n; i++) {
                float e = (float) Math.exp(x.get(F32, base + 4L * i) - max);
                x.set(F32, base + 4L * i, e);
                sum += e;
            }
            float inv = 1 / sum;
            for (i = 0; i < bound; i += F.length()) {
                FloatVector.fromMemorySegment(F, x, base + 4L * i, LE).mul(inv).intoMemorySegment(x, base + 4L * i, LE);
            }
            for (; i < n; i++) x.set(F32, base + 4L * i, x.get(F32, base + 4L * i) * inv);
        }
    }

    @Override
    public void siluMul(MemorySegment y, MemorySegment g, MemorySegment u, int n) {
        Checks.elementwise(y, g, u, n);
        int i = 0, bound = F.loopBound(n);
        for (; i < bound; i += F.length()) {
            FloatVector gv = FloatVector.fromMemorySegment(F, g, 4L * i, LE);
            FloatVector uv = FloatVector.fromMemorySegment(F, u, 4L * i, LE);
            FloatVector den = gv.neg().lanewise(VectorOperators.EXP).add(1f);
            gv.div(den).mul(uv).intoMemorySegment(y, 4L * i, LE);
        }
        for (; i < n; i++) {
            float gv = g.get(F32, 4L * i);
            y.set(F32, 4L * i, gv / (1f + (float) Math.exp(-gv)) * u.get(F32, 4L * i));
        }
    }

    @Override
    public void add(MemorySegment y, MemorySegment a, MemorySegment b, int n) {
        Checks.elementwise(y, a, b, n);
        int i = 0, bound = F.loopBound(n);
        for (; i < bound; i += F.length()) {
            FloatVector.fromMemorySegment(F, a, 4L * i, LE).add(FloatVector.fromMemorySegment(F, b, 4L * i, LE))
                    .intoMemorySegment(y, 4L * i, LE);
        }
        for (; i < n; i++) y.set(F32, 4L * i, a.get(F32, 4L * i) + b.get(F32, 4L * i));
    }

    // ---- attention ----

    /** A KV row of n values at element index e as floats into dst (block types: ggml's dequantizer, block by block). */
    private static void kvRowVec(MemorySegment s, GgmlType t, long e, float[] dst, int n) {
        if (t == GgmlType.F32) {
            MemorySegment.copy(s, F32, 4 * e, dst, 0, n);
            return;
        }
        if (t != GgmlType.F16) {
            kvRow(s, t, e, dst, n);
            return;
        }
        int i = 0, bound = F.loopBound(n);
        for (; i < bound; i += F.length()) halves(s, 2 * (e + i), false).intoArray(dst, i);
        for (; i < n; i++) dst[i] = JavaQuants.fromHalf(s.get(I16, 2 * (e + i)));
    }

    private static float dotArr(float[] a, float[] b, int n) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0, bound = F.loopBound(n);
        for (; i < bound; i += F.length()) acc = FloatVector.fromArray(F, a, i).fma(FloatVector.fromArray(F, b, i), acc);
        float s = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) s += a[i] * b[i];
        return s;
    }

    @Override
    void attendPairs(MemorySegment out, MemorySegment q, int pos0, int nHead, int nKvHead, int headDim, int headDimV,
                     MemorySegment k, long kStride, MemorySegment v, long vStride, GgmlType kType, GgmlType vType,
                     float scale, PagedBatch paged, int seq, int p0, int p1) {
        int group = nHead / nKvHead;
        // MLA: the value is the head of the key's own row, converted once for both
        boolean vInK = k.equals(v) && kType == vType && kStride == vStride && nKvHead == 1 && headDimV <= headDim;
        float[] qv = new float[headDim], kr = new float[headDim], acc = new float[headDimV];
        float[] vr = vInK ? kr : new float[headDimV];
        GgmlType qt = queryRounding(kType);
        MemorySegment qb = qt == null ? null : MemorySegment.ofArray(new byte[(int) qt.rowBytes(headDim)]);
        int boundV = F.loopBound(headDimV);
        for (int pair = p0; pair < p1; pair++) {
            int t = pair / nHead, h = pair % nHead;
            int kvh = h / group;
            MemorySegment.copy(q, F32, ((long) t * nHead + h) * headDim * Float.BYTES, qv, 0, headDim);
            if (qt != null) roundRow(qt, qv, headDim, qb);
            java.util.Arrays.fill(acc, 0);
            float m = Float.NEGATIVE_INFINITY, sum = 0;
            for (int j = 0; j <= pos0 + t; j++) {
                long row = paged == null ? j : paged.row(seq, j);
                kvRowVec(k, kType, row * kStride + (long) kvh * headDim, kr, headDim);
                float sc = dotArr(qv, kr, headDim) * scale;
                float corr = 1;
                if (sc > m) {
                    corr = m == Float.NEGATIVE_INFINITY ? 0 : (float) Math.exp(m - sc);
                    sum *= corr;
                    m = sc;
                }
                float p = (float) Math.exp(sc - m);
                sum += p;
                if (!vInK) kvRowVec(v, vType, row * vStride + (long) kvh * headDimV, vr, headDimV);
                int i = 0;
                for (; i < boundV; i += F.length()) {
                    FloatVector.fromArray(F, acc, i).mul(corr).add(FloatVector.fromArray(F, vr, i).mul(p)).intoArray(acc, i);
                }
                for (; i < headDimV; i++) acc[i] = acc[i] * corr + p * vr[i];
            }
            long oo = ((long) t * nHead + h) * headDimV * Float.BYTES;
            float inv = sum > 0 ? 1 / sum : 0;
            for (int i = 0; i < headDimV; i++) out.set(F32, oo + 4L * i, acc[i] * inv);
        }
    }
}
