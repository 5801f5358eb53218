package dev.panamax.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.panamax.LlamaCppFixtures;
import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufTensor;
import dev.panamax.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Conformance with llama.cpp's quantizer: every tensor that llama.cpp's {@code llama_model_quantize} wrote
 * into the reference fixtures is quantized again from the F32 source by Panamax (the C reference through
 * the native backend, and the Java backend), and the bytes must be identical. Runs when the reference
 * toolkit is installed (system property {@code panamax.llamacpp.ref}, default /tmp/llamacpp-ref).
 */
class QuantizeConformanceTest {
    static final Path MODELS = Path.of(System.getProperty("panamax.llamacpp.ref", "/tmp/llamacpp-ref"), "models");

    /**
     * tiny-deepseek2's Q4_K_M holds Q5_0 tensors: llama.cpp's fallback for rows that are not a multiple of 256
     * (attn_k_b, attn_v_b). The mixes setup.sh does not write are made by the toolkit's llquant
     * ({@link LlamaCppFixtures}): each mix quantizes tensors to several types (Q2_K: Q2_K and Q3_K; Q3_K_M: Q3_K, Q4_K,
     * Q5_K; ...), every tensor is compared.
     */
    @ParameterizedTest(name = "{0}-{1}")
    @CsvSource({"tiny-llama,f16", "tiny-llama,bf16", "tiny-llama,q8_0", "tiny-llama,q4_0", "tiny-llama,q4_k_m",
        "tiny-llama,q6_k", "tiny-llama,q5_0", "tiny-deepseek2,q4_k_m", "tiny-llama,q4_1", "tiny-llama,q5_1",
        "tiny-llama,q2_k", "tiny-llama,q3_k_s", "tiny-llama,q3_k_m", "tiny-llama,q3_k_l", "tiny-llama,q4_k_s",
        "tiny-llama,q5_k_s", "tiny-llama,q5_k_m", "tiny-llama,iq4_nl", "tiny-llama,iq4_xs", "tiny-deepseek2,q3_k_m",
        "tiny-deepseek2,q5_k_m", "tiny-deepseek2,iq4_xs"})
    void sameBytesAsLlamaCpp(String model, String variant) throws Exception {
        Path source = MODELS.resolve(model + "-f32.gguf"), quantized = LlamaCppFixtures.quantized(model, variant);
        Assumptions.assumeTrue(Files.exists(source) && quantized != null,
                "llama.cpp reference toolkit absent (" + MODELS + "): run shared/tools/llamacpp-ref/setup.sh");
        List<String> mismatches = new ArrayList<>();
        int compared = 0;
        try (GgufFile src = GgufFile.open(source); GgufFile dst = GgufFile.open(quantized); Arena arena = Arena.ofConfined();
             Kernels nat = new NativeKernels(1); Kernels java = KernelsProvider.javaKernels("conformance")) {
            for (GgufTensor t : dst.tensors()) {
                GgufTensor f = src.tensor(t.name());
                if (t.type() == null || t.type() == GgmlType.F32 || f == null || f.type() != GgmlType.F32) continue;
                int n = (int) t.shape()[0];
                int rows = (int) (t.elementCount() / n);
                MemorySegment floats = arena.allocate(f.byteSize(), 64);
                floats.copyFrom(f.data()); // the mapping may be unaligned for floats; kernels want plain rows
                for (Kernels k : List.of(nat, java)) {
                    MemorySegment out = arena.allocate(t.byteSize(), 64);
                    k.quantize(t.type(), out, floats, rows, n);
                    long at = out.mismatch(t.data());
                    if (at >= 0) mismatches.add(t.name() + " " + t.type() + " " + k.name() + " first differs at byte " + at);
                }
                compared++;
            }
        }
        assertTrue(compared > 0, "no quantized tensor found to compare in " + quantized);
        assertEquals(List.of(), mismatches, compared + " tensors compared");
        System.out.println(model + "-" + variant + ": " + compared + " tensors byte-identical to llama.cpp (native and Java)");
    }

    /**
     * The Q5_0 tensors llama.cpp wrote decode identically in both backends, and re-quantizing the decoded values
     * gives llama.cpp's bytes again (each block's extreme decodes to exactly -16 d, so the format is a fixed
     * point of ggml's quantizer): a check of the block layout that does not need the F32 source.
     */
    @Test
    void q5_0TensorsOfLlamaCppRoundTrip() throws IOException {
        Path file = MODELS.resolve("tiny-deepseek2-q4_k_m.gguf");
        Assumptions.assumeTrue(Files.exists(file), "llama.cpp reference fixture absent (" + file + ")");
        int compared = 0;
        try (GgufFile gguf = GgufFile.open(file); Arena arena = Arena.ofConfined();
             Kernels nat = new NativeKernels(1); Kernels java = KernelsProvider.javaKernels("conformance")) {
            for (GgufTensor t : gguf.tensors()) {
                if (t.type() != GgmlType.Q5_0) continue;
                int n = (int) t.shape()[0], rows = (int) (t.elementCount() / n);
                MemorySegment a = arena.allocate(4L * n * rows, 64), b = arena.allocate(4L * n * rows, 64);
                MemorySegment q = arena.allocate(t.byteSize(), 64);
                q.copyFrom(t.data());
                nat.dequantize(GgmlType.Q5_0, a, q, rows, n);
                java.dequantize(GgmlType.Q5_0, b, q, rows, n);
                assertEquals(-1, a.mismatch(b), t.name() + ": native and Java decode differently");
                for (Kernels k : List.of(nat, java)) {
                    MemorySegment out = arena.allocate(t.byteSize(), 64);
                    k.quantize(GgmlType.Q5_0, out, a, rows, n);
                    assertEquals(-1, out.mismatch(t.data()), t.name() + " " + k.name() + ": re-quantized bytes differ");
                }
                compared++;
            }
        }
        assertTrue(compared > 0, "no Q5_0 tensor in " + file);
        System.out.println("tiny-deepseek2-q4_k_m: " + compared + " Q5_0 tensors decode alike and re-quantize to llama.cpp's bytes");
    }
}
