package dev.panamax.tokenizer;

import java.util.Objects;

/**
 * A tokenizer vocabulary as GGUF stores it under {@code tokenizer.ggml.*}, before llama.cpp's defaults are applied.
 * Optional values are {@code null} (or {@link #NONE} for ids) when the metadata does not have them; {@link
 * Tokenizer#of(Vocabulary)} resolves them exactly as llama.cpp's {@code llama_vocab::impl::load} does.
 *
 * @param model          {@code tokenizer.ggml.model}: "llama" (SentencePiece), "gpt2" (byte-level BPE) or "bert"
 *                       (WordPiece)
 * @param pre            {@code tokenizer.ggml.pre}, the BPE pre-tokenizer name; null means "default"
 * @param tokens         {@code tokenizer.ggml.tokens}
 * @param scores         {@code tokenizer.ggml.scores}, or null (all 0)
 * @param tokenTypes     {@code tokenizer.ggml.token_type} (llama_token_type: 1 normal, 2 unknown, 3 control,
 *                       4 user defined, 5 unused, 6 byte), or null (all normal)
 * @param merges         {@code tokenizer.ggml.merges} ("left right" per line, rank = index), required for "gpt2"
 * @param bos            {@code tokenizer.ggml.bos_token_id} or NONE
 * @param eos            {@code tokenizer.ggml.eos_token_id} or NONE
 * @param unk            {@code tokenizer.ggml.unknown_token_id} or NONE
 * @param pad            {@code tokenizer.ggml.padding_token_id} or NONE
 * @param eot            {@code tokenizer.ggml.eot_token_id} or NONE
 * @param eom            {@code tokenizer.ggml.eom_token_id} or NONE
 * @param addBos         {@code tokenizer.ggml.add_bos_token} or null
 * @param addEos         {@code tokenizer.ggml.add_eos_token} or null
 * @param addSpacePrefix {@code tokenizer.ggml.add_space_prefix} or null
 * @param modelName      {@code general.name} or null (llama.cpp keys a few per-model token attributes on it)
 * @param sep            {@code tokenizer.ggml.seperator_token_id} (llama.cpp's spelling) or NONE
 * @param addSep         {@code tokenizer.ggml.add_sep_token} or null
 * @param lowercase      {@code tokenizer.ggml.normalizer.lowercase} or null (WordPiece: default true)
 * @param stripAccents   {@code tokenizer.ggml.normalizer.strip_accents} or null (WordPiece: default = lowercase)
 * @param wordPieceRules {@value #KEY_WORDPIECE_RULES} (a Panamax key, which llama.cpp ignores) or null: whose WordPiece
 *                       rules a "bert" vocabulary follows, llama.cpp's ({@value #WORDPIECE_LLAMA_CPP}, the default) or
 *                       Hugging Face tokenizers' ({@value #WORDPIECE_HUGGING_FACE}: BertNormalizer, BertPreTokenizer and
 *                       WordPiece of the {@code tokenizer.json} the file was converted from)
 * @param wordPieceMaxChars {@value #KEY_WORDPIECE_MAX_CHARS}: with Hugging Face's rules, a word of more code points is
 *                       one [UNK] (its {@code max_input_chars_per_word}); 0 when absent (then 100, its default)
 */
public record Vocabulary(String model, String pre, String[] tokens, float[] scores, int[] tokenTypes, String[] merges,
                         int bos, int eos, int unk, int pad, int eot, int eom,
                         Boolean addBos, Boolean addEos, Boolean addSpacePrefix, String modelName,
                         int sep, Boolean addSep, Boolean lowercase, Boolean stripAccents,
                         String wordPieceRules, int wordPieceMaxChars) {

    /** An absent token id (llama.cpp's LLAMA_TOKEN_NULL). */
    public static final int NONE = -1;

    /**
     * GGUF key written by {@code panamax convert}: a file converted from a {@code tokenizer.json} tokenizes exactly as
     * that tokenizer.json (the model was trained with it), where llama.cpp's WordPiece departs from it (Hangul
     * syllables, spacing marks, words over 100 characters). Files of llama.cpp's converter have no such key.
     */
    public static final String KEY_WORDPIECE_RULES = "panamax.tokenizer.wordpiece.rules";
    public static final String KEY_WORDPIECE_MAX_CHARS = "panamax.tokenizer.wordpiece.max_input_chars_per_word";
    public static final String WORDPIECE_LLAMA_CPP = "llama.cpp";
    public static final String WORDPIECE_HUGGING_FACE = "huggingface";

    // llama_token_type as the converters write it into tokenizer.ggml.token_type
    public static final int TYPE_UNDEFINED = 0;
    public static final int TYPE_NORMAL = 1;
    public static final int TYPE_UNKNOWN = 2;
    public static final int TYPE_CONTROL = 3;
    public static final int TYPE_USER_DEFINED = 4;
    public static final int TYPE_UNUSED = 5;
    public static final int TYPE_BYTE = 6;

    public Vocabulary {
        Objects.requireNonNull(model, "tokenizer.ggml.model");
        Objects.requireNonNull(tokens, "tokenizer.ggml.tokens");
        if (tokens.length == 0) {
            throw new IllegalArgumentException("tokenizer.ggml.tokens is empty");
        }
        // llama.cpp rejects arrays shorter than the vocabulary; longer ones are tolerated there too
        if (scores != null && scores.length < tokens.length) {
            throw new IllegalArgumentException("tokenizer.ggml.scores has " + scores.length + " entries for "
                    + tokens.length + " tokens");
        }
        if (tokenTypes != null && tokenTypes.length < tokens.length) {
            throw new IllegalArgumentException("tokenizer.ggml.token_type has " + tokenTypes.length
                    + " entries for " + tokens.length + " tokens");
        }
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] == null) {
                throw new IllegalArgumentException("tokenizer.ggml.tokens[" + i + "] is null");
            }
        }
        if (wordPieceRules != null && !wordPieceRules.equals(WORDPIECE_LLAMA_CPP)
                && !wordPieceRules.equals(WORDPIECE_HUGGING_FACE)) {
            throw new IllegalArgumentException(KEY_WORDPIECE_RULES + " is '" + wordPieceRules + "', expected "
                    + WORDPIECE_LLAMA_CPP + " or " + WORDPIECE_HUGGING_FACE);
        }
        if (wordPieceMaxChars < 0) {
            throw new IllegalArgumentException(KEY_WORDPIECE_MAX_CHARS + " is negative: " + wordPieceMaxChars);
        }
    }

    /** Reads the vocabulary of a GGUF file's metadata (llama.cpp's keys and type checks, plus the Panamax keys above). */
    public static Vocabulary fromGguf(dev.panamax.gguf.GgufMetadata md) throws dev.panamax.gguf.GgufFormatException {
        return GgufVocabulary.read(md);
    }

    /** This vocabulary with other WordPiece rules (null: llama.cpp's). */
    public Vocabulary withWordPieceRules(String rules, int maxChars) {
        return new Vocabulary(model, pre, tokens, scores, tokenTypes, merges, bos, eos, unk, pad, eot, eom,
                addBos, addEos, addSpacePrefix, modelName, sep, addSep, lowercase, stripAccents, rules, maxChars);
    }

    /** A vocabulary without the WordPiece keys (separator, normalizer options). */
    public Vocabulary(String model, String pre, String[] tokens, float[] scores, int[] tokenTypes, String[] merges,
                      int bos, int eos, int unk, int pad, int eot, int eom,
                      Boolean addBos, Boolean addEos, Boolean addSpacePrefix, String modelName) {
        this(model, pre, tokens, scores, tokenTypes, merges, bos, eos, unk, pad, eot, eom, addBos, addEos, addSpacePrefix,
                modelName, NONE, null, null, null, null, 0);
    }

    /** A vocabulary with only the required parts; every optional value absent. */
    public static Vocabulary of(String model, String pre, String[] tokens, float[] scores, int[] tokenTypes,
                                String[] merges) {
        return new Vocabulary(model, pre, tokens, scores, tokenTypes, merges,
                NONE, NONE, NONE, NONE, NONE, NONE, null, null, null, null);
    }

    public Vocabulary withSpecial(int bos, int eos, int unk) {
        return new Vocabulary(model, pre, tokens, scores, tokenTypes, merges, bos, eos, unk, pad, eot, eom,
                addBos, addEos, addSpacePrefix, modelName, sep, addSep, lowercase, stripAccents,
                wordPieceRules, wordPieceMaxChars);
    }

    public Vocabulary withFlags(Boolean addBos, Boolean addEos, Boolean addSpacePrefix) {
        return new Vocabulary(model, pre, tokens, scores, tokenTypes, merges, bos, eos, unk, pad, eot, eom,
                addBos, addEos, addSpacePrefix, modelName, sep, addSep, lowercase, stripAccents,
                wordPieceRules, wordPieceMaxChars);
    }

    public int size() {
        return tokens.length;
    }
}
