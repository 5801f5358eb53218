package dev.panamax.tokenizer;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Coverage-guided fuzz target for the chat-template sandbox (Jazzer): an arbitrary template is parsed and rendered
 * over a fixed conversation. Allowed: an output, or a {@link ChatTemplateException}; a finding is any other exception,
 * an output over {@link ChatTemplate#MAX_OUTPUT_CHARS}, or (Jazzer's own detectors) a hang, an OutOfMemoryError, a
 * file, class or reflection access. Normal test runs replay the committed inputs in
 * {@code src/test/resources/dev/panamax/tokenizer/ChatTemplateFuzzTestInputs/render/}; {@code scripts/fuzz.sh template}
 * fuzzes.
 */
class ChatTemplateFuzzTest {

    static final List<ChatMessage> CONVERSATION = List.of(ChatMessage.system("Be brief."), ChatMessage.user("Hi {{ 7*7 }}"),
            ChatMessage.assistant("Hello."), ChatMessage.user("Bye"));

    @FuzzTest(maxDuration = "10m")
    void render(byte[] data) {
        String src = new String(data, StandardCharsets.UTF_8);
        try {
            ChatTemplate t = ChatTemplate.of(src, "<s>", "</s>");
            String out = t.render(CONVERSATION, true);
            if (out.length() > ChatTemplate.MAX_OUTPUT_CHARS) throw new AssertionError("output of " + out.length() + " chars");
        } catch (ChatTemplateException expected) {
            // refused: does not parse, raised, or over a limit
        }
    }
}
