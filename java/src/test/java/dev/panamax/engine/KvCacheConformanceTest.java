package dev.panamax.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.panamax.Backend;
import dev.panamax.CacheType;
import dev.panamax.Generation;
import dev.panamax.Model;
import dev.panamax.Session;
import dev.panamax.sampling.SamplingParams;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The quantized KV cache against llama.cpp's ({@code llref --fa 1 --ctk T --ctv T}; a quantized V cache needs flash
 * attention there) on the toolkit's tiny llama, qwen3 and deepseek2 (MLA: one latent cache of type T) files. llama.cpp's
 * own spread is the mean KL between its F16 and its T cache on the prompt: Panamax's T cache must stay within twice
 * that spread of Panamax's F16 cache (the bound), and Panamax's logits with T within the same bound of
 * llama.cpp's with T (floor 1e-4: the F16 conformance bound); on the F32 files, whose weights both compute alike, within
 * 1e-6 (measured 4e-13..5e-7). Greedy tokens with the quantized cache equal llama.cpp's. Skipped when the toolkit is
 * absent ({@link LlamaCppReference}).
 * <p>
 * tiny-llama's heads of 64 take llama.cpp's Walsh-Hadamard rotation of Q, K and V before the quantized cache
 * ({@code attn_rot_k/v}; Panamax's {@code LlamaConfig.kvRotation}): without it Panamax was 1.8e-4 (Q8_0) and 3.1e-2
 * (Q4_0) from llama.cpp there, with it 3.7e-13. qwen3 (heads of 96) and deepseek2 (MLA) are not rotated, by either.
 */
class KvCacheConformanceTest {

    static final String PROMPT = LlamaConformanceTest.PROMPT;

    @TempDir
    Path tmp;

    @ParameterizedTest(name = "{0} {1} {2}")
    @CsvSource({"tiny-llama-f32,q8_0,native", "tiny-llama-f32,q4_0,native", "tiny-llama-q8_0,q8_0,native",
            "tiny-llama-f32,q8_0,java", "tiny-qwen3-f32,q8_0,native", "tiny-qwen3-f32,q4_0,native",
            "tiny-deepseek2-f32,q8_0,native", "tiny-deepseek2-f32,q4_0,native", "tiny-deepseek2-f32,q8_0,java"})
    void logitsWithinLlamaCppsOwnSpread(String name, String type, String backend) throws Exception {
        Path m = LlamaCppReference.fixture(name);
        String[] ids = {"-m", m.toString(), "-p", PROMPT, "-n", "1", "-T", "2", "--no-warmup", "--fa", "1"};
        Path refF16 = tmp.resolve("ref-f16.f32"), refQ = tmp.resolve("ref-q.f32");
        int[] prompt = LlamaCppReference.ids(LlamaCppReference.llref(concat(ids, "--logits", refF16.toString())), "prompt tokens");
        LlamaCppReference.llref(concat(ids, "--logits", refQ.toString(), "--ctk", type, "--ctv", type));
        float[] rf = LlamaCppReference.floats(refF16), rq = LlamaCppReference.floats(refQ);
        CacheType t = CacheType.parse(type);
        float[] of = ourLogits(m, prompt, CacheType.F16, backend), oq = ourLogits(m, prompt, t, backend);
        int rows = prompt.length, v = rf.length / rows;
        double llamaSpread = meanKl(rf, rq, rows, v), ourSpread = meanKl(of, oq, rows, v), vsRef = meanKl(rq, oq, rows, v);
        double bound = Math.max(1e-4, 2 * llamaSpread);
        System.out.printf("kv cache %s %s %s: llama.cpp f16 vs %s mean KL %.2e; Panamax f16 vs %s %.2e; Panamax vs"
                + " llama.cpp, both %s, %.2e (bound %.2e)%n", name, type, backend, type, llamaSpread, type, ourSpread, type,
                vsRef, bound);
        assertTrue(ourSpread <= bound, "Panamax's " + type + " cache moves the logits by " + ourSpread + " > " + bound);
        assertTrue(vsRef <= bound, "Panamax with a " + type + " cache is " + vsRef + " from llama.cpp's, > " + bound);
        if (name.endsWith("-f32")) assertTrue(vsRef <= 1e-6, name + ": " + vsRef + " from llama.cpp's with the same cache");
        LlamaCppReference.agreement(rq, oq, rows, v).check(bound, 0.95);
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"tiny-llama-f32,q8_0", "tiny-llama-f32,q4_0", "tiny-deepseek2-f32,q8_0", "tiny-deepseek2-f32,q4_0", "tiny-qwen3-f32,q8_0",
            "tiny-qwen3-f32,q4_0"})
    void greedyTokensMatchLlamaCpp(String name, String type) throws Exception {
        Path m = LlamaCppReference.fixture(name);
        String out = LlamaCppReference.llref("-m", m.toString(), "-p", PROMPT, "-n", "16", "--fa", "1", "-T", "2",
                "--no-warmup", "--ctk", type, "--ctv", type);
        int[] ids = LlamaCppReference.ids(out, "prompt tokens"), gen = LlamaCppReference.ids(out, "generated ids");
        try (Model model = Model.load(m, Model.Options.defaults().withThreads(2).withCacheType(CacheType.parse(type)));
             Session s = model.newSession(256)) {
            Generation g = s.generate(PROMPT, 16, SamplingParams.greedy(), null);
            assertArrayEquals(ids, g.promptTokens());
            assertArrayEquals(gen, g.tokens(), "greedy tokens with a " + type + " KV cache differ from llama.cpp's");
        }
    }

    private static float[] ourLogits(Path m, int[] prompt, CacheType t, String backend) throws Exception {
        try (Model model = Model.load(m, Model.Options.defaults().withBackend(Backend.parse(backend)).withThreads(2)
                .withCacheType(t)); Session s = model.newSession(256)) {
            return s.promptLogits(prompt);
        }
    }

    private static double meanKl(float[] a, float[] b, int rows, int v) {
        double sum = 0;
        for (int r = 0; r < rows; r++) sum += LlamaCppReference.kl(a, b, r * v, v);
        return sum / rows;
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
