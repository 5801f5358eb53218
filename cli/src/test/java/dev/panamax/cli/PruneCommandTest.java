package dev.panamax.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamax.model.TinyDeepseek;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code prune} on a tiny deepseek2 file: a pruned model and its JSON report; hostile arguments in one line, no file. */
class PruneCommandTest {
    @TempDir
    static Path dir;
    static Path model, calib;

    @BeforeAll
    static void write() throws Exception {
        model = TinyDeepseek.write(dir, TinyDeepseek.Options.defaults().withGating(true, true).withNorm(true, 2.5f));
        calib = dir.resolve("calib.txt");
        Files.writeString(calib, "hello world once upon a time the world said hello to the time there was a tree. ".repeat(8));
    }

    @Test
    void prunesExpertsAndReports() throws Exception {
        Path out = dir.resolve("out.gguf"), report = dir.resolve("r.json");
        CliTest.Result r = CliTest.run("prune", "-m", model.toString(), "-o", out.toString(), "-f", calib.toString(),
                "--experts-drop-frac", "0.25", "-c", "32", "--report", report.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(Files.readString(report));
        assertEquals("importance", j.get("mode").asText());
        assertEquals(2, j.get("layers").size()); // the two MoE layers
        for (JsonNode l : j.get("layers")) {
            assertEquals(6, l.get("after").asInt());
            assertEquals(2, l.get("dropped").size());
            assertEquals(8, l.get("scores").size());
        }
        try (dev.panamax.Model m = dev.panamax.Model.load(out)) {
            assertEquals("deepseek2", m.architecture());
        }
    }

    @Test
    void hostileArgumentsAreOneLineErrors() {
        Path out = dir.resolve("never.gguf");
        String[][] bad = {
            {"--experts-keep", "0"}, {"--experts-keep", "1"}, {"--experts-keep", "99"}, {"--experts-drop-frac", "1"},
            {"--ffn-keep-frac", "-0.5"}, {"--heads-keep", "2"}, {"--expert-score", "magic"}, {"--type", "q9_z"},
        };
        for (String[] b : bad) {
            String[] args = new String[8 + b.length];
            String[] head = {"prune", "-m", model.toString(), "-o", out.toString(), "-f", calib.toString(), "-c"};
            System.arraycopy(head, 0, args, 0, head.length);
            args = java.util.Arrays.copyOf(args, head.length + 1 + b.length);
            args[head.length] = "32";
            System.arraycopy(b, 0, args, head.length + 1, b.length);
            CliTest.Result r = CliTest.run(args);
            assertEquals(1, r.code(), String.join(" ", b) + ": " + r.err());
            assertEquals(1, r.err().strip().lines().count(), String.join(" ", b) + ": " + r.err());
            assertTrue(r.err().startsWith("panamax: "), r.err());
            assertFalse(Files.exists(out), String.join(" ", b) + " wrote a file");
        }
        CliTest.Result same = CliTest.run("prune", "-m", model.toString(), "-o", model.toString(), "-f", calib.toString(), "--experts-keep", "4");
        assertEquals(1, same.code());
        assertTrue(same.err().contains("input"), same.err());
        Path empty = dir.resolve("empty.txt");
        CliTest.Result zero;
        try {
            Files.writeString(empty, "");
            zero = CliTest.run("prune", "-m", model.toString(), "-o", out.toString(), "-f", empty.toString(), "--experts-keep", "4");
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
        assertEquals(1, zero.code());
        assertTrue(zero.err().contains("0 tokens"), zero.err());
        assertFalse(Files.exists(out));
    }
}
