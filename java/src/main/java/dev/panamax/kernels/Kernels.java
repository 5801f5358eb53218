package dev.panamax.kernels;

import java.lang.foreign.MemorySegment;

/**
 * The seam between model code and compute. Model code calls these operations on memory segments and never
 * knows which backend or ISA runs them. Implementations check every size against the segments before
 * computing (and before any downcall), so a wrong size is an {@link IllegalArgumentException}, never a
 * crash. An instance is not thread-safe: each session or thread uses its own (the native one owns a pool).
 */
public interface Kernels extends AutoCloseable {

    /** Which implementation runs: "native/avx512", "java/vector", "java/scalar", ... */
    String name();

    Backend backend();

    /** Threads an operation may use. */
    int threads();

    /**
     * RMSNorm of {@code rows} contiguous rows of {@code n} floats: y = x / sqrt(mean(x²) + eps) · w.
     * y may be x (in place).
     */
    void rmsnorm(MemorySegment y, MemorySegment x, MemorySegment w, int n, int rows, float eps);

    @Override
    void close();
}
