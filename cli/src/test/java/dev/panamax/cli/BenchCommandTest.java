package dev.panamax.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamax.model.TinyModels;
import dev.panamax.tensor.GgmlType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code panamax bench}: DESIGN.md's JSON object, its values, and clear errors. */
class BenchCommandTest {
    @TempDir
    static Path dir;
    static Path model;

    @BeforeAll
    static void writeModel() throws Exception {
        model = TinyModels.write(dir, "llama", GgmlType.Q8_0, false, 7);
    }

    static JsonNode json(CliTest.Result r) throws Exception {
        assertEquals(0, r.code(), r.err());
        assertEquals(1, r.out().strip().lines().count(), "one object on one line: " + r.out());
        return new ObjectMapper().readTree(r.out());
    }

    @Test
    void jsonHasExactlyTheContractKeysWithTheirTypes() throws Exception {
        JsonNode j = json(CliTest.run("bench", "-m", model.toString(), "-p", "20", "-n", "6", "--threads", "2", "--json"));
        List<String> keys = new ArrayList<>();
        j.fieldNames().forEachRemaining(keys::add);
        assertEquals(List.of("prompt_tokens", "gen_tokens", "threads", "backend", "pp_tps", "tg_tps", "ttft_ms", "rss_mb",
                "kv_bytes_per_token"), keys);
        assertEquals(20, j.get("prompt_tokens").asInt());
        assertTrue(j.get("prompt_tokens").isIntegralNumber() && j.get("gen_tokens").isIntegralNumber() && j.get("threads").isIntegralNumber());
        assertEquals(6, j.get("gen_tokens").asInt());
        assertEquals(2, j.get("threads").asInt());
        assertEquals("native", j.get("backend").asText());
        int hd = TinyModels.DIM / TinyModels.HEADS;
        assertEquals(2L * TinyModels.LAYERS * TinyModels.KV_HEADS * hd * 2, j.get("kv_bytes_per_token").asLong(), "K + V, F16");
        for (String k : new String[] {"pp_tps", "tg_tps", "ttft_ms", "rss_mb"}) {
            assertTrue(j.get(k).isNumber() && j.get(k).asDouble() > 0, k + " = " + j.get(k));
        }
        // the mapped weights, a JVM and the native library: more than a few MB, less than a lot
        assertTrue(j.get("rss_mb").asDouble() > 10 && j.get("rss_mb").asDouble() < 64_000, j.toString());
        // time to first token covers the whole prompt: at least the prompt time implied by pp_tps (ttft_ms is printed
        // to 0.01 ms, which on a quiet machine is the size of this tiny model's whole prompt time)
        assertTrue(j.get("ttft_ms").asDouble() >= 20 / j.get("pp_tps").asDouble() * 1e3 * 0.99 - 0.005, j.toString());
    }

    @Test
    void grammarRunIsMeasuredBesideThePlainOne() throws Exception {
        JsonNode j = json(CliTest.run("bench", "-m", model.toString(), "-p", "8", "-n", "24", "--json-object", "--json"));
        JsonNode g = j.get("grammar");
        assertTrue(g != null && g.isObject(), j.toString());
        assertEquals(j.get("tg_tps").asDouble(), g.get("tg_tps").asDouble());
        assertTrue(g.get("tg_grammar_tps").asDouble() > 0 && g.get("sample_us_per_token").asDouble() > 0, g.toString());
        assertEquals(g.get("tg_grammar_tps").asDouble() / g.get("tg_tps").asDouble(), g.get("ratio").asDouble(), 0.01);
        assertTrue(g.get("masks_computed").asLong() > 0, "a random model's first choice is rarely '{': " + g);
        CliTest.Result par = CliTest.run("bench", "-m", model.toString(), "--parallel", "2", "--json-object");
        assertNotEquals(0, par.code());
        assertTrue(par.err().contains("not with --parallel"), par.err());
    }

    @Test
    void speculationIsComparedWithPlainDecodingInOneProcess() throws Exception {
        JsonNode j = json(CliTest.run("bench", "-m", model.toString(), "-p", "8", "-n", "8", "--parallel", "2", "--spec", "ngram",
                "--vs-off", "-r", "3", "--json"));
        assertEquals(3, j.get("pairs").asInt());
        double on = j.get("agg_tg_tps").asDouble(), off = j.get("off_agg_tg_tps").asDouble(), r = j.get("vs_off").asDouble();
        assertTrue(on > 0 && off > 0 && r > 0, j.toString());
        assertTrue(j.get("vs_off_min").asDouble() <= r && r <= j.get("vs_off_max").asDouble(), j.toString());
        assertEquals("ngram", j.get("spec").get("mode").asText());
        assertEquals(j.get("spec_all_runs").get("gen_tokens").asLong(), 3 * 2 * 8, j.toString());
        // without --spec: two plain engines paired, the A/A control (nothing drafted)
        JsonNode aa = json(CliTest.run("bench", "-m", model.toString(), "-p", "8", "-n", "8", "--parallel", "2", "--vs-off", "-r", "3", "--json"));
        assertEquals(3, aa.get("pairs").asInt());
        assertTrue(aa.get("vs_off").asDouble() > 0, aa.toString());
        assertEquals(0, aa.get("spec_all_runs").get("drafted").asLong(), aa.toString());
    }

    @Test
    void javaBackendIsHonoured() throws Exception {
        JsonNode j = json(CliTest.run("bench", "-m", model.toString(), "-p", "8", "-n", "4", "--backend", "java", "--threads", "3", "--json"));
        assertEquals("java", j.get("backend").asText());
        assertEquals(3, j.get("threads").asInt(), "the Java backend runs --threads threads; the JSON says what ran");
    }

    @Test
    void repsKeepTheBest() throws Exception {
        JsonNode j = json(CliTest.run("bench", "-m", model.toString(), "-p", "100", "-n", "20", "-r", "2", "--json"));
        assertEquals(100, j.get("prompt_tokens").asInt());
        assertTrue(j.get("tg_tps").asDouble() > 0);
    }

    @Test
    void textOutputNamesEveryFigure() {
        CliTest.Result r = CliTest.run("bench", "-m", model.toString(), "-p", "8", "-n", "4");
        assertEquals(0, r.code(), r.err());
        for (String s : new String[] {"prompt (pp8)", "decode (tg4)", "first token", "resident memory", "tok/s", "MB"}) {
            assertTrue(r.out().contains(s), s + " missing in:\n" + r.out());
        }
    }

    @Test
    void moreTokensThanTheContextIsAClearError() {
        CliTest.Result r = CliTest.run("bench", "-m", model.toString(), "-p", "100", "-n", String.valueOf(TinyModels.CTX));
        assertEquals(1, r.code());
        assertTrue(r.err().contains("context_length " + TinyModels.CTX), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
    }

    @Test
    void badCountsAndMissingFilesAreClearErrors() {
        CliTest.Result zero = CliTest.run("bench", "-m", model.toString(), "-p", "0");
        assertEquals(1, zero.code());
        assertTrue(zero.err().contains("-p must be at least 1"), zero.err());
        CliTest.Result missing = CliTest.run("bench", "-m", dir.resolve("nope.gguf").toString());
        assertEquals(1, missing.code());
        assertTrue(missing.err().contains("not found"), missing.err());
        CliTest.Result noModel = CliTest.run("bench");
        assertNotEquals(0, noModel.code());
    }

    @Test
    void notAGgufFileIsAClearError() throws Exception {
        Path junk = Files.writeString(dir.resolve("junk.gguf"), "this is not a model");
        CliTest.Result r = CliTest.run("bench", "-m", junk.toString(), "--json");
        assertEquals(1, r.code());
        assertTrue(r.err().startsWith("panamax: "), r.err());
        assertEquals("", r.out());
    }

    @Test
    void rssIsReadFromProc() {
        double mb = BenchCommand.rssMb();
        if (Files.isReadable(Path.of("/proc/self/status"))) assertTrue(mb > 1, "VmRSS " + mb);
        else assertEquals(-1, mb);
    }

    // -------- info -m --------

    @Test
    void infoModelHasTheContractKeysAndValues() throws Exception {
        JsonNode j = json(CliTest.run("info", "-m", model.toString(), "--json"));
        assertTrue(j.get("isa").isTextual(), "the CPU part is still there");
        JsonNode m = j.get("model");
        assertEquals("llama", m.get("arch").asText());
        int hd = TinyModels.DIM / TinyModels.HEADS;
        // K and V, every layer, every KV head, F16: 2 x n_layer x n_kv_head x head_dim x 2 bytes
        assertEquals(2L * TinyModels.LAYERS * TinyModels.KV_HEADS * hd * 2, m.get("kv_bytes_per_token").asLong());
        assertEquals(TinyModels.CTX, m.get("n_ctx_train").asInt());
        assertEquals(TinyModels.VOCAB, m.get("n_vocab").asInt());
        long d = TinyModels.DIM, f = TinyModels.FFN, v = TinyModels.VOCAB, kv = TinyModels.KV_HEADS * hd;
        long perLayer = d + d * d + 2 * d * kv + d * d + d + 3 * d * f;
        assertEquals(2 * v * d + d + TinyModels.LAYERS * perLayer, m.get("n_params").asLong());
        // 2 + 7 per layer 2-D weights in Q8_0, 1 + 2 per layer norms in F32
        assertEquals(2 + 7 * TinyModels.LAYERS, m.get("types").get("q8_0").asInt());
        assertEquals(1 + 2 * TinyModels.LAYERS, m.get("types").get("f32").asInt());
        Set<String> typeKeys = new TreeSet<>();
        m.get("types").fieldNames().forEachRemaining(typeKeys::add);
        assertEquals(Set.of("f32", "q8_0"), typeKeys);
    }

    @Test
    void infoModelCountsTheSameParametersAsTheEngine() throws Exception {
        Path tied = TinyModels.write(dir, "qwen2", GgmlType.F16, true, 3);
        JsonNode m = json(CliTest.run("info", "-m", tied.toString(), "--json")).get("model");
        try (dev.panamax.Model loaded = dev.panamax.Model.load(tied)) {
            assertEquals(loaded.parameterCount(), m.get("n_params").asLong());
            assertEquals(loaded.kvBytesPerToken(), m.get("kv_bytes_per_token").asLong());
        }
        assertEquals("qwen2", m.get("arch").asText());
    }

    @Test
    void infoModelTextAndErrors() throws Exception {
        CliTest.Result text = CliTest.run("info", "-m", model.toString());
        assertEquals(0, text.code(), text.err());
        assertTrue(text.out().contains("model.kv_bytes_per_token"), text.out());
        CliTest.Result missing = CliTest.run("info", "-m", dir.resolve("absent.gguf").toString(), "--json");
        assertEquals(1, missing.code());
        assertTrue(missing.err().contains("not found"), missing.err());
        Path junk = Files.writeString(dir.resolve("junk2.gguf"), "GGUF but not really");
        CliTest.Result bad = CliTest.run("info", "-m", junk.toString(), "--json");
        assertEquals(1, bad.code());
        assertTrue(bad.err().startsWith("panamax: "), bad.err());
    }
}
