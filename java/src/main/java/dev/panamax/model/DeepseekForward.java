package dev.panamax.model;

import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.PagedBatch;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * The batched forward pass of a {@code deepseek2} model, in the absorbed form of Multi-head Latent Attention: the KV
 * cache holds per token and layer only the latent row [kv_lora normalized latent | RoPE'd shared key part] (F16 or
 * F32, one paged pool per layer), W_UK is folded into each head's query and W_UV applied to each head's attention
 * output, so attention is MQA over the latent ({@link Kernels#attentionMlaPaged}, every sequence of the step in one
 * call). Feed-forward: dense SwiGLU in the leading layers, then routed experts ({@link Kernels#moeFfn}: every token of
 * the step routed, the tokens of all sequences grouped per expert, so each selected expert is read once per step) plus
 * shared experts. Buffers are allocated once for {@code maxTokens} rows; a step allocates nothing. A model with a
 * multi-token-prediction layer ({@link DeepseekWeights#nextn}) can also run it ({@link #forwardMtp}) on the trunk's
 * hidden states ({@link #hidden}); normal decoding never does.
 */
public final class DeepseekForward extends ForwardPass {

    private final DeepseekWeights w;
    private final DeepseekConfig c;
    // activations, [maxTokens][...] floats (x, the residual stream, is ForwardPass's)
    private final MemorySegment xb, xb2, qa, q, kva, kpe, qpe, qLat, lat, attOut, hb, hb2;
    private final MemorySegment routerLogits, ids, expertWeights, moeOut;
    private final ExpertRouter router; // null when every layer is dense
    private final MemorySegment eh; // [maxTokens][2 * dim]: an MTP layer's [enorm(embedding) | hnorm(h)]; null without one

    DeepseekForward(DeepseekWeights weights, Kernels kernels, int maxTokens) {
        super(weights, kernels, maxTokens);
        this.w = weights;
        this.c = weights.config;
        int b = maxTokens, nh = c.nHead(), qHead = c.headDimNope() + c.headDimRope();
        try {
            xb = floats(b, c.dim());
            xb2 = floats(b, c.dim());
            qa = floats(b, Math.max(1, c.qLora()));
            q = floats(b, (long) nh * qHead);
            kva = floats(b, c.cacheRow());
            kpe = floats(b, c.headDimRope());
            qpe = floats(b, (long) nh * c.headDimRope());
            qLat = floats(b, (long) nh * c.cacheRow());
            lat = floats(b, (long) nh * c.kvLora());
            attOut = floats(b, (long) nh * c.headDimV());
            int ff = Math.max(c.ffnDim(), c.ffnExpDim() * Math.max(1, c.nExpertShared()));
            hb = floats(b, ff);
            hb2 = floats(b, ff);
            routerLogits = floats(b, Math.max(1, c.nExpert()));
            ids = bytes(4L * b * Math.max(1, c.nExpertUsed()));
            expertWeights = floats(b, Math.max(1, c.nExpertUsed()));
            moeOut = floats(b, c.dim());
            eh = w.nextn.length > 0 ? floats(b, 2L * c.dim()) : null;
        } catch (RuntimeException | OutOfMemoryError e) {
            throw allocationFailed(e);
        }
        router = c.nDense() == c.nLayer() ? null : new ExpertRouter(c.nExpert(), c.nExpertUsed(), c.gating() == DeepseekConfig.Gating.SOFTMAX,
                c.expWeightsNorm(), c.expWeightsScale(), c.nGroups(), c.nGroupsUsed());
    }

    /** A paged cache for this model: one latent pool per layer. */
    static KvCache newCache(DeepseekConfig c, int nBlocks, int blockSize, GgmlType type) {
        return new KvCache(type, type, c.nLayer(), nBlocks, blockSize, c.cacheRow(), 0);
    }

    /**
     * A paged cache for the MTP layers of this model: one latent pool per MTP layer. Give it the trunk cache's block
     * count and size, so that one {@link ForwardBatch} serves both without remaking its paged view each step.
     */
    public static KvCache newMtpCache(DeepseekConfig c, int nBlocks, int blockSize, GgmlType type) {
        if (c.nNextn() == 0) throw new IllegalArgumentException("the model has no MTP (nextn) layer");
        c.checkKvTypes(type, type);
        return new KvCache(type, type, c.nNextn(), nBlocks, blockSize, c.cacheRow(), 0);
    }

    @Override
    public void forward(ForwardBatch b, KvCache kv) {
        int n = embed(b, kv);
        if (kv.kWidth != c.cacheRow() || kv.vWidth != 0) throw new IllegalArgumentException("KV cache rows do not match the model");
        PagedBatch paged = b.paged(kv.nBlocks);
        for (int l = 0; l < c.nLayer(); l++) block(w.layers[l], n, b, kv, kv.k[l], paged);
        head(b, weights().outputNorm, weights().output);
    }

    /**
     * The last step's hidden states, [tokens of the step][dim] floats in the batch's row order: the trunk's output
     * before the final norm (llama.cpp's h_nextn), the input of an MTP layer. Valid until the next step.
     */
    public MemorySegment hidden() {
        return x;
    }

    /**
     * Runs MTP layer {@code i} ({@link DeepseekWeights#nextn}) over the batch: row r pairs {@code hidden} row r (the
     * trunk's hidden state h_p of some position p, e.g. from {@link #hidden}: it is read before anything is written,
     * so it may be that very buffer) with the batch's token of row r, t_(p+1), appends the layer's latent rows to
     * {@code mtpKv} (made by {@link #newMtpCache}: a cache of the MTP layers, apart from the trunk's), and leaves the
     * requested rows' logits for t_(p+2) in {@code b.logits()}. The batch's positions are those of the MTP sequence,
     * which like any sequence of the paged cache fills positions from 0 without holes: its first row (h_0, t_1) at
     * position 0, so row (h_p, t_(p+1)) at p. (llama.cpp's MTP context places that row at p + 1 and has no row at 0;
     * RoPE attention depends only on relative positions, so both compute the same.)
     *
     * @param hidden [b.tokens()][dim] floats
     * @throws IllegalArgumentException for a model without that MTP layer, a cache of another shape, a short buffer
     */
    public void forwardMtp(int i, ForwardBatch b, KvCache mtpKv, MemorySegment hidden) {
        if (i < 0 || i >= w.nextn.length) throw new IllegalArgumentException("MTP layer " + i + " of " + w.nextn.length);
        int n = b.tokens(), dim = c.dim();
        if (n <= 0 || n > maxTokens) throw new IllegalArgumentException("step of " + n + " tokens, allowed 1.." + maxTokens);
        if (b.vocab != c.vocabSize()) throw new IllegalArgumentException("batch made for another vocabulary");
        if (mtpKv.nLayer != w.nextn.length || mtpKv.kWidth != c.cacheRow() || mtpKv.vWidth != 0) {
            throw new IllegalArgumentException("KV cache made for another model's MTP layers");
        }
        if (hidden.byteSize() < 4L * n * dim) throw new IllegalArgumentException("hidden states: " + hidden.byteSize() + " bytes for " + n + " rows of " + dim);
        DeepseekWeights.Mtp m = w.nextn[i];
        k.rmsnorm(xb2, hidden, m.hnorm().data(), dim, n, c.eps()); // first: hidden may be x
        Weight e = m.embed();
        k.getRows(e.type(), x, e.data(), e.rows(), e.cols(), b.ids, n);
        k.rmsnorm(xb, x, m.enorm().data(), dim, n, c.eps());
        for (int t = 0; t < n; t++) { // [enorm(e) | hnorm(h)], llama.cpp's concatenation order
            MemorySegment.copy(xb, 4L * t * dim, eh, 8L * t * dim, 4L * dim);
            MemorySegment.copy(xb2, 4L * t * dim, eh, 4L * (2L * t + 1) * dim, 4L * dim);
        }
        matmul(m.ehProj(), eh, n, x);
        block(m.layer(), n, b, mtpKv, mtpKv.k[i], b.paged(mtpKv.nBlocks));
        head(b, m.headNorm(), m.head());
    }

    /** One decoder block over the step's n rows of x, in place: attention with the layer's latent pool, then FFN. */
    private void block(DeepseekWeights.Layer L, int n, ForwardBatch b, KvCache kv, MemorySegment cache, PagedBatch paged) {
        int dim = c.dim();
        k.rmsnorm(xb, x, L.attnNorm().data(), dim, n, c.eps());
        attention(L, n, b, kv, cache, paged);
        matmul(L.wo(), attOut, n, xb2);
        k.add(x, x, xb2, n * dim);
        k.rmsnorm(xb, x, L.ffnNorm().data(), dim, n, c.eps());
        if (L.moe()) {
            moe(L, n);
        } else {
            swiglu(L.gate(), L.up(), L.down(), n, xb2);
        }
        k.add(x, x, xb2, n * dim);
    }

    /** Absorbed MLA of the step's n tokens of one layer (its latent pool {@code cache}): xb (normed) to attOut [n][n_head * v_head]. */
    private void attention(DeepseekWeights.Layer L, int n, ForwardBatch b, KvCache kv, MemorySegment cache, PagedBatch paged) {
        int nh = c.nHead(), nope = c.headDimNope(), rope = c.headDimRope(), kvLora = c.kvLora(), row = c.cacheRow();
        int qHead = nope + rope;
        if (L.wq() != null) {
            matmul(L.wq(), xb, n, q);
        } else {
            matmul(L.wqA(), xb, n, qa);
            k.rmsnorm(qa, qa, L.qANorm().data(), c.qLora(), n, c.eps());
            matmul(L.wqB(), qa, n, q);
        }
        // the new cache rows: [rmsnorm(latent) | rope(k_pe)]
        matmul(L.wkvA(), xb, n, kva);
        k.rmsnormStrided(kva, L.kvANorm().data(), kvLora, n, row, c.eps());
        for (int t = 0; t < n; t++) MemorySegment.copy(kva, 4L * (t * row + kvLora), kpe, 4L * t * rope, 4L * rope);
        k.rope(kpe, n, 1, rope, rope, b.pos, c.rope(), null);
        for (int t = 0; t < n; t++) MemorySegment.copy(kpe, 4L * t * rope, kva, 4L * (t * row + kvLora), 4L * rope);
        k.kvStore(kv.kType, cache, b.slots, kva, n, row);
        // the absorbed queries: per head [W_UK^T q_nope | rope(q_pe)]
        for (int t = 0; t < n; t++) {
            for (int h = 0; h < nh; h++) {
                MemorySegment.copy(q, 4L * ((long) (t * nh + h) * qHead + nope), qpe, 4L * (t * nh + h) * rope, 4L * rope);
            }
        }
        k.rope(qpe, n, nh, rope, rope, b.pos, c.rope(), null);
        // every head's q_nope through its W_UK^T in one op: q [n][nh][nope | rope] -> qLat [n][nh][kvLora | rope]
        DeepseekWeights.Stacked kb = L.kBs();
        k.matmulStacked(kb.type(), kb.data(), nh, kvLora, nope, kb.matBytes(), q, n, nh * qHead, qHead, qLat, nh * row, row);
        for (int t = 0; t < n; t++) {
            for (int h = 0; h < nh; h++) {
                MemorySegment.copy(qpe, 4L * (t * nh + h) * rope, qLat, 4L * ((long) (t * nh + h) * row + kvLora), 4L * rope);
            }
        }
        k.attentionMlaPaged(lat, qLat, paged, nh, kvLora, rope, cache, kv.kType, c.kqScale());
        // per head v = W_UV · latent output, all heads in one op: lat [n][nh][kvLora] -> attOut [n][nh][v_head]
        int vd = c.headDimV();
        DeepseekWeights.Stacked vb = L.vBs();
        k.matmulStacked(vb.type(), vb.data(), nh, vd, kvLora, vb.matBytes(), lat, n, nh * kvLora, kvLora, attOut, nh * vd, vd);
    }

    /** Routed experts plus shared experts of n tokens: xb (normed) to xb2. */
    private void moe(DeepseekWeights.Layer L, int n) {
        matmul(L.router(), xb, n, routerLogits);
        MemorySegment bias = L.expProbsB() == null ? null : L.expProbsB().data();
        for (int t = 0; t < n; t++) router.route(routerLogits, t, bias, ids, expertWeights);
        if (observer != null) observeExperts(L.gateExps(), L.upExps(), L.downExps(), c.nExpert(), c.nExpertUsed(), c.ffnExpDim(), xb, n, ids, expertWeights);
        experts(L.gateExps(), L.upExps(), L.downExps(), c.nExpert(), c.nExpertUsed(), c.ffnExpDim(), xb, n, ids, expertWeights, moeOut);
        if (L.gateShexp() != null) {
            swiglu(L.gateShexp(), L.upShexp(), L.downShexp(), n, xb2);
            k.add(xb2, xb2, moeOut, n * c.dim());
        } else {
            MemorySegment.copy(moeOut, 0, xb2, 0, 4L * n * c.dim());
        }
    }

    /** SwiGLU of n tokens: xb to out through gate/up/down. */
    private void swiglu(Weight gate, Weight up, Weight down, int n, MemorySegment out) {
        matmul(gate, xb, n, hb);
        matmul(up, xb, n, hb2);
        k.siluMul(hb, hb, hb2, n * gate.rows());
        matmul(down, hb, n, out);
    }
}
