package dev.panamax.model;

import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.PagedBatch;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The batched forward pass of a {@code deepseek2} model, in the absorbed form of Multi-head Latent Attention: the KV
 * cache holds per token and layer only the latent row [kv_lora normalized latent | RoPE'd shared key part] (F16 or
 * F32, one paged pool per layer), W_UK is folded into each head's query and W_UV applied to each head's attention
 * output, so attention is MQA over the latent ({@link Kernels#attentionMlaPaged}, every sequence of the step in one
 * call). Feed-forward: dense SwiGLU in the leading layers, then routed experts ({@link Kernels#moeFfn}: every token of
 * the step routed, the tokens of all sequences grouped per expert, so each selected expert is read once per step) plus
 * shared experts. Buffers are allocated once for {@code maxTokens} rows; a step allocates nothing.
 */
public final class DeepseekForward extends ForwardPass {

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    /** llama.cpp clamps the sum of selected expert weights to the smallest normal F16 before normalizing. */
    private static final float MIN_WEIGHT_SUM = 6.103515625e-5f;

    private final DeepseekWeights w;
    private final DeepseekConfig c;
    // activations, [maxTokens][...] floats (x, the residual stream, is ForwardPass's)
    private final MemorySegment xb, xb2, qa, q, kva, kpe, qpe, qLat, lat, attOut, hb, hb2;
    private final MemorySegment routerLogits, ids, expertWeights, moeOut;
    private final float[] probs, select, groupScores;
    private final int[] chosen;
    private final boolean[] taken, groupTaken;

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
        } catch (RuntimeException | OutOfMemoryError e) {
            throw allocationFailed(e);
        }
        probs = new float[Math.max(1, c.nExpert())];
        select = new float[Math.max(1, c.nExpert())];
        chosen = new int[Math.max(1, c.nExpert())];
        groupScores = new float[c.nGroups()];
        taken = new boolean[Math.max(1, c.nExpert())];
        groupTaken = new boolean[c.nGroups()];
    }

    /** A paged cache for this model: one latent pool per layer. */
    static KvCache newCache(DeepseekConfig c, int nBlocks, int blockSize, GgmlType type) {
        return new KvCache(type, c.nLayer(), nBlocks, blockSize, c.cacheRow(), 0);
    }

    @Override
    public void forward(ForwardBatch b, KvCache kv) {
        int n = embed(b, kv), dim = c.dim();
        if (kv.kWidth != c.cacheRow() || kv.vWidth != 0) throw new IllegalArgumentException("KV cache rows do not match the model");
        PagedBatch paged = b.paged(kv.nBlocks);
        for (int l = 0; l < c.nLayer(); l++) {
            DeepseekWeights.Layer L = w.layers[l];
            k.rmsnorm(xb, x, L.attnNorm().data(), dim, n, c.eps());
            attention(L, n, b, kv, kv.k[l], paged);
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
        head(b);
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
        k.kvStore(kv.type, cache, b.slots, kva, n, row);
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
        k.attentionMlaPaged(lat, qLat, paged, nh, kvLora, rope, cache, kv.type, c.kqScale());
        // per head v = W_UV · latent output, all heads in one op: lat [n][nh][kvLora] -> attOut [n][nh][v_head]
        int vd = c.headDimV();
        DeepseekWeights.Stacked vb = L.vBs();
        k.matmulStacked(vb.type(), vb.data(), nh, vd, kvLora, vb.matBytes(), lat, n, nh * kvLora, kvLora, attOut, nh * vd, vd);
    }

    /** Routed experts plus shared experts of n tokens: xb (normed) to xb2. */
    private void moe(DeepseekWeights.Layer L, int n) {
        int ne = c.nExpert(), used = c.nExpertUsed(), dim = c.dim();
        matmul(L.router(), xb, n, routerLogits);
        for (int t = 0; t < n; t++) route(L, t);
        Weight g = L.gateExps(), u = L.upExps(), d = L.downExps();
        PackedWeights pw = w.packed();
        MemorySegment gp = pw.get(g), up = pw.get(u), dp = pw.get(d);
        int packed = (gp != null ? 1 : 0) | (up != null ? 2 : 0) | (dp != null ? 4 : 0);
        if (observer != null) observeExperts(g, u, d, n);
        k.moeFfnPacked(moeOut, xb, n, dim, c.ffnExpDim(), ne, used, ids, expertWeights, g.type(), gp != null ? gp : g.data(),
                u.type(), up != null ? up : u.data(), d.type(), dp != null ? dp : d.data(), packed);
        if (L.gateShexp() != null) {
            swiglu(L.gateShexp(), L.upShexp(), L.downShexp(), n, xb2);
            k.add(xb2, xb2, moeOut, n * dim);
        } else {
            MemorySegment.copy(moeOut, 0, xb2, 0, 4L * n * dim);
        }
    }

    private MemorySegment obsGate, obsUp; // [ffnExpDim] each, allocated when an observer first looks

    /**
     * Shows the observer what enters each routed expert's gate, up and down matrices, per token and expert (as
     * llama.cpp's imatrix counts MUL_MAT_ID rows). The down input (SiLU(gate·x)·(up·x)) lives inside the fused MoE
     * kernel, so it is recomputed here, one expert row at a time: only when observed.
     */
    private void observeExperts(Weight g, Weight u, Weight d, int n) {
        int ne = c.nExpert(), used = c.nExpertUsed(), dim = c.dim(), ff = c.ffnExpDim();
        if (obsGate == null) {
            obsGate = floats(1, ff);
            obsUp = floats(1, ff);
        }
        for (int t = 0; t < n; t++) {
            MemorySegment x = xb.asSlice(4L * t * dim, 4L * dim);
            for (int j = 0; j < used; j++) {
                int e = ids.getAtIndex(ValueLayout.JAVA_INT, (long) t * used + j);
                observer.matmul(g.name(), e, ne, x, 1, dim);
                observer.matmul(u.name(), e, ne, x, 1, dim);
                Weight ge = g.slice(e * ff, ff), ue = u.slice(e * ff, ff);
                k.matmul(ge.type(), ge.data(), ff, dim, x, 1, obsGate);
                k.matmul(ue.type(), ue.data(), ff, dim, x, 1, obsUp);
                k.siluMul(obsGate, obsGate, obsUp, ff);
                observer.matmul(d.name(), e, ne, obsGate, 1, ff);
            }
        }
    }

    /**
     * Expert choice of token t as llama.cpp's build_moe_ffn: probabilities by softmax or sigmoid of the router logits;
     * selection by those plus the optional bias (exp_probs_b, V3), within the best expert groups (group score = sum of
     * its two best) when there are several; weights = the unbiased probabilities of the chosen, optionally normalized
     * to sum 1 and scaled.
     */
    private void route(DeepseekWeights.Layer L, int t) {
        int ne = c.nExpert(), used = c.nExpertUsed();
        long lo = 4L * t * ne;
        if (c.gating() == DeepseekConfig.Gating.SOFTMAX) {
            float max = Float.NEGATIVE_INFINITY;
            for (int e = 0; e < ne; e++) max = Math.max(max, routerLogits.get(F32, lo + 4L * e));
            float sum = 0;
            for (int e = 0; e < ne; e++) sum += probs[e] = (float) Math.exp(routerLogits.get(F32, lo + 4L * e) - max);
            for (int e = 0; e < ne; e++) probs[e] /= sum;
        } else {
            for (int e = 0; e < ne; e++) probs[e] = (float) (1.0 / (1.0 + Math.exp(-routerLogits.get(F32, lo + 4L * e))));
        }
        for (int e = 0; e < ne; e++) select[e] = probs[e] + (L.expProbsB() == null ? 0f : L.expProbsB().data().get(F32, 4L * e));
        if (c.nGroups() > 1) maskGroups();
        // top-k by selection score, ties to the lower index; a NaN score (broken router weights) counts as the lowest,
        // so every token still gets nUsed distinct experts
        java.util.Arrays.fill(taken, false);
        for (int j = 0; j < used; j++) {
            int best = bestUntaken(select, taken, ne);
            chosen[j] = best;
            taken[best] = true;
        }
        float sum = 0;
        for (int j = 0; j < used; j++) sum += probs[chosen[j]];
        float norm = c.expWeightsNorm() ? 1f / Math.max(sum, MIN_WEIGHT_SUM) : 1f;
        float scale = c.expWeightsScale() != 0f ? c.expWeightsScale() : 1f;
        for (int j = 0; j < used; j++) {
            ids.setAtIndex(ValueLayout.JAVA_INT, (long) t * used + j, chosen[j]);
            expertWeights.setAtIndex(ValueLayout.JAVA_FLOAT, (long) t * used + j, probs[chosen[j]] * norm * scale);
        }
    }

    /** Leaves in {@code select} only the experts of the best groups (others -inf); a group scores its two best. */
    private void maskGroups() {
        int groups = c.nGroups(), per = c.nExpert() / groups;
        float[] gs = groupScores;
        for (int g = 0; g < groups; g++) {
            float a = Float.NEGATIVE_INFINITY, b = Float.NEGATIVE_INFINITY;
            for (int e = g * per; e < (g + 1) * per; e++) {
                float s = select[e];
                if (s > a) { b = a; a = s; } else if (s > b) b = s;
            }
            gs[g] = a + b;
        }
        java.util.Arrays.fill(groupTaken, false);
        for (int j = 0; j < c.nGroupsUsed(); j++) groupTaken[bestUntaken(gs, groupTaken, groups)] = true;
        for (int g = 0; g < groups; g++) {
            if (groupTaken[g]) continue;
            for (int e = g * per; e < (g + 1) * per; e++) select[e] = Float.NEGATIVE_INFINITY;
        }
    }

    /** The index of the highest score not taken yet, ties to the lower index, NaN below everything. */
    private static int bestUntaken(float[] score, boolean[] taken, int n) {
        int best = -1;
        for (int i = 0; i < n; i++) {
            if (taken[i]) continue;
            if (best < 0 || score[i] > score[best] || Float.isNaN(score[best]) && !Float.isNaN(score[i])) best = i;
        }
        return best;
    }

    /** SwiGLU of n tokens: xb to out through gate/up/down. */
    private void swiglu(Weight gate, Weight up, Weight down, int n, MemorySegment out) {
        matmul(gate, xb, n, hb);
        matmul(up, xb, n, hb2);
        k.siluMul(hb, hb, hb2, n * gate.rows());
        matmul(down, hb, n, out);
    }
}
