package dev.panamax.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link Kernels} on the Java Vector API at the platform's preferred width, scalar code for the tails.
 * Loading this class fails when the JVM runs without {@code --add-modules jdk.incubator.vector};
 * {@link KernelsProvider} then falls back to {@link ScalarKernels}.
 */
public final class VectorKernels extends ScalarKernels {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    @Override
    public String name() {
        return "java/vector" + F.vectorBitSize();
    }

    @Override
    public void rmsnorm(MemorySegment y, MemorySegment x, MemorySegment w, int n, int rows, float eps) {
        checkRmsnorm(y, x, w, n, rows, eps);
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
                float v = x.get(JAVA_FLOAT_UNALIGNED, base + (long) i * Float.BYTES);
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
                y.set(JAVA_FLOAT_UNALIGNED, off,
                        x.get(JAVA_FLOAT_UNALIGNED, off) * scale
                                * w.get(JAVA_FLOAT_UNALIGNED, (long) i * Float.BYTES));
            }
        }
    }
}
