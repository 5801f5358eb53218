package dev.panamax;

import dev.panamax.engine.Sequence;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * A request running in an {@link Engine}: its text as it is generated (pulled with {@link #pieces()}, or pushed to
 * the {@link TokenListener} given at submit), its outcome ({@link #result()}, completed with the {@link Generation}:
 * tokens, text, stop reason, prompt / cached / generated token counts, timings; or exceptionally when the request
 * failed), and {@link #cancel()}, from any thread at any time: the request leaves at the next step boundary and its
 * KV blocks are freed, during prompt processing too. Thread-safe.
 */
public final class RequestHandle {

    private static final String END = new String("end of stream"); // identity marker

    private final CompletableFuture<Generation> result = new CompletableFuture<>();
    private final LinkedBlockingQueue<String> pieces = new LinkedBlockingQueue<>();
    private final TokenListener listener;
    private volatile Sequence sequence;

    RequestHandle(TokenListener listener) {
        this.listener = listener;
    }

    /** What the scheduler calls, on its thread. */
    final Sequence.Sink sink = new Sequence.Sink() {
        @Override
        public void token(int id, String text, TokenLogprob logprob) {
            if (!text.isEmpty()) pieces.add(text);
            if (listener != null) listener.onToken(id, text, logprob);
        }

        @Override
        public void finish(Generation g) {
            pieces.add(END);
            result.complete(g);
        }

        @Override
        public void fail(Throwable t) {
            pieces.add(END);
            result.completeExceptionally(t);
        }
    };

    void attach(Sequence s) {
        sequence = s;
    }

    /** Completes with the finished generation (stop reason CANCELLED after {@link #cancel()}). */
    public CompletableFuture<Generation> result() {
        return result;
    }

    /** Waits for the outcome. */
    public Generation join() {
        return result.join();
    }

    /** Stops the request at the next step (from any thread); {@link #result()} then completes as CANCELLED. */
    public void cancel() {
        Sequence s = sequence;
        if (s != null) s.cancel();
    }

    public boolean isDone() {
        return result.isDone();
    }

    /**
     * The generated text in pieces as they complete, blocking for the next; ends when the request does. For one
     * consumer: each piece is handed out once.
     */
    public Iterator<String> pieces() {
        return new Iterator<>() {
            private String next;

            @Override
            public boolean hasNext() {
                if (next == null) {
                    try {
                        next = pieces.take();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new IllegalStateException("interrupted while waiting for text", e);
                    }
                    if (next == END) pieces.add(END); // stays the end for later calls
                }
                return next != END;
            }

            @Override
            public String next() {
                if (!hasNext()) throw new NoSuchElementException();
                String s = next;
                next = null;
                return s;
            }
        };
    }
}
