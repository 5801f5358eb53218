package dev.panamax.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.panamax.Generation;
import dev.panamax.Model;
import dev.panamax.Session;
import dev.panamax.model.TinyModels;
import dev.panamax.sampling.SamplingParams;
import dev.panamax.tensor.GgmlType;
import dev.panamax.tokenizer.ChatMessage;
import dev.panamax.tokenizer.ChatTemplate;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code panamax chat} end to end on a tiny random model that carries TinyLlama's chat template. */
class ChatCommandTest {
    @TempDir
    static Path dir;

    static final SamplingParams GREEDY = new SamplingParams(0f, 40, 0.95f, 0.05f, 1f, 64, 1);

    static Path model() throws Exception {
        return TinyModels.write(dir, "llama", GgmlType.Q8_0, false, 11, null, TinyModels.TINYLLAMA_CHAT_TEMPLATE);
    }

    @Test
    void templateFromTheFileAndSpecialTokensParsed() throws Exception {
        try (Model m = Model.load(model())) {
            ChatTemplate t = m.chatTemplate();
            String text = t.render(List.of(ChatMessage.system("be brief"), ChatMessage.user("hello world")), true);
            assertEquals("<|system|>\nbe brief</s>\n<|user|>\nhello world</s>\n<|assistant|>\n", text);
            int[] ids = t.tokenize(text, m.tokenizer());
            assertEquals(1, ids[0], "BOS added by the tokenizer");
            assertEquals(2, Arrays.stream(ids).filter(i -> i == 2).count(), "both </s> are the EOS token");
            int[] plain = m.tokenizer().encode(text, true, false);
            assertFalse(Arrays.stream(plain).anyMatch(i -> i == 2), "parse_special=false keeps </s> as text");
        }
    }

    @Test
    void generateFromReusesTheCommonPrefixAndMatchesAFreshSession() throws Exception {
        try (Model m = Model.load(model()); Session a = m.newSession(); Session b = m.newSession()) {
            int[] first = m.tokenizer().encode("hello world once upon a time");
            Generation g1 = a.generateFrom(first, 6, GREEDY, null);
            assertEquals(first.length, g1.promptTokens().length);
            int[] more = m.tokenizer().encode(" the world", false);
            int[] second = concat(first, g1.tokens(), more);
            Generation g2 = a.generateFrom(second, 6, GREEDY, null);
            // the cached prefix (prompt + reply; the last reply token is pending) is not fed again
            assertEquals(more.length, g2.promptTokens().length, "only the new tokens are fed");
            assertArrayEquals(b.generateFrom(second, 6, GREEDY, null).tokens(), g2.tokens(), "same as from scratch");
            // a different history: the cache is cut back to the common prefix, output still as from scratch
            int[] edited = concat(Arrays.copyOf(first, 3), m.tokenizer().encode(" a hello", false));
            Generation g3 = a.generateFrom(edited, 6, GREEDY, null);
            assertEquals(edited.length - 3, g3.promptTokens().length);
            b.reset();
            assertArrayEquals(b.generateFrom(edited, 6, GREEDY, null).tokens(), g3.tokens());
            // the same sequence again: one token is re-fed to get logits
            assertEquals(1, a.generateFrom(a.tokens(), 2, GREEDY, null).promptTokens().length);
        }
    }

    @Test
    void chatOverAPipeKeepsTheConversationInOneSession() throws Exception {
        String errOut = runChat("hello\n\nonce upon a time\n/exit\nnot read\n", "--system", "be brief");
        Matcher mt = Pattern.compile("\\[(\\d+) prompt tok \\((\\d+) reused\\)").matcher(errOut);
        assertTrue(mt.find(), errOut);
        assertEquals("0", mt.group(2), "first turn: nothing cached");
        assertTrue(mt.find(), "two turns: " + errOut);
        int reused = Integer.parseInt(mt.group(2));
        assertTrue(reused > 10, "second turn reuses the first turn's cache: " + errOut);
        assertFalse(mt.find(), "/exit ends the chat: " + errOut);
    }

    @Test
    void helpAndMissingTemplateFallBackToChatml() throws Exception {
        CliTest.Result h = CliTest.run("chat", "--help");
        assertEquals(0, h.code());
        assertTrue(h.out().contains("--system") && h.out().contains("--temp") && h.out().contains("--model"), h.out());
        Path plain = TinyModels.write(dir, "llama", GgmlType.Q8_0, false, 12);
        try (Model m = Model.load(plain)) {
            assertEquals("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
                    m.chatTemplate().render(List.of(ChatMessage.user("hi")), true));
        }
    }

    private static String runChat(String stdin, String... extra) throws Exception {
        InputStream old = System.in;
        System.setIn(new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)));
        try {
            String[] args = concatArgs(new String[] {"chat", "-m", model().toString(), "-n", "8", "--temp", "0"}, extra);
            CliTest.Result r = CliTest.run(args);
            assertEquals(0, r.code(), r.err());
            return r.err();
        } finally {
            System.setIn(old);
        }
    }

    private static String[] concatArgs(String[] a, String[] b) {
        String[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    private static int[] concat(int[]... parts) {
        return Arrays.stream(parts).flatMapToInt(Arrays::stream).toArray();
    }
}
