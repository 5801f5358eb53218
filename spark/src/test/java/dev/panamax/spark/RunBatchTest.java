package dev.panamax.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamax.Generation;
import dev.panamax.Model;
import dev.panamax.Session;
import dev.panamax.sampling.SamplingParams;
import dev.panamax.tokenizer.ChatMessage;
import dev.panamax.tokenizer.ChatTemplate;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** run-batch: an OpenAI Batch API file in, one result line per request out, in order, through the server's mapping. */
class RunBatchTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @Test
    void batchFileInResultFileOut() throws Exception {
        TestSpark.local();
        Path model = TestSpark.model();
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            lines.add("{\"custom_id\":\"chat-" + i + "\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"gpt-4o-mini\","
                    + "\"messages\":[{\"role\":\"user\",\"content\":\"the cat " + "sat ".repeat(i) + "\"}],\"max_tokens\":6,\"temperature\":0}}");
        }
        lines.add("{\"custom_id\":\"text\",\"method\":\"POST\",\"url\":\"/v1/completions\",\"body\":{\"prompt\":\"on a mat\",\"max_tokens\":5,\"temperature\":0}}");
        lines.add("{\"custom_id\":\"long\",\"method\":\"POST\",\"url\":\"/v1/completions\",\"body\":{\"prompt\":\"" + "the cat sat ".repeat(100) + "\",\"max_tokens\":5}}");
        lines.add("{\"custom_id\":\"embed\",\"method\":\"POST\",\"url\":\"/v1/embeddings\",\"body\":{\"input\":\"x\"}}");
        lines.add("not json");
        Path in = dir.resolve("in.jsonl"), out = dir.resolve("out.jsonl");
        Files.write(in, lines, StandardCharsets.UTF_8);

        int rc = new CommandLine(new RunBatch()).execute("-m", model.toString(), "-i", in.toString(), "-o", out.toString(),
                "--parallel", "4", "--partitions", "3");
        assertEquals(0, rc);
        List<JsonNode> results = new ArrayList<>();
        for (String l : Files.readAllLines(out)) results.add(JSON.readTree(l));
        assertEquals(lines.size(), results.size());

        try (Model m = Model.load(model, Model.Options.defaults().withThreads(1))) {
            ChatTemplate t = m.chatTemplate();
            for (int i = 0; i < 6; i++) {
                JsonNode r = results.get(i);
                assertEquals("chat-" + i, r.get("custom_id").asText());
                assertTrue(r.get("error").isNull());
                assertEquals(200, r.at("/response/status_code").asInt(), r.toString());
                JsonNode body = r.at("/response/body");
                assertEquals("chat.completion", body.get("object").asText());
                int[] ids = t.tokenize(t.render(List.of(ChatMessage.user("the cat " + "sat ".repeat(i))), true), m.tokenizer());
                try (Session s = m.newSession()) {
                    Generation alone = s.generate(ids, 6, SamplingParams.greedy(), null);
                    assertEquals(alone.text(), body.at("/choices/0/message/content").asText(), "chat-" + i);
                    assertEquals(ids.length, body.at("/usage/prompt_tokens").asInt());
                }
            }
            JsonNode text = results.get(6);
            assertEquals("text", text.get("custom_id").asText());
            try (Session s = m.newSession()) {
                assertEquals(s.generate("on a mat", 5, SamplingParams.greedy(), null).text(), text.at("/response/body/choices/0/text").asText());
            }
        }
        JsonNode tooLong = results.get(7);
        assertEquals(400, tooLong.at("/response/status_code").asInt(), tooLong.toString());
        assertEquals("context_length_exceeded", tooLong.at("/response/body/error/code").asText());
        assertEquals("invalid_url", results.get(8).at("/error/code").asText());
        assertTrue(results.get(8).get("response").isNull());
        assertEquals("embed", results.get(8).get("custom_id").asText());
        assertEquals("invalid_json", results.get(9).at("/error/code").asText());
    }
}
