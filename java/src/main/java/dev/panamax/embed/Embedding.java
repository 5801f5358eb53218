package dev.panamax.embed;

/**
 * One input's result: the tokens the model saw and its vectors: one row when pooled (a reranker: its scores, one
 * per label, not normalized), one row per token with {@link Pooling#NONE}.
 */
public record Embedding(int[] tokens, float[][] rows) {

    /** The pooled vector (or a reranker's scores). */
    public float[] vector() {
        if (rows.length != 1) throw new IllegalStateException(rows.length + " rows (pooling none): no single vector");
        return rows[0];
    }

    /** A reranker's score: the first label. */
    public float score() {
        return vector()[0];
    }
}
