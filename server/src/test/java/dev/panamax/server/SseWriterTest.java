package dev.panamax.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** The spliced text event is the tree's event, byte for byte, whatever the text holds. */
class SseWriterTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static ObjectNode chatChunk(String text) {
        ObjectNode o = JSON.createObjectNode().put("id", "chatcmpl-\"x\"").put("object", "chat.completion.chunk").put("created", 1);
        ObjectNode c = o.putArray("choices").addObject().put("index", 3);
        c.putObject("delta").put("content", text);
        c.putNull("logprobs");
        c.putNull("finish_reason");
        o.putNull("usage");
        return o;
    }

    private static ObjectNode completionChunk(String text) {
        ObjectNode o = JSON.createObjectNode().put("id", "cmpl-1").put("object", "text_completion");
        o.putArray("choices").addObject().put("index", 0).put("text", text).putNull("finish_reason");
        return o;
    }

    @Test
    void splicedTextEqualsTheTree() {
        String[] texts = {"plain", "", " quote\" back\\slash /", "new\nline\ttab\r", "\u0001\u001f\u007f control", "é 日本 😀 \uFFFD",
                "</script>", "\u2028\u2029"};
        for (Function<String, ObjectNode> shape : java.util.List.<Function<String, ObjectNode>>of(SseWriterTest::chatChunk, SseWriterTest::completionChunk)) {
            SseWriter.TextEvent ev = SseWriter.TextEvent.of(shape);
            SseWriter out = new SseWriter(null);
            StringBuilder want = new StringBuilder();
            for (String t : texts) {
                ev.append(out, t);
                want.append("data: ").append(shape.apply(t)).append("\n\n");
            }
            out.event(shape.apply("tree"));
            want.append("data: ").append(shape.apply("tree")).append("\n\n");
            assertEquals(want.toString(), new String(out.pending(), StandardCharsets.UTF_8));
        }
    }

    @Test
    void aShapeWithoutTheTextIsRefused() {
        assertThrows(IllegalStateException.class, () -> SseWriter.TextEvent.of(t -> JSON.createObjectNode().put("text", "fixed")));
        assertThrows(IllegalStateException.class, () -> SseWriter.TextEvent.of(t -> JSON.createObjectNode().put("a", t).put("b", t)));
    }
}
