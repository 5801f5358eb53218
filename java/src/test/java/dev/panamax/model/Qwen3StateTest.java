package dev.panamax.model;

import static dev.panamax.model.StateHarness.assertClose;
import static org.junit.jupiter.api.Assertions.*;

import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufFormatException;
import dev.panamax.gguf.GgufMetadata;
import dev.panamax.gguf.GgufTensor;
import dev.panamax.gguf.GgufWriter;
import dev.panamax.Backend;
import dev.panamax.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * qwen3 (per-head Q/K RMS norms, head size other than dim / heads) and qwen3moe (the same attention, every feed-forward
 * routed experts) on tiny random models written here: config, batch = token by token, backends agree, the Q/K norms
 * and the routing reach the logits, and malformed files fail with a GgufFormatException that names the problem.
 * Agreement with llama.cpp itself: {@code dev.panamax.engine.Qwen3ConformanceTest}.
 */
class Qwen3StateTest {

    @TempDir
    static Path dir;

    static final int[] PROMPT = LlamaStateTest.PROMPT;

    @Test
    void configFromMetadata() throws Exception {
        try (GgufFile f = GgufFile.open(TinyModels.write(dir, "qwen3", GgmlType.F32, true, 5))) {
            LlamaWeights w = LlamaWeights.load(f);
            LlamaConfig c = w.config;
            assertEquals(TinyModels.QWEN3_HEAD_DIM, c.headDimK());
            assertEquals(TinyModels.QWEN3_HEAD_DIM, c.headDimV());
            assertEquals(TinyModels.QWEN3_HEAD_DIM, c.nRot());
            assertTrue(c.rope().neox(), "qwen3 uses NeoX rope");
            assertTrue(c.qkNorm());
            assertFalse(c.moe());
            assertTrue(w.tiedOutput());
            assertNotNull(w.layers[1].qNorm());
            assertNull(w.layers[1].bq());
            assertEquals((long) TinyModels.LAYERS * TinyModels.KV_HEADS * TinyModels.QWEN3_HEAD_DIM * 2 * 2, w.kvBytesPerToken(GgmlType.F16));
        }
        try (GgufFile f = GgufFile.open(TinyModels.write(dir, "qwen3moe", GgmlType.Q8_0, false, 5))) {
            LlamaWeights w = LlamaWeights.load(f);
            LlamaConfig c = w.config;
            assertTrue(c.moe());
            assertEquals(TinyModels.EXPERTS, c.nExpert());
            assertEquals(TinyModels.EXPERTS_USED, c.nExpertUsed());
            assertEquals(TinyModels.FFN_EXP, c.ffnExpDim());
            assertNull(w.layers[0].gate());
            assertEquals(TinyModels.EXPERTS * TinyModels.FFN_EXP, w.layers[0].gateExps().rows());
            assertFalse(w.tiedOutput());
        }
    }

    @ParameterizedTest
    @CsvSource({"qwen3,F32,false", "qwen3,Q8_0,true", "qwen3moe,F32,false", "qwen3moe,Q4_0,true"})
    void batchEqualsTokenByToken(String arch, GgmlType type, boolean tied) throws Exception {
        Path m = TinyModels.write(dir, arch, type, tied, 7);
        float[] whole = LlamaStateTest.run(m, Backend.JAVA, 64, GgmlType.F32, PROMPT);
        assertClose(whole, LlamaStateTest.run(m, Backend.JAVA, 1, GgmlType.F32, PROMPT), 1e-3f, "batch vs token-by-token");
        assertClose(whole, LlamaStateTest.run(m, Backend.JAVA, 5, GgmlType.F32, PROMPT), 1e-3f, "batch vs batches of 5");
    }

    @ParameterizedTest
    @CsvSource({"qwen3,F32", "qwen3,Q8_0", "qwen3moe,F32", "qwen3moe,Q4_0"})
    void backendsAgree(String arch, GgmlType type) throws Exception {
        Path m = TinyModels.write(dir, arch, type, false, 11);
        float[] java = LlamaStateTest.run(m, Backend.JAVA, 8, GgmlType.F16, PROMPT);
        assertClose(java, LlamaStateTest.run(m, Backend.NATIVE, 8, GgmlType.F16, PROMPT), 2e-2f, "java vs native");
    }

    /** The Q/K norms' weights are applied: scaling attn_q_norm of one layer by 3 sharpens its attention and moves the logits. */
    @Test
    void qkNormsReachTheLogits() throws Exception {
        Path m = TinyModels.write(dir, "qwen3", GgmlType.F32, false, 21);
        Path scaled = rewrite(m, "qk-scaled", Map.of(), "blk.1.attn_q_norm.weight", 3f, -1);
        float[] a = LlamaStateTest.run(m, Backend.JAVA, 8, GgmlType.F32, PROMPT);
        float[] b = LlamaStateTest.run(scaled, Backend.JAVA, 8, GgmlType.F32, PROMPT);
        float d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
        assertTrue(d > 1e-2, "scaling attn_q_norm should change the logits, max diff " + d);
    }

    /** A router that prefers other experts changes the output: the routing is not a fixed choice. */
    @Test
    void routingReachesTheLogits() throws Exception {
        Path m = TinyModels.write(dir, "qwen3moe", GgmlType.F32, false, 23);
        Path flipped = rewrite(m, "router-neg", Map.of(), "blk.0.ffn_gate_inp.weight", -1f, -1);
        float[] a = LlamaStateTest.run(m, Backend.NATIVE, 8, GgmlType.F32, PROMPT);
        float[] b = LlamaStateTest.run(flipped, Backend.NATIVE, 8, GgmlType.F32, PROMPT);
        float d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
        assertTrue(d > 1e-2, "another expert choice should change the logits, max diff " + d);
    }

    @ParameterizedTest
    @ValueSource(strings = {"blk.1.attn_q_norm.weight", "blk.0.attn_k_norm.weight"})
    void missingQkNormIsNamed(String tensor) throws Exception {
        Path m = TinyModels.write(dir, "qwen3", GgmlType.F32, false, 1, tensor);
        assertLoadFails(m, "missing tensor '" + tensor + "'");
    }

    @Test
    void malformedFilesFailClearly() throws Exception {
        Path q3 = TinyModels.write(dir, "qwen3", GgmlType.F32, false, 1);
        Path moe = TinyModels.write(dir, "qwen3moe", GgmlType.F32, false, 1);
        int hd = TinyModels.QWEN3_HEAD_DIM;
        // a Q norm of the model width (as if norming all heads together) instead of one head's
        assertLoadFails(rewrite(q3, "qnorm-wide", Map.of(), "blk.0.attn_q_norm.weight", 1f, TinyModels.DIM),
                "blk.0.attn_q_norm.weight", "expected [" + hd + "]");
        // a K norm of one head of a different size
        assertLoadFails(rewrite(q3, "knorm-narrow", Map.of(), "blk.1.attn_k_norm.weight", 1f, hd - 8),
                "blk.1.attn_k_norm.weight", "expected [" + hd + "]");
        // key_length that contradicts the tensors
        assertLoadFails(rewrite(q3, "keylen", Map.of("qwen3.attention.key_length", 32, "qwen3.attention.value_length", 32), null, 0, 0),
                "attn_q.weight");
        // key and value lengths that differ (llama.cpp's qwen3 graph asserts they are equal)
        assertLoadFails(rewrite(q3, "kv-differ", Map.of("qwen3.attention.value_length", 16), null, 0, 0),
                "key_length 24, value_length 16");
        // expert counts that contradict the tensors or each other
        assertLoadFails(rewrite(moe, "more-experts", Map.of("qwen3moe.expert_count", TinyModels.EXPERTS + 2), null, 0, 0),
                "blk.0.ffn_gate_inp.weight");
        assertLoadFails(rewrite(moe, "ffexp", Map.of("qwen3moe.expert_feed_forward_length", 48), null, 0, 0),
                "blk.0.ffn_gate_exps.weight");
        assertLoadFails(rewrite(moe, "used-too-many", Map.of("qwen3moe.expert_used_count", TinyModels.EXPERTS + 1), null, 0, 0),
                "expert_used_count 5 must be in 1..4");
        assertLoadFails(rewrite(moe, "no-experts", Map.of("qwen3moe.expert_count", 0), null, 0, 0),
                "qwen3moe.expert_count must be positive");
    }

    static void assertLoadFails(Path m, String... parts) throws IOException {
        try (GgufFile f = GgufFile.open(m)) {
            GgufFormatException e = assertThrows(GgufFormatException.class, () -> ModelWeights.load(f));
            for (String p : parts) assertTrue(e.getMessage().contains(p), "'" + e.getMessage() + "' should name " + p);
        }
    }

    /**
     * A copy of {@code src} with the given UINT32 keys set and, when {@code tensor} is not null, that F32 tensor's
     * values multiplied by {@code scale} (or, with {@code width} > 0, replaced by a vector of that many ones).
     */
    static Path rewrite(Path src, String tag, Map<String, Integer> keys, String tensor, float scale, int width) throws IOException {
        Path out = dir.resolve(src.getFileName().toString().replace(".gguf", "-" + tag + ".gguf"));
        try (GgufFile f = GgufFile.open(src); Arena arena = Arena.ofConfined()) {
            GgufMetadata md = f.metadata();
            GgufWriter w = new GgufWriter();
            for (String key : md.keys()) w.put(key, md.typeOf(key), md.get(key));
            keys.forEach(w::putUInt32);
            for (GgufTensor t : f.tensors()) {
                if (!t.name().equals(tensor)) {
                    w.addTensor(t.name(), t.type(), t.shape(), t.data());
                } else if (width > 0) {
                    MemorySegment v = arena.allocate(4L * width, 64);
                    for (int i = 0; i < width; i++) v.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, 1f);
                    w.addTensor(t.name(), GgmlType.F32, new long[] {width}, v);
                } else {
                    assertEquals(GgmlType.F32, t.type());
                    MemorySegment v = arena.allocate(t.data().byteSize(), 64);
                    for (long i = 0; i < t.elementCount(); i++) {
                        v.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, scale * t.data().getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i));
                    }
                    w.addTensor(t.name(), t.type(), t.shape(), v);
                }
            }
            w.write(out);
        }
        return out;
    }
}
