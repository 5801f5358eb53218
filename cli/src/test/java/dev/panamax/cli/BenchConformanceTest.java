package dev.panamax.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code info -m} and {@code bench} on GGUF files written by llama.cpp's tools: the parameter count and vocabulary
 * size agree with what llama.cpp reports for the same file. Runs only when the reference toolkit is present
 * (system property {@code panamax.llamacpp.ref}, default /tmp/llamacpp-ref).
 */
class BenchConformanceTest {
    static final Path REF = Path.of(System.getProperty("panamax.llamacpp.ref", "/tmp/llamacpp-ref"));

    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama-q8_0.gguf", "tiny-llama-q4_k_m.gguf", "tiny-llama-f16.gguf"})
    void infoAgreesWithLlamaCppAndBenchRuns(String name) throws Exception {
        Path file = REF.resolve("models").resolve(name);
        Path llref = REF.resolve("bin/llref");
        Assumptions.assumeTrue(Files.isRegularFile(file) && Files.isExecutable(llref),
                "llama.cpp reference not installed in " + REF + " (see ../shared/tools/llamacpp-ref/setup.sh)");
        String out = runLlref(llref, file);
        Matcher m = Pattern.compile("params: (\\d+) \\| size: \\d+ bytes \\| n_vocab: (\\d+)").matcher(out);
        assertTrue(m.find(), "llref's model line not found in:\n" + out);

        Map<String, Object> info = InfoCommand.describe(file);
        assertEquals(Long.parseLong(m.group(1)), info.get("n_params"), "llama_model_n_params");
        assertEquals(Integer.parseInt(m.group(2)), info.get("n_vocab"), "llama_vocab_n_tokens");

        CliTest.Result r = CliTest.run("bench", "-m", file.toString(), "-p", "16", "-n", "4", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertTrue(j.get("pp_tps").asDouble() > 0 && j.get("tg_tps").asDouble() > 0, r.out());
    }

    private static String runLlref(Path llref, Path file) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(llref.toString(), "-m", file.toString(), "-t", "1,2", "-n", "1", "--fa", "1")
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("llref did not finish in 60 s");
        }
        assertEquals(0, p.exitValue(), "llref failed:\n" + out);
        return out;
    }
}
