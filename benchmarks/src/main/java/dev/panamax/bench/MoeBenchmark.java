package dev.panamax.bench;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.NativeKernels;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.util.BitSet;
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
 * The MoE feed-forward (Kernels.moeFfn) of a DeepSeek-MoE-shaped layer: 32 experts of n_ff 704 over n_embd 1024,
 * 4 used per token; nTok 1 (decode) and 128 (a prompt batch). Routes are random and rotate over 64 sets, so decode
 * does not keep re-reading the same 4 experts from cache (the 32 experts, 39 MB in Q4_0, exceed the caches). The
 * aux counter weightBytes is the bytes of distinct experts' gate, up and down matrices each call reads (each once).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
public class MoeBenchmark extends KernelBenchmark {
    static final int N_EMBD = 1024, N_FF = 704, N_EXPERT = 32, N_USED = 4, ROUTE_SETS = 64;

    @Param({"Q4_0", "Q8_0"})
    GgmlType type;

    @Param({"native", "vector"})
    String impl;

    @Param({"1", "128"})
    int nTok;

    /** Native threads (the Java backends run on the calling thread). */
    @Param({"1"})
    int threads;

    MemorySegment gate, up, down, x, out, weights;
    MemorySegment[] ids = new MemorySegment[ROUTE_SETS];
    long[] routeBytes = new long[ROUTE_SETS];
    int next;

    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Rates {
        public long weightBytes;
    }

    @Override
    String impl() {
        return impl;
    }

    @Override
    int nativeThreads() {
        return threads;
    }

    @Override
    void fill() {
        Random rnd = new Random(11);
        long elems = (long) N_EXPERT * N_FF * N_EMBD;
        MemorySegment f = arena.allocate(elems * Float.BYTES, 64);
        long matBytes = type.rowBytes(N_EMBD) * N_FF; // gate, up and down matrices are the same size here
        MemorySegment[] mats = new MemorySegment[3];
        try (Kernels q = new NativeKernels(1)) {
            for (int m = 0; m < 3; m++) {
                float scale = (float) (2 / Math.sqrt(m < 2 ? N_EMBD : N_FF));
                for (long i = 0; i < elems; i++) f.setAtIndex(JAVA_FLOAT, i, (rnd.nextFloat() * 2 - 1) * scale);
                mats[m] = arena.allocate(matBytes * N_EXPERT, 64);
                if (m < 2) q.quantize(type, mats[m], f, N_EXPERT * N_FF, N_EMBD);
                else q.quantize(type, mats[m], f, N_EXPERT * N_EMBD, N_FF);
            }
        }
        gate = mats[0];
        up = mats[1];
        down = mats[2];
        x = arena.allocate((long) nTok * N_EMBD * Float.BYTES, 64);
        for (long i = 0; i < (long) nTok * N_EMBD; i++) x.setAtIndex(JAVA_FLOAT, i, rnd.nextFloat() * 2 - 1);
        out = arena.allocate((long) nTok * N_EMBD * Float.BYTES, 64);
        weights = arena.allocate((long) nTok * N_USED * Float.BYTES, 64);
        for (long i = 0; i < (long) nTok * N_USED; i++) weights.setAtIndex(JAVA_FLOAT, i, 0.25f);
        for (int s = 0; s < ROUTE_SETS; s++) {
            ids[s] = arena.allocate((long) nTok * N_USED * Integer.BYTES, 64);
            BitSet used = new BitSet();
            for (int t = 0; t < nTok; t++) {
                BitSet mine = new BitSet(); // distinct experts per token, as top-k routing gives
                for (int j = 0; j < N_USED; j++) {
                    int e;
                    do e = rnd.nextInt(N_EXPERT); while (mine.get(e));
                    mine.set(e);
                    ids[s].setAtIndex(JAVA_INT, (long) t * N_USED + j, e);
                }
                used.or(mine);
            }
            routeBytes[s] = 3 * matBytes * used.cardinality();
        }
    }

    @Benchmark
    public MemorySegment moeFfn(Rates rates) {
        int s = next;
        next = (next + 1) % ROUTE_SETS;
        kernels.moeFfn(out, x, nTok, N_EMBD, N_FF, N_EXPERT, N_USED, ids[s], weights, type, gate, type, up, type, down);
        rates.weightBytes += routeBytes[s];
        return out;
    }
}
