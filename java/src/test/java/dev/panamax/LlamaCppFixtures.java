package dev.panamax;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Files of the llama.cpp reference toolkit for conformance tests: its models/ fixtures, and the quantization mixes
 * setup.sh does not write, made on demand by its own quantizer ({@code llquant SRC OUT TYPE}, llama_model_quantize)
 * from the F32 fixture into target/llquant-fixtures (kept: the next run reuses them). System property
 * {@code panamax.llamacpp.ref}, default /tmp/llamacpp-ref.
 */
public final class LlamaCppFixtures {
    public static final Path REF = Path.of(System.getProperty("panamax.llamacpp.ref", "/tmp/llamacpp-ref"));
    private static final Path MADE = Path.of("target", "llquant-fixtures");

    private LlamaCppFixtures() {}

    /**
     * {@code <model>-<type>.gguf}: the toolkit's own, else one llquant writes from {@code <model>-f32.gguf}; null when
     * the toolkit (or its F32 fixture) is absent. type: a name llquant takes (q4_1, q3_k_m, iq4_xs, ...).
     */
    public static synchronized Path quantized(String model, String type) throws IOException, InterruptedException {
        Path own = REF.resolve("models/" + model + "-" + type + ".gguf");
        if (Files.isRegularFile(own)) return own;
        Path src = REF.resolve("models/" + model + "-f32.gguf"), tool = REF.resolve("bin/llquant");
        if (!Files.isRegularFile(src) || !Files.isExecutable(tool)) return null;
        Path out = MADE.resolve(model + "-" + type + ".gguf");
        if (Files.isRegularFile(out) && Files.getLastModifiedTime(out).compareTo(Files.getLastModifiedTime(src)) > 0) return out;
        Files.createDirectories(MADE);
        Path tmp = MADE.resolve(model + "-" + type + ".gguf.part");
        Process p = new ProcessBuilder(tool.toString(), src.toString(), tmp.toString(), type).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        if (!p.waitFor(10, TimeUnit.MINUTES) || p.exitValue() != 0) {
            p.destroyForcibly();
            throw new IOException("llquant " + src + " " + type + " failed");
        }
        Files.move(tmp, out, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        return out;
    }
}
