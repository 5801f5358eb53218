package dev.panamax.bench;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.ScalarKernels;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * y = W·x per weight type: batch 1 (decode GEMV, reported as GB/s of weights streamed) and batch 128
 * (prompt GEMM, reported as GFLOP/s), native (as stored, and packed where the kernels prefer it) vs Java Vector API vs
 * scalar Java. The matrix (4096 x 4096)
 * exceeds L2 but not every L3; ./panamax microbench measures far beyond the last-level cache.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
public class MatmulBenchmark extends KernelBenchmark {
    static final int N = 4096;

    @Param({"Q4_0", "Q5_0", "Q8_0", "Q4_K", "Q6_K", "Q4_1", "Q5_1", "Q2_K", "Q3_K", "Q5_K", "IQ4_NL", "IQ4_XS", "F16", "F32"})
    GgmlType type;

    /** native-packed: the native kernels on the interleaved copy model loading makes where they prefer it. */
    @Param({"native", "native-packed", "vector", "scalar"})
    String impl;

    @Param({"1", "128"})
    int batch;

    /** Weight rows (the columns stay N): 4096 fits the L3 of most servers, 32768 (~75 MB of Q4_0) streams from memory. */
    @Param({"4096"})
    int rows;

    MemorySegment w, x, y, packed;
    long weightBytes;

    /** Secondary results: weight GB/s and GFLOP/s of each measured iteration. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Rates {
        public long weightBytes;
        public long flops;
    }

    @Override
    String impl() {
        return impl.equals("native-packed") ? "native" : impl;
    }

    @Override
    void fill() {
        weightBytes = type.rowBytes(N) * rows;
        Random rnd = new Random(7);
        MemorySegment f = arena.allocate((long) rows * N * Float.BYTES, 64);
        for (long i = 0; i < (long) rows * N; i++) f.setAtIndex(JAVA_FLOAT, i, rnd.nextFloat() * 2 - 1);
        w = arena.allocate(weightBytes, 64);
        try (Kernels q = new ScalarKernels()) {
            q.quantize(type, w, f, rows, N);
        }
        x = arena.allocate((long) batch * N * Float.BYTES, 64);
        for (long i = 0; i < (long) batch * N; i++) x.setAtIndex(JAVA_FLOAT, i, rnd.nextFloat() * 2 - 1);
        y = arena.allocate((long) batch * rows * Float.BYTES, 64);
        if (impl.equals("native-packed")) {
            long bytes = kernels.packedBytes(type, rows, N);
            if (bytes == 0) throw new IllegalStateException(type + ": the active native kernels prefer no packed layout");
            packed = arena.allocate(bytes, 64);
            kernels.pack(type, packed, w, rows, N);
        }
    }

    @Benchmark
    public MemorySegment matmul(Rates rates) {
        if (packed != null) kernels.matmulPacked(type, packed, rows, N, x, batch, y);
        else kernels.matmul(type, w, rows, N, x, batch, y);
        rates.weightBytes += weightBytes;
        rates.flops += 2L * rows * N * batch;
        return y;
    }
}
