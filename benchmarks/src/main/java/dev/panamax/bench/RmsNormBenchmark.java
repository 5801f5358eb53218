package dev.panamax.bench;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.NativeKernels;
import dev.panamax.kernels.ScalarKernels;
import dev.panamax.kernels.VectorKernels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/** RMSNorm of one activation row (the per-token case): native vs Vector API vs scalar Java. */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector"})
public class RmsNormBenchmark {
    @Param({"2048", "4096"})
    int n;

    @Param({"native", "vector", "scalar"})
    String impl;

    Arena arena;
    Kernels kernels;
    MemorySegment x, w, y;

    @Setup(Level.Trial)
    public void setup() {
        arena = Arena.ofConfined();
        kernels = switch (impl) {
            case "native" -> new NativeKernels(1);
            case "vector" -> new VectorKernels();
            default -> new ScalarKernels();
        };
        x = arena.allocate((long) n * Float.BYTES, 64);
        w = arena.allocate((long) n * Float.BYTES, 64);
        y = arena.allocate((long) n * Float.BYTES, 64);
        for (int i = 0; i < n; i++) {
            x.setAtIndex(JAVA_FLOAT, i, (float) Math.sin(i));
            w.setAtIndex(JAVA_FLOAT, i, 1 + i % 7 * 0.01f);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        kernels.close();
        arena.close();
    }

    @Benchmark
    public MemorySegment rmsnorm() {
        kernels.rmsnorm(y, x, w, n, 1, 1e-5f);
        return y;
    }
}
