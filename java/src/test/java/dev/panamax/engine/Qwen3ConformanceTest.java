package dev.panamax.engine;

import static org.junit.jupiter.api.Assertions.*;

import dev.panamax.Engine;
import dev.panamax.Generation;
import dev.panamax.GenerationRequest;
import dev.panamax.Model;
import dev.panamax.RequestHandle;
import dev.panamax.gguf.GgufFile;
import dev.panamax.Backend;
import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.KernelsProvider;
import dev.panamax.model.ForwardBatch;
import dev.panamax.model.ForwardPass;
import dev.panamax.model.KvCache;
import dev.panamax.model.ModelWeights;
import dev.panamax.sampling.SamplingParams;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * qwen3 and qwen3moe against llama.cpp: logits at every prompt position (through a Session, and through the engine's
 * batched forward pass with several sequences in one step) and greedy tokens (through a Session, and through the
 * engine with several requests batched). Files: the reference toolkit's fixtures (qwen3: head size 96 with 256 wide /
 * 4 heads, untied; qwen3moe: 8 experts, 2 used) and variants written here by its make_tiny_gguf.py (a tied head with the
 * default head size, a wider MoE of 16 experts with 4 used and head size 48), quantized by llama.cpp's llquant. Skipped
 * when the toolkit is absent. Bounds from the issue: F32 mean KL <= 1e-4 and clear argmax >= 98%, greedy identical;
 * quantized <= 1e-2 / 95% (for a quantized MoE at least twice llama.cpp's own spread between its attention modes:
 * an expert near-tie that rounding flips, see DeepseekConformanceTest).
 */
class Qwen3ConformanceTest {

    static final String[] PROMPTS = {
            "The quick brown fox jumps over the lazy dog. Once upon a time there was a little robot who wanted to learn"
                    + " how to paint the sky.",
            "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n",
            "Qwen3 是一个大型语言模型。Hello, world! 12345"};

    @TempDir
    Path tmp;

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"tiny-qwen3-f32,native,1e-4,0.98", "tiny-qwen3-f32,java,1e-4,0.98",
            "tiny-qwen3-q8_0,native,1e-2,0.95", "tiny-qwen3-q8_0,java,1e-2,0.95",
            "tiny-qwen3moe-f32,native,1e-4,0.98", "tiny-qwen3moe-f32,java,1e-4,0.98",
            "tiny-qwen3moe-q8_0,native,1e-2,0.95", "tiny-qwen3moe-q8_0,java,1e-2,0.95"})
    void toolkitFixtures(String name, String backend, double maxKl, double minAgree) throws Exception {
        Path m = LlamaCppReference.fixture(name);
        LlamaCppReference.compareLogits(m, PROMPTS[0], Backend.parse(backend), tmp).check(bound(m, name, maxKl), minAgree);
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"qwen3,f16,native,1e-4,0.98", "qwen3,q4_0,native,1e-2,0.95", "qwen3,q4_0,java,1e-2,0.95",
            "qwen3moe,f16,native,1e-4,0.98", "qwen3moe,q4_0,native,1e-2,0.95", "qwen3moe,q4_0,java,1e-2,0.95",
            "qwen3-tied,f32,native,1e-4,0.98", "qwen3-tied,q8_0,native,1e-2,0.95", "qwen3-tied,q4_0,native,1e-2,0.95",
            "qwen3moe-wide,f32,native,1e-4,0.98", "qwen3moe-wide,f32,java,1e-4,0.98", "qwen3moe-wide,q8_0,native,1e-2,0.95",
            "qwen3moe-wide,q4_0,native,1e-2,0.95"})
    void madeVariants(String base, String type, String backend, double maxKl, double minAgree) throws Exception {
        Path m = made(base, type);
        LlamaCppReference.compareLogits(m, PROMPTS[0], Backend.parse(backend), tmp).check(bound(m, type, maxKl), minAgree);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"tiny-qwen3-f32", "tiny-qwen3moe-f32", "made:qwen3-tied", "made:qwen3moe-wide"})
    void greedyTokensMatchLlamaCpp(String name) throws Exception {
        LlamaCppReference.checkGreedy(file(name), PROMPTS[0], 16);
    }

    /**
     * The engine's forward pass over several sequences in one step (their KV blocks interleaved in one paged pool, every
     * position's logits), each sequence's logits against llama.cpp's for its prompt alone.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"tiny-qwen3-f32,1e-4,0.98", "tiny-qwen3-q8_0,1e-2,0.95", "tiny-qwen3moe-f32,1e-4,0.98",
            "tiny-qwen3moe-q8_0,1e-2,0.95", "made:qwen3moe-wide-q4_0,1e-2,0.95"})
    void batchedStepMatchesLlamaCpp(String name, double maxKl, double minAgree) throws Exception {
        Path m = file(name);
        int n = PROMPTS.length, bs = 8, perSeq = 16;
        LlamaCppReference.RefLogits[] ref = new LlamaCppReference.RefLogits[n];
        for (int i = 0; i < n; i++) ref[i] = LlamaCppReference.refLogits(m, PROMPTS[i], tmp.resolve("ref" + i + ".f32"));
        double bound = bound(m, name, maxKl);
        try (GgufFile f = GgufFile.open(m); Kernels k = KernelsProvider.create(Backend.NATIVE, 2)) {
            ModelWeights w = ModelWeights.load(f);
            w.pack(k);
            int vocab = w.vocabSize(), total = 0;
            for (LlamaCppReference.RefLogits r : ref) total += r.ids().length;
            try (KvCache kv = w.newKvCache(n * perSeq, bs, GgmlType.F16); ForwardPass fp = w.newForward(k, total);
                 ForwardBatch b = new ForwardBatch(total, n, n * perSeq, total, vocab)) {
                int[] first = new int[n];
                for (int i = 0; i < n; i++) {
                    int[] table = new int[perSeq];
                    for (int j = 0; j < perSeq; j++) table[j] = i + j * n; // sequence i owns blocks i, i + n, ...
                    first[i] = b.add(ref[i].ids(), 0, ref[i].ids().length, 0, table, bs, 2);
                }
                fp.forward(b, kv);
                for (int i = 0; i < n; i++) {
                    int rows = ref[i].ids().length;
                    float[] ours = new float[rows * vocab];
                    MemorySegment.copy(b.logits(), ValueLayout.JAVA_FLOAT_UNALIGNED, 4L * first[i] * vocab, ours, 0, rows * vocab);
                    LlamaCppReference.Agreement a = LlamaCppReference.agreement(ref[i].logits(), ours, rows, vocab);
                    System.out.printf("conformance %s batched step, sequence %d of %d: %d positions, mean KL %.2e, clear argmax %d/%d%n",
                            m.getFileName(), i, n, rows, a.meanKl(), a.agree(), a.clear());
                    a.check(bound, minAgree);
                }
            }
        }
    }

    /**
     * Several greedy requests through the serving engine at once (a small token budget, so prompt chunks and decode
     * tokens of different sequences share steps): each one's tokens are llama.cpp's for its prompt alone.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"tiny-qwen3moe-f32", "made:qwen3moe-wide-f32"})
    void engineGreedyMatchesLlamaCpp(String name) throws Exception {
        Path m = file(name);
        int gen = 16;
        int[][][] ref = new int[PROMPTS.length][][];
        for (int i = 0; i < PROMPTS.length; i++) ref[i] = LlamaCppReference.refGreedy(m, PROMPTS[i], gen);
        try (Model model = Model.load(m, Model.Options.defaults().withThreads(2));
             Engine e = model.newEngine(Engine.Config.defaults().withMaxSequences(PROMPTS.length).withTokenBudget(16).withBlockSize(8))) {
            List<RequestHandle> hs = new ArrayList<>();
            for (int i = 0; i < PROMPTS.length; i++) {
                int[] ids = model.tokenizer().encode(PROMPTS[i]);
                assertArrayEquals(ref[i][0], ids, "tokenization of prompt " + i + " differs from llama.cpp");
                hs.add(e.submit(GenerationRequest.of(ids, gen, SamplingParams.greedy())));
            }
            for (int i = 0; i < PROMPTS.length; i++) {
                Generation g = hs.get(i).join();
                assertArrayEquals(ref[i][1], g.tokens(), m.getFileName() + ": greedy tokens of prompt " + i + " through the engine");
            }
        }
    }

    /** F32/F16 bound as given; quantized MoE: at least twice llama.cpp's own spread on the file. */
    private double bound(Path m, String name, double maxKl) throws Exception {
        boolean quantMoe = m.getFileName().toString().contains("moe") && !name.endsWith("f32") && !name.endsWith("f16");
        return quantMoe ? Math.max(maxKl, 2 * LlamaCppReference.llamaCppSelfKl(m, PROMPTS[0], tmp)) : maxKl;
    }

    /** A toolkit fixture, or "made:BASE[-TYPE]" (default f32) for a variant written here. */
    static Path file(String name) throws Exception {
        if (!name.startsWith("made:")) return LlamaCppReference.fixture(name);
        String spec = name.substring(5);
        int dash = spec.lastIndexOf('-');
        String type = spec.substring(dash + 1);
        return type.matches("f32|f16|q8_0|q4_0") ? made(spec.substring(0, dash), type) : made(spec, "f32");
    }

    /**
     * The toolkit's two F32 fixtures quantized otherwise than setup.sh does, or make_tiny_gguf.py's variants: a tied head
     * and a wider MoE. The
     * wider MoE's seed is one without an expert near-tie on these prompts: with seed 11 llama.cpp's own two attention
     * modes differ by a mean KL of 1.4e-3 on the F32 file (and so do we from either), its 13th greedy token flips.
     */
    static Path made(String base, String type) throws Exception {
        if (base.equals("qwen3") || base.equals("qwen3moe")) {
            return LlamaCppReference.quantized(LlamaCppReference.fixture("tiny-" + base + "-f32"), type, "tiny-" + base);
        }
        List<String> args = switch (base) {
            case "qwen3-tied" -> List.of("--n-embd", "256", "--n-head", "8", "--n-head-kv", "2", "--tied", "--embd-scale", "0.1875",
                    "--resid-scale", "4", "--seed", "7");
            case "qwen3moe-wide" -> List.of("--n-embd", "256", "--n-head", "4", "--n-head-kv", "1", "--head-dim", "48",
                    "--n-expert", "16", "--n-expert-used", "4", "--n-ff-exp", "64", "--n-layer", "3", "--seed", "12");
            default -> throw new IllegalArgumentException(base);
        };
        String arch = base.startsWith("qwen3moe") ? "qwen3moe" : "qwen3";
        return LlamaCppReference.made(base, type, arch, "ggml-vocab-qwen2.gguf", args);
    }
}
