package dev.panamax.model;

import static org.junit.jupiter.api.Assertions.*;

import com.sun.management.ThreadMXBean;
import dev.panamax.gguf.GgufFile;
import dev.panamax.Backend;
import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.KernelsProvider;
import dev.panamax.tensor.GgmlType;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The steady-state step allocates nothing on the Java heap: a batched forward pass of three sequences (two decoding,
 * one in a prompt chunk) on the native kernels, measured with the thread's allocation counter after warm-up:
 * less than one object per step. Also with a quantized KV cache (K Q8_0, V Q4_0: rows quantized as written).
 */
class ForwardAllocationTest {

    @TempDir
    static Path dir;

    @Test
    void aBatchedStepAllocatesNothing() throws Exception {
        Path quantKv = TinyModels.writeQwen3(dir, "qwen3", GgmlType.Q8_0, 3, 32);
        for (Path m : new Path[] {TinyModels.write(dir, "qwen2", GgmlType.Q8_0, false, 3), TinyModels.write(dir, "qwen3moe", GgmlType.Q8_0, false, 3),
                TinyDeepseek.write(dir, TinyDeepseek.Options.defaults()), quantKv}) {
            try (GgufFile f = GgufFile.open(m); Kernels k = KernelsProvider.create(Backend.NATIVE, 2)) {
                ModelWeights w = ModelWeights.load(f);
                GgmlType kt = m == quantKv ? GgmlType.Q8_0 : GgmlType.F16, vt = m == quantKv ? GgmlType.Q4_0 : GgmlType.F16;
                try (KvCache kv = w.newKvCache(12, 16, kt, vt); ForwardPass fp = w.newForward(k, 32);
                     ForwardBatch b = new ForwardBatch(32, 4, 16, 4, w.vocabSize())) {
                    int[] t1 = {0, 1, 2, 3}, t2 = {4, 5, 6, 7}, t3 = {8, 9, 10, 11};
                    int[] toks = new int[64];
                    for (int i = 0; i < toks.length; i++) toks[i] = 3 + i;
                    ThreadMXBean mx = (ThreadMXBean) ManagementFactory.getThreadMXBean();
                    long before = 0;
                    int warm = 2000, measured = 200; // warm-up long enough for C2 to compile the step (C1 code allocates)
                    for (int it = 0; it < warm + measured; it++) {
                        if (it == warm) before = mx.getCurrentThreadAllocatedBytes();
                        int pos = it % 40;
                        b.clear();
                        b.add(toks, pos, 1, pos, t1, 16, 1);
                        b.add(toks, pos + 1, 1, pos, t2, 16, 1);
                        b.add(toks, 0, 8, 0, t3, 16, 1);
                        fp.forward(b, kv);
                    }
                    long bytes = mx.getCurrentThreadAllocatedBytes() - before;
                    // less than one object per step (the smallest is 16 bytes): what remains is the JIT's, not the step's
                    assertTrue(bytes < 8L * measured, m.getFileName() + ": " + measured + " steps allocated " + bytes + " bytes");
                }
            }
        }
    }
}
