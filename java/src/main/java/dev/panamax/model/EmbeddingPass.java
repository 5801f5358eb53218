package dev.panamax.model;

import dev.panamax.kernels.Kernels;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * The forward pass that embeddings pool: for several token sequences at once (one step, every matmul one GEMM over
 * all their rows), the last hidden state of every token, llama.cpp's {@code t_embd}: after the final norm for a
 * decoder ({@code result_norm}; causal attention, each sequence from position 0 in a cache used only for the step),
 * after the last layer's output LayerNorm for a BERT encoder (attention both ways within each sequence). A reranker
 * also runs its classification head ({@link #classify}). Driven by one thread at a time; buffers are allocated once
 * for {@link #maxTokens()} rows.
 */
public sealed interface EmbeddingPass extends AutoCloseable permits BertForward, DecoderEmbeddingPass {

    /** Token rows per step (the sum of the sequences' lengths). */
    int maxTokens();

    /** Sequences per step. */
    int maxSeqs();

    /** Floats per hidden row (embedding_length). */
    int width();

    /** Labels of the classification head ({@link #classify}), 0 when the model has none. */
    int classes();

    /**
     * Runs the sequences in one step and returns their hidden rows, sequence after sequence: [sum of lengths][width]
     * floats (a view valid until the next call).
     *
     * @throws IllegalArgumentException for too many tokens or sequences, an empty sequence, a sequence longer than the
     *                                  model's context, or a token id outside the vocabulary
     */
    MemorySegment run(List<int[]> seqs);

    /**
     * The classification head on n pooled rows ([n][width]) into {@code out} ([n][classes()] floats): llama.cpp's
     * rank pooling after the CLS row is picked.
     *
     * @throws IllegalStateException when the model has no classification head
     */
    void classify(MemorySegment rows, int n, MemorySegment out);

    @Override
    void close();

    /**
     * The pass for a model's weights: {@link BertForward} for {@code bert}, {@link DecoderEmbeddingPass} for the
     * decoders.
     */
    static EmbeddingPass create(ModelWeights w, Kernels k, int maxTokens, int maxSeqs) {
        if (w instanceof BertWeights b) return new BertForward(b, k, maxTokens, maxSeqs);
        if (w instanceof TransformerWeights<?> t) return new DecoderEmbeddingPass(t, k, maxTokens, maxSeqs);
        throw new IllegalArgumentException("no embedding pass for " + w.arch());
    }

    /** Checks a step's sequences against the limits; returns the total tokens. */
    static int checkSeqs(List<int[]> seqs, int maxTokens, int maxSeqs, int ctx, int vocab) {
        if (seqs.isEmpty() || seqs.size() > maxSeqs) throw new IllegalArgumentException(seqs.size() + " sequences in a step, allowed 1.." + maxSeqs);
        long n = 0;
        for (int[] s : seqs) {
            if (s.length == 0) throw new IllegalArgumentException("an empty sequence has no embedding");
            if (s.length > ctx) throw new IllegalArgumentException("a sequence of " + s.length + " tokens exceeds the model's context of " + ctx);
            for (int id : s) if (id < 0 || id >= vocab) throw new IllegalArgumentException("token id " + id + " outside the vocabulary [0, " + vocab + ")");
            n += s.length;
        }
        if (n > maxTokens) throw new IllegalArgumentException("step of " + n + " tokens, allowed 1.." + maxTokens);
        return (int) n;
    }
}
