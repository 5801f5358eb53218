package dev.panamax.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.panamax.model.TinyDeepseek;
import dev.panamax.tensor.GgmlType;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code info -m} and {@code bench} on a tiny deepseek2 file: the architecture and the MLA cache size. */
class DeepseekCliTest {
    @TempDir
    static Path dir;
    static Path model;
    static final TinyDeepseek.Options OPTIONS = TinyDeepseek.Options.defaults().v3().withType(GgmlType.Q8_0);
    /** MLA caches one latent row per token and layer: (kv_lora + rope dims) × layers × 2 bytes (F16). */
    static final long KV_BYTES = (long) (TinyDeepseek.KV_LORA + TinyDeepseek.ROPE) * OPTIONS.layers() * 2;

    @BeforeAll
    static void writeModel() throws Exception {
        model = TinyDeepseek.write(dir, OPTIONS);
    }

    @Test
    void infoReportsArchAndLatentCache() throws Exception {
        JsonNode m = BenchCommandTest.json(CliTest.run("info", "-m", model.toString(), "--json")).get("model");
        assertEquals("deepseek2", m.get("arch").asText());
        assertEquals(KV_BYTES, m.get("kv_bytes_per_token").asLong());
        assertEquals(TinyDeepseek.CTX, m.get("n_ctx_train").asInt());
        assertEquals(TinyDeepseek.VOCAB, m.get("n_vocab").asInt());
        try (dev.panamax.Model loaded = dev.panamax.Model.load(model)) {
            assertEquals(loaded.parameterCount(), m.get("n_params").asLong());
            assertEquals(loaded.kvBytesPerToken(), m.get("kv_bytes_per_token").asLong());
        }
        // Q8_0 weights; attn_k_b (rows of 16) falls back to F16; norms, router and bias F32
        assertEquals(OPTIONS.layers(), m.get("types").get("f16").asInt(), m.toString());
        assertTrue(m.get("types").get("q8_0").asInt() > 0, m.toString());
    }

    @Test
    void benchReportsTheSameKvBytes() throws Exception {
        for (String backend : new String[] {"native", "java"}) {
            JsonNode j = BenchCommandTest.json(CliTest.run("bench", "-m", model.toString(), "-p", "12", "-n", "4",
                    "--backend", backend, "--json"));
            assertEquals(backend, j.get("backend").asText());
            assertEquals(KV_BYTES, j.get("kv_bytes_per_token").asLong(), j.toString());
            assertEquals(12, j.get("prompt_tokens").asInt());
            assertTrue(j.get("pp_tps").asDouble() > 0 && j.get("tg_tps").asDouble() > 0, j.toString());
        }
        CliTest.Result text = CliTest.run("bench", "-m", model.toString(), "-p", "4", "-n", "2");
        assertEquals(0, text.code(), text.err());
        assertTrue(text.out().contains(KV_BYTES + " bytes/token"), text.out());
    }
}
