package dev.panamax.model;

import dev.panamax.ContextOverflowException;
import dev.panamax.kernels.Kernels;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * One sequence on its own (a {@link dev.panamax.Session}): the model's batched {@link ForwardPass} over a private
 * {@link KvCache} whose blocks are the sequence's positions in order (an identity block table), so a single
 * conversation runs the very code the serving engine batches. {@link #forward} appends tokens at {@link #position()}:
 * a prompt in batches of up to {@link #maxBatch()} tokens (GEMM), then one token at a time. Allocated once; a forward
 * step allocates nothing. Not thread-safe.
 */
public final class SequenceState implements ModelState {

    /** Rows per block of the private cache: the attention kernels' key loop, so its blocks cost nothing. */
    static final int BLOCK = 64;

    private final ForwardPass fp;
    private final KvCache kv;
    private final ForwardBatch batch;
    private final int[] table;
    private final int nCtx, maxBatch, vocab;
    private final MemorySegment lastLogits;
    private int position;
    private boolean allLogits;

    SequenceState(TransformerWeights<?> weights, Kernels kernels, int nCtx, int maxBatch, GgmlType kType, GgmlType vType) {
        if (nCtx <= 0) throw new IllegalArgumentException("context length must be positive, got " + nCtx);
        if (maxBatch <= 0) throw new IllegalArgumentException("batch size must be positive, got " + maxBatch);
        this.nCtx = nCtx;
        this.maxBatch = Math.min(maxBatch, nCtx);
        this.vocab = weights.config.vocabSize();
        int blocks = (nCtx + BLOCK - 1) / BLOCK;
        table = new int[blocks];
        for (int i = 0; i < blocks; i++) table[i] = i;
        KvCache cache = null;
        ForwardPass pass = null;
        try {
            cache = weights.newKvCache(blocks, BLOCK, kType, vType);
            pass = weights.newForward(kernels, this.maxBatch);
            batch = new ForwardBatch(this.maxBatch, 1, blocks, this.maxBatch, vocab);
        } catch (RuntimeException | OutOfMemoryError e) {
            if (pass != null) pass.close();
            if (cache != null) cache.close();
            if (e instanceof ArithmeticException) throw new IllegalArgumentException("KV cache size overflows for context " + nCtx, e);
            throw e;
        }
        kv = cache;
        fp = pass;
        lastLogits = batch.logits().asSlice(0, 4L * vocab);
    }

    @Override
    public void forward(int[] tokens, int off, int n, boolean allPositions) {
        if (n <= 0 || n > maxBatch) throw new IllegalArgumentException("batch of " + n + " tokens, allowed 1.." + maxBatch);
        java.util.Objects.checkFromIndexSize(off, n, tokens.length);
        if (position + n > nCtx) throw new ContextOverflowException(position + n, nCtx);
        batch.clear();
        batch.add(tokens, off, n, position, table, BLOCK, allPositions ? 2 : 1);
        fp.forward(batch, kv);
        allLogits = allPositions;
        position += n;
    }

    @Override
    public void observeActivations(ActivationObserver observer) {
        fp.observer = observer;
    }

    @Override
    public MemorySegment logits() {
        return allLogits ? batch.logits(batch.logitRows() - 1) : lastLogits;
    }

    @Override
    public MemorySegment allLogits() {
        if (!allLogits) throw new IllegalStateException("the last forward step did not ask for all logits");
        return batch.logits();
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
        return vocab;
    }

    /** Forgets the cached tokens after position p (0 clears the sequence); their rows are overwritten later. */
    @Override
    public void truncate(int p) {
        if (p < 0 || p > position) throw new IllegalArgumentException("cannot truncate to " + p + ", position is " + position);
        position = p;
    }

    @Override
    public long residentBytes() {
        return kv.bytes() + fp.residentBytes();
    }

    @Override
    public void close() {
        fp.close();
        kv.close();
        batch.close();
    }
}
