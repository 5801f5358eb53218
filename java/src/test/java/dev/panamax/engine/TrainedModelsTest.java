package dev.panamax.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamax.Model;
import dev.panamax.Session;
import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufMetadata;
import dev.panamax.gguf.GgufTensor;
import dev.panamax.gguf.GgufWriter;
import dev.panamax.Backend;
import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.KernelsProvider;
import dev.panamax.model.DeepseekForward;
import dev.panamax.model.DeepseekWeights;
import dev.panamax.model.ForwardBatch;
import dev.panamax.model.KvCache;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The models trained in this repository (models/, see models/MODEL_CARD.md) against the PyTorch model that made them
 * and against llama.cpp: the three-way check. The fixture beside each file holds PyTorch's logits of a held-out
 * passage, computed in float64 from the F16-rounded weights, i.e. from exactly the values the F16 file stores; the
 * F32 case runs an exact F32 copy of that file. The PyTorch comparison always runs; the llama.cpp ones when the
 * reference toolkit is installed (see {@link LlamaCppReference}).
 */
class TrainedModelsTest {

    static final Path MODELS = Path.of(System.getProperty("panamax.models.dir",
            System.getProperty("panamax.source.root", "..") + "/models"));
    static final String GREEDY_PROMPT = "And God said";

    @TempDir
    Path tmp;

    record Fixture(String prompt, int[] tokens, int nVocab, float[] logits) {
        static Fixture load(String name) throws Exception {
            JsonNode j = new ObjectMapper().readTree(MODELS.resolve(name + ".heldout.json").toFile());
            int[] ids = new int[j.get("tokens").size()];
            for (int i = 0; i < ids.length; i++) ids[i] = j.get("tokens").get(i).asInt();
            float[] l = LlamaCppReference.floats(MODELS.resolve(name + ".heldout.logits"));
            int v = j.get("n_vocab").asInt();
            assertEquals((long) ids.length * v, l.length, "fixture logits are [n_tokens][n_vocab]");
            return new Fixture(j.get("prompt").asText(), ids, v, l);
        }
    }

    static Path f16(String name) {
        Path p = MODELS.resolve(name + "-f16.gguf");
        assertTrue(Files.isRegularFile(p), "committed model missing: " + p.toAbsolutePath().normalize());
        return p;
    }

    /** SentencePiece's ids (saved by the training script) are what Panamax's SPM tokenizer produces from the text. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"kjv-llama-4.6m", "kjv-deepseek2-7.1m", "kjv-llama-draft-0.9m", "kjv-llama-draft-0.9m-kd"})
    void tokenizerMatchesSentencePiece(String name) throws Exception {
        Fixture fx = Fixture.load(name);
        try (Model m = Model.load(f16(name))) {
            assertArrayEquals(fx.tokens(), m.tokenizer().encode(fx.prompt()));
            assertEquals(fx.nVocab(), m.vocabSize());
        }
    }

    /**
     * 74 strings (held-out verses and edge cases: spacing, newlines, digits, characters outside the corpus that take the
     * byte fallback) tokenized by SentencePiece itself when the tokenizer was made (models/tokenizer/kjv-4k.cases.json),
     * against Panamax reading the vocabulary from each GGUF file.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"kjv-llama-4.6m", "kjv-deepseek2-7.1m", "kjv-llama-draft-0.9m", "kjv-llama-draft-0.9m-kd"})
    void tokenizerMatchesSentencePieceOnTestStrings(String name) throws Exception {
        JsonNode cases = new ObjectMapper().readTree(MODELS.resolve("tokenizer/kjv-4k.cases.json").toFile());
        assertTrue(cases.size() >= 70, "cases: " + cases.size());
        try (Model m = Model.load(f16(name))) {
            for (JsonNode c : cases) {
                int[] want = new int[c.get("ids").size()];
                for (int i = 0; i < want.length; i++) want[i] = c.get("ids").get(i).asInt();
                String text = c.get("text").asText();
                assertArrayEquals(want, m.tokenizer().encode(text, false), "tokens of " + text);
                assertEquals(text, m.tokenizer().decode(want), "decoding round-trips");
            }
        }
    }

    /**
     * Panamax's logits against PyTorch's. Also checks that the weights are trained: the fixture's own cross-entropy on
     * the held-out passage is far below a uniform guess over the vocabulary (ln 4096 = 8.3 nats).
     */
    @ParameterizedTest(name = "{0} {1} {2}")
    @CsvSource({"kjv-llama-4.6m,f16,native", "kjv-llama-4.6m,f32,native", "kjv-llama-4.6m,f16,java",
            "kjv-deepseek2-7.1m,f16,native", "kjv-deepseek2-7.1m,f32,native", "kjv-deepseek2-7.1m,f16,java",
            "kjv-llama-draft-0.9m,f16,native", "kjv-llama-draft-0.9m,f32,native", "kjv-llama-draft-0.9m-kd,f16,native"})
    void logitsMatchPyTorch(String name, String type, String backend) throws Exception {
        Fixture fx = Fixture.load(name);
        Path file = type.equals("f32") ? upcastToF32(f16(name), tmp.resolve(name + "-f32.gguf")) : f16(name);
        float[] ours;
        try (Model m = Model.load(file, Model.Options.defaults().withBackend(Backend.parse(backend)).withThreads(2));
             Session s = m.newSession(256)) {
            ours = s.promptLogits(fx.tokens());
        }
        int v = fx.nVocab(), n = fx.tokens().length;
        double kl = 0, xent = 0;
        int agree = 0;
        for (int r = 0; r < n; r++) {
            kl += LlamaCppReference.kl(fx.logits(), ours, r * v, v);
            if (LlamaCppReference.argmax(fx.logits(), r * v, v) == LlamaCppReference.argmax(ours, r * v, v)) agree++;
            if (r + 1 < n) xent += crossEntropy(fx.logits(), r * v, v, fx.tokens()[r + 1]);
        }
        kl /= n;
        xent /= n - 1;
        System.out.printf("trained %s %s %s vs PyTorch: %d positions, mean KL %.2e, argmax %d/%d, fixture xent %.2f%n",
                name, type, backend, n, kl, agree, n, xent);
        assertTrue(kl <= 1e-4, "mean KL " + kl + " > 1e-4");
        assertTrue(agree >= n - 1, "argmax agrees at " + agree + "/" + n);
        assertTrue(xent < 6.0, "held-out cross-entropy " + xent + " nats: the weights look untrained");
    }

    /**
     * The deepseek2 file's multi-token-prediction (nextn) layer against PyTorch: the trunk runs the fixture passage,
     * then the MTP layer runs on its hidden states, row i pairing h_i with token i+1, and its logits for token i+2
     * are compared with PyTorch's (NAME.mtp.logits, float64 from
     * the F16-rounded weights). Also checks that the layer is trained: its cross-entropy on the passage's t+2 is far
     * below a uniform guess.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"native", "java"})
    void mtpLayerMatchesPyTorch(String backend) throws Exception {
        String name = "kjv-deepseek2-7.1m";
        Fixture fx = Fixture.load(name);
        int v = fx.nVocab(), n = fx.tokens().length, rows = n - 1, block = 64, blocks = (n + block - 1) / block;
        float[] want = LlamaCppReference.floats(MODELS.resolve(name + ".mtp.logits"));
        assertEquals((long) rows * v, want.length, "MTP fixture logits are [n_tokens - 1][n_vocab]");
        int[] table = new int[blocks];
        for (int i = 0; i < blocks; i++) table[i] = i;
        float[] ours = new float[rows * v];
        try (GgufFile f = GgufFile.open(f16(name)); Kernels k = KernelsProvider.create(Backend.parse(backend), 2)) {
            DeepseekWeights w = DeepseekWeights.load(f);
            assertEquals(1, w.nextn.length, "the file has one nextn layer");
            assertEquals(f.metadata().getInt("deepseek2.block_count") - 1, w.config.nLayer(), "the trunk is the blocks before the MTP layer");
            try (KvCache kv = w.newKvCache(blocks, block, GgmlType.F32);
                 KvCache mtpKv = DeepseekForward.newMtpCache(w.config, blocks, block, GgmlType.F32);
                 DeepseekForward fp = w.newForward(k, n); ForwardBatch b = new ForwardBatch(n, 1, blocks, n, v)) {
                b.add(fx.tokens(), 0, n, 0, table, block, 0);
                fp.forward(b, kv);
                b.clear();
                b.add(fx.tokens(), 1, rows, 0, table, block, 2); // rows (h_i, t_(i+1)) at MTP positions i
                fp.forwardMtp(0, b, mtpKv, fp.hidden());
                MemorySegment.copy(b.logits(), ValueLayout.JAVA_FLOAT, 0, ours, 0, rows * v);
            }
        }
        double kl = 0, xent = 0;
        int agree = 0;
        for (int r = 0; r < rows; r++) {
            kl += LlamaCppReference.kl(want, ours, r * v, v);
            if (LlamaCppReference.argmax(want, r * v, v) == LlamaCppReference.argmax(ours, r * v, v)) agree++;
            if (r + 2 < n) xent += crossEntropy(want, r * v, v, fx.tokens()[r + 2]);
        }
        kl /= rows;
        xent /= rows - 1;
        System.out.printf("trained %s MTP layer %s vs PyTorch: %d rows, mean KL %.2e, argmax %d/%d, fixture t+2 xent %.2f%n",
                name, backend, rows, kl, agree, rows, xent);
        assertTrue(kl <= 1e-4, "mean KL " + kl + " > 1e-4");
        assertTrue(agree >= rows - 1, "argmax agrees at " + agree + "/" + rows);
        assertTrue(xent < 7.0, "t+2 cross-entropy " + xent + " nats: the MTP layer looks untrained");
    }

    /** llama.cpp's logits for the same passage from the same file (tokenization checked on the way). */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"kjv-llama-4.6m", "kjv-deepseek2-7.1m", "kjv-llama-draft-0.9m", "kjv-llama-draft-0.9m-kd"})
    void logitsMatchLlamaCpp(String name) throws Exception {
        LlamaCppReference.assumePresent();
        Fixture fx = Fixture.load(name);
        LlamaCppReference.compareLogits(f16(name), fx.prompt(), Backend.NATIVE, tmp).check(1e-4, 0.98);
    }

    /** On trained weights near-ties are rare, so 64 greedy tokens must come out identical to llama.cpp's. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"kjv-llama-4.6m", "kjv-deepseek2-7.1m", "kjv-llama-draft-0.9m", "kjv-llama-draft-0.9m-kd"})
    void greedyMatchesLlamaCpp(String name) throws Exception {
        LlamaCppReference.assumePresent();
        LlamaCppReference.checkGreedy(f16(name), GREEDY_PROMPT, 64);
    }

    static double crossEntropy(float[] logits, int off, int n, int target) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int i = 0; i < n; i++) max = Math.max(max, logits[off + i]);
        for (int i = 0; i < n; i++) sum += Math.exp(logits[off + i] - max);
        return Math.log(sum) + max - logits[off + target];
    }

    /** An exact F32 copy of an F16 file (every F16 value is an F32 value): the F32 path on the committed weights. */
    static Path upcastToF32(Path src, Path out) throws Exception {
        try (GgufFile f = GgufFile.open(src); Arena arena = Arena.ofConfined()) {
            GgufMetadata md = f.metadata();
            GgufWriter w = new GgufWriter();
            for (String key : md.keys()) w.put(key, md.typeOf(key), key.equals("general.file_type") ? (Object) 0L : md.get(key));
            for (GgufTensor t : f.tensors()) {
                if (t.type() != GgmlType.F16) {
                    w.addTensor(t.name(), t.type(), t.shape(), t.data());
                    continue;
                }
                long n = 1;
                for (long d : t.shape()) n *= d;
                MemorySegment dst = arena.allocate(4 * n, 64);
                MemorySegment srcData = t.data();
                for (long i = 0; i < n; i++) {
                    short h = srcData.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i);
                    dst.setAtIndex(ValueLayout.JAVA_FLOAT, i, Float.float16ToFloat(h));
                }
                w.addTensor(t.name(), GgmlType.F32, t.shape(), dst);
            }
            w.write(out);
        }
        return out;
    }
}
