package dev.panamax.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.panamax.Backend;
import dev.panamax.gguf.GgufFile;
import dev.panamax.tools.Pruner;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Pruned files of the trained models (models/) load in llama.cpp unchanged and give Panamax's logits: experts and the
 * dense layer's channels of the deepseek2 model (its MTP layer pruned along), channels and a KV group of the llama.
 * Runs when the reference toolkit is present (skipped, saying why, otherwise).
 */
class PruneConformanceTest {

    @TempDir
    Path tmp;

    /** Genesis 1 (training split: the held-out chapters are every 20th from index 19). */
    static final String CALIB = "In the beginning God created the heaven and the earth.\nAnd the earth was without form, and void; "
            + "and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters.\n"
            + "And God said, Let there be light: and there was light.\nAnd God saw the light, that it was good: and God "
            + "divided the light from the darkness.\nAnd God called the light Day, and the darkness he called Night. And "
            + "the evening and the morning were the first day.\n";
    static final String PROMPT = "And Abraham journeyed from thence toward the south country, and dwelled between Kadesh and Shur";

    private static Path model(String name) {
        LlamaCppReference.assumePresent();
        Path m = TrainedModelsTest.MODELS.resolve(name);
        Assumptions.assumeTrue(Files.isRegularFile(m), "trained model missing: " + m.toAbsolutePath().normalize());
        return m;
    }

    @Test
    void prunedDeepseekMatchesLlamaCpp() throws Exception {
        Path in = model("kjv-deepseek2-7.1m-f16.gguf"), out = tmp.resolve("ds2-pruned.gguf");
        new Pruner().expertsKeep(6).ffnKeepFraction(0.75).contextLength(32).prune(in, out, CALIB);
        try (GgufFile f = GgufFile.open(out)) {
            assertEquals(6, f.metadata().getInt("deepseek2.expert_count"));
            assertEquals(384, f.metadata().getInt("deepseek2.feed_forward_length"));
        }
        LlamaCppReference.Agreement a = LlamaCppReference.compareLogits(out, PROMPT, Backend.NATIVE, tmp);
        a.check(1e-4, 0.95);
        assertTrue(a.positions() > 10);
    }

    @Test
    void prunedLlamaMatchesLlamaCpp() throws Exception {
        Path in = model("kjv-llama-4.6m-f16.gguf"), out = tmp.resolve("llama-pruned.gguf");
        new Pruner().ffnKeepFraction(0.6).headsKeep(6).contextLength(32).prune(in, out, CALIB);
        try (GgufFile f = GgufFile.open(out)) {
            assertEquals(320, f.metadata().getInt("llama.feed_forward_length"));
            assertEquals(3, f.metadata().getInt("llama.attention.head_count_kv"));
        }
        LlamaCppReference.compareLogits(out, PROMPT, Backend.NATIVE, tmp).check(1e-4, 0.95);
    }

    /** qwen3moe (per-head Q/K norms, routed experts without shared ones) from the toolkit's F32 fixture: experts and one KV group dropped. */
    @Test
    void prunedQwen3moeMatchesLlamaCpp() throws Exception {
        Path in = LlamaCppReference.fixture("tiny-qwen3moe-f32"), out = tmp.resolve("qwen3moe-pruned.gguf");
        int nExpert, nUsed, nHead, nKv;
        try (GgufFile f = GgufFile.open(in)) {
            nExpert = f.metadata().getInt("qwen3moe.expert_count");
            nUsed = f.metadata().getInt("qwen3moe.expert_used_count");
            nHead = f.metadata().getInt("qwen3moe.attention.head_count");
            nKv = f.metadata().getInt("qwen3moe.attention.head_count_kv");
        }
        int keepExperts = Math.max(nUsed, nExpert - 1), keepHeads = nKv > 1 ? nHead - nHead / nKv : nHead;
        new Pruner().expertsKeep(keepExperts).headsKeep(keepHeads).contextLength(32).prune(in, out, CALIB);
        try (GgufFile f = GgufFile.open(out)) {
            assertEquals(keepExperts, f.metadata().getInt("qwen3moe.expert_count"));
            assertEquals(keepHeads, f.metadata().getInt("qwen3moe.attention.head_count"));
        }
        LlamaCppReference.compareLogits(out, PROMPT, Backend.NATIVE, tmp).check(1e-4, 0.95);
    }
}
