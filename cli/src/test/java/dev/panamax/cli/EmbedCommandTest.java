package dev.panamax.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamax.Model;
import dev.panamax.model.TinyBert;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code panamax embed}: one JSON object per text with tokens and embedding (a reranker: score), the -o dump. */
class EmbedCommandTest {
    @TempDir
    Path dir;

    @Test
    void jsonLinesAndDump() throws Exception {
        Path m = TinyBert.write(dir, 1, 5), texts = dir.resolve("t.txt"), out = dir.resolve("e.f32");
        Files.writeString(texts, "hello world\n\nthe cat sat\r\n");
        CliTest.Result r = CliTest.run("embed", "-m", m.toString(), "-f", texts.toString(), "--json", "--threads", "1", "-o", out.toString());
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.out().strip().lines().toList();
        assertEquals(2, lines.size(), "empty lines skipped: " + r.out());
        float[] dump = new float[(int) Files.size(out) / 4];
        ByteBuffer.wrap(Files.readAllBytes(out)).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(dump);
        assertEquals(2 * TinyBert.DIM, dump.length);
        try (Model model = Model.load(m)) {
            List<float[]> expected = model.embed(List.of("hello world", "the cat sat"));
            for (int i = 0; i < 2; i++) {
                JsonNode j = new ObjectMapper().readTree(lines.get(i));
                assertArrayEquals(model.embedder().tokenize(i == 0 ? "hello world" : "the cat sat"),
                        new ObjectMapper().convertValue(j.get("tokens"), int[].class));
                assertEquals(TinyBert.DIM, j.get("embedding").size());
                for (int d = 0; d < TinyBert.DIM; d++) {
                    assertEquals(expected.get(i)[d], j.get("embedding").get(d).floatValue(), 1e-6f);
                    assertEquals(expected.get(i)[d], dump[i * TinyBert.DIM + d], 1e-6f);
                }
            }
        }
    }

    @Test
    void rerankerLinesArePairs() throws Exception {
        Path m = TinyBert.write(dir, 4, 5), pairs = dir.resolve("p.txt");
        Files.writeString(pairs, "what is the capital of france?\tparis\nwhat is the capital of france?\tdog\n");
        CliTest.Result r = CliTest.run("embed", "-m", m.toString(), "-f", pairs.toString(), "--json", "--threads", "1");
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.out().strip().lines().toList();
        try (Model model = Model.load(m)) {
            float[] s = model.rerank("what is the capital of france?", List.of("paris", "dog"));
            for (int i = 0; i < 2; i++) assertEquals(s[i], new ObjectMapper().readTree(lines.get(i)).get("score").floatValue(), 1e-3f * Math.abs(s[i]));
        }
        CliTest.Result bad = CliTest.run("embed", "-m", m.toString(), "-p", "x", "--pooling", "avg");
        assertNotEquals(0, bad.code());
        assertTrue(bad.err().contains("unknown pooling"), bad.err());
    }
}
