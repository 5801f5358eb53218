package dev.panamax.springai;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamax.ChatCall;
import dev.panamax.ChatStream;
import dev.panamax.ContextOverflowException;
import dev.panamax.Engine;
import dev.panamax.Generation;
import dev.panamax.grammar.Grammar;
import dev.panamax.grammar.GrammarException;
import dev.panamax.sampling.SamplingParams;
import dev.panamax.tokenizer.ChatMessage;
import dev.panamax.tokenizer.ToolCall;
import dev.panamax.tokenizer.ToolCallFormat;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;
import org.springframework.ai.chat.messages.AssistantMessage;
import org.springframework.ai.chat.messages.Message;
import org.springframework.ai.chat.messages.SystemMessage;
import org.springframework.ai.chat.messages.ToolResponseMessage;
import org.springframework.ai.chat.messages.UserMessage;
import org.springframework.ai.chat.metadata.ChatGenerationMetadata;
import org.springframework.ai.chat.metadata.ChatResponseMetadata;
import org.springframework.ai.chat.metadata.DefaultUsage;
import org.springframework.ai.chat.model.ChatModel;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.chat.prompt.ChatOptions;
import org.springframework.ai.chat.prompt.Prompt;
import org.springframework.ai.model.tool.ToolCallingChatOptions;
import org.springframework.ai.tool.ToolCallback;
import reactor.core.publisher.Flux;
import reactor.core.publisher.FluxSink;
import reactor.core.scheduler.Schedulers;

/**
 * Spring AI's {@link ChatModel} (and so its streaming model) on a Panamax {@link Engine} in this JVM. Options: {@link
 * PanamaxChatOptions} (Spring AI's own are read too); tools are rendered by the model's chat template and come back as
 * {@link AssistantMessage.ToolCall}s, which the {@code ChatClient}'s tool-calling advisor executes; an output schema
 * (native structured output) constrains decoding. Streaming: the engine's thread only hands each piece on, the
 * subscriber runs on a virtual thread per request ({@link ChatStream}); cancelling the subscription stops the request
 * at the next step. The engine stays the caller's.
 */
public class PanamaxChatModel implements ChatModel {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Engine engine;
    private final PanamaxChatOptions defaults;
    private final Consumer<Generation> onFinished;
    private final ChatStream.Delays firstPieceDelays = new ChatStream.Delays();

    public PanamaxChatModel(Engine engine) {
        this(engine, PanamaxChatOptions.builder().build(), g -> {});
    }

    /**
     * @param defaults   options a request's own override
     * @param onFinished told of every finished generation (metrics), on the engine's thread: must be quick
     */
    public PanamaxChatModel(Engine engine, PanamaxChatOptions defaults, Consumer<Generation> onFinished) {
        this.engine = Objects.requireNonNull(engine, "engine");
        this.defaults = defaults.getModel() != null ? defaults : defaults.mutate().model(engine.model().architecture()).build();
        this.onFinished = onFinished;
        // a Reactor non-blocking thread may not block: it skips the warm-up (a later construction does it)
        if (!Schedulers.isInNonBlockingThread() && STREAM_WARMED.compareAndSet(false, true)) warmStreamingPath();
    }

    private static final java.util.concurrent.atomic.AtomicBoolean STREAM_WARMED = new java.util.concurrent.atomic.AtomicBoolean();

    /**
     * The streaming path to a subscriber, walked once per JVM before the first request: a response object built as
     * {@link #stream} builds each piece, handed through {@code Flux.create} from a virtual thread to {@code doOnNext}.
     * Otherwise the first streamed piece pays for loading and initializing those classes after it was produced.
     * (Not in a static initializer: the subscriber's lambda runs on another thread and would wait for that class.)
     */
    private static void warmStreamingPath() {
        Flux.<ChatResponse>create(sink -> Thread.ofVirtual().start(() -> {
            sink.next(new ChatResponse(List.of(new org.springframework.ai.chat.model.Generation(new AssistantMessage("")))));
            sink.complete();
        }), FluxSink.OverflowStrategy.BUFFER).doOnNext(ChatResponse::getResult).blockLast();
    }

    /** The defaults (what {@code ChatClient} starts a request's options from). */
    @Override
    public ChatOptions getOptions() {
        return defaults.mutate().build();
    }

    public Engine engine() {
        return engine;
    }

    @Override
    public ChatResponse call(Prompt prompt) {
        PanamaxChatOptions o = options(prompt);
        ChatCall c = prepare(prompt, o);
        Generation g;
        try {
            g = engine.submit(c.request()).result().whenComplete((r, t) -> { if (r != null) onFinished.accept(r); }).join();
        } catch (ContextOverflowException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        } catch (CompletionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : e;
        }
        ToolCallFormat.Parsed parsed = c.parse(g.text());
        return response(parsed.content(), parsed.calls(), g, o);
    }

    /**
     * For the most recent streamed requests (at most 1024, oldest first): nanoseconds between the engine producing the
     * first piece of text and the stream's subscriber being given it (on its virtual thread).
     */
    public long[] recentFirstTokenDelayNanos() {
        return firstPieceDelays.recent();
    }

    /**
     * The engine's pieces through {@link ChatStream} (a virtual thread per request calls the subscriber, as in
     * LangChain4j's provider); cancelling the subscription cancels the stream.
     */
    @Override
    public Flux<ChatResponse> stream(Prompt prompt) {
        return Flux.<ChatResponse>create(sink -> {
            PanamaxChatOptions o;
            ChatCall c;
            try {
                o = options(prompt);
                c = prepare(prompt, o);
            } catch (RuntimeException e) {
                sink.error(e);
                return;
            }
            ChatStream s;
            try {
                s = ChatStream.submit(engine, c, c.request(), new ChatStream.Receiver() {
                    @Override
                    public void onContent(String text) {
                        sink.next(new ChatResponse(List.of(new org.springframework.ai.chat.model.Generation(new AssistantMessage(text)))));
                    }

                    @Override
                    public void onComplete(Generation g, ToolCallFormat.Parsed parsed, String rest) {
                        if (g.stop() != Generation.StopReason.CANCELLED) sink.next(response(rest, parsed.calls(), g, o));
                        sink.complete();
                    }

                    @Override
                    public void onError(Throwable error) {
                        sink.error(error);
                    }
                }, firstPieceDelays);
            } catch (RuntimeException e) {
                sink.error(e instanceof ContextOverflowException ? new IllegalArgumentException(e.getMessage(), e) : e);
                return;
            }
            s.handle().result().whenComplete((g, t) -> { if (g != null) onFinished.accept(g); });
            sink.onCancel(s::cancel);
            s.start();
        }, FluxSink.OverflowStrategy.BUFFER);
    }

    PanamaxChatOptions options(Prompt prompt) {
        PanamaxChatOptions.Builder b = defaults.mutate();
        ChatOptions po = prompt.getOptions();
        if (po != null) {
            b.combineWith(po.mutate());
            if (po instanceof ToolCallingChatOptions t && t.getToolCallbacks() != null && !t.getToolCallbacks().isEmpty()) {
                b.toolCallbacks(t.getToolCallbacks());
            }
        }
        return b.build();
    }

    /** The engine request of a prompt (package-private: the benchmark submits the same tokens directly). */
    ChatCall prepare(Prompt prompt, PanamaxChatOptions o) {
        List<Map<String, Object>> functions = new ArrayList<>();
        if (o.getToolCallbacks() != null) for (ToolCallback t : o.getToolCallbacks()) functions.add(function(t));
        Grammar grammar = null;
        if (o.getOutputSchema() != null && !o.getOutputSchema().isBlank()) {
            try {
                grammar = Grammar.fromJsonSchema(o.getOutputSchema());
            } catch (GrammarException e) {
                throw new IllegalArgumentException("the output schema cannot be a grammar: " + e.getMessage(), e);
            }
        }
        ChatCall.ToolChoice choice = o.getToolChoice() == null ? ChatCall.ToolChoice.AUTO : o.getToolChoice();
        return ChatCall.prepare(engine, messages(prompt.getInstructions()), functions, choice, grammar, sampling(o),
                o.getStopSequences(), o.getMaxTokens());
    }

    private static Map<String, Object> function(ToolCallback t) {
        var d = t.getToolDefinition();
        Map<String, Object> fn = new LinkedHashMap<>();
        fn.put("name", d.name());
        if (d.description() != null) fn.put("description", d.description());
        try {
            fn.put("parameters", d.inputSchema() == null || d.inputSchema().isBlank() ? Map.of("type", "object")
                    : JSON.readValue(d.inputSchema(), Map.class));
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("tool " + d.name() + ": its input schema is not JSON: " + e.getOriginalMessage(), e);
        }
        return fn;
    }

    static SamplingParams sampling(PanamaxChatOptions o) {
        long seed = o.getSeed() != null ? o.getSeed() : ThreadLocalRandom.current().nextLong();
        SamplingParams d = SamplingParams.defaults(seed);
        return new SamplingParams(o.getTemperature() == null ? d.temperature() : o.getTemperature().floatValue(),
                o.getTopK() == null ? d.topK() : o.getTopK(), o.getTopP() == null ? d.topP() : o.getTopP().floatValue(),
                o.getMinP() == null ? d.minP() : o.getMinP().floatValue(), 1f, 64, seed,
                o.getFrequencyPenalty() == null ? 0f : o.getFrequencyPenalty().floatValue(),
                o.getPresencePenalty() == null ? 0f : o.getPresencePenalty().floatValue(), Map.of(), null);
    }

    static List<ChatMessage> messages(List<Message> in) {
        List<ChatMessage> out = new ArrayList<>();
        for (Message m : in) {
            switch (m) {
                case SystemMessage s -> out.add(ChatMessage.system(s.getText()));
                case UserMessage u -> {
                    if (!u.getMedia().isEmpty()) throw new IllegalArgumentException("Panamax models take text only: a user message has media");
                    out.add(ChatMessage.user(u.getText()));
                }
                case AssistantMessage a -> {
                    List<ToolCall> calls = new ArrayList<>();
                    for (AssistantMessage.ToolCall t : a.getToolCalls()) calls.add(new ToolCall(t.id(), t.name(), t.arguments()));
                    out.add(ChatMessage.assistant(a.getText() == null ? "" : a.getText(), calls));
                }
                case ToolResponseMessage t -> {
                    for (ToolResponseMessage.ToolResponse r : t.getResponses()) out.add(ChatMessage.tool(r.id(), r.name(), r.responseData()));
                }
                default -> throw new IllegalArgumentException("message type " + m.getMessageType() + " is not supported");
            }
        }
        return out;
    }

    private static ChatResponse response(String content, List<ToolCall> calls, Generation g, PanamaxChatOptions o) {
        List<AssistantMessage.ToolCall> tc = new ArrayList<>();
        for (ToolCall c : calls) tc.add(new AssistantMessage.ToolCall(c.id(), "function", c.name(), c.arguments()));
        AssistantMessage msg = AssistantMessage.builder().content(content).toolCalls(tc).build();
        String finish = !tc.isEmpty() ? "TOOL_CALLS" : switch (g.stop()) {
            case LENGTH, CONTEXT_FULL -> "LENGTH";
            case END_OF_GENERATION, STOP_STRING -> "STOP";
            default -> g.stop().name();
        };
        var gen = new org.springframework.ai.chat.model.Generation(msg, ChatGenerationMetadata.builder().finishReason(finish).build());
        var meta = ChatResponseMetadata.builder().model(o.getModel())
                .usage(new DefaultUsage(g.promptTokens().length, g.tokens().length)).build();
        return new ChatResponse(List.of(gen), meta);
    }
}
