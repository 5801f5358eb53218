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

    /** Whether {@link #expertOutput} is wanted: it costs one more matmul per routed (token, expert) pair. */
    default boolean wantsExpertOutputs() {
        return false;
    }

    /**
     * One routed (token, expert) pair of a Mixture-of-Experts layer, after the pair's matmul inputs were shown: expert
     * {@code expert} of the {@code nExpert} of stacked weight {@code downWeight} (the layer's ffn_down_exps), the routing
     * weight its output is multiplied by, and that output ({@code dim} floats, before the weight). Called only when
     * {@link #wantsExpertOutputs()}.
     */
    default void expertOutput(String downWeight, int expert, int nExpert, float weight, MemorySegment out, int dim) {
    }
}
