package dev.panamax.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Chat templates of real model families rendered against the exact strings llama.cpp's tests expect and that Python's
 * jinja2, set up as transformers' apply_chat_template, gives (scripts/chat-template-testdata.py wrote the data).
 */
class ChatTemplateTest {

    /** The date the test data was rendered with (strftime_now). */
    static final Clock CLOCK = Clock.fixed(Instant.parse("2025-01-15T12:00:00Z"), ZoneOffset.UTC);

    @TestFactory
    Stream<DynamicTest> realTemplatesRenderAsTransformersAndLlamaCpp() throws Exception {
        JsonNode cases;
        try (InputStream in = ChatTemplateTest.class.getResourceAsStream("chat-templates.json")) {
            cases = new ObjectMapper().readTree(in);
        }
        assertTrue(cases.size() >= 60, "test data present");
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : cases) {
            tests.add(DynamicTest.dynamicTest(c.get("name").asText(), () -> {
                ChatTemplate t = ChatTemplate.of(c.get("template").asText(), c.get("bos_token").asText(),
                        c.get("eos_token").asText(), CLOCK);
                List<ChatMessage> msgs = new ArrayList<>();
                for (JsonNode m : c.get("messages")) msgs.add(new ChatMessage(m.get("role").asText(), m.get("content").asText()));
                assertEquals(c.get("expected").asText(), t.render(msgs, c.get("add_generation_prompt").asBoolean()));
            }));
        }
        return tests.stream();
    }

    static final List<ChatMessage> CONV = List.of(ChatMessage.system("You are a helpful assistant"),
            ChatMessage.user("Hello"), ChatMessage.assistant("Hi there"), ChatMessage.user("Who are you"));

    @Test
    void chatmlFallbackIsLlamaCppsDefault() {
        ChatTemplate t = ChatTemplate.of(ChatTemplate.CHATML, "", "");
        assertEquals("<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
                + "<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n"
                + "<|im_start|>assistant\n", t.render(CONV, true));
        assertTrue(t.supportsSystemRole());
    }

    @Test
    void raiseExceptionBecomesAClearError() {
        ChatTemplate t = ChatTemplate.of("{% for m in messages %}{% if m.role == 'system' %}"
                + "{{ raise_exception('System role not supported') }}{% endif %}{{ m.content }}{% endfor %}", "", "");
        assertFalse(t.supportsSystemRole());
        // the system message is merged into the first user message (llama.cpp's workaround), so rendering works
        assertEquals("sys\nhi", t.render(List.of(ChatMessage.system("sys"), ChatMessage.user("hi")), false));
        ChatTemplate alt = ChatTemplate.of("{% for m in messages %}{% if (m.role == 'user') != (loop.index0 % 2 == 0) %}"
                + "{{ raise_exception('Conversation roles must alternate') }}{% endif %}{{ m.content }}{% endfor %}", "", "");
        ChatTemplateException e = assertThrows(ChatTemplateException.class,
                () -> alt.render(List.of(ChatMessage.user("a"), ChatMessage.user("b")), false));
        assertTrue(e.getMessage().contains("Conversation roles must alternate"), e.getMessage());
    }

    @Test
    void brokenTemplateNamesTheProblem() {
        ChatTemplateException e = assertThrows(ChatTemplateException.class,
                () -> ChatTemplate.of("{% for m in messages %}{{ m.content }}", "", ""));
        assertTrue(e.getMessage().startsWith("chat template"), e.getMessage());
        assertThrows(ChatTemplateException.class, () -> ChatTemplate.of("{% if %}x{% endif %}", "", ""));
        assertThrows(ChatTemplateException.class, () -> ChatTemplate.of("{{ messages[0].content.nosuchmethod() }}", "", ""));
    }

    @Test
    void pythonStringAndDictMethods() {
        assertEquals("[a|b|c] yes no x-y ['a', 'b c'] HELLO World Title Case",
                render("[{{ '  a|b|c \\n'.strip().split('|') | join('|') }}] {{ 'yes' if 'abc'.startswith('ab') else 'no' }} "
                        + "{{ 'yes' if 'abc'.endswith(('x', 'y')) else 'no' }} {{ '--x-y--'.strip('-') }} {{ 'a b c'.split(' ', 1) }} "
                        + "{{ 'hello'.upper() }} {{ 'world'.capitalize() }} {{ 'title case'.title() }}"));
        assertEquals("a=1;b=2;", render("{% set d = {'a': 1, 'b': 2} %}{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}"));
        assertEquals("['x', 'y', 'z']", render("{{ ' x  y\\tz '.split() }}"));
        assertEquals("3,2,1", render("{% for x in [1, 2, 3][::-1] %}{{ x }}{{ ',' if not loop.last }}{% endfor %}"));
        assertEquals("found", render("{% set ns = namespace(found=false) %}{% for m in messages %}"
                + "{% if m.role == 'user' %}{% set ns.found = true %}{% endif %}{% endfor %}{{ 'found' if ns.found }}"));
    }

    @Test
    void tojsonWritesWhatPythonJsonDumpsWrites() {
        assertEquals("{\"name\": \"f\", \"args\": [1, 2.5, \"é\", true, null]}",
                ChatTemplate.toJson(Map.of("name", "f", "args", java.util.Arrays.asList(1, 2.5, "é", true, null)).entrySet()
                        .stream().sorted(Map.Entry.comparingByKey(java.util.Comparator.reverseOrder()))
                        .collect(java.util.stream.Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue, (a, b) -> a,
                                java.util.LinkedHashMap::new)), null, false));
        assertEquals("{\n  \"a\": [\n    1\n  ],\n  \"b\": {}\n}",
                ChatTemplate.toJson(new java.util.TreeMap<>(Map.of("a", List.of(1), "b", Map.of())), 2, false));
        assertEquals("{\"a\": 1}", render("{{ {'a': 1} | tojson }}"));
    }

    @Test
    void strftimeNowReadsTheClock() {
        assertEquals("15 Jan 2025", ChatTemplate.of("{{ strftime_now('%d %b %Y') }}", "", "", CLOCK)
                .render(List.of(), false));
    }

    private static String render(String template) {
        return ChatTemplate.of(template, "", "", CLOCK).render(List.of(ChatMessage.user("u")), false);
    }
}
