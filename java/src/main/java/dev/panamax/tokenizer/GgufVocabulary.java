package dev.panamax.tokenizer;

import dev.panamax.gguf.GgufArray;
import dev.panamax.gguf.GgufFormatException;
import dev.panamax.gguf.GgufMetadata;
import dev.panamax.gguf.GgufValueType;

/** Reads a {@link Vocabulary} from GGUF metadata under llama.cpp's key names, with llama.cpp's type checks. */
final class GgufVocabulary {

    private GgufVocabulary() {}

    static Vocabulary read(GgufMetadata md) throws GgufFormatException {
        String model = md.getString("tokenizer.ggml.model");
        String pre = md.getString("tokenizer.ggml.pre", null);
        String[] tokens = md.getStringArray("tokenizer.ggml.tokens");
        float[] scores = null;
        if (md.has("tokenizer.ggml.scores")) {
            GgufArray a = md.getArray("tokenizer.ggml.scores");
            if (a.elementType() == GgufValueType.INT32) {
                int[] s = md.getIntArray("tokenizer.ggml.scores");
                scores = new float[s.length];
                for (int i = 0; i < s.length; i++) {
                    scores[i] = s[i];
                }
            } else if (a.elementType() == GgufValueType.FLOAT32) {
                scores = md.getFloatArray("tokenizer.ggml.scores");
            } else {
                throw new GgufFormatException("metadata key 'tokenizer.ggml.scores' is an array of "
                        + a.elementType() + ", expected FLOAT32 or INT32");
            }
        }
        int[] types = null;
        if (md.has("tokenizer.ggml.token_type")) {
            GgufArray a = md.getArray("tokenizer.ggml.token_type");
            if (a.elementType() != GgufValueType.INT32) {
                throw new GgufFormatException("metadata key 'tokenizer.ggml.token_type' is an array of "
                        + a.elementType() + ", expected INT32");
            }
            types = md.getIntArray("tokenizer.ggml.token_type");
        }
        String[] merges = md.has("tokenizer.ggml.merges") ? md.getStringArray("tokenizer.ggml.merges") : null;
        try {
            return new Vocabulary(model, pre, tokens, scores, types, merges,
                    id(md, "tokenizer.ggml.bos_token_id"), id(md, "tokenizer.ggml.eos_token_id"),
                    id(md, "tokenizer.ggml.unknown_token_id"), id(md, "tokenizer.ggml.padding_token_id"),
                    id(md, "tokenizer.ggml.eot_token_id"), id(md, "tokenizer.ggml.eom_token_id"),
                    bool(md, "tokenizer.ggml.add_bos_token"), bool(md, "tokenizer.ggml.add_eos_token"),
                    bool(md, "tokenizer.ggml.add_space_prefix"), md.getString("general.name", null),
                    id(md, "tokenizer.ggml.seperator_token_id"), bool(md, "tokenizer.ggml.add_sep_token"),
                    bool(md, "tokenizer.ggml.normalizer.lowercase"), bool(md, "tokenizer.ggml.normalizer.strip_accents"),
                    md.getString(Vocabulary.KEY_WORDPIECE_RULES, null),
                    md.has(Vocabulary.KEY_WORDPIECE_MAX_CHARS) ? (int) Math.max(-1, Math.min(Integer.MAX_VALUE,
                            md.getLong(Vocabulary.KEY_WORDPIECE_MAX_CHARS))) : 0);
        } catch (IllegalArgumentException e) {
            throw new GgufFormatException("invalid tokenizer metadata: " + e.getMessage());
        }
    }

    /** A token id key; values outside int range (llama.cpp reads u32) count as absent, like an out-of-range id. */
    private static int id(GgufMetadata md, String key) throws GgufFormatException {
        if (!md.has(key)) {
            return Vocabulary.NONE;
        }
        long v = md.getLong(key);
        return v >= 0 && v <= Integer.MAX_VALUE ? (int) v : Vocabulary.NONE;
    }

    private static Boolean bool(GgufMetadata md, String key) throws GgufFormatException {
        return md.has(key) ? md.getBoolean(key) : null;
    }
}
