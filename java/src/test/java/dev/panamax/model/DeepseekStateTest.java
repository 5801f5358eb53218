package dev.panamax.model;

import static dev.panamax.model.StateHarness.assertClose;
import static dev.panamax.model.StateHarness.feed;
import static dev.panamax.model.StateHarness.nativeAvailable;
import static org.junit.jupiter.api.Assertions.*;

import dev.panamax.ContextOverflowException;
import dev.panamax.Model;
import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufFormatException;
import dev.panamax.Backend;
import dev.panamax.kernels.Kernels;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The deepseek2 forward pass (absorbed MLA + MoE) on tiny random models written by {@link TinyDeepseek}: against an
 * independent double-precision reference in the expanded MLA form ({@link DeepseekReference}), batch = token by token,
 * backends agree, F16 cache close to F32, KV cache size by the MLA formula, errors.
 */
class DeepseekStateTest {

    @TempDir
    static Path dir;

    static final int[] PROMPT = {1, 262, 263, 299, 5, 270, 42, 280, 290, 261, 3, 200, 17, 33};
    static final TinyDeepseek.Options BASE = TinyDeepseek.Options.defaults();

    static Kernels kernels(Backend b) {
        return StateHarness.kernels(b, b == Backend.NATIVE ? 2 : 1);
    }

    /** Logits [n][vocab] of the tokens run in batches of {@code batch}. */
    static float[] run(Path model, Backend backend, int batch, GgmlType kv, int[] tokens) throws Exception {
        return StateHarness.run(model, () -> kernels(backend), TinyDeepseek.CTX, batch, kv, tokens);
    }

    static float[] lastLogits(ModelState s) {
        float[] l = new float[s.vocabSize()];
        MemorySegment.copy(s.logits(), ValueLayout.JAVA_FLOAT, 0, l, 0, l.length);
        return l;
    }

    static Stream<Arguments> variants() {
        return Stream.of(
                Arguments.of("q_lora, softmax", BASE),
                Arguments.of("V2-Lite: no q_lora, softmax", BASE.v2Lite().withSeed(2)),
                Arguments.of("V3: sigmoid + bias + groups + norm + scale", BASE.v3().withSeed(3)),
                Arguments.of("no q_lora, sigmoid + groups 2/1, no shared, tied", BASE.withQLora(false).withGating(true, true)
                        .withGroups(2, 1).withShared(0).withNorm(true, 1f).withTied(true).withSeed(4)),
                Arguments.of("all MoE, 2 shared experts, softmax + norm", BASE.withLayers(2, 0).withShared(2).withNorm(true, 1.5f).withSeed(5)));
    }

    // ---------------------------------------------------------------- the key test: absorbed vs expanded

    /**
     * DeepseekState (absorbed MLA, F32 weights and cache, float arithmetic) against the expanded double reference. Bound:
     * max |diff| <= 1e-5 × (logit range + 1) over every position (measured: 2e-6 to 6e-6 for ranges of 20 to 92;
     * a wrong head layout, RoPE pairing, routing rule or scale is O(range)).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("variants")
    void absorbedMatchesExpandedReference(String name, TinyDeepseek.Options o) throws Exception {
        Path m = TinyDeepseek.write(dir, o);
        double[][] ref = DeepseekReference.logits(m, o, PROMPT);
        for (Backend b : new Backend[] {Backend.JAVA, Backend.NATIVE}) {
            if (b == Backend.NATIVE && !nativeAvailable()) continue;
            float[] got = run(m, b, 5, GgmlType.F32, PROMPT);
            double maxDiff = 0, lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
            for (int t = 0; t < PROMPT.length; t++) {
                for (int i = 0; i < TinyDeepseek.VOCAB; i++) {
                    double r = ref[t][i];
                    lo = Math.min(lo, r);
                    hi = Math.max(hi, r);
                    maxDiff = Math.max(maxDiff, Math.abs(r - got[t * TinyDeepseek.VOCAB + i]));
                }
            }
            double bound = 1e-5 * (hi - lo + 1);
            System.out.printf("absorbed vs expanded, %s, %s: max |diff| %.3g, logit range %.3g%n", name, b, maxDiff, hi - lo);
            assertTrue(hi - lo > 1, "logits are not degenerate: range " + (hi - lo));
            assertTrue(maxDiff <= bound, name + " " + b + ": max |diff| " + maxDiff + " > " + bound + " (range " + (hi - lo) + ")");
        }
    }

    /** The reference is sharp enough to tell a RoPE pairing error: NeoX pairs move the logits far beyond the bound above. */
    @Test
    void referenceTellsRopePairings() throws Exception {
        Path m = TinyDeepseek.write(dir, BASE);
        double[][] adj = DeepseekReference.logits(m, BASE, PROMPT), neox = DeepseekReference.logits(m, BASE, PROMPT, true);
        double max = 0;
        for (int t = 0; t < PROMPT.length; t++) for (int i = 0; i < TinyDeepseek.VOCAB; i++) max = Math.max(max, Math.abs(adj[t][i] - neox[t][i]));
        assertTrue(max > 1e-2, "NeoX vs adjacent pairs differ by only " + max);
        // position 0 does not rotate: identical there
        for (int i = 0; i < TinyDeepseek.VOCAB; i++) assertEquals(adj[0][i], neox[0][i], 1e-9);
    }

    // ---------------------------------------------------------------- consistency

    @ParameterizedTest(name = "{0}")
    @MethodSource("variants")
    void batchEqualsTokenByTokenAndIsDeterministic(String name, TinyDeepseek.Options o) throws Exception {
        Path m = TinyDeepseek.write(dir, o);
        float[] whole = run(m, Backend.JAVA, 64, GgmlType.F32, PROMPT);
        for (int batch : new int[] {1, 3, 7}) {
            assertClose(whole, run(m, Backend.JAVA, batch, GgmlType.F32, PROMPT), 1e-3f, name + ": batch 64 vs " + batch);
        }
        assertClose(whole, run(m, Backend.JAVA, 64, GgmlType.F32, PROMPT), 1e-4f, name + ": same input, same logits");
        float d = 0;
        for (int i = 0; i < TinyDeepseek.VOCAB; i++) d += Math.abs(whole[i] - whole[TinyDeepseek.VOCAB + i]);
        assertTrue(d > 1e-2, "logits of positions 0 and 1 should differ");
    }

    @Test
    void quantizedBatchEqualsTokenByToken() throws Exception {
        Path m = TinyDeepseek.write(dir, BASE.v3().withType(GgmlType.Q8_0).withSeed(8));
        float[] whole = run(m, Backend.JAVA, 64, GgmlType.F16, PROMPT);
        assertClose(whole, run(m, Backend.JAVA, 1, GgmlType.F16, PROMPT), 1e-3f, "Q8_0: batch vs token by token");
    }

    @Test
    void backendsAgree() throws Exception {
        Assumptions.assumeTrue(nativeAvailable(), "native library unavailable");
        for (TinyDeepseek.Options o : new TinyDeepseek.Options[] {BASE.withType(GgmlType.F16), BASE.v3().withType(GgmlType.Q8_0).withSeed(9)}) {
            Path m = TinyDeepseek.write(dir, o);
            float[] java = run(m, Backend.JAVA, 4, GgmlType.F16, PROMPT);
            float[] nat = run(m, Backend.NATIVE, 4, GgmlType.F16, PROMPT);
            assertClose(java, nat, 2e-2f, o.type() + " java vs native");
            assertArrayEquals(nat, run(m, Backend.NATIVE, 4, GgmlType.F16, PROMPT), "native is bitwise deterministic");
        }
    }

    @Test
    void f16CacheIsCloseToF32Cache() throws Exception {
        Path m = TinyDeepseek.write(dir, BASE.v3().withSeed(6));
        assertClose(run(m, Backend.JAVA, 4, GgmlType.F32, PROMPT), run(m, Backend.JAVA, 4, GgmlType.F16, PROMPT), 2e-2f, "F16 vs F32 KV");
    }

    @Test
    void yarnFileRunsAndDiffersFromPlainRope() throws Exception {
        TinyDeepseek.Options o = BASE.withSeed(12);
        Path plain = TinyDeepseek.write(dir, o), yarn = TinyDeepseek.write(dir, o.withYarn(true));
        try (GgufFile f = GgufFile.open(yarn)) {
            DeepseekConfig c = DeepseekWeights.load(f).config;
            assertEquals(1f, c.rope().extFactor());
            assertEquals(1f / 40, c.rope().freqScale(), 1e-9);
            assertEquals(4096, c.rope().nCtxOrig());
            // mscale = 1 + 0.1 ln 40 (yarn_log_multiplier 0.1 read as mscale_all_dim 1): scale mscale² / sqrt(32)
            double ms = 1 + 0.1 * Math.log(40);
            assertEquals(ms * ms / Math.sqrt(TinyDeepseek.NOPE + TinyDeepseek.ROPE), c.kqScale(), 1e-5);
        }
        float[] a = run(plain, Backend.JAVA, 8, GgmlType.F32, PROMPT), b = run(yarn, Backend.JAVA, 8, GgmlType.F32, PROMPT);
        assertClose(b, run(yarn, Backend.JAVA, 1, GgmlType.F32, PROMPT), 1e-3f, "YaRN: batch vs token by token");
        float d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
        assertTrue(d > 1e-2, "YaRN changes the logits: " + d);
    }

    // ---------------------------------------------------------------- state handling

    @Test
    void errorsLeaveTheStateUsable() throws Exception {
        Path m = TinyDeepseek.write(dir, BASE.v3().withSeed(10));
        float[] expected = run(m, Backend.JAVA, 4, GgmlType.F32, new int[] {1, 2, 3, 4, 5, 6, 7, 8});
        try (GgufFile f = GgufFile.open(m); Kernels k = kernels(Backend.JAVA)) {
            DeepseekWeights w = DeepseekWeights.load(f);
            try (ModelState s = w.newState(k, 8, 4, GgmlType.F32)) {
                assertThrows(IllegalArgumentException.class, () -> s.forward(new int[] {1, TinyDeepseek.VOCAB}, 0, 2, false));
                assertThrows(IllegalArgumentException.class, () -> s.forward(new int[] {1, -1}, 0, 2, false));
                assertThrows(IllegalArgumentException.class, () -> s.forward(new int[] {1, 2, 3, 4, 5}, 0, 5, false));
                assertThrows(IllegalArgumentException.class, () -> s.forward(new int[] {1}, 0, 0, false));
                assertThrows(IndexOutOfBoundsException.class, () -> s.forward(new int[] {1, 2}, 1, 2, false));
                assertEquals(0, s.position(), "a rejected call appends nothing");
                float[] got = feed(s, new int[] {1, 2, 3, 4, 5, 6, 7}, 4);
                assertThrows(ContextOverflowException.class, () -> s.forward(new int[] {8, 9}, 0, 2, false));
                assertEquals(7, s.position());
                s.forward(new int[] {8}, 0, 1, false); // the last slot is still usable
                assertEquals(8, s.position());
                assertThrows(ContextOverflowException.class, () -> s.forward(new int[] {9}, 0, 1, false));
                float[] last = lastLogits(s);
                for (int i = 0; i < got.length; i++) assertEquals(expected[i], got[i], 1e-4f);
                for (int i = 0; i < last.length; i++) assertEquals(expected[7 * TinyDeepseek.VOCAB + i], last[i], 1e-4f);
                assertThrows(IllegalArgumentException.class, () -> s.truncate(9));
                assertThrows(IllegalArgumentException.class, () -> s.truncate(-1));
            }
            assertThrows(IllegalArgumentException.class, () -> w.newState(k, 0, 4, GgmlType.F16));
            assertThrows(IllegalArgumentException.class, () -> w.newState(k, 8, 0, GgmlType.F16));
            assertThrows(IllegalArgumentException.class, () -> w.newState(k, 8, 4, GgmlType.Q4_K));
        }
    }

    @Test
    void truncateAndRefeedGivesTheSameLogits() throws Exception {
        Path m = TinyDeepseek.write(dir, BASE.v2Lite().withSeed(11));
        try (GgufFile f = GgufFile.open(m); Kernels k = kernels(Backend.JAVA)) {
            DeepseekWeights w = DeepseekWeights.load(f);
            try (ModelState s = w.newState(k, 32, 8, GgmlType.F16)) {
                float[] first = feed(s, PROMPT, 8);
                int v = TinyDeepseek.VOCAB, cut = 6;
                // a different continuation after the cut overwrites the cache rows there
                s.truncate(cut);
                feed(s, new int[] {100, 101, 102, 103, 104, 105, 106}, 3);
                s.truncate(cut);
                int[] tail = java.util.Arrays.copyOfRange(PROMPT, cut, PROMPT.length);
                float[] again = feed(s, tail, 5);
                float[] want = java.util.Arrays.copyOfRange(first, cut * v, PROMPT.length * v);
                assertClose(want, again, 1e-3f, "refeed after truncate");
                s.truncate(0);
                assertClose(first, feed(s, PROMPT, 8), 1e-4f, "truncate(0) starts afresh");
            }
        }
    }

    // ---------------------------------------------------------------- KV cache size

    @Test
    void kvCacheIsTheLatentRowPerLayer() throws Exception {
        TinyDeepseek.Options o = BASE.v3();
        Path m = TinyDeepseek.write(dir, o);
        long f16 = (long) (TinyDeepseek.KV_LORA + TinyDeepseek.ROPE) * o.layers() * 2;
        try (GgufFile f = GgufFile.open(m); Kernels k = kernels(Backend.JAVA)) {
            DeepseekWeights w = DeepseekWeights.load(f);
            assertEquals(f16, w.kvBytesPerToken(GgmlType.F16));
            assertEquals(2 * f16, w.kvBytesPerToken(GgmlType.F32));
            assertEquals(TinyDeepseek.kvBytesPerToken(o, 2), w.kvBytesPerToken(GgmlType.F16));
            // the state holds exactly that cache, in whole blocks of 64 positions: resident bytes grow by
            // kvBytesPerToken per position of the rounded-up context (16 -> 64, 100 -> 128)
            for (GgmlType t : new GgmlType[] {GgmlType.F16, GgmlType.F32}) {
                long per = w.kvBytesPerToken(t);
                try (ModelState a = w.newState(k, 16, 8, t); ModelState b = w.newState(k, 100, 8, t)) {
                    assertEquals(64 * per, b.residentBytes() - a.residentBytes(), t + " cache");
                    assertTrue(a.residentBytes() > 16 * per);
                }
            }
        }
        try (Model model = Model.load(m, Model.Options.defaults().withBackend(Backend.JAVA))) {
            assertEquals("deepseek2", model.architecture());
            assertEquals(f16, model.kvBytesPerToken());
        }
        try (Model model = Model.load(m, Model.Options.defaults().withBackend(Backend.JAVA).withCacheType(dev.panamax.CacheType.F32))) {
            assertEquals(2 * f16, model.kvBytesPerToken());
        }
        // a latent row of 32 + 16 is not whole Q8_0 blocks: refused at load with llama.cpp's message
        IllegalArgumentException q = assertThrows(IllegalArgumentException.class, () -> Model.load(m,
                Model.Options.defaults().withBackend(Backend.JAVA).withCacheType(dev.panamax.CacheType.Q8_0)));
        assertEquals("K cache type q8_0 with block size 32 does not divide n_embd_head_k=48", q.getMessage());
        // llama.cpp's rule for an MLA cache: one latent row is key and value, so one type
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Model.load(m,
                Model.Options.defaults().withBackend(Backend.JAVA).withCacheTypes(dev.panamax.CacheType.Q8_0, dev.panamax.CacheType.F16)));
        assertEquals("model does not support different K (q8_0) and V (f16) cache types", e.getMessage());
    }

    @Test
    void configFromMetadata() throws Exception {
        TinyDeepseek.Options o = BASE.v3();
        try (GgufFile f = GgufFile.open(TinyDeepseek.write(dir, o))) {
            DeepseekWeights w = DeepseekWeights.load(f);
            DeepseekConfig c = w.config;
            assertEquals(TinyDeepseek.DIM, c.dim());
            assertEquals(TinyDeepseek.Q_LORA, c.qLora());
            assertEquals(TinyDeepseek.KV_LORA, c.kvLora());
            assertEquals(TinyDeepseek.NOPE, c.headDimNope());
            assertEquals(TinyDeepseek.ROPE, c.headDimRope());
            assertEquals(TinyDeepseek.V_HEAD, c.headDimV());
            assertEquals(DeepseekConfig.Gating.SIGMOID, c.gating());
            assertEquals(4, c.nGroups());
            assertEquals(2, c.nGroupsUsed());
            assertEquals(2.5f, c.expWeightsScale());
            assertTrue(c.expWeightsNorm());
            assertTrue(c.splitKvB());
            assertFalse(c.rope().neox(), "deepseek2 rotates adjacent pairs");
            assertEquals(1 / Math.sqrt(32), c.kqScale(), 1e-7);
            assertFalse(w.layers[0].moe());
            assertTrue(w.layers[1].moe());
            assertNotNull(w.layers[1].expProbsB());
            assertNotNull(w.layers[1].wqA());
            assertNull(w.layers[1].wq());
            assertFalse(w.tiedOutput());
            // every tensor's elements, counted independently from the shapes the fixture wrote
            long count = 0;
            for (var t : f.tensors()) count += t.elementCount();
            assertEquals(count, w.parameterCount());
        }
    }

    // ---------------------------------------------------------------- bad files

    static GgufFormatException loadError(TinyDeepseek.Options o) throws Exception {
        try (GgufFile f = GgufFile.open(TinyDeepseek.write(dir, o))) {
            return assertThrows(GgufFormatException.class, () -> ModelWeights.load(f));
        }
    }

    static void assertNames(GgufFormatException e, String... words) {
        for (String w : words) assertTrue(e.getMessage().contains(w), "'" + w + "' missing in: " + e.getMessage());
    }

    @Test
    void missingTensorsAreNamed() throws Exception {
        for (String t : new String[] {"blk.1.attn_k_b.weight", "blk.2.attn_v_b.weight", "blk.0.attn_q_b.weight",
                "blk.2.ffn_down_exps.weight", "blk.1.ffn_gate_inp.weight", "blk.2.ffn_up_shexp.weight", "blk.0.ffn_gate.weight",
                "blk.1.attn_kv_a_norm.weight", "output_norm.weight"}) {
            assertNames(loadError(BASE.omitting(t)), "missing", t);
        }
        assertNames(loadError(BASE.withQLora(false).omitting("blk.0.attn_q.weight")), "missing", "blk.0.attn_q.weight");
    }

    @Test
    void wrongShapesAreNamed() throws Exception {
        // per-head matrices transposed: same element count, wrong layout
        String kb = "blk.1.attn_k_b.weight", vb = "blk.2.attn_v_b.weight", de = "blk.1.ffn_down_exps.weight";
        assertNames(loadError(BASE.reshaping(kb, TinyDeepseek.KV_LORA, TinyDeepseek.NOPE, TinyDeepseek.HEADS)), kb, "shape");
        assertNames(loadError(BASE.reshaping(vb, TinyDeepseek.V_HEAD, TinyDeepseek.KV_LORA, TinyDeepseek.HEADS)), vb, "shape");
        // down experts written like gate/up
        assertNames(loadError(BASE.reshaping(de, TinyDeepseek.DIM, TinyDeepseek.FFN_EXP, TinyDeepseek.EXPERTS)), de, "shape");
        // one expert too few
        String ge = "blk.2.ffn_gate_exps.weight";
        assertNames(loadError(BASE.reshaping(ge, TinyDeepseek.DIM, TinyDeepseek.FFN_EXP, TinyDeepseek.EXPERTS - 1)), ge, "shape");
        String kva = "blk.0.attn_kv_a_mqa.weight";
        assertNames(loadError(BASE.reshaping(kva, TinyDeepseek.DIM, TinyDeepseek.KV_LORA)), kva, "shape");
        String bias = "blk.1.exp_probs_b.bias";
        assertNames(loadError(BASE.v3().reshaping(bias, TinyDeepseek.EXPERTS + 1)), bias, "shape");
    }

    @Test
    void badMetadataIsNamed() throws Exception {
        assertNames(loadError(BASE.withMeta(".expert_used_count", 9)), "expert_used_count");
        assertNames(loadError(BASE.withMeta(".expert_used_count", 0)), "expert_used_count");
        assertNames(loadError(BASE.withMeta(".expert_gating_func", 3)), "expert_gating_func", "3");
        // groups that do not divide the experts, single-expert groups, more groups used than exist
        assertNames(loadError(BASE.v3().withGroups(3, 1)), "expert groups");
        assertNames(loadError(BASE.v3().withGroups(8, 2)), "expert groups");
        assertNames(loadError(BASE.v3().withGroups(4, 5)), "expert groups");
        assertNames(loadError(BASE.withMeta(".leading_dense_block_count", 4)), "leading_dense_block_count");
        // MTP (nextn) layers are the last blocks: at least one trunk layer must remain, and the MTP block's nextn
        // tensors are required (blk.2 of this 3-block file is then an MTP layer without them)
        assertNames(loadError(BASE.withMeta(".nextn_predict_layers", 3)), "nextn_predict_layers");
        assertNames(loadError(BASE.withMeta(".nextn_predict_layers", 1)), "missing", "blk.2.nextn.eh_proj.weight");
        assertNames(loadError(BASE.withMeta(".attention.kv_lora_rank", "")), "kv_lora_rank");
        assertNames(loadError(BASE.withMeta(".rope.dimension_count", 15)), "rope.dimension_count");
        // q_lora tensors without the rank key
        assertNames(loadError(BASE.withMeta(".attention.q_lora_rank", "")), "q_lora_rank");
        // without the *_mla keys the file must have the older combined attn_kv_b (DeepseekConformanceTest runs one)
        assertNames(loadError(BASE.withMeta(".attention.key_length_mla", "").withMeta(".attention.value_length_mla", "")
                .withMeta(".attention.key_length", 32).withMeta(".attention.value_length", 16)), "missing tensor", "attn_kv_b");
    }
}
