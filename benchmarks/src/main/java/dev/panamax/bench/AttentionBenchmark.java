package dev.panamax.bench;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import dev.panamax.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;

/**
 * MLA decode (absorbed form) of DeepSeek-V2-Lite's shape: 16 heads, kv_lora 512, n_rope 64, one query over an F16
 * latent cache of nKv rows: native (1 and 2 threads) vs Vector API. Cache bytes read per op: nKv * 576 * 2
 * (4.7 MB at 4096), so GB/s = 4.72 / (ns/op / 1e6) at nKv = 4096.
 */
public class AttentionBenchmark extends KernelBenchmark {
    static final int N_HEAD = 16, KV_LORA = 512, N_ROPE = 64, ROW = KV_LORA + N_ROPE;

    @Param({"4096"})
    int nKv;

    @Param({"native-t1", "native-t2", "vector"})
    String impl;

    MemorySegment q, cache, out;

    @Override
    String impl() {
        return impl;
    }

    @Override
    void fill() {
        q = arena.allocate((long) N_HEAD * ROW * Float.BYTES, 64);
        out = arena.allocate((long) N_HEAD * KV_LORA * Float.BYTES, 64);
        cache = arena.allocate((long) nKv * ROW * 2, 64);
        for (int i = 0; i < N_HEAD * ROW; i++) q.setAtIndex(JAVA_FLOAT, i, (float) Math.sin(i) * 0.5f);
        for (long i = 0; i < (long) nKv * ROW; i++) {
            cache.setAtIndex(JAVA_SHORT, i, Float.floatToFloat16((float) Math.cos(i * 0.37)));
        }
    }

    @Benchmark
    public MemorySegment mlaDecode() {
        kernels.attentionMla(out, q, 1, nKv - 1, N_HEAD, KV_LORA, N_ROPE, cache, GgmlType.F16, nKv, 0.0417f);
        return out;
    }
}
