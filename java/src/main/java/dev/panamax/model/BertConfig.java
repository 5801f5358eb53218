package dev.panamax.model;

import dev.panamax.gguf.GgufFormatException;
import dev.panamax.gguf.GgufMetadata;

/**
 * Hyper-parameters of a {@code bert} encoder read from the {@code bert.*} GGUF keys as llama.cpp reads them. An encoder
 * attends both ways ({@code bert.attention.causal}, false for every BERT file), so it has no KV cache and cannot
 * generate: it makes embeddings (and, with a classification head, reranker scores).
 *
 * @param eps       attention.layer_norm_epsilon, of every LayerNorm
 * @param ctxTrain  context_length: rows of position_embd, the longest input
 * @param vocabSize rows of token_embd
 */
public record BertConfig(int dim, int nLayer, int ffnDim, int nHead, float eps, int ctxTrain, int vocabSize) {

    public static boolean supports(String arch) {
        return arch.equals("bert");
    }

    public static BertConfig fromMetadata(GgufMetadata md, int vocabSize) throws GgufFormatException {
        String p = "bert.";
        int dim = LlamaConfig.positive(md.getInt(p + "embedding_length"), p + "embedding_length");
        int nLayer = LlamaConfig.positive(md.getInt(p + "block_count"), p + "block_count");
        int ffn = LlamaConfig.positive(md.getInt(p + "feed_forward_length"), p + "feed_forward_length");
        int nHead = LlamaConfig.positive(md.getInt(p + "attention.head_count"), p + "attention.head_count");
        if (dim % nHead != 0) throw new GgufFormatException(p + "embedding_length " + dim + " is not a multiple of head_count " + nHead);
        int nKv = md.getInt(p + "attention.head_count_kv", nHead);
        if (nKv != nHead) throw new GgufFormatException(p + "attention.head_count_kv " + nKv + " differs from head_count " + nHead + " (not a BERT layout)");
        float eps = md.getFloat(p + "attention.layer_norm_epsilon");
        if (!(eps >= 0) || eps > 1) throw new GgufFormatException(p + "attention.layer_norm_epsilon out of range: " + eps);
        if (md.has(p + "attention.causal") && md.getBoolean(p + "attention.causal")) {
            throw new GgufFormatException(p + "attention.causal is true: Panamax runs BERT as an encoder only");
        }
        int ctx = LlamaConfig.positive(md.getInt(p + "context_length"), p + "context_length");
        return new BertConfig(dim, nLayer, ffn, nHead, eps, ctx, vocabSize);
    }

    public int headDim() {
        return dim / nHead;
    }
}
