package dev.panamax.model;

import dev.panamax.kernels.Kernels;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * {@link EmbeddingPass} of a decoder (llama, qwen2, qwen3, qwen3moe, deepseek2): the architecture's own batched
 * {@link ForwardPass} over a {@link ForwardBatch} in hidden-state mode, every sequence at positions 0.. in its own blocks
 * of a small F16 paged cache (llama.cpp's default cache type) that holds one step and is overwritten by the next.
 */
final class DecoderEmbeddingPass implements EmbeddingPass {

    private static final int BLOCK = 16;

    private final TransformerWeights<?> w;
    private final ForwardPass forward;
    private final KvCache kv;
    private final ForwardBatch batch;
    private final int maxTokens, maxSeqs, nBlocks;

    DecoderEmbeddingPass(TransformerWeights<?> w, Kernels k, int maxTokens, int maxSeqs) {
        if (maxTokens <= 0 || maxSeqs <= 0) throw new IllegalArgumentException("bad limits " + maxTokens + "/" + maxSeqs);
        this.w = w;
        this.maxTokens = maxTokens;
        this.maxSeqs = maxSeqs;
        this.nBlocks = (maxTokens + BLOCK - 1) / BLOCK + maxSeqs; // each sequence may round up one block
        ForwardPass f = null;
        KvCache c = null;
        try {
            f = w.newForward(k, maxTokens);
            c = w.newKvCache(nBlocks, BLOCK, GgmlType.F16);
            batch = new ForwardBatch(maxTokens, maxSeqs, nBlocks, maxTokens, w.config.vocabSize(), w.config.dim());
        } catch (RuntimeException | Error e) {
            if (f != null) f.close();
            if (c != null) c.close();
            throw e;
        }
        forward = f;
        kv = c;
    }

    @Override
    public int maxTokens() {
        return maxTokens;
    }

    @Override
    public int maxSeqs() {
        return maxSeqs;
    }

    @Override
    public int width() {
        return w.config.dim();
    }

    @Override
    public int classes() {
        return 0;
    }

    @Override
    public MemorySegment run(List<int[]> seqs) {
        int n = EmbeddingPass.checkSeqs(seqs, maxTokens, maxSeqs, w.config.ctxTrain(), w.config.vocabSize());
        batch.clear();
        int next = 0;
        for (int[] s : seqs) {
            int need = (s.length + BLOCK - 1) / BLOCK;
            int[] table = new int[need];
            for (int i = 0; i < need; i++) table[i] = next++;
            batch.add(s, 0, s.length, 0, table, BLOCK, 2);
        }
        forward.forward(batch, kv);
        return batch.logits().asSlice(0, 4L * n * width());
    }

    @Override
    public void classify(MemorySegment rows, int n, MemorySegment out) {
        throw new IllegalStateException(w.arch() + ": rank pooling needs a classification head (cls.output.weight), which Panamax reads only for bert");
    }

    @Override
    public void close() {
        batch.close();
        kv.close();
        forward.close();
    }
}
