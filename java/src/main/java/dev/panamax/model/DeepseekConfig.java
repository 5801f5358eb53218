package dev.panamax.model;

import dev.panamax.gguf.GgufFormatException;
import dev.panamax.gguf.GgufMetadata;
import dev.panamax.kernels.RopeConfig;

/**
 * Hyper-parameters of a DeepSeek-V2/V3-family model ({@code deepseek2}: Multi-head Latent Attention and
 * Mixture-of-Experts) read from the {@code deepseek2.*} GGUF keys as llama.cpp's loader reads them, with its defaults.
 *
 * @param qLora      attention.q_lora_rank; 0 when Q is one matrix (attn_q, V2-Lite)
 * @param kvLora     attention.kv_lora_rank: width of the latent that the KV cache holds per token
 * @param headDimNope query/key dims without RoPE (key_length_mla - rope dims)
 * @param headDimRope rope.dimension_count: the RoPE'd dims of each query head and of the one shared key part
 * @param headDimV   value_length_mla: value dims per head after decompression by W_UV
 * @param nDense     leading_dense_block_count: the first layers use a dense SwiGLU of ffnDim
 * @param gating     expert_gating_func (softmax for V2, sigmoid with selection bias for V3)
 * @param expWeightsScale expert_weights_scale (0 or 1: none)
 * @param nGroups    expert_group_count (group-limited routing when > 1)
 * @param kqScale    attention score scale, with llama.cpp's YaRN mscale correction
 * @param splitKvB   the file holds attn_k_b/attn_v_b (current converters); false: the older combined attn_kv_b
 * @param nNextn     nextn_predict_layers: multi-token-prediction (MTP) layers stored after the trunk's
 *                   (DeepSeek-V3); {@code nLayer} counts the trunk only (block_count - nNextn), which is all that
 *                   normal decoding runs
 */
public record DeepseekConfig(String arch, int dim, int nLayer, int ffnDim, int nHead, int qLora, int kvLora,
                             int headDimNope, int headDimRope, int headDimV, float eps, int nDense, int nExpert,
                             int nExpertUsed, int nExpertShared, int ffnExpDim, Gating gating, boolean expWeightsNorm,
                             float expWeightsScale, int nGroups, int nGroupsUsed, int ctxTrain, int vocabSize,
                             RopeConfig rope, float kqScale, boolean splitKvB, int nNextn) implements ModelConfig {

    public enum Gating { SOFTMAX, SIGMOID }

    public static boolean supports(String arch) {
        return arch.equals("deepseek2");
    }

    public static DeepseekConfig fromMetadata(GgufMetadata md, int vocabSize) throws GgufFormatException {
        String arch = md.getString("general.architecture");
        if (!supports(arch)) throw new GgufFormatException("architecture '" + arch + "' is not deepseek2");
        String p = arch + ".";
        int dim = LlamaConfig.positive(md.getInt(p + "embedding_length"), p + "embedding_length");
        int nBlocks = LlamaConfig.positive(md.getInt(p + "block_count"), p + "block_count");
        // as llama.cpp: the last nextn_predict_layers blocks are MTP layers, the trunk is the blocks before them
        int nNextn = md.getInt(p + "nextn_predict_layers", 0);
        if (nNextn < 0 || nNextn >= nBlocks) {
            throw new GgufFormatException(p + "nextn_predict_layers " + nNextn + " must be in 0.." + (nBlocks - 1) + " (block_count " + nBlocks + ")");
        }
        int nLayer = nBlocks - nNextn;
        int ffn = LlamaConfig.positive(md.getInt(p + "feed_forward_length"), p + "feed_forward_length");
        int nHead = LlamaConfig.positive(md.getInt(p + "attention.head_count"), p + "attention.head_count");
        float eps = md.getFloat(p + "attention.layer_norm_rms_epsilon");
        if (!(eps >= 0) || eps > 1) throw new GgufFormatException(p + "attention.layer_norm_rms_epsilon out of range: " + eps);
        int qLora = md.getInt(p + "attention.q_lora_rank", 0);
        if (qLora < 0) throw new GgufFormatException(p + "attention.q_lora_rank must be >= 0, got " + qLora);
        int kvLora = LlamaConfig.positive(md.getInt(p + "attention.kv_lora_rank"), p + "attention.kv_lora_rank");
        int nRope = LlamaConfig.positive(md.getInt(p + "rope.dimension_count"), p + "rope.dimension_count");
        if (nRope % 2 != 0) throw new GgufFormatException(p + "rope.dimension_count must be even, got " + nRope);
        // Current converters write the MLA head sizes under *_mla (key_length then describes the latent MQA view);
        // older files have only key_length/value_length, the per-head sizes, and a combined attn_kv_b.
        boolean split = md.has(p + "attention.key_length_mla") && md.has(p + "attention.value_length_mla");
        int hdk = LlamaConfig.positive(md.getInt(split ? p + "attention.key_length_mla" : p + "attention.key_length"), "key length");
        int hdv = LlamaConfig.positive(md.getInt(split ? p + "attention.value_length_mla" : p + "attention.value_length"), "value length");
        if (hdk <= nRope) throw new GgufFormatException("key head size " + hdk + " must exceed rope.dimension_count " + nRope);
        int nDense = md.getInt(p + "leading_dense_block_count", 0);
        if (nDense < 0 || nDense > nLayer) throw new GgufFormatException(p + "leading_dense_block_count out of range: " + nDense);
        int nExpert = md.getInt(p + "expert_count", 0), nUsed = md.getInt(p + "expert_used_count", 0);
        int nShared = md.getInt(p + "expert_shared_count", 0), ffnExp = md.getInt(p + "expert_feed_forward_length", 0);
        if (nDense < nBlocks) { // an MTP layer is an MoE layer too
            LlamaConfig.positive(nExpert, p + "expert_count");
            LlamaConfig.positive(ffnExp, p + "expert_feed_forward_length");
            if (nUsed <= 0 || nUsed > nExpert) throw new GgufFormatException(p + "expert_used_count " + nUsed + " must be in 1.." + nExpert);
            if (nShared < 0) throw new GgufFormatException(p + "expert_shared_count must be >= 0, got " + nShared);
        }
        int gatingId = md.getInt(p + "expert_gating_func", 0);
        Gating gating = switch (gatingId) {
            case 0, 1 -> Gating.SOFTMAX; // 0: files from before the key, DeepSeek V2/V2.5, as llama.cpp assumes
            case 2 -> Gating.SIGMOID;
            default -> throw new GgufFormatException(p + "expert_gating_func " + gatingId + " is not supported (softmax 1, sigmoid 2)");
        };
        boolean norm = md.getBoolean(p + "expert_weights_norm", false);
        float scale = md.getFloat(p + "expert_weights_scale", 0f);
        int nGroups = Math.max(1, md.getInt(p + "expert_group_count", 1));
        int nGroupsUsed = md.getInt(p + "expert_group_used_count", nGroups);
        if (nGroups > 1 && (nExpert % nGroups != 0 || nExpert / nGroups < 2 || nGroupsUsed <= 0 || nGroupsUsed > nGroups
                || nGroupsUsed * (nExpert / nGroups) < nUsed)) {
            throw new GgufFormatException(p + "expert groups " + nGroups + " (used " + nGroupsUsed + ") do not fit " + nExpert
                    + " experts with " + nUsed + " used");
        }
        int ctxTrain = LlamaConfig.positive(md.getInt(p + "context_length"), p + "context_length");
        // deepseek2 uses the normal (adjacent-pair) RoPE in llama.cpp
        RopeConfig r = LlamaConfig.ropeFromMetadata(md, p, false, ctxTrain);
        // llama.cpp (llama-context, deepseek2 graph), with YaRN: the context's attn_factor is
        // rope.scaling.attn_factor · g / (1 + 0.1 ln factor), g = 1 when yarn_log_multiplier is set (deepseek2's
        // mscale = mscale_all_dim) else 1 + 0.1 ln factor; the rope kernel multiplies its values by 1 + 0.1 ln factor,
        // and the score scale is mscale² / sqrt(key head size), mscale = attn_factor · g · (1 + 0.1 · log_mul · ln factor).
        // The converter writes yarn_log_multiplier times 0.1, which llama.cpp cancels.
        float logMul = md.getFloat(p + "rope.scaling.yarn_log_multiplier", 0f) / 0.1f;
        float mscale = r.attnFactor();
        if (r.extFactor() != 0f) {
            float lnFactor = (float) Math.log(1.0 / r.freqScale());
            float g = logMul != 0f || lnFactor <= 0 ? 1f : 1f + 0.1f * lnFactor;
            float ropeAttn = r.attnFactor() * g / (1f + 0.1f * lnFactor);
            mscale = r.attnFactor() * g * (1f + 0.1f * logMul * lnFactor);
            r = new RopeConfig(r.neox(), r.freqBase(), r.freqScale(), r.extFactor(), ropeAttn, r.betaFast(), r.betaSlow(), r.nCtxOrig());
        }
        float kqScale = (float) (mscale * mscale / Math.sqrt(hdk));
        if (!Float.isFinite(kqScale) || !Float.isFinite(r.attnFactor())) {
            throw new GgufFormatException(p + "rope.scaling (yarn_log_multiplier " + logMul * 0.1f + ", attn_factor "
                    + md.getFloat(p + "rope.scaling.attn_factor", 1f) + ") gives a non-finite attention scale");
        }
        return new DeepseekConfig(arch, dim, nLayer, ffn, nHead, qLora, kvLora, hdk - nRope, nRope, hdv, eps, nDense,
                nExpert, nUsed, nShared, ffnExp, gating, norm, scale, nGroups, nGroupsUsed, ctxTrain, vocabSize, r,
                kqScale, split, nNextn);
    }

    /** Width of a latent cache row: the normalized latent and the RoPE'd shared key part. */
    public int cacheRow() {
        return kvLora + headDimRope;
    }

    /** KV cache bytes per token (all layers): one latent row (kv_lora_rank + rope dims) of type k per layer. */
    @Override
    public long kvBytesPerToken(dev.panamax.tensor.GgmlType k, dev.panamax.tensor.GgmlType v) {
        return k.rowBytes(cacheRow()) * nLayer;
    }

    /**
     * llama.cpp's rules for an MLA cache: it stores the latent row alone (K; the values are its first kv_lora_rank
     * columns), so K and V types must be the same, and a block type must divide the row (n_embd_head_k = kv_lora_rank
     * + rope dims) and the value part (n_embd_head_v = kv_lora_rank).
     */
    @Override
    public void checkKvTypes(dev.panamax.tensor.GgmlType k, dev.panamax.tensor.GgmlType v) {
        if (k != v) {
            throw new IllegalArgumentException("model does not support different K (" + LlamaConfig.typeName(k) + ") and V ("
                    + LlamaConfig.typeName(v) + ") cache types");
        }
        LlamaConfig.checkHead("K", k, "n_embd_head_k", cacheRow());
        LlamaConfig.checkHead("V", v, "n_embd_head_v", kvLora);
    }
}
