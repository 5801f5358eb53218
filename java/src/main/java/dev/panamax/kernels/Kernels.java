package dev.panamax.kernels;

import dev.panamax.tensor.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * The seam between model code and compute. Model code calls these operations on memory segments and never
 * knows which backend or ISA runs them. Implementations check every size against the segments before
 * computing (and before any downcall), so a wrong size is an {@link IllegalArgumentException}, never a
 * crash. Float data is little-endian float32, rows contiguous. An instance is not thread-safe: each session
 * or thread uses its own (the native one owns a thread pool and a scratch buffer).
 */
public interface Kernels extends AutoCloseable {

    /** Which implementation runs: "native/avx512", "java/vector256", "java/scalar", ... */
    String name();

    Backend backend();

    /** Threads an operation may use. */
    int threads();

    /** {@code rows} rows of n floats to rows of {@code type}, rounding as ggml's reference quantizers. */
    void quantize(GgmlType type, MemorySegment dst, MemorySegment src, int rows, int n);

    /** {@code rows} rows of n elements of {@code type} to floats. */
    void dequantize(GgmlType type, MemorySegment dst, MemorySegment src, int rows, int n);

    /**
     * y[b][r] = W[r] · x[b] for r < nRows, b < batch. W: nRows rows of nCols elements of {@code type}; x: batch
     * rows of nCols floats; y: batch rows of nRows floats. batch = 1 is the decode GEMV, batch > 1 a GEMM.
     */
    void matmul(GgmlType type, MemorySegment w, int nRows, int nCols, MemorySegment x, int batch, MemorySegment y);

    /**
     * RMSNorm of {@code rows} contiguous rows of {@code n} floats: y = x / sqrt(mean(x²) + eps) · w.
     * y may be x (in place).
     */
    void rmsnorm(MemorySegment y, MemorySegment x, MemorySegment w, int n, int rows, float eps);

    /** In place on each of {@code rows} rows of n floats: x = exp(x - max) / Σ. */
    void softmax(MemorySegment x, int n, int rows);

    /** y = silu(g) · u over n floats (the SwiGLU gate); y may alias g or u. */
    void siluMul(MemorySegment y, MemorySegment g, MemorySegment u, int n);

    /** y = a + b over n floats (residual add); y may alias a or b. */
    void add(MemorySegment y, MemorySegment a, MemorySegment b, int n);

    /** Index of the largest of n floats, the first on ties. */
    int argmax(MemorySegment x, int n);

    /** The k largest of n floats, descending (ties: lower index first), into idx (int32[k]) and val (float[k]). */
    void topk(MemorySegment x, int n, int k, MemorySegment idx, MemorySegment val);

    /**
     * RoPE in place on x[nTokens][nHeads][headDim]: the first nRot dims of each head of token t rotate by
     * position pos[t] (int32[nTokens]), as llama.cpp's {@code ggml_rope_ext}.
     */
    void rope(MemorySegment x, int nTokens, int nHeads, int headDim, int nRot, MemorySegment pos, RopeConfig rope);

    /**
     * Causal grouped-query attention of one sequence with online softmax. q: [nQ][nHead][headDim] floats,
     * query t at position pos0 + t sees keys 0..pos0+t. k: [nKv][nKvHead][headDim], v: [nKv][nKvHead][headDimV]
     * of {@code kvType} (F16 or F32). out: [nQ][nHead][headDimV] floats.
     */
    void attention(MemorySegment out, MemorySegment q, int nQ, int pos0, int nHead, int nKvHead, int headDim,
                   int headDimV, MemorySegment k, MemorySegment v, GgmlType kvType, int nKv, float scale);

    /**
     * Multi-head latent attention (DeepSeek MLA, absorbed form) of one sequence: MQA over a latent cache whose
     * row per token is [kvLora latent | nRope roped key]; the key of a token is its whole row, its value the
     * latent part. q: [nQ][nHead][kvLora + nRope] floats, query t at position pos0 + t sees rows 0..pos0+t.
     * cache: [nKv][kvLora + nRope] of {@code kvType} (F16 or F32). out: [nQ][nHead][kvLora] floats.
     */
    void attentionMla(MemorySegment out, MemorySegment q, int nQ, int pos0, int nHead, int kvLora, int nRope,
                      MemorySegment cache, GgmlType kvType, int nKv, float scale);

    @Override
    void close();

    // TEMPORARY bridges until the native MLA/MoE kernels land (replaced at merge)
    default void moeFfn(MemorySegment out, MemorySegment x, int nTok, int nEmbd, int nFf, int nExpert, int nUsed,
                        MemorySegment ids, MemorySegment weights, GgmlType gateType, MemorySegment gate, GgmlType upType,
                        MemorySegment up, GgmlType downType, MemorySegment down) {
        try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
            MemorySegment g = a.allocate(4L * nFf, 64), u = a.allocate(4L * nFf, 64), d = a.allocate(4L * nEmbd, 64);
            out.asSlice(0, 4L * nTok * nEmbd).fill((byte) 0);
            for (int t = 0; t < nTok; t++) {
                MemorySegment xt = x.asSlice(4L * t * nEmbd, 4L * nEmbd);
                for (int j = 0; j < nUsed; j++) {
                    int e = ids.getAtIndex(java.lang.foreign.ValueLayout.JAVA_INT, (long) t * nUsed + j);
                    float w = weights.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, (long) t * nUsed + j);
                    long gr = gateType.rowBytes(nEmbd) * nFf, ur = upType.rowBytes(nEmbd) * nFf, dr = downType.rowBytes(nFf) * nEmbd;
                    matmul(gateType, gate.asSlice(e * gr, gr), nFf, nEmbd, xt, 1, g);
                    matmul(upType, up.asSlice(e * ur, ur), nFf, nEmbd, xt, 1, u);
                    siluMul(g, g, u, nFf);
                    matmul(downType, down.asSlice(e * dr, dr), nEmbd, nFf, g, 1, d);
                    for (int i = 0; i < nEmbd; i++) {
                        long o = 4L * ((long) t * nEmbd + i);
                        out.set(java.lang.foreign.ValueLayout.JAVA_FLOAT, o, out.get(java.lang.foreign.ValueLayout.JAVA_FLOAT, o) + w * d.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i));
                    }
                }
            }
        }
    }
}
