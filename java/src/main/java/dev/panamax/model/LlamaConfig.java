package dev.panamax.model;

import dev.panamax.gguf.GgufFormatException;
import dev.panamax.gguf.GgufMetadata;
import dev.panamax.kernels.RopeConfig;
import java.util.Locale;

/**
 * Hyper-parameters of a Llama-family model ({@code llama}, {@code qwen2}, {@code qwen3}, {@code qwen3moe}) read from the
 * {@code {arch}.*} GGUF keys exactly as llama.cpp's {@code llm_load_hparams} reads them, with its defaults. A missing
 * required key or an inconsistent value is a {@link GgufFormatException} naming it. The family's variants are flags of
 * one forward pass: Q/K/V biases when the file has them (qwen2), per-head RMS norms of Q and K before RoPE (qwen3),
 * and a Mixture-of-Experts feed-forward in every layer (qwen3moe).
 *
 * @param ffnDim    feed_forward_length: the dense SwiGLU's width (0 when the model has no dense feed-forward)
 * @param headDimK  attention.key_length (default embedding_length / head_count)
 * @param headDimV  attention.value_length (default embedding_length / head_count)
 * @param nRot      rope.dimension_count (default headDimK)
 * @param ctxTrain  context_length
 * @param vocabSize rows of token_embd (filled in by {@link LlamaWeights})
 * @param qkNorm    attn_q_norm / attn_k_norm (headDimK wide) normalize each head of Q and K before RoPE (qwen3)
 * @param nExpert   expert_count; 0 for a dense model. MoE routing is llama.cpp's for qwen3moe: softmax over the
 *                  experts, the top nExpertUsed, their weights renormalized to sum 1 (no scale, no shared expert)
 * @param ffnExpDim expert_feed_forward_length (default feed_forward_length / expert_used_count, as llama.cpp)
 */
public record LlamaConfig(String arch, int dim, int nLayer, int ffnDim, int nHead, int nKvHead, int headDimK, int headDimV,
                          float eps, int nRot, int ctxTrain, int vocabSize, RopeConfig rope, boolean qkNorm,
                          int nExpert, int nExpertUsed, int ffnExpDim) implements ModelConfig {

    /** Architectures this forward pass runs. */
    public static boolean supports(String arch) {
        return switch (arch) {
            case "llama", "qwen2", "qwen3", "qwen3moe" -> true;
            default -> false;
        };
    }

    public static LlamaConfig fromMetadata(GgufMetadata md, int vocabSize) throws GgufFormatException {
        String arch = md.getString("general.architecture");
        if (!supports(arch)) {
            throw new GgufFormatException("architecture '" + arch + "' is not supported (this forward pass runs llama, qwen2, qwen3 and qwen3moe)");
        }
        boolean qwen3 = arch.startsWith("qwen3"), moe = arch.equals("qwen3moe");
        String p = arch + ".";
        int dim = positive(md.getInt(p + "embedding_length"), p + "embedding_length");
        int nLayer = positive(md.getInt(p + "block_count"), p + "block_count");
        // qwen3moe has no dense feed-forward; llama.cpp reads the key there only as the default expert width
        int ffn = moe ? md.getInt(p + "feed_forward_length", 0) : positive(md.getInt(p + "feed_forward_length"), p + "feed_forward_length");
        if (ffn < 0) throw new GgufFormatException(p + "feed_forward_length must be >= 0, got " + ffn);
        int nHead = positive(md.getInt(p + "attention.head_count"), p + "attention.head_count");
        int nKvHead = positive(md.getInt(p + "attention.head_count_kv", nHead), p + "attention.head_count_kv");
        if (nHead % nKvHead != 0) {
            throw new GgufFormatException(p + "attention.head_count " + nHead + " is not a multiple of head_count_kv " + nKvHead);
        }
        int hdDefault = dim % nHead == 0 ? dim / nHead : 0;
        int hdk = positive(md.getInt(p + "attention.key_length", hdDefault), p + "attention.key_length");
        int hdv = positive(md.getInt(p + "attention.value_length", hdDefault), p + "attention.value_length");
        float eps = md.getFloat(p + "attention.layer_norm_rms_epsilon");
        if (!(eps >= 0) || eps > 1) throw new GgufFormatException(p + "attention.layer_norm_rms_epsilon out of range: " + eps);
        int nRot = md.getInt(p + "rope.dimension_count", hdk);
        if (nRot <= 0 || nRot > hdk || nRot % 2 != 0) {
            throw new GgufFormatException(p + "rope.dimension_count " + nRot + " must be even and in (0, head dim " + hdk + "]");
        }
        if (qwen3 && (hdk != hdv || nRot != hdk)) {
            // llama.cpp's qwen3 graphs assert both (and would abort); say which key disagrees instead
            throw new GgufFormatException(p + "attention.key_length " + hdk + ", value_length " + hdv + " and rope.dimension_count "
                    + nRot + " must be equal for " + arch);
        }
        int ctxTrain = positive(md.getInt(p + "context_length"), p + "context_length");
        int nExpert = 0, nUsed = 0, ffnExp = 0;
        if (moe) {
            nExpert = positive(md.getInt(p + "expert_count", 0), p + "expert_count");
            nUsed = md.getInt(p + "expert_used_count", 0);
            if (nUsed <= 0 || nUsed > nExpert) throw new GgufFormatException(p + "expert_used_count " + nUsed + " must be in 1.." + nExpert);
            ffnExp = positive(md.getInt(p + "expert_feed_forward_length", ffn / nUsed), p + "expert_feed_forward_length");
        }
        // llama.cpp: Llama GGUFs hold Q/K permuted for the normal (adjacent-pair) rope; the qwen family uses NeoX pairs.
        RopeConfig rope = ropeFromMetadata(md, p, !arch.equals("llama"), ctxTrain);
        return new LlamaConfig(arch, dim, nLayer, ffn, nHead, nKvHead, hdk, hdv, eps, nRot, ctxTrain, vocabSize, rope, qwen3,
                nExpert, nUsed, ffnExp);
    }

    /** Every layer's feed-forward is Mixture-of-Experts. */
    public boolean moe() {
        return nExpert > 0;
    }

    /**
     * RoPE parameters from the {@code {arch}.rope.*} keys as llama.cpp reads them: rope.scaling.type (none|linear|yarn),
     * rope.scaling.factor (else the older rope.scale_linear), original context length, attn_factor.
     */
    static RopeConfig ropeFromMetadata(GgufMetadata md, String p, boolean neox, int ctxTrain) throws GgufFormatException {
        float base = md.getFloat(p + "rope.freq_base", 10000f);
        if (!(base > 0) || base == Float.POSITIVE_INFINITY) {
            throw new GgufFormatException(p + "rope.freq_base must be finite and > 0, got " + base);
        }
        String scalingType = md.getString(p + "rope.scaling.type", "linear").toLowerCase(Locale.ROOT);
        float factor = md.getFloat(p + "rope.scaling.factor", 0f);
        if (factor == 0f) factor = md.getFloat(p + "rope.scale_linear", 1f);
        float freqScale = 1f / factor;
        // 1/factor must be a positive finite scale too: 1e-45 or infinity give 0 or infinity
        if (!(factor > 0) || !(freqScale > 0) || Float.isInfinite(freqScale)) {
            throw new GgufFormatException(p + "rope.scaling.factor must be finite and > 0, got " + factor);
        }
        int nCtxOrig = md.getInt(p + "rope.scaling.original_context_length", ctxTrain);
        float attnFactor = md.getFloat(p + "rope.scaling.attn_factor", 1f);
        if (!Float.isFinite(attnFactor)) throw new GgufFormatException(p + "rope.scaling.attn_factor must be finite, got " + attnFactor);
        float extFactor;
        switch (scalingType) {
            case "none" -> { freqScale = 1f; extFactor = 0f; }
            case "linear" -> extFactor = 0f;
            case "yarn" -> extFactor = 1f; // llama.cpp's yarn_ext_factor default (-1) resolves to 1 for YaRN
            default -> throw new GgufFormatException(p + "rope.scaling.type '" + scalingType + "' is not supported");
        }
        return new RopeConfig(neox, base, freqScale, extFactor, attnFactor, 32f, 1f, nCtxOrig);
    }

    static int positive(int v, String key) throws GgufFormatException {
        if (v <= 0) throw new GgufFormatException(key + " must be positive, got " + v);
        return v;
    }

    /** Bytes of K and V cache per token (all layers). */
    @Override
    public long kvBytesPerToken(dev.panamax.tensor.GgmlType k, dev.panamax.tensor.GgmlType v) {
        return (long) nLayer * (k.rowBytes((long) nKvHead * headDimK) + v.rowBytes((long) nKvHead * headDimV));
    }

    @Override
    public void checkKvTypes(dev.panamax.tensor.GgmlType k, dev.panamax.tensor.GgmlType v) {
        checkHead("K", k, "n_embd_head_k", headDimK);
        checkHead("V", v, "n_embd_head_v", headDimV);
    }

    /**
     * llama.cpp's rotation of a quantized cache (llama_kv_cache's attn_rot_k / attn_rot_v): with a block type and a head
     * size that is a multiple of 64, keys (and the queries with them) are rotated by a Walsh-Hadamard transform over
     * chunks of the largest power of 2 that divides the head size, values over chunks of 64 (the attention output
     * rotated back); quantizing the rotated vectors spreads outliers across blocks. The chunk size, or 0 for none.
     */
    public static int kvRotation(dev.panamax.tensor.GgmlType t, int headDim, boolean key) {
        if (!t.isQuantized() || headDim % 64 != 0) return 0;
        int n = 64;
        if (key) while (headDim % (2 * n) == 0) n *= 2;
        return n;
    }

    /** ggml's name of a type (q8_0, f16). */
    static String typeName(dev.panamax.tensor.GgmlType t) {
        return t.name().toLowerCase(java.util.Locale.ROOT);
    }

    /** A KV cache type the kernels read, whose block divides the head size (llama.cpp's check and message). */
    static void checkHead(String which, dev.panamax.tensor.GgmlType t, String key, int headDim) {
        if (!KvCache.TYPES.contains(t)) {
            throw new IllegalArgumentException(which + " cache type " + typeName(t) + " is not a KV cache type (expected one of "
                    + KvCache.TYPES.stream().map(LlamaConfig::typeName).toList() + ")");
        }
        if (headDim % t.blockSize() != 0) {
            throw new IllegalArgumentException(which + " cache type " + typeName(t) + " with block size " + t.blockSize()
                    + " does not divide " + key + "=" + headDim);
        }
    }
}
