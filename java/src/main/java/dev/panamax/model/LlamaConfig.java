package dev.panamax.model;

import dev.panamax.gguf.GgufFormatException;
import dev.panamax.gguf.GgufMetadata;
import dev.panamax.kernels.RopeConfig;
import java.util.Locale;

/**
 * Hyper-parameters of a Llama-family model ({@code llama}, {@code qwen2}) read from the {@code {arch}.*} GGUF keys
 * exactly as llama.cpp's {@code llm_load_hparams} reads them, with its defaults. A missing required key or an
 * inconsistent value is a {@link GgufFormatException} naming it.
 *
 * @param headDimK  attention.key_length (default embedding_length / head_count)
 * @param headDimV  attention.value_length (default embedding_length / head_count)
 * @param nRot      rope.dimension_count (default headDimK)
 * @param ctxTrain  context_length
 * @param vocabSize rows of token_embd (filled in by {@link LlamaWeights})
 */
public record LlamaConfig(String arch, int dim, int nLayer, int ffnDim, int nHead, int nKvHead, int headDimK, int headDimV,
                          float eps, int nRot, int ctxTrain, int vocabSize, RopeConfig rope) implements ModelConfig {

    /** Architectures this forward pass runs. */
    public static boolean supports(String arch) {
        return arch.equals("llama") || arch.equals("qwen2");
    }

    public static LlamaConfig fromMetadata(GgufMetadata md, int vocabSize) throws GgufFormatException {
        String arch = md.getString("general.architecture");
        if (!supports(arch)) {
            throw new GgufFormatException("architecture '" + arch + "' is not supported (this forward pass runs llama and qwen2)");
        }
        String p = arch + ".";
        int dim = positive(md.getInt(p + "embedding_length"), p + "embedding_length");
        int nLayer = positive(md.getInt(p + "block_count"), p + "block_count");
        int ffn = positive(md.getInt(p + "feed_forward_length"), p + "feed_forward_length");
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
        int ctxTrain = positive(md.getInt(p + "context_length"), p + "context_length");
        // llama.cpp: Llama GGUFs hold Q/K permuted for the normal (adjacent-pair) rope; qwen2 uses NeoX pairs.
        RopeConfig rope = ropeFromMetadata(md, p, arch.equals("qwen2"), ctxTrain);
        return new LlamaConfig(arch, dim, nLayer, ffn, nHead, nKvHead, hdk, hdv, eps, nRot, ctxTrain, vocabSize, rope);
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

    /** Bytes of K and V cache per token (all layers) for a cache element of {@code elementBytes}. */
    @Override
    public long kvBytesPerToken(int elementBytes) {
        return (long) nLayer * nKvHead * (headDimK + headDimV) * elementBytes;
    }
}
