package dev.panamax.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Conformance with llama.cpp's quantizer: every tensor that llama.cpp's {@code llama_model_quantize} wrote
 * into the reference fixtures is quantized again from the F32 source by Panamax (the C reference through
 * the native backend, and the Java backend), and the bytes must be identical. Runs when the reference
 * toolkit is installed (system property {@code panamax.llamacpp.ref}, default /tmp/llamacpp-ref).
 */
class QuantizeConformanceTest {
    static final Path MODELS = Path.of(System.getProperty("panamax.llamacpp.ref", "/tmp/llamacpp-ref"), "models");

    @ParameterizedTest(name = "tiny-llama-{0}")
    @ValueSource(strings = {"f16", "bf16", "q8_0", "q4_0", "q4_k_m", "q6_k"})
    void sameBytesAsLlamaCpp(String variant) throws IOException {
        Path source = MODELS.resolve("tiny-llama-f32.gguf"), quantized = MODELS.resolve("tiny-llama-" + variant + ".gguf");
        Assumptions.assumeTrue(Files.exists(source) && Files.exists(quantized),
                "llama.cpp reference fixtures absent (" + quantized + "): run shared/tools/llamacpp-ref/setup.sh");
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
        System.out.println("tiny-llama-" + variant + ": " + compared + " tensors byte-identical to llama.cpp (native and Java)");
    }
}
