package dev.panamax.model;

import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.PagedBatch;
import java.lang.foreign.MemorySegment;

/**
 * The batched forward pass of a Llama-family model ({@code llama}, {@code qwen2}, {@code qwen3}, {@code qwen3moe}): per
 * layer RMSNorm, Q/K/V (biases for qwen2; for qwen3 each head of Q and K RMS-normed), RoPE at each token's own
 * position (with a quantized cache Q, K and V then rotated as llama.cpp does, {@link LlamaConfig#kvRotation}), the
 * step's K/V rows stored into their sequences' blocks, paged causal GQA attention (one call for every sequence),
 * output projection, then a SwiGLU feed-forward: dense, or (qwen3moe) routed experts ({@link ExpertRouter}, then
 * {@link ForwardPass#experts}: the tokens of every sequence grouped per expert). Every matmul is one GEMM over the whole
 * step. KV pools per layer: K {@code [rows][nKvHead][headDim]}, V {@code [rows][nKvHead][headDimV]}.
 */
public final class LlamaForward extends ForwardPass {

    private final LlamaWeights w;
    private final LlamaConfig c;
    // activations, [maxTokens][...] floats (x, the residual stream, is ForwardPass's)
    private final MemorySegment xb, xb2, q, kk, vv, att, hb, hb2;
    private final MemorySegment ropeFreqs; // rope_freqs.weight, or null
    // MoE (qwen3moe) only, else null: router logits [maxTokens][nExpert], choice int32 [maxTokens][nUsed] and weights
    private final MemorySegment routerLogits, ids, expertWeights;
    private final ExpertRouter router;

    LlamaForward(LlamaWeights weights, Kernels kernels, int maxTokens) {
        super(weights, kernels, maxTokens);
        this.w = weights;
        this.c = weights.config;
        this.ropeFreqs = weights.ropeFreqs == null ? null : weights.ropeFreqs.data();
        int b = maxTokens, attDim = c.nHead() * c.headDimV();
        try {
            xb = floats(b, Math.max(c.dim(), attDim));
            xb2 = floats(b, c.dim());
            q = floats(b, c.nHead() * c.headDimK());
            kk = floats(b, c.nKvHead() * c.headDimK());
            vv = floats(b, c.nKvHead() * c.headDimV());
            att = floats(b, attDim);
            hb = c.moe() ? null : floats(b, c.ffnDim());
            hb2 = c.moe() ? null : floats(b, c.ffnDim());
            routerLogits = c.moe() ? floats(b, c.nExpert()) : null;
            ids = c.moe() ? bytes(4L * b * c.nExpertUsed()) : null;
            expertWeights = c.moe() ? floats(b, c.nExpertUsed()) : null;
        } catch (RuntimeException | OutOfMemoryError e) {
            throw allocationFailed(e);
        }
        // llama.cpp's qwen3moe: softmax gating, the chosen weights always renormalized, no scale, no groups
        router = c.moe() ? new ExpertRouter(c.nExpert(), c.nExpertUsed(), true, true, 0f, 1, 1) : null;
    }

    /** A paged cache for this model: K and V pools per layer. */
    static KvCache newCache(LlamaConfig c, int nBlocks, int blockSize, dev.panamax.tensor.GgmlType kType,
                            dev.panamax.tensor.GgmlType vType) {
        c.checkKvTypes(kType, vType);
        return new KvCache(kType, vType, c.nLayer(), nBlocks, blockSize, c.nKvHead() * c.headDimK(), c.nKvHead() * c.headDimV());
    }

    @Override
    public void forward(ForwardBatch b, KvCache kv) {
        int n = embed(b, kv), dim = c.dim();
        int qDim = c.nHead() * c.headDimK(), kDim = c.nKvHead() * c.headDimK(), vDim = c.nKvHead() * c.headDimV();
        if (kv.kWidth != kDim || kv.vWidth != vDim) throw new IllegalArgumentException("KV cache rows do not match the model");
        PagedBatch paged = b.paged(kv.nBlocks);
        float scale = (float) (1.0 / Math.sqrt(c.headDimK()));
        int rotK = LlamaConfig.kvRotation(kv.kType, c.headDimK(), true), rotV = LlamaConfig.kvRotation(kv.vType, c.headDimV(), false);
        for (int l = 0; l < c.nLayer(); l++) {
            LlamaWeights.Layer L = w.layers[l];
            // attention
            k.rmsnorm(xb, x, L.attnNorm().data(), dim, n, c.eps());
            matmul(L.wq(), xb, n, q);
            matmul(L.wk(), xb, n, kk);
            matmul(L.wv(), xb, n, vv);
            if (L.bq() != null) k.addRows(q, L.bq().data(), qDim, n);
            if (L.bk() != null) k.addRows(kk, L.bk().data(), kDim, n);
            if (L.bv() != null) k.addRows(vv, L.bv().data(), vDim, n);
            if (L.qNorm() != null) { // qwen3: every head of Q and K normed on its own, before RoPE
                k.rmsnorm(q, q, L.qNorm().data(), c.headDimK(), n * c.nHead(), c.eps());
                k.rmsnorm(kk, kk, L.kNorm().data(), c.headDimK(), n * c.nKvHead(), c.eps());
            }
            k.rope(q, n, c.nHead(), c.headDimK(), c.nRot(), b.pos, c.rope(), ropeFreqs);
            k.rope(kk, n, c.nKvHead(), c.headDimK(), c.nRot(), b.pos, c.rope(), ropeFreqs);
            if (rotK != 0) { // a quantized cache: rotated as llama.cpp rotates it (q·k unchanged)
                k.hadamard(q, rotK, n * qDim / rotK);
                k.hadamard(kk, rotK, n * kDim / rotK);
            }
            if (rotV != 0) k.hadamard(vv, rotV, n * vDim / rotV);
            k.kvStore(kv.kType, kv.k[l], b.slots, kk, n, kDim);
            k.kvStore(kv.vType, kv.v[l], b.slots, vv, n, vDim);
            k.attentionPaged(att, q, paged, c.nHead(), c.nKvHead(), c.headDimK(), c.headDimV(), kv.k[l], kv.v[l], kv.kType,
                    kv.vType, scale);
            if (rotV != 0) k.hadamard(att, rotV, n * c.nHead() * c.headDimV() / rotV); // the transform is its own inverse
            matmul(L.wo(), att, n, xb2);
            k.add(x, x, xb2, n * dim);
            // SwiGLU feed-forward, dense or routed
            k.rmsnorm(xb, x, L.ffnNorm().data(), dim, n, c.eps());
            if (c.moe()) {
                matmul(L.router(), xb, n, routerLogits);
                for (int t = 0; t < n; t++) router.route(routerLogits, t, null, ids, expertWeights);
                if (observer != null) {
                    observeExperts(L.gateExps(), L.upExps(), L.downExps(), c.nExpert(), c.nExpertUsed(), c.ffnExpDim(), xb, n, ids, expertWeights);
                }
                experts(L.gateExps(), L.upExps(), L.downExps(), c.nExpert(), c.nExpertUsed(), c.ffnExpDim(), xb, n, ids,
                        expertWeights, xb2);
            } else {
                matmul(L.gate(), xb, n, hb);
                matmul(L.up(), xb, n, hb2);
                k.siluMul(hb, hb, hb2, n * c.ffnDim());
                matmul(L.down(), hb, n, xb2);
            }
            k.add(x, x, xb2, n * dim);
        }
        head(b, weights().outputNorm, weights().output);
    }
}
