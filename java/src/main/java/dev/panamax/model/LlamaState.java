package dev.panamax.model;

import dev.panamax.ContextOverflowException;
import dev.panamax.kernels.Kernels;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * One sequence's state of a Llama-family model and its forward pass: the KV cache (F16 or F32,
 * per layer {@code [pos][kv_head][head_dim]}) and every activation buffer, allocated once (from
 * {@link TransformerState}'s arena) sized for {@code maxBatch} tokens, so a forward step allocates no memory.
 * {@link #forward} appends tokens at {@link #position()}: a prompt in batches of up to {@code maxBatch} (GEMM), then decode one token at a time.
 * Not thread-safe (one per session); the weights are shared read-only.
 */
public final class LlamaState extends TransformerState {

    private final LlamaWeights w;
    private final LlamaConfig c;
    private final MemorySegment[] kCache, vCache; // per layer [nCtx][nKvHead][headDim]
    private final long kRowBytes, vRowBytes;
    // activations, [maxBatch][...] floats (x, the residual stream, is TransformerState's)
    private final MemorySegment xb, xb2, q, kk, vv, att, hb, hb2;
    private final MemorySegment ropeFreqs; // rope_freqs.weight, or null

    /**
     * @param nCtx     positions the KV cache holds (at most the model's context_length is sensible, not enforced)
     * @param maxBatch tokens per forward step (the prompt is split into batches of this size)
     * @param kvType   F16 (llama.cpp's default) or F32
     */
    public LlamaState(LlamaWeights weights, Kernels kernels, int nCtx, int maxBatch, GgmlType kvType) {
        super(weights, kernels, nCtx, maxBatch, kvType);
        this.w = weights;
        this.ropeFreqs = weights.ropeFreqs == null ? null : weights.ropeFreqs.data();
        this.c = weights.config;
        int b = this.maxBatch;
        try {
            kRowBytes = kvType.rowBytes((long) c.nKvHead() * c.headDimK());
            vRowBytes = kvType.rowBytes((long) c.nKvHead() * c.headDimV());
            kCache = new MemorySegment[c.nLayer()];
            vCache = new MemorySegment[c.nLayer()];
            for (int l = 0; l < c.nLayer(); l++) {
                kCache[l] = bytes(Math.multiplyExact(kRowBytes, (long) nCtx));
                vCache[l] = bytes(Math.multiplyExact(vRowBytes, (long) nCtx));
            }
            int attDim = c.nHead() * c.headDimV();
            xb = floats(b, Math.max(c.dim(), attDim));
            xb2 = floats(b, c.dim());
            q = floats(b, c.nHead() * c.headDimK());
            kk = floats(b, c.nKvHead() * c.headDimK());
            vv = floats(b, c.nKvHead() * c.headDimV());
            att = floats(b, attDim);
            hb = floats(b, c.ffnDim());
            hb2 = floats(b, c.ffnDim());
        } catch (RuntimeException | OutOfMemoryError e) {
            throw allocationFailed(e);
        }
    }

    public LlamaConfig config() {
        return c;
    }

    /**
     * Runs {@code n} tokens ({@code n <= maxBatch()}) at positions {@code position() .. position()+n-1}, appends
     * their K/V to the cache, and leaves the logits of the last one in {@link #logits()} (and of all n in {@link
     * #allLogits()} when {@code allPositions}).
     *
     * @throws ContextOverflowException   when the cache cannot hold the n tokens
     * @throws IllegalArgumentException   for a token id outside the vocabulary or a bad n
     */
    @Override
    public void forward(int[] tokens, int off, int n, boolean allPositions) {
        int dim = c.dim(), pos0 = position();
        embed(tokens, off, n);
        int qDim = c.nHead() * c.headDimK(), kDim = c.nKvHead() * c.headDimK(), vDim = c.nKvHead() * c.headDimV();
        float scale = (float) (1.0 / Math.sqrt(c.headDimK()));
        for (int l = 0; l < c.nLayer(); l++) {
            LlamaWeights.Layer L = w.layers[l];
            // attention
            k.rmsnorm(xb, x, L.attnNorm().data(), dim, n, c.eps());
            matmul(L.wq(), xb, n, q);
            matmul(L.wk(), xb, n, kk);
            matmul(L.wv(), xb, n, vv);
            if (L.bq() != null) addBias(q, L.bq(), n, qDim);
            if (L.bk() != null) addBias(kk, L.bk(), n, kDim);
            if (L.bv() != null) addBias(vv, L.bv(), n, vDim);
            k.rope(q, n, c.nHead(), c.headDimK(), c.nRot(), pos, c.rope(), ropeFreqs);
            k.rope(kk, n, c.nKvHead(), c.headDimK(), c.nRot(), pos, c.rope(), ropeFreqs);
            store(kCache[l], kRowBytes, kk, pos0, n, kDim);
            store(vCache[l], vRowBytes, vv, pos0, n, vDim);
            k.attention(att, q, n, pos0, c.nHead(), c.nKvHead(), c.headDimK(), c.headDimV(), kCache[l], vCache[l], kvType,
                    pos0 + n, scale);
            matmul(L.wo(), att, n, xb2);
            k.add(x, x, xb2, n * dim);
            // SwiGLU feed-forward
            k.rmsnorm(xb, x, L.ffnNorm().data(), dim, n, c.eps());
            matmul(L.gate(), xb, n, hb);
            matmul(L.up(), xb, n, hb2);
            k.siluMul(hb, hb, hb2, n * c.ffnDim());
            matmul(L.down(), hb, n, xb2);
            k.add(x, x, xb2, n * dim);
        }
        head(n, allPositions, xb);
    }

    private void addBias(MemorySegment y, Weight bias, int n, int width) {
        for (int t = 0; t < n; t++) {
            MemorySegment row = y.asSlice(4L * t * width, 4L * width);
            k.add(row, row, bias.data(), width);
        }
    }

    /** Writes n rows of K or V into the cache at pos0, converting to the cache type. */
    private void store(MemorySegment cache, long rowBytes, MemorySegment src, int pos0, int n, int width) {
        MemorySegment dst = cache.asSlice(pos0 * rowBytes, n * rowBytes);
        if (kvType == GgmlType.F32) MemorySegment.copy(src, 0, dst, 0, n * rowBytes);
        else k.quantize(GgmlType.F16, dst, src, n, width);
    }
}
