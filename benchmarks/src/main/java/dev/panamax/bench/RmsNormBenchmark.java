package dev.panamax.bench;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.MemorySegment;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;

/** RMSNorm of one activation row (the per-token case): native vs Vector API vs scalar Java. */
public class RmsNormBenchmark extends KernelBenchmark {
    @Param({"2048", "4096"})
    int n;

    @Param({"native", "vector", "scalar"})
    String impl;

    MemorySegment x, w, y;

    @Override
    String impl() {
        return impl;
    }

    @Override
    void fill() {
        x = arena.allocate((long) n * Float.BYTES, 64);
        w = arena.allocate((long) n * Float.BYTES, 64);
        y = arena.allocate((long) n * Float.BYTES, 64);
        for (int i = 0; i < n; i++) {
            x.setAtIndex(JAVA_FLOAT, i, (float) Math.sin(i));
            w.setAtIndex(JAVA_FLOAT, i, 1 + i % 7 * 0.01f);
        }
    }

    @Benchmark
    public MemorySegment rmsnorm() {
        kernels.rmsnorm(y, x, w, n, 1, 1e-5f);
        return y;
    }
}
