package dev.panamax.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamax.Engine;
import dev.panamax.Model;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The HTTP surface with a client that does not parse: SSE bytes, error statuses and shapes, disconnects, metrics. */
class HttpApiTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    static Model model;
    static Engine engine;
    static Server server;
    // the JDK client's default (HTTP/2) sends "Upgrade: h2c" on http:// URIs: the server must answer it as HTTP/1.1
    static final HttpClient http = HttpClient.newHttpClient();

    @BeforeAll
    static void start() throws Exception {
        model = TestServers.loadModel(dir);
        engine = TestServers.engine(model, 64);
        server = Server.start(engine, TestServers.config());
    }

    @AfterAll
    static void stop() {
        if (server != null) server.close();
        if (model != null) model.close();
        http.close();
    }

    /** Every test leaves the engine idle: no request outlives its HTTP exchange. */
    @org.junit.jupiter.api.AfterEach
    void engineDrains() throws InterruptedException {
        awaitIdle(engine);
    }

    static Engine.Stats awaitIdle(Engine e) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        Engine.Stats st = e.stats();
        while ((st.running() > 0 || st.waiting() > 0 || st.kvBlocksUsed() > 0) && System.nanoTime() < deadline) {
            Thread.sleep(5);
            st = e.stats();
        }
        assertEquals(0, st.running(), st.toString());
        assertEquals(0, st.waiting(), st.toString());
        assertEquals(0, st.kvBlocksUsed(), st.toString());
        return st;
    }

    static HttpResponse<String> post(Server s, String path, String body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(s.baseUri() + path)).POST(HttpRequest.BodyPublishers.ofString(body))
                .header("Content-Type", "application/json");
        for (int i = 0; i < headers.length; i += 2) b.header(headers[i], headers[i + 1]);
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> get(Server s, String path, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(s.baseUri() + path)).GET();
        for (int i = 0; i < headers.length; i += 2) b.header(headers[i], headers[i + 1]);
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** An OpenAI error body: the four fields, the message, no trace of Java. */
    static JsonNode assertError(HttpResponse<String> r, int status, String messagePart) throws Exception {
        assertEquals(status, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("content-type").orElse("").startsWith("application/json"));
        JsonNode err = JSON.readTree(r.body()).get("error");
        assertNotNull(err, r.body());
        for (String f : new String[] {"message", "type", "code", "param"}) assertTrue(err.has(f), "field " + f + " in " + r.body());
        assertTrue(err.get("message").asText().contains(messagePart), r.body());
        assertFalse(r.body().contains("Exception") || r.body().contains("\tat ") || r.body().contains("dev.panamax."), r.body());
        return err;
    }

    @Test
    void sseFramingByteForByte() throws Exception {
        String body = """
                {"model":"tiny-chat","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hello"}]}],
                 "max_tokens":6,"temperature":0,"stream":true,"stream_options":{"include_usage":true},"n":2}""";
        HttpRequest req = HttpRequest.newBuilder(URI.create(server.baseUri() + "/v1/chat/completions"))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
        HttpResponse<java.util.stream.Stream<String>> r = http.send(req, HttpResponse.BodyHandlers.ofLines());
        assertEquals(200, r.statusCode());
        assertEquals(HttpClient.Version.HTTP_1_1, r.version());
        assertTrue(r.headers().firstValue("content-type").orElseThrow().startsWith("text/event-stream"));
        List<String> lines = r.body().toList();
        // data line, blank line, data line, blank line, ...: every event ends with a blank line
        assertEquals(0, lines.size() % 2, String.join("\n", lines));
        for (int i = 0; i < lines.size(); i += 2) {
            assertTrue(lines.get(i).startsWith("data: "), "line " + i + ": " + lines.get(i));
            assertEquals("", lines.get(i + 1), "line " + (i + 1));
        }
        assertEquals("data: [DONE]", lines.get(lines.size() - 2));
        int roles = 0, finishes = 0, contentChunks = 0;
        JsonNode usage = null;
        for (int i = 0; i < lines.size() - 2; i += 2) {
            JsonNode ev = JSON.readTree(lines.get(i).substring(6));
            assertEquals("chat.completion.chunk", ev.get("object").asText());
            String id0 = JSON.readTree(lines.get(0).substring(6)).get("id").asText();
            assertTrue(id0.startsWith("chatcmpl-"), id0);
            assertEquals(id0, ev.get("id").asText(), "one id for the whole stream");
            if (ev.get("choices").isEmpty()) {
                usage = ev.get("usage");
                assertEquals(lines.size() - 4, i, "the usage chunk comes last, before [DONE]");
                continue;
            }
            JsonNode ch = ev.get("choices").get(0);
            assertTrue(ch.get("index").asInt() == 0 || ch.get("index").asInt() == 1);
            if (ch.get("delta").has("role")) {
                roles++;
                assertEquals("assistant", ch.get("delta").get("role").asText());
                assertEquals(0, finishes + contentChunks, "roles come first");
            }
            if (ch.get("delta").has("content") && !ch.get("delta").get("content").asText().isEmpty()) contentChunks++;
            if (!ch.get("finish_reason").isNull()) {
                finishes++;
                assertEquals("length", ch.get("finish_reason").asText());
            }
        }
        assertEquals(2, roles);
        assertEquals(2, finishes);
        assertTrue(contentChunks > 0);
        assertNotNull(usage);
        assertEquals(12, usage.get("completion_tokens").asInt());

        // the exact bytes: "data: ...\n\n" per event, nothing else
        HttpResponse<String> raw = post(server, "/v1/completions", "{\"prompt\":\"once\",\"max_tokens\":3,\"temperature\":0,\"stream\":true}");
        String s = raw.body();
        assertTrue(s.endsWith("\n\ndata: [DONE]\n\n"), s);
        assertFalse(s.contains("\r"), s);
        String[] events = s.split("\n\n", -1);
        assertEquals("", events[events.length - 1]);
        for (int i = 0; i < events.length - 1; i++) {
            assertTrue(events[i].startsWith("data: ") && !events[i].contains("\n"), "event " + i + ": " + events[i]);
        }
        // at most one event per token (a token that ends inside a UTF-8 character waits for the next), then the finish
        assertTrue(events.length - 1 >= 3 && events.length - 1 <= 5, s);
        JsonNode fin = JSON.readTree(events[events.length - 3].substring(6)).get("choices").get(0);
        assertEquals("length", fin.get("finish_reason").asText());
        assertEquals("", fin.get("text").asText());
    }

    /** llama-server's timings: in a reply, and in the last chunk of each choice of a stream. */
    @Test
    void timingsInRepliesAndLastChunks() throws Exception {
        String prompt = "[1,2,3,4,5,6,7,8,9,10]";
        JsonNode whole = JSON.readTree(post(server, "/v1/completions", "{\"prompt\":" + prompt + ",\"max_tokens\":4,\"temperature\":0}").body());
        JsonNode t = whole.get("timings");
        assertNotNull(t, whole.toString());
        assertEquals(10, t.get("prompt_n").asInt() + t.get("cache_n").asInt(), t.toString());
        assertEquals(whole.path("usage").path("prompt_tokens_details").path("cached_tokens").asInt(), t.get("cache_n").asInt());
        assertEquals(4, t.get("predicted_n").asInt());
        assertTrue(t.get("first_token_ms").asDouble() > 0 && t.get("predicted_ms").asDouble() > 0, t.toString());
        assertTrue(t.get("prompt_ms").asDouble() <= t.get("first_token_ms").asDouble(), t.toString());

        String s = post(server, "/v1/completions", "{\"prompt\":" + prompt + ",\"max_tokens\":3,\"temperature\":0,\"stream\":true,\"n\":2}").body();
        int withTimings = 0;
        for (String ev : s.split("\n\n")) {
            if (!ev.startsWith("data: {")) continue;
            JsonNode o = JSON.readTree(ev.substring(6));
            boolean last = !o.path("choices").path(0).path("finish_reason").isNull();
            assertEquals(last, o.has("timings"), ev);
            if (last) {
                withTimings++;
                assertEquals(3, o.get("timings").get("predicted_n").asInt(), ev);
                double sent = o.get("timings").get("first_token_sent_ms").asDouble(), engine = o.get("timings").get("first_token_ms").asDouble();
                assertTrue(sent >= engine && engine > 0, ev);
            }
        }
        assertEquals(2, withTimings, s);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "bad JSON|{\"messages\": [|not valid JSON",
            "not an object|[1,2]|JSON object",
            "missing messages|{\"max_tokens\":3}|'messages' is required",
            "wrong type|{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":\"ten\"}|'max_tokens' must be an integer",
            "negative max_tokens|{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":-1}|'max_tokens' must be in",
            "top_p above 1|{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"top_p\":1.5}|'top_p' must be in [0, 1]",
            "n too large|{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"n\":1000}|'n' must be in [1, 16]",
            "unknown role|{\"messages\":[{\"role\":\"wizard\",\"content\":\"hi\"}]}|unknown role",
            "tools not a list|{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":{}}|'tools' must be a list",
            "tool without a name|{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":[{\"type\":\"function\",\"function\":{}}]}|tools[0].function.name must be",
            "tool of another type|{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":[{\"type\":\"retrieval\"}]}|tools[0] must be",
            "two tools one name|{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}},{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}|two tools are named 'f'",
            "tool_choice unknown function|{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"g\"}}}|names 'g', which is not among the tools",
            "tool_choice without tools|{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tool_choice\":\"required\"}|'tool_choice' needs 'tools'",
            "tool_choice bad value|{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"tool_choice\":\"always\"}|'tool_choice' must be none, auto, required",
            "tool_calls not a list|{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"tool_calls\":{}}]}|messages[1].tool_calls must be a list",
            "tool call without function|{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"x\"}]}]}|messages[1].tool_calls[0] must be",
            "presence_penalty out of range|{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"presence_penalty\":2.5}|'presence_penalty' must be in [-2, 2]",
            "frequency_penalty wrong type|{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"frequency_penalty\":\"x\"}|'frequency_penalty' must be a number",
            "logit_bias key not an id|{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"logit_bias\":{\"hello\":10}}|keys must be token ids",
            "logit_bias id outside vocab|{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"logit_bias\":{\"300\":10}}|token id 300 is outside the vocabulary [0, 300)",
            "logit_bias value out of range|{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"logit_bias\":{\"5\":101}}|values must be in [-100, 100]",
            "top_logprobs too large|{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"logprobs\":true,\"top_logprobs\":21}|'top_logprobs' must be in [0, 20]",
            "top_logprobs without logprobs|{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"top_logprobs\":2}|needs 'logprobs': true",
            "image part|{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]}|'image_url' are not supported",
            "empty stop|{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stop\":[\"\"]}|must not be empty",
            "context overflow|{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":5000}|the context holds 2048",
    })
    void chatBadRequests(String name, String body, String message) throws Exception {
        assertError(post(server, "/v1/chat/completions", body), 400, message);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "token id out of range|{\"prompt\":[1,2,300]}|'prompt' must be in [0, 299]",
            "prompt wrong type|{\"prompt\":{\"a\":1}}|'prompt' must be a string",
            "suffix|{\"prompt\":\"a\",\"suffix\":\"b\"}|'suffix' is not supported",
            "logprobs too large|{\"prompt\":\"a\",\"logprobs\":50}|'logprobs' must be in [0, 20]",
            "echo wrong type|{\"prompt\":\"a\",\"echo\":\"yes\"}|'echo' must be a boolean",
    })
    void completionBadRequests(String name, String body, String message) throws Exception {
        assertError(post(server, "/v1/completions", body), 400, message);
    }

    @Test
    void logprobsInBothShapesStreamedAndWhole() throws Exception {
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"tell me\"}],\"max_tokens\":8,\"temperature\":0,"
                + "\"logprobs\":true,\"top_logprobs\":3,\"logit_bias\":{\"7\":-100},\"frequency_penalty\":0.5,\"presence_penalty\":0.1}";
        JsonNode whole = JSON.readTree(post(server, "/v1/chat/completions", body).body());
        JsonNode choice = whole.get("choices").get(0);
        JsonNode content = choice.get("logprobs").get("content");
        assertEquals(whole.get("usage").get("completion_tokens").asInt(), content.size());
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        for (JsonNode t : content) {
            assertTrue(t.get("logprob").asDouble() <= 0, t.toString());
            assertEquals(3, t.get("top_logprobs").size(), t.toString());
            for (JsonNode top : t.get("top_logprobs")) assertTrue(top.get("token").isTextual() && top.get("bytes").isArray());
            for (JsonNode b : t.get("bytes")) bytes.write(b.asInt());
        }
        if (choice.get("finish_reason").asText().equals("length")) {
            assertEquals(choice.get("message").get("content").asText(), bytes.toString(StandardCharsets.UTF_8), "token bytes make the text");
        }
        // streamed: the same tokens' logprobs, spread over the chunks
        String streamed = post(server, "/v1/chat/completions", body.replace("\"max_tokens\":8", "\"max_tokens\":8,\"stream\":true")).body();
        List<JsonNode> fromStream = new java.util.ArrayList<>();
        for (String ev : streamed.split("\n\n")) {
            if (!ev.startsWith("data: {")) continue;
            JsonNode lp = JSON.readTree(ev.substring(6)).get("choices").get(0).get("logprobs");
            if (lp != null && !lp.isNull()) lp.get("content").forEach(fromStream::add);
        }
        assertEquals(content.size(), fromStream.size(), streamed);
        for (int i = 0; i < content.size(); i++) { // same tokens; values to rounding (the prompt now comes from the prefix cache)
            assertEquals(content.get(i).get("bytes"), fromStream.get(i).get("bytes"));
            assertEquals(content.get(i).get("logprob").asDouble(), fromStream.get(i).get("logprob").asDouble(), 1e-4);
        }
        // the legacy completions shape
        JsonNode legacy = JSON.readTree(post(server, "/v1/completions", "{\"prompt\":\"once\",\"max_tokens\":5,\"temperature\":0,\"logprobs\":2}").body())
                .get("choices").get(0).get("logprobs");
        assertEquals(5, legacy.get("tokens").size(), legacy.toString());
        assertEquals(5, legacy.get("token_logprobs").size());
        assertEquals(0, legacy.get("text_offset").get(0).asInt());
        for (JsonNode top : legacy.get("top_logprobs")) assertTrue(top.size() >= 1 && top.size() <= 2, legacy.toString());
        // a banned token never appears, whatever the seed
        for (int seed = 0; seed < 5; seed++) {
            JsonNode r = JSON.readTree(post(server, "/v1/completions", "{\"prompt\":\"once\",\"max_tokens\":12,\"seed\":" + seed
                    + ",\"temperature\":1.5,\"top_k\":0,\"min_p\":0,\"logprobs\":0,\"logit_bias\":{\"5\":-100,\"6\":-100}}").body());
            for (JsonNode t : r.get("choices").get(0).get("logprobs").get("tokens")) {
                assertFalse(t.asText().equals(model.tokenizer().tokenText(5)) || t.asText().equals(model.tokenizer().tokenText(6)), r.toString());
            }
        }
    }

    @Test
    void toolsReachThePromptAndACallWithItsResultRenders() throws Exception {
        String tools = "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather in a city\","
                + "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}}]";
        String user = "{\"role\":\"user\",\"content\":\"Weather in Paris?\"}";
        JsonNode plain = JSON.readTree(post(server, "/v1/chat/completions", "{\"messages\":[" + user + "],\"max_tokens\":2}").body());
        JsonNode with = JSON.readTree(post(server, "/v1/chat/completions", "{\"messages\":[" + user + "],\"max_tokens\":2,\"tools\":" + tools + "}").body());
        int extra = with.get("usage").get("prompt_tokens").asInt() - plain.get("usage").get("prompt_tokens").asInt();
        assertTrue(extra > 40, "the tool list is in the prompt: +" + extra + " tokens");
        JsonNode none = JSON.readTree(post(server, "/v1/chat/completions", "{\"messages\":[" + user + "],\"max_tokens\":2,\"tools\":" + tools
                + ",\"tool_choice\":\"none\"}").body());
        assertEquals(plain.get("usage").get("prompt_tokens"), none.get("usage").get("prompt_tokens"), "tool_choice none: no tools in the prompt");
        // the round trip's second request: the assistant's call and the tool's result
        String history = "{\"messages\":[" + user + ",{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\","
                + "\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},"
                + "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"21 C, sunny\"}],\"max_tokens\":3,\"tools\":" + tools + "}";
        HttpResponse<String> r = post(server, "/v1/chat/completions", history);
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(JSON.readTree(r.body()).get("usage").get("prompt_tokens").asInt() > with.get("usage").get("prompt_tokens").asInt());
    }

    static final String WEATHER_TOOLS = "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\","
            + "\"properties\":{\"city\":{\"type\":\"string\",\"maxLength\":12},\"days\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":7}},"
            + "\"required\":[\"city\",\"days\"],\"additionalProperties\":false}}},"
            + "{\"type\":\"function\",\"function\":{\"name\":\"add\",\"parameters\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},"
            + "\"required\":[\"a\"],\"additionalProperties\":false}}}]";

    @Test
    void aRequiredToolCallIsAValidCallWhatTheModelIs() throws Exception {
        // random weights: the grammar makes whatever the model samples a call of the named function with valid arguments
        for (int seed = 0; seed < 4; seed++) {
            String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"}],\"max_tokens\":300,\"seed\":" + seed
                    + ",\"tools\":" + WEATHER_TOOLS + ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}}";
            JsonNode r = JSON.readTree(post(server, "/v1/chat/completions", body).body());
            JsonNode choice = r.get("choices").get(0);
            assertEquals("tool_calls", choice.get("finish_reason").asText(), r.toString());
            JsonNode call = choice.get("message").get("tool_calls").get(0);
            assertEquals("function", call.get("type").asText());
            assertTrue(call.get("id").asText().startsWith("call_"), call.toString());
            assertEquals("get_weather", call.get("function").get("name").asText());
            JsonNode args = JSON.readTree(call.get("function").get("arguments").asText());
            // (maxLength counts characters as llama.cpp's grammar decodes UTF-8: random byte tokens may be loose sequences)
            assertTrue(args.get("city").isTextual(), args.toString());
            assertTrue(args.get("days").asInt() >= 1 && args.get("days").asInt() <= 7, args.toString());
            assertEquals(2, args.size(), args.toString());
            assertTrue(choice.get("message").get("content").isNull(), r.toString());
        }
        // "required": one of the tools; streamed: the call arrives as one tool_calls delta, then finish_reason
        String streamed = post(server, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"Add\"}],\"max_tokens\":300,"
                + "\"seed\":7,\"stream\":true,\"tools\":" + WEATHER_TOOLS + ",\"tool_choice\":\"required\"}").body();
        JsonNode callDelta = null;
        String finish = null;
        for (String ev : streamed.split("\n\n")) {
            if (!ev.startsWith("data: {")) continue;
            JsonNode c = JSON.readTree(ev.substring(6)).get("choices").get(0);
            if (c.get("delta").has("tool_calls")) callDelta = c.get("delta").get("tool_calls").get(0);
            if (c.hasNonNull("finish_reason")) finish = c.get("finish_reason").asText();
        }
        assertNotNull(callDelta, streamed);
        assertEquals(0, callDelta.get("index").asInt());
        assertTrue(List.of("get_weather", "add").contains(callDelta.get("function").get("name").asText()), callDelta.toString());
        assertTrue(JSON.readTree(callDelta.get("function").get("arguments").asText()).isObject());
        assertEquals("tool_calls", finish);
    }

    @Test
    void responseFormatJsonObjectAndSchemaAndGrammar() throws Exception {
        for (int seed = 0; seed < 3; seed++) {
            JsonNode r = JSON.readTree(post(server, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"JSON\"}],"
                    + "\"max_tokens\":400,\"seed\":" + seed + ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"p\","
                    + "\"strict\":true,\"schema\":{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":8},"
                    + "\"age\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":150}},\"required\":[\"name\",\"age\"],"
                    + "\"additionalProperties\":false}}}}").body());
            JsonNode choice = r.get("choices").get(0);
            assertEquals("stop", choice.get("finish_reason").asText(), r.toString());
            JsonNode out = JSON.readTree(choice.get("message").get("content").asText());
            assertTrue(out.get("name").isTextual() && out.get("age").isInt() && out.size() == 2, out.toString());
        }
        JsonNode obj = JSON.readTree(post(server, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"JSON\"}],"
                + "\"max_tokens\":400,\"seed\":3,\"response_format\":{\"type\":\"json_object\"}}").body());
        String content = obj.get("choices").get(0).get("message").get("content").asText();
        if (obj.get("choices").get(0).get("finish_reason").asText().equals("stop")) assertTrue(JSON.readTree(content).isObject(), content);
        else assertTrue(content.strip().startsWith("{"), content);
        JsonNode yes = JSON.readTree(post(server, "/v1/completions", "{\"prompt\":\"Answer:\",\"max_tokens\":10,\"seed\":1,"
                + "\"grammar\":\"root ::= (\\\"yes\\\" | \\\"no\\\")\"}").body());
        assertTrue(List.of("yes", "no").contains(yes.get("choices").get(0).get("text").asText()), yes.toString());
        assertError(post(server, "/v1/completions", "{\"prompt\":\"a\",\"grammar\":\"root ::= (\"}"), 400, "'grammar' cannot be used: line 1");
        assertError(post(server, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"response_format\":"
                + "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":{\"type\":\"object\",\"not\":{}}}}}"), 400,
                "'response_format.json_schema.schema' cannot be used");
        assertError(post(server, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"response_format\":"
                + "{\"type\":\"yaml\"}}"), 400, "'response_format.type' must be text, json_object or json_schema");
    }

    @Test
    void contextOverflowNamesBothSizes() throws Exception {
        String prompt = "once upon a time ".repeat(600); // > 2048 tokens
        JsonNode err = assertError(post(server, "/v1/completions", JSON.createObjectNode().put("prompt", prompt).toString()), 400,
                "the context holds 2048");
        assertEquals("context_length_exceeded", err.get("code").asText());
        assertTrue(err.get("message").asText().matches(".*the prompt has \\d{4} tokens.*"), err.toString());
    }

    @Test
    void completionsWithTokenIdsListsAndEcho() throws Exception {
        HttpResponse<String> r = post(server, "/v1/completions",
                "{\"prompt\":[\"once upon\",\"the world\"],\"max_tokens\":4,\"temperature\":0,\"n\":2,\"echo\":true}");
        assertEquals(200, r.statusCode(), r.body());
        JsonNode choices = JSON.readTree(r.body()).get("choices");
        assertEquals(4, choices.size());
        assertTrue(choices.get(0).get("text").asText().startsWith("once upon"));
        assertTrue(choices.get(3).get("text").asText().startsWith("the world"));
        assertEquals(choices.get(2).get("text"), choices.get(3).get("text"), "greedy choices agree");

        JsonNode tok = JSON.readTree(post(server, "/tokenize", "{\"content\":\"once upon\"}").body()).get("tokens");
        JsonNode byIds = JSON.readTree(post(server, "/v1/completions",
                "{\"prompt\":" + tok + ",\"max_tokens\":4,\"temperature\":0}").body());
        assertEquals(choices.get(0).get("text").asText().substring("once upon".length()), byIds.get("choices").get(0).get("text").asText());
        int[] ids = JSON.convertValue(tok, int[].class);
        assertEquals(model.tokenizer().decode(ids), JSON.readTree(post(server, "/detokenize", "{\"tokens\":" + tok + "}").body()).get("content").asText());
        assertEquals("once upon", model.tokenizer().decode(ids).strip());
        assertError(post(server, "/detokenize", "{\"tokens\":[5,-1]}"), 400, "'tokens' must be in [0, 299]");
    }

    @Test
    void modelsHealthAndMetrics() throws Exception {
        JsonNode models = JSON.readTree(get(server, "/v1/models").body());
        assertEquals("list", models.get("object").asText());
        assertEquals(TestServers.MODEL_ID, models.get("data").get(0).get("id").asText());
        assertEquals(TestServers.CTX, models.get("data").get(0).get("context_length").asInt());
        HttpResponse<String> h = get(server, "/health");
        assertEquals(200, h.statusCode());
        assertEquals("ok", JSON.readTree(h.body()).get("status").asText());
        post(server, "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":2}");
        String m = get(server, "/metrics").body();
        for (String name : new String[] {"panamax_http_requests_total{endpoint=\"/v1/completions\",status=\"200\"}",
                "panamax_requests_waiting", "panamax_requests_running", "panamax_kv_blocks_used", "panamax_kv_blocks_capacity",
                "panamax_generation_tokens_total", "panamax_prompt_tokens_total", "panamax_time_to_first_token_seconds_bucket",
                "vllm:num_requests_waiting{", "vllm:num_requests_running{", "vllm:kv_cache_usage_perc{"}) { // RouterFacingTest: more
            assertTrue(m.contains(name), name + " in\n" + m);
        }
        assertError(get(server, "/v1/nothing"), 404, "no endpoint");
        assertError(get(server, "/v1/chat/completions"), 405, "use POST");
    }

    @Test
    void concurrentStreamsAllComplete() throws Exception {
        // 10 clients over 4 engine sequences: some wait in the engine's queue, every stream still ends properly
        List<java.util.concurrent.Future<String>> results = new java.util.ArrayList<>();
        try (var pool = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < 10; i++) {
                int max = 5 + i;
                results.add(pool.submit(() -> post(server, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hello "
                        + max + "\"}],\"max_tokens\":" + max + ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}").body()));
            }
        }
        for (int i = 0; i < 10; i++) {
            String body = results.get(i).get();
            assertTrue(body.endsWith("data: [DONE]\n\n"), body);
            String[] events = body.split("\n\n");
            JsonNode usage = JSON.readTree(events[events.length - 2].substring(6)).get("usage");
            assertEquals(5 + i, usage.get("completion_tokens").asInt(), body);
        }
    }

    @Test
    void expectContinueGetsTheBodyRead() throws Exception {
        HttpRequest req = HttpRequest.newBuilder(URI.create(server.baseUri() + "/v1/completions")).expectContinue(true)
                .version(HttpClient.Version.HTTP_1_1).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"once\",\"max_tokens\":3,\"temperature\":0}")).build();
        HttpResponse<String> r = http.send(req, HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(3, JSON.readTree(r.body()).get("usage").get("completion_tokens").asInt());
    }

    @Test
    void apiKeyRequiredExceptHealth() throws Exception {
        try (Server keyed = Server.start(engine, TestServers.config().withApiKey("k1"))) {
            JsonNode e = assertError(post(keyed, "/v1/completions", "{\"prompt\":\"a\"}"), 401, "missing API key");
            assertEquals("invalid_api_key", e.get("code").asText());
            assertError(post(keyed, "/v1/completions", "{\"prompt\":\"a\"}", "Authorization", "Bearer k2"), 401, "invalid API key");
            assertError(get(keyed, "/v1/models"), 401, "API key");
            assertError(get(keyed, "/metrics"), 401, "API key");
            assertEquals(200, get(keyed, "/health").statusCode());
            assertEquals(200, get(keyed, "/v1/models", "Authorization", "Bearer k1").statusCode());
        }
    }

    @Test
    void bodyOverTheLimitIs413() throws Exception {
        try (Server small = Server.start(engine, TestServers.config().withMaxBodyBytes(1 << 16))) {
            String big = "{\"prompt\":\"" + "a".repeat(1 << 17) + "\"}";
            assertError(post(small, "/v1/completions", big), 413, "exceeds the limit of 65536 bytes");
            // without a Content-Length (chunked): counted while read
            HttpRequest chunked = HttpRequest.newBuilder(URI.create(small.baseUri() + "/v1/completions"))
                    .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new java.io.ByteArrayInputStream(big.getBytes(StandardCharsets.UTF_8))))
                    .build();
            assertError(http.send(chunked, HttpResponse.BodyHandlers.ofString()), 413, "exceeds the limit");
        }
        // the default limit is 8 MiB
        assertEquals(8L << 20, TestServers.config().maxBodyBytes());
    }

    @Test
    void fullQueueIs429WithRetryAfter() throws Exception {
        try (Engine noQueue = TestServers.engine(model, 0); Server s = Server.start(noQueue, TestServers.config())) {
            HttpResponse<String> r = post(s, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
            JsonNode e = assertError(r, 429, "busy");
            assertEquals("1", r.headers().firstValue("retry-after").orElseThrow());
            assertEquals("queue_full", e.get("code").asText());
        }
    }

    /** Writes a POST /v1/completions with this body on a raw socket (a client that can vanish at any byte). */
    static void sendCompletion(Socket sock, String body) throws java.io.IOException {
        OutputStream out = sock.getOutputStream();
        out.write(("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: "
                + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    @Test
    void clientDisconnectMidStreamCancelsTheRequest() throws Exception {
        double cancelledBefore = counter(get(server, "/metrics").body(), "panamax_requests_finished_total{reason=\"cancelled\"}");
        String body = "{\"prompt\":\"once upon a time\",\"max_tokens\":2000,\"temperature\":0,\"stream\":true}";
        try (Socket sock = new Socket("127.0.0.1", server.port())) {
            sendCompletion(sock, body);
            InputStream in = sock.getInputStream();
            String head = new String(in.readNBytes(200), StandardCharsets.ISO_8859_1);
            assertTrue(head.startsWith("HTTP/1.1 200"), head);
            assertTrue(engine.stats().running() > 0 || engine.stats().waiting() > 0, "the request is generating: " + engine.stats());
        } // closed mid-stream
        awaitIdle(engine);
        double cancelled = counter(get(server, "/metrics").body(), "panamax_requests_finished_total{reason=\"cancelled\"}");
        assertEquals(cancelledBefore + 1, cancelled, "the engine request ended cancelled, not at its 2000 tokens");
    }

    @Test
    void clientDisconnectDuringAWholeReplyCancelsTheRequest() throws Exception {
        double cancelledBefore = counter(get(server, "/metrics").body(), "panamax_requests_finished_total{reason=\"cancelled\"}");
        String body = "{\"prompt\":\"once upon a time\",\"max_tokens\":2000,\"temperature\":0,\"ignore_eos\":true}";
        try (Socket sock = new Socket("127.0.0.1", server.port())) {
            sendCompletion(sock, body);
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (engine.stats().running() == 0 && System.nanoTime() < deadline) Thread.sleep(2);
            assertTrue(engine.stats().running() > 0, "the request is generating: " + engine.stats());
        } // closed while the whole reply is being generated: nothing was written to notice it by
        awaitIdle(engine);
        double cancelled = counter(get(server, "/metrics").body(), "panamax_requests_finished_total{reason=\"cancelled\"}");
        assertEquals(cancelledBefore + 1, cancelled, "the engine request ended cancelled, not at its 2000 tokens");
    }

    @Test
    void gracefulShutdownRefusesNewRequestsAndEndsStreams() throws Exception {
        Server s = Server.start(engine, TestServers.config().withShutdownTimeout(java.time.Duration.ofMillis(300)));
        // 16 choices of 2000 tokens over the engine's 4 sequences: far more than the 300 ms drain can finish (one
        // stream of 2000 tokens of the tiny model can, on a quiet machine)
        HttpRequest req = HttpRequest.newBuilder(URI.create(s.baseUri() + "/v1/completions")).POST(HttpRequest.BodyPublishers.ofString(
                "{\"prompt\":\"once upon a time\",\"max_tokens\":2000,\"temperature\":0,\"stream\":true,\"n\":16}")).build();
        java.util.concurrent.BlockingQueue<String> lines = new java.util.concurrent.LinkedBlockingQueue<>();
        Thread reader = Thread.ofVirtual().start(() -> {
            try {
                http.send(req, HttpResponse.BodyHandlers.ofLines()).body().forEach(lines::add);
            } catch (Exception e) {
                lines.add("client error: " + e);
            }
            lines.add("<end>");
        });
        String first = lines.poll(10, java.util.concurrent.TimeUnit.SECONDS);
        assertNotNull(first);
        assertTrue(first.startsWith("data: {"), first);
        Thread closer = Thread.ofVirtual().start(s::close);
        // closing: draining the stream for up to 300 ms (polled, not slept: a loaded machine's sleep can outlast it)
        long closingBy = System.nanoTime() + 5_000_000_000L;
        while (get(s, "/ready").statusCode() == 200 && System.nanoTime() < closingBy) Thread.onSpinWait();
        assertEquals(200, get(s, "/health").statusCode(), "live while draining");
        assertError(get(s, "/ready"), 503, "shutting down");
        assertError(post(s, "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":2}"), 503, "shutting down");
        closer.join(10_000);
        reader.join(10_000);
        List<String> all = new java.util.ArrayList<>(lines);
        assertEquals("<end>", all.get(all.size() - 1));
        String lastData = all.stream().filter(l -> l.startsWith("data: ")).reduce((a, b) -> b).orElseThrow();
        JsonNode err = JSON.readTree(lastData.substring(6)).get("error");
        assertNotNull(err, "the stream ends with an error event: " + lastData);
        assertTrue(err.get("message").asText().contains("shutting down"), lastData);
        assertFalse(all.contains("data: [DONE]"));
        awaitIdle(engine);
    }

    @Test
    void malformedHttpGetsAJsonErrorWithoutTrace() throws Exception {
        for (String raw : new String[] {"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
                "GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: " + "a".repeat(20_000) + "\r\n\r\n"}) {
            try (Socket sock = new Socket("127.0.0.1", server.port())) {
                sock.getOutputStream().write(raw.getBytes(StandardCharsets.ISO_8859_1));
                sock.shutdownOutput();
                String resp = new String(sock.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertTrue(resp.matches("(?s)HTTP/1.1 4\\d\\d .*"), resp);
                String body = resp.substring(resp.indexOf("\r\n\r\n") + 4);
                JsonNode err = JSON.readTree(body).get("error");
                assertNotNull(err, resp);
                assertFalse(body.contains("Exception") || body.contains("\tat "), body);
            }
        }
    }

    static double counter(String metrics, String series) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(series) + " (\\S+)$").matcher(metrics);
        return m.find() ? Double.parseDouble(m.group(1)) : 0;
    }
}
