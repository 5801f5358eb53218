package dev.panamax.model;

import dev.panamax.ContextOverflowException;
import java.lang.foreign.MemorySegment;

/**
 * One sequence's state of a model and its forward pass: the KV cache and every activation buffer, allocated once, so
 * a forward step allocates no memory. {@link #forward} appends tokens at {@link #position()}: a prompt in batches of up
 * to {@link #maxBatch()} tokens (GEMM), then decode one token at a time. Not thread-safe (one per session).
 */
public interface ModelState extends AutoCloseable {

    /** Tokens in the KV cache (the position of the next token). */
    int position();

    int contextLength();

    int maxBatch();

    int vocabSize();

    /** Forgets the cached tokens after position p (0 clears the sequence). */
    void truncate(int p);

    /**
     * Runs {@code n} tokens ({@code n <= maxBatch()}) at positions {@code position() .. position()+n-1}, appends
     * them to the cache, and leaves the logits of the last one in {@link #logits()} (and of all n in
     * {@link #allLogits()} when {@code allPositions}).
     *
     * @throws ContextOverflowException when the cache cannot hold the n tokens
     * @throws IllegalArgumentException for a token id outside the vocabulary or a bad n
     */
    void forward(int[] tokens, int off, int n, boolean allPositions);

    /** The logits of the last token of the last {@link #forward} call: [vocab] floats. */
    MemorySegment logits();

    /** After {@code forward(..., true)}: the logits of its n tokens, [n][vocab] floats. */
    MemorySegment allLogits();

    /** Shows the input of every matmul to this observer from now on (null: stop); for the importance matrix. */
    default void observeActivations(ActivationObserver observer) {
        throw new UnsupportedOperationException("this model state cannot show its activations");
    }

    /** Bytes this state holds off-heap (KV cache + activations). */
    long residentBytes();

    @Override
    void close();
}
