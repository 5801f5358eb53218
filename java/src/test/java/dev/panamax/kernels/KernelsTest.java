package dev.panamax.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

/** Every backend and every native ISA this CPU supports, against the scalar Java reference. */
class KernelsTest {
    /** Sizes that hit every tail of 4-, 8-, 16-, 32- and 256-wide loops. */
    static final int[] TAIL_SIZES = {1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 255, 256, 257, 1000, 4096, 4097};

    /** A named way to make the kernels under test, with the native ISA to pin (null for Java backends). */
    record Impl(String name, Isa isa, Supplier<Kernels> make) {
        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Impl> implementations() {
        List<Impl> impls = new ArrayList<>();
        impls.add(new Impl("java/vector", null, VectorKernels::new));
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

    private final Arena arena = Arena.ofConfined();

    @AfterEach
    void restoreIsa() {
        NativeCore.forceIsa(null);
        arena.close();
    }

    MemorySegment random(long n, float scale, long seed) {
        Random rnd = new Random(seed);
        MemorySegment s = arena.allocate(n * Float.BYTES, 64);
        for (long i = 0; i < n; i++) s.setAtIndex(JAVA_FLOAT, i, (rnd.nextFloat() * 2 - 1) * scale);
        return s;
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
        if (impl.isa() != null) NativeCore.forceIsa(impl.isa());
        try (Kernels k = impl.make().get(); Kernels ref = new ScalarKernels()) {
            for (int n : TAIL_SIZES) {
                int rows = 5;
                MemorySegment x = random((long) n * rows, 3, n), w = random(n, 1, n + 1);
                MemorySegment y = arena.allocate((long) n * rows * Float.BYTES, 64);
                MemorySegment r = arena.allocate((long) n * rows * Float.BYTES, 64);
                ref.rmsnorm(r, x, w, n, rows, 1e-5f);
                k.rmsnorm(y, x, w, n, rows, 1e-5f);
                double err = maxRelErr(y, r, (long) n * rows);
                // float accumulation against double: a few ulp of the scale factor
                assertTrue(err < 1e-5, impl + " n=" + n + " err " + err);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void rejectsWrongSizesBeforeComputing(Impl impl) {
        try (Kernels k = impl.make().get()) {
            MemorySegment x = random(64, 1, 1), w = random(32, 1, 2), y = arena.allocate(64 * Float.BYTES);
            assertThrows(IllegalArgumentException.class, () -> k.rmsnorm(y, x, w, 64, 1, 1e-5f), "w too short");
            assertThrows(IllegalArgumentException.class, () -> k.rmsnorm(y, x, w, 32, 3, 1e-5f), "x too short");
            assertThrows(IllegalArgumentException.class, () -> k.rmsnorm(y, x, w, 0, 1, 1e-5f), "n = 0");
            assertThrows(IllegalArgumentException.class, () -> k.rmsnorm(y, x, w, 32, -1, 1e-5f), "rows < 0");
            assertThrows(IllegalArgumentException.class, () -> k.rmsnorm(y, x, w, 32, 1, Float.NaN), "eps NaN");
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
    void closedNativeKernelsRefuseWork() {
        Kernels k = new NativeKernels(2);
        k.close();
        k.close(); // idempotent
        MemorySegment x = random(16, 1, 3);
        assertThrows(IllegalStateException.class, () -> k.rmsnorm(x, x, x, 16, 1, 1e-5f));
    }
}
