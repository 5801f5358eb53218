package dev.panamax.langchain4j;

import static org.junit.jupiter.api.Assertions.*;

import dev.langchain4j.agent.tool.P;
import dev.langchain4j.agent.tool.Tool;
import dev.langchain4j.agent.tool.ToolExecutionRequest;
import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.ToolExecutionResultMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.ResponseFormat;
import dev.langchain4j.model.chat.request.ToolChoice;
import dev.langchain4j.model.chat.request.json.JsonObjectSchema;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.CompleteToolCall;
import dev.langchain4j.model.chat.response.PartialResponse;
import dev.langchain4j.model.chat.response.PartialResponseContext;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.service.AiServices;
import dev.panamax.Engine;
import dev.panamax.Model;
import dev.panamax.model.TinyModels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The LangChain4j provider on a tiny random model in this JVM (TinyLlama's template: tools go in the system message,
 * calls are JSON). Random weights say nothing sensible, so what is checked is what does not depend on them: parameters
 * reach the sampler (seeds reproduce, token limits hold), grammars hold (JSON schema replies parse, a required tool
 * call is a real call AI Services executes), streaming equals the blocking reply and can be cancelled.
 */
class PanamaxLangChain4jTest {
    static final int CTX = 2048;
    @TempDir
    static Path dir;
    static Model model;
    static Engine engine;
    static PanamaxChatModel chat;
    static PanamaxStreamingChatModel streaming;

    @BeforeAll
    static void start() throws Exception {
        model = Model.load(TinyModels.writeNeverEnding(dir, CTX), Model.Options.defaults().withThreads(1));
        engine = model.newEngine(Engine.Config.defaults().withMaxSequences(4).withContextLength(CTX));
        chat = new PanamaxChatModel(engine);
        streaming = new PanamaxStreamingChatModel(engine);
    }

    @AfterAll
    static void stop() {
        if (engine != null) engine.close();
        if (model != null) model.close();
    }

    static ChatRequest request(String user, ChatRequestParameters p) {
        return ChatRequest.builder().messages(UserMessage.from(user)).parameters(p).build();
    }

    @Test
    void parametersReachTheSampler() {
        var p = PanamaxChatRequestParameters.builder().temperature(0.9).topK(20).topP(0.9).seed(5L).maxOutputTokens(12)
                .presencePenalty(0.5).frequencyPenalty(0.2).build();
        ChatResponse a = chat.chat(request("Hello", p));
        ChatResponse b = chat.chat(request("Hello", p));
        assertEquals(a.aiMessage().text(), b.aiMessage().text(), "same seed, same text");
        assertEquals(12, a.tokenUsage().outputTokenCount());
        assertEquals(FinishReason.LENGTH, a.finishReason());
        var other = PanamaxChatRequestParameters.builder().overrideWith(p).seed(6L).build();
        assertNotEquals(a.aiMessage().text(), chat.chat(request("Hello", other)).aiMessage().text(), "another seed draws other tokens");
        // the prompt count is the template's rendering, as the token count estimator says
        var estimator = new PanamaxTokenCountEstimator(engine);
        int rendered = estimator.estimateTokenCountInMessages(List.of(UserMessage.from("Hello")));
        assertTrue(a.tokenUsage().inputTokenCount() > rendered, a.tokenUsage() + " vs " + rendered + " (+ generation prompt)");
        assertTrue(estimator.estimateTokenCountInText("Hello world") > 0);
        var stopped = PanamaxChatRequestParameters.builder().overrideWith(p).stopSequences(a.aiMessage().text().substring(3, 5)).build();
        String cut = chat.chat(request("Hello", stopped)).aiMessage().text();
        assertTrue(cut.length() <= 3, "stops before the stop sequence: " + cut);
    }

    @Test
    void jsonSchemaResponseFormatIsObeyed() throws Exception {
        var schema = dev.langchain4j.model.chat.request.json.JsonSchema.builder().name("Pet").rootElement(JsonObjectSchema.builder()
                .addEnumProperty("kind", List.of("cat", "dog")).addBooleanProperty("friendly").required("kind", "friendly").build()).build();
        var p = PanamaxChatRequestParameters.builder().temperature(1.0).seed(3L)
                .responseFormat(ResponseFormat.builder().type(dev.langchain4j.model.chat.request.ResponseFormatType.JSON).jsonSchema(schema).build()).build();
        String text = chat.chat(request("A pet?", p)).aiMessage().text();
        var node = new com.fasterxml.jackson.databind.ObjectMapper().readTree(text);
        assertTrue(List.of("cat", "dog").contains(node.get("kind").asText()), text);
        assertTrue(node.get("friendly").isBoolean(), text);
    }

    /** The streamed pieces, tool calls and outcome of one call. */
    record Streamed(List<String> pieces, List<CompleteToolCall> calls, CompletableFuture<ChatResponse> done) {
        static Streamed of(PanamaxStreamingChatModel m, ChatRequest r, int cancelAfter) {
            Streamed s = new Streamed(new CopyOnWriteArrayList<>(), new CopyOnWriteArrayList<>(), new CompletableFuture<>());
            m.chat(r, new StreamingChatResponseHandler() {
                @Override
                public void onPartialResponse(PartialResponse partial, PartialResponseContext context) {
                    s.pieces.add(partial.text());
                    if (s.pieces.size() == cancelAfter) context.streamingHandle().cancel();
                }

                @Override
                public void onCompleteToolCall(CompleteToolCall call) {
                    s.calls.add(call);
                }

                @Override
                public void onCompleteResponse(ChatResponse response) {
                    s.done.complete(response);
                }

                @Override
                public void onError(Throwable error) {
                    s.done.completeExceptionally(error);
                }
            });
            return s;
        }
    }

    @Test
    void streamingMatchesTheBlockingReplyAndCancels() throws Exception {
        var p = PanamaxChatRequestParameters.builder().temperature(0.0).maxOutputTokens(40).build();
        String whole = chat.chat(request("Tell me a story", p)).aiMessage().text();
        Streamed s = Streamed.of(streaming, request("Tell me a story", p), -1);
        ChatResponse r = s.done.get(60, TimeUnit.SECONDS);
        assertEquals(whole, String.join("", s.pieces));
        assertEquals(whole, r.aiMessage().text());
        assertTrue(s.pieces.size() > 5, "streamed in pieces: " + s.pieces.size());
        long[] delays = streaming.recentFirstTokenDelayNanos();
        assertTrue(delays.length >= 1 && delays[delays.length - 1] >= 0, "the first piece's delivery delay is recorded");

        // cancelled after 3 pieces: no completion, the engine drops the request
        var longer = PanamaxChatRequestParameters.builder().temperature(0.0).maxOutputTokens(1500).build();
        Streamed c = Streamed.of(streaming, request("Tell me a long story", longer), 3);
        for (int i = 0; i < 500 && (c.pieces.size() < 3 || engine.stats().running() > 0); i++) Thread.sleep(10);
        assertEquals(0, engine.stats().running(), "the cancelled request left the engine");
        assertFalse(c.done.isDone(), "no completion after a cancel");
        assertTrue(c.pieces.size() < 50, "stopped early: " + c.pieces.size());

        // a handler that throws: onError gets its exception, the request stops
        CompletableFuture<Throwable> failed = new CompletableFuture<>();
        streaming.chat(request("Tell me a long story", longer), new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String text) {
                throw new IllegalStateException("client went away");
            }

            @Override
            public void onCompleteResponse(ChatResponse response) {
                failed.complete(null);
            }

            @Override
            public void onError(Throwable error) {
                failed.complete(error);
            }
        });
        assertEquals("client went away", failed.get(60, TimeUnit.SECONDS).getMessage());
        for (int i = 0; i < 500 && engine.stats().running() > 0; i++) Thread.sleep(10);
        assertEquals(0, engine.stats().running());
    }

    @Test
    void requiredToolCallIsReturnedAndStreamed() throws Exception {
        ToolSpecification weather = ToolSpecification.builder().name("weather").description("The weather in a city")
                .parameters(JsonObjectSchema.builder().addEnumProperty("city", List.of("Paris", "Oslo")).required("city").build()).build();
        var p = PanamaxChatRequestParameters.builder().temperature(0.0).toolSpecifications(weather).toolChoice(ToolChoice.REQUIRED).build();
        ChatResponse r = chat.chat(request("Weather in Paris?", p));
        assertEquals(FinishReason.TOOL_EXECUTION, r.finishReason());
        ToolExecutionRequest call = r.aiMessage().toolExecutionRequests().getFirst();
        assertEquals("weather", call.name());
        assertTrue(call.arguments().matches("\\{\\s*\"city\"\\s*:\\s*\"(Paris|Oslo)\"\\s*}"), call.arguments());
        Streamed s = Streamed.of(streaming, request("Weather in Paris?", p), -1);
        ChatResponse sr = s.done.get(60, TimeUnit.SECONDS);
        assertEquals(List.of(), s.pieces, "a call is not streamed as text");
        assertEquals(1, s.calls.size());
        assertEquals(call.arguments(), s.calls.get(0).toolExecutionRequest().arguments());
        assertEquals(FinishReason.TOOL_EXECUTION, sr.finishReason());
    }

    // ---- AI Services ----

    enum City { PARIS, OSLO }

    static final class Weather {
        final List<City> calls = new CopyOnWriteArrayList<>();

        @Tool("The weather in a city")
        String weather(@P(value = "the city", name = "city") City city) {
            calls.add(city);
            return "sunny in " + city;
        }
    }

    interface Assistant {
        String chat(String message);
    }

    /**
     * A tool call can only be forced per request: the first turn (a user message last) requires a call, the turn after
     * the tool's result answers freely, within a few tokens. Records what the model was sent.
     */
    static final class ForceFirstCall implements ChatModel {
        final List<ChatRequest> seen = new CopyOnWriteArrayList<>();

        @Override
        public ChatResponse doChat(ChatRequest r) {
            seen.add(r);
            boolean userLast = r.messages().getLast() instanceof UserMessage;
            var p = PanamaxChatRequestParameters.builder().overrideWith(r.parameters()).temperature(0.0)
                    .toolChoice(userLast ? ToolChoice.REQUIRED : ToolChoice.AUTO).maxOutputTokens(userLast ? null : 8).build();
            return chat.chat(ChatRequest.builder().messages(r.messages()).parameters(p).build());
        }
    }

    @Test
    void aiServiceCallsAJavaToolAndAnswersAfterItsResult() {
        Weather tool = new Weather();
        ForceFirstCall model = new ForceFirstCall();
        Assistant a = AiServices.builder(Assistant.class).chatModel(model).tools(tool).build();
        String answer = a.chat("Weather in Paris?");
        assertEquals(1, tool.calls.size(), "the Java method ran once: " + tool.calls);
        assertEquals(2, model.seen.size());
        ToolExecutionResultMessage result = (ToolExecutionResultMessage) model.seen.get(1).messages().getLast();
        assertEquals("sunny in " + tool.calls.get(0), result.text(), "the tool's result goes back to the model");
        assertTrue(model.seen.get(1).messages().stream().anyMatch(m -> m instanceof dev.langchain4j.data.message.AiMessage ai
                && ai.hasToolExecutionRequests()), "with the call that asked for it");
        assertNotNull(answer);
    }

    enum Mood { HAPPY, SAD }

    record Verdict(Mood mood, boolean sure, int score) {}

    interface Judge {
        Verdict judge(String text);
    }

    @Test
    void aiServiceReturnsARecord() {
        PanamaxChatModel inner = new PanamaxChatModel(engine, PanamaxChatRequestParameters.builder().temperature(0.8).seed(9L).build());
        List<ChatRequest> seen = new CopyOnWriteArrayList<>();
        List<String> replies = new CopyOnWriteArrayList<>();
        ChatModel m = new ChatModel() {
            @Override
            public ChatResponse doChat(ChatRequest r) {
                seen.add(r);
                ChatResponse out = inner.chat(r);
                replies.add(out.aiMessage().text());
                return out;
            }

            @Override
            public java.util.Set<dev.langchain4j.model.chat.Capability> supportedCapabilities() {
                return inner.supportedCapabilities();
            }
        };
        Judge j = AiServices.create(Judge.class, m);
        Verdict v = j.judge("I love this!");
        assertNotNull(seen.get(0).parameters().responseFormat().jsonSchema(), "AI Services asked for the record's JSON schema");
        assertNotNull(v.mood(), replies.toString());
    }
}
