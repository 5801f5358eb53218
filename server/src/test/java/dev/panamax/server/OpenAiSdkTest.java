package dev.panamax.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.UnauthorizedException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.models.completions.CompletionUsage;
import dev.panamax.Engine;
import dev.panamax.Model;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The official OpenAI Java SDK against the server on a tiny model. */
class OpenAiSdkTest {
    @TempDir
    static Path dir;
    static Model model;
    static Engine engine;
    static Server server;
    static OpenAIClient client;

    @BeforeAll
    static void start() throws Exception {
        model = TestServers.loadModel(dir);
        engine = TestServers.engine(model, 64);
        server = Server.start(engine, TestServers.config());
        client = OpenAIOkHttpClient.builder().baseUrl(server.baseUri() + "/v1").apiKey("unused").maxRetries(0).build();
    }

    @AfterAll
    static void stop() {
        if (client != null) client.close();
        if (server != null) server.close();
        if (model != null) model.close();
    }

    private static ChatCompletionCreateParams.Builder chat(String user, long maxTokens) {
        return ChatCompletionCreateParams.builder().model(TestServers.MODEL_ID).addUserMessage(user).maxCompletionTokens(maxTokens);
    }

    @Test
    void chatNonStreaming() {
        ChatCompletion c = client.chat().completions().create(chat("hello world", 12).temperature(0.0).build());
        assertEquals(1, c.choices().size());
        ChatCompletion.Choice ch = c.choices().get(0);
        assertEquals(0, ch.index());
        assertEquals(ChatCompletion.Choice.FinishReason.LENGTH, ch.finishReason());
        assertTrue(ch.message().content().isPresent());
        CompletionUsage u = c.usage().orElseThrow();
        assertEquals(12, u.completionTokens());
        assertTrue(u.promptTokens() > 3, "the rendered template's tokens: " + u.promptTokens());
        assertEquals(u.promptTokens() + 12, u.totalTokens());
        assertEquals(TestServers.MODEL_ID, c.model());
        // greedy is deterministic
        ChatCompletion again = client.chat().completions().create(chat("hello world", 12).temperature(0.0).build());
        assertEquals(ch.message().content(), again.choices().get(0).message().content());
    }

    @Test
    void chatStreamingMatchesNonStreaming() {
        String whole = client.chat().completions().create(chat("once upon a time", 16).temperature(0.0).build())
                .choices().get(0).message().content().orElseThrow();
        StringBuilder text = new StringBuilder();
        List<ChatCompletionChunk> chunks = new ArrayList<>();
        try (StreamResponse<ChatCompletionChunk> s = client.chat().completions().createStreaming(chat("once upon a time", 16)
                .temperature(0.0).streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build())) {
            s.stream().forEach(chunks::add);
        }
        assertTrue(chunks.size() >= 3, "role chunk, content, finish, usage: " + chunks.size());
        ChatCompletionChunk first = chunks.get(0);
        assertTrue(first.choices().get(0).delta().role().isPresent(), "the role comes in the first delta");
        ChatCompletionChunk.Choice.FinishReason finish = null;
        for (ChatCompletionChunk c : chunks) {
            for (ChatCompletionChunk.Choice ch : c.choices()) {
                ch.delta().content().ifPresent(text::append);
                if (ch.finishReason().isPresent()) finish = ch.finishReason().get();
            }
        }
        assertEquals(whole, text.toString());
        assertEquals(ChatCompletionChunk.Choice.FinishReason.LENGTH, finish);
        ChatCompletionChunk last = chunks.get(chunks.size() - 1);
        assertTrue(last.choices().isEmpty(), "the usage chunk has no choices");
        assertEquals(16, last.usage().orElseThrow().completionTokens());
    }

    @Test
    void completionsStringAndStop() {
        Completion c = client.completions().create(CompletionCreateParams.builder().model(TestServers.MODEL_ID)
                .prompt("once upon a time").maxTokens(24).temperature(0.0).build());
        String text = c.choices().get(0).text();
        assertEquals(24, c.usage().orElseThrow().completionTokens());
        assertTrue(text.length() >= 6, "text: " + text);
        // a stop string from the middle of the greedy text: the text ends right before its first occurrence
        String stop = text.substring(text.length() / 2, text.length() / 2 + 2);
        String expected = text.substring(0, text.indexOf(stop));
        Completion s = client.completions().create(CompletionCreateParams.builder().model(TestServers.MODEL_ID)
                .prompt("once upon a time").maxTokens(24).temperature(0.0).stop(stop).build());
        assertEquals(expected, s.choices().get(0).text());
        assertEquals(com.openai.models.completions.CompletionChoice.FinishReason.STOP, s.choices().get(0).finishReason());

        ChatCompletion chatWhole = client.chat().completions().create(chat("the world", 20).temperature(0.0).build());
        String t = chatWhole.choices().get(0).message().content().orElseThrow();
        String st = t.substring(t.length() / 2, t.length() / 2 + 2);
        ChatCompletion chatStop = client.chat().completions().create(chat("the world", 20).temperature(0.0)
                .stopOfStrings(List.of("never-in-the-text", st)).build());
        assertEquals(t.substring(0, t.indexOf(st)), chatStop.choices().get(0).message().content().orElseThrow());
        assertEquals(ChatCompletion.Choice.FinishReason.STOP, chatStop.choices().get(0).finishReason());
    }

    @Test
    void seedReproducibility() {
        Map<Long, String> bySeed = new HashMap<>();
        for (long seed : new long[] {42, 43, 44}) {
            String a = client.chat().completions().create(chat("a", 16).temperature(1.0).seed(seed).build())
                    .choices().get(0).message().content().orElseThrow();
            String b = client.chat().completions().create(chat("a", 16).temperature(1.0).seed(seed).build())
                    .choices().get(0).message().content().orElseThrow();
            assertEquals(a, b, "same seed, same text");
            bySeed.put(seed, a);
        }
        assertTrue(bySeed.values().stream().distinct().count() > 1, "different seeds draw different text: " + bySeed);
    }

    @Test
    void twoChoices() {
        ChatCompletion c = client.chat().completions().create(chat("hello", 10).temperature(1.0).seed(5).n(2).build());
        assertEquals(2, c.choices().size());
        assertEquals(0, c.choices().get(0).index());
        assertEquals(1, c.choices().get(1).index());
        assertEquals(20, c.usage().orElseThrow().completionTokens());
        assertNotEquals(c.choices().get(0).message().content(), c.choices().get(1).message().content(),
                "choices draw with their own seeds");
    }

    @Test
    void cachedTokensInUsage() {
        String longPrompt = "once upon a time the world said hello to a time of the world ".repeat(6);
        long first = client.chat().completions().create(chat(longPrompt, 4).temperature(0.0).build())
                .usage().orElseThrow().promptTokens();
        CompletionUsage u = client.chat().completions().create(chat(longPrompt, 4).temperature(0.0).build()).usage().orElseThrow();
        assertEquals(first, u.promptTokens());
        long cached = u.promptTokensDetails().orElseThrow().cachedTokens().orElseThrow();
        assertTrue(cached >= 32 && cached < first, "the prefix cache served full blocks: " + cached + " of " + first);
    }

    @Test
    void logprobsAndPenalties() {
        ChatCompletion c = client.chat().completions().create(chat("tell me", 6).temperature(0.0).logprobs(true).topLogprobs(2)
                .presencePenalty(0.3).frequencyPenalty(0.3).logitBias(ChatCompletionCreateParams.LogitBias.builder()
                        .putAdditionalProperty("9", com.openai.core.JsonValue.from(-100)).build()).build());
        var content = c.choices().get(0).logprobs().orElseThrow().content().orElseThrow();
        assertEquals(c.usage().orElseThrow().completionTokens(), content.size());
        for (var t : content) {
            assertEquals(2, t.topLogprobs().size());
            assertTrue(t.logprob() <= 0 && t.topLogprobs().get(0).logprob() >= t.topLogprobs().get(1).logprob());
        }
    }

    @Test
    void toolCallRoundTrip() {
        // random weights: tool_choice required makes the reply a call (a grammar), valid against the parameters' schema
        var weather = com.openai.models.chat.completions.ChatCompletionFunctionTool.builder()
                .function(com.openai.models.FunctionDefinition.builder().name("get_weather").description("Weather in a city")
                        .parameters(com.openai.models.FunctionParameters.builder()
                                .putAdditionalProperty("type", com.openai.core.JsonValue.from("object"))
                                .putAdditionalProperty("properties", com.openai.core.JsonValue.from(Map.of("city", Map.of("type", "string", "maxLength", 8))))
                                .putAdditionalProperty("required", com.openai.core.JsonValue.from(List.of("city")))
                                .putAdditionalProperty("additionalProperties", com.openai.core.JsonValue.from(false)).build())
                        .build()).build();
        ChatCompletionCreateParams first = chat("Weather in Paris?", 400).addTool(weather).seed(3L)
                .toolChoice(com.openai.models.chat.completions.ChatCompletionToolChoiceOption.Auto.REQUIRED).build();
        ChatCompletion c = client.chat().completions().create(first);
        var choice = c.choices().get(0);
        assertEquals(ChatCompletion.Choice.FinishReason.TOOL_CALLS, choice.finishReason());
        var call = choice.message().toolCalls().orElseThrow().get(0).asFunction();
        assertEquals("get_weather", call.function().name());
        assertTrue(call.function().arguments().contains("\"city\""), call.function().arguments());
        // the result goes back with the assistant's call; the model answers (in text: no tool is required now)
        ChatCompletionCreateParams second = chat("Weather in Paris?", 8).addTool(weather)
                .addMessage(choice.message())
                .addMessage(com.openai.models.chat.completions.ChatCompletionToolMessageParam.builder()
                        .toolCallId(call.id()).content("{\"temperature\": 21}").build())
                .toolChoice(com.openai.models.chat.completions.ChatCompletionToolChoiceOption.Auto.NONE).build();
        ChatCompletion answer = client.chat().completions().create(second);
        assertTrue(answer.choices().get(0).message().content().isPresent(), answer.toString());
        assertTrue(answer.choices().get(0).message().toolCalls().isEmpty(), answer.toString());
        assertTrue(answer.usage().orElseThrow().promptTokens() > client.chat().completions().create(chat("Weather in Paris?", 1).build())
                .usage().orElseThrow().promptTokens() + 10, "the call and its result are in the prompt");
    }

    @Test
    void structuredOutputFollowsTheSchema() throws Exception {
        ChatCompletionCreateParams p = chat("A person as JSON", 300).seed(5L).responseFormat(
                com.openai.models.ResponseFormatJsonSchema.builder().jsonSchema(com.openai.models.ResponseFormatJsonSchema.JsonSchema.builder()
                        .name("person").strict(true).schema(com.openai.models.ResponseFormatJsonSchema.JsonSchema.Schema.builder()
                                .putAdditionalProperty("type", com.openai.core.JsonValue.from("object"))
                                .putAdditionalProperty("properties", com.openai.core.JsonValue.from(Map.of("age", Map.of("type", "integer", "minimum", 0, "maximum", 120))))
                                .putAdditionalProperty("required", com.openai.core.JsonValue.from(List.of("age")))
                                .putAdditionalProperty("additionalProperties", com.openai.core.JsonValue.from(false)).build()).build()).build()).build();
        ChatCompletion c = client.chat().completions().create(p);
        String json = c.choices().get(0).message().content().orElseThrow();
        var node = new com.fasterxml.jackson.databind.ObjectMapper().readTree(json);
        assertTrue(node.get("age").isInt() && node.get("age").asInt() >= 0 && node.get("age").asInt() <= 120, json);
    }

    @Test
    void errorsSurfaceAsSdkExceptions() {
        BadRequestException unknownModel = assertThrows(BadRequestException.class, () -> client.chat().completions()
                .create(ChatCompletionCreateParams.builder().model("gpt-4o").addUserMessage("hi").build()));
        assertTrue(unknownModel.getMessage().contains("does not exist"), unknownModel.getMessage());
        assertEquals("model", unknownModel.param().orElseThrow());

        BadRequestException hot = assertThrows(BadRequestException.class,
                () -> client.chat().completions().create(chat("hi", 4).temperature(3.0).build()));
        assertTrue(hot.getMessage().contains("'temperature' must be in [0, 2]"), hot.getMessage());

        BadRequestException logprobs = assertThrows(BadRequestException.class,
                () -> client.chat().completions().create(chat("hi", 4).logprobs(true).topLogprobs(30).build()));
        assertTrue(logprobs.getMessage().contains("'top_logprobs' must be in [0, 20]"), logprobs.getMessage());
        assertEquals("top_logprobs", logprobs.param().orElseThrow());

        BadRequestException tooLong = assertThrows(BadRequestException.class,
                () -> client.chat().completions().create(chat("hi", 100_000).build()));
        assertTrue(tooLong.getMessage().contains("100000") && tooLong.getMessage().contains(Integer.toString(TestServers.CTX)),
                tooLong.getMessage());
    }

    @Test
    void wrongApiKeyIsUnauthorized() throws Exception {
        try (Server keyed = Server.start(engine, TestServers.config().withApiKey("s3cret"))) {
            OpenAIClient wrong = OpenAIOkHttpClient.builder().baseUrl(keyed.baseUri() + "/v1").apiKey("nope").maxRetries(0).build();
            OpenAIClient right = OpenAIOkHttpClient.builder().baseUrl(keyed.baseUri() + "/v1").apiKey("s3cret").maxRetries(0).build();
            UnauthorizedException e = assertThrows(UnauthorizedException.class,
                    () -> wrong.chat().completions().create(chat("hi", 2).build()));
            assertTrue(e.getMessage().contains("invalid API key"), e.getMessage());
            assertEquals(2, right.chat().completions().create(chat("hi", 2).build()).usage().orElseThrow().completionTokens());
            wrong.close();
            right.close();
        }
    }
}
