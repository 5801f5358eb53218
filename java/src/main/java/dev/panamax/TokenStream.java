package dev.panamax;

import dev.panamax.sampling.SamplingParams;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * A generation consumed as an iterator of text pieces, for callers that pull (a servlet writing chunks, a reactive
 * adapter) instead of receiving callbacks. The tokens are produced on a virtual thread, at most a few pieces ahead of
 * the consumer. {@link #close()} (or try-with-resources) stops the generation early; {@link #generation()} gives the
 * outcome once the iterator is exhausted. One consumer thread; the session is busy until the stream is closed or done.
 */
public final class TokenStream implements Iterator<String>, AutoCloseable {

    /** A piece of text, or the end (an empty marker with {@code last} set). */
    private record Item(int token, String text, boolean last) {}

    private static final Item END = new Item(-1, "", true);

    private final Session session;
    private final BlockingQueue<Item> queue = new ArrayBlockingQueue<>(16);
    private final CompletableFuture<Generation> result = new CompletableFuture<>();
    private Item next;
    private volatile boolean closed;

    TokenStream(Session session, String prompt, int maxTokens, SamplingParams params) {
        this.session = session;
        Thread.ofVirtual().name("panamax-stream").start(() -> {
            try {
                result.complete(session.generate(prompt, maxTokens, params, (token, text) -> {
                    if (closed) session.cancel(); // closed before generate() reset the flag: stop at the next token
                    else put(new Item(token, text, false));
                }));
            } catch (Throwable t) {
                result.completeExceptionally(t);
            } finally {
                put(END);
            }
        });
    }

    /** Blocks while the consumer is behind; gives up once the stream is closed (nobody reads any more). */
    private void put(Item item) {
        try {
            while (!queue.offer(item, 10, TimeUnit.MILLISECONDS)) {
                if (closed) return;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public boolean hasNext() {
        if (next == null) {
            try {
                next = queue.take();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for the next token", e);
            }
        }
        return !next.last();
    }

    /** The next piece of text (may be empty while a UTF-8 character spans several tokens). */
    @Override
    public String next() {
        if (!hasNext()) throw new NoSuchElementException();
        String t = next.text();
        next = null;
        return t;
    }

    /**
     * The outcome, after the iterator is exhausted (waits for it otherwise).
     *
     * @throws IllegalStateException wrapping the generation's failure (e.g. {@link ContextOverflowException})
     */
    public Generation generation() {
        try {
            return result.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            throw new IllegalStateException(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /** Stops the generation (at the next token) and waits for it to end, so the session is free again. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        session.cancel();
        queue.clear();
        result.handle((g, t) -> null).join();
    }
}
