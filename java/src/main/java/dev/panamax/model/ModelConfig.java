package dev.panamax.model;

/**
 * The hyper-parameters every architecture has, so that the parts all of them share ({@link TransformerWeights},
 * {@link ForwardPass}) are written once. The config records implement it with their own accessors.
 */
public sealed interface ModelConfig permits LlamaConfig, DeepseekConfig {

    /** GGUF's {@code general.architecture}. */
    String arch();

    /** Width of the residual stream (embedding_length). */
    int dim();

    /** Transformer blocks that decoding runs (block_count, less a deepseek2 file's MTP layers). */
    int nLayer();

    /** Epsilon of every RMSNorm, the final one included. */
    float eps();

    /** context_length: the context the model was trained with. */
    int ctxTrain();

    /** Rows of token_embd. */
    int vocabSize();

    /** Bytes of KV cache per token of context (all layers) with keys stored as {@code k} and values as {@code v}. */
    long kvBytesPerToken(dev.panamax.tensor.GgmlType k, dev.panamax.tensor.GgmlType v);

    /**
     * Refuses KV cache types this model cannot store, with llama.cpp's messages: a block type whose block does not divide
     * a head size; different K and V types for a latent cache (one row is both).
     */
    void checkKvTypes(dev.panamax.tensor.GgmlType k, dev.panamax.tensor.GgmlType v);
}
