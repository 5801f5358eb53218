package dev.panamax.engine;

import dev.panamax.kernels.Kernels;
import dev.panamax.model.DeepseekForward;
import dev.panamax.model.DeepseekWeights;
import dev.panamax.model.ForwardBatch;
import dev.panamax.model.ForwardPass;
import dev.panamax.model.KvCache;
import dev.panamax.model.ModelWeights;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Runs one step of the engine: the model's batched {@link ForwardPass} over the step's {@link ForwardBatch}, on the
 * engine's KV pool and its one set of kernels (one native thread pool for every request). Owns the three, allocated
 * once when the engine opens: a step allocates nothing. With MTP speculation it also owns the MTP layer's KV pool
 * (same block ids as the trunk's: a sequence's block table serves both), a pool of the trunk's hidden rows on the
 * same block ids ({@link #saveHidden}: every computed position's, so the MTP layer can run later, only when its
 * guesses will be used, and catch up on the positions it skipped), a second batch and a buffer for the hidden rows
 * it reads, and runs the MTP layer ({@link #mtpStep}). Used by the scheduler thread only.
 */
final class ModelRunner implements AutoCloseable {

    final Kernels kernels;
    final KvCache kv;
    final ForwardPass pass;
    final ForwardBatch batch;
    // MTP (null without): the MTP layer's cache, its batch, the trunk rows it reads ([maxTokens][dim])
    final KvCache mtpKv;
    final ForwardBatch mtpBatch;
    private final Arena mtpArena;
    private final MemorySegment hiddenRows, hiddenPool; // [maxTokens][dim], [nBlocks * blockSize][dim]
    private final int dim, vocab, blockSize;

    /**
     * @param maxTokens tokens per step (the token budget)
     * @param maxSeqs   sequences per step
     * @param seqBlocks blocks one sequence may hold (its context in blocks)
     * @param maxLogits rows per step that may want logits (speculation verifies several rows per sequence)
     * @param mtp       keep and run the model's first MTP layer
     */
    ModelRunner(ModelWeights weights, Kernels kernels, int nBlocks, int blockSize, GgmlType kType, GgmlType vType, int maxTokens,
                int maxSeqs, int seqBlocks, int maxLogits, boolean mtp) {
        this.kernels = kernels;
        this.vocab = weights.vocabSize();
        this.blockSize = blockSize;
        KvCache cache = null, mcache = null;
        ForwardPass fp = null;
        ForwardBatch b = null, mb = null;
        Arena arena = null;
        try {
            cache = weights.newKvCache(nBlocks, blockSize, kType, vType);
            fp = weights.newForward(kernels, maxTokens);
            b = new ForwardBatch(maxTokens, maxSeqs, Math.multiplyExact(maxSeqs, seqBlocks), maxLogits, vocab);
            if (mtp) {
                if (!(weights instanceof DeepseekWeights dw) || dw.nextn.length == 0) {
                    throw new IllegalArgumentException("MTP speculation needs a deepseek2 model with a nextn (MTP) layer");
                }
                mcache = DeepseekForward.newMtpCache(dw.config, nBlocks, blockSize, kType);
                mb = new ForwardBatch(maxTokens, maxSeqs, Math.multiplyExact(maxSeqs, seqBlocks), maxSeqs, vocab);
                arena = Arena.ofShared();
                dim = dw.config.dim();
                hiddenRows = arena.allocate(Math.multiplyExact(4L * maxTokens, (long) dim), 64);
                hiddenPool = arena.allocate(Math.multiplyExact(Math.multiplyExact(4L * nBlocks, (long) blockSize), (long) dim), 64);
            } else {
                dim = 0;
                hiddenRows = hiddenPool = null;
            }
        } catch (RuntimeException | OutOfMemoryError e) {
            if (fp != null) fp.close();
            if (cache != null) cache.close();
            if (b != null) b.close();
            if (mcache != null) mcache.close();
            if (mb != null) mb.close();
            if (arena != null) arena.close();
            throw e;
        }
        kv = cache;
        pass = fp;
        batch = b;
        mtpKv = mcache;
        mtpBatch = mb;
        mtpArena = arena;
    }

    /** Runs the batch as filled; its logits rows are then in {@code batch.logits()}. */
    void step() {
        pass.forward(batch, kv);
    }

    boolean mtp() {
        return mtpKv != null;
    }

    /**
     * Keeps the trunk's hidden rows {@code [row, row + n)} of the last step, those of positions {@code [pos, pos + n)}
     * of the sequence with block table {@code table}, in the hidden pool.
     */
    void saveHidden(int row, int n, int pos, int[] table) {
        moveHidden(((DeepseekForward) pass).hidden(), row, n, pos, table, true);
    }

    /** Copies the kept hidden rows of positions {@code [pos, pos + n)} (block table {@code table}) to MTP input rows {@code [to, to + n)}. */
    void loadHidden(int pos, int n, int[] table, int to) {
        moveHidden(hiddenRows, to, n, pos, table, false);
    }

    /** Rows {@code [row, row + n)} of {@code rows} to (save) or from the hidden pool's slots of positions {@code [pos, pos + n)}. */
    private void moveHidden(MemorySegment rows, int row, int n, int pos, int[] table, boolean save) {
        while (n > 0) { // a run of positions within one block at a time
            int off = pos % blockSize, run = Math.min(n, blockSize - off);
            long slot = (long) table[pos / blockSize] * blockSize + off;
            if (save) MemorySegment.copy(rows, 4L * row * dim, hiddenPool, 4L * slot * dim, 4L * run * dim);
            else MemorySegment.copy(hiddenPool, 4L * slot * dim, rows, 4L * row * dim, 4L * run * dim);
            row += run;
            pos += run;
            n -= run;
        }
    }

    /** Runs the MTP layer over {@link #mtpBatch} as filled, on the gathered hidden rows; logits in {@code mtpBatch.logits()}. */
    void mtpStep() {
        ((DeepseekForward) pass).forwardMtp(0, mtpBatch, mtpKv, hiddenRows);
    }

    /** The argmax of MTP logits row i: the MTP layer's guess. */
    int mtpArgmax(int i) {
        MemorySegment l = mtpBatch.logits();
        long base = 4L * i * vocab;
        int best = 0;
        float bv = l.get(ValueLayout.JAVA_FLOAT, base);
        for (int t = 1; t < vocab; t++) {
            float v = l.get(ValueLayout.JAVA_FLOAT, base + 4L * t);
            if (v > bv) {
                bv = v;
                best = t;
            }
        }
        return best;
    }

    @Override
    public void close() {
        pass.close();
        kv.close();
        batch.close();
        if (mtpKv != null) mtpKv.close();
        if (mtpBatch != null) mtpBatch.close();
        if (mtpArena != null) mtpArena.close();
    }
}
