package dev.panamax.spec;

import dev.panamax.tokenizer.Tokenizer;

/**
 * A draft model's guesses are token ids of the target's vocabulary: the two must be the same vocabulary, token for
 * token (llama.cpp's {@code common_speculative_are_compatible} allows a few extra tokens at the end; here the size must
 * match too, so every id the draft can propose is one the target can verify).
 */
public final class DraftVocabulary {

    private DraftVocabulary() {}

    /**
     * @throws IllegalArgumentException naming the draft file and the first difference: size, BOS/EOS id or a token's
     *                                  text
     */
    public static void check(Tokenizer target, Tokenizer draft, String draftName) {
        String why = null;
        if (draft.vocabSize() != target.vocabSize()) {
            why = "its vocabulary has " + draft.vocabSize() + " tokens, the model's " + target.vocabSize();
        } else if (draft.bos() != target.bos() || draft.eos() != target.eos()) {
            why = "its BOS/EOS ids are " + draft.bos() + "/" + draft.eos() + ", the model's " + target.bos() + "/" + target.eos();
        } else {
            for (int id = 0; id < target.vocabSize(); id++) {
                if (!draft.tokenString(id).equals(target.tokenString(id))) {
                    why = "token " + id + " is '" + draft.tokenString(id) + "' there and '" + target.tokenString(id) + "' in the model";
                    break;
                }
            }
        }
        if (why != null) {
            throw new IllegalArgumentException("the draft model " + draftName + " does not share the model's tokenizer: " + why);
        }
    }
}
