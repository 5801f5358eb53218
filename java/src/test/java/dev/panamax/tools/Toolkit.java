package dev.panamax.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;

/**
 * The llama.cpp reference toolkit as the tools' conformance tests use it (fixtures, llquant, llppl); tests skip, saying
 * why, when it is absent: system property {@code panamax.llamacpp.ref}, default /tmp/llamacpp-ref.
 */
final class Toolkit {
    static final Path REF = Path.of(System.getProperty("panamax.llamacpp.ref", "/tmp/llamacpp-ref"));

    private Toolkit() {
    }

    static Path fixture(String name) {
        Path m = REF.resolve("models/" + name + ".gguf");
        assumePresent("bin/llquant", "bin/llppl");
        Assumptions.assumeTrue(Files.isRegularFile(m), "reference fixture missing: " + m + " (run ../shared/tools/llamacpp-ref/setup.sh)");
        return m;
    }

    static void assumePresent(String... tools) {
        for (String t : tools) {
            Assumptions.assumeTrue(Files.isExecutable(REF.resolve(t)), "llama.cpp reference toolkit not found at " + REF
                    + " (no " + t + "; set -Dpanamax.llamacpp.ref or run ../shared/tools/llamacpp-ref/setup.sh)");
        }
    }

    /** Runs a toolkit program (bin/NAME) and returns its output; fails the test when it fails. */
    static String run(String tool, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(REF.resolve("bin/" + tool).toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("PYTHONPATH", REF.resolve("src/gguf-py").toString());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), tool + " " + String.join(" ", args) + " failed:\n" + out);
        return out;
    }
}
