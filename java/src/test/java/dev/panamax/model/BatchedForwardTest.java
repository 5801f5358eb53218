package dev.panamax.model;

import static org.junit.jupiter.api.Assertions.*;

import dev.panamax.gguf.GgufFile;
import dev.panamax.Backend;
import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.KernelsProvider;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * Per-sequence results do not depend on the batch: 8 sequences of different lengths run together through one
 * ForwardPass over a shared paged cache (their blocks interleaved in the pool), a prompt step and then a decode step
 * that mixes positions, against each sequence run alone over its own cache. Bound: mean KL of the last-row logits
 * 1e-6 (F32 weights and cache; what differs is only the GEMM's summation order over batch sizes), clear argmax equal.
 */
class BatchedForwardTest {

    @TempDir
    static Path dir;

    @ParameterizedTest
    @EnumSource(Backend.class)
    void logitsOfEachSequenceMatchItRunAlone(Backend backend) throws Exception {
        for (Path m : new Path[] {TinyModels.write(dir, "llama", GgmlType.F32, false, 31), TinyModels.write(dir, "qwen3moe", GgmlType.F32, false, 31),
                TinyDeepseek.write(dir, TinyDeepseek.Options.defaults())}) {
            try (GgufFile f = GgufFile.open(m); Kernels k = KernelsProvider.create(backend, 2)) {
                ModelWeights w = ModelWeights.load(f);
                int vocab = w.vocabSize(), n = 8, bs = 4;
                SplittableRandom r = new SplittableRandom(9);
                int[][] prompts = new int[n][];
                for (int i = 0; i < n; i++) prompts[i] = r.ints(2 + 5 * i, 3, vocab).toArray(); // 2..37 tokens
                int[] next = r.ints(n, 3, vocab).toArray();
                // the shared pool: sequence i owns blocks i, i + n, i + 2n, ... (interleaved)
                int perSeq = 12;
                int[][] tables = new int[n][perSeq];
                for (int i = 0; i < n; i++) for (int j = 0; j < perSeq; j++) tables[i][j] = i + j * n;
                float[][] alonePrompt = new float[n][], aloneNext = new float[n][];
                int[] identity = new int[perSeq];
                for (int j = 0; j < perSeq; j++) identity[j] = j;
                for (int i = 0; i < n; i++) {
                    try (KvCache kv = w.newKvCache(perSeq, bs, GgmlType.F32); ForwardPass fp = w.newForward(k, 64);
                         ForwardBatch b = new ForwardBatch(64, 1, perSeq, 1, vocab)) {
                        b.add(prompts[i], 0, prompts[i].length, 0, identity, bs, 1);
                        fp.forward(b, kv);
                        alonePrompt[i] = row(b.logits(), 0, vocab);
                        b.clear();
                        b.add(next, i, 1, prompts[i].length, identity, bs, 1);
                        fp.forward(b, kv);
                        aloneNext[i] = row(b.logits(), 0, vocab);
                    }
                }
                try (KvCache kv = w.newKvCache(n * perSeq, bs, GgmlType.F32); ForwardPass fp = w.newForward(k, 256);
                     ForwardBatch b = new ForwardBatch(256, n, n * perSeq, n, vocab)) {
                    for (int i = 0; i < n; i++) assertEquals(i, b.add(prompts[i], 0, prompts[i].length, 0, tables[i], bs, 1));
                    fp.forward(b, kv);
                    for (int i = 0; i < n; i++) compare(alonePrompt[i], row(b.logits(), i, vocab), m + " prompt of sequence " + i);
                    b.clear();
                    for (int i = n - 1; i >= 0; i--) b.add(next, i, 1, prompts[i].length, tables[i], bs, 1); // another order
                    fp.forward(b, kv);
                    for (int i = 0; i < n; i++) compare(aloneNext[i], row(b.logits(), n - 1 - i, vocab), m + " decode of sequence " + i);
                }
            }
        }
    }

    static float[] row(MemorySegment logits, int i, int vocab) {
        float[] out = new float[vocab];
        MemorySegment.copy(logits, ValueLayout.JAVA_FLOAT_UNALIGNED, 4L * i * vocab, out, 0, vocab);
        return out;
    }

    static void compare(float[] ref, float[] got, String what) {
        double kl = kl(ref, got);
        assertTrue(kl < 1e-6, what + ": KL " + kl);
        int a = argmax(ref), b = argmax(got);
        float[] s = ref.clone();
        java.util.Arrays.sort(s);
        if (s[s.length - 1] - s[s.length - 2] > 1e-3f) assertEquals(a, b, what + ": argmax");
    }

    static double kl(float[] p, float[] q) {
        double[] lp = logSoftmax(p), lq = logSoftmax(q);
        double kl = 0;
        for (int i = 0; i < p.length; i++) kl += Math.exp(lp[i]) * (lp[i] - lq[i]);
        return kl;
    }

    static double[] logSoftmax(float[] x) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (float v : x) max = Math.max(max, v);
        for (float v : x) sum += Math.exp(v - max);
        double lse = max + Math.log(sum);
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = x[i] - lse;
        return out;
    }

    static int argmax(float[] x) {
        int b = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[b]) b = i;
        return b;
    }
}
