package dev.panamax.engine;

import dev.panamax.Backend;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The llama-family files users bring, against llama.cpp on the same files: `llama` models written by the toolkit's
 * make_tiny_gguf.py in the shapes those families give it, quantized by llama.cpp's llquant. Mistral-style: grouped-query
 * attention (8 query heads over 2 KV heads) with the SentencePiece vocabulary; SmolLM-style: a tied output head with a
 * GPT-2-style byte-level BPE vocabulary and 3 query heads per KV head; DeepSeek-R1-Distill-Llama-style: Llama 3's BPE
 * vocabulary (128K tokens, `llama-bpe`) with grouped-query attention and an untied head. Logits at every prompt position
 * (F32: mean KL <= 1e-4, clear argmax >= 98%; Q8_0 and Q4_K_M: <= 1e-2 / 95%) and 16 greedy tokens identical. Skipped
 * when the toolkit is absent (CI installs it).
 */
class LlamaVariantsConformanceTest {
    static final String PROMPT = "The quick brown fox jumps over the lazy dog. Once upon a time there was a little robot who"
            + " wanted to learn how to paint the sky, 12345 times.";

    @TempDir
    Path tmp;

    @ParameterizedTest(name = "{0} {1} {2}")
    @CsvSource({"mistral,f32,native,1e-4,0.98", "mistral,f32,java,1e-4,0.98", "mistral,q8_0,native,1e-2,0.95",
            "mistral,q4_k_m,native,1e-2,0.95",
            "smollm,f32,native,1e-4,0.98", "smollm,f32,java,1e-4,0.98", "smollm,q8_0,native,1e-2,0.95",
            "r1-distill-llama,f32,native,1e-4,0.98", "r1-distill-llama,q8_0,native,1e-2,0.95"})
    void logitsMatchLlamaCpp(String family, String type, String backend, double maxKl, double minAgree) throws Exception {
        LlamaCppReference.compareLogits(made(family, type), PROMPT, Backend.parse(backend), tmp).check(maxKl, minAgree);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"mistral", "smollm", "r1-distill-llama"})
    void greedyTokensMatchLlamaCpp(String family) throws Exception {
        LlamaCppReference.checkGreedy(made(family, "f32"), PROMPT, 16);
    }

    static Path made(String family, String type) throws Exception {
        return switch (family) {
            case "mistral" -> LlamaCppReference.made("llama-mistral", type, "llama", "ggml-vocab-llama-spm.gguf",
                    List.of("--n-embd", "256", "--n-head", "8", "--n-head-kv", "2", "--n-ff", "512", "--n-layer", "2", "--seed", "5"));
            case "smollm" -> LlamaCppReference.made("llama-smollm", type, "llama", "ggml-vocab-gpt-2.gguf",
                    List.of("--n-embd", "192", "--n-head", "6", "--n-head-kv", "2", "--n-ff", "512", "--n-layer", "2", "--tied",
                            "--embd-scale", "0.2165", "--resid-scale", "4", "--seed", "9"));
            case "r1-distill-llama" -> LlamaCppReference.made("llama-r1-distill", type, "llama", "ggml-vocab-llama-bpe.gguf",
                    List.of("--n-embd", "128", "--n-head", "4", "--n-head-kv", "2", "--n-ff", "256", "--n-layer", "2", "--seed", "3"));
            default -> throw new IllegalArgumentException(family);
        };
    }
}
