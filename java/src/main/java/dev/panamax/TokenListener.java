package dev.panamax;

/** Receives generated tokens as they are produced, on the generating thread; it must return quickly. */
@FunctionalInterface
public interface TokenListener {
    /**
     * @param token the token id (-1 for text released at the end that no new token brought: held-back partial UTF-8 or
     *              stop-string lookahead)
     * @param text  the text that is now complete (may be empty while a UTF-8 character spans several tokens)
     */
    void onToken(int token, String text);

    /**
     * As {@link #onToken(int, String)}, with the token's log-probability when the request asked for them (else null).
     * The default drops it.
     */
    default void onToken(int token, String text, TokenLogprob logprob) {
        onToken(token, text);
    }
}
