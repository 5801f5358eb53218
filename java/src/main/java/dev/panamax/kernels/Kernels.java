package dev.panamax.kernels;

import dev.panamax.Backend;

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

    /** The KV cache types the attention kernels read (llama.cpp's -ctk/-ctv types). */
    java.util.Set<GgmlType> KV_CACHE_TYPES = java.util.Set.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0,
            GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.IQ4_NL);

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
     * Rows {@code ids[0..n)} (int32) of an nRows x nCols matrix of {@code type} to floats, dst[i] = row ids[i] (the
     * token embeddings of a step in one call); every id is checked against nRows first.
     */
    void getRows(GgmlType type, MemorySegment dst, MemorySegment src, int nRows, int nCols, MemorySegment ids, int n);

    /**
     * y[b][r] = W[r] · x[b] for r < nRows, b < batch. W: nRows rows of nCols elements of {@code type}; x: batch
     * rows of nCols floats; y: batch rows of nRows floats. batch = 1 is the decode GEMV, batch > 1 a GEMM.
     */
    void matmul(GgmlType type, MemorySegment w, int nRows, int nCols, MemorySegment x, int batch, MemorySegment y);

    /**
     * nMat independent products over stacked matrices (per-head weights, as MLA's W_UK absorption and W_UV), each for
     * nTok activation rows read and written at strides, in one operation (one downcall, one pool run):
     * y[t·yTokStride + m·yMatStride + r] = W_m[r] · x[t·xTokStride + m·xMatStride + 0..cols) for r < rows, m < nMat,
     * t < nTok. W_m is rows x cols of {@code type} starting at byte m·wMatBytes of w (wMatBytes may exceed the matrix:
     * per-head slices of a larger tensor). Strides count floats. The y slices must not overlap one another (token-major
     * or matrix-major layouts), x may be read by several matrices (xMatStride 0 broadcasts), x and y must not overlap.
     * Results equal nMat separate {@link #matmul} calls of this backend bit for bit.
     */
    void matmulStacked(GgmlType type, MemorySegment w, int nMat, int rows, int cols, long wMatBytes, MemorySegment x,
                       int nTok, int xTokStride, int xMatStride, MemorySegment y, int yTokStride, int yMatStride);

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
     * position pos[t] (int32[nTokens]), as llama.cpp's {@code ggml_rope_ext}. {@code freqFactors}: null, or nRot/2
     * floats (Llama 3.1's {@code rope_freqs.weight}) dividing pair i's extrapolated angle pos·base^(-2i/nRot)
     * before the linear/YaRN scaling; null is the same as all factors 1.
     */
    void rope(MemorySegment x, int nTokens, int nHeads, int headDim, int nRot, MemorySegment pos, RopeConfig rope,
              MemorySegment freqFactors);

    /**
     * Causal grouped-query attention of one sequence with online softmax. q: [nQ][nHead][headDim] floats,
     * query t at position pos0 + t sees keys 0..pos0+t. k: [nKv][nKvHead][headDim] of {@code kType}, v:
     * [nKv][nKvHead][headDimV] of {@code vType} ({@link #KV_CACHE_TYPES}; a block type's block divides the head size).
     * out: [nQ][nHead][headDimV] floats.
     */
    void attention(MemorySegment out, MemorySegment q, int nQ, int pos0, int nHead, int nKvHead, int headDim,
                   int headDimV, MemorySegment k, MemorySegment v, GgmlType kType, GgmlType vType, int nKv, float scale);

    /**
     * Multi-head latent attention (DeepSeek MLA, absorbed form) of one sequence: MQA over a latent cache whose
     * row per token is [kvLora latent | nRope roped key]; the key of a token is its whole row, its value the
     * latent part. q: [nQ][nHead][kvLora + nRope] floats, query t at position pos0 + t sees rows 0..pos0+t.
     * cache: [nKv][kvLora + nRope] of {@code kvType} ({@link #KV_CACHE_TYPES}). out: [nQ][nHead][kvLora] floats.
     */
    void attentionMla(MemorySegment out, MemorySegment q, int nQ, int pos0, int nHead, int kvLora, int nRope,
                      MemorySegment cache, GgmlType kvType, int nKv, float scale);

    /**
     * {@link #attention} for every sequence of a step over the serving engine's paged cache (one call per layer, not
     * per sequence): k and v are pools of {@code batch.poolRows()} rows of nKvHead x headDim (headDimV) elements of
     * {@code kType} ({@code vType}); q and out hold the step's query rows ({@link PagedBatch}). Each sequence's result equals
     * {@link #attention} over its keys gathered in order, within float summation order.
     */
    void attentionPaged(MemorySegment out, MemorySegment q, PagedBatch batch, int nHead, int nKvHead, int headDim,
                        int headDimV, MemorySegment k, MemorySegment v, GgmlType kType, GgmlType vType, float scale);

    /** {@link #attentionMla} for every sequence of a step over a paged latent cache (rows of kvLora + nRope). */
    void attentionMlaPaged(MemorySegment out, MemorySegment q, PagedBatch batch, int nHead, int kvLora, int nRope,
                           MemorySegment cache, GgmlType kvType, float scale);

    /**
     * Row i of src (n rows of width floats) into row {@code rows[i]} (int32) of a cache of {@code kvType} (rounded or
     * quantized as {@link #quantize}: ggml's blocks); every row index is checked against the cache's size first.
     */
    void kvStore(GgmlType kvType, MemorySegment cache, MemorySegment rows, MemorySegment src, int n, int width);

    /**
     * In place on each of {@code chunks} contiguous chunks of n floats (n a power of 2, 2..65536): the orthonormal
     * Walsh-Hadamard transform, its own inverse, computed as ggml's {@code fwht} (x / sqrt(n), then butterflies of span
     * 1, 2, 4, ...: the same bits on every backend). llama.cpp rotates Q, K and V this way before a quantized KV cache.
     */
    void hadamard(MemorySegment x, int n, int chunks);

    /** y[r] += b for each of {@code rows} rows of n floats (a bias over a batch). */
    void addRows(MemorySegment y, MemorySegment b, int n, int rows);

    /**
     * BERT's LayerNorm per row of n floats: y = norm(x + res) * w + b (res null: norm(x)), as ggml_norm (mean and
     * variance summed in double) then ggml_mul and ggml_add; y may be x or res.
     */
    default void layerNorm(MemorySegment y, MemorySegment x, MemorySegment res, MemorySegment w, MemorySegment b, int n,
                           int rows, float eps) {
        Checks.layerNorm(y, x, res, w, b, n, rows, eps);
        EncoderOps.layerNorm(y, x, res, w, b, n, rows, eps);
    }

    /**
     * An encoder's self-attention over {@code nSeq} sequences: sequence s is rows [seqRows[s], seqRows[s + 1]) of q, k,
     * v and out (rows of nHead * headDim floats; seqRows: nSeq + 1 int32 entries, non-decreasing from 0), every row
     * seeing every row of its sequence: out = softmax(scale * q k^T) v per head, with K and V rounded to binary16 as
     * llama.cpp's flash attention reads them from its F16 cache.
     */
    default void attentionEncoder(MemorySegment out, MemorySegment q, MemorySegment k, MemorySegment v, MemorySegment seqRows,
                                  int nSeq, int nHead, int headDim, float scale) {
        Checks.attentionEncoder(out, q, k, v, seqRows, nSeq, nHead, headDim, scale);
        EncoderOps.attention(out, q, k, v, seqRows, nSeq, nHead, headDim, scale);
    }

    /**
     * In place per row of n floats: x = gelu(x + b) (b null: none), ggml's GELU with GGML_GELU_FP16: 0 at or below
     * -10, the input at or above 10, else the binary16 value of the tanh form at the binary16-rounded input.
     */
    default void gelu(MemorySegment x, MemorySegment b, int n, int rows) {
        Checks.gelu(x, b, n, rows);
        EncoderOps.gelu(x, b, n, rows);
    }

    /** RMSNorm in place of the first n floats of {@code rows} rows that start {@code stride} floats apart. */
    void rmsnormStrided(MemorySegment x, MemorySegment w, int n, int rows, int stride, float eps);

    /**
     * Mixture-of-experts SwiGLU feed-forward of nTok tokens over stacked experts (DeepSeek MoE), routed by the caller:
     * out[t] = Σ_{j < nUsed} weights[t][j] · down[e] (silu(gate[e] x[t]) · up[e] x[t]) with e = ids[t][j]. Only the
     * selected experts run, each one's weights read once for all the tokens routed to it.
     *
     * @param out     [nTok][nEmbd] floats, overwritten
     * @param x       [nTok][nEmbd] floats
     * @param ids     int32 [nTok][nUsed], each in [0, nExpert); an expert may appear twice for one token
     * @param weights float [nTok][nUsed], the routing weights (already normalized and scaled as the model wants)
     * @param gate    nExpert matrices of nFf rows x nEmbd of {@code gateType}, contiguous as GGUF's ffn_gate_exps
     * @param up      the same shape, of {@code upType} (ffn_up_exps)
     * @param down    nExpert matrices of nEmbd rows x nFf of {@code downType} (ffn_down_exps)
     */
    void moeFfn(MemorySegment out, MemorySegment x, int nTok, int nEmbd, int nFf, int nExpert, int nUsed,
                MemorySegment ids, MemorySegment weights, GgmlType gateType, MemorySegment gate, GgmlType upType,
                MemorySegment up, GgmlType downType, MemorySegment down);

    /**
     * {@link #moeFfn} where the expert tensors flagged in {@code packed} (bits: 1 gate, 2 up, 4 down) were written by
     * {@link #pack} as one matrix of nExpert x rows rows each (every expert's rows a multiple of 16).
     */
    default void moeFfnPacked(MemorySegment out, MemorySegment x, int nTok, int nEmbd, int nFf, int nExpert, int nUsed,
                              MemorySegment ids, MemorySegment weights, GgmlType gateType, MemorySegment gate,
                              GgmlType upType, MemorySegment up, GgmlType downType, MemorySegment down, int packed) {
        if (packed != 0) throw new UnsupportedOperationException(name() + " has no packed weight layout");
        moeFfn(out, x, nTok, nEmbd, nFf, nExpert, nUsed, ids, weights, gateType, gate, upType, up, downType, down);
    }

    /**
     * Bytes of the interleaved layout ({@link #pack}) of an nRows x nCols matrix of {@code type} when this backend computes
     * it faster that way, else 0 (use the weights as stored). The native backend on AVX-512 VNNI: Q4_0, Q8_0, Q4_1, Q5_1, Q2_K,
     * Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS (and F32 on AVX2) with a row count that is a multiple of 16.
     */
    default long packedBytes(GgmlType type, int nRows, int nCols) {
        return 0;
    }

    /** Writes w (nRows rows as stored) into dst in the interleaved layout; only where {@link #packedBytes} is not 0. */
    default void pack(GgmlType type, MemorySegment dst, MemorySegment w, int nRows, int nCols) {
        throw new UnsupportedOperationException(name() + " has no packed weight layout");
    }

    /** {@link #matmul} on weights written by {@link #pack}: the same products within float summation order. */
    default void matmulPacked(GgmlType type, MemorySegment wp, int nRows, int nCols, MemorySegment x, int batch, MemorySegment y) {
        throw new UnsupportedOperationException(name() + " has no packed weight layout");
    }

    /**
     * {@link #matmulPacked} with an epilogue and a split output: y = act(W x + bias), act GELU ({@link #gelu}'s) when
     * {@code gelu}, bias null: none; the same results as {@link #matmulPacked}, {@link #addRows} and {@link #gelu} in turn.
     * The product's rows are cut into parts of {@code partRows} (a multiple of 16 dividing nRows): part p goes to y at
     * float offset {@code p * partStride}, batch rows of partRows floats. So W may be several matrices packed one after
     * the other ({@code PackedWeights}' fused groups: Q, K and V) computed as one GEMM, each landing in its own buffer.
     * Only where {@link #packedBytes} is not 0 (the native backend: the epilogue on each tile while it is hot, all parts
     * in one pass over the activations).
     */
    default void matmulPackedEp(GgmlType type, MemorySegment wp, int nRows, int nCols, MemorySegment x, int batch, MemorySegment y,
                                int partRows, long partStride, MemorySegment bias, boolean gelu) {
        throw new UnsupportedOperationException(name() + " has no packed weight layout");
    }

    /**
     * Tells the OS that the file-mapped pages inside w are not needed for now (they were packed): resident memory stays
     * about one copy of the weights. A later read maps them again. A no-op where unsupported.
     */
    default void releasePages(MemorySegment w) {}

    @Override
    void close();
}
