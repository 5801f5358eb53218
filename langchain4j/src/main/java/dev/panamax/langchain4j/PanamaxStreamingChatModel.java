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
import dev.panamax.RequestHandle;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * LangChain4j's {@link StreamingChatModel} on a Panamax {@link Engine}: the text reaches the handler as the engine
 * produces it. The engine's thread only queues each piece; a virtual thread per request calls the handler, so a slow
 * handler delays its own request's delivery, never the engine. The handler may stop the request with {@code
 * context.streamingHandle().cancel()} (no further callbacks) or by throwing (then {@code onError} gets the exception);
 * either way the request leaves the engine at its next step. With tools, text that may be a tool call is held back
 * until the reply ends and then given as {@code onCompleteToolCall}s.
 */
public class PanamaxStreamingChatModel implements StreamingChatModel {
    private final Engine engine;
    private final ChatRequestParameters defaults;
    private static final int DELAYS = 1024;
    private final long[] firstTokenDelays = new long[DELAYS];
    private final AtomicLong delayCount = new AtomicLong();

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
            d.handle = engine.submit(c.request, d::produced);
        } catch (ContextOverflowException e) {
            handler.onError(new InvalidRequestException(e.getMessage()));
            return;
        } catch (RuntimeException e) {
            handler.onError(e);
            return;
        }
        d.handle.result().whenComplete((g, t) -> d.queue.add(new Item(null, 0, g, t == null ? null : unwrap(t))));
        Thread.ofVirtual().name("panamax-stream").start(d::deliver);
    }

    private static Throwable unwrap(Throwable t) {
        return t instanceof java.util.concurrent.CompletionException && t.getCause() != null ? t.getCause() : t;
    }

    /**
     * For the most recent streamed requests (at most 1024, oldest first): nanoseconds between the engine producing the
     * first piece of text and the handler being called with it.
     */
    public long[] recentFirstTokenDelayNanos() {
        synchronized (firstTokenDelays) {
            long n = delayCount.get();
            int k = (int) Math.min(n, DELAYS);
            long[] out = new long[k];
            for (int i = 0; i < k; i++) out[i] = firstTokenDelays[(int) ((n - k + i) % DELAYS)];
            return out;
        }
    }

    private void firstTokenDelay(long nanos) {
        synchronized (firstTokenDelays) {
            firstTokenDelays[(int) (delayCount.getAndIncrement() % DELAYS)] = nanos;
        }
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

    /** A piece of text (with when the engine produced it), or the end (generation or error). */
    private record Item(String text, long producedNanos, Generation generation, Throwable error) {}

    private final class Delivery implements StreamingHandle {
        final Conversation conversation;
        final StreamingChatResponseHandler handler;
        final LinkedBlockingQueue<Item> queue = new LinkedBlockingQueue<>();
        volatile RequestHandle handle;
        volatile boolean cancelled;
        final StringBuilder text = new StringBuilder();
        int sent; // characters of text given to the handler

        Delivery(Conversation conversation, StreamingChatResponseHandler handler) {
            this.conversation = conversation;
            this.handler = handler;
        }

        /** On the engine's thread: queue and return. */
        void produced(int token, String piece) {
            if (!piece.isEmpty()) queue.add(new Item(piece, System.nanoTime(), null, null));
        }

        @Override
        public void cancel() {
            cancelled = true;
            RequestHandle h = handle;
            if (h != null) h.cancel();
        }

        @Override
        public boolean isCancelled() {
            return cancelled;
        }

        void deliver() {
            PartialResponseContext context = new PartialResponseContext(this);
            boolean first = true;
            try {
                while (true) {
                    Item it = queue.take();
                    if (cancelled) return;
                    if (it.text != null) {
                        text.append(it.text);
                        int end = conversation.contentEnd(text.toString());
                        if (end > sent) {
                            String out = text.substring(sent, end);
                            sent = end;
                            if (first) {
                                firstTokenDelay(System.nanoTime() - it.producedNanos);
                                first = false;
                            }
                            handler.onPartialResponse(new PartialResponse(out), context);
                        }
                        continue;
                    }
                    if (it.error != null) {
                        handler.onError(it.error instanceof ContextOverflowException e ? new InvalidRequestException(e.getMessage()) : it.error);
                        return;
                    }
                    ChatResponse r = conversation.response(it.generation);
                    List<ToolExecutionRequest> calls = r.aiMessage().toolExecutionRequests();
                    if (calls.isEmpty() && r.aiMessage().text() != null && r.aiMessage().text().length() > sent) {
                        handler.onPartialResponse(new PartialResponse(r.aiMessage().text().substring(sent)), context);
                    }
                    for (int i = 0; i < calls.size(); i++) handler.onCompleteToolCall(new CompleteToolCall(i, calls.get(i)));
                    if (!cancelled) handler.onCompleteResponse(r);
                    return;
                }
            } catch (InterruptedException e) {
                cancel();
            } catch (RuntimeException e) {
                cancel();
                try {
                    handler.onError(e);
                } catch (RuntimeException ignored) {
                    // a handler that fails on its error too: nothing more to tell it
                }
            }
        }
    }
}
