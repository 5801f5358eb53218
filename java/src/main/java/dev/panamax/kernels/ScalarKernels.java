package dev.panamax.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;

import java.lang.foreign.MemorySegment;

/** Plain-Java {@link Kernels}: the fallback where the Vector API is missing, and a readable second oracle. */
public class ScalarKernels implements Kernels {

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
        return 1;
    }

    @Override
    public void rmsnorm(MemorySegment y, MemorySegment x, MemorySegment w, int n, int rows, float eps) {
        checkRmsnorm(y, x, w, n, rows, eps);
        for (int r = 0; r < rows; r++) {
            long base = (long) r * n * Float.BYTES;
            double ss = 0;
            for (int i = 0; i < n; i++) {
                float v = x.get(JAVA_FLOAT_UNALIGNED, base + (long) i * Float.BYTES);
                ss += (double) v * v;
            }
            float scale = (float) (1.0 / Math.sqrt(ss / n + eps));
            for (int i = 0; i < n; i++) {
                long off = base + (long) i * Float.BYTES;
                y.set(JAVA_FLOAT_UNALIGNED, off, x.get(JAVA_FLOAT_UNALIGNED, off) * scale
                        * w.get(JAVA_FLOAT_UNALIGNED, (long) i * Float.BYTES));
            }
        }
    }

    static void checkRmsnorm(MemorySegment y, MemorySegment x, MemorySegment w, int n, int rows, float eps) {
        Checks.positive(n, "n");
        Checks.nonNegative(rows, "rows");
        long count = (long) n * rows;
        Checks.floats(y, count, "y");
        Checks.floats(x, count, "x");
        Checks.floats(w, n, "w");
        if (!(eps >= 0)) throw new IllegalArgumentException("eps must be >= 0, got " + eps);
    }

    @Override
    public void close() {}
}
