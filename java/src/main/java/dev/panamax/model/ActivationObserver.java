package dev.panamax.model;

import java.lang.foreign.MemorySegment;

/**
 * Sees the activations entering the weights during a forward pass (the importance matrix is the per-column mean of
 * their squares). Called on the thread that runs the pass, before the matmul; the segment is valid only during the
 * call.
 */
public interface ActivationObserver {

    /**
     * {@code in} holds {@code n} rows of {@code cols} floats about to be multiplied by weight {@code weight}
     * (its GGUF name). For a stacked weight (experts), {@code matrix} says which of its {@code nMatrices} matrices the
     * rows go to; a plain weight has {@code nMatrices = 1}.
     */
    void matmul(String weight, int matrix, int nMatrices, MemorySegment in, int n, int cols);
}
