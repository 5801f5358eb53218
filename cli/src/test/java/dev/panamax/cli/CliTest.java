package dev.panamax.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

/** The command-line contract of DESIGN.md: names, JSON keys, exit codes, one-line errors. */
class CliTest {
    record Result(int code, String out, String err) {}

    static Result run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int code = Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new Result(code, out.toString(), err.toString());
    }

    @Test
    void infoJsonHasTheContractKeys() throws Exception {
        Result r = run("info", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode json = new ObjectMapper().readTree(r.out());
        assertTrue(json.get("features").isArray() && !json.get("features").isEmpty(), r.out());
        assertTrue(json.get("isa").isTextual(), r.out());
        assertEquals(dev.panamax.ffi.PanamaxNative.PMX_ABI_VERSION(), json.get("abi_version").asInt());
        assertEquals("native", json.get("backend").asText());
        assertEquals(1, r.out().strip().lines().count(), "one object on one line");
    }

    @Test
    void infoBackendJavaIsHonoured() throws Exception {
        Result r = run("info", "--json", "--backend", "java");
        assertEquals(0, r.code(), r.err());
        JsonNode json = new ObjectMapper().readTree(r.out());
        assertEquals("java", json.get("backend").asText());
        assertTrue(json.get("kernels").asText().startsWith("java/"));
    }

    @Test
    void infoTextMentionsIsaAndFeatures() {
        Result r = run("info");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("isa") && r.out().contains("features"), r.out());
    }

    @Test
    void unknownCommandIsOneLineAndNonZero() {
        Result r = run("frobnicate");
        assertNotEquals(0, r.code());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().startsWith("panamax: "), r.err());
    }

    @Test
    void unknownOptionIsOneLineAndNonZero() {
        Result r = run("info", "--bogus");
        assertNotEquals(0, r.code());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().contains("--bogus"), r.err());
    }

    @Test
    void badBackendValueIsAClearError() {
        Result r = run("info", "--backend", "gpu");
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains("gpu"), r.err());
    }

    @Test
    void helpDescribesEveryCommand() {
        Result r = run("--help");
        assertEquals(0, r.code());
        assertTrue(r.out().contains("info"), r.out());
        Result sub = run("info", "--help");
        assertEquals(0, sub.code());
        assertTrue(sub.out().contains("--json"), sub.out());
    }

    @Test
    void noCommandIsAnError() {
        assertNotEquals(0, run().code());
    }

    @Test
    void microbenchBatchAndTypesReportGflops() throws Exception {
        Result r = run("microbench", "--types", "q5_0,f16", "--batch", "3", "--mib", "1", "--seconds", "0.01",
                "--threads", "1", "--native-only", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode json = new ObjectMapper().readTree(r.out());
        assertEquals(3, json.get("batch").asInt());
        JsonNode gemv = json.get("gemv");
        assertEquals(2, gemv.size(), r.out()); // one native row per type, no Java rows, no packed layout for these
        for (JsonNode row : gemv) {
            assertEquals("native", row.get("backend").asText());
            assertTrue(row.get("gflops").asDouble() > 0, r.out());
        }
        assertTrue(run("microbench", "--types", "q9_9").code() != 0);
        assertTrue(run("microbench", "--batch", "0").code() != 0);
    }
}
