package dev.panamax.embed;

import java.util.Locale;

/** How a text's token rows become its embedding: llama.cpp's {@code llama_pooling_type}, with its GGUF numbers. */
public enum Pooling {
    /** Every token's row, no pooling. */
    NONE(0),
    /** The mean of the rows. */
    MEAN(1),
    /** The first row (BERT's [CLS]). */
    CLS(2),
    /** The last row (decoder embedding models such as Qwen3-Embedding). */
    LAST(3),
    /** The first row through the classification head: a reranker's score. */
    RANK(4);

    /** The value of {@code {arch}.pooling_type}. */
    public final int ggufValue;

    Pooling(int v) {
        this.ggufValue = v;
    }

    /** The pooling a GGUF file's {@code pooling_type} names. */
    public static Pooling fromGguf(int v) {
        for (Pooling p : values()) if (p.ggufValue == v) return p;
        throw new IllegalArgumentException("unknown pooling_type " + v + " (0 none, 1 mean, 2 cls, 3 last, 4 rank)");
    }

    /** none, mean, cls, last or rank. */
    public static Pooling parse(String s) {
        try {
            return valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown pooling '" + s + "' (none, mean, cls, last, rank)");
        }
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
