package dev.panamax.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.AuthenticationException;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiChatRequestParameters;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.TokenUsage;
import dev.panamax.Engine;
import dev.panamax.Model;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LangChain4j's {@link OpenAiChatModel} and {@link OpenAiStreamingChatModel} against the server on a tiny model, with
 * their default HTTP client (the JDK's, which sends {@code Upgrade: h2c} on plain HTTP).
 */
class LangChain4jTest {
    @TempDir
    static Path dir;
    static Model model;
    static Engine engine;
    static Server server;
    static OpenAiChatModel chat;
    static OpenAiStreamingChatModel streaming;

    @BeforeAll
    static void start() throws Exception {
        model = TestServers.loadModel(dir);
        engine = TestServers.engine(model, 64);
        server = Server.start(engine, TestServers.config());
        String base = server.baseUri() + "/v1";
        chat = OpenAiChatModel.builder().baseUrl(base).apiKey("unused").modelName(TestServers.MODEL_ID)
                .maxRetries(0).timeout(Duration.ofSeconds(60)).build();
        streaming = OpenAiStreamingChatModel.builder().baseUrl(base).apiKey("unused").modelName(TestServers.MODEL_ID)
                .timeout(Duration.ofSeconds(60)).build();
    }

    @AfterAll
    static void stop() {
        if (server != null) server.close();
        if (model != null) model.close();
    }

    private static ChatRequest request(String user, int maxTokens, double temperature, Integer seed, List<String> stop) {
        OpenAiChatRequestParameters.Builder p = OpenAiChatRequestParameters.builder().modelName(TestServers.MODEL_ID)
                .maxCompletionTokens(maxTokens).temperature(temperature).seed(seed);
        if (stop != null) p.stopSequences(stop);
        return ChatRequest.builder().messages(SystemMessage.from("You are terse."), UserMessage.from(user))
                .parameters(p.build()).build();
    }

    /** The streamed pieces and the final response (or the error) of one streaming call. */
    record Streamed(List<String> pieces, ChatResponse response) {
        String text() {
            return String.join("", pieces);
        }
    }

    private static Streamed stream(OpenAiStreamingChatModel m, ChatRequest r) throws Exception {
        List<String> pieces = new ArrayList<>();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        m.chat(r, new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String partial) {
                synchronized (pieces) {
                    pieces.add(partial);
                }
            }

            @Override
            public void onCompleteResponse(ChatResponse response) {
                done.complete(response);
            }

            @Override
            public void onError(Throwable error) {
                done.completeExceptionally(error);
            }
        });
        ChatResponse resp = done.get(60, TimeUnit.SECONDS);
        synchronized (pieces) {
            return new Streamed(List.copyOf(pieces), resp);
        }
    }

    @Test
    void chatNonStreamingWithUsage() {
        ChatResponse r = chat.chat(request("hello world", 12, 0.0, null, null));
        String text = r.aiMessage().text();
        assertTrue(text != null && !text.isEmpty(), "text: " + text);
        assertEquals(FinishReason.LENGTH, r.finishReason());
        TokenUsage u = r.tokenUsage();
        assertEquals(12, u.outputTokenCount());
        assertTrue(u.inputTokenCount() > 3, "the rendered template's tokens: " + u.inputTokenCount());
        assertEquals(u.inputTokenCount() + 12, u.totalTokenCount());
        assertEquals(TestServers.MODEL_ID, r.modelName());
        // greedy is deterministic
        assertEquals(text, chat.chat(request("hello world", 12, 0.0, null, null)).aiMessage().text());
    }

    @Test
    void streamingMatchesNonStreaming() throws Exception {
        String whole = chat.chat(request("once upon a time", 16, 0.0, null, null)).aiMessage().text();
        Streamed s = stream(streaming, request("once upon a time", 16, 0.0, null, null));
        assertTrue(s.pieces().size() >= 2, "streamed in pieces: " + s.pieces());
        assertEquals(whole, s.text());
        assertEquals(whole, s.response().aiMessage().text());
        assertEquals(FinishReason.LENGTH, s.response().finishReason());
        // LangChain4j asks for stream_options.include_usage: the usage chunk reaches the response
        TokenUsage u = s.response().tokenUsage();
        assertEquals(16, u.outputTokenCount());
        assertTrue(u.inputTokenCount() > 3, "prompt tokens: " + u.inputTokenCount());
    }

    @Test
    void stopSequences() throws Exception {
        String t = chat.chat(request("the world", 20, 0.0, null, null)).aiMessage().text();
        assertTrue(t.length() >= 6, "text: " + t);
        String st = t.substring(t.length() / 2, t.length() / 2 + 2);
        String expected = t.substring(0, t.indexOf(st));
        List<String> stops = List.of("never-in-the-text", st);

        ChatResponse stopped = chat.chat(request("the world", 20, 0.0, null, stops));
        assertEquals(expected, stopped.aiMessage().text());
        assertEquals(FinishReason.STOP, stopped.finishReason());

        Streamed s = stream(streaming, request("the world", 20, 0.0, null, stops));
        assertEquals(expected, s.text(), "the stop string is held back across pieces, never streamed");
        assertEquals(FinishReason.STOP, s.response().finishReason());
    }

    @Test
    void seedReproducibility() throws Exception {
        Map<Integer, String> bySeed = new HashMap<>();
        for (int seed : new int[] {42, 43, 44}) {
            String a = chat.chat(request("a", 16, 1.0, seed, null)).aiMessage().text();
            String b = chat.chat(request("a", 16, 1.0, seed, null)).aiMessage().text();
            assertEquals(a, b, "same seed, same text");
            bySeed.put(seed, a);
        }
        assertTrue(bySeed.values().stream().distinct().count() > 1, "different seeds draw different text: " + bySeed);
        assertEquals(bySeed.get(42), stream(streaming, request("a", 16, 1.0, 42, null)).text(),
                "streaming draws the same text for the same seed");
    }

    @Test
    void toolCallRoundTrip() {
        var spec = dev.langchain4j.agent.tool.ToolSpecification.builder().name("get_weather").description("Weather in a city")
                .parameters(dev.langchain4j.model.chat.request.json.JsonObjectSchema.builder()
                        .addProperty("city", dev.langchain4j.model.chat.request.json.JsonStringSchema.builder().build())
                        .required("city").additionalProperties(false).build()).build();
        var params = OpenAiChatRequestParameters.builder().modelName(TestServers.MODEL_ID).maxCompletionTokens(1400).seed(11)
                .toolSpecifications(spec).toolChoice(dev.langchain4j.model.chat.request.ToolChoice.REQUIRED).build();
        UserMessage user = UserMessage.from("Weather in Paris?");
        ChatResponse r = chat.chat(ChatRequest.builder().messages(user).parameters(params).build());
        // random weights: the grammar of a required call makes the reply a call (the city is random text up to a quote)
        assertEquals(FinishReason.TOOL_EXECUTION, r.finishReason(), r.toString());
        var call = r.aiMessage().toolExecutionRequests().get(0);
        assertEquals("get_weather", call.name());
        assertTrue(call.arguments().contains("\"city\""), call.arguments());
        var result = dev.langchain4j.data.message.ToolExecutionResultMessage.from(call, "21 C, sunny");
        var answerParams = OpenAiChatRequestParameters.builder().modelName(TestServers.MODEL_ID).maxCompletionTokens(6)
                .toolSpecifications(spec).build();
        ChatResponse answer = chat.chat(ChatRequest.builder().messages(user, r.aiMessage(), result).parameters(answerParams).build());
        assertTrue(answer.tokenUsage().inputTokenCount() > r.tokenUsage().inputTokenCount(), "the call and its result are in the prompt");
    }

    @Test
    void errorsSurfaceAsLangChain4jExceptions() throws Exception {
        InvalidRequestException hot = assertThrows(InvalidRequestException.class,
                () -> chat.chat(request("hi", 4, 3.0, null, null)));
        assertTrue(hot.getMessage().contains("'temperature' must be in [0, 2]"), hot.getMessage());

        ChatRequest unknown = ChatRequest.builder().messages(UserMessage.from("hi"))
                .parameters(OpenAiChatRequestParameters.builder().modelName("gpt-4o").build()).build();
        InvalidRequestException model404 = assertThrows(InvalidRequestException.class, () -> chat.chat(unknown));
        assertTrue(model404.getMessage().contains("does not exist"), model404.getMessage());

        InvalidRequestException tooLong = assertThrows(InvalidRequestException.class,
                () -> chat.chat(request("hi", 100_000, 0.0, null, null)));
        assertTrue(tooLong.getMessage().contains("100000") && tooLong.getMessage().contains(Integer.toString(TestServers.CTX)),
                tooLong.getMessage());

        // streaming: the 400 comes before any event and reaches onError as the same exception
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> stream(streaming, request("hi", 4, 3.0, null, null)));
        InvalidRequestException cause = assertInstanceOf(InvalidRequestException.class, e.getCause());
        assertTrue(cause.getMessage().contains("'temperature' must be in [0, 2]"), cause.getMessage());
    }

    @Test
    void wrongApiKeyIsAuthenticationException() throws Exception {
        try (Server keyed = Server.start(engine, TestServers.config().withApiKey("s3cret"))) {
            String base = keyed.baseUri() + "/v1";
            OpenAiChatModel wrong = OpenAiChatModel.builder().baseUrl(base).apiKey("nope").modelName(TestServers.MODEL_ID)
                    .maxRetries(0).build();
            AuthenticationException e = assertThrows(AuthenticationException.class,
                    () -> wrong.chat(request("hi", 2, 0.0, null, null)));
            assertTrue(e.getMessage().contains("invalid API key"), e.getMessage());
            OpenAiStreamingChatModel right = OpenAiStreamingChatModel.builder().baseUrl(base).apiKey("s3cret")
                    .modelName(TestServers.MODEL_ID).build();
            assertEquals(2, stream(right, request("hi", 2, 0.0, null, null)).response().tokenUsage().outputTokenCount());
        }
    }
}
