package dev.panamax.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import dev.panamax.Engine;
import dev.panamax.Model;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The official {@code openai} npm package against the server: runs {@code src/test/node/openai-client.mjs} under Node
 * when {@code node} and the script's installed {@code node_modules} are there ({@code npm ci} in that folder; .ci/run
 * does it). Skipped without them, unless PANAMAX_REQUIRE_NODE=1 (CI), where their absence fails the test.
 */
class OpenAiNodeClientTest {
    static final Path SCRIPT_DIR = Path.of("src/test/node");

    @TempDir
    Path dir;

    @Test
    void officialNodeClient() throws Exception {
        String missing = missingPrerequisite();
        if (missing != null) {
            if ("1".equals(System.getenv("PANAMAX_REQUIRE_NODE"))) fail("PANAMAX_REQUIRE_NODE=1 but " + missing);
            Assumptions.abort("openai npm client test NOT RUN: " + missing);
        }
        try (Model model = TestServers.loadModel(dir)) {
            Engine engine = TestServers.engine(model, 64);
            try (Server server = Server.start(engine, TestServers.config())) {
                ProcessBuilder pb = new ProcessBuilder("node", "openai-client.mjs").directory(SCRIPT_DIR.toFile())
                        .redirectErrorStream(true).redirectOutput(dir.resolve("node.log").toFile());
                pb.environment().put("PANAMAX_BASE_URL", server.baseUri() + "/v1");
                pb.environment().put("PANAMAX_MODEL", TestServers.MODEL_ID);
                Process p = pb.start();
                if (!p.waitFor(180, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    fail("node did not finish in 180 s:\n" + log());
                }
                String out = log();
                System.out.print(out);
                assertEquals(0, p.exitValue(), "openai-client.mjs failed:\n" + out);
            }
        }
    }

    private String log() throws IOException {
        Path f = dir.resolve("node.log");
        return Files.exists(f) ? Files.readString(f, StandardCharsets.UTF_8) : "";
    }

    /** Why the script cannot run here, or null when it can. */
    private static String missingPrerequisite() {
        try {
            Process p = new ProcessBuilder("node", "--version").redirectErrorStream(true).start();
            String v = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) return "`node --version` failed: " + v;
            int major = Integer.parseInt(v.replaceFirst("^v(\\d+).*", "$1"));
            if (major < 20) return "node " + v + " is older than 20";
        } catch (IOException | NumberFormatException e) {
            return "no usable `node` on the PATH (" + e.getMessage() + ")";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted";
        }
        if (!Files.isRegularFile(SCRIPT_DIR.resolve("node_modules/openai/package.json")))
            return "the openai package is not installed (run `npm ci` in server/src/test/node)";
        return null;
    }
}
