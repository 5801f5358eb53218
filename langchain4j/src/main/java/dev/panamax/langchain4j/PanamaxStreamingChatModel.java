package dev.panamax.langchain4j;

import dev.langchain4j.agent.tool.ToolExecutionRequest;
import dev.langchain4j.model.ModelProvider;
import dev.langchain4j.model.chat.Capability;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.CompleteToolCall;
import dev.langchain4j.model.chat.response.PartialResponse;
import dev.langchain4j.model.chat.response.PartialResponseContext;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.chat.response.StreamingHandle;
import dev.langchain4j.exception.InvalidRequestException;
import dev.panamax.ContextOverflowException;
import dev.panamax.Engine;
import dev.panamax.Generation;
import dev.panamax.tokenizer.ToolCallFormat;
import dev.panamax.ChatStream;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * LangChain4j's {@link StreamingChatModel} on a Panamax {@link Engine}: the text reaches the handler as the engine
 * produces it. The engine's thread only queues each piece; a virtual thread per request calls the handler ({@link
 * ChatStream}), so a slow handler delays its own request's delivery, never the engine. The handler may stop the request with {@code
 * context.streamingHandle().cancel()} (no further callbacks) or by throwing (then {@code onError} gets the exception);
 * either way the request leaves the engine at its next step. With tools, text that may be a tool call is held back
 * until the reply ends and then given as {@code onCompleteToolCall}s.
 */
public class PanamaxStreamingChatModel implements StreamingChatModel {
    private final Engine engine;
    private final ChatRequestParameters defaults;
    private final ChatStream.Delays firstTokenDelays = new ChatStream.Delays();

    public PanamaxStreamingChatModel(Engine engine) {
        this(engine, PanamaxChatRequestParameters.builder().build());
    }

    public PanamaxStreamingChatModel(Engine engine, ChatRequestParameters defaults) {
        this.engine = Objects.requireNonNull(engine, "engine");
        this.defaults = defaults.modelName() != null ? defaults
                : PanamaxChatRequestParameters.builder().overrideWith(defaults).modelName(PanamaxChatModel.modelName(engine)).build();
    }

    @Override
    public void doChat(ChatRequest request, StreamingChatResponseHandler handler) {
        Conversation c;
        try {
            c = Conversation.of(engine, request, defaults.modelName());
        } catch (RuntimeException e) {
            handler.onError(e);
            return;
        }
        Delivery d = new Delivery(c, handler);
        try {
            d.stream = ChatStream.submit(engine, c.call, c.request, d, firstTokenDelays);
        } catch (ContextOverflowException e) {
            handler.onError(new InvalidRequestException(e.getMessage()));
            return;
        } catch (RuntimeException e) {
            handler.onError(e);
            return;
        }
        d.stream.start();
    }

    /**
     * For the most recent streamed requests (at most 1024, oldest first): nanoseconds between the engine producing the
     * first piece of text and the handler being called with it.
     */
    public long[] recentFirstTokenDelayNanos() {
        return firstTokenDelays.recent();
    }

    @Override
    public ChatRequestParameters defaultRequestParameters() {
        return defaults;
    }

    @Override
    public Set<Capability> supportedCapabilities() {
        return Set.of(Capability.RESPONSE_FORMAT_JSON_SCHEMA);
    }

    @Override
    public ModelProvider provider() {
        return ModelProvider.OTHER;
    }

    public Engine engine() {
        return engine;
    }

    /** The stream's receiver as LangChain4j's handler sees it, and the handle it may cancel. */
    private static final class Delivery implements ChatStream.Receiver, StreamingHandle {
        final Conversation conversation;
        final StreamingChatResponseHandler handler;
        final PartialResponseContext context = new PartialResponseContext(this);
        volatile ChatStream stream;

        Delivery(Conversation conversation, StreamingChatResponseHandler handler) {
            this.conversation = conversation;
            this.handler = handler;
        }

        @Override
        public void cancel() {
            ChatStream s = stream;
            if (s != null) s.cancel();
        }

        @Override
        public boolean isCancelled() {
            ChatStream s = stream;
            return s != null && s.isCancelled();
        }

        @Override
        public void onContent(String text) {
            handler.onPartialResponse(new PartialResponse(text), context);
        }

        @Override
        public void onComplete(Generation g, ToolCallFormat.Parsed parsed, String rest) {
            ChatResponse r = conversation.response(g, parsed);
            if (!rest.isEmpty()) handler.onPartialResponse(new PartialResponse(rest), context);
            List<ToolExecutionRequest> calls = r.aiMessage().toolExecutionRequests();
            for (int i = 0; i < calls.size(); i++) handler.onCompleteToolCall(new CompleteToolCall(i, calls.get(i)));
            if (!isCancelled()) handler.onCompleteResponse(r);
        }

        @Override
        public void onError(Throwable error) {
            handler.onError(error instanceof ContextOverflowException e ? new InvalidRequestException(e.getMessage()) : error);
        }
    }
}
