package dev.panamax.model;

import dev.panamax.ContextOverflowException;
import dev.panamax.kernels.Kernels;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;

/**
 * What every architecture's sequence state shares, written once: the checks of its arguments, the one {@link Arena}
 * that every buffer comes from (counted, so {@link #residentBytes} is what was allocated), the position in the
 * sequence, and the two ends of the forward pass, {@link #embed} (batch checks and token embeddings into {@link #x})
 * and {@link #head} (final norm and output head into the logits). A subclass allocates its KV cache and activations
 * with {@link #floats}/{@link #bytes} and runs its layers between the two ends.
 */
public abstract sealed class TransformerState implements ModelState permits LlamaState, DeepseekState {

    private final TransformerWeights<?> weights;
    final Kernels k;
    private final Arena arena = Arena.ofShared();
    final int nCtx, maxBatch;
    final GgmlType kvType;
    final MemorySegment x; // [maxBatch][dim], the residual stream
    final MemorySegment pos; // int32[maxBatch], the positions of the batch's tokens
    private final MemorySegment logits; // [vocab], last position
    private MemorySegment allLogits; // [maxBatch][vocab], only once a caller asks for every position
    private long allocated;
    private int position;

    /**
     * @param nCtx     positions the KV cache holds (at most the model's context_length is sensible, not enforced)
     * @param maxBatch tokens per forward step (the prompt is split into batches of this size); at most nCtx is used
     * @param kvType   F16 (llama.cpp's default) or F32
     */
    TransformerState(TransformerWeights<?> weights, Kernels kernels, int nCtx, int maxBatch, GgmlType kvType) {
        if (nCtx <= 0) throw new IllegalArgumentException("context length must be positive, got " + nCtx);
        if (maxBatch <= 0) throw new IllegalArgumentException("batch size must be positive, got " + maxBatch);
        if (kvType != GgmlType.F16 && kvType != GgmlType.F32) throw new IllegalArgumentException("KV cache type must be F16 or F32, got " + kvType);
        this.weights = weights;
        this.k = kernels;
        this.nCtx = nCtx;
        this.maxBatch = Math.min(maxBatch, nCtx);
        this.kvType = kvType;
        try {
            x = floats(this.maxBatch, weights.config.dim());
            pos = bytes(4L * this.maxBatch);
            logits = floats(1, weights.config.vocabSize());
        } catch (RuntimeException | OutOfMemoryError e) {
            throw allocationFailed(e);
        }
    }

    /** A 64-byte aligned buffer of rows × n floats; sizes that overflow throw ArithmeticException. */
    final MemorySegment floats(long rows, long n) {
        return bytes(Math.multiplyExact(Math.multiplyExact(rows, n), 4L));
    }

    final MemorySegment bytes(long size) {
        allocated += size;
        return arena.allocate(size, 64);
    }

    /**
     * For a constructor whose allocations failed: frees what was allocated (a constructor that throws leaves nothing
     * to close) and gives what to throw. A size that overflows comes from too large a context: the caller's argument.
     */
    final RuntimeException allocationFailed(Throwable e) {
        arena.close();
        if (e instanceof ArithmeticException) return new IllegalArgumentException("KV cache size overflows for context " + nCtx, e);
        if (e instanceof RuntimeException r) return r;
        throw (Error) e; // OutOfMemoryError: rethrown as it is
    }

    /**
     * The start of a forward step: checks the batch before any state changes, then writes its embeddings into x
     * ([n][dim]) and positions position().. into pos: exactly one row of token_embd is dequantized per token, whatever
     * its type.
     *
     * @throws ContextOverflowException when the cache cannot hold the n tokens
     */
    final void embed(int[] tokens, int off, int n) {
        Weight tokenEmbd = weights.tokenEmbd;
        if (n <= 0 || n > maxBatch) throw new IllegalArgumentException("batch of " + n + " tokens, allowed 1.." + maxBatch);
        Objects.checkFromIndexSize(off, n, tokens.length);
        if (position + n > nCtx) throw new ContextOverflowException(position + n, nCtx);
        int vocab = tokenEmbd.rows(), dim = tokenEmbd.cols();
        for (int t = 0; t < n; t++) {
            int id = tokens[off + t];
            if (id < 0 || id >= vocab) throw new IllegalArgumentException("token id " + id + " outside the vocabulary [0, " + vocab + ")");
        }
        for (int t = 0; t < n; t++) {
            k.dequantize(tokenEmbd.type(), x.asSlice(4L * t * dim, 4L * dim), tokenEmbd.row(tokens[off + t]), 1, dim);
            pos.setAtIndex(ValueLayout.JAVA_INT, t, position + t);
        }
    }

    /**
     * The end of a forward step: final RMSNorm and output head of the n rows of x, the last row's logits into
     * {@link #logits()} and, when {@code allPositions}, every row's into {@link #allLogits()}; then the n tokens count
     * as cached. xb is scratch of at least n rows of dim floats.
     */
    final void head(int n, boolean allPositions, MemorySegment xb) {
        Weight outputNorm = weights.outputNorm, output = weights.output;
        int dim = output.cols(), vocab = output.rows();
        float eps = weights.config.eps();
        if (allPositions) {
            if (allLogits == null) allLogits = floats(maxBatch, vocab);
            k.rmsnorm(xb, x, outputNorm.data(), dim, n, eps);
            matmul(output, xb, n, allLogits);
            MemorySegment.copy(allLogits, 4L * (n - 1) * vocab, logits, 0, 4L * vocab);
        } else {
            k.rmsnorm(xb, x.asSlice(4L * (n - 1) * dim, 4L * dim), outputNorm.data(), dim, 1, eps);
            matmul(output, xb, 1, logits);
        }
        position += n;
    }

    /** out ([n][rows]) = wt · in ([n][cols]) for the n tokens of a batch; on its packed copy when the model has one. */
    final void matmul(Weight wt, MemorySegment in, int n, MemorySegment out) {
        MemorySegment p = weights.packed().get(wt);
        if (p != null) k.matmulPacked(wt.type(), p, wt.rows(), wt.cols(), in, n, out);
        else k.matmul(wt.type(), wt.data(), wt.rows(), wt.cols(), in, n, out);
    }

    @Override
    public int position() {
        return position;
    }

    @Override
    public int contextLength() {
        return nCtx;
    }

    @Override
    public int maxBatch() {
        return maxBatch;
    }

    @Override
    public int vocabSize() {
        return weights.config.vocabSize();
    }

    /** Forgets the cached tokens after position p (0 clears the sequence); the KV entries are overwritten later. */
    @Override
    public void truncate(int p) {
        if (p < 0 || p > position) throw new IllegalArgumentException("cannot truncate to " + p + ", position is " + position);
        position = p;
    }

    @Override
    public MemorySegment logits() {
        return logits;
    }

    @Override
    public MemorySegment allLogits() {
        if (allLogits == null) throw new IllegalStateException("no forward step asked for all logits");
        return allLogits;
    }

    /** Bytes this state holds off-heap: everything allocated, KV cache and activations. */
    @Override
    public long residentBytes() {
        return allocated;
    }

    @Override
    public void close() {
        arena.close();
    }
}
