package dev.panamax.tokenizer;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Tools in chat templates: real templates render a tool list, a call and its result as transformers' {@code
 * apply_chat_template(tools=...)} does (scripts/chat-template-testdata.py wrote the expected text with jinja2), the
 * family's call format is told from the template, and calls are read back out of replies in each format.
 */
class ToolCallTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TestFactory
    Stream<DynamicTest> realTemplatesRenderToolsAsTransformers() throws Exception {
        JsonNode cases;
        try (InputStream in = ToolCallTest.class.getResourceAsStream("chat-templates-tools.json")) {
            cases = JSON.readTree(in);
        }
        assertTrue(cases.size() >= 20, "test data present");
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : cases) {
            tests.add(DynamicTest.dynamicTest(c.get("name").asText(), () -> {
                ChatTemplate t = ChatTemplate.of(c.get("template").asText(), c.get("bos_token").asText(),
                        c.get("eos_token").asText(), ChatTemplateTest.CLOCK);
                List<ChatMessage> msgs = new ArrayList<>();
                for (JsonNode m : c.get("messages")) {
                    List<ToolCall> calls = new ArrayList<>();
                    for (JsonNode tc : m.path("tool_calls")) {
                        calls.add(new ToolCall(tc.get("id").asText(), tc.get("function").get("name").asText(),
                                tc.get("function").get("arguments").toString()));
                    }
                    msgs.add(new ChatMessage(m.get("role").asText(), m.get("content").asText(), calls,
                            m.has("tool_call_id") ? m.get("tool_call_id").asText() : null, m.has("name") ? m.get("name").asText() : null));
                }
                List<Object> tools = JSON.convertValue(c.get("tools"), List.class);
                assertEquals(c.get("expected").asText(), t.render(msgs, tools, c.get("add_generation_prompt").asBoolean()));
                String name = c.get("name").asText();
                ToolCallFormat expected = name.startsWith("meta-llama") ? ToolCallFormat.LLAMA3_JSON
                        : name.startsWith("deepseek-ai-DeepSeek-V3") ? ToolCallFormat.DEEPSEEK
                        : name.startsWith("deepseek") ? ToolCallFormat.DEEPSEEK
                        : name.startsWith("mistralai") ? ToolCallFormat.MISTRAL : ToolCallFormat.HERMES;
                assertEquals(expected, t.toolCallFormat());
            }));
        }
        return tests.stream();
    }

    @Test
    void aTemplateWithoutToolsGetsThemInTheSystemMessage() {
        ChatTemplate t = ChatTemplate.of(ChatTemplate.CHATML, "", "");
        assertEquals(ToolCallFormat.GENERIC, t.toolCallFormat());
        List<Object> tools = List.of(java.util.Map.of("type", "function", "function", java.util.Map.of("name", "add")));
        String out = t.render(List.of(ChatMessage.user("1+2?")), tools, true);
        assertTrue(out.startsWith("<|im_start|>system\nYou can call these tools"), out);
        assertTrue(out.contains("\"name\": \"add\"") && out.contains("{\"response\": "), out);
        String withSystem = t.render(List.of(ChatMessage.system("Be brief."), ChatMessage.user("1+2?")), tools, true);
        assertTrue(withSystem.startsWith("<|im_start|>system\nBe brief.\n\nYou can call these tools"), withSystem);
        assertEquals(t.render(List.of(ChatMessage.user("1+2?")), true), t.render(List.of(ChatMessage.user("1+2?")), List.of(), true));
    }

    static Supplier<String> ids() {
        AtomicInteger n = new AtomicInteger();
        return () -> "id" + n.incrementAndGet();
    }

    static void assertCalls(ToolCallFormat.Parsed p, String content, String... nameArgs) {
        assertEquals(content, p.content());
        assertEquals(nameArgs.length / 2, p.calls().size(), p.toString());
        for (int i = 0; i < p.calls().size(); i++) {
            assertEquals(nameArgs[2 * i], p.calls().get(i).name());
            assertEquals(nameArgs[2 * i + 1], p.calls().get(i).arguments());
        }
    }

    @Test
    void hermesCalls() {
        var f = ToolCallFormat.HERMES;
        assertCalls(f.parse("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>", ids()), "",
                "get_weather", "{\"city\":\"Paris\"}");
        assertCalls(f.parse("Let me check.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n<tool_call>{\"name\": \"b\", "
                + "\"arguments\": {\"x\": [1, 2]}}</tool_call>", ids()), "Let me check.", "a", "{}", "b", "{\"x\":[1,2]}");
        // a reply that ends inside the closing tag still counts; braces inside strings are not structure
        assertCalls(f.parse("<tool_call>{\"name\": \"s\", \"arguments\": {\"q\": \"}</tool_call>{\"}}", ids()), "", "s", "{\"q\":\"}</tool_call>{\"}");
        assertCalls(f.parse("plain text, no call", ids()), "plain text, no call");
        assertCalls(f.parse("<tool_call>{\"name\": \"broken\", \"arguments\": {", ids()), "<tool_call>{\"name\": \"broken\", \"arguments\": {");
        assertCalls(f.parse("<tool_call>{\"arguments\": {}}</tool_call>", ids()), "<tool_call>{\"arguments\": {}}</tool_call>");
        assertEquals("id1", f.parse("<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>", ids()).calls().get(0).id());
    }

    @Test
    void llama3JsonCalls() {
        var f = ToolCallFormat.LLAMA3_JSON;
        assertCalls(f.parse("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", ids()), "", "get_weather", "{\"city\":\"Paris\"}");
        assertCalls(f.parse("<|python_tag|>{\"type\": \"function\", \"name\": \"add\", \"parameters\": {\"a\": 1, \"b\": 2}}", ids()), "",
                "add", "{\"a\":1,\"b\":2}");
        assertCalls(f.parse("{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"parameters\": {}}", ids()), "", "a", "{}", "b", "{}");
        assertCalls(f.parse("It is sunny.", ids()), "It is sunny.");
        assertCalls(f.parse("{\"not\": \"a call\"}", ids()), "{\"not\": \"a call\"}");
    }

    @Test
    void deepseekCalls() {
        var f = ToolCallFormat.DEEPSEEK;
        assertCalls(f.parse("Checking.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\"}\n```"
                + "<｜tool▁call▁end｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>add\n```json\n{\"a\": 1, \"b\": 2}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>", ids()),
                "Checking.", "get_weather", "{\"city\":\"Paris\"}", "add", "{\"a\":1,\"b\":2}");
        assertCalls(f.parse("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"Paris\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>", ids()),
                "", "get_weather", "{\"city\":\"Paris\"}");
        assertCalls(f.parse("no calls here", ids()), "no calls here");
    }

    @Test
    void mistralCalls() {
        var f = ToolCallFormat.MISTRAL;
        var p = f.parse("[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}, \"id\": \"abc123def\"}]", ids());
        assertCalls(p, "", "get_weather", "{\"city\":\"Paris\"}");
        assertEquals("abc123def", p.calls().get(0).id(), "the model's own id is kept");
        assertCalls(f.parse("[TOOL_CALLS]add[ARGS]{\"a\": 1, \"b\": 2}[TOOL_CALLS]add[ARGS]{\"a\": 3, \"b\": 4}", ids()), "",
                "add", "{\"a\":1,\"b\":2}", "add", "{\"a\":3,\"b\":4}");
    }

    @Test
    void genericCalls() {
        var f = ToolCallFormat.GENERIC;
        assertCalls(f.parse("{\"tool_call\": {\"name\": \"add\", \"arguments\": {\"a\": 1, \"b\": 2}}}", ids()), "", "add", "{\"a\":1,\"b\":2}");
        assertCalls(f.parse(" {\"tool_calls\": [{\"name\": \"a\", \"arguments\": {}}, {\"name\": \"b\", \"arguments\": \"{\\\"x\\\":1}\"}]}", ids()), "",
                "a", "{}", "b", "{\"x\":1}");
        assertCalls(f.parse("{\"response\": \"Hello!\"}", ids()), "Hello!");
        assertCalls(f.parse("Hello!", ids()), "Hello!");
    }

    @Test
    void contentBeforeACallStreamsAndTheCallIsHeldBack() {
        assertEquals(5, ToolCallFormat.HERMES.contentEnd("Sure.<tool_call>{"));
        assertEquals(5, ToolCallFormat.HERMES.contentEnd("Sure.<tool_c"), "a partial marker is held back");
        assertEquals(6, ToolCallFormat.HERMES.contentEnd("Sure. "));
        assertEquals(0, ToolCallFormat.LLAMA3_JSON.contentEnd("  {\"name"));
        assertEquals(0, ToolCallFormat.LLAMA3_JSON.contentEnd("<|pyth"));
        assertEquals(0, ToolCallFormat.GENERIC.contentEnd("  "));
        assertEquals(9, ToolCallFormat.GENERIC.contentEnd("It is 21."));
        assertEquals(3, ToolCallFormat.MISTRAL.contentEnd("Ok [TOOL_CALLS]["));
        assertEquals(2, ToolCallFormat.DEEPSEEK.contentEnd("Ok<｜tool▁calls"));
    }

    @Test
    void callPrefixesParseOnceTheModelCompletesThem() {
        for (ToolCallFormat f : ToolCallFormat.values()) {
            String completion = switch (f) {
                case HERMES -> "{\"city\": \"Paris\"}}\n</tool_call>";
                case LLAMA3_JSON -> "{\"city\": \"Paris\"}}";
                case DEEPSEEK -> "{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
                case MISTRAL -> "{\"city\": \"Paris\"}}]";
                case GENERIC -> "{\"city\": \"Paris\"}}}";
            };
            assertCalls(f.parse(f.callPrefix("get_weather") + completion, ids()), "", "get_weather", "{\"city\":\"Paris\"}");
        }
    }
}
