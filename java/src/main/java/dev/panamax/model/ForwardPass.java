package dev.panamax.model;

import dev.panamax.kernels.Kernels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * One architecture's batched forward pass over a {@link ForwardBatch}: the tokens of many sequences at their own
 * positions in one pass, so every matmul is one GEMM over all rows of the step (the weights are read once per step,
 * not once per sequence), attention runs per sequence against its own blocks of the paged {@link KvCache} in one
 * kernel call per layer, and only the rows that want logits go through the output head. What the architectures share
 * is written here once: the activations' arena (sized for {@code maxTokens} rows, allocated once), the token
 * embeddings in ({@link #embed}), the final norm and head out ({@link #head}), and matmul on packed weights. Driven by
 * one thread at a time (the engine's scheduler or one session); the weights are shared read-only.
 */
public abstract sealed class ForwardPass implements AutoCloseable permits LlamaForward, DeepseekForward {

    private final TransformerWeights<?> weights;
    final Kernels k;
    final int maxTokens;
    private final Arena arena = Arena.ofShared();
    private long allocated;
    final MemorySegment x; // [maxTokens][dim], the residual stream
    private final MemorySegment hx; // [maxTokens][dim], the rows that want logits, normed
    ActivationObserver observer; // null unless a tool (imatrix) watches the matmul inputs

    ForwardPass(TransformerWeights<?> weights, Kernels kernels, int maxTokens) {
        if (maxTokens <= 0) throw new IllegalArgumentException("tokens per step must be positive, got " + maxTokens);
        this.weights = weights;
        this.k = kernels;
        this.maxTokens = maxTokens;
        try {
            x = floats(maxTokens, weights.config.dim());
            hx = floats(maxTokens, weights.config.dim());
        } catch (RuntimeException | OutOfMemoryError e) {
            throw allocationFailed(e);
        }
    }

    /**
     * Runs the step: appends every token's K/V (or latent) rows to its sequence's blocks of {@code kv} and leaves the
     * requested logits in {@code b.logits()}.
     *
     * @throws IllegalArgumentException when the batch exceeds this pass's tokens per step or the cache's shape
     */
    public abstract void forward(ForwardBatch b, KvCache kv);

    /** A 64-byte aligned buffer of rows × n floats; sizes that overflow throw ArithmeticException. */
    final MemorySegment floats(long rows, long n) {
        return bytes(Math.multiplyExact(Math.multiplyExact(rows, n), 4L));
    }

    final MemorySegment bytes(long size) {
        allocated += size;
        return arena.allocate(size, 64);
    }

    /** For a constructor whose allocations failed: frees what was allocated and gives what to throw. */
    final RuntimeException allocationFailed(Throwable e) {
        arena.close();
        if (e instanceof ArithmeticException) return new IllegalArgumentException("activation buffers overflow for " + maxTokens + " tokens", e);
        if (e instanceof RuntimeException r) return r;
        throw (Error) e;
    }

    /** Checks the batch against this pass and the cache, then writes the tokens' embeddings into x ([n][dim]). */
    final int embed(ForwardBatch b, KvCache kv) {
        int n = b.tokens();
        if (n <= 0 || n > maxTokens) throw new IllegalArgumentException("step of " + n + " tokens, allowed 1.." + maxTokens);
        if (b.vocab != weights.config.vocabSize()) throw new IllegalArgumentException("batch made for another vocabulary");
        if (kv.nLayer != weights.config.nLayer()) throw new IllegalArgumentException("KV cache made for another model");
        Weight e = weights.tokenEmbd;
        k.getRows(e.type(), x, e.data(), e.rows(), e.cols(), b.ids, n); // exactly one row of token_embd per token
        return n;
    }

    /** The end of the step: final RMSNorm and output head (the model's, or an MTP layer's) of the rows that want logits, into {@code b.logits()}. */
    final void head(ForwardBatch b, Weight outputNorm, Weight output) {
        int nl = b.logitRows();
        if (nl == 0) return;
        int dim = output.cols();
        if (b.hiddenWidth > 0) { // embeddings: the normed rows themselves, no head
            if (b.hiddenWidth != dim) throw new IllegalArgumentException("batch made for hidden states of width " + b.hiddenWidth + ", model has " + dim);
            for (int i = 0; i < nl; i++) MemorySegment.copy(x, 4L * b.logitRow(i) * dim, hx, 4L * i * dim, 4L * dim);
            k.rmsnorm(b.logits(), hx, outputNorm.data(), dim, nl, weights.config.eps());
            return;
        }
        MemorySegment rows = x;
        if (nl != b.tokens()) { // gather the rows that want logits (usually each sequence's last)
            for (int i = 0; i < nl; i++) MemorySegment.copy(x, 4L * b.logitRow(i) * dim, hx, 4L * i * dim, 4L * dim);
            rows = hx;
        }
        k.rmsnorm(hx, rows, outputNorm.data(), dim, nl, weights.config.eps());
        matmul(output, hx, nl, b.logits());
    }

    /** out ([n][rows]) = wt · in ([n][cols]) for the n rows of a step; on its packed copy when the model has one. */
    final void matmul(Weight wt, MemorySegment in, int n, MemorySegment out) {
        if (observer != null) observer.matmul(wt.name(), 0, 1, in, n, wt.cols());
        MemorySegment p = weights.packed().get(wt);
        if (p != null) k.matmulPacked(wt.type(), p, wt.rows(), wt.cols(), in, n, out);
        else k.matmul(wt.type(), wt.data(), wt.rows(), wt.cols(), in, n, out);
    }

    /**
     * The routed experts' SwiGLU of n tokens ({@code in} to {@code out}, [n][dim]) whose choice ({@code ids}, int32
     * [n][nUsed]) and {@code expertWeights} ([n][nUsed]) are made: one {@link Kernels#moeFfn} call, the tokens of all sequences grouped
     * per expert so that each selected expert is read once per step, on the experts' packed copies where the model has
     * them. {@code gate}/{@code up}/{@code down}: the stacked ffn_*_exps of nExpert experts of ffExp rows (down: dim).
     */
    final void experts(Weight gate, Weight up, Weight down, int nExpert, int nUsed, int ffExp, MemorySegment in, int n,
                       MemorySegment ids, MemorySegment expertWeights, MemorySegment out) {
        PackedWeights pw = weights.packed();
        MemorySegment gp = pw.get(gate), upk = pw.get(up), dp = pw.get(down);
        int packed = (gp != null ? 1 : 0) | (upk != null ? 2 : 0) | (dp != null ? 4 : 0);
        k.moeFfnPacked(out, in, n, down.rows() / nExpert, ffExp, nExpert, nUsed, ids, expertWeights, gate.type(),
                gp != null ? gp : gate.data(), up.type(), upk != null ? upk : up.data(), down.type(), dp != null ? dp : down.data(), packed);
    }

    private MemorySegment obsGate, obsUp, obsDown; // allocated when an observer first looks at experts

    /**
     * Shows the observer what enters each routed expert's gate, up and down matrices, per token and expert (as
     * llama.cpp's imatrix counts MUL_MAT_ID rows), and when it wants them each expert's output with its routing weight.
     * Those live inside the fused MoE kernel, so they are recomputed here, one (token, expert) pair at a time: only when
     * observed. {@code in}: the normed input [n][dim]; {@code ids}/{@code weights}: the routing, [n][nUsed].
     */
    final void observeExperts(Weight g, Weight u, Weight d, int nExpert, int nUsed, int ff, MemorySegment in, int n,
                              MemorySegment ids, MemorySegment weights) {
        int dim = g.cols();
        boolean outputs = observer.wantsExpertOutputs();
        if (obsGate == null) {
            obsGate = floats(1, ff);
            obsUp = floats(1, ff);
            obsDown = floats(1, dim);
        }
        for (int t = 0; t < n; t++) {
            MemorySegment xt = in.asSlice(4L * t * dim, 4L * dim);
            for (int j = 0; j < nUsed; j++) {
                int e = ids.getAtIndex(ValueLayout.JAVA_INT, (long) t * nUsed + j);
                observer.matmul(g.name(), e, nExpert, xt, 1, dim);
                observer.matmul(u.name(), e, nExpert, xt, 1, dim);
                Weight ge = g.slice(e * ff, ff), ue = u.slice(e * ff, ff);
                k.matmul(ge.type(), ge.data(), ff, dim, xt, 1, obsGate);
                k.matmul(ue.type(), ue.data(), ff, dim, xt, 1, obsUp);
                k.siluMul(obsGate, obsGate, obsUp, ff);
                observer.matmul(d.name(), e, nExpert, obsGate, 1, ff);
                if (outputs) {
                    Weight de = d.slice(e * dim, dim);
                    k.matmul(de.type(), de.data(), dim, ff, obsGate, 1, obsDown);
                    observer.expertOutput(d.name(), e, nExpert, weights.getAtIndex(ValueLayout.JAVA_FLOAT, (long) t * nUsed + j), obsDown, dim);
                }
            }
        }
    }

    final TransformerWeights<?> weights() {
        return weights;
    }

    /** Bytes of activations allocated. */
    public long residentBytes() {
        return allocated;
    }

    @Override
    public void close() {
        arena.close();
    }
}
