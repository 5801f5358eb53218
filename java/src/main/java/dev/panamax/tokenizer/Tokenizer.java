package dev.panamax.tokenizer;

/**
 * Text to token ids and back, as llama.cpp does it for the model's vocabulary: SentencePiece ("llama") and
 * byte-level BPE ("gpt2") and WordPiece ("bert") with the pre-tokenizer named by {@code tokenizer.ggml.pre}. {@link #encode(String)}
 * gives the ids of {@code llama_tokenize(add_special=true, parse_special=false)}: BOS/EOS when the metadata asks,
 * and special/control tokens written in the text are tokenized as plain text. Implementations are immutable and
 * thread-safe.
 */
public interface Tokenizer {

    /** As {@code llama_tokenize(text, add_special=true, parse_special=false)}. */
    default int[] encode(String text) {
        return encode(text, true);
    }

    /** As {@code llama_tokenize(text, addSpecial, parse_special=false)}; llama.cpp's tokenizer tests use false. */
    int[] encode(String text, boolean addSpecial);

    /**
     * As {@code llama_tokenize(text, addSpecial, parseSpecial)}. With parseSpecial, control and user-defined tokens
     * written in the text ({@code <|im_start|>}, {@code </s>}, ...) become those tokens: what a rendered chat template
     * needs. Text from a user should not be tokenized this way.
     */
    int[] encode(String text, boolean addSpecial, boolean parseSpecial);

    /** Whether {@link #encode(String)} puts a BOS token first (tokenizer.ggml.add_bos_token or the model's default). */
    boolean addsBos();

    /** Whether {@link #encode(String)} puts an EOS token last. */
    boolean addsEos();

    /**
     * As {@code llama_detokenize(ids, remove_special=false, unparse_special=false)}: control tokens render as
     * nothing, SentencePiece's added leading space is removed from the first token, and bytes that do not form
     * valid UTF-8 become U+FFFD.
     *
     * @throws IllegalArgumentException for an id outside [0, vocabSize())
     */
    String decode(int[] ids);

    /**
     * The bytes of one token's piece ({@code llama_token_to_piece(special=false, lstrip=0)}): a byte token
     * {@code <0xNN>} is one byte, SentencePiece's ▁ is a space, byte-level BPE characters map back to bytes. A
     * piece may be part of a UTF-8 sequence that the next tokens complete: streaming goes through {@link
     * TokenStreamDecoder}.
     *
     * @throws IllegalArgumentException for an id outside [0, vocabSize())
     */
    byte[] tokenBytes(int id);

    /**
     * {@link #tokenBytes(int)}, or with {@code special} the piece of {@code llama_token_to_piece(special=true)}:
     * control, unknown and user-defined tokens render as their text ("</s>"), as llama.cpp's grammar sampler sees them.
     */
    default byte[] tokenBytes(int id, boolean special) {
        return tokenBytes(id);
    }

    /** The token's text as the vocabulary stores it ({@code tokenizer.ggml.tokens}): "<s>", "<|im_end|>", "▁the". */
    String tokenString(int id);

    /** {@link #tokenBytes(int)} as text; an incomplete UTF-8 sequence shows as U+FFFD. */
    String tokenText(int id);

    /** The separator id ({@code tokenizer.ggml.seperator_token_id}; WordPiece's [SEP]), or {@link Vocabulary#NONE}. */
    default int sep() {
        return Vocabulary.NONE;
    }

    /** Whether llama.cpp puts a separator between the two texts of a pair (add_sep: WordPiece, RoBERTa BPE). */
    default boolean addsSep() {
        return false;
    }

    /** The beginning-of-sequence id, or {@link Vocabulary#NONE}. */
    int bos();

    /** The end-of-sequence id, or {@link Vocabulary#NONE}. */
    int eos();

    /** Whether generation ends at this token (EOS, EOT, EOM and the end tokens llama.cpp recognizes by text). */
    boolean isEog(int id);

    int vocabSize();

    /**
     * A tokenizer for a vocabulary, with llama.cpp's defaults for what the metadata leaves out.
     *
     * @throws IllegalArgumentException when the vocabulary is inconsistent or its model/pre-tokenizer is not
     *                                  supported
     */
    static Tokenizer of(Vocabulary vocabulary) {
        return new GgmlTokenizer(vocabulary);
    }

    /**
     * The tokenizer described by a GGUF file's {@code tokenizer.ggml.*} metadata (and {@code general.name}).
     *
     * @throws dev.panamax.gguf.GgufFormatException when the metadata lacks the vocabulary, holds a key with the
     *                                              wrong type, describes an inconsistent vocabulary, or names a
     *                                              tokenizer model or pre-tokenizer this port does not support
     */
    static Tokenizer fromGguf(dev.panamax.gguf.GgufMetadata md) throws dev.panamax.gguf.GgufFormatException {
        Vocabulary v = GgufVocabulary.read(md);
        try {
            return of(v);
        } catch (IllegalArgumentException e) {
            throw new dev.panamax.gguf.GgufFormatException("invalid tokenizer: " + e.getMessage(), e);
        }
    }
}
