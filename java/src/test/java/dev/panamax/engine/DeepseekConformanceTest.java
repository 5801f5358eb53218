package dev.panamax.engine;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.panamax.LlamaCppFixtures;
import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufMetadata;
import dev.panamax.gguf.GgufTensor;
import dev.panamax.gguf.GgufWriter;
import dev.panamax.Backend;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * deepseek2 (MLA + MoE) logits and greedy tokens against llama.cpp: the reference toolkit's fixtures (2 layers, q_lora,
 * YaRN, sigmoid routing with selection bias, tied and untied heads, two tokenizers) and variants made here with the
 * toolkit's make_tiny_gguf.py (V2-Lite style without q_lora at 27 layers — llama.cpp accepts that only at 26/27 —,
 * softmax routing, several expert groups), quantized by llama.cpp. Skipped when the toolkit is absent.
 * Bounds from the issue: shallow F32 mean KL <= 1e-4 with clear argmax >= 98%; shallow quantized <= 1e-2 / 95%; deep
 * MoE models flip expert choices at near-ties even between llama.cpp's own attention modes, so 27-layer F32 <= 1e-2 /
 * 95% and quantized <= 1e-1.
 */
class DeepseekConformanceTest {

    static final String PROMPT = "The quick brown fox jumps over the lazy dog. Once upon a time there was a little"
            + " robot who wanted to learn how to paint the sky.";

    @TempDir
    Path tmp;

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"tiny-deepseek2-f32,native,1e-4,0.98", "tiny-deepseek2-f32,java,1e-4,0.98",
            "tiny-deepseek2-q8_0,native,1e-2,0.95", "tiny-deepseek2-q4_k_m,native,1e-2,0.95",
            "tiny-deepseek2-untied-spm-f32,native,1e-4,0.98", "tiny-deepseek2-untied-spm-q8_0,native,1e-2,0.95"})
    void toolkitFixtures(String name, String backend, double maxKl, double minAgree) throws Exception {
        Path m = LlamaCppReference.fixture(name);
        // A quantized MoE model can sit on an expert near-tie that llama.cpp's own two attention modes resolve
        // differently (seen on a Zen 4: untied-spm-q8_0 at 4.2e-2 between them, we 1.5e-3 from one and 4.2e-2 from the
        // other): there the bound widens to twice llama.cpp's own spread, as for the deep models below.
        double bound = name.endsWith("f32") ? maxKl : Math.max(maxKl, 2 * LlamaCppReference.llamaCppSelfKl(m, PROMPT, tmp));
        LlamaCppReference.compareLogits(m, PROMPT, Backend.parse(backend), tmp).check(bound, minAgree);
    }

    /**
     * The newer types on MLA + MoE (llquant mixes of the F32 fixture, {@link LlamaCppFixtures}). Measured on this prompt
     * (Zen 4): Q3_K_M 5.8e-3, Q5_K_M 6.6e-3, IQ4_XS 5.5e-3, Q4_1 5.8e-2 against llama.cpp's own flash-on/off spread of
     * 5.9e-3, 8.1e-2, 5.3e-3, 5.8e-2; Q2_K 7.0e-2 against 6.2e-3, all of it at one position (KL 1.93 there, <= 0.012
     * at the 28 others: an expert near-tie, the native and Java backends agreeing to 1.8e-8; on the llama test prompt
     * the same file gives 5.5e-3 against 5.4e-3). Clear argmax on these random-weight MoE files: 22/24..26/26. So the
     * bound is the deep quantized models' (max(0.1, 2x the spread)) with 90% clear argmax, and the same file must
     * give the same logits on both backends (the kernels, not a near-tie, are what this checks).
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"q2_k", "q3_k_m", "q5_k_m", "iq4_xs", "q4_1", "iq4_nl"})
    void newerQuantMixes(String mix) throws Exception {
        Path m = LlamaCppFixtures.quantized("tiny-deepseek2", mix);
        LlamaCppReference.assumePresent(m == null ? Path.of("tiny-deepseek2-" + mix + ".gguf (llquant)") : m);
        double bound = Math.max(1e-1, 2 * LlamaCppReference.llamaCppSelfKl(m, PROMPT, tmp));
        LlamaCppReference.Agreement nat = LlamaCppReference.compareLogits(m, PROMPT, Backend.NATIVE, tmp);
        nat.check(bound, 0.90);
        LlamaCppReference.Agreement java = LlamaCppReference.compareLogits(m, PROMPT, Backend.JAVA, tmp);
        java.check(bound, 0.90);
        assertTrue(Math.abs(nat.meanKl() - java.meanKl()) <= 0.05 * nat.meanKl() + 1e-4,
                "native " + nat.meanKl() + " and Java " + java.meanKl() + " should sit at the same distance from llama.cpp");
    }

    @Test
    void greedyTokensMatchLlamaCpp() throws Exception {
        LlamaCppReference.checkGreedy(LlamaCppReference.fixture("tiny-deepseek2-f32"), PROMPT, 16);
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"softmax-f32,f32,1e-4,0.98", "groups-f32,f32,1e-4,0.98", "groups-q8_0,q8_0,1e-2,0.95",
            "lite27-f32,f32,1e-2,0.95"})
    void madeVariants(String name, String type, double maxKl, double minAgree) throws Exception {
        LlamaCppReference.compareLogits(made(name), PROMPT, Backend.NATIVE, tmp).check(maxKl, minAgree);
    }

    /**
     * A deep quantized MoE model of random weights is chaotic: one expert flipped at a near-tie early changes everything
     * after it, and llama.cpp disagrees with itself between its attention modes by a mean KL of 0.3-0.8 on this file. We
     * must stay within twice that spread (and within 1e-1 when llama.cpp's own spread is small).
     */
    @Test
    void deepQuantizedWithinLlamaCppsOwnSpread() throws Exception {
        Path m = made("lite27-q8_0");
        double spread = LlamaCppReference.llamaCppSelfKl(m, PROMPT, tmp);
        LlamaCppReference.compareLogits(m, PROMPT, Backend.NATIVE, tmp).check(Math.max(1e-1, 2 * spread), 0.0);
    }

    @Test
    void greedyTokensMatchLlamaCppWithExpertGroups() throws Exception {
        LlamaCppReference.checkGreedy(made("groups-f32"), PROMPT, 16);
    }

    /**
     * The older GGUF layout (before llama.cpp split attn_kv_b for MLA): the toolkit's F32 fixture rewritten with one
     * attn_kv_b per layer and the per-head key/value lengths, which llama.cpp runs in its expanded (non-MLA) form. We
     * load it into the same latent-cache absorbed form.
     */
    @Test
    void olderCombinedKvBLayout() throws Exception {
        Path src = LlamaCppReference.fixture("tiny-deepseek2-f32"), out = Files.createDirectories(LlamaCppReference.MADE)
                .resolve("deepseek2-legacy-kv_b-f32.gguf");
        try (GgufFile f = GgufFile.open(src)) {
            GgufMetadata md = f.metadata();
            String p = "deepseek2.";
            int nHead = md.getInt(p + "attention.head_count"), kvLora = md.getInt(p + "attention.kv_lora_rank");
            int hdk = md.getInt(p + "attention.key_length_mla"), vd = md.getInt(p + "attention.value_length_mla");
            int nope = hdk - md.getInt(p + "rope.dimension_count");
            GgufWriter w = new GgufWriter();
            for (String key : md.keys()) {
                if (!key.endsWith("_mla")) w.put(key, md.typeOf(key), md.get(key));
            }
            // the expanded form is MHA: as older converters wrote it, one KV head per head
            w.putUInt32(p + "attention.key_length", hdk).putUInt32(p + "attention.value_length", vd).putUInt32(p + "attention.head_count_kv", nHead);
            try (Arena arena = Arena.ofConfined()) {
                for (GgufTensor t : f.tensors()) {
                    String name = t.name();
                    if (name.endsWith("attn_v_b.weight")) continue;
                    if (!name.endsWith("attn_k_b.weight")) {
                        w.addTensor(name, t.type(), t.shape(), t.data());
                        continue;
                    }
                    MemorySegment kb = t.data(), vb = f.tensor(name.replace("attn_k_b", "attn_v_b")).data();
                    MemorySegment kvb = arena.allocate(4L * nHead * (nope + vd) * kvLora);
                    for (int h = 0; h < nHead; h++) {
                        long row0 = (long) h * (nope + vd);
                        for (int i = 0; i < nope; i++) { // W_UK row i = column i of attn_k_b's head (kv_lora rows of nope)
                            for (int c = 0; c < kvLora; c++) {
                                float x = kb.getAtIndex(ValueLayout.JAVA_FLOAT, ((long) h * kvLora + c) * nope + i);
                                kvb.setAtIndex(ValueLayout.JAVA_FLOAT, (row0 + i) * kvLora + c, x);
                            }
                        }
                        MemorySegment.copy(vb, 4L * h * vd * kvLora, kvb, 4L * (row0 + nope) * kvLora, 4L * vd * kvLora);
                    }
                    w.addTensor(name.replace("attn_k_b", "attn_kv_b"), GgmlType.F32, new long[] {kvLora, (long) nHead * (nope + vd)}, kvb);
                }
                w.write(out);
            }
        }
        LlamaCppReference.compareLogits(out, PROMPT, Backend.NATIVE, tmp).check(1e-4, 0.98);
    }

    /** A variant written by make_tiny_gguf.py (F32), quantized by llama.cpp's llquant when the name says so. */
    static Path made(String name) throws Exception {
        String base = name.substring(0, name.lastIndexOf('-'));
        String type = name.substring(name.lastIndexOf('-') + 1);
        List<String> args = new ArrayList<>(List.of("--tied", "--embd-scale", "0.1875", "--yarn"));
        switch (base) {
            case "softmax" -> args.addAll(List.of("--gating", "softmax"));
            case "groups" -> args.addAll(List.of("--n-expert", "8", "--n-expert-used", "2", "--groups", "4", "--groups-used", "2"));
            case "lite27" -> args.addAll(List.of("--q-lora", "0", "--n-layer", "27", "--gating", "softmax"));
            default -> throw new IllegalArgumentException(base);
        }
        return LlamaCppReference.made("deepseek2-" + base, type, "deepseek2", "ggml-vocab-deepseek-llm.gguf", args);
    }
}
