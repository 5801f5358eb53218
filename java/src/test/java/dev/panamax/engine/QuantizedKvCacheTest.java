package dev.panamax.engine;

import static org.junit.jupiter.api.Assertions.*;

import dev.panamax.Backend;
import dev.panamax.CacheType;
import dev.panamax.Engine;
import dev.panamax.Generation;
import dev.panamax.GenerationRequest;
import dev.panamax.Model;
import dev.panamax.Session;
import dev.panamax.model.TinyModels;
import dev.panamax.sampling.SamplingParams;
import dev.panamax.tensor.GgmlType;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The quantized KV cache through the public API (Session and Engine) on a tiny qwen3 whose heads hold 32 values: bytes
 * per token by ggml's block geometry, proportionally more tokens in the engine's pool for the same bytes, logits close
 * to the F16 cache's, both backends agreeing, and llama.cpp's refusals (a block that does not divide the head size).
 */
class QuantizedKvCacheTest {

    @TempDir
    static Path dir;

    static Model load(Path m, Backend b, CacheType k, CacheType v) throws Exception {
        return Model.load(m, Model.Options.defaults().withBackend(b).withThreads(2).withCacheTypes(k, v));
    }

    @Test
    void bytesPerTokenAndPoolCapacityFollowTheBlocks() throws Exception {
        Path m = TinyModels.writeQwen3(dir, "qwen3", GgmlType.Q8_0, 1, 32);
        // per layer: KV_HEADS heads of 32 values for K and for V
        long values = (long) TinyModels.LAYERS * TinyModels.KV_HEADS * 32;
        long f16 = 0;
        for (CacheType t : CacheType.values()) {
            try (Model model = load(m, Backend.NATIVE, t, t)) {
                long expect = 2 * values / t.blockSize() * GgmlType.valueOf(t.name()).blockBytes();
                assertEquals(expect, model.kvBytesPerToken(), t.id());
                if (t == CacheType.F16) f16 = expect;
            }
        }
        try (Model model = load(m, Backend.NATIVE, CacheType.Q8_0, CacheType.Q4_0)) {
            assertEquals(values / 32 * (34 + 18), model.kvBytesPerToken());
        }
        // the same pool bytes hold 64/34 = 1.9x the tokens with Q8_0, 64/18 = 3.6x with Q4_0
        long pool = 64 * 8 * f16;
        int[] tokens = new int[3];
        CacheType[] types = {CacheType.F16, CacheType.Q8_0, CacheType.Q4_0};
        for (int i = 0; i < 3; i++) {
            try (Model model = load(m, Backend.NATIVE, types[i], types[i]);
                 Engine e = model.newEngine(Engine.Config.defaults().withMaxSequences(4).withBlockSize(8).withContextLength(64)
                         .withKvBytes(pool))) {
                Engine.Stats s = e.stats();
                tokens[i] = s.kvBlocksTotal() * s.blockSize();
                assertEquals(pool / model.kvBytesPerToken() / 8 * 8, tokens[i], types[i].id());
                // and it runs: four requests at once over the quantized pool
                var hs = new java.util.ArrayList<dev.panamax.RequestHandle>();
                for (int r = 0; r < 4; r++) hs.add(e.submit(GenerationRequest.of(new int[] {1, 20 + r, 30, 40}, 8, SamplingParams.greedy())));
                for (var h : hs) assertEquals(8, h.join().tokens().length);
            }
        }
        assertEquals(512, tokens[0]);
        assertTrue(tokens[1] >= 1.8 * tokens[0] && tokens[2] >= 3.4 * tokens[0], java.util.Arrays.toString(tokens));
    }

    @Test
    void logitsStayCloseToTheF16CacheOnBothBackends() throws Exception {
        Path m = TinyModels.writeQwen3(dir, "qwen3", GgmlType.F32, 2, 32);
        int[] prompt = new int[40];
        for (int i = 0; i < prompt.length; i++) prompt[i] = 1 + (i * 37) % 290;
        float[] f16;
        try (Model model = load(m, Backend.NATIVE, CacheType.F16, CacheType.F16); Session s = model.newSession(64)) {
            f16 = s.promptLogits(prompt);
        }
        int v = f16.length / prompt.length;
        for (CacheType t : new CacheType[] {CacheType.Q8_0, CacheType.Q4_0, CacheType.Q5_0, CacheType.IQ4_NL}) {
            float[] nat, java;
            try (Model model = load(m, Backend.NATIVE, t, t); Session s = model.newSession(64)) {
                nat = s.promptLogits(prompt);
            }
            try (Model model = load(m, Backend.JAVA, t, t); Session s = model.newSession(64)) {
                java = s.promptLogits(prompt);
            }
            double kl = 0, klJava = 0;
            for (int r = 0; r < prompt.length; r++) {
                kl += LlamaCppReference.kl(f16, nat, r * v, v) / prompt.length;
                klJava += LlamaCppReference.kl(nat, java, r * v, v) / prompt.length;
            }
            // Q8_0 is near-lossless; 4-bit caches are measurably noisier but still close
            double bound = t == CacheType.Q8_0 ? 1e-3 : 2e-2;
            assertTrue(kl < bound, t + " cache: mean KL vs F16 " + kl);
            assertTrue(kl > 0, t + " cache gave F16's very logits: is the cache quantized?");
            // the backends' float differences upstream can move a value across a rounding boundary of the 4-bit grids
            assertTrue(klJava < 1e-5, t + ": native and Java backends differ by mean KL " + klJava);
        }
    }

    @Test
    void greedyDecodeRunsOnAQuantizedSessionCache() throws Exception {
        Path m = TinyModels.writeQwen3(dir, "qwen3", GgmlType.Q8_0, 3, 32);
        try (Model a = load(m, Backend.NATIVE, CacheType.Q8_0, CacheType.Q8_0); Session s = a.newSession(128);
             Model b = load(m, Backend.JAVA, CacheType.Q8_0, CacheType.Q8_0); Session t = b.newSession(128)) {
            int[] prompt = {1, 50, 60, 70, 80};
            Generation g = s.generate(prompt, 48, SamplingParams.greedy(), null);
            assertEquals(48, g.tokens().length);
            assertArrayEquals(g.tokens(), t.generate(prompt, 48, SamplingParams.greedy(), null).tokens());
        }
    }

    @Test
    void blockTypesThatDoNotDivideTheHeadAreRefused() throws Exception {
        Path m = TinyModels.write(dir, "llama", GgmlType.Q8_0, false, 4); // heads of 16 values
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> load(m, Backend.NATIVE, CacheType.Q8_0, CacheType.F16));
        assertEquals("K cache type q8_0 with block size 32 does not divide n_embd_head_k=16", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> load(m, Backend.NATIVE, CacheType.F16, CacheType.Q4_0));
        assertEquals("V cache type q4_0 with block size 32 does not divide n_embd_head_v=16", e.getMessage());
        // types without blocks work on any head
        try (Model model = load(m, Backend.NATIVE, CacheType.BF16, CacheType.F32); Session s = model.newSession(32)) {
            assertEquals(4, s.generate(new int[] {1, 5, 6}, 4, SamplingParams.greedy(), null).tokens().length);
        }
        IllegalArgumentException p = assertThrows(IllegalArgumentException.class, () -> CacheType.parse("q4_k"));
        assertTrue(p.getMessage().contains("q8_0"), p.getMessage());
    }
}
