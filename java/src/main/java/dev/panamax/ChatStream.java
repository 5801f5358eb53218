package dev.panamax;

import dev.panamax.tokenizer.ToolCallFormat;
import java.util.Objects;
import java.util.concurrent.CompletionException;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * One chat turn streamed from an {@link Engine} to a framework's subscriber: the hand-off both providers (LangChain4j's
 * {@code StreamingChatModel}, Spring AI's {@code ChatModel.stream}) build on, so that each only maps its own types. The
 * engine's thread only queues each piece of text; a virtual thread per request takes them in order, holds back text
 * that may be a tool call in the making ({@link ChatCall#contentEnd}) and calls the {@link Receiver}, so a slow receiver
 * delays its own request, never the engine (a virtual thread runs on the carrier pool that is already awake: no parked
 * platform thread has to win a core from the engine's threads). {@link #cancel}: no further calls to the receiver, and
 * the request leaves the engine at its next step.
 */
public final class ChatStream {

    /** What a stream tells its subscriber, in order, on the stream's own (virtual) thread. */
    public interface Receiver {
        /** Content as the engine produced it (never part of a tool call). */
        void onContent(String text);

        /**
         * The end: the generation, its text read back as content and calls, and the content not yet given to {@link
         * #onContent} (empty when the reply holds calls).
         */
        void onComplete(Generation generation, ToolCallFormat.Parsed parsed, String rest);

        /**
         * The request failed: the engine's exception (a {@link ContextOverflowException} among them), or what {@link
         * #onContent} or {@link #onComplete} threw (then the request was cancelled first).
         */
        void onError(Throwable error);
    }

    /** A piece of text (with when the engine produced it), or the end (generation or error). */
    private record Item(String text, long producedNanos, Generation generation, Throwable error) {}

    private final ChatCall call;
    private final Receiver receiver;
    private final Delays delays;
    private final LinkedBlockingQueue<Item> queue = new LinkedBlockingQueue<>();
    private final RequestHandle handle;
    private volatile boolean cancelled;
    private boolean started;

    private ChatStream(Engine engine, ChatCall call, GenerationRequest request, Receiver receiver, Delays delays) {
        this.call = call;
        this.receiver = receiver;
        this.delays = delays;
        this.handle = engine.submit(request, this::produced);
    }

    /**
     * Submits {@code request} (the call's, or it with provider settings); pieces queue up until {@link #start} (so the
     * caller can keep the stream where its receiver finds it before the first call).
     *
     * @param delays where the first piece's delay (engine produced it -> receiver given it) is recorded, or null
     * @throws ContextOverflowException and the engine's other submission errors
     */
    public static ChatStream submit(Engine engine, ChatCall call, GenerationRequest request, Receiver receiver, Delays delays) {
        ChatStream s = new ChatStream(Objects.requireNonNull(engine, "engine"), call, request, Objects.requireNonNull(receiver, "receiver"), delays);
        s.handle.result().whenComplete((g, t) -> s.queue.add(new Item(null, 0, g, t == null ? null : unwrap(t))));
        return s;
    }

    /** Starts delivering to the receiver, on a virtual thread of its own; once. */
    public void start() {
        if (started) throw new IllegalStateException("started already");
        started = true;
        Thread.ofVirtual().name("panamax-stream").start(this::deliver);
    }

    /** The engine's handle of the request (its result completes on the engine's thread). */
    public RequestHandle handle() {
        return handle;
    }

    /** Stops the stream: no further calls to the receiver; the request leaves the engine at its next step. */
    public void cancel() {
        cancelled = true;
        handle.cancel();
    }

    public boolean isCancelled() {
        return cancelled;
    }

    private static Throwable unwrap(Throwable t) {
        return t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
    }

    /** On the engine's thread: queue and return. */
    private void produced(int token, String piece) {
        if (!piece.isEmpty()) queue.add(new Item(piece, System.nanoTime(), null, null));
    }

    private void deliver() {
        StringBuilder text = new StringBuilder();
        int sent = 0; // characters of text given to the receiver
        boolean first = true;
        try {
            while (true) {
                Item it = queue.take();
                if (cancelled) return;
                if (it.text != null) {
                    text.append(it.text);
                    int end = call.contentEnd(text.toString());
                    if (end > sent) {
                        String out = text.substring(sent, end);
                        sent = end;
                        if (first && delays != null) delays.add(System.nanoTime() - it.producedNanos);
                        first = false;
                        receiver.onContent(out);
                    }
                    continue;
                }
                if (it.error != null) {
                    receiver.onError(it.error);
                    return;
                }
                ToolCallFormat.Parsed parsed = call.parse(it.generation.text());
                String rest = parsed.calls().isEmpty() && parsed.content().length() > sent ? parsed.content().substring(sent) : "";
                receiver.onComplete(it.generation, parsed, rest);
                return;
            }
        } catch (InterruptedException e) {
            cancel();
        } catch (RuntimeException e) {
            cancel();
            try {
                receiver.onError(e);
            } catch (RuntimeException ignored) {
                // a receiver that fails on its error too: nothing more to tell it
            }
        }
    }

    /**
     * The delays of the most recent streams' first pieces (at most 1024): nanoseconds between the engine producing the
     * first piece of content and the receiver being given it. Thread-safe.
     */
    public static final class Delays {
        private static final int SIZE = 1024;
        private final long[] ring = new long[SIZE];
        private long count; // guarded by ring

        void add(long nanos) {
            synchronized (ring) {
                ring[(int) (count++ % SIZE)] = nanos;
            }
        }

        /** Oldest first. */
        public long[] recent() {
            synchronized (ring) {
                int k = (int) Math.min(count, SIZE);
                long[] out = new long[k];
                for (int i = 0; i < k; i++) out[i] = ring[(int) ((count - k + i) % SIZE)];
                return out;
            }
        }
    }
}
