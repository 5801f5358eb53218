package dev.panamax.engine;

import dev.panamax.kernels.Kernels;
import dev.panamax.model.ForwardBatch;
import dev.panamax.model.ForwardPass;
import dev.panamax.model.KvCache;
import dev.panamax.model.ModelWeights;
import dev.panamax.tensor.GgmlType;

/**
 * Runs one step of the engine: the model's batched {@link ForwardPass} over the step's {@link ForwardBatch}, on the
 * engine's KV pool and its one set of kernels (one native thread pool for every request). Owns the three, allocated
 * once when the engine opens: a step allocates nothing. Used by the scheduler thread only.
 */
final class ModelRunner implements AutoCloseable {

    final Kernels kernels;
    final KvCache kv;
    final ForwardPass pass;
    final ForwardBatch batch;

    /**
     * @param maxTokens tokens per step (the token budget)
     * @param maxSeqs   sequences per step
     * @param seqBlocks blocks one sequence may hold (its context in blocks)
     */
    ModelRunner(ModelWeights weights, Kernels kernels, int nBlocks, int blockSize, GgmlType kType, GgmlType vType, int maxTokens,
                int maxSeqs, int seqBlocks) {
        this.kernels = kernels;
        KvCache cache = null;
        ForwardPass fp = null;
        try {
            cache = weights.newKvCache(nBlocks, blockSize, kType, vType);
            fp = weights.newForward(kernels, maxTokens);
            batch = new ForwardBatch(maxTokens, maxSeqs, Math.multiplyExact(maxSeqs, seqBlocks), maxSeqs, weights.vocabSize());
        } catch (RuntimeException | OutOfMemoryError e) {
            if (fp != null) fp.close();
            if (cache != null) cache.close();
            throw e;
        }
        kv = cache;
        pass = fp;
    }

    /** Runs the batch as filled; its logits rows are then in {@code batch.logits()}. */
    void step() {
        pass.forward(batch, kv);
    }

    @Override
    public void close() {
        pass.close();
        kv.close();
        batch.close();
    }
}
