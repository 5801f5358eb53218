package dev.panamax.kernels;

/**
 * RoPE parameters as llama.cpp reads them from GGUF metadata and passes to {@code ggml_rope_ext}.
 *
 * @param neox       NeoX pair ordering (dims i and i + n_rot/2) instead of adjacent pairs (2i, 2i+1)
 * @param freqBase   rope.freq_base (theta)
 * @param freqScale  1 / rope.scaling.factor for linear and YaRN scaling, else 1
 * @param extFactor  YaRN extrapolation mix (0 disables YaRN)
 * @param attnFactor magnitude scale of the rotated values
 * @param betaFast   YaRN low correction dim parameter (32 in llama.cpp)
 * @param betaSlow   YaRN high correction dim parameter (1 in llama.cpp)
 * @param nCtxOrig   rope.scaling.original_context_length
 */
public record RopeConfig(boolean neox, float freqBase, float freqScale, float extFactor, float attnFactor,
                         float betaFast, float betaSlow, int nCtxOrig) {

    /** Plain RoPE with this base, no scaling. */
    public static RopeConfig plain(boolean neox, float freqBase) {
        return new RopeConfig(neox, freqBase, 1f, 0f, 1f, 32f, 1f, 0);
    }

    public RopeConfig {
        if (!(freqBase > 0)) throw new IllegalArgumentException("rope freq_base must be > 0, got " + freqBase);
        if (!(freqScale > 0)) throw new IllegalArgumentException("rope freq_scale must be > 0, got " + freqScale);
    }
}
