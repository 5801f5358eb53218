package dev.panamax.model;

import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufFormatException;
import dev.panamax.kernels.Kernels;
import dev.panamax.tensor.GgmlType;

/**
 * The weights of one model architecture, loaded from a GGUF file as views (zero copy), and the factory of the
 * per-sequence states that run its forward pass. Immutable and shared by all sessions; valid while the file is open.
 */
public interface ModelWeights {

    /** Architectures Panamax runs, as GGUF's {@code general.architecture} names them. */
    static boolean supports(String arch) {
        return LlamaConfig.supports(arch) || DeepseekConfig.supports(arch) || BertConfig.supports(arch);
    }

    /** Loads the weights of the file's architecture, checking every tensor's shape and type. */
    static ModelWeights load(GgufFile file) throws GgufFormatException {
        String arch = file.metadata().getString("general.architecture");
        if (LlamaConfig.supports(arch)) return LlamaWeights.load(file);
        if (DeepseekConfig.supports(arch)) return DeepseekWeights.load(file);
        if (BertConfig.supports(arch)) return BertWeights.load(file);
        throw new GgufFormatException("architecture '" + arch + "' is not supported (Panamax runs llama, qwen2, qwen3, qwen3moe, deepseek2 and bert)");
    }

    String arch();

    int vocabSize();

    /** The context length the model was trained with (GGUF {@code context_length}). */
    int trainedContextLength();

    /** Elements of every tensor the model uses. */
    long parameterCount();

    /** Bytes of KV cache per token of context (all layers) with keys stored as {@code k} and values as {@code v}. */
    long kvBytesPerToken(GgmlType k, GgmlType v);

    /** {@link #kvBytesPerToken(GgmlType, GgmlType)} with one type for both. */
    default long kvBytesPerToken(GgmlType t) {
        return kvBytesPerToken(t, t);
    }

    /** Refuses KV cache types this model cannot store (IllegalArgumentException with llama.cpp's message). */
    void checkKvTypes(GgmlType k, GgmlType v);

    /**
     * Repacks, once and before any session runs, the matrices that {@code kernels} computes faster in its interleaved
     * layout ({@link PackedWeights}); states made afterwards use the packed copies.
     */
    void pack(Kernels kernels);

    /** The packed copies ({@link PackedWeights#NONE} before {@link #pack} or when none was worth it). */
    PackedWeights packed();

    /**
     * A new sequence state: KV cache for {@code nCtx} positions and activations for batches of up to
     * {@code maxBatch} tokens, computed by {@code kernels} (which the caller keeps and closes).
     */
    ModelState newState(Kernels kernels, int nCtx, int maxBatch, GgmlType kType, GgmlType vType);

    /** {@link #newState(Kernels, int, int, GgmlType, GgmlType)} with one cache type for keys and values. */
    default ModelState newState(Kernels kernels, int nCtx, int maxBatch, GgmlType kvType) {
        return newState(kernels, nCtx, maxBatch, kvType, kvType);
    }

    /** The batched forward pass, with activations for steps of up to {@code maxTokens} tokens, computed by {@code kernels}. */
    ForwardPass newForward(Kernels kernels, int maxTokens);

    /** A paged KV cache of {@code nBlocks} blocks of {@code blockSize} token rows for this model. */
    KvCache newKvCache(int nBlocks, int blockSize, GgmlType kType, GgmlType vType);

    /** {@link #newKvCache(int, int, GgmlType, GgmlType)} with one type for keys and values. */
    default KvCache newKvCache(int nBlocks, int blockSize, GgmlType type) {
        return newKvCache(nBlocks, blockSize, type, type);
    }

    /** Transformer blocks. */
    int layerCount();
}
