package dev.panamax.bench;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.NativeKernels;
import dev.panamax.kernels.VectorKernels;
import dev.panamax.tensor.GgmlType;
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

/**
 * MLA decode (absorbed form) of DeepSeek-V2-Lite's shape: 16 heads, kv_lora 512, n_rope 64, one query over an F16
 * latent cache of nKv rows: native (1 and 2 threads) vs Vector API. Cache bytes read per op: nKv * 576 * 2
 * (4.7 MB at 4096), so GB/s = 4.72 / (ns/op / 1e6) at nKv = 4096.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector"})
public class AttentionBenchmark {
    static final int N_HEAD = 16, KV_LORA = 512, N_ROPE = 64, ROW = KV_LORA + N_ROPE;

    @Param({"4096"})
    int nKv;

    @Param({"native-t1", "native-t2", "vector"})
    String impl;

    Arena arena;
    Kernels kernels;
    MemorySegment q, cache, out;

    @Setup(Level.Trial)
    public void setup() {
        arena = Arena.ofConfined();
        kernels = switch (impl) {
            case "native-t1" -> new NativeKernels(1);
            case "native-t2" -> new NativeKernels(2);
            default -> new VectorKernels();
        };
        q = arena.allocate((long) N_HEAD * ROW * Float.BYTES, 64);
        out = arena.allocate((long) N_HEAD * KV_LORA * Float.BYTES, 64);
        cache = arena.allocate((long) nKv * ROW * 2, 64);
        for (int i = 0; i < N_HEAD * ROW; i++) q.setAtIndex(JAVA_FLOAT, i, (float) Math.sin(i) * 0.5f);
        for (long i = 0; i < (long) nKv * ROW; i++) {
            cache.setAtIndex(JAVA_SHORT, i, Float.floatToFloat16((float) Math.cos(i * 0.37)));
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        kernels.close();
        arena.close();
    }

    @Benchmark
    public MemorySegment mlaDecode() {
        kernels.attentionMla(out, q, 1, nKv - 1, N_HEAD, KV_LORA, N_ROPE, cache, GgmlType.F16, nKv, 0.0417f);
        return out;
    }
}
