package dev.panamax.server;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamax.Engine;
import dev.panamax.Model;
import dev.panamax.spec.Speculation;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The request field {@code "speculative"} (with llama-server's {@code "speculative.n_max"}): the same completion with
 * and without it, its drafts in {@code /metrics}; a bad value, MTP or a draft model on a server without it is a 400.
 */
class SpeculativeRequestTest {
    static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    static Path dir;
    static Model model;

    @BeforeAll
    static void load() throws Exception {
        model = TestServers.loadModel(dir);
    }

    @AfterAll
    static void close() {
        if (model != null) model.close();
    }

    @Test
    void speculativeFieldGivesTheSameTextAndCountsDrafts() throws Exception {
        try (Engine engine = model.newEngine(Engine.Config.defaults().withMaxSequences(2).withContextLength(512)
                .withSpeculation(Speculation.OFF));
             Server s = Server.start(engine, TestServers.config())) {
            // a prompt with every token of the vocabulary: whatever comes next occurred before, prompt lookup drafts
            StringBuilder ids = new StringBuilder("1");
            for (int t = 3; t < model.vocabSize(); t++) ids.append(", ").append(t);
            String prompt = "\"prompt\": [" + ids + "], \"max_tokens\": 24, \"temperature\": 0";
            var plain = ReadyAndApiKeyFileTest.post(s, "/v1/completions", "{" + prompt + "}");
            assertEquals(200, plain.statusCode(), plain.body());
            var spec = ReadyAndApiKeyFileTest.post(s, "/v1/completions", "{" + prompt + ", \"speculative\": \"ngram\", \"speculative.n_max\": 4}");
            assertEquals(200, spec.statusCode(), spec.body());
            JsonNode a = JSON.readTree(plain.body()), b = JSON.readTree(spec.body());
            assertEquals(a.at("/choices/0/text").asText(), b.at("/choices/0/text").asText());
            assertTrue(engine.specStats().drafted() > 0, "drafts: " + engine.specStats());
            String metrics = ReadyAndApiKeyFileTest.get(s, "/metrics").body();
            assertTrue(metrics.contains("vllm:spec_decode_num_draft_tokens_total"), metrics);
            ReadyAndApiKeyFileTest.assertError(ReadyAndApiKeyFileTest.post(s, "/v1/completions", "{" + prompt + ", \"speculative\": \"eagle\"}"), 400, "invalid_value");
            ReadyAndApiKeyFileTest.assertError(ReadyAndApiKeyFileTest.post(s, "/v1/completions", "{" + prompt + ", \"speculative\": \"mtp\"}"), 400, "invalid_value");
            // a draft model only when the server has one, and never a file named by the request
            ReadyAndApiKeyFileTest.assertError(ReadyAndApiKeyFileTest.post(s, "/v1/completions", "{" + prompt + ", \"speculative\": \"draft\"}"), 400, "invalid_value");
            ReadyAndApiKeyFileTest.assertError(ReadyAndApiKeyFileTest.post(s, "/v1/completions", "{" + prompt + ", \"speculative\": \"draft:/tmp/x.gguf\"}"), 400, "invalid_value");
        }
    }
}
