package dev.panamax.model;

import static dev.panamax.model.StateHarness.assertClose;
import static org.junit.jupiter.api.Assertions.*;

import dev.panamax.ContextOverflowException;
import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufFormatException;
import dev.panamax.Backend;
import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.KernelsProvider;
import dev.panamax.kernels.ScalarKernels;
import dev.panamax.tensor.GgmlType;
import java.nio.file.Path;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The forward pass on tiny random models: shapes, determinism, batch = token-by-token, backends agree, errors. */
class LlamaStateTest {

    @TempDir
    static Path dir;

    static final int[] PROMPT = {1, 262, 263, 300 - 1, 5, 270, 42, 280, 290, 261, 3, 200};

    /** Logits [n][vocab] of the prompt run in batches of {@code batch}; a native run is skipped where the library is missing. */
    static float[] run(Path model, Backend backend, int batch, GgmlType kv, int[] tokens) throws Exception {
        return run(model, () -> StateHarness.kernels(backend, 1), batch, kv, tokens);
    }

    static float[] run(Path model, Supplier<Kernels> kernels, int batch, GgmlType kv, int[] tokens) throws Exception {
        return StateHarness.run(model, kernels, TinyModels.CTX, batch, kv, tokens);
    }

    @ParameterizedTest
    @CsvSource({"llama,F32,false", "llama,Q8_0,true", "qwen2,F16,false", "llama,Q4_0,false"})
    void batchEqualsTokenByTokenAndIsDeterministic(String arch, GgmlType type, boolean tied) throws Exception {
        Path m = TinyModels.write(dir, arch, type, tied, 7);
        float[] whole = run(m, Backend.JAVA, 64, GgmlType.F32, PROMPT);
        float[] single = run(m, Backend.JAVA, 1, GgmlType.F32, PROMPT);
        float[] mixed = run(m, Backend.JAVA, 5, GgmlType.F32, PROMPT);
        assertClose(whole, single, 1e-3f, "batch vs token-by-token");
        assertClose(whole, mixed, 1e-3f, "batch vs batches of 5");
        // The Java backend's results move in the last bits while the JIT replaces the Vector API's fallback code
        // with intrinsics (another summation order), hence a tolerance here and exact equality on native below.
        assertClose(whole, run(m, Backend.JAVA, 64, GgmlType.F32, PROMPT), 1e-4f, "java: same input, same logits");
        // logits are not degenerate: positions differ
        float d = 0;
        for (int i = 0; i < TinyModels.VOCAB; i++) d += Math.abs(whole[i] - whole[TinyModels.VOCAB + i]);
        assertTrue(d > 1e-2, "logits of positions 0 and 1 should differ");
    }

    @ParameterizedTest
    @CsvSource({"llama,F32", "llama,Q8_0", "qwen2,Q4_0"})
    void backendsAgree(String arch, GgmlType type) throws Exception {
        Path m = TinyModels.write(dir, arch, type, false, 11);
        float[] java = run(m, Backend.JAVA, 8, GgmlType.F16, PROMPT);
        assertClose(java, run(m, Backend.NATIVE, 8, GgmlType.F16, PROMPT), 2e-2f, "java vs native");
    }

    @Test
    void nativeIsBitwiseDeterministic() throws Exception {
        Path m = TinyModels.write(dir, "llama", GgmlType.Q8_0, false, 9);
        float[] a = run(m, Backend.NATIVE, 4, GgmlType.F16, PROMPT);
        assertArrayEquals(a, run(m, Backend.NATIVE, 4, GgmlType.F16, PROMPT));
    }

    /**
     * rope_freqs.weight (Llama 3.1): all factors 1 give bit for bit the logits of the file without it (scalar Java
     * and native), Llama 3.1-shaped factors load, reach every layer's RoPE and change the logits, alike on both
     * backends.
     */
    @Test
    void ropeFreqFactors() throws Exception {
        Path m = TinyModels.write(dir, "llama", GgmlType.F32, false, 13);
        int hd = TinyModels.DIM / TinyModels.HEADS;
        float[] onesF = new float[hd / 2];
        java.util.Arrays.fill(onesF, 1f);
        Path ones = TinyModels.withRopeFreqs(m, dir.resolve("rope-freqs-ones.gguf"), onesF);
        float[] ll31 = TinyModels.llama31Factors(hd, 10000f, 32);
        assertTrue(ll31[0] == 1f && ll31[hd / 2 - 1] == 8f, java.util.Arrays.toString(ll31));
        Path factors = TinyModels.withRopeFreqs(m, dir.resolve("rope-freqs-llama31.gguf"), ll31);
        try (GgufFile f = GgufFile.open(factors)) {
            LlamaWeights w = LlamaWeights.load(f);
            assertNotNull(w.ropeFreqs);
            assertEquals(hd / 2, w.ropeFreqs.elements());
        }
        try (GgufFile f = GgufFile.open(m)) {
            assertNull(LlamaWeights.load(f).ropeFreqs);
        }
        float[] plain = run(m, ScalarKernels::new, 5, GgmlType.F32, PROMPT);
        assertArrayEquals(plain, run(ones, ScalarKernels::new, 5, GgmlType.F32, PROMPT), "scalar: factors 1 vs none");
        float[] scaled = run(factors, ScalarKernels::new, 5, GgmlType.F32, PROMPT);
        float d = 0;
        for (int i = TinyModels.VOCAB; i < plain.length; i++) d = Math.max(d, Math.abs(plain[i] - scaled[i]));
        assertTrue(d > 1e-2, "factors should change the logits after position 0, max |diff| " + d);
        // position 0 does not rotate: factors cannot change it
        for (int i = 0; i < TinyModels.VOCAB; i++) assertEquals(plain[i], scaled[i], 1e-5f);
        assertClose(scaled, run(factors, Backend.JAVA, 64, GgmlType.F32, PROMPT), 1e-3f, "scalar vs java with factors");
        float[] nat = run(m, Backend.NATIVE, 5, GgmlType.F32, PROMPT);
        assertArrayEquals(nat, run(ones, Backend.NATIVE, 5, GgmlType.F32, PROMPT), "native: factors 1 vs none");
        assertClose(scaled, run(factors, Backend.NATIVE, 5, GgmlType.F32, PROMPT), 2e-3f, "scalar vs native with factors");
    }

    @Test
    void f16CacheIsCloseToF32Cache() throws Exception {
        Path m = TinyModels.write(dir, "llama", GgmlType.F32, false, 3);
        assertClose(run(m, Backend.JAVA, 4, GgmlType.F32, PROMPT), run(m, Backend.JAVA, 4, GgmlType.F16, PROMPT), 2e-2f, "F16 vs F32 KV");
    }

    @Test
    void configFromMetadata() throws Exception {
        Path m = TinyModels.write(dir, "qwen2", GgmlType.F32, true, 5);
        try (GgufFile f = GgufFile.open(m)) {
            LlamaWeights w = LlamaWeights.load(f);
            LlamaConfig c = w.config;
            assertEquals(TinyModels.DIM, c.dim());
            assertEquals(TinyModels.VOCAB, c.vocabSize());
            assertEquals(16, c.headDimK());
            assertEquals(16, c.nRot());
            assertTrue(c.rope().neox(), "qwen2 uses NeoX rope");
            assertTrue(w.tiedOutput());
            assertNotNull(w.layers[0].bq());
        }
    }

    @Test
    void errorsAreClear() throws Exception {
        Path missing = TinyModels.write(dir, "llama", GgmlType.F32, false, 1, "blk.1.ffn_up.weight");
        try (GgufFile f = GgufFile.open(missing)) {
            GgufFormatException e = assertThrows(GgufFormatException.class, () -> LlamaWeights.load(f));
            assertTrue(e.getMessage().contains("blk.1.ffn_up.weight"), e.getMessage());
        }
        Path m = TinyModels.write(dir, "llama", GgmlType.F32, false, 1);
        try (GgufFile f = GgufFile.open(m); Kernels k = KernelsProvider.create(Backend.JAVA, 1)) {
            LlamaWeights w = LlamaWeights.load(f);
            try (ModelState s = w.newState(k, 8, 4, GgmlType.F16)) {
                assertThrows(IllegalArgumentException.class, () -> s.forward(new int[] {1, TinyModels.VOCAB}, 0, 2, false));
                assertThrows(IllegalArgumentException.class, () -> s.forward(new int[] {1, -1}, 0, 2, false));
                assertThrows(IllegalArgumentException.class, () -> s.forward(new int[] {1, 2, 3, 4, 5}, 0, 5, false));
                s.forward(new int[] {1, 2, 3, 4}, 0, 4, false);
                s.forward(new int[] {1, 2, 3, 4}, 0, 4, false);
                assertThrows(ContextOverflowException.class, () -> s.forward(new int[] {5}, 0, 1, false));
                s.truncate(7);
                s.forward(new int[] {5}, 0, 1, false); // the last slot is usable again
            }
            assertThrows(IllegalArgumentException.class, () -> w.newState(k, 0, 4, GgmlType.F16));
            assertThrows(IllegalArgumentException.class, () -> w.newState(k, 8, 4, GgmlType.Q4_K));
        }
    }
}
