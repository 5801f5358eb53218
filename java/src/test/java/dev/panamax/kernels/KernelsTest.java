package dev.panamax.kernels;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.panamax.tensor.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every backend and every native ISA this CPU supports, against the scalar Java reference ({@link ScalarKernels}),
 * op by op, with sizes that hit every vector tail. Error bounds are stated where they are asserted.
 */
class KernelsTest {
    /** Sizes that hit every tail of 4-, 8-, 16-, 32- and 256-wide loops. */
    static final int[] TAIL_SIZES = {1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 255, 256, 257, 1000, 4096, 4097};

    /** A named way to make the kernels under test, with the native ISA to pin (null for Java backends). */
    record Impl(String name, Isa isa, Supplier<Kernels> make) {
        @Override
        public String toString() {
            return name;
        }

        boolean isNative() {
            return isa != null;
        }

        Kernels open() {
            NativeCore.forceIsa(isa); // null: the best ISA, a no-op for Java backends
            return make.get();
        }
    }

    /**
     * The Vector API width this run was forced to (java/pom.xml's executions vector-128 and vector-256 run this class
     * with -XX:MaxVectorSize=16 or 32 and this property), or null in the default run. A forced run tests only the
     * one-thread Vector API backend: the native ones and the split over threads do not depend on the width.
     */
    static final String FORCED_BITS = System.getProperty("panamax.test.vectorBits");

    static Stream<Impl> implementations() {
        List<Impl> impls = new ArrayList<>();
        impls.add(new Impl("java/vector", null, VectorKernels::new));
        if (FORCED_BITS != null) return impls.stream(); // the split over threads does not depend on the width
        impls.add(new Impl("java/vector/t3", null, () -> new VectorKernels(3)));
        for (Isa isa : Isa.values()) {
            if (NativeCore.isSupported(isa)) {
                for (int threads : new int[] {1, 3}) {
                    impls.add(new Impl("native/" + isa.id() + "/t" + threads, isa, () -> new NativeKernels(threads)));
                }
            } else {
                System.out.println("note: native ISA " + isa.id() + " not supported on this CPU: not tested here");
            }
        }
        return impls.stream();
    }

    // shared: the Java backends split work over their threads only on segments those threads may access
    private final Arena arena = Arena.ofShared();

    @AfterEach
    void restoreIsa() {
        NativeCore.forceIsa(null);
        arena.close();
    }

    MemorySegment random(long n, float scale, long seed) {
        Random rnd = new Random(seed);
        MemorySegment s = arena.allocate(Math.max(1, n) * Float.BYTES, 64);
        for (long i = 0; i < n; i++) s.setAtIndex(JAVA_FLOAT, i, (rnd.nextFloat() * 2 - 1) * scale);
        return s;
    }

    MemorySegment floats(long n) {
        return arena.allocate(Math.max(1, n) * Float.BYTES, 64);
    }

    static double maxRelErr(MemorySegment a, MemorySegment b, long n) {
        double m = 0;
        for (long i = 0; i < n; i++) {
            double x = a.getAtIndex(JAVA_FLOAT, i), y = b.getAtIndex(JAVA_FLOAT, i);
            double d = Math.abs(x - y) / Math.max(1, Math.abs(y));
            m = Double.isNaN(d) ? Double.POSITIVE_INFINITY : Math.max(m, d);
        }
        return m;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void rmsnormMatchesReference(Impl impl) {
        try (Kernels k = impl.open(); Kernels ref = new ScalarKernels()) {
            for (int n : TAIL_SIZES) {
                int rows = 5;
                MemorySegment x = random((long) n * rows, 3, n), w = random(n, 1, n + 1);
                MemorySegment y = floats((long) n * rows), r = floats((long) n * rows);
                ref.rmsnorm(r, x, w, n, rows, 1e-5f);
                k.rmsnorm(y, x, w, n, rows, 1e-5f);
                double err = maxRelErr(y, r, (long) n * rows);
                // float accumulation against double: a few ulp of the scale factor
                assertTrue(err < 1e-5, impl + " n=" + n + " err " + err);
            }
        }
    }

    // ---- quantize / dequantize ----

    /** Random rows with the cases the quantizers branch on: an all-zero block, tiny, huge and constant blocks. */
    MemorySegment quantInput(GgmlType type, int rows, int n, long seed) {
        Random rnd = new Random(seed);
        MemorySegment s = floats((long) rows * n);
        int bs = Math.max(type.blockSize(), 32);
        for (int i = 0; i < rows * n; i++) {
            int block = i / bs;
            float v = (rnd.nextFloat() * 2 - 1);
            switch (block % 7) {
                case 1 -> v = 0;
                case 2 -> v *= 1e-20f;
                case 3 -> v *= 3e4f;
                case 4 -> v = 0.25f;
                case 5 -> v = Math.abs(v) + 1; // all positive: exercises the K-quants' min clamp
                default -> v *= (block % 3 + 1);
            }
            s.setAtIndex(JAVA_FLOAT, i, v);
        }
        if (!type.isQuantized()) {
            // half conversions: overflow, rounding ties, subnormals, signed zeros, inf and NaN payloads
            float[] special = {65504f, 65519.99f, 65520f, -65520f, 1e-8f, 2.9802322e-8f, 5.9604645e-8f, 8.940697e-8f,
                6.097555e-5f, 6.1035156e-5f, -0f, 0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN,
                Float.intBitsToFloat(0x7f800001), Float.intBitsToFloat(0xffc12345), 1.0009766f, 1.00048828125f,
                Float.intBitsToFloat(0x3f808000), Float.intBitsToFloat(0x3f818000), Float.MIN_VALUE, Float.MAX_VALUE};
            for (int i = 0; i < Math.min(special.length, rows * n); i++) s.setAtIndex(JAVA_FLOAT, i, special[i]);
        }
        return s;
    }

    static int[] quantSizes(GgmlType t) {
        return switch (t.blockSize()) {
            case 1 -> new int[] {1, 7, 16, 33, 257};
            case 32 -> new int[] {32, 64, 96, 288};
            default -> new int[] {256, 512, 768};
        };
    }

    /** A forced width must be the one the kernels run at, or the forced runs would test the default width again. */
    @Test
    void vectorKernelsRunAtTheForcedWidth() {
        try (Kernels k = new VectorKernels(1)) {
            String bits = FORCED_BITS != null ? FORCED_BITS
                    : Integer.toString(jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.vectorBitSize());
            assertEquals("java/vector" + bits, k.name());
        }
    }

    static Stream<Object[]> implsAndTypes() {
        return implementations().flatMap(i -> Stream.of(GgmlType.values()).map(t -> new Object[] {i, t}));
    }

    /** Quantized bytes equal the Java oracle's (ggml's reference rounding) exactly, for every implementation. */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("implsAndTypes")
    void quantizeBytesMatchReference(Impl impl, GgmlType type) {
        try (Kernels k = impl.open(); Kernels ref = new ScalarKernels()) {
            for (int n : quantSizes(type)) {
                int rows = 3;
                MemorySegment x = quantInput(type, rows, n, n * 31L + type.id());
                long bytes = type.rowBytes(n) * rows;
                MemorySegment a = arena.allocate(bytes, 64), b = arena.allocate(bytes, 64);
                a.fill((byte) 0x5a);
                b.fill((byte) 0xa5); // so bytes an implementation forgets to write differ
                ref.quantize(type, a, x, rows, n);
                k.quantize(type, b, x, rows, n);
                long mismatch = a.mismatch(b);
                assertEquals(-1, mismatch, () -> impl + " " + type + " n=" + n + " first differing byte " + mismatch
                        + " of " + bytes + " (block " + (mismatch % type.rowBytes(n)) / type.blockBytes() + ")");
            }
        }
    }

    /** Dequantized floats equal the oracle's bit for bit (NaN compared as NaN). */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("implsAndTypes")
    void dequantizeMatchesReference(Impl impl, GgmlType type) {
        try (Kernels k = impl.open(); Kernels ref = new ScalarKernels()) {
            for (int n : quantSizes(type)) {
                int rows = 3;
                MemorySegment x = quantInput(type, rows, n, n * 17L + type.id());
                MemorySegment q = arena.allocate(type.rowBytes(n) * rows, 64);
                ref.quantize(type, q, x, rows, n);
                MemorySegment a = floats((long) rows * n), b = floats((long) rows * n);
                ref.dequantize(type, a, q, rows, n);
                k.dequantize(type, b, q, rows, n);
                for (int i = 0; i < rows * n; i++) {
                    float u = a.getAtIndex(JAVA_FLOAT, i), v = b.getAtIndex(JAVA_FLOAT, i);
                    int idx = i;
                    assertTrue(Float.isNaN(u) ? Float.isNaN(v) : Float.floatToRawIntBits(u) == Float.floatToRawIntBits(v),
                            () -> impl + " " + type + " n=" + n + " at " + idx + ": " + v + " expected " + u);
                }
            }
        }
    }

    /** Float.floatToFloat16 (plus the NaN rule) against the C core's bit-level algorithm, over a stride of all floats. */
    @Test
    void halfConversionMatchesBitLevelRounding() {
        for (long bits = 0; bits <= 0xffffffffL; bits += 251) {
            float f = Float.intBitsToFloat((int) bits);
            short want = cHalf(f), got = JavaQuants.toHalf(f);
            if (want != got) assertEquals(want, got, "toHalf(" + f + " / 0x" + Long.toHexString(bits) + ")");
        }
        for (int h = 0; h < 65536; h++) {
            float f = JavaQuants.fromHalf((short) h);
            if (!Float.isNaN(f)) assertEquals((short) h, JavaQuants.toHalf(f), "half round trip " + h);
        }
        assertEquals((short) 0x7fc0, JavaQuants.toBf16(Float.intBitsToFloat(0x7f800001)), "bf16 NaN is quieted");
        assertEquals((short) 0x3f80, JavaQuants.toBf16(Float.intBitsToFloat(0x3f808000)), "bf16 tie to even (down)");
        assertEquals((short) 0x3f82, JavaQuants.toBf16(Float.intBitsToFloat(0x3f818000)), "bf16 tie to even (up)");
    }

    /** Java transcription of blocks.h's pmx_f32_to_half: integer rounding at bit 13, independent of the JDK. */
    static short cHalf(float f) {
        int x = Float.floatToRawIntBits(f);
        int sign = (x >>> 16) & 0x8000;
        long ax = x & 0x7fffffffL;
        if (ax >= 0x7f800000L) return (short) (sign | 0x7c00 | (ax > 0x7f800000L ? 0x200 | ((ax >> 13) & 0x3ff) : 0));
        if (ax >= 0x477ff000L) return (short) (sign | 0x7c00);
        if (ax < 0x38800000L) {
            float v = Float.intBitsToFloat((int) ax) * 16777216.0f;
            int q = (int) v;
            float rem = v - q;
            if (rem > 0.5f || (rem == 0.5f && (q & 1) != 0)) q++;
            return (short) (sign | q);
        }
        long r = ax + 0xfff + ((ax >> 13) & 1);
        return (short) (sign | ((r - 0x38000000L) >> 13));
    }

    /** ggml's published rounding on hand-checked cases, so the oracle is not only checked against itself. */
    @Test
    void quantizersFollowGgmlOnKnownBlocks() {
        ScalarKernels k = new ScalarKernels();
        MemorySegment x = floats(32);
        for (int i = 0; i < 32; i++) x.setAtIndex(JAVA_FLOAT, i, i - 16); // amax 16, max -16
        MemorySegment q8 = arena.allocate(34), q4 = arena.allocate(18);
        k.quantize(GgmlType.Q8_0, q8, x, 1, 32);
        assertEquals(JavaQuants.toHalf(16f / 127), q8.get(JAVA_SHORT, 0));
        // x * 127/16 rounded half away from zero: -8 * 7.9375 = -63.5 -> -64
        assertEquals(-64, q8.get(JAVA_BYTE, 2 + 8));
        assertEquals(127, q8.get(JAVA_BYTE, 2 + 31) + 8); // 15 * 7.9375 = 119.06 -> 119
        k.quantize(GgmlType.Q4_0, q4, x, 1, 32);
        assertEquals(JavaQuants.toHalf(2f), q4.get(JAVA_SHORT, 0)); // d = max / -8 = 2
        // element 0: -16 / 2 + 8.5 = 0.5 -> 0; element 16: 0 + 8.5 -> 8
        assertEquals(0 | (8 << 4), q4.get(JAVA_BYTE, 2) & 0xff);
        // Q5_0: d = max / -16 = 1, element j: (j - 16) + 16.5 -> j; low 4 bits in qs (j and j + 16 share a byte),
        // the 5th bits in qh (bit j = element j): elements 16..31
        MemorySegment q5 = arena.allocate(22);
        k.quantize(GgmlType.Q5_0, q5, x, 1, 32);
        assertEquals(JavaQuants.toHalf(1f), q5.get(JAVA_SHORT, 0));
        assertEquals(0xffff0000, q5.get(JavaQuants.I32, 2));
        for (int j = 0; j < 16; j++) assertEquals(j | (j << 4), q5.get(JAVA_BYTE, 6 + j) & 0xff, "q5_0 qs[" + j + "]");
        MemorySegment d5 = floats(32);
        k.dequantize(GgmlType.Q5_0, d5, q5, 1, 32);
        for (int j = 0; j < 32; j++) assertEquals(j - 16f, d5.getAtIndex(JAVA_FLOAT, j), "q5_0 decodes exactly");
        assertEquals(3, JavaQuants.nearestInt(2.5f) + 1, "nearest_int rounds half to even");
        assertEquals(-3f, JavaQuants.roundf(-2.5f), "roundf rounds half away from zero");
    }

    // ---- matmul ----

    static int[] matmulCols(GgmlType t) {
        return switch (t.blockSize()) {
            case 1 -> new int[] {1, 7, 8, 17, 33, 64, 257, 1000};
            case 32 -> new int[] {32, 64, 96, 288, 1024};
            default -> new int[] {256, 512, 1280};
        };
    }

    /**
     * |y - y_ref| / sum_k |W[r][k] x[k]| (W dequantized). Java vector vs Java scalar: same activation bytes and
     * integer sums, only float summation order differs: < 1e-5. Native: the same for int8 types except where
     * its SIMD activation quantizer ties differently, and F16 activations may be rounded to 16 bits
     * (2^-11 relative): < 2e-3. BF16 activations are rounded to BF16 by both (ggml's vec_dot_type): < 1e-5.
     */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("implsAndTypes")
    void matmulMatchesReference(Impl impl, GgmlType type) {
        double tol = !impl.isNative() || type == GgmlType.F32 || type == GgmlType.BF16 ? 1e-5 : 2e-3;
        try (Kernels k = impl.open(); Kernels ref = new ScalarKernels()) {
            for (int nCols : matmulCols(type)) {
                for (int nRows : new int[] {1, 3, 4, 5, 17}) {
                    for (int batch : new int[] {1, 2, 5}) {
                        if (batch > 1 && nRows != 17 && nRows != 5) continue; // keep the run short
                        long seed = nCols * 1000L + nRows * 10L + batch;
                        MemorySegment wf = random((long) nRows * nCols, 1, seed);
                        MemorySegment w = arena.allocate(type.rowBytes(nCols) * nRows, 64);
                        ref.quantize(type, w, wf, nRows, nCols);
                        MemorySegment wd = floats((long) nRows * nCols);
                        ref.dequantize(type, wd, w, nRows, nCols);
                        MemorySegment x = random((long) batch * nCols, 2, seed + 7);
                        MemorySegment y = floats((long) batch * nRows), yr = floats((long) batch * nRows);
                        ref.matmul(type, w, nRows, nCols, x, batch, yr);
                        k.matmul(type, w, nRows, nCols, x, batch, y);
                        assertMatmulClose(y, yr, wd, x, nRows, nCols, batch, tol,
                                () -> impl + " " + type + " " + nRows + "x" + nCols + " batch " + batch);
                    }
                }
            }
        }
    }

    /** Every y[b][r] within tol of yr[b][r], relative to sum_c |wd[r][c] x[b][c]| (the products' magnitude). */
    private static void assertMatmulClose(MemorySegment y, MemorySegment yr, MemorySegment wd, MemorySegment x, int nRows,
                                          int nCols, int batch, double tol, Supplier<String> what) {
        for (int b = 0; b < batch; b++) {
            for (int r = 0; r < nRows; r++) {
                double mag = 1e-30;
                for (int c = 0; c < nCols; c++) {
                    mag += Math.abs(wd.getAtIndex(JAVA_FLOAT, (long) r * nCols + c)
                            * x.getAtIndex(JAVA_FLOAT, (long) b * nCols + c));
                }
                double got = y.getAtIndex(JAVA_FLOAT, (long) b * nRows + r);
                double want = yr.getAtIndex(JAVA_FLOAT, (long) b * nRows + r);
                double err = Math.abs(got - want) / mag;
                int rr = r, bb = b;
                assertTrue(err < tol, () -> what.get() + " y[" + bb + "][" + rr + "]=" + got + " want " + want
                        + " rel err " + err);
            }
        }
    }

    /**
     * The Vector API's tiled GEMM (batch >= 2, {@link VectorGemm}) against the scalar reference at its edges: batch
     * column counts around the dot-product tiles' 2 columns (1 takes the per-row dot products, 2..7 the dot-product
     * tiles), around {@link VectorGemm#OUTER_MIN_BATCH} and the outer-product tile's column groups of
     * {@link VectorGemm#NR} (one or two vectors wide in the last group); row counts around the 4-row tiles, the 8-row
     * panel and past a 64-row block ({@link VectorGemm#MC}); rows of more than one K chunk ({@link VectorGemm#KD},
     * {@link VectorGemm#KC}, {@link VectorGemm#DK}), the last a partial one where the block size allows; one and three
     * threads. Same bound as matmulMatchesReference: the same quants, float rounding only (< 1e-5).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.panamax.kernels.KernelsTest#typesArg")
    void vectorGemmMatchesReferenceAtTileEdges(GgmlType type) {
        int nCols = type.blockSize() == 256 ? 4352 : type.blockSize() == 32 ? 4384 : 4112; // past KC = 4096
        try (Kernels ref = new ScalarKernels(); Kernels one = new VectorKernels(1); Kernels three = new VectorKernels(3)) {
            for (int nRows : new int[] {1, 4, 7, 9, 37, 67}) {
                MemorySegment wf = random((long) nRows * nCols, 1, nRows + 100L * type.id());
                MemorySegment w = arena.allocate(type.rowBytes(nCols) * nRows, 64);
                ref.quantize(type, w, wf, nRows, nCols);
                MemorySegment wd = floats((long) nRows * nCols);
                ref.dequantize(type, wd, w, nRows, nCols);
                for (int batch : new int[] {1, 3, 4, 5, 7, 8, 9, 16, 17, 24, 128}) {
                    if ((batch == 128 && nRows > 9) || (nRows == 67 && batch != 4 && batch != 17)) continue; // keep the run short
                    MemorySegment x = random((long) batch * nCols, 2, batch + 7L * nRows);
                    MemorySegment yr = floats((long) batch * nRows);
                    ref.matmul(type, w, nRows, nCols, x, batch, yr);
                    for (Kernels k : new Kernels[] {one, three}) {
                        MemorySegment y = floats((long) batch * nRows);
                        k.matmul(type, w, nRows, nCols, x, batch, y);
                        int t = k.threads();
                        assertMatmulClose(y, yr, wd, x, nRows, nCols, batch, 1e-5,
                                () -> type + " t" + t + " " + nRows + "x" + nCols + " batch " + batch);
                    }
                }
            }
        }
    }

    /** The GEMM's vector dequantization of a row chunk gives the scalar dequantizer's floats bit for bit. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.panamax.kernels.KernelsTest#typesArg")
    void vectorGemmDequantizesAsTheScalarCode(GgmlType type) {
        int n = 1536, rows = 3;
        MemorySegment w = arena.allocate(type.rowBytes(n) * rows, 64);
        new ScalarKernels().quantize(type, w, random((long) rows * n, 3, 40 + type.id()), rows, n);
        int bs = type.blockSize() == 1 ? 32 : type.blockSize();
        for (int r = 0; r < rows; r++) {
            long off = r * type.rowBytes(n) + type.rowBytes(bs); // from the second block on
            float[] got = new float[n - bs], want = new float[n - bs];
            VectorGemm.dequantize(type, got, w, off, n - bs);
            JavaQuants.dequantizeRow(type, want, w, off, n - bs);
            for (int i = 0; i < n - bs; i++) {
                assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(got[i]), type + " row " + r + " element " + i);
            }
        }
    }

    /**
     * The Java backends split matmul rows and attention heads over threads; a row (head) is computed whole by one
     * thread with the same tiles, so the thread count changes nothing: bit for bit on the scalar backend, and on the
     * Vector API up to the lane-reduction rounding C2 may change between calls and compilations (see
     * matmulStackedEqualsSeparateMatmuls), bit for bit again for the outer-product GEMM (batch 20: no reduction).
     * Shapes large enough to be split (the pool leaves products under 64 KiB on the caller), row counts off the tiles.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.panamax.kernels.KernelsTest#typesArg")
    void javaResultsDoNotDependOnThreads(GgmlType type) {
        int nCols = 512, nRows = 517;
        for (boolean vector : new boolean[] {false, true}) {
            for (int batch : new int[] {1, 3, 20}) {
                try (ScalarKernels one = vector ? new VectorKernels(1) : new ScalarKernels(1);
                     ScalarKernels three = vector ? new VectorKernels(3) : new ScalarKernels(3)) {
                    assertEquals(3, three.threads());
                    MemorySegment w = arena.allocate(type.rowBytes(nCols) * nRows, 64);
                    one.quantize(type, w, random((long) nRows * nCols, 1, type.id()), nRows, nCols);
                    MemorySegment x = random((long) batch * nCols, 2, 5), y1 = floats((long) batch * nRows), y3 = floats((long) batch * nRows);
                    for (int rep = 0; rep < 3; rep++) {
                        one.matmul(type, w, nRows, nCols, x, batch, y1);
                        three.matmul(type, w, nRows, nCols, x, batch, y3);
                        for (long i = 0; i < (long) batch * nRows; i++) {
                            float a = y1.getAtIndex(JAVA_FLOAT, i), b = y3.getAtIndex(JAVA_FLOAT, i);
                            long ii = i;
                            String what = (vector ? "vector " : "scalar ") + type + " batch " + batch + " y[" + ii + "]";
                            // Vector API: C2's lane-reduction order (1.5e-6 seen on rows of 512 products near 1);
                            // the outer-product GEMM has no lane reduction: bit for bit
                            if (vector && batch < VectorGemm.OUTER_MIN_BATCH) assertEquals(a, b, 1e-5f * Math.max(1f, Math.abs(a)), what);
                            else assertEquals(Float.floatToRawIntBits(a), Float.floatToRawIntBits(b), what);
                        }
                    }
                    // attention: 32 heads over 200 cached positions, split over the three threads
                    int nHead = 32, hd = 64, nKv = 200;
                    MemorySegment q = random((long) nHead * hd, 1, 11), kk = random((long) nKv * 4 * hd, 1, 12);
                    MemorySegment vv = random((long) nKv * 4 * hd, 1, 13), o1 = floats((long) nHead * hd), o3 = floats((long) nHead * hd);
                    one.attention(o1, q, 1, nKv - 1, nHead, 4, hd, hd, kk, vv, GgmlType.F32, GgmlType.F32, nKv, 0.125f);
                    three.attention(o3, q, 1, nKv - 1, nHead, 4, hd, hd, kk, vv, GgmlType.F32, GgmlType.F32, nKv, 0.125f);
                    for (long i = 0; i < (long) nHead * hd; i++) {
                        float a = o1.getAtIndex(JAVA_FLOAT, i), b = o3.getAtIndex(JAVA_FLOAT, i);
                        if (vector) assertEquals(a, b, 1e-6f * Math.max(1f, Math.abs(a)), "attention " + i);
                        else assertEquals(Float.floatToRawIntBits(a), Float.floatToRawIntBits(b), "attention " + i);
                    }
                }
            }
        }
    }

    /** Segments of a confined arena cannot be read by the pool's threads: the job then runs on the caller alone. */
    @Test
    void javaThreadsLeaveConfinedSegmentsToTheCaller() {
        int nCols = 1024, nRows = 300;
        try (Arena confined = Arena.ofConfined(); ScalarKernels one = new VectorKernels(1); ScalarKernels three = new VectorKernels(3)) {
            MemorySegment wf = confined.allocate(4L * nRows * nCols, 64), w = confined.allocate(GgmlType.Q8_0.rowBytes(nCols) * nRows, 64);
            MemorySegment.copy(random((long) nRows * nCols, 1, 3), 0, wf, 0, wf.byteSize());
            one.quantize(GgmlType.Q8_0, w, wf, nRows, nCols);
            MemorySegment x = confined.allocate(4L * nCols * 2, 64), y1 = confined.allocate(4L * nRows * 2, 64), y3 = confined.allocate(4L * nRows * 2, 64);
            MemorySegment.copy(random(2L * nCols, 1, 4), 0, x, 0, x.byteSize());
            one.matmul(GgmlType.Q8_0, w, nRows, nCols, x, 2, y1);
            three.matmul(GgmlType.Q8_0, w, nRows, nCols, x, 2, y3);
            for (long i = 0; i < 2L * nRows; i++) {
                float a = y1.getAtIndex(JAVA_FLOAT, i), b = y3.getAtIndex(JAVA_FLOAT, i);
                assertEquals(a, b, 1e-6f * Math.max(1f, Math.abs(a)), "y[" + i + "]");
            }
        }
    }

    static Stream<GgmlType> typesArg() {
        return Stream.of(GgmlType.values());
    }

    /** The Java pool: every chunk of a range run once, an exception of a worker's chunk rethrown to the caller. */
    @Test
    void javaPoolRunsEveryChunkOnceAndRethrows() {
        try (JavaPool pool = new JavaPool(3)) {
            for (int rep = 0; rep < 200; rep++) {
                int n = 1 + rep * 7;
                java.util.concurrent.atomic.AtomicIntegerArray hits = new java.util.concurrent.atomic.AtomicIntegerArray(n);
                pool.forRange(n, 1 + rep % 5, (a, b) -> {
                    for (int i = a; i < b; i++) hits.incrementAndGet(i);
                });
                for (int i = 0; i < n; i++) assertEquals(1, hits.get(i), "item " + i + " of " + n);
            }
            for (int rep = 0; rep < 20; rep++) {
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> pool.forRange(1000, 1, (a, b) -> {
                    if (a == 999) throw new IllegalStateException("chunk 999");
                }));
                assertEquals("chunk 999", e.getMessage());
            }
            int[] after = {0};
            pool.forRange(10, 1, (a, b) -> { synchronized (after) { after[0] += b - a; } });
            assertEquals(10, after[0], "the pool still runs after a failure");
        }
    }

    /** The int8 route is an approximation of the float product: bound how far (activation rounding, 1/254 of amax). */
    @Test
    void int8MatmulStaysNearTheFloatProduct() {
        ScalarKernels k = new ScalarKernels();
        int nRows = 8, nCols = 512;
        MemorySegment wf = random((long) nRows * nCols, 1, 5), x = random(nCols, 1, 6);
        for (GgmlType type : GgmlType.values()) {
            if (!type.isQuantized()) continue;
            MemorySegment w = arena.allocate(type.rowBytes(nCols) * nRows, 64);
            k.quantize(type, w, wf, nRows, nCols);
            MemorySegment wd = floats((long) nRows * nCols), y = floats(nRows), yf = floats(nRows);
            k.dequantize(type, wd, w, nRows, nCols);
            k.matmul(type, w, nRows, nCols, x, 1, y);
            k.matmul(GgmlType.F32, wd, nRows, nCols, x, 1, yf);
            for (int r = 0; r < nRows; r++) {
                double mag = 0;
                for (int c = 0; c < nCols; c++) {
                    mag += Math.abs(wd.getAtIndex(JAVA_FLOAT, (long) r * nCols + c) * x.getAtIndex(JAVA_FLOAT, c));
                }
                double err = Math.abs(y.getAtIndex(JAVA_FLOAT, r) - yf.getAtIndex(JAVA_FLOAT, r)) / mag;
                // each activation is off by at most half a step, amax/254, against |x| ~ amax/2 on average
                assertTrue(err < 1.0 / 127, type + " row " + r + " rel err " + err);
            }
        }
    }

    // ---- row and elementwise ops ----

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void softmaxMatchesReference(Impl impl) {
        try (Kernels k = impl.open(); Kernels ref = new ScalarKernels()) {
            for (int n : TAIL_SIZES) {
                int rows = 3;
                MemorySegment a = random((long) n * rows, 20, n), b = floats((long) n * rows);
                MemorySegment.copy(a, 0, b, 0, (long) n * rows * Float.BYTES);
                ref.softmax(a, n, rows);
                k.softmax(b, n, rows);
                double err = 0;
                for (long i = 0; i < (long) n * rows; i++) {
                    double want = a.getAtIndex(JAVA_FLOAT, i), got = b.getAtIndex(JAVA_FLOAT, i);
                    err = Math.max(err, Math.abs(got - want) / Math.max(want, 1e-6));
                }
                // exp within a few ulp, the sum in float: 1e-5 relative for every value above 1e-6
                assertTrue(err < 1e-5, impl + " n=" + n + " err " + err);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void siluMulAndAddMatchReference(Impl impl) {
        try (Kernels k = impl.open(); Kernels ref = new ScalarKernels()) {
            for (int n : TAIL_SIZES) {
                MemorySegment g = random(n, 12, n), u = random(n, 3, n + 1);
                MemorySegment y = floats(n), r = floats(n);
                ref.siluMul(r, g, u, n);
                k.siluMul(y, g, u, n);
                double err = maxRelErr(y, r, n);
                assertTrue(err < 1e-5, impl + " siluMul n=" + n + " err " + err);
                ref.add(r, g, u, n);
                k.add(y, g, u, n);
                assertEquals(-1, y.asSlice(0, 4L * n).mismatch(r.asSlice(0, 4L * n)), impl + " add is exact, n=" + n);
                // aliasing: y = g
                MemorySegment g2 = floats(n);
                MemorySegment.copy(g, 0, g2, 0, 4L * n);
                k.siluMul(g2, g2, u, n);
                ref.siluMul(r, g, u, n);
                assertTrue(maxRelErr(g2, r, n) < 1e-5, impl + " siluMul in place n=" + n);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void layerNormAndGeluMatchReference(Impl impl) {
        try (Kernels k = impl.open(); Kernels ref = new ScalarKernels()) {
            for (int n : TAIL_SIZES) {
                int rows = 3;
                long m = (long) n * rows;
                MemorySegment x = random(m, 6, n), res = random(m, 2, n + 1), w = random(n, 1.5f, n + 2), b = random(n, 0.5f, n + 3);
                MemorySegment y = floats(m), r = floats(m);
                for (boolean withRes : new boolean[] {false, true}) {
                    ref.layerNorm(r, x, withRes ? res : null, w, b, n, rows, 1e-12f);
                    k.layerNorm(y, x, withRes ? res : null, w, b, n, rows, 1e-12f);
                    // the same float steps; the double sums in lanes differ from the sequential ones by ~1e-16
                    for (long i = 0; i < m; i++) {
                        float want = r.getAtIndex(JAVA_FLOAT, i), got = y.getAtIndex(JAVA_FLOAT, i);
                        assertTrue(Math.abs(got - want) <= 1e-6 * (1 + Math.abs(want)), impl + " layerNorm n=" + n + " at " + i + ": " + got + " vs " + want);
                    }
                }
                // in place on the residual: y = norm(x + y)
                MemorySegment.copy(res, 0, y, 0, 4L * m);
                k.layerNorm(y, x, y, w, b, n, rows, 1e-12f);
                ref.layerNorm(r, x, res, w, b, n, rows, 1e-12f);
                for (long i = 0; i < m; i++) {
                    float want = r.getAtIndex(JAVA_FLOAT, i), got = y.getAtIndex(JAVA_FLOAT, i);
                    assertTrue(Math.abs(got - want) <= 1e-6 * (1 + Math.abs(want)), impl + " layerNorm in place n=" + n);
                }
                for (boolean withBias : new boolean[] {false, true}) {
                    MemorySegment.copy(x, 0, y, 0, 4L * m);
                    MemorySegment.copy(x, 0, r, 0, 4L * m);
                    for (long i = 0; i < m; i += 7) y.setAtIndex(JAVA_FLOAT, i, i % 2 == 0 ? 10f : -10f);
                    MemorySegment.copy(y, 0, r, 0, 4L * m);
                    ref.gelu(r, withBias ? b : null, n, rows);
                    k.gelu(y, withBias ? b : null, n, rows);
                    assertEquals(-1, y.asSlice(0, 4L * m).mismatch(r.asSlice(0, 4L * m)), impl + " gelu is exact, n=" + n);
                }
            }
            // every binary16 input (one row of 65536): the backends' tables agree entry for entry
            MemorySegment all = floats(1 << 16), allRef = floats(1 << 16);
            for (int h = 0; h < 1 << 16; h++) all.setAtIndex(JAVA_FLOAT, h, Float.float16ToFloat((short) h));
            MemorySegment.copy(all, 0, allRef, 0, 4L << 16);
            k.gelu(all, null, 1 << 16, 1);
            ref.gelu(allRef, null, 1 << 16, 1);
            for (int h = 0; h < 1 << 16; h++) {
                float got = all.getAtIndex(JAVA_FLOAT, h), want = allRef.getAtIndex(JAVA_FLOAT, h);
                assertTrue(Float.floatToIntBits(got) == Float.floatToIntBits(want) || (Float.isNaN(got) && Float.isNaN(want)),
                        impl + " gelu of binary16 " + Integer.toHexString(h) + ": " + got + " vs " + want);
            }
            assertThrows(IllegalArgumentException.class, () -> k.layerNorm(floats(4), floats(4), null, floats(4), floats(3), 4, 1, 1e-5f));
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void attentionEncoderMatchesReference(Impl impl) {
        int[] lens = {1, 2, 7, 0, 16, 17, 37, 65};
        try (Kernels k = impl.open(); Kernels ref = new ScalarKernels()) {
            for (int hd : new int[] {32, 64, 12}) {
                int heads = 3, st = heads * hd;
                MemorySegment rows = arena.allocate(4L * (lens.length + 1), 64);
                int n = 0;
                for (int s = 0; s < lens.length; s++) {
                    rows.setAtIndex(JAVA_INT, s, n);
                    n += lens[s];
                }
                rows.setAtIndex(JAVA_INT, lens.length, n);
                MemorySegment q = random((long) n * st, 2, hd), kk = random((long) n * st, 2, hd + 1), v = random((long) n * st, 1, hd + 2);
                MemorySegment out = floats((long) n * st), r = floats((long) n * st);
                float scale = (float) (1 / Math.sqrt(hd));
                ref.attentionEncoder(r, q, kk, v, rows, lens.length, heads, hd, scale);
                k.attentionEncoder(out, q, kk, v, rows, lens.length, heads, hd, scale);
                // float products and exp against double ones; outputs are averages of values of ~1
                for (long i = 0; i < (long) n * st; i++) {
                    float want = r.getAtIndex(JAVA_FLOAT, i), got = out.getAtIndex(JAVA_FLOAT, i);
                    assertTrue(Math.abs(got - want) <= 2e-6 + 1e-5 * Math.abs(want), impl + " hd=" + hd + " at " + i + ": " + got + " vs " + want);
                }
            }
            MemorySegment bad = arena.allocate(12, 64);
            bad.setAtIndex(JAVA_INT, 0, 0);
            bad.setAtIndex(JAVA_INT, 1, 2);
            bad.setAtIndex(JAVA_INT, 2, 1);
            assertThrows(IllegalArgumentException.class, () -> k.attentionEncoder(floats(64), floats(64), floats(64), floats(64), bad, 2, 1, 4, 1f));
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void argmaxAndTopkMatchReference(Impl impl) {
        try (Kernels k = impl.open(); Kernels ref = new ScalarKernels()) {
            for (int n : TAIL_SIZES) {
                MemorySegment x = random(n, 1, n);
                Random rnd = new Random(n);
                // duplicates of the maximum and NaNs: the first maximum wins, NaN never does
                for (int i = 0; i < n / 8; i++) x.setAtIndex(JAVA_FLOAT, rnd.nextInt(n), 0.5f);
                if (n > 3) x.setAtIndex(JAVA_FLOAT, rnd.nextInt(n), Float.NaN);
                assertEquals(ref.argmax(x, n), k.argmax(x, n), impl + " argmax n=" + n);
                for (int kk : new int[] {1, 5, 40}) {
                    if (kk > n) continue;
                    MemorySegment ia = arena.allocate(4L * kk), va = floats(kk), ib = arena.allocate(4L * kk), vb = floats(kk);
                    ref.topk(x, n, kk, ia, va);
                    k.topk(x, n, kk, ib, vb);
                    for (int j = 0; j < kk; j++) {
                        assertEquals(ia.getAtIndex(JAVA_INT, j), ib.getAtIndex(JAVA_INT, j), impl + " topk idx n=" + n + " k=" + kk + " j=" + j);
                        assertEquals(va.getAtIndex(JAVA_FLOAT, j), vb.getAtIndex(JAVA_FLOAT, j), impl + " topk val");
                    }
                }
            }
        }
    }

    @Test
    void topkOrdersTiesByIndex() {
        ScalarKernels k = new ScalarKernels();
        MemorySegment x = floats(6);
        float[] v = {1, 3, 3, Float.NaN, 2, 3};
        for (int i = 0; i < 6; i++) x.setAtIndex(JAVA_FLOAT, i, v[i]);
        MemorySegment idx = arena.allocate(16), val = floats(4);
        k.topk(x, 6, 4, idx, val);
        assertEquals(List.of(1, 2, 5, 4), List.of(idx.getAtIndex(JAVA_INT, 0), idx.getAtIndex(JAVA_INT, 1),
                idx.getAtIndex(JAVA_INT, 2), idx.getAtIndex(JAVA_INT, 3)));
        assertEquals(1, k.argmax(x, 6));
    }

    // ---- rope and attention ----

    static final RopeConfig[] ROPES = {
        RopeConfig.plain(false, 10000f),
        RopeConfig.plain(true, 1000000f),
        new RopeConfig(false, 10000f, 0.25f, 1f, 1f, 32f, 1f, 4096), // YaRN, 4x
        new RopeConfig(true, 500000f, 0.5f, 0f, 0.9f, 32f, 1f, 8192), // linear scaling with attn factor
    };

    /** cos/sin of theta up to ~500 rad: float theta and libm differ by ulps of theta, so 5e-4 absolute. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void ropeMatchesReference(Impl impl) {
        try (Kernels k = impl.open(); Kernels ref = new ScalarKernels()) {
            for (RopeConfig rc : ROPES) {
                for (int[] shape : new int[][] {{3, 4, 64, 64}, {2, 3, 128, 64}, {5, 2, 80, 80}, {1, 1, 6, 2}}) {
                    int nTok = shape[0], nHeads = shape[1], headDim = shape[2], nRot = shape[3];
                    long count = (long) nTok * nHeads * headDim;
                    MemorySegment a = random(count, 2, headDim), b = floats(count);
                    MemorySegment.copy(a, 0, b, 0, count * 4);
                    MemorySegment pos = arena.allocate(4L * nTok);
                    for (int t = 0; t < nTok; t++) pos.setAtIndex(JAVA_INT, t, t * 97 + 3);
                    ref.rope(a, nTok, nHeads, headDim, nRot, pos, rc, null);
                    k.rope(b, nTok, nHeads, headDim, nRot, pos, rc, null);
                    double err = maxRelErr(b, a, count);
                    assertTrue(err < 5e-4, impl + " " + rc + " shape " + java.util.Arrays.toString(shape) + " err " + err);
                }
            }
        }
    }

    /** Llama 3.1-like frequency factors: 1 for the high-frequency pairs, 8 for the low ones, smooth between. */
    MemorySegment llama31Factors(int half) {
        MemorySegment ff = arena.allocate(4L * half);
        for (int i = 0; i < half; i++) {
            double u = Math.min(1, Math.max(0, (i - half / 4.0) / (half / 2.0)));
            ff.setAtIndex(JAVA_FLOAT, i, (float) (1 + 7 * u * u * (3 - 2 * u)));
        }
        return ff;
    }

    /**
     * With frequency factors every backend matches the scalar reference (same bound as without), factors all 1
     * give bit for bit what null gives, and real factors change the result.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void ropeFreqFactors(Impl impl) {
        try (Kernels k = impl.open(); Kernels ref = new ScalarKernels()) {
            for (RopeConfig rc : ROPES) {
                for (int[] shape : new int[][] {{3, 4, 64, 64}, {2, 3, 128, 64}, {5, 2, 80, 80}}) {
                    int nTok = shape[0], nHeads = shape[1], headDim = shape[2], nRot = shape[3];
                    long count = (long) nTok * nHeads * headDim;
                    MemorySegment in = random(count, 3, headDim), a = floats(count), b = floats(count), c = floats(count);
                    MemorySegment.copy(in, 0, a, 0, count * 4);
                    MemorySegment.copy(in, 0, b, 0, count * 4);
                    MemorySegment.copy(in, 0, c, 0, count * 4);
                    MemorySegment pos = arena.allocate(4L * nTok);
                    for (int t = 0; t < nTok; t++) pos.setAtIndex(JAVA_INT, t, t * 211 + 5);
                    MemorySegment ff = llama31Factors(nRot / 2), ones = arena.allocate(4L * (nRot / 2));
                    for (int i = 0; i < nRot / 2; i++) ones.setAtIndex(JAVA_FLOAT, i, 1f);
                    String what = impl + " " + rc + " shape " + java.util.Arrays.toString(shape);
                    ref.rope(a, nTok, nHeads, headDim, nRot, pos, rc, ff);
                    k.rope(b, nTok, nHeads, headDim, nRot, pos, rc, ff);
                    double err = maxRelErr(b, a, count);
                    assertTrue(err < 5e-4, what + " err " + err);
                    MemorySegment.copy(in, 0, b, 0, count * 4);
                    k.rope(b, nTok, nHeads, headDim, nRot, pos, rc, null);
                    k.rope(c, nTok, nHeads, headDim, nRot, pos, rc, ones);
                    assertEquals(-1, b.mismatch(c), what + ": factors all 1 differ from null");
                    assertTrue(maxRelErr(b, a, count) > 1e-2, what + ": factors had no visible effect");
                }
            }
        }
    }

    /** Position 0 leaves x unchanged (times attn factor) and a known rotation at position 1. */
    @Test
    void ropeRotatesAsGgml() {
        ScalarKernels k = new ScalarKernels();
        MemorySegment x = floats(4), pos = arena.allocate(4);
        float[] v = {1, 0, 0, 1};
        for (int i = 0; i < 4; i++) x.setAtIndex(JAVA_FLOAT, i, v[i]);
        pos.setAtIndex(JAVA_INT, 0, 1);
        k.rope(x, 1, 1, 4, 4, pos, RopeConfig.plain(false, 10000f), null);
        // pair 0 rotates by 1 rad, pair 1 by 10000^(-1/2) = 0.01 rad
        assertEquals(Math.cos(1), x.getAtIndex(JAVA_FLOAT, 0), 1e-6);
        assertEquals(Math.sin(1), x.getAtIndex(JAVA_FLOAT, 1), 1e-6);
        assertEquals(-Math.sin(0.01), x.getAtIndex(JAVA_FLOAT, 2), 1e-6);
        assertEquals(Math.cos(0.01), x.getAtIndex(JAVA_FLOAT, 3), 1e-6);
        // factors {2, 4} divide the angles: 0.5 rad and 0.0025 rad
        for (int i = 0; i < 4; i++) x.setAtIndex(JAVA_FLOAT, i, v[i]);
        MemorySegment ff = floats(2);
        ff.setAtIndex(JAVA_FLOAT, 0, 2f);
        ff.setAtIndex(JAVA_FLOAT, 1, 4f);
        k.rope(x, 1, 1, 4, 4, pos, RopeConfig.plain(false, 10000f), ff);
        assertEquals(Math.cos(0.5), x.getAtIndex(JAVA_FLOAT, 0), 1e-6);
        assertEquals(Math.sin(0.5), x.getAtIndex(JAVA_FLOAT, 1), 1e-6);
        assertEquals(-Math.sin(0.0025), x.getAtIndex(JAVA_FLOAT, 2), 1e-6);
        assertEquals(Math.cos(0.0025), x.getAtIndex(JAVA_FLOAT, 3), 1e-6);
    }

    static Stream<Object[]> implsAndKv() {
        return implementations().flatMap(i -> Stream.of(new Object[] {i, GgmlType.F32}, new Object[] {i, GgmlType.F16}));
    }

    /** Online softmax against the reference's: 1e-4 relative with F32 KV; F16 KV may see q rounded to 16 bits: 2e-3. */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("implsAndKv")
    void attentionMatchesReference(Impl impl, GgmlType kvType) {
        double tol = kvType == GgmlType.F16 && impl.isNative() ? 2e-3 : 1e-4;
        try (Kernels k = impl.open(); Kernels ref = new ScalarKernels()) {
            // nQ, pos0, nHead, nKvHead, headDim, headDimV
            int[][] shapes = {{1, 0, 4, 4, 64, 64}, {1, 37, 8, 2, 64, 64}, {5, 11, 6, 3, 80, 48}, {3, 0, 2, 1, 17, 9}, {1, 200, 4, 1, 128, 128}};
            for (int[] s : shapes) {
                int nQ = s[0], pos0 = s[1], nHead = s[2], nKvHead = s[3], hd = s[4], hdv = s[5], nKv = pos0 + nQ + 2;
                MemorySegment q = random((long) nQ * nHead * hd, 1, hd);
                MemorySegment kf = random((long) nKv * nKvHead * hd, 1, hd + 1), vf = random((long) nKv * nKvHead * hdv, 1, hd + 2);
                MemorySegment kk = arena.allocate(kvType.rowBytes((long) nKv * nKvHead * hd), 64);
                MemorySegment vv = arena.allocate(kvType.rowBytes((long) nKv * nKvHead * hdv), 64);
                ref.quantize(kvType, kk, kf, 1, nKv * nKvHead * hd);
                ref.quantize(kvType, vv, vf, 1, nKv * nKvHead * hdv);
                MemorySegment a = floats((long) nQ * nHead * hdv), b = floats((long) nQ * nHead * hdv);
                float scale = (float) (1 / Math.sqrt(hd)) * 3;
                ref.attention(a, q, nQ, pos0, nHead, nKvHead, hd, hdv, kk, vv, kvType, kvType, nKv, scale);
                k.attention(b, q, nQ, pos0, nHead, nKvHead, hd, hdv, kk, vv, kvType, kvType, nKv, scale);
                double err = maxRelErr(b, a, (long) nQ * nHead * hdv);
                assertTrue(err < tol, impl + " " + kvType + " " + java.util.Arrays.toString(s) + " err " + err);
            }
        }
    }

    /**
     * Every KV cache type llama.cpp offers (-ctk/-ctv), K and V alike and mixed, GQA and MLA: each backend against the
     * Java reference on the same cache bytes (both read ggml's dequantized values, so F32's bound holds), and the
     * reference against F32 attention over those dequantized values with the query rounded as ggml rounds it (Q8_0 for
     * quantized keys, BF16 for BF16 keys): bit for bit, the cache is read in place.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void attentionReadsQuantizedCache(Impl impl) {
        GgmlType[][] types = {{GgmlType.Q8_0, GgmlType.Q8_0}, {GgmlType.Q4_0, GgmlType.Q4_0}, {GgmlType.Q5_0, GgmlType.Q5_0},
                {GgmlType.Q4_1, GgmlType.Q5_1}, {GgmlType.IQ4_NL, GgmlType.BF16}, {GgmlType.Q8_0, GgmlType.F16},
                {GgmlType.F16, GgmlType.Q4_0}};
        try (Kernels k = impl.open(); ScalarKernels ref = new ScalarKernels()) {
            // nQ, pos0, nHead, nKvHead, headDim, headDimV
            int[][] shapes = {{1, 0, 4, 2, 64, 64}, {1, 300, 8, 2, 128, 64}, {6, 60, 4, 4, 32, 96}};
            for (GgmlType[] t : types) {
                for (int[] s : shapes) {
                    int nQ = s[0], pos0 = s[1], nHead = s[2], nKvHead = s[3], hd = s[4], hdv = s[5], nKv = pos0 + nQ;
                    long nk = (long) nKv * nKvHead * hd, nv = (long) nKv * nKvHead * hdv;
                    MemorySegment q = random((long) nQ * nHead * hd, 1, hd);
                    MemorySegment kf = random(nk, 1, hd + 1), vf = random(nv, 1, hd + 2);
                    MemorySegment kk = arena.allocate(t[0].rowBytes(nk), 64), vv = arena.allocate(t[1].rowBytes(nv), 64);
                    ref.quantize(t[0], kk, kf, 1, (int) nk);
                    ref.quantize(t[1], vv, vf, 1, (int) nv);
                    ref.dequantize(t[0], kf, kk, 1, (int) nk);
                    ref.dequantize(t[1], vf, vv, 1, (int) nv);
                    long no = (long) nQ * nHead * hdv;
                    MemorySegment a = floats(no), b = floats(no), c = floats(no);
                    float scale = (float) (1 / Math.sqrt(hd));
                    ref.attention(a, q, nQ, pos0, nHead, nKvHead, hd, hdv, kk, vv, t[0], t[1], nKv, scale);
                    // the query rounded through Q8_0 (BF16 keys: BF16) as ggml's flash attention does, then plain F32
                    MemorySegment qr = floats((long) nQ * nHead * hd);
                    float[] row = new float[hd];
                    GgmlType qt = ScalarKernels.queryRounding(t[0]);
                    for (int r = 0; r < nQ * nHead; r++) {
                        MemorySegment.copy(q, JAVA_FLOAT, 4L * r * hd, row, 0, hd);
                        if (qt != null) ScalarKernels.roundRow(qt, row, hd, MemorySegment.ofArray(new byte[(int) qt.rowBytes(hd)]));
                        MemorySegment.copy(row, 0, qr, JAVA_FLOAT, 4L * r * hd, hd);
                    }
                    ref.attention(c, qr, nQ, pos0, nHead, nKvHead, hd, hdv, kf, vf, GgmlType.F32, GgmlType.F32, nKv, scale);
                    k.attention(b, q, nQ, pos0, nHead, nKvHead, hd, hdv, kk, vv, t[0], t[1], nKv, scale);
                    String what = impl + " " + t[0] + "/" + t[1] + " " + java.util.Arrays.toString(s);
                    assertEquals(-1, a.mismatch(c), what + ": the reference differs from F32 over the dequantized values");
                    assertTrue(maxRelErr(b, a, no) < 1e-4, what + " err " + maxRelErr(b, a, no));
                }
                if (t[0] != t[1]) continue;
                // MLA over a quantized latent row of 64 + 32
                int nQ = 2, pos0 = 40, nHead = 4, kvLora = 64, nRope = 32, row = kvLora + nRope, nKv = pos0 + nQ;
                MemorySegment q = random((long) nQ * nHead * row, 1, row), cf = random((long) nKv * row, 1, row + 1);
                MemorySegment cache = arena.allocate(t[0].rowBytes((long) nKv * row), 64);
                ref.quantize(t[0], cache, cf, 1, nKv * row);
                long no = (long) nQ * nHead * kvLora;
                MemorySegment a = floats(no), b = floats(no);
                ref.attentionMla(a, q, nQ, pos0, nHead, kvLora, nRope, cache, t[0], nKv, 0.1f);
                k.attentionMla(b, q, nQ, pos0, nHead, kvLora, nRope, cache, t[0], nKv, 0.1f);
                assertTrue(maxRelErr(b, a, no) < 1e-4, impl + " MLA " + t[0] + " err " + maxRelErr(b, a, no));
            }
            // a block type whose block does not divide the head is refused before any call
            MemorySegment x = floats(1024);
            assertThrows(IllegalArgumentException.class,
                    () -> k.attention(x, x, 1, 0, 1, 1, 48, 48, x, x, GgmlType.Q8_0, GgmlType.F16, 1, 1f));
            assertThrows(IllegalArgumentException.class,
                    () -> k.attention(x, x, 1, 0, 1, 1, 64, 40, x, x, GgmlType.F16, GgmlType.Q4_0, 1, 1f));
            assertThrows(IllegalArgumentException.class,
                    () -> k.attention(x, x, 1, 0, 1, 1, 64, 64, x, x, GgmlType.Q4_K, GgmlType.F16, 1, 1f));
        }
    }

    /** The oracle's attention against a direct two-pass softmax in double: causality and GQA mapping. */
    @Test
    void attentionIsCausalSoftmaxAverage() {
        ScalarKernels k = new ScalarKernels();
        int nQ = 3, pos0 = 4, nHead = 4, nKvHead = 2, hd = 8, nKv = 9;
        MemorySegment q = random((long) nQ * nHead * hd, 1, 1), kf = random((long) nKv * nKvHead * hd, 1, 2);
        MemorySegment vf = random((long) nKv * nKvHead * hd, 1, 3), out = floats((long) nQ * nHead * hd);
        k.attention(out, q, nQ, pos0, nHead, nKvHead, hd, hd, kf, vf, GgmlType.F32, GgmlType.F32, nKv, 0.5f);
        for (int t = 0; t < nQ; t++) {
            for (int h = 0; h < nHead; h++) {
                int kvh = h / 2;
                double[] p = new double[pos0 + t + 1];
                double sum = 0;
                for (int j = 0; j <= pos0 + t; j++) {
                    double d = 0;
                    for (int i = 0; i < hd; i++) {
                        d += q.getAtIndex(JAVA_FLOAT, ((long) t * nHead + h) * hd + i) * kf.getAtIndex(JAVA_FLOAT, ((long) j * nKvHead + kvh) * hd + i);
                    }
                    p[j] = Math.exp(0.5 * d);
                    sum += p[j];
                }
                for (int i = 0; i < hd; i++) {
                    double o = 0;
                    for (int j = 0; j <= pos0 + t; j++) o += p[j] / sum * vf.getAtIndex(JAVA_FLOAT, ((long) j * nKvHead + kvh) * hd + i);
                    assertEquals(o, out.getAtIndex(JAVA_FLOAT, ((long) t * nHead + h) * hd + i), 1e-5, "t=" + t + " h=" + h + " i=" + i);
                }
            }
        }
    }

    /**
     * MLA against the reference's, with the reference's tolerances; and (native: bit-identical; Java: 1e-6, as
     * Vector API reductions round differently before and after JIT compilation) the same backend's
     * {@code attention} given a separately materialized K (= the whole row) and V (= its latent part). Shapes:
     * DeepSeek-V2-Lite decode long enough for 3 native threads to split the keys, odd latent widths, prefill.
     */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("implsAndKv")
    void attentionMlaMatchesReference(Impl impl, GgmlType kvType) {
        double tol = kvType == GgmlType.F16 && impl.isNative() ? 2e-3 : 1e-4;
        try (Kernels k = impl.open(); Kernels ref = new ScalarKernels()) {
            // nQ, pos0, nHead, kvLora, nRope
            int[][] shapes = {{1, 0, 4, 64, 32}, {1, 900, 16, 512, 64}, {5, 11, 3, 36, 8}, {70, 20, 2, 64, 32}, {1, 899, 5, 40, 0}};
            for (int[] s : shapes) {
                int nQ = s[0], pos0 = s[1], nHead = s[2], kvLora = s[3], nRope = s[4], row = kvLora + nRope;
                int nKv = pos0 + nQ + 2;
                MemorySegment q = random((long) nQ * nHead * row, 1, row), cf = random((long) nKv * row, 1, row + 1);
                MemorySegment cache = arena.allocate(kvType.rowBytes((long) nKv * row), 64);
                ref.quantize(kvType, cache, cf, 1, nKv * row);
                MemorySegment kk = arena.allocate(kvType.rowBytes((long) nKv * row), 64);
                MemorySegment vv = arena.allocate(kvType.rowBytes((long) nKv * kvLora), 64);
                MemorySegment.copy(cache, 0, kk, 0, kk.byteSize());
                long eb = kvType.rowBytes(1);
                for (int j = 0; j < nKv; j++) MemorySegment.copy(cache, j * row * eb, vv, j * kvLora * eb, kvLora * eb);
                long no = (long) nQ * nHead * kvLora;
                MemorySegment a = floats(no), b = floats(no), c = floats(no);
                float scale = (float) (1 / Math.sqrt(row)) * 3;
                ref.attentionMla(a, q, nQ, pos0, nHead, kvLora, nRope, cache, kvType, nKv, scale);
                k.attentionMla(b, q, nQ, pos0, nHead, kvLora, nRope, cache, kvType, nKv, scale);
                k.attention(c, q, nQ, pos0, nHead, 1, row, kvLora, kk, vv, kvType, kvType, nKv, scale);
                String what = impl + " " + kvType + " " + java.util.Arrays.toString(s);
                double err = maxRelErr(b, a, no);
                assertTrue(err < tol, what + " err " + err);
                if (impl.isNative()) assertEquals(-1, b.mismatch(c), what + ": differs from attention on K/V copies");
                else assertTrue(maxRelErr(b, c, no) < 1e-6, what + ": differs from attention on K/V copies");
            }
        }
    }

    /** The oracle's MLA against a direct softmax in double: key = whole row, value = latent part, causality. */
    @Test
    void attentionMlaIsLatentSoftmaxAverage() {
        ScalarKernels k = new ScalarKernels();
        int nQ = 3, pos0 = 4, nHead = 3, kvLora = 6, nRope = 2, row = kvLora + nRope, nKv = 9;
        MemorySegment q = random((long) nQ * nHead * row, 1, 1), cache = random((long) nKv * row, 1, 2);
        MemorySegment out = floats((long) nQ * nHead * kvLora);
        k.attentionMla(out, q, nQ, pos0, nHead, kvLora, nRope, cache, GgmlType.F32, nKv, 0.5f);
        for (int t = 0; t < nQ; t++) {
            for (int h = 0; h < nHead; h++) {
                double[] p = new double[pos0 + t + 1];
                double sum = 0;
                for (int j = 0; j <= pos0 + t; j++) {
                    double d = 0;
                    for (int i = 0; i < row; i++) {
                        d += q.getAtIndex(JAVA_FLOAT, ((long) t * nHead + h) * row + i) * cache.getAtIndex(JAVA_FLOAT, (long) j * row + i);
                    }
                    p[j] = Math.exp(0.5 * d);
                    sum += p[j];
                }
                for (int i = 0; i < kvLora; i++) {
                    double o = 0;
                    for (int j = 0; j <= pos0 + t; j++) o += p[j] / sum * cache.getAtIndex(JAVA_FLOAT, (long) j * row + i);
                    assertEquals(o, out.getAtIndex(JAVA_FLOAT, ((long) t * nHead + h) * kvLora + i), 1e-5, "t=" + t + " h=" + h + " i=" + i);
                }
            }
        }
    }

    // ---- mixture of experts ----

    /** Experts' weights and dequantized down matrices for the MoE tests. */
    record Experts(GgmlType gt, GgmlType ut, GgmlType dt, int nEmbd, int nFf, int nExpert, MemorySegment gate,
                   MemorySegment up, MemorySegment down, MemorySegment downF) {}

    Experts experts(GgmlType gt, GgmlType ut, GgmlType dt, int nEmbd, int nFf, int nExpert, long seed) {
        ScalarKernels q = new ScalarKernels();
        MemorySegment gate = arena.allocate(gt.rowBytes(nEmbd) * nFf * nExpert, 64);
        MemorySegment up = arena.allocate(ut.rowBytes(nEmbd) * nFf * nExpert, 64);
        MemorySegment down = arena.allocate(dt.rowBytes(nFf) * nEmbd * nExpert, 64);
        float sg = (float) (2 / Math.sqrt(nEmbd)), sd = (float) (2 / Math.sqrt(nFf));
        q.quantize(gt, gate, random((long) nFf * nEmbd * nExpert, sg, seed), nFf * nExpert, nEmbd);
        q.quantize(ut, up, random((long) nFf * nEmbd * nExpert, sg, seed + 1), nFf * nExpert, nEmbd);
        q.quantize(dt, down, random((long) nFf * nEmbd * nExpert, sd, seed + 2), nEmbd * nExpert, nFf);
        MemorySegment downF = floats((long) nFf * nEmbd * nExpert);
        q.dequantize(dt, downF, down, nEmbd * nExpert, nFf);
        return new Experts(gt, ut, dt, nEmbd, nFf, nExpert, gate, up, down, downF);
    }

    /** Routes with an expert repeated within a token (token 1 uses its first expert twice). */
    MemorySegment routes(int nTok, int nUsed, int nExpert, long seed) {
        Random rnd = new Random(seed);
        MemorySegment ids = arena.allocate((long) nTok * nUsed * Integer.BYTES, 64);
        for (int p = 0; p < nTok * nUsed; p++) ids.setAtIndex(JAVA_INT, p, rnd.nextInt(nExpert));
        if (nTok > 1 && nUsed > 1) ids.setAtIndex(JAVA_INT, 2L * nUsed - 1, ids.getAtIndex(JAVA_INT, nUsed));
        return ids;
    }

    /**
     * The MoE feed-forward composed pair by pair from the scalar reference's matmul and siluMul, the weighted sum in
     * double: out[t] and mag[t] = 1 + Σ_j |w_j| Σ_k |down[e][r][k] h_k| (the scale of the rounding in play).
     */
    static void moeReference(Experts ex, MemorySegment x, int nTok, int nUsed, MemorySegment ids, MemorySegment w,
                             double[] out, double[] mag) {
        ScalarKernels ref = new ScalarKernels();
        int ne = ex.nEmbd(), nf = ex.nFf();
        long gm = ex.gt().rowBytes(ne) * nf, um = ex.ut().rowBytes(ne) * nf, dm = ex.dt().rowBytes(nf) * ne;
        MemorySegment xt = MemorySegment.ofArray(new float[ne]), g = MemorySegment.ofArray(new float[nf]);
        MemorySegment u = MemorySegment.ofArray(new float[nf]), y = MemorySegment.ofArray(new float[ne]);
        java.util.Arrays.fill(out, 0);
        java.util.Arrays.fill(mag, 1);
        for (int t = 0; t < nTok; t++) {
            MemorySegment.copy(x, 4L * t * ne, xt, 0, 4L * ne);
            for (int j = 0; j < nUsed; j++) {
                int e = ids.getAtIndex(JAVA_INT, (long) t * nUsed + j);
                double wj = w.getAtIndex(JAVA_FLOAT, (long) t * nUsed + j);
                ref.matmul(ex.gt(), ex.gate().asSlice(e * gm, gm), nf, ne, xt, 1, g);
                ref.matmul(ex.ut(), ex.up().asSlice(e * um, um), nf, ne, xt, 1, u);
                ref.siluMul(g, g, u, nf);
                ref.matmul(ex.dt(), ex.down().asSlice(e * dm, dm), ne, nf, g, 1, y);
                for (int r = 0; r < ne; r++) {
                    double sr = 0;
                    for (int k = 0; k < nf; k++) {
                        sr += Math.abs(ex.downF().getAtIndex(JAVA_FLOAT, ((long) e * ne + r) * nf + k) * g.getAtIndex(JAVA_FLOAT, k));
                    }
                    out[t * ne + r] += wj * y.getAtIndex(JAVA_FLOAT, r);
                    mag[t * ne + r] += Math.abs(wj) * sr;
                }
            }
        }
    }

    static Stream<Impl> moeImplementations() {
        return Stream.concat(Stream.of(new Impl("java/scalar", null, ScalarKernels::new)), implementations());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("moeImplementations")
    void moeFfnMatchesPairByPairReference(Impl impl) {
        GgmlType[][] combos = {
            {GgmlType.Q4_0, GgmlType.Q4_0, GgmlType.Q4_0}, {GgmlType.Q4_K, GgmlType.Q4_K, GgmlType.Q6_K},
            {GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q8_0}, {GgmlType.F16, GgmlType.F32, GgmlType.F16},
        };
        // scalar: the same dot products, only float vs double summation of the slots; vector: the same int8 dot
        // products in another order; native: its own activation rounding can move a quant of h by one step
        // (see test_moe.c), each such step about 1e-4 of the magnitude
        double tol = impl.name().equals("java/scalar") ? 1e-6 : impl.isNative() ? 2e-3 : 1e-4;
        try (Kernels k = impl.open()) {
            for (GgmlType[] c : combos) {
                boolean kq = c[0].blockSize() > 32 || c[1].blockSize() > 32, kd = c[2].blockSize() > 32;
                Experts ex = experts(c[0], c[1], c[2], kq ? 256 : 64, kd ? 256 : 96, 6, 17);
                for (int[] tu : new int[][] {{1, 1}, {1, 4}, {5, 2}, {9, 3}}) {
                    int nTok = tu[0], nUsed = tu[1], ne = ex.nEmbd();
                    long seed = nTok * 100L + nUsed;
                    MemorySegment x = random((long) nTok * ne, 1.5f, seed), w = random((long) nTok * nUsed, 1, seed + 1);
                    MemorySegment ids = routes(nTok, nUsed, ex.nExpert(), seed + 2), out = floats((long) nTok * ne);
                    double[] want = new double[nTok * ne], mag = new double[nTok * ne];
                    moeReference(ex, x, nTok, nUsed, ids, w, want, mag);
                    k.moeFfn(out, x, nTok, ne, ex.nFf(), ex.nExpert(), nUsed, ids, w, ex.gt(), ex.gate(), ex.ut(), ex.up(),
                            ex.dt(), ex.down());
                    for (int i = 0; i < nTok * ne; i++) {
                        double got = out.getAtIndex(JAVA_FLOAT, i), err = Math.abs(got - want[i]) / mag[i];
                        int ii = i;
                        assertTrue(err < tol, () -> impl + " " + c[0] + "/" + c[1] + "/" + c[2] + " nTok " + nTok + " nUsed "
                                + nUsed + " out[" + ii / ne + "][" + ii % ne + "]=" + got + " want " + want[ii] + " rel err " + err);
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("moeImplementations")
    void moeFfnRejectsBadArgumentsBeforeComputing(Impl impl) {
        Experts ex = experts(GgmlType.Q8_0, GgmlType.Q8_0, GgmlType.Q8_0, 32, 64, 4, 3);
        try (Kernels k = impl.open()) {
            MemorySegment x = random(64, 1, 1), w = random(4, 1, 2), out = floats(64), ids = routes(2, 2, 4, 3);
            for (int i = 0; i < 64; i++) out.setAtIndex(JAVA_FLOAT, i, 7);
            for (int bad : new int[] {-1, 4, Integer.MAX_VALUE}) {
                MemorySegment badIds = arena.allocate(16, 4);
                MemorySegment.copy(ids, 0, badIds, 0, 16);
                badIds.setAtIndex(JAVA_INT, 3, bad);
                assertThrows(IllegalArgumentException.class, () -> k.moeFfn(out, x, 2, 32, 64, 4, 2, badIds, w,
                        GgmlType.Q8_0, ex.gate(), GgmlType.Q8_0, ex.up(), GgmlType.Q8_0, ex.down()), "expert id " + bad);
            }
            for (int i = 0; i < 64; i++) assertEquals(7f, out.getAtIndex(JAVA_FLOAT, i), "out written before refusing");
            assertThrows(IllegalArgumentException.class, () -> k.moeFfn(out, x, 2, 32, 64, 5, 2, ids, w,
                    GgmlType.Q8_0, ex.gate(), GgmlType.Q8_0, ex.up(), GgmlType.Q8_0, ex.down()), "5 experts in the space of 4");
            assertThrows(IllegalArgumentException.class, () -> k.moeFfn(out, x, 3, 32, 64, 4, 2, ids, w,
                    GgmlType.Q8_0, ex.gate(), GgmlType.Q8_0, ex.up(), GgmlType.Q8_0, ex.down()), "ids of 2 tokens for 3");
            assertThrows(IllegalArgumentException.class, () -> k.moeFfn(out, x, 2, 32, 64, 4, 2, ids, w,
                    GgmlType.Q4_K, ex.gate(), GgmlType.Q8_0, ex.up(), GgmlType.Q8_0, ex.down()), "nEmbd not a Q4_K multiple");
            assertThrows(IllegalArgumentException.class, () -> k.moeFfn(out, x, 2, 32, 64, 4, 0, ids, w,
                    GgmlType.Q8_0, ex.gate(), GgmlType.Q8_0, ex.up(), GgmlType.Q8_0, ex.down()), "nUsed = 0");
            assertThrows(IllegalArgumentException.class, () -> k.moeFfn(out, x, 2, 32, 64, 4, 2, ids, random(3, 1, 4),
                    GgmlType.Q8_0, ex.gate(), GgmlType.Q8_0, ex.up(), GgmlType.Q8_0, ex.down()), "weights too short");
        }
    }

    // ---- stacked matmul ----

    static Stream<Object[]> allImplsAndTypes() {
        return moeImplementations().flatMap(i -> Stream.of(GgmlType.values()).map(t -> new Object[] {i, t}));
    }

    /**
     * matmulStacked equals separate matmul calls of the same backend on gathered rows, bit for bit: row counts that cut
     * the native 64-row pieces and 4-row tiles, token counts that hit the GEMM column tiles, MLA's token-major layout
     * with padded slices, a matrix-major layout with padded matrices (wMatBytes > the matrix), and the floats between
     * the y slices left alone.
     */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("allImplsAndTypes")
    void matmulStackedEqualsSeparateMatmuls(Impl impl, GgmlType type) {
        int bs = Math.max(32, type.blockSize());
        int[][] shapes = {{1, 1, 1, 1}, {3, 5, 2, 1}, {16, 64, 1, 1}, {4, 65, 1, 3}, {5, 130, 1, 2}, {2, 17, 2, 5}, {3, 7, 1, 8}};
        try (Kernels k = impl.open(); Kernels ref = new ScalarKernels()) {
            for (int[] sh : shapes) {
                for (int layout = 0; layout < 2; layout++) {
                    int nMat = sh[0], rows = sh[1], cols = sh[2] * bs, nTok = sh[3];
                    int xm, xt, ym, yt;
                    if (layout == 0) { xm = cols + 3; xt = nMat * xm + 1; ym = rows + 2; yt = nMat * ym + 5; }
                    else { xt = cols; xm = nTok * cols + 4; yt = rows + 1; ym = nTok * yt + 3; }
                    long matBytes = type.rowBytes(cols) * rows, wMat = matBytes + (layout == 1 ? 64 : 0);
                    long seed = nMat * 1000L + rows * 10L + nTok + layout;
                    MemorySegment w = arena.allocate(wMat * nMat, 64);
                    for (int m = 0; m < nMat; m++) {
                        ref.quantize(type, w.asSlice(m * wMat, matBytes), random((long) rows * cols, 1, seed + m), rows, cols);
                    }
                    long nx = (nTok - 1L) * xt + (nMat - 1L) * xm + cols, ny = (nTok - 1L) * yt + (nMat - 1L) * ym + rows;
                    MemorySegment x = random(nx, 2, seed + 99), y = floats(ny), want = floats(ny);
                    for (long i = 0; i < ny; i++) { y.setAtIndex(JAVA_FLOAT, i, -7f); want.setAtIndex(JAVA_FLOAT, i, -7f); }
                    MemorySegment xg = floats((long) nTok * cols), yg = floats((long) nTok * rows);
                    for (int m = 0; m < nMat; m++) {
                        for (int t = 0; t < nTok; t++) MemorySegment.copy(x, 4L * ((long) t * xt + (long) m * xm), xg, 4L * t * cols, 4L * cols);
                        k.matmul(type, w.asSlice(m * wMat, matBytes), rows, cols, xg, nTok, yg);
                        for (int t = 0; t < nTok; t++) MemorySegment.copy(yg, 4L * t * rows, want, 4L * ((long) t * yt + (long) m * ym), 4L * rows);
                    }
                    k.matmulStacked(type, w, nMat, rows, cols, wMat, x, nTok, xt, xm, y, yt, ym);
                    for (long i = 0; i < ny; i++) {
                        int got = y.getAtIndex(JAVA_INT, i), exp = want.getAtIndex(JAVA_INT, i);
                        long ii = i;
                        int lay = layout;
                        java.util.function.Supplier<String> what = () -> impl + " " + type + " nMat " + nMat + " rows " + rows
                                + " cols " + cols + " nTok " + nTok + " layout " + lay + " y[" + ii + "]=" + Float.intBitsToFloat(got)
                                + " want " + Float.intBitsToFloat(exp);
                        if (impl.isNative()) {
                            assertEquals(exp, got, what); // the same C kernels: bit for bit
                        } else {
                            // Java: the Vector API's lane reductions may round differently once C2 compiles the loop
                            // (seen: 6 ulp on BF16, and ~3e-6 relative on Q3_K / Q6_K rows of 256, between two calls
                            // of the same matmul), so equal up to that; a wrong row or block is off by far more
                            float e = Float.intBitsToFloat(exp), g = Float.intBitsToFloat(got);
                            assertEquals(e, g, 1e-5f * Math.max(1f, Math.abs(e)), what);
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("moeImplementations")
    void matmulStackedRejectsBadArgumentsBeforeComputing(Impl impl) {
        try (Kernels k = impl.open()) {
            GgmlType q = GgmlType.Q8_0;
            long mat = q.rowBytes(64) * 8; // 3 matrices of 8 rows x 64, 2 tokens, MLA layout
            MemorySegment w = arena.allocate(3 * mat, 64), x = random(2 * 3 * 64, 1, 5), y = floats(2 * 3 * 8);
            for (int i = 0; i < 48; i++) y.setAtIndex(JAVA_FLOAT, i, 7);
            k.matmulStacked(q, w, 3, 8, 64, mat, x, 2, 192, 64, floats(48), 24, 8); // the good call
            assertThrows(IllegalArgumentException.class, () -> k.matmulStacked(q, w, 4, 8, 64, mat, x, 2, 192, 64, y, 24, 8), "W holds 3 matrices");
            assertThrows(IllegalArgumentException.class, () -> k.matmulStacked(q, w, 3, 8, 64, mat - 1, x, 2, 192, 64, y, 24, 8), "wMatBytes too small");
            assertThrows(IllegalArgumentException.class, () -> k.matmulStacked(q, w, 3, 8, 64, mat + 34, x, 2, 192, 64, y, 24, 8), "padded matrices pass the end of W");
            assertThrows(IllegalArgumentException.class, () -> k.matmulStacked(q, w, 3, 8, 48, mat, x, 2, 192, 64, y, 24, 8), "cols not a block multiple");
            assertThrows(IllegalArgumentException.class, () -> k.matmulStacked(q, w, 3, 8, 64, mat, x, 2, 193, 64, y, 24, 8), "x too short");
            assertThrows(IllegalArgumentException.class, () -> k.matmulStacked(q, w, 3, 8, 64, mat, x, 2, 192, 64, y, 25, 8), "y too short");
            assertThrows(IllegalArgumentException.class, () -> k.matmulStacked(q, w, 3, 8, 64, mat, x, 2, 192, 64, y, 24, 7), "y slices overlap");
            assertThrows(IllegalArgumentException.class, () -> k.matmulStacked(q, w, 3, 8, 64, mat, x, 2, 192, 64, y, 8, 8), "y slices overlap");
            assertThrows(IllegalArgumentException.class, () -> k.matmulStacked(q, w, 3, 8, 64, mat, x, 2, -192, 64, y, 24, 8), "negative stride");
            assertThrows(IllegalArgumentException.class, () -> k.matmulStacked(q, w, 0, 8, 64, mat, x, 2, 192, 64, y, 24, 8), "nMat 0");
            assertThrows(IllegalArgumentException.class, () -> k.matmulStacked(q, w, 3, 8, 64, mat, x, 0, 192, 64, y, 24, 8), "nTok 0");
            assertThrows(IllegalArgumentException.class, () -> k.matmulStacked(q, w, 3, 8, 64, mat, x, 2, Integer.MAX_VALUE, Integer.MAX_VALUE, y, 24, 8), "x far beyond");
            assertThrows(IllegalArgumentException.class, () -> k.matmulStacked(q, w, 3, 8, 64, mat, x, 2, 192, 64, x.asSlice(0, 4 * 48), 24, 8), "x and y overlap");
            assertThrows(IllegalArgumentException.class, () -> k.matmulStacked(null, w, 3, 8, 64, mat, x, 2, 192, 64, y, 24, 8), "no type");
            for (int i = 0; i < 48; i++) assertEquals(7f, y.getAtIndex(JAVA_FLOAT, i), "y written before refusing");
        }
    }

    // ---- argument checks ----

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void rejectsWrongSizesBeforeComputing(Impl impl) {
        try (Kernels k = impl.open()) {
            MemorySegment x = random(64, 1, 1), w = random(32, 1, 2), y = arena.allocate(64 * Float.BYTES);
            assertThrows(IllegalArgumentException.class, () -> k.rmsnorm(y, x, w, 64, 1, 1e-5f), "w too short");
            assertThrows(IllegalArgumentException.class, () -> k.rmsnorm(y, x, w, 32, 3, 1e-5f), "x too short");
            assertThrows(IllegalArgumentException.class, () -> k.rmsnorm(y, x, w, 0, 1, 1e-5f), "n = 0");
            assertThrows(IllegalArgumentException.class, () -> k.rmsnorm(y, x, w, 32, -1, 1e-5f), "rows < 0");
            assertThrows(IllegalArgumentException.class, () -> k.rmsnorm(y, x, w, 32, 1, Float.NaN), "eps NaN");
            MemorySegment q = arena.allocate(34);
            assertThrows(IllegalArgumentException.class, () -> k.quantize(GgmlType.Q8_0, q, x, 1, 48), "n not a block multiple");
            assertThrows(IllegalArgumentException.class, () -> k.quantize(GgmlType.Q8_0, q, x, 2, 32), "dst too short");
            assertThrows(IllegalArgumentException.class, () -> k.matmul(GgmlType.Q8_0, q, 2, 32, x, 1, y), "W too short");
            assertThrows(IllegalArgumentException.class, () -> k.matmul(GgmlType.F32, x, 1, 64, x, 2, y), "x too short");
            assertThrows(IllegalArgumentException.class, () -> k.topk(x, 8, 9, y, y), "k > n");
            assertThrows(IllegalArgumentException.class, () -> k.softmax(x, 65, 1), "x too short");
            assertThrows(IllegalArgumentException.class, () -> k.rope(x, 1, 1, 8, 3, y, RopeConfig.plain(false, 1e4f), null), "odd nRot");
            assertThrows(IllegalArgumentException.class,
                    () -> k.rope(x, 1, 1, 8, 8, y, RopeConfig.plain(false, 1e4f), x.asSlice(0, 12)), "freqFactors shorter than nRot/2");
            assertThrows(IllegalArgumentException.class,
                    () -> k.attention(y, x, 1, 0, 3, 2, 8, 8, x, x, GgmlType.F32, GgmlType.F32, 1, 1f), "nHead not a multiple of nKvHead");
            assertThrows(IllegalArgumentException.class,
                    () -> k.attention(y, x, 2, 0, 1, 1, 8, 8, x, x, GgmlType.Q8_0, GgmlType.Q8_0, 2, 1f), "quantized KV");
            assertThrows(IllegalArgumentException.class,
                    () -> k.attentionMla(y, x, 1, 0, 2, 24, 8, x, GgmlType.F32, 3, 1f), "cache too short");
            assertThrows(IllegalArgumentException.class,
                    () -> k.attentionMla(y, x, 1, 0, 2, 32, 8, x, GgmlType.F32, 1, 1f), "q too short");
            assertThrows(IllegalArgumentException.class,
                    () -> k.attentionMla(y, x, 1, 0, 2, 0, 8, x, GgmlType.F32, 1, 1f), "kvLora 0");
            assertThrows(IllegalArgumentException.class,
                    () -> k.attentionMla(y, x, 2, 1, 1, 8, 8, x, GgmlType.F32, 2, 1f), "pos0 + nQ > nKv");
        }
    }

    /** Every backend's Walsh-Hadamard transform equals the Java reference's bit for bit (ggml's fwht: the same adds). */
    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void hadamardMatchesReferenceBitForBit(Impl impl) {
        try (Kernels k = impl.open(); Kernels ref = new ScalarKernels()) {
            for (int n : new int[] {2, 4, 8, 16, 64, 128, 256, 4096}) {
                int chunks = n >= 4096 ? 17 : 5; // 17 x 4096: the native pool splits it
                MemorySegment x = random((long) n * chunks, 3, n), r = arena.allocate(4L * n * chunks, 64);
                r.copyFrom(x);
                k.hadamard(x, n, chunks);
                ref.hadamard(r, n, chunks);
                assertEquals(-1, x.mismatch(r), impl + " hadamard n=" + n);
                // orthonormal: the squared norm of each chunk is kept (to rounding)
                MemorySegment y = random((long) n * chunks, 3, n);
                for (int c = 0; c < chunks; c++) {
                    double a = 0, b = 0;
                    for (int i = 0; i < n; i++) {
                        a += Math.pow(x.getAtIndex(JAVA_FLOAT, (long) c * n + i), 2);
                        b += Math.pow(y.getAtIndex(JAVA_FLOAT, (long) c * n + i), 2);
                    }
                    assertEquals(b, a, 1e-5 * b, "norm of chunk " + c + " n=" + n);
                }
            }
            MemorySegment x = random(12, 1, 1);
            assertThrows(IllegalArgumentException.class, () -> k.hadamard(x, 3, 4));
            assertThrows(IllegalArgumentException.class, () -> k.hadamard(x, 8, 2));
        }
    }

    @Test
    void nativeRefusesHeapSegments() {
        try (Kernels k = new NativeKernels(1)) {
            MemorySegment heap = MemorySegment.ofArray(new float[16]);
            assertThrows(IllegalArgumentException.class, () -> k.rmsnorm(heap, heap, heap, 16, 1, 1e-5f));
        }
    }

    @Test
    void javaKernelsAcceptHeapSegments() {
        try (Kernels k = new VectorKernels()) {
            MemorySegment a = MemorySegment.ofArray(new float[] {1, 2, 3}), b = MemorySegment.ofArray(new float[] {4, 5, 6});
            k.add(a, a, b, 3);
            assertEquals(9f, a.getAtIndex(JAVA_FLOAT, 2));
        }
    }

    @Test
    void closedNativeKernelsRefuseWork() {
        Kernels k = new NativeKernels(2);
        k.close();
        k.close(); // idempotent
        MemorySegment x = random(16, 1, 3);
        assertThrows(IllegalStateException.class, () -> k.rmsnorm(x, x, x, 16, 1, 1e-5f));
    }
}
